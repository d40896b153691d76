"""The ASVspoof LFCC-GMM baseline head.

One diagonal GaussianMixture per class on frame-level features; a clip's score is the
mean over its frames of log p(x|spoof) - log p(x|bona fide).

EM starts from a k-means initialisation and may subsample frames, both seeded: by the
head's ``random_state`` (the cell's seed), or by ``init_seed`` when it is set (then every
seed of the grid gives the same model and the grid trains the cell once).

Fitted with scikit-learn; saved as arrays (weights, means, variances) and scored with
numpy/scipy so loading needs no pickle.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from sklearn.utils.validation import check_is_fitted

from scaa import metrics
from scaa.featstore import Features, with_views
from scaa.heads.base import Head, binary_classes, dev_data, positive, saved_params, training_data
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS
from scaa.seeding import as_seed

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
                 max_frames: int | None = 500_000, tol: float = 1e-3, init_seed: int | None = None,
                 random_state=0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.max_frames = max_frames
        self.tol = tol
        self.init_seed = init_seed
        self.random_state = random_state

    def check_params(self) -> None:
        if int(self.n_components) < 1 or int(self.max_iter) < 1 or float(self.reg_covar) < 0:
            raise ValueError("gmm: need n_components >= 1, max_iter >= 1, reg_covar >= 0")

    def fit(self, X, y=None, *, dev=None, log=None):
        """X: a list of [T, D] frame arrays (or frame Features; views are extra clips) with
        labels y; ``dev`` only adds its EER to the log."""
        self.check_params()
        train = training_data(X, y, "frames")
        if train.output != "frames" or any(np.ndim(a) != 2 or len(a) == 0 for a in train.X):
            raise ValueError("gmm head needs frame-level features: non-empty [T, D] arrays, one per clip")
        train = with_views(train)  # augmented views, if any, are extra training rows
        self.classes_ = binary_classes(train.y)
        y = positive(train.y, self.classes_)
        seed = as_seed(self.random_state) if self.init_seed is None else int(self.init_seed)
        rng = np.random.default_rng(seed)
        n_components, max_frames = int(self.n_components), self.max_frames
        params = {}
        for c, name in enumerate(CLASSES):
            clips = [np.asarray(train.X[i], dtype=np.float64) for i in np.flatnonzero(y == c)]
            frames = np.concatenate(clips)
            if max_frames and len(frames) > max_frames:  # seeded subsample keeps EM affordable
                frames = frames[np.sort(rng.choice(len(frames), int(max_frames), replace=False))]
            if len(frames) < n_components:
                raise ValueError(f"gmm: {len(frames)} {name} frames < n_components {n_components}")
            gmm = GaussianMixture(n_components, covariance_type="diag", max_iter=int(self.max_iter),
                                  reg_covar=float(self.reg_covar), tol=float(self.tol),
                                  random_state=int(rng.integers(2**31 - 1))).fit(frames)
            params[name] = (gmm.weights_, gmm.means_, gmm.covariances_)
            if log is not None:
                log({"class": name, "n_frames": int(len(frames)), "converged": bool(gmm.converged_),
                     "n_iter": int(gmm.n_iter_), "mean_loglik": float(gmm.score(frames))})
        self.params_ = params
        self.n_features_in_ = int(params["bona"][1].shape[1])
        dev = dev_data(dev, "frames")
        if log is not None and dev is not None and dev.y is not None:
            log({"dev_eer": metrics.eer(self.decision_function(dev), positive(dev.y, self.classes_))})
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self)
        clips = X.X if isinstance(X, Features) else X
        scores = np.empty(len(clips))
        for i, a in enumerate(clips):
            a = np.asarray(a, dtype=np.float64)
            if a.ndim != 2 or len(a) == 0:
                raise ValueError(f"clip {i}: expected a non-empty [T, D] frame array")
            if a.shape[1] != self.n_features_in_:
                raise ValueError(f"clip {i}: {a.shape[1]} features per frame, the head was fitted on "
                                 f"{self.n_features_in_}")
            scores[i] = np.mean(diag_gmm_loglik(a, *self.params_["spoof"]) - diag_gmm_loglik(a, *self.params_["bona"]))
        return scores

    def save(self, run_dir):
        arrays = {f"{c}.{k}": v for c in CLASSES for k, v in zip(("weights", "means", "variances"), self.params_[c])}
        save_arrays(run_dir, arrays, {"head": "gmm", "params": saved_params(self), "classes": self.classes_.tolist()})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="gmm")
        head = cls(**{**spec, **meta.get("params", {})})
        head.params_ = {c: tuple(arrays[f"{c}.{k}"] for k in ("weights", "means", "variances")) for c in CLASSES}
        head.classes_ = np.asarray(meta.get("classes", [0, 1]))
        head.n_features_in_ = int(head.params_["bona"][1].shape[1])
        return head

    def n_parameters(self):
        n = int(sum(a.size for p in getattr(self, "params_", {}).values() for a in p))
        return {"total": n, "trainable": n}
