"""Self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM) through transformers.

The forward pass is walked module by module (feature CNN -> projection -> positional
conv -> transformer layers) so that any hidden layer, the states *entering* the top k
layers (cached once for top-k fine-tuning) and those top layers themselves come from
one code path. Hidden state ``i`` follows the classic transformers convention: 0 is
the input to layer 0, ``i`` the output of layer ``i-1``; for "stable layer norm"
models the last one has the encoder's final LayerNorm applied.
"""
from __future__ import annotations

import copy
import inspect
import json
import os
from pathlib import Path

import numpy as np

from scaa.encoders.base import Encoder, check_waves
from scaa.encoders.conv_front_end import ConvFrontEnd
from scaa.encoders.fast_layers import fast_layers
from scaa.registry import ENCODERS

_FAMILIES = {
    # family: (config class, model class, default hub id)
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model", "facebook/wav2vec2-base"),
    "hubert": ("HubertConfig", "HubertModel", "facebook/hubert-base-ls960"),
    "wavlm": ("WavLMConfig", "WavLMModel", "microsoft/wavlm-base-plus"),
}
TINY_CONFIG = {  # what tests use: a few thousand parameters, same code path
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
    "conv_dim": [32, 32, 32], "conv_stride": [5, 4, 4], "conv_kernel": [10, 8, 4],
    "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
}


def _torch():
    import torch

    return torch


def _build_model(family: str, model: str | None, random_init_config: dict | None, seed: int, dtype=None):
    """Random init (tests, timing) or from_pretrained; pretrained weights load straight into
    ``dtype`` when given, so a bfloat16 encoder never holds a float32 copy."""
    import transformers

    cfg_name, model_name, default_id = _FAMILIES[family]
    config_cls, model_cls = getattr(transformers, cfg_name), getattr(transformers, model_name)
    if random_init_config is not None:
        torch = _torch()
        config = config_cls(**random_init_config)
        torch.manual_seed(seed)
        return model_cls(config), None
    source = model or default_id
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        kwargs = {"dtype": dtype} if dtype is not None else {}
        net = model_cls.from_pretrained(source, local_files_only=offline, **kwargs)
    except (OSError, ValueError) as err:
        raise RuntimeError(
            f"cannot load {family} model {source!r}"
            + (" offline (HF_HUB_OFFLINE=1): download it once with network access or give a local "
               "directory holding config.json and the weights" if offline else "")
            + f": {err}") from err
    return net, source


def _read_do_normalize(source: str | None) -> bool | None:
    """``do_normalize`` from the checkpoint's preprocessor_config.json, when we can find it."""
    if source is None:
        return None
    path = Path(source) / "preprocessor_config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "preprocessor_config.json",
                                        local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1"))
        except Exception:
            return None
    try:
        return bool(json.loads(path.read_text()).get("do_normalize", True))
    except (OSError, ValueError):
        return None


