"""The ``score`` head: a pretrained model's own score as the cell's score, nothing trained.

A pretrained detector (e.g. ``aasist`` with ``output: score`` or ``logits``) already gives
a score per clip; this head only turns it into SCAA's convention (higher = more likely
spoof), so the cell is calibrated, thresholded on dev, bootstrapped and compared like any
other. Features with one column are a score whose direction ``higher_means`` names
(``bonafide`` for AASIST's bona fide logit); two columns are logits ``[spoof, bona fide]``
and the score is their difference, the model's log-odds of spoof.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from scaa.featstore import Features
from scaa.heads.base import Head, binary_classes, training_data
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS

DIRECTIONS = ("bonafide", "spoof")


@HEADS.register("score")
class ScoreHead(Head):
    """A pretrained model's score as is (one column: its direction; two: spoof - bona fide logit); nothing is fitted."""

    deterministic = True

    def __init__(self, higher_means: str = "bonafide", random_state=0):
        self.higher_means = higher_means
        self.random_state = random_state

    def check_params(self) -> None:
        if self.higher_means not in DIRECTIONS:
            raise ValueError(f"score: higher_means must be one of {', '.join(DIRECTIONS)}, not {self.higher_means!r}")

    def _matrix(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X.X if isinstance(X, Features) else X, dtype=np.float64, reset=reset)
        if X.shape[1] not in (1, 2):
            raise ValueError(f"score: needs one score or two logits per clip, got {X.shape[1]} features; "
                             "use an encoder output of 'score' or 'logits'")
        return X

    def fit(self, X, y=None, *, dev=None, log=None):
        """Checks the input and records the classes; the scores are used as they are."""
        self.check_params()
        if not isinstance(X, Features) and y is not None:  # scikit-learn's checks and messages first
            X, y = validate_data(self, X, y, dtype=np.float64)
        feats = training_data(X, y, "pooled")
        classes = binary_classes(feats.y)  # label errors before the width error
        self._matrix(feats.X, reset=True)
        self.classes_ = classes
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = self._matrix(X, reset=False)
        if X.shape[1] == 2:
            return X[:, 0] - X[:, 1]
        return -X[:, 0] if self.higher_means == "bonafide" else X[:, 0]

    def save(self, run_dir):
        save_arrays(run_dir, {"n_features": np.asarray([self.n_features_in_])},
                    {"head": "score", "higher_means": self.higher_means, "classes": self.classes_.tolist()})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="score")
        head = cls(**{**spec, "higher_means": meta.get("higher_means", spec.get("higher_means", "bonafide"))})
        head.n_features_in_ = int(arrays["n_features"][0])
        head.classes_ = np.asarray(meta.get("classes", [0, 1]))
        return head
