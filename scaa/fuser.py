"""The linear logistic-regression score fuser: fitted on dev member scores, applied to any split's.

fused(x) = bias + sum_i weight_i * score_i(x), with weights and bias chosen to minimise
the prior-weighted cross-entropy on dev (prior 0.5: both classes count equally), so the
fused score is a log-likelihood ratio on dev (the BOSARIS / ASVspoof convention). Weights
apply to the members' raw scores and are saved, with the member run directories, as
``fusion.json`` (:data:`FUSION_FILE`): plain data that
:class:`scaa.inference.fused.FusedDetector` reads back without importing anything named in it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from scaa import metrics

if TYPE_CHECKING:
    import pandas as pd

META = ["utt_id", "split", "label", "attack", "speaker"]
FUSION_FILE = "fusion.json"


def fit_weights(S: np.ndarray, y: np.ndarray, prior: float = 0.5, l2: float = 1e-4) -> tuple[np.ndarray, float]:
    """(weights [k], bias) on raw scores S [n, k] for labels y (1 = spoof).

    Minimises prior * mean_spoof softplus(-f) + (1 - prior) * mean_bona softplus(f) with
    f = S w + b + logit(prior), plus l2/2 |w|^2 on standardised scores (BOSARIS
    ``train_linear_fuser``); the returned fused score S w + b is then a dev-calibrated LLR.
    """
    from scipy.optimize import minimize

    S, y = np.asarray(S, np.float64), np.asarray(y).astype(int)
    if S.ndim != 2 or S.shape[0] != y.size:
        raise ValueError(f"scores must be [n, k] with one label per row; got {S.shape} and {y.shape}")
    if not np.isfinite(S).all():
        raise ValueError("member scores contain NaN or inf")
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError(f"fusion needs dev clips of both classes (bona fide {n0}, spoof {n1})")
    if not 0 < prior < 1:
        raise ValueError("prior must be in (0, 1)")
    mu, sd = S.mean(0), S.std(0)
    sd[sd < 1e-12] = 1.0
    Z = (S - mu) / sd
    t = np.where(y == 1, 1.0, -1.0)
    cw = np.where(y == 1, prior / n1, (1 - prior) / n0)
    offset = math.log(prior / (1 - prior))

    def objective(theta):
        w, b = theta[:-1], theta[-1]
        f = Z @ w + b + offset
        m = -t * f
        loss = float(np.sum(cw * np.logaddexp(0.0, m))) + 0.5 * l2 * float(w @ w)
        g_f = cw * (-t) / (1.0 + np.exp(-m))  # d softplus(m)/df
        grad = np.concatenate([Z.T @ g_f + l2 * w, [g_f.sum()]])
        return loss, grad

    res = minimize(objective, np.zeros(S.shape[1] + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    w_z, b_z = res.x[:-1], float(res.x[-1])
    w = w_z / sd
    return w, b_z - float(np.sum(w * mu))


def join(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """Clips every member scored (inner join on utt_id): metadata and scores [n, k]."""
    base = frames[0][META].copy()
    for i, f in enumerate(frames):
        missing = [c for c in META + ["score"] if c not in f.columns]
        if missing:
            raise ValueError(f"member {i} scores lack columns {missing}")
        base = base.merge(f[["utt_id", "score"]].rename(columns={"score": f"s{i}"}), on="utt_id", how="inner",
                          validate="1:1")
    S = base[[f"s{i}" for i in range(len(frames))]].to_numpy(np.float64)
    return base[META].reset_index(drop=True), S


def apply(fusion: dict, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Fused scores (columns utt_id, split, label, attack, speaker, score)."""
    w = np.asarray([m["weight"] for m in fusion["members"]], np.float64)
    if len(frames) != w.size:
        raise ValueError(f"fusion has {w.size} members but {len(frames)} score files were given")
    meta, S = join(frames)
    out = meta.copy()
    out["score"] = S @ w + float(fusion["bias"])
    return out


def fit(members: list[dict], dev_frames: list[pd.DataFrame], prior: float = 0.5, l2: float = 1e-4) -> dict:
    """The fusion.json content: ``members`` (run_dir + cell each) get their weights."""
    meta, S = join(dev_frames)
    y = meta["label"].to_numpy().astype(int)
    w, b = fit_weights(S, y, prior, l2)
    fused = S @ w + b
    return {
        "type": "linear_logistic", "fitted_on": "dev", "prior": prior, "l2": l2, "bias": b,
        "members": [{**m, "weight": float(wi)} for m, wi in zip(members, w)],
        "n_dev": {"bonafide": int((y == 0).sum()), "spoof": int((y == 1).sum()),
                  "dropped": int(max(len(f) for f in dev_frames) - len(meta))},
        "dev_eer": {"fused_in_sample": metrics.eer(fused, y),
                    "members": [metrics.eer(S[:, i], y) for i in range(S.shape[1])]},
        "note": "weights apply to raw member scores; fused score = bias + sum(weight * score)",
    }
