"""The ``aasist`` encoder: AASIST / AASIST-L with the authors' ASVspoof 2019 LA weights, as a score, an embedding or maps.

Weights come from ``weights: PATH`` (a file or a directory), else the weights directory
(``SCAA_WEIGHTS_DIR``, default ``~/.cache/scaa/weights``), else a one-time download from
the authors' public address; every file is checked against its pinned SHA-256 before
``torch.load(weights_only=True)`` reads it (:mod:`scaa.weights`). ``weights: random`` builds
the same network with seeded random weights (tests, or training from scratch).

``output``:

- ``score``: the authors' bona fide logit, one number per clip (their convention: higher =
  more bona fide; the ``score`` head turns it into SCAA's "higher = spoof");
- ``logits``: both logits ``[spoof, bona fide]``; their difference is the model's own
  log-odds of spoof (what the default detector reports);
- ``embedding``: the 5 x 32 = 160-d utterance embedding before the output layer;
- ``frames``: the residual encoder's output maps, one frame per time step
  (``[T, channels x 23]``; T = 29 for a clip), for heads that pool themselves.

Each clip is handled as the authors evaluate: its first 64,600 samples (4.04 s), a shorter
clip repeated until it is long enough; ``scaa detect`` cuts longer files into windows first.
Inference runs the network's fast float32 path (:meth:`AASISTNet.fast_forward`);
``dtype: bfloat16`` runs its convolutions under bfloat16 autocast (the graph part, a few
milliseconds, stays float32, so int8 quantisation of its linear layers combines with it).

Fine-tuning (freeze ``topK``): the network has 7 stages counted from the top — 1 is the
graph attention part with the readout, 2..7 add the residual blocks from the last one
down. ``for_top_k(k)`` caches the maps that enter stage k once per clip and view;
``top_layers(k)`` is a trainable copy of stages 1..k mapping them to the embedding, which
the ``mlp`` head then classifies (:mod:`scaa.heads.topk`).
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np

from scaa.encoders.base import Encoder, check_waves
from scaa.registry import ENCODERS

OUTPUTS = ("score", "logits", "embedding", "frames")
DTYPES = ("float32", "bfloat16")
RANDOM = "random"


def build_net(variant: str, weights=None, seed: int = 0):
    """An eval-mode :class:`AASISTNet` with the pinned pretrained weights (or ``weights:
    random``: seeded random weights)."""
    import torch

    from scaa.encoders.aasist_net import AASISTNet, flush_subnormals_

    if weights == RANDOM:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = AASISTNet.from_variant(variant)
            for m in net.modules():  # non-trivial BatchNorm statistics, so folding is exercised
                if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.2, 0.2)
        return net.eval()
    from scaa import weights as pinned

    net = AASISTNet.from_variant(variant)
    path = pinned.resolve(variant, weights)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise pinned.WeightsError(f"{path}: not an {variant} state_dict ({err})") from err
    flush_subnormals_(net)  # the published weights hold subnormal values that only cost time
    return net.eval()


@ENCODERS.register("aasist")
class AASISTEncoder(Encoder):
    """AASIST / AASIST-L (authors' ASVspoof 2019 LA weights): bona fide logit, 160-d embedding or encoder maps."""

    output = "pooled"
    supports_top_k = True
    trainable_layers = 7
    batch_size = 4  # clips per forward: every clip is 64,600 samples, so no padding is wasted

    @classmethod
    def output_for(cls, params: dict) -> str:
        return "frames" if params.get("output") == "frames" else "pooled"

    def __init__(self, variant: str = "aasist_l", weights: str | None = None, output: str = "score",
                 dtype: str = "float32", seed: int = 0):
        from scaa.encoders.aasist_net import VARIANTS

        if variant not in VARIANTS:
            raise ValueError(f"unknown AASIST variant {variant!r}; known: {', '.join(VARIANTS)}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.variant, self.weights, self.kind, self.dtype_name = variant, weights, output, dtype
        self.output = "frames" if output == "frames" else "pooled"
        self.stage = 1  # frames: the maps entering this stage (for_top_k changes it)
        self.net = build_net(variant, weights, seed)

    def set_threads(self, n: int) -> None:
        import torch

        torch.set_num_threads(max(1, int(n)))

    def _autocast(self):
        import torch

        if self.dtype_name == "bfloat16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def encode(self, waves):
        import torch

        from scaa.encoders.aasist_net import tile_clip

        check_waves(waves)
        out = []
        for start in range(0, len(waves), self.batch_size):
            batch = torch.from_numpy(np.stack([tile_clip(w) for w in waves[start:start + self.batch_size]]))
            with torch.inference_mode():
                with self._autocast():  # bfloat16: the convolutions; the small graph part stays float32
                    maps = self.net.maps_at(batch, self.stage).float()  # [B, C, 23, T]
                if self.kind == "frames":
                    res = maps.permute(0, 3, 1, 2).reshape(maps.shape[0], maps.shape[3], -1)
                else:
                    emb, logits = self.net.readout(maps)
                    res = {"score": logits[:, 1:], "logits": logits, "embedding": emb}[self.kind]
            out.extend(np.ascontiguousarray(r, dtype=np.float32) for r in res.numpy())
        for f in out:
            if not np.isfinite(f).all():
                raise FloatingPointError("aasist produced non-finite features")
        return out

    # -- fine-tuning -------------------------------------------------------------
    def _check_k(self, k) -> int:
        if not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= self.trainable_layers:
            raise ValueError(f"k must be in 1..{self.trainable_layers} (1: graph attention + readout, "
                             f"2..7: also the residual blocks from the top), not {k!r}")
        return int(k)

    def for_top_k(self, k: int) -> "AASISTEncoder":
        """An encoder (output 'frames') giving the maps that enter stage k."""
        view = copy.copy(self)  # shares the frozen network
        view.kind, view.output, view.stage = "frames", "frames", self._check_k(k)
        return view

    def top_layers(self, k: int):
        """A trainable copy of stages 1..k: (maps [B, T, C x 23], mask) -> embedding [B, 160]."""
        from scaa.encoders.aasist_net import AASISTTop

        return AASISTTop(self.net, self._check_k(k))

    def describe(self):
        from scaa.encoders.aasist_net import n_parameters

        dims = {"score": 1, "logits": 2, "embedding": self.net.embedding_dim}
        return {"variant": self.variant, "output": self.kind, "dim": dims.get(self.kind),
                "parameters": n_parameters(self.net), "dtype": self.dtype_name,
                "weights": "random" if self.weights == RANDOM else "authors' ASVspoof 2019 LA weights (pinned SHA-256)"}
