"""Detection metrics (labels: 1 = spoof, 0 = bona fide; scores: higher = more likely spoof).

EER, minDCF, actDCF, Cllr and min t-DCF follow the ASVspoof evaluation packages
(2019/2021 for EER and t-DCF, ASVspoof 5 for DCF and Cllr). Those packages treat bona
fide as the *target* class with higher scores; we convert once, inside this module.

Names used below: FRR = bona fide rejected (classified spoof), FAR = spoof accepted
(classified bona fide). A threshold ``t`` means "predict spoof iff score >= t".
"""
from __future__ import annotations

import numpy as np

# ASVspoof 5 detection cost (Track 1): prior of spoof, cost of missing a bona fide
# clip, cost of accepting a spoof.
P_SPOOF, C_MISS, C_FA = 0.05, 1.0, 10.0
# Default t-DCF cost model of the ASVspoof 2019 evaluation plan.
TDCF_2019_COSTS = {
    "Pspoof": 0.05,
    "Ptar": 0.95 * 0.99,
    "Pnon": 0.95 * 0.01,
    "Cmiss_asv": 1.0,
    "Cfa_asv": 10.0,
    "Cmiss_cm": 1.0,
    "Cfa_cm": 10.0,
}
N_BINS = 15


# ---------------------------------------------------------------- input checks
def check_binary(scores, labels, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 scores and int labels; both classes must be present."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or s.size != y.size:
        raise ValueError(f"{what} and labels must be 1-D of equal length, got {s.shape} and {y.shape}")
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(f"{what} contain {int(bad.sum())} NaN/inf values")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (bona fide) or 1 (spoof)")
    y = y.astype(np.int8)
    n_spoof = int(y.sum())
    if n_spoof == 0 or n_spoof == y.size:
        raise ValueError(f"need both classes, got {y.size - n_spoof} bona fide and {n_spoof} spoof")
    return s, y


def check_prob(prob, labels) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) as arrays, checked as :func:`check_binary` does and to lie in [0, 1]."""
    p, y = check_binary(prob, labels, "probabilities")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    return p, y


# ---------------------------------------------------------------- EER and DET
def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FRR, FAR and thresholds exactly as ASVspoof's ``compute_det_curve``.

    Bona fide scores are negated to become the reference's targets; the stable sort
    places targets before nontargets on ties, as the reference does. The leading point
    (FRR 0, FAR 1) is the threshold above every score.
    """
    s, y = check_binary(scores, labels)
    tar, non = -s[y == 0], -s[y == 1]
    all_scores = np.concatenate([tar, non])
    is_tar = np.concatenate([np.ones(tar.size), np.zeros(non.size)])
    order = np.argsort(all_scores, kind="mergesort")
    tar_sums = np.cumsum(is_tar[order])
    non_sums = non.size - (np.arange(1, all_scores.size + 1) - tar_sums)
    frr = np.concatenate([[0.0], tar_sums / tar.size])
    far = np.concatenate([[1.0], non_sums / non.size])
    ref_thr = np.concatenate([[all_scores[order[0]] - 0.001], all_scores[order]])
    return frr, far, -ref_thr


def eer_and_threshold(scores, labels) -> tuple[float, float]:
    """(EER, threshold): mean of FRR and FAR at argmin |FRR - FAR| over the DET points."""
    frr, far, thr = det_curve(scores, labels)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(thr[i])


def eer(scores, labels) -> float:
    """Equal error rate as the ASVspoof reference computes it."""
    return eer_and_threshold(scores, labels)[0]


def eer_threshold(scores, labels) -> float:
    """Score threshold at the EER point (predict spoof iff score >= threshold)."""
    return eer_and_threshold(scores, labels)[1]


def eer_per_attack(scores, labels, attacks) -> dict[str, dict]:
    """EER of each attack's spoofs against all bona fide clips."""
    s, y = check_binary(scores, labels)
    a = np.asarray(attacks, dtype=object)
    if a.shape != s.shape:
        raise ValueError("attacks must have one entry per score")
    bona = y == 0
    out = {}
    for name in sorted({str(v) for v in a[y == 1]}):
        sel = bona | ((y == 1) & (a.astype(str) == name))
        out[name] = {"eer": eer(s[sel], y[sel]), "n_spoof": int((sel & (y == 1)).sum())}
    return out


