"""Partial fine-tuning (freeze ``top1``/``top2``): train the last k transformer layers and an MLP head.

The encoder caches, once per clip and view, the frame-level hidden states that *enter*
its last k layers (float16, ``Features(output="frames")``, each clip [T, D]). This head
runs the trainable copy of those layers on them, mean-pools over real frames and feeds
the pooled vector to the same network as the ``mlp`` head; both are trained by the
shared loop (:mod:`scaa.heads.torch_base`: seeding, AdamW, dev-EER selection, views,
contrastive losses).

Wiring (for the workflow)::

    top = encoder.top_layers(k)               # nn.Module: (states [B,T,D], mask [B,T] bool,
                                              #  True = real frame) -> states [B,T,D], or
                                              #  [B, out_dim] when the layers pool themselves
    head = TopKHead(top=top, hidden=[128], epochs=10, loss=loss_spec, random_state=seed)
    head.fit(train_states, dev=dev_states, log=log)
    head.save(run_dir)                         # safetensors holds the top layers' weights too
    head = TopKHead.load(run_dir, top=encoder.top_layers(k))   # same architecture; weights restored
    scores = head.decision_function(eval_states)

``top`` is a hyper-parameter like the others: stored as given and never modified; each
``fit`` trains a deep copy of it (``module_.top``), so every fit starts from the
pretrained weights (same ``random_state`` => same scores). Inputs are not standardised
(the transformer expects its own hidden-state scale). Every other parameter is an ``mlp``
parameter (architecture and training: lr, epochs, batch_size, patience, ...). Not
registered in HEADS: it needs ``top``.
"""
from __future__ import annotations

import copy
from typing import Sequence

from torch import nn

from scaa.heads.base import saved_params
from scaa.heads.io import load_arrays
from scaa.heads.mlp import MLPHead, MLPNet


class TopKNet(nn.Module):
    """top layers -> masked mean over frames -> MLPNet."""

    def __init__(self, top: nn.Module, mlp: MLPNet):
        super().__init__()
        self.top, self.mlp = top, mlp
        self.embedding_dim = mlp.embedding_dim

    def forward(self, x, mask):
        h = self.top(x, mask)
        if h.dim() == 2:  # the top layers pool themselves (e.g. AASIST's graph readout)
            return self.mlp(h)
        w = mask.to(h.dtype)[..., None]
        pooled = (h * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.mlp(pooled)

    def project(self, emb):
        return self.mlp.project(emb)


class TopKHead(MLPHead):
    """An ``mlp`` head on top of k trainable transformer layers (needs frame-level hidden states)."""

    needs = "frames"
    standardise_inputs = False
    registry_name = "topk"

    def __init__(self, top: nn.Module | None = None, hidden: Sequence[int] = (128,), dropout: float = 0.1,
                 activation: str = "relu", lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30,
                 batch_size: int = 256, patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.top = top
        super().__init__(hidden=hidden, dropout=dropout, activation=activation, lr=lr, weight_decay=weight_decay,
                         epochs=epochs, batch_size=batch_size, patience=patience, projection_dim=projection_dim,
                         eval_batch_size=eval_batch_size, train_precision=train_precision, loss=loss,
                         random_state=random_state)

    def check_params(self) -> None:
        super().check_params()
        if not isinstance(self.top, nn.Module):
            raise TypeError("top must be an nn.Module mapping (states [B,T,D], mask [B,T]) -> [B,T,D]")

    def params(self) -> dict:
        return saved_params(self, leave_out=("loss", "top"))  # top's weights are in the safetensors

    def build_module(self, in_dim):
        # top layers that change the width (AASIST's stages: maps -> embedding) say so in out_dim
        return TopKNet(copy.deepcopy(self.top), super().build_module(getattr(self.top, "out_dim", in_dim)))

    @classmethod
    def load(cls, run_dir, top: nn.Module | None = None, **spec) -> "TopKHead":
        if top is None:
            raise ValueError("TopKHead.load needs top= (the encoder's top_layers(k) module)")
        arrays, meta = load_arrays(run_dir, head=cls.registry_name)
        head = cls(top=top, **{**spec, **meta["params"], "loss": meta["loss"]})
        head._restore(arrays, meta)
        return head

    def n_parameters(self) -> dict:
        if hasattr(self, "module_") or self.top is None:
            return super().n_parameters()
        ps = list(self.top.parameters())
        return {"total": sum(p.numel() for p in ps), "trainable": sum(p.numel() for p in ps if p.requires_grad)}