class SSLEncoder(Encoder):
    """A transformers speech SSL model: chosen hidden layer(s), mean / mean+std pooling or frames."""

    family = "wav2vec2"
    batch_seconds = 32.0

    supports_top_k = True

    @classmethod
    def output_for(cls, params: dict) -> str:
        """What a spec gives, without loading the model (the grid asks this)."""
        return "frames" if params.get("pooling", "mean") == "none" else "pooled"

    def __init__(self, model: str | None = None, layer="last", pooling: str = "mean",
                 dtype: str = "float32", quantize: str | None = None, batch_seconds: float | None = None,
                 random_init_config: dict | None = None, normalize: bool | None = None, seed: int = 0,
                 threads: int | None = None):
        torch = _torch()
        if pooling not in ("mean", "mean_std", "none"):
            raise ValueError(f"pooling must be mean, mean_std or none, not {pooling!r}")
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, not {dtype!r}")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
        # int8: the Linear layers (transformer, projection) take float32 activations and
        # int8 weights; with dtype bfloat16 the convolutions (feature encoder, positional
        # conv) then run in bfloat16, the rest of the transformer in float32
        load_dtype = torch.bfloat16 if dtype == "bfloat16" and not quantize else None
        net, source = _build_model(self.family, model, random_init_config, seed, load_dtype)
        net.eval()
        self.config = net.config
        self.n_layers = int(net.config.num_hidden_layers)
        self.layers = self._parse_layer(layer)
        self.pooling, self.output = pooling, ("frames" if pooling == "none" else "pooled")
        self.dtype_name, self.quantize = dtype, quantize
        self.conv_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        self.torch_dtype = torch.float32 if quantize else self.conv_dtype  # the transformer's activations
        if quantize == "int8":
            net = torch.ao.quantization.quantize_dynamic(net.float(), {torch.nn.Linear}, dtype=torch.qint8)
        net = net.to(self.torch_dtype)
        net.encoder.pos_conv_embed.to(self.conv_dtype)
        _freeze_weight_norm(net)
        self.model = net
        self.front_end = ConvFrontEnd(net.feature_extractor, self.conv_dtype)
        # packed-weight bf16 layers for frozen inference (None: transformers' layers are used)
        self.fast_layers = fast_layers(net.encoder.layers, self.torch_dtype) if quantize is None else None
        self.stable = "StableLayerNorm" in type(net.encoder).__name__
        self.use_mask = net.config.feat_extract_norm == "layer"  # as transformers' feature extractor
        if normalize is None:
            normalize = _read_do_normalize(source)
        self.normalize = True if normalize is None else bool(normalize)
        if batch_seconds is not None:
            self.batch_seconds = float(batch_seconds)
        self.trainable_layers = self.n_layers
        self.source = source or "random-init"
        if threads:
            self.set_threads(threads)

    # -- configuration -------------------------------------------------------------
    def _parse_layer(self, layer) -> list[int]:
        if layer == "last":
            return [self.n_layers]
        layers = [layer] if isinstance(layer, (int, np.integer)) else list(layer)
        if not layers:
            raise ValueError("layer list is empty")
        for i in layers:
            if not isinstance(i, (int, np.integer)) or not 0 <= int(i) <= self.n_layers:
                raise ValueError(f"layer {i!r} out of range 0..{self.n_layers} (or 'last')")
        return [int(i) for i in layers]

    def set_threads(self, n: int) -> None:
        _torch().set_num_threads(max(1, int(n)))

    def describe(self) -> dict:
        return {"family": self.family, "model": self.source, "layers": self.layers, "pooling": self.pooling,
                "dtype": self.dtype_name, "quantize": self.quantize, "hidden_size": int(self.config.hidden_size),
                "num_layers": self.n_layers, "attention_mask": self.use_mask, "normalize": self.normalize}

    # -- forward -------------------------------------------------------------------
    def _inputs(self, waves):
        """Pad one bucket to its longest clip, normalising each clip on its own samples."""
        torch = _torch()
        check_waves(waves)
        lengths = [w.size for w in waves]
        batch = np.zeros((len(waves), max(lengths)), dtype=np.float32)
        for i, w in enumerate(waves):
            w = np.asarray(w, dtype=np.float32)
            if self.normalize:
                w = (w - w.mean()) / np.sqrt(w.var() + 1e-7)
            batch[i, :w.size] = w
        min_len = self._min_samples()
        if max(lengths) < min_len:
            raise ValueError(f"clips shorter than {min_len} samples give no frames")
        return torch.from_numpy(batch), torch.tensor(lengths, dtype=torch.long)

    def _min_samples(self) -> int:
        n = 1
        for k, s in reversed(list(zip(self.config.conv_kernel, self.config.conv_stride))):
            n = (n - 1) * s + k
        return n

    def _frame_lengths(self, lengths):
        return self.model._get_feat_extract_output_lengths(lengths).long()

    def _layer_kwargs(self, layer):
        return set(inspect.signature(layer.forward).parameters)

    def hidden_states(self, waves, upto: int | None = None):
        """All hidden states (list of [B, T, D] tensors, up to index ``upto``) and the frame mask."""
        torch = _torch()
        x, lengths = self._inputs(waves)
        m = self.model
        upto = self.n_layers if upto is None else upto
        feats = self.front_end(x).to(self.torch_dtype)  # = m.feature_extractor(x).transpose(1, 2), faster
        proj = m.feature_projection(feats)
        hidden = proj[0] if isinstance(proj, tuple) else proj
        n_frames = self._frame_lengths(lengths).clamp(max=hidden.shape[1])
        mask = torch.arange(hidden.shape[1])[None, :] < n_frames[:, None]
        enc = m.encoder
        attn = None
        if self.use_mask:
            hidden = hidden.masked_fill(~mask[..., None], 0.0)
            attn = attention_mask_for(enc.config, hidden, mask, self.family)
        hidden = hidden + enc.pos_conv_embed(hidden.to(self.conv_dtype)).to(hidden.dtype)
        if not self.stable:
            hidden = enc.layer_norm(hidden)
        states = [hidden]
        bias = None
        for i, layer in enumerate(enc.layers[:upto]):
            if self.fast_layers is not None:
                hidden = self.fast_layers[i](hidden, attn)
            else:
                hidden, bias = run_layer(layer, hidden, attn, bias, i, self.family)
            states.append(hidden)
        if self.stable and upto == self.n_layers:
            states[-1] = enc.layer_norm(states[-1])
        return states, mask

    def encode(self, waves):
        torch = _torch()
        with torch.inference_mode():
            states, mask = self.hidden_states(waves, upto=max(self.layers))
            h = torch.stack([states[i] for i in self.layers]).float().mean(0) if len(self.layers) > 1 \
                else states[self.layers[0]].float()
            out = []
            for b in range(h.shape[0]):
                frames = h[b, mask[b]]
                if self.pooling == "none":
                    vec = frames
                elif self.pooling == "mean":
                    vec = frames.mean(0)
                else:
                    vec = torch.cat([frames.mean(0), frames.std(0, unbiased=False)])
                out.append(vec.numpy().astype(np.float32))
        for o in out:
            if not np.isfinite(o).all():
                raise FloatingPointError(f"{self.family} produced non-finite features")
        return out

    # -- top-k fine-tuning ---------------------------------------------------------
    def _check_k(self, k: int) -> int:
        if not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= self.n_layers:
            raise ValueError(f"k must be in 1..{self.n_layers}, not {k!r}")
        return int(k)

    def for_top_k(self, k: int) -> "SSLEncoder":
        """An encoder (output 'frames') giving the hidden states that enter the last k layers
        (inference only, so it may be quantised: a detector's int8 variant uses that)."""
        k = self._check_k(k)
        view = copy.copy(self)  # shares the (frozen) model
        view.layers, view.pooling, view.output = [self.n_layers - k], "none", "frames"
        return view

    def top_layers(self, k: int):
        """Trainable copies of the last k layers (+ final LayerNorm): entering states -> last hidden state."""
        k = self._check_k(k)
        if self.quantize:
            raise ValueError("top-k fine-tuning needs an unquantised model")
        return _top_layers_class()(self, k)