# ---------------------------------------------------------------- ranking metrics
def roc_auc(scores, labels) -> float:
    s, y = check_binary(scores, labels)
    from sklearn.metrics import roc_auc_score  # lazily: scoring one file needs no sklearn

    return float(roc_auc_score(y, s))


def average_precision(scores, labels) -> float:
    """Average precision with spoof as the positive class."""
    s, y = check_binary(scores, labels)
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s))


def _downsample(n: int, max_points: int, keep: int | None = None) -> np.ndarray:
    idx = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int))
    if keep is not None:
        idx = np.union1d(idx, [keep])
    return idx


def roc_points(scores, labels, max_points: int = 200) -> dict[str, list]:
    """ROC curve (FPR = bona fide flagged, TPR = spoof detected), at most ~max_points."""
    from sklearn.metrics import roc_curve

    s, y = check_binary(scores, labels)
    fpr, tpr, thr = roc_curve(y, s)
    idx = _downsample(fpr.size, max_points)
    thr = np.where(np.isfinite(thr), thr, np.nan)
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist(), "threshold": thr[idx].tolist()}


def det_points(scores, labels, max_points: int = 200) -> dict[str, list]:
    """DET curve (FAR, FRR as rates; plot on probit axes), keeping the EER point."""
    frr, far, thr = det_curve(scores, labels)
    i_eer = int(np.argmin(np.abs(frr - far)))
    idx = _downsample(frr.size, max_points, keep=i_eer)
    return {"far": far[idx].tolist(), "frr": frr[idx].tolist(), "threshold": thr[idx].tolist()}


# ---------------------------------------------------------------- calibration quality
def reliability_curve(prob, labels, n_bins: int = N_BINS) -> dict[str, list]:
    """Equal-width bins on P(spoof): centre, observed spoof rate, mean P(spoof), count.

    Empty bins report NaN accuracy/confidence and count 0.
    """
    p, y = check_prob(prob, labels)
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(b, weights=y, minlength=n_bins) / count
        conf = np.bincount(b, weights=p, minlength=n_bins) / count
    centres = (np.arange(n_bins) + 0.5) / n_bins
    return {"centre": centres.tolist(), "accuracy": acc.tolist(), "confidence": conf.tolist(),
            "count": count.tolist()}


def ece(prob, labels, n_bins: int = N_BINS) -> float:
    """Expected calibration error of P(spoof) over equal-width bins."""
    p, y = check_prob(prob, labels)
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    gap = np.bincount(b, weights=y - p, minlength=n_bins)
    return float(np.abs(gap).sum() / p.size)


def brier(prob, labels) -> float:
    p, y = check_prob(prob, labels)
    return float(np.mean((p - y) ** 2))


# ---------------------------------------------------------------- detection costs
def dcf_norm(p_spoof: float, c_miss: float, c_fa: float) -> float:
    """The DCF of the better trivial system (accept all or reject all): the normaliser."""
    return min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def min_dcf(scores, labels, p_spoof: float = P_SPOOF, c_miss: float = C_MISS,
            c_fa: float = C_FA) -> float:
    """Normalised minimum DCF over all DET thresholds (ASVspoof 5)."""
    frr, far, _ = det_curve(scores, labels)
    dcf = c_miss * (1 - p_spoof) * frr + c_fa * p_spoof * far
    return float(dcf.min() / dcf_norm(p_spoof, c_miss, c_fa))


def bayes_threshold(p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> float:
    """Spoof-vs-bona-fide LLR above which deciding spoof has the lower expected cost."""
    return float(np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof)))


