"""Head interface, scikit-learn style.

``fit(train, dev=None, loss=None, seed=0, log=None)`` takes :class:`scaa.featstore.Features`
(``train.y`` set; ``train.meta["views"]`` optionally maps view name -> Features of the
same clips under another augmentation, for contrastive losses). Dev is only for early
stopping / model selection. ``decision_function(X)`` returns scores, higher = more
likely spoof; ``predict_proba(X)`` returns [N, 2] (bona fide, spoof) *uncalibrated*
(calibration is fitted on dev by scaa.calibration). ``save(dir)`` writes safetensors +
JSON only; ``load(dir)`` reads them back (never pickle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Head:
    needs: str = "pooled"
    """The features it fits on: ``"pooled"`` ([D] per clip) or ``"frames"`` ([T, D] per
    clip); the grid skips a frozen cell whose encoder gives the other kind."""

    accepts_losses: tuple | None = ("ce",)
    """Loss types (registry names) it can train with; ``None``: any registered loss."""

    min_views: int = 1
    """How many augmented views of each clip one fit needs."""

    trains_top_layers: bool = False
    """True when :class:`scaa.heads.topk.TopKHead` can train this head together with an
    encoder's top transformer layers (a ``topK`` freeze); the grid skips top-k cells of
    every other head."""

    # True only when fit() returns the same model for every ``seed`` with the default
    # parameters; the grid then trains one cell for the whole seed axis. A head whose
    # randomness hangs on a parameter overrides seed_independent(params) instead.
    deterministic: bool = False

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        """Whether fit(seed=...) ignores the seed for these constructor parameters."""
        return bool(cls.deterministic)

    def fit(self, train, dev=None, loss=None, seed: int = 0, log=None):
        raise NotImplementedError

    def decision_function(self, X) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -50, 50)))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    def save(self, run_dir: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, run_dir: str | Path, **spec) -> "Head":
        raise NotImplementedError

    def n_parameters(self) -> dict:
        """{"total": int, "trainable": int} for the cost table."""
        return {"total": 0, "trainable": 0}
