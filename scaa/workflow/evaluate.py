"""Evaluate one cell: calibration and threshold from dev, every metric on test with CIs.

``evaluate`` returns the JSON-serialisable dict stored as ``metrics/{eval_dataset}.json``;
``paired_comparison`` compares two cells' scores on the same clips (paired bootstrap);
``evaluate_files`` is the evaluate rule's job: both, from score files, into that JSON.
Frames carry columns ``utt_id, label, score, attack, speaker``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from scaa.bootstrap import SCORE_METRICS, bootstrap, eer_stat, metric_stats, paired_bootstrap
from scaa.calibration import fit as fit_calibrator
from scaa.metrics import check_binary, det_points, eer_and_threshold, min_tdcf, reliability_curve, roc_points

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
    check_binary(df["score"].to_numpy(), df["label"].to_numpy(), f"{name} scores")
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
    cal = fit_calibrator(calibration, s_dev, y_dev)
    eer_dev, thr = eer_and_threshold(s_dev, y_dev)
    prob, llr = cal.apply(s), cal.llr(s)
    groups = test["speaker"].astype(str).to_numpy() if group_by_speaker else None
    boot = dict(n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)

    stats = metric_stats(TEST_METRICS, y, scores=s, prob=prob, llr=llr, threshold=thr)
    metrics = bootstrap(stats, y, **boot)
    for m in metrics.values():
        m.pop("n_boot")

    attacks = test["attack"].astype(str).to_numpy()
    per_attack = {}
    for name in sorted(set(attacks[y == 1])):
        sel = (y == 0) | ((y == 1) & (attacks == name))
        sub = {**boot, "groups": None if groups is None else groups[sel]}
        res = bootstrap({"eer": eer_stat(s[sel], y[sel])}, y[sel], **sub)["eer"]
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
        "reliability": reliability_curve(prob, y),
        "roc": roc_points(s, y),
        "det": det_points(s, y),
    }
    if asv is not None:
        out["min_tdcf"] = min_tdcf(s, y, asv["target"], asv["nontarget"], asv["spoof"])
    return jsonable(out)


def paired_comparison(test_a: pd.DataFrame, test_b: pd.DataFrame, *, metrics=PAIRED_METRICS,
                      n_boot: int = 1000, seed: int = 0, group_by_speaker: bool = False,
                      alpha: float = 0.05) -> dict:
    """A minus B on the clips both cells scored (joined on utt_id), same resamples for both."""
    a, b = _frame(test_a, "A"), _frame(test_b, "B")
    bad = [m for m in metrics if m not in SCORE_METRICS]
    if bad:
        raise ValueError(f"paired comparison supports raw-score metrics {sorted(SCORE_METRICS)}, not {bad}")
    j = a.merge(b[["utt_id", "label", "score"]], on="utt_id", suffixes=("_a", "_b"), validate="1:1")
    if (j["label_a"] != j["label_b"]).any():
        raise ValueError(f"labels disagree for {int((j['label_a'] != j['label_b']).sum())} shared clips")
    y = j["label_a"].to_numpy().astype(int)
    check_binary(j["score_a"].to_numpy(), y, "shared clips' scores")
    groups = j["speaker"].astype(str).to_numpy() if group_by_speaker else None
    sa = metric_stats(metrics, y, scores=j["score_a"].to_numpy(np.float64))
    sb = metric_stats(metrics, y, scores=j["score_b"].to_numpy(np.float64))
    res = paired_bootstrap(sa, sb, y, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)
    return jsonable({
        "n": {"shared": _counts(y), "only_a": int(len(a) - len(j)), "only_b": int(len(b) - len(j))},
        "bootstrap": {"n_boot": n_boot, "seed": seed, "alpha": alpha, "group_by_speaker": group_by_speaker},
        "metrics": res,
    })


def evaluate_files(dev_path: str, test_path: str, out_path: str, evaluation: dict, seed: int,
                   reference_path: str | None = None) -> dict:
    """Metrics of one cell on one eval set (``evaluation``: the config's block) and, when the
    config names a reference cell (``reference_path``: its scores of the same eval set),
    the paired bootstrap of this cell minus the reference under ``"paired"``, so the
    summary only reads it. Score files sit at ``<run dir>/scores/<eval set>.parquet``."""
    test = pd.read_parquet(test_path)
    n_boot = int(evaluation.get("n_boot", 1000))
    result = evaluate(pd.read_parquet(dev_path), test, n_boot=n_boot, seed=seed,
                      group_by_speaker=bool(evaluation.get("group_by_speaker", False)),
                      calibration=evaluation.get("calibration", "platt"))
    if reference_path is not None:
        own, ref = Path(test_path).resolve().parent.parent, Path(reference_path).resolve().parent.parent
        paired = paired_comparison(test, pd.read_parquet(reference_path), n_boot=n_boot, seed=seed)
        result["paired"] = {"reference_run_dir": str(Path(reference_path).parent.parent),
                            "is_reference": own == ref, **paired}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(result, indent=1, allow_nan=False))
    return result
