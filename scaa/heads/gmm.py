"""The ASVspoof LFCC-GMM baseline: one diagonal GaussianMixture per class on frame-level
features; a clip's score is the mean over its frames of log p(x|spoof) - log p(x|bona fide).

EM starts from a k-means initialisation and may subsample frames, both seeded: by the
cell's seed, or by ``init_seed`` when it is set (then every seed of the grid gives the
same model and the grid trains the cell once).

Fitted with scikit-learn; saved as arrays (weights, means, variances) and scored with
numpy/scipy so loading needs no pickle.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from scaa.featstore import with_views
from scaa import metrics
from scaa.heads.base import Head
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS

CLASSES = ("bona", "spoof")


def diag_gmm_loglik(X: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log p(x) per row of X [N, D] under a diagonal GMM (K components)."""
    prec = 1.0 / variances                                                   # [K, D]
    const = np.log(weights) - 0.5 * (X.shape[1] * np.log(2 * np.pi) + np.log(variances).sum(1))
    quad = (X * X) @ prec.T - 2 * X @ (means * prec).T + (means * means * prec).sum(1)  # [N, K]
    return logsumexp(const - 0.5 * quad, axis=1)


@HEADS.register("gmm")
class GMMHead(Head):
    """LFCC-GMM baseline: per-class diagonal GMMs on frames, mean frame log-likelihood ratio (needs frames)."""

    needs = "frames"

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        return params.get("init_seed") is not None

    def __init__(self, n_components: int = 64, max_iter: int = 100, reg_covar: float = 1e-4,
                 max_frames: int | None = 500_000, tol: float = 1e-3, init_seed: int | None = None):
        self.n_components, self.max_iter, self.reg_covar = int(n_components), int(max_iter), float(reg_covar)
        self.max_frames, self.tol = max_frames, float(tol)
        self.init_seed = None if init_seed is None else int(init_seed)
        self.params_: dict[str, tuple] = {}

    def fit(self, train, dev=None, loss=None, seed: int = 0, log=None):
        if train.output != "frames":
            raise ValueError("gmm head needs frame-level features")
        train = with_views(train)  # augmented views, if any, are extra training rows
        y = np.asarray(train.y).astype(int)
        rng = np.random.default_rng(seed if self.init_seed is None else self.init_seed)
        for c, name in enumerate(CLASSES):
            clips = [np.asarray(train.X[i], dtype=np.float64) for i in np.flatnonzero(y == c)]
            if not clips:
                raise ValueError(f"gmm: no {name} clips in training data")
            frames = np.concatenate(clips)
            if self.max_frames and len(frames) > self.max_frames:  # seeded subsample keeps EM affordable
                frames = frames[np.sort(rng.choice(len(frames), self.max_frames, replace=False))]
            if len(frames) < self.n_components:
                raise ValueError(f"gmm: {len(frames)} {name} frames < n_components {self.n_components}")
            gmm = GaussianMixture(self.n_components, covariance_type="diag", max_iter=self.max_iter,
                                  reg_covar=self.reg_covar, tol=self.tol,
                                  random_state=int(rng.integers(2**31 - 1))).fit(frames)
            self.params_[name] = (gmm.weights_, gmm.means_, gmm.covariances_)
            if log is not None:
                log({"class": name, "n_frames": int(len(frames)), "converged": bool(gmm.converged_),
                     "n_iter": int(gmm.n_iter_), "mean_loglik": float(gmm.score(frames))})
        if log is not None and dev is not None and dev.y is not None:
            log({"dev_eer": metrics.eer(self.decision_function(dev), dev.y)})
        return self

    def decision_function(self, X) -> np.ndarray:
        if not self.params_:
            raise RuntimeError("gmm head is not fitted")
        clips = getattr(X, "X", X)
        scores = np.empty(len(clips))
        for i, a in enumerate(clips):
            a = np.asarray(a, dtype=np.float64)
            if a.ndim != 2 or len(a) == 0:
                raise ValueError(f"clip {i}: expected a non-empty [T, D] frame array")
            scores[i] = np.mean(diag_gmm_loglik(a, *self.params_["spoof"]) - diag_gmm_loglik(a, *self.params_["bona"]))
        return scores

    def save(self, run_dir):
        arrays = {f"{c}.{k}": v for c in CLASSES for k, v in zip(("weights", "means", "variances"), self.params_[c])}
        save_arrays(run_dir, arrays, {"head": "gmm", "params": {
            "n_components": self.n_components, "max_iter": self.max_iter, "reg_covar": self.reg_covar,
            "max_frames": self.max_frames, "tol": self.tol, "init_seed": self.init_seed}})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="gmm")
        head = cls(**{**spec, **meta.get("params", {})})
        head.params_ = {c: tuple(arrays[f"{c}.{k}"] for k in ("weights", "means", "variances")) for c in CLASSES}
        return head

    def n_parameters(self):
        n = int(sum(a.size for p in self.params_.values() for a in p))
        return {"total": n, "trainable": n}