def _freeze_weight_norm(net) -> None:
    """The positional conv is weight-normalised; the encoder is frozen, so compute its weight
    once instead of recomputing it from its two parametrisation tensors on every forward."""
    conv = getattr(getattr(getattr(net, "encoder", None), "pos_conv_embed", None), "conv", None)
    if conv is None:
        return
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(conv, "weight"):
        parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)


def attention_mask_for(config, hidden, mask, family):
    """The attention mask a transformer layer of ``family`` takes for the [B, T] padding ``mask``."""
    if family == "wavlm":  # WavLM's attention takes the [B, T] mask itself
        return mask.long()
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)


def run_layer(layer, hidden, attn, bias, index, family):
    """One transformer layer: (hidden states, WavLM's position bias or None)."""
    if family == "wavlm":
        kwargs = {"position_bias": bias}
        if "index" in inspect.signature(layer.forward).parameters:
            kwargs["index"] = index
        hidden, bias = layer(hidden, attention_mask=attn, **kwargs)
        return hidden, bias
    out = layer(hidden, attention_mask=attn)
    return (out[0] if isinstance(out, tuple) else out), None


_TOP_LAYERS_CLS = None


def _top_layers_class():
    """Built on first use so importing the registry does not import torch."""
    global _TOP_LAYERS_CLS
    if _TOP_LAYERS_CLS is None:
        torch = _torch()

        class TopLayers(torch.nn.Module):
            """The last k transformer layers of an SSL encoder as a trainable float32 module.

            ``forward(states [B, T, D], mask [B, T] bool or None) -> [B, T, D]``. WavLM's
            relative position bias is computed by its first layer in the full model; a copy of
            that layer's bias table is kept here so the top layers see the same bias.
            """

            def __init__(self, encoder: SSLEncoder, k: int):
                super().__init__()
                torch = _torch()
                enc = encoder.model.encoder
                self.family, self.stable = encoder.family, encoder.stable
                self.first_index = len(enc.layers) - k
                self.config = copy.deepcopy(enc.config)
                self.layers = torch.nn.ModuleList(copy.deepcopy(l) for l in enc.layers[len(enc.layers) - k:]).float()
                self.final_norm = copy.deepcopy(enc.layer_norm).float() if self.stable else None
                self.bias_source = copy.deepcopy(enc.layers[0].attention).float() if self.family == "wavlm" else None
                if self.bias_source is not None:
                    for p in self.bias_source.parameters():  # only its relative-position table is used; keep it frozen
                        p.requires_grad_(False)
                for p in self.layers.parameters():
                    p.requires_grad_(True)

            def forward(self, states, mask=None):
                attn, bias = None, None
                if mask is not None:
                    attn = attention_mask_for(self.config, states, mask.bool(), self.family)
                if self.bias_source is not None:
                    b, t = states.shape[:2]
                    heads = self.bias_source.num_heads
                    bias = self.bias_source.compute_bias(t, t).unsqueeze(0).repeat(b, 1, 1, 1).view(b * heads, t, t)
                hidden = states
                for i, layer in enumerate(self.layers):
                    hidden, bias = run_layer(layer, hidden, attn, bias, self.first_index + i, self.family)
                if self.final_norm is not None:
                    hidden = self.final_norm(hidden)
                return hidden

        _TOP_LAYERS_CLS = TopLayers
    return _TOP_LAYERS_CLS


@ENCODERS.register("wav2vec2")
class Wav2Vec2Encoder(SSLEncoder):
    """wav2vec 2.0 hidden states (hub id or local dir; random init for tests/timing)."""

    family = "wav2vec2"


@ENCODERS.register("hubert")
class HubertEncoder(SSLEncoder):
    """HuBERT hidden states (hub id or local dir; random init for tests/timing)."""

    family = "hubert"


@ENCODERS.register("wavlm")
class WavLMEncoder(SSLEncoder):
    """WavLM hidden states (hub id or local dir; random init for tests/timing)."""

    family = "wavlm"
