"""Head interface: scikit-learn estimators (``BaseEstimator`` + ``ClassifierMixin``).

- ``__init__`` stores its arguments as given, nothing else; every hyper-parameter is one,
  including ``random_state`` (seeds the fit; see :mod:`scaa.seeding`) and, for the torch
  heads, ``loss`` (name, ``{"type": ...}`` spec or loss object). So ``clone``,
  ``get_params`` / ``set_params`` and ``GridSearchCV`` work. ``check_params()`` validates
  them; ``fit`` calls it first (and the workflow's start-up check, so a bad value in a
  config fails before any job runs). In the workflow, :func:`scaa.workflow.train.train_cell` sets
  ``random_state`` to the cell's seed and ``loss`` to the cell's loss.
- ``fit(X, y=None, *, dev=None, log=None)``: ``X`` is an array [N, D] for a pooled head
  (``needs = "pooled"``) or a list of [T, D] frame arrays for a frame head, with labels
  ``y``; or a :class:`scaa.featstore.Features` (labels from ``X.y`` unless ``y`` is given;
  ``X.meta["views"]`` optionally maps view name -> Features of the same clips under another
  augmentation: extra training rows, or the second view of a contrastive loss). ``dev`` is
  ``(X_dev, y_dev)`` or Features, only for early stopping / model selection. ``log`` gets a
  dict per epoch (or per fitted component). Fit changes no global state (random, numpy or
  torch seeds, torch's determinism setting).
- Binary only: ``classes_`` holds the two labels, the second is the positive class
  (spoof; in the pipeline 0 = bona fide, 1 = spoof). ``decision_function(X)``: higher =
  more likely spoof; ``predict`` thresholds it at 0; ``predict_proba(X)`` is [N, 2],
  *uncalibrated* (calibration is fitted on dev by :mod:`scaa.calibration`).
- ``save(dir)`` writes safetensors + JSON only; ``load(dir)`` reads them back (never pickle).

Class attributes describe what a head needs and gives; the grid reads them without
building the head.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from scaa.featstore import Features


class Head(ClassifierMixin, BaseEstimator):
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

    # True only when fit() returns the same model for every ``random_state`` with the
    # default parameters; the grid then trains one cell for the whole seed axis. A head
    # whose randomness hangs on a parameter overrides seed_independent(params) instead.
    deterministic: bool = False

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        """Whether fit ignores ``random_state`` for these constructor parameters."""
        return bool(cls.deterministic)

    def check_params(self) -> None:
        """Raise ValueError naming a bad hyper-parameter (needs no data)."""

    def fit(self, X, y=None, *, dev=None, log=None):
        raise NotImplementedError

    def decision_function(self, X) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(X), -50, 50)))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def save(self, run_dir: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, run_dir: str | Path, **spec) -> "Head":
        raise NotImplementedError

    def n_parameters(self) -> dict:
        """{"total": int, "trainable": int} for the cost table."""
        return {"total": 0, "trainable": 0}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.two_d_array = self.needs == "pooled"
        return tags


def as_features(X, needs: str) -> Features:
    """Features from Features (as is), an [N, D] array (pooled) or a list of [T, D] arrays."""
    if isinstance(X, Features):
        return X
    if needs == "pooled":
        X = np.asarray(X)
        return Features(np.arange(len(X)).astype(str), X)
    return Features(np.arange(len(X)).astype(str), list(X), output="frames")


def binary_classes(y) -> np.ndarray:
    """The two sorted labels of y; a clear error for one class, more than two, or non-labels."""
    y = np.asarray(y)
    check_classification_targets(y)
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind != "binary":
        raise ValueError(f"Only binary classification is supported. The type of the target is {kind}.")
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"training needs both classes (bona fide 0 and spoof 1); y holds one class: "
                         f"{classes.tolist()}")
    return classes


def training_data(X, y, needs: str) -> Features:
    """Features with labels from ``fit``'s X and y (views in ``X.meta`` kept)."""
    if isinstance(X, Features):
        if y is not None:
            X = dataclasses.replace(X, y=np.asarray(y))
        feats = X
    else:
        if y is None:
            raise ValueError("fit requires y to be passed, but the target y is None")
        feats = dataclasses.replace(as_features(X, needs), y=np.asarray(y))
    if feats.y is None:
        raise ValueError("fit requires y to be passed, but the target y is None (and X.y is not set)")
    if len(feats.y) != len(feats):
        raise ValueError(f"y has {len(feats.y)} labels for {len(feats)} training rows")
    return feats


def dev_data(dev, needs: str) -> Features | None:
    """Labelled dev Features from None, Features or ``(X_dev, y_dev)``."""
    if dev is None:
        return None
    if isinstance(dev, Features):
        return dev
    if isinstance(dev, tuple) and len(dev) == 2:
        return dataclasses.replace(as_features(dev[0], needs), y=np.asarray(dev[1]))
    raise ValueError("dev must be Features or a pair (X_dev, y_dev)")


def pooled_rows(head: Head, X, y) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of a scikit-learn-backed pooled head as (X float64 [N, D], 0/1 labels):
    a Features' views become extra rows; sets ``classes_`` and ``n_features_in_``."""
    from sklearn.utils.validation import validate_data

    from scaa.featstore import with_views

    if isinstance(X, Features):
        if X.output != "pooled":
            raise ValueError(f"{type(head).__name__} needs pooled features, got {X.output}")
        feats = with_views(training_data(X, y, "pooled"))
        X, y = feats.X, feats.y
    X, y = validate_data(head, X, y, dtype=np.float64)
    head.classes_ = binary_classes(y)
    return X, positive(y, head.classes_)


def pooled_input(head: Head, X) -> np.ndarray:
    """Scoring input of a fitted scikit-learn-backed pooled head as float64 [N, D]."""
    from sklearn.utils.validation import validate_data

    check_is_fitted(head)
    return validate_data(head, X.X if isinstance(X, Features) else X, dtype=np.float64, reset=False)


def saved_params(head: Head, leave_out: tuple = ()) -> dict:
    """The hyper-parameters model.json records (what ``load`` passes back to the class):
    all but ``random_state`` (the run's config records the seed) and ``leave_out``."""
    return {k: v for k, v in head.get_params(deep=False).items() if k not in ("random_state", *leave_out)}


def positive(y, classes: np.ndarray) -> np.ndarray:
    """0/1 labels: 1 where y is the positive (second) class."""
    return (np.asarray(y) == classes[1]).astype(np.int64)
