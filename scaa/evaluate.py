"""Evaluate one cell: calibration and threshold from dev, every metric on test with CIs.

``evaluate`` returns the JSON-serialisable dict stored as ``metrics/{eval_dataset}.json``;
``paired_comparison`` compares two cells' scores on the same clips (paired bootstrap).
Frames carry columns ``utt_id, label, score, attack, speaker``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaa import bootstrap as B
from scaa import calibration as C
from scaa import metrics as M

REQUIRED = ("utt_id", "label", "score", "attack", "speaker")
TEST_METRICS = ("eer", "roc_auc", "average_precision", "min_dcf", "act_dcf", "cllr", "ece",
                "brier", "accuracy", "far", "frr", "balanced_accuracy")
PAIRED_METRICS = ("eer", "roc_auc")


def _frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{name} scores lack columns {missing}")
    if df["utt_id"].duplicated().any():
        raise ValueError(f"{name} scores repeat utt_ids, e.g. {df['utt_id'][df['utt_id'].duplicated()].iloc[0]!r}")
    M.check_binary(df["score"].to_numpy(), df["label"].to_numpy(), f"{name} scores")
    return df.reset_index(drop=True)


def _counts(y: np.ndarray) -> dict[str, int]:
    return {"bonafide": int((y == 0).sum()), "spoof": int((y == 1).sum())}


def jsonable(obj):
    """Plain Python types, NaN/inf -> None, so json.dumps(..., allow_nan=False) works."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def evaluate(dev: pd.DataFrame, test: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
             group_by_speaker: bool = False, calibration: str = "platt", alpha: float = 0.05,
             asv: dict | None = None) -> dict:
    """All test metrics with bootstrap CIs; nothing about test feeds back into a choice.

    ``asv`` (optional) holds ASV ``target``, ``nontarget`` and ``spoof`` scores for the
    test clips' trials; min t-DCF (2019 cost model) is then added (point estimate).
    """
    dev, test = _frame(dev, "dev"), _frame(test, "test")
    s_dev, y_dev = dev["score"].to_numpy(np.float64), dev["label"].to_numpy().astype(int)
    s, y = test["score"].to_numpy(np.float64), test["label"].to_numpy().astype(int)
    cal = C.fit(calibration, s_dev, y_dev)
    eer_dev, thr = M.eer_and_threshold(s_dev, y_dev)
    prob, llr = cal.apply(s), cal.llr(s)
    groups = test["speaker"].astype(str).to_numpy() if group_by_speaker else None
    boot = dict(n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)

    stats = B.metric_stats(TEST_METRICS, y, scores=s, prob=prob, llr=llr, threshold=thr)
    metrics = B.bootstrap(stats, y, **boot)
    for m in metrics.values():
        m.pop("n_boot")

    attacks = test["attack"].astype(str).to_numpy()
    per_attack = {}
    for name in sorted(set(attacks[y == 1])):
        sel = (y == 0) | ((y == 1) & (attacks == name))
        sub = {**boot, "groups": None if groups is None else groups[sel]}
        res = B.bootstrap({"eer": B.eer_stat(s[sel], y[sel])}, y[sel], **sub)["eer"]
        res.pop("n_boot")
        per_attack[name] = {"n_spoof": int((y[sel] == 1).sum()), **res}

    out = {
        "n": {"dev": _counts(y_dev), "test": _counts(y)},
        "calibration": cal.to_dict(),
        "threshold": {"score": thr, "prob": float(cal.apply([thr])[0]), "rule": "spoof iff score >= threshold",
                      "fitted_on": "dev", "dev_eer": eer_dev},
        "bootstrap": {"n_boot": n_boot, "seed": seed, "alpha": alpha, "group_by_speaker": group_by_speaker,
                      "stratified_by": "label", "ci": "percentile"},
        "metrics": metrics,
        "per_attack_eer": per_attack,
        "reliability": M.reliability_curve(prob, y),
        "roc": M.roc_points(s, y),
        "det": M.det_points(s, y),
    }
    if asv is not None:
        out["min_tdcf"] = M.min_tdcf(s, y, asv["target"], asv["nontarget"], asv["spoof"])
    return jsonable(out)


def paired_comparison(test_a: pd.DataFrame, test_b: pd.DataFrame, *, metrics=PAIRED_METRICS,
                      n_boot: int = 1000, seed: int = 0, group_by_speaker: bool = False,
                      alpha: float = 0.05) -> dict:
    """A minus B on the clips both cells scored (joined on utt_id), same resamples for both."""
    a, b = _frame(test_a, "A"), _frame(test_b, "B")
    bad = [m for m in metrics if m not in B.SCORE_METRICS]
    if bad:
        raise ValueError(f"paired comparison supports raw-score metrics {sorted(B.SCORE_METRICS)}, not {bad}")
    j = a.merge(b[["utt_id", "label", "score"]], on="utt_id", suffixes=("_a", "_b"), validate="1:1")
    if (j["label_a"] != j["label_b"]).any():
        raise ValueError(f"labels disagree for {int((j['label_a'] != j['label_b']).sum())} shared clips")
    y = j["label_a"].to_numpy().astype(int)
    M.check_binary(j["score_a"].to_numpy(), y, "shared clips' scores")
    groups = j["speaker"].astype(str).to_numpy() if group_by_speaker else None
    sa = B.metric_stats(metrics, y, scores=j["score_a"].to_numpy(np.float64))
    sb = B.metric_stats(metrics, y, scores=j["score_b"].to_numpy(np.float64))
    res = B.paired_bootstrap(sa, sb, y, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)
    return jsonable({
        "n": {"shared": _counts(y), "only_a": int(len(a) - len(j)), "only_b": int(len(b) - len(j))},
        "bootstrap": {"n_boot": n_boot, "seed": seed, "alpha": alpha, "group_by_speaker": group_by_speaker},
        "metrics": res,
    })
