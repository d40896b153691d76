"""RBF support-vector machine on standardised pooled features (scikit-learn SVC).

Saved as arrays (support vectors, dual coefficients, intercept, gamma, scaler) and
scored in numpy on load: K(x, s) = exp(-gamma ||x - s||^2), f(x) = K · dual + b, which
is what SVC.decision_function computes for two classes (positive = class 1 = spoof).
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scaa import metrics
from scaa.heads.base import Head, dev_data, pooled_input, pooled_rows, positive, saved_params
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS
from scaa.seeding import as_seed


def rbf_decision(X: np.ndarray, sv: np.ndarray, dual: np.ndarray, intercept: float, gamma: float,
                 chunk: int = 4096) -> np.ndarray:
    """Two-class RBF SVC decision function in numpy, in row chunks to bound memory."""
    sv_sq = (sv * sv).sum(1)
    out = np.empty(len(X), np.float64)
    for s in range(0, len(X), chunk):
        x = X[s:s + chunk]
        d2 = np.maximum((x * x).sum(1)[:, None] + sv_sq[None, :] - 2 * x @ sv.T, 0.0)
        out[s:s + chunk] = np.exp(-gamma * d2) @ dual + intercept
    return out


@HEADS.register("svm")
class SVMHead(Head):
    """StandardScaler + RBF SVC (C, gamma, class_weight); optional seeded stratified subsample for speed."""

    # libsvm's solver is deterministic and SVC(probability=False) never uses random_state;
    # the seed only drives the max_train subsample
    deterministic = True

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        return not params.get("max_train")

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", class_weight: str | None = "balanced",
                 max_train: int | None = None, tol: float = 1e-3, random_state=0):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.max_train = max_train
        self.tol = tol
        self.random_state = random_state

    def check_params(self) -> None:
        if float(self.C) <= 0:
            raise ValueError(f"svm: C must be > 0, got {self.C}")
        if self.max_train is not None and int(self.max_train) < 2:
            raise ValueError(f"svm: max_train must be None or >= 2, got {self.max_train}")

    def fit(self, X, y=None, *, dev=None, log=None):
        """Fit on the training rows (augmented views are extra rows); ``dev`` only adds its
        EER to the log."""
        self.check_params()
        X, y = pooled_rows(self, X, y)
        seed = as_seed(self.random_state)
        if self.max_train and len(y) > self.max_train:
            rng = np.random.default_rng(seed)
            quota = {c: max(1, round(self.max_train * np.mean(y == c))) for c in (0, 1)}  # keep class ratio
            keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:quota[c]] for c in (0, 1)]))
            X, y = X[keep], y[keep]
        scaler = StandardScaler().fit(X)
        # SVC's random_state only drives probability estimates (off here), but without one
        # fit draws libsvm's seed from numpy's global generator
        clf = SVC(C=float(self.C), kernel="rbf", gamma=self.gamma, class_weight=self.class_weight,
                  tol=float(self.tol), random_state=seed).fit(scaler.transform(X), y)
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.sv_, self.dual_ = clf.support_vectors_, clf.dual_coef_[0]
        self.intercept_, self.gamma_ = float(clf.intercept_[0]), float(clf._gamma)
        if log is not None:
            row = {"epoch": 1, "n_train": int(len(y)), "n_support": int(len(self.sv_))}
            dev = dev_data(dev, "pooled")
            if dev is not None and dev.y is not None:
                row["dev_eer"] = metrics.eer(self.decision_function(dev.X), positive(dev.y, self.classes_))
            log(row)
        return self

    def decision_function(self, X) -> np.ndarray:
        X = pooled_input(self, X)
        return rbf_decision((X - self.mean_) / self.scale_, self.sv_, self.dual_, self.intercept_, self.gamma_)

    def save(self, run_dir):
        save_arrays(run_dir, {"mean": self.mean_, "scale": self.scale_, "support_vectors": self.sv_,
                              "dual_coef": self.dual_, "intercept": np.asarray([self.intercept_]),
                              "gamma": np.asarray([self.gamma_])},
                    {"head": "svm", "params": saved_params(self),
                     "classes": self.classes_.tolist()})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="svm")
        head = cls(**{**spec, **meta.get("params", {})})
        head.mean_, head.scale_ = arrays["mean"], arrays["scale"]
        head.sv_, head.dual_ = arrays["support_vectors"], arrays["dual_coef"]
        head.intercept_, head.gamma_ = float(arrays["intercept"][0]), float(arrays["gamma"][0])
        head.classes_ = np.asarray(meta.get("classes", [0, 1]))
        head.n_features_in_ = int(head.sv_.shape[1])
        return head

    def n_parameters(self):
        if not hasattr(self, "sv_"):
            return {"total": 0, "trainable": 0}
        n = int(self.sv_.size + self.dual_.size + 1)
        return {"total": n, "trainable": n}
