"""The base of every torch head (mlp, attn, lcnn, topk): parameters, scoring, and the fit and persistence it mixes in.

A subclass supplies ``build_module(in_dim) -> nn.Module`` whose ``forward(x, mask)``
returns ``{"logits": [B], "embedding": [B, E]}`` and whose ``project(embedding)``
returns L2-normalised projections [B, P] (used by contrastive losses). Pooled input
is ``x`` [B, D] with ``mask=None``; frame input is ``x`` [B, T, D] zero-padded with a
bool ``mask`` [B, T] (True = real frame).

The parts live in their own modules: the training loop and its guarantees
(:mod:`scaa.heads.torch_fit`), the data pipeline (:mod:`scaa.heads.torch_data`),
save/load (:mod:`scaa.heads.torch_io`) and small nn blocks (:mod:`scaa.heads.torch_nn`).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from scaa.featstore import Features
from scaa.heads.base import Head, as_features, saved_params
from scaa.heads.torch_data import BatchData, Collated
from scaa.heads.torch_fit import PRECISIONS, TorchFit, resolve_loss
from scaa.heads.torch_io import TorchPersistence

EVAL_FRAMES = 8192  # padded frames per scoring batch of frame input: bounds memory and padding, and keeps
                   # a CNN's activations small enough to stay in cache (bench/results/cnn_train_lcnn.md)


class TorchHead(TorchFit, TorchPersistence, Head):
    """Base for torch heads; see the module docstring for the training contract."""

    needs = "pooled"
    accepts_losses = None        # any registered loss
    min_views = 1
    standardise_inputs = True
    registry_name = "torch"
    bf16_gains = False           # train_precision "auto" uses bf16 autocast (on a CPU with bf16)
    pad_frames_to = 1            # frame batches are padded to a multiple of this many frames

    def __init__(self, lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30, batch_size: int = 256,
                 patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.projection_dim = projection_dim
        self.eval_batch_size = eval_batch_size
        self.train_precision = train_precision
        self.loss = loss
        self.random_state = random_state

    # -- subclass hooks -------------------------------------------------------
    def build_module(self, in_dim: int) -> nn.Module:
        raise NotImplementedError

    def check_params(self) -> None:
        if int(self.epochs) < 1 or int(self.batch_size) < 2 or int(self.patience) < 1:
            raise ValueError("need epochs >= 1, batch_size >= 2, patience >= 1")
        if int(self.eval_batch_size) < 1 or int(self.projection_dim) < 1:
            raise ValueError("need eval_batch_size >= 1, projection_dim >= 1")
        if self.train_precision not in PRECISIONS:
            raise ValueError(f"train_precision must be one of {PRECISIONS}, not {self.train_precision!r}")

    def params(self) -> dict:
        """Constructor parameters saved in model.json (the loss is saved as ``loss``)."""
        return saved_params(self, leave_out=("loss",))

    # -- training ---------------------------------------------------------------
    def _check(self, feats: Features, what: str) -> None:
        if feats.output != self.needs:
            raise ValueError(f"{self.registry_name} head needs {self.needs} features; {what} has {feats.output}")

    def _setup(self, in_dim: int, loss_spec: dict, class_counts: list[int]) -> None:
        self.in_dim_, self.class_counts_ = int(in_dim), [int(c) for c in class_counts]
        self.n_features_in_ = self.in_dim_
        self.module_ = self.build_module(self.in_dim_)
        self.loss_, self.loss_spec_ = resolve_loss(loss_spec)
        emb_dim = int(getattr(self.module_, "embedding_dim"))
        if hasattr(self.loss_, "setup"):
            self.loss_.setup(self.class_counts_, emb_dim)

    def _data(self, feats: Features, preconvert: bool | None = None) -> BatchData:
        return BatchData(feats, self.mean_, self.std_, self.pad_frames_to, preconvert)

    # -- scoring ---------------------------------------------------------------
    def _score_batches(self, data: BatchData) -> list[np.ndarray]:
        """Pooled: runs of ``eval_batch_size``. Frames: shortest first, each batch at most
        ``eval_batch_size`` clips and :data:`EVAL_FRAMES` padded frames (one clip at least),
        so a long clip does not pad a thousand short ones to its length."""
        n, bs = len(data), int(self.eval_batch_size)
        if data.lengths is None:
            return [np.arange(s, min(s + bs, n)) for s in range(0, n, bs)]
        order = np.argsort(data.lengths, kind="stable")
        out, start = [], 0
        for i in range(n):
            longest = int(data.lengths[order[i]])  # sorted: the clip i is the batch's longest
            if i > start and ((i + 1 - start) * longest > EVAL_FRAMES or i - start >= bs):
                out.append(order[start:i])
                start = i
        if start < n:
            out.append(order[start:])
        return out

    def _score(self, data: BatchData) -> np.ndarray:
        return self._score_collated(Collated(data, self._score_batches(data)), len(data))

    @torch.no_grad()
    def _score_collated(self, batches, n: int, bf16: bool = False) -> np.ndarray:
        """Scores of ``n`` clips from batches (idx, x, mask); float32 unless ``bf16``
        (the per-epoch dev scoring of bf16 training, see the module docstring)."""
        was = self.module_.training
        self.module_.eval()
        self.loss_.eval()
        scores = np.empty(n, np.float64)
        for idx, x, mask in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = self.module_(x, mask)
            scores[idx] = self.loss_.score({k: v.float() for k, v in out.items()}).double().numpy()
        self.module_.train(was)
        return scores

    def _pooled_array(self, X, y=None, fitted: bool = False):
        """Pooled array input checked as scikit-learn does (``validate_data``): sparse,
        1-D, empty (at fit), non-finite and ragged X are rejected with scikit-learn's
        messages, a column-vector y is raveled with a warning, and scoring input must have
        ``n_features_in_`` columns. float32 and float64 are kept as given (so scores do
        not change); other dtypes become float64. Features input does not come here."""
        if fitted:  # scoring an empty array still gives an empty score vector
            return validate_data(self, X, dtype=(np.float64, np.float32), reset=False, ensure_min_samples=0)
        if y is None:  # fit then says that y is required
            return validate_data(self, X, dtype=(np.float64, np.float32)), None
        return validate_data(self, X, y, dtype=(np.float64, np.float32))

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        if self.needs == "pooled" and not isinstance(X, Features):
            X = self._pooled_array(X, fitted=True)
        feats = as_features(X, self.needs)
        self._check(feats, "input")
        if len(feats) == 0:
            return np.zeros(0)
        if feats.dim != self.in_dim_:
            raise ValueError(f"input has dimension {feats.dim}, head was trained on {self.in_dim_}")
        return self._score(self._data(feats))
