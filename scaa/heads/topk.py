"""Partial fine-tuning (freeze ``top1``/``top2``): train the last k transformer layers and an MLP head.

The encoder caches, once per clip and view, the frame-level hidden states that *enter*
its last k layers (float16, ``Features(output="frames")``, each clip [T, D]). This head
runs the trainable copy of those layers on them, mean-pools over real frames and feeds
the pooled vector to the same network as the ``mlp`` head; both are trained by the
shared loop (:mod:`scaa.heads.torch_base`: seeding, AdamW, dev-EER selection, views,
contrastive losses).

Wiring (for the workflow)::

    top = encoder.top_layers(k)               # nn.Module: (states [B,T,D], mask [B,T] bool,
                                              #  True = real frame) -> states [B,T,D]
    head = TopKHead(top, {"type": "mlp", "hidden": [128], "epochs": 10})
    head.fit(train_states, dev_states, loss=loss_spec, seed=seed, log=log)
    head.save(run_dir)                         # safetensors holds the top layers' weights too
    head = TopKHead.load(run_dir, top=encoder.top_layers(k))   # same architecture; weights restored
    scores = head.decision_function(eval_states)

``top`` is deep-copied at construction (the caller's module is never modified) and
every ``fit`` starts from its weights at that time (same seed => same scores). Inputs
are not standardised (the transformer expects its own hidden-state scale). The head spec
may hold any ``mlp`` parameter (architecture and training: lr, epochs, batch_size,
patience, ...); ``type`` must be ``mlp``. Not registered in HEADS: it needs ``top``.
"""
from __future__ import annotations

import copy
from typing import Mapping

from torch import nn

from scaa.heads.io import load_arrays
from scaa.heads.mlp import MLPHead, MLPNet
from scaa.heads.torch_base import TorchHead


class TopKNet(nn.Module):
    """top layers -> masked mean over frames -> MLPNet."""

    def __init__(self, top: nn.Module, mlp: MLPNet):
        super().__init__()
        self.top, self.mlp = top, mlp
        self.embedding_dim = mlp.embedding_dim

    def forward(self, x, mask):
        h = self.top(x, mask)
        w = mask.to(h.dtype)[..., None]
        pooled = (h * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.mlp(pooled)

    def project(self, emb):
        return self.mlp.project(emb)


class TopKHead(TorchHead):
    """An ``mlp`` head on top of k trainable transformer layers (needs frame-level hidden states)."""

    needs = "frames"
    standardise_inputs = False
    registry_name = "topk"

    def __init__(self, top: nn.Module, head_spec: Mapping | None = None, **overrides):
        spec = dict(head_spec or {"type": "mlp"})
        if spec.pop("type", "mlp") != "mlp":
            raise ValueError("TopKHead supports head type 'mlp' only")
        spec.update(overrides)
        inner = MLPHead(**spec)                      # validates and fills defaults
        self.__dict__.update({k: v for k, v in vars(inner).items()})
        if not isinstance(top, nn.Module):
            raise TypeError("top must be an nn.Module mapping (states [B,T,D], mask [B,T]) -> [B,T,D]")
        self.top = copy.deepcopy(top)                # the caller's module is never modified
        self._top_init = copy.deepcopy(top.state_dict())

    def build_module(self, in_dim):
        self.top.load_state_dict(self._top_init)    # every fit starts from the pretrained layers
        a = self.arch
        return TopKNet(self.top, MLPNet(in_dim, a["hidden"], a["dropout"], a["activation"], self.projection_dim))

    @classmethod
    def load(cls, run_dir, top: nn.Module | None = None, **spec) -> "TopKHead":
        if top is None:
            raise ValueError("TopKHead.load needs top= (the encoder's top_layers(k) module)")
        arrays, meta = load_arrays(run_dir, head=cls.registry_name)
        head = cls(top, {"type": "mlp", **meta["params"]})
        head._restore(arrays, meta)
        return head

    def n_parameters(self) -> dict:
        out = super().n_parameters()
        if self.module is None:
            ps = list(self.top.parameters())
            out = {"total": sum(p.numel() for p in ps), "trainable": sum(p.numel() for p in ps if p.requires_grad)}
        return out
