"""RBF support-vector machine on standardised pooled features (scikit-learn SVC).

Saved as arrays (support vectors, dual coefficients, intercept, gamma, scaler) and
scored in numpy on load: K(x, s) = exp(-gamma ||x - s||^2), f(x) = K · dual + b, which
is what SVC.decision_function computes for two classes (positive = class 1 = spoof).
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scaa.featstore import with_views
from scaa import metrics
from scaa.heads.base import Head
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS


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
                 max_train: int | None = None, tol: float = 1e-3):
        self.C, self.gamma, self.class_weight = float(C), gamma, class_weight
        self.max_train, self.tol = max_train, float(tol)
        self.mean_ = self.scale_ = self.sv_ = self.dual_ = None
        self.intercept_ = self.gamma_ = None

    def fit(self, train, dev=None, loss=None, seed: int = 0, log=None):
        if train.output != "pooled":
            raise ValueError("svm head needs pooled features")
        train = with_views(train)  # augmented views, if any, are extra training rows
        X, y = np.asarray(train.X, dtype=np.float64), np.asarray(train.y).astype(int)
        if len(np.unique(y)) != 2:
            raise ValueError("svm: training needs both classes")
        if self.max_train and len(y) > self.max_train:
            rng = np.random.default_rng(seed)
            quota = {c: max(1, round(self.max_train * np.mean(y == c))) for c in (0, 1)}  # keep class ratio
            keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:quota[c]] for c in (0, 1)])
            X, y = X[np.sort(keep)], y[np.sort(keep)]
        scaler = StandardScaler().fit(X)
        clf = SVC(C=self.C, kernel="rbf", gamma=self.gamma, class_weight=self.class_weight, tol=self.tol,
                  random_state=seed).fit(scaler.transform(X), y)
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.sv_, self.dual_ = clf.support_vectors_, clf.dual_coef_[0]
        self.intercept_, self.gamma_ = float(clf.intercept_[0]), float(clf._gamma)
        if log is not None:
            row = {"epoch": 1, "n_train": int(len(y)), "n_support": int(len(self.sv_))}
            if dev is not None and dev.y is not None:
                row["dev_eer"] = metrics.eer(self.decision_function(dev.X), dev.y)
            log(row)
        return self

    def decision_function(self, X) -> np.ndarray:
        if self.sv_ is None:
            raise RuntimeError("svm head is not fitted")
        X = np.asarray(getattr(X, "X", X), dtype=np.float64)
        return rbf_decision((X - self.mean_) / self.scale_, self.sv_, self.dual_, self.intercept_, self.gamma_)

    def save(self, run_dir):
        save_arrays(run_dir, {"mean": self.mean_, "scale": self.scale_, "support_vectors": self.sv_,
                              "dual_coef": self.dual_, "intercept": np.asarray([self.intercept_]),
                              "gamma": np.asarray([self.gamma_])},
                    {"head": "svm", "params": {"C": self.C, "gamma": self.gamma, "class_weight": self.class_weight,
                                               "max_train": self.max_train, "tol": self.tol}})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="svm")
        head = cls(**{**spec, **meta.get("params", {})})
        head.mean_, head.scale_ = arrays["mean"], arrays["scale"]
        head.sv_, head.dual_ = arrays["support_vectors"], arrays["dual_coef"]
        head.intercept_, head.gamma_ = float(arrays["intercept"][0]), float(arrays["gamma"][0])
        return head

    def n_parameters(self):
        if self.sv_ is None:
            return {"total": 0, "trainable": 0}
        n = int(self.sv_.size + self.dual_.size + 1)
        return {"total": n, "trainable": n}