def act_dcf(llr, labels, p_spoof: float = P_SPOOF, c_miss: float = C_MISS,
            c_fa: float = C_FA) -> float:
    """Normalised actual DCF of calibrated spoof LLRs at the Bayes threshold.

    Matches ASVspoof 5's ``compute_actDCF`` after negating (it takes bona fide LLRs and
    accepts bona fide at equality, so an LLR exactly at the threshold counts as bona fide).
    """
    x, y = check_binary(llr, labels, "LLRs")
    spoof_decision = x > bayes_threshold(p_spoof, c_miss, c_fa)
    miss = spoof_decision[y == 0].mean()
    fa = (~spoof_decision[y == 1]).mean()
    dcf = c_miss * (1 - p_spoof) * miss + c_fa * p_spoof * fa
    return float(dcf / dcf_norm(p_spoof, c_miss, c_fa))


def cllr(llr, labels) -> float:
    """Log-likelihood-ratio cost in bits (0 perfect, 1 = uninformative, >1 miscalibrated)."""
    x, y = check_binary(llr, labels, "LLRs")
    bona = np.logaddexp(0.0, x[y == 0]).mean()   # -log P(bona | x) at even prior
    spoof = np.logaddexp(0.0, -x[y == 1]).mean()
    return float(0.5 * (bona + spoof) / np.log(2))


def min_tdcf(cm_scores, cm_labels, asv_target, asv_nontarget, asv_spoof,
             cost_model: dict | None = None) -> float:
    """Normalised min t-DCF with the ASVspoof 2019 formula.

    The ASV threshold is the EER threshold of ASV target vs nontarget scores (ASV scores:
    higher = target speaker); CM scores use this module's convention.
    """
    cm = {**TDCF_2019_COSTS, **(cost_model or {})}
    if abs(cm["Ptar"] + cm["Pnon"] + cm["Pspoof"] - 1) > 1e-10:
        raise ValueError("t-DCF priors Ptar + Pnon + Pspoof must sum to one")
    tar, non, spf = (np.asarray(a, dtype=np.float64) for a in (asv_target, asv_nontarget, asv_spoof))
    for name, arr in (("target", tar), ("nontarget", non), ("spoof", spf)):
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
            raise ValueError(f"ASV {name} scores must be a non-empty finite 1-D array")
    # ASV scores are already "higher = target": label targets 0 so the EER threshold is
    # a "score >= t means target" threshold in ASV space after negation.
    asv_s = np.concatenate([-tar, -non])
    asv_y = np.concatenate([np.zeros(tar.size), np.ones(non.size)])
    thr = -eer_threshold(asv_s, asv_y)
    p_fa_asv = np.mean(non >= thr)
    p_miss_asv = np.mean(tar < thr)
    p_miss_spoof_asv = np.mean(spf < thr)
    c1 = cm["Ptar"] * (cm["Cmiss_cm"] - cm["Cmiss_asv"] * p_miss_asv) - cm["Pnon"] * cm["Cfa_asv"] * p_fa_asv
    c2 = cm["Cfa_cm"] * cm["Pspoof"] * (1 - p_miss_spoof_asv)
    if c1 <= 0 or c2 <= 0:
        raise ValueError(f"t-DCF weights must be positive (C1={c1:.4g}, C2={c2:.4g}); check the ASV scores")
    p_miss_cm, p_fa_cm, _ = det_curve(cm_scores, cm_labels)
    return float(((c1 * p_miss_cm + c2 * p_fa_cm) / min(c1, c2)).min())


# ---------------------------------------------------------------- hard decisions
def rates_at_threshold(scores, labels, threshold: float) -> dict[str, float]:
    """Accuracy, FAR (spoof accepted), FRR (bona fide rejected) for "spoof iff score >= t"."""
    s, y = check_binary(scores, labels)
    if not np.isfinite(threshold):
        raise ValueError("threshold must be finite")
    pred = s >= threshold
    far = float((~pred[y == 1]).mean())
    frr = float(pred[y == 0].mean())
    return {"accuracy": float((pred == (y == 1)).mean()), "far": far, "frr": frr,
            "balanced_accuracy": 1.0 - (far + frr) / 2}
