"""Vectorised bootstrap confidence intervals and paired differences.

A resample is a vector of *counts* (how often each clip is drawn), so one batch of
resamples is a matrix W [b, n]. A *stat* is a callable W -> [b] values. Metrics that
need a ranking (EER, minDCF, ROC-AUC, AP) sort the scores once and evaluate each
resample with weighted cumulative sums: O(n) numpy work per resample, no re-sorting.
The weighted EER equals the ASVspoof reference run on the expanded resample, including
points inside a run of copies of one clip (found in closed form per run).

Resampling is stratified by class (class sizes fixed) or, with ``groups``, draws
groups (speakers) with replacement within each class. Same seed -> same resamples,
independent of the batch size; paired comparisons reuse the same resamples.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from scaa import metrics

Stat = Callable[[np.ndarray], np.ndarray]
_TARGET_ELEMS = 2_000_000  # elements per [b, n] array in one batch (~16 MB float64)


# ---------------------------------------------------------------- resampling
def resample_weights(labels, n_boot: int, seed: int = 0, groups=None,
                     batch_size: int | None = None) -> Iterator[np.ndarray]:
    """Yield count matrices [b, n] (float64) for n_boot resamples in batches."""
    y = np.asarray(labels)
    n = y.size
    if n_boot < 0:
        raise ValueError("n_boot must be >= 0")
    classes = []
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            raise ValueError(f"class {c} is empty; cannot stratify")
        if groups is None:
            units, k = None, idx.size
        else:
            g = np.asarray(groups, dtype=object)
            if g.shape != y.shape:
                raise ValueError("groups must have one entry per clip")
            _, units = np.unique(g[idx].astype(str), return_inverse=True)
            k = int(units.max()) + 1
        # one stream per class: the draws do not depend on how batches are cut
        classes.append((idx, units, k, np.random.default_rng([seed, c])))
    b = batch_size or max(1, min(n_boot, _TARGET_ELEMS // max(n, 1)))
    for start in range(0, n_boot, b):
        bb = min(b, n_boot - start)
        W = np.empty((bb, n))
        for idx, units, k, rng in classes:
            draws = rng.integers(0, k, size=(bb, k))
            draws += k * np.arange(bb)[:, None]
            counts = np.bincount(draws.ravel(), minlength=bb * k).reshape(bb, k)
            W[:, idx] = counts if units is None else counts[:, units]
        yield W


# ---------------------------------------------------------------- weighted stats
def _det_order(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip order and target flags of ASVspoof's DET sort (bona fide = target)."""
    src = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)])
    order = np.argsort(-s[src], kind="mergesort")
    src = src[order]
    return src, y[src] == 0


def _eer_in_window(w, is_tar, T, N, t_before, n_before):
    """EER per row from the runs in one window of the DET order.

    ``w`` [b, m]: copies of the window's clips; ``T``/``N``: targets/nontargets in the
    resample; ``t_before``/``n_before``: those sorted before the window. Along the DET
    path FRR only rises and FAR only falls, so FRR - FAR changes sign once: find the run
    where it does, then the exact copy inside that run in closed form. Returns the EER
    and a flag saying whether the sign change really lies inside the window.
    """
    wt = w * is_tar
    ct = np.cumsum(wt, 1) + t_before[:, None]
    cn = np.cumsum(w - wt, 1) + n_before[:, None]
    end_ge = ct / T[:, None] - (N[:, None] - cn) / N[:, None] >= 0
    inside = end_ge[:, -1] & (t_before / T - (N - n_before) / N < 0)
    k = np.minimum(np.count_nonzero(~end_ge, axis=1), w.shape[1] - 1)  # first run ending >= 0
    rows = np.arange(w.shape[0])
    wk, tar = w[rows, k], is_tar[k]
    t0 = ct[rows, k] - wt[rows, k]                # targets before the run
    r0 = N - (cn[rows, k] - (wk - wt[rows, k]))   # nontargets still above the run

    def point(j):                                 # (FRR, FAR) after j copies of the run
        return np.where(tar, (t0 + j) / T, t0 / T), np.where(tar, r0 / N, (r0 - j) / N)

    x = np.where(tar, r0 / N * T - t0, r0 - t0 / T * N)  # real root of FRR = FAR
    j_pos = wk.copy()                             # the run's end is >= 0
    for c in (-1.0, 0.0, 1.0, 2.0):
        j = np.clip(np.floor(x) + c, 1.0, np.maximum(wk, 1.0))
        frr, far = point(j)
        j_pos = np.where(frr - far >= 0, np.minimum(j_pos, j), j_pos)
    frr_p, far_p = point(j_pos)
    frr_n, far_n = point(j_pos - 1)               # last point with FRR < FAR
    neg = (far_n - frr_n) <= (frr_p - far_p)      # ties go to the earlier point
    return np.where(neg, (frr_n + far_n) / 2, (frr_p + far_p) / 2), inside


def eer_stat(scores, labels, window: bool | float = True) -> Stat:
    """Weighted EER, identical to :func:`scaa.metrics.eer` on the expanded resample.

    With ``window`` only the band of the DET order around the full-sample EER point is
    cumulated (prefix counts come from one matrix product); rows whose EER point falls
    outside the band are recomputed over the whole order, so the result is always exact.
    A float ``window`` sets the band's half-width in |FRR - FAR| (tests use it).
    """
    s, y = metrics.check_binary(scores, labels)
    src, is_tar = _det_order(s, y)
    n, nt = s.size, int(is_tar.sum())
    lo, hi = 0, n
    if window:
        ct = np.cumsum(is_tar)
        d = ct / nt - ((n - nt) - (np.arange(1, n + 1) - ct)) / (n - nt)
        m = min(nt, n - nt)
        delta = 8 * np.sqrt(0.25 / m) + 4 / m     # >> bootstrap spread of the EER point
        if not isinstance(window, bool):
            delta = float(window)
        band = np.flatnonzero(np.abs(d) <= delta)
        if band.size:
            lo, hi = max(0, band[0] - 1), min(n, band[-1] + 2)
    P = np.zeros((n, 3))                          # columns: target, target/nontarget before lo
    P[src[is_tar], 0] = 1
    P[src[:lo][is_tar[:lo]], 1] = 1
    P[src[:lo][~is_tar[:lo]], 2] = 1
    src_w, tar_w = src[lo:hi], is_tar[lo:hi]

    def stat(W):
        sums = W @ P
        T, t_before, n_before = sums[:, 0], sums[:, 1], sums[:, 2]
        N = W.sum(1) - T
        e, ok = _eer_in_window(W[:, src_w], tar_w, T, N, t_before, n_before)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            zeros = np.zeros(bad.size)
            e[bad] = _eer_in_window(W[bad][:, src], is_tar, T[bad], N[bad], zeros, zeros)[0]
        return e

    return stat


def min_dcf_stat(scores, labels, p_spoof=metrics.P_SPOOF, c_miss=metrics.C_MISS, c_fa=metrics.C_FA) -> Stat:
    """Weighted normalised minDCF (cost is linear inside a run, so run ends suffice)."""
    s, y = metrics.check_binary(scores, labels)
    src, is_tar = _det_order(s, y)
    norm = metrics.dcf_norm(p_spoof, c_miss, c_fa)

    def stat(W):
        w = W[:, src]
        wt = w * is_tar
        wn = w - wt
        T, N = wt.sum(1, keepdims=True), wn.sum(1, keepdims=True)
        frr = np.cumsum(wt, 1) / T
        far = (N - np.cumsum(wn, 1)) / N
        dcf = c_miss * (1 - p_spoof) * frr + c_fa * p_spoof * far
        return np.minimum(dcf.min(1), c_fa * p_spoof) / norm

    return stat


def _tie_groups(s: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-s if descending else s, kind="mergesort")
    ss = s[order]
    starts = np.flatnonzero(np.concatenate([[True], ss[1:] != ss[:-1]]))
    return order, starts


def auc_stat(scores, labels) -> Stat:
    """Weighted ROC-AUC (ties count one half), as sklearn with sample weights."""
    s, y = metrics.check_binary(scores, labels)
    order, starts = _tie_groups(s, descending=False)
    spoof = y[order] == 1

    def stat(W):
        w = W[:, order]
        if starts.size == s.size:                 # no ties: spoof x bona fide below it
            bo = w * ~spoof
            below = np.cumsum(bo, 1)
            S, B = w.sum(1) - below[:, -1], below[:, -1]
            return np.einsum("ij,ij->i", w - bo, below) / (S * B)
        sp = np.add.reduceat(w * spoof, starts, axis=1)
        bo = np.add.reduceat(w * ~spoof, starts, axis=1)
        below = np.cumsum(bo, 1) - bo
        return (sp * (below + 0.5 * bo)).sum(1) / (sp.sum(1) * bo.sum(1))

    return stat


def ap_stat(scores, labels) -> Stat:
    """Weighted average precision (spoof positive), as sklearn with sample weights."""
    s, y = metrics.check_binary(scores, labels)
    order, starts = _tie_groups(s, descending=True)
    spoof = y[order] == 1

    def stat(W):
        w = W[:, order]
        sp = np.add.reduceat(w * spoof, starts, axis=1)
        bo = np.add.reduceat(w * ~spoof, starts, axis=1)
        tp, fp = np.cumsum(sp, 1), np.cumsum(bo, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        return (sp * prec).sum(1) / sp.sum(1)

    return stat


def _class_means(values_by_class: tuple[np.ndarray, np.ndarray], y: np.ndarray) -> Callable:
    """W -> (weighted mean of values over bona fide, ... over spoof)."""
    v0 = np.where(y == 0, values_by_class[0], 0.0)
    v1 = np.where(y == 1, values_by_class[1], 0.0)
    m0, m1 = (y == 0).astype(float), (y == 1).astype(float)
    return lambda W: (W @ v0 / (W @ m0), W @ v1 / (W @ m1))


def brier_stat(prob, labels) -> Stat:
    p, y = metrics.check_prob(prob, labels)
    v = (p - y) ** 2
    return lambda W: W @ v / W.sum(1)


def ece_stat(prob, labels, n_bins: int = metrics.N_BINS) -> Stat:
    p, y = metrics.check_prob(prob, labels)
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    R = np.zeros((p.size, n_bins))
    R[np.arange(p.size), b] = y - p
    return lambda W: np.abs(W @ R).sum(1) / W.sum(1)


def cllr_stat(llr, labels) -> Stat:
    x, y = metrics.check_binary(llr, labels, "LLRs")
    means = _class_means((np.logaddexp(0.0, x), np.logaddexp(0.0, -x)), y)

    def stat(W):
        a, b = means(W)
        return 0.5 * (a + b) / np.log(2)

    return stat


def act_dcf_stat(llr, labels, p_spoof=metrics.P_SPOOF, c_miss=metrics.C_MISS, c_fa=metrics.C_FA) -> Stat:
    x, y = metrics.check_binary(llr, labels, "LLRs")
    spoof_decision = (x > metrics.bayes_threshold(p_spoof, c_miss, c_fa)).astype(float)
    means = _class_means((spoof_decision, 1 - spoof_decision), y)
    norm = metrics.dcf_norm(p_spoof, c_miss, c_fa)

    def stat(W):
        miss, fa = means(W)
        return (c_miss * (1 - p_spoof) * miss + c_fa * p_spoof * fa) / norm

    return stat


def rate_stat(scores, labels, threshold: float, which: str) -> Stat:
    """accuracy | far | frr | balanced_accuracy of "spoof iff score >= threshold"."""
    s, y = metrics.check_binary(scores, labels)
    pred = (s >= threshold).astype(float)
    means = _class_means((pred, 1 - pred), y)   # (FRR, FAR)
    if which == "accuracy":
        correct = np.where(y == 1, pred, 1 - pred)
        return lambda W: W @ correct / W.sum(1)
    pick = {"frr": lambda a, b: a, "far": lambda a, b: b,
            "balanced_accuracy": lambda a, b: 1 - (a + b) / 2}
    if which not in pick:
        raise ValueError(f"unknown rate {which!r}")
    return lambda W: pick[which](*means(W))


def function_stat(fn: Callable[..., float], *arrays) -> Stat:
    """Any metric fn(*arrays) -> float, run on each expanded resample (slow, general)."""
    arrays = [np.asarray(a) for a in arrays]

    def stat(W):
        out = np.empty(W.shape[0])
        for r, counts in enumerate(W):
            idx = np.repeat(np.arange(counts.size), counts.astype(np.int64))
            try:
                out[r] = fn(*(a[idx] for a in arrays))
            except ValueError:
                out[r] = np.nan
        return out

    return stat


# ---------------------------------------------------------------- named metric sets
SCORE_METRICS = {"eer": eer_stat, "roc_auc": auc_stat, "average_precision": ap_stat,
                 "min_dcf": min_dcf_stat}
PROB_METRICS = {"ece": ece_stat, "brier": brier_stat}
LLR_METRICS = {"cllr": cllr_stat, "act_dcf": act_dcf_stat}
RATE_METRICS = ("accuracy", "far", "frr", "balanced_accuracy")


def metric_stats(names, labels, *, scores=None, prob=None, llr=None, threshold=None) -> dict[str, Stat]:
    """Build stats by metric name from whichever per-clip arrays they need."""
    out = {}
    for name in names:
        if name in SCORE_METRICS:
            src, build = scores, lambda: SCORE_METRICS[name](scores, labels)
        elif name in PROB_METRICS:
            src, build = prob, lambda: PROB_METRICS[name](prob, labels)
        elif name in LLR_METRICS:
            src, build = llr, lambda: LLR_METRICS[name](llr, labels)
        elif name in RATE_METRICS:
            if threshold is None:
                raise ValueError(f"{name} needs a threshold")
            src, build = scores, lambda: rate_stat(scores, labels, threshold, name)
        else:
            raise ValueError(f"unknown metric {name!r}")
        if src is None:
            raise ValueError(f"metric {name!r} needs its input array (scores/prob/llr)")
        out[name] = build()
    return out


# ---------------------------------------------------------------- drivers
def _run(stats: dict[str, Stat], labels, n_boot, seed, groups, batch_size):
    n = np.asarray(labels).size
    ones = np.ones((1, n))
    est = {k: float(f(ones)[0]) for k, f in stats.items()}
    samples = {k: np.empty(n_boot) for k in stats}
    done = 0
    for W in resample_weights(labels, n_boot, seed, groups, batch_size):
        for k, f in stats.items():
            samples[k][done:done + W.shape[0]] = f(W)
        done += W.shape[0]
    return est, samples


def _interval(x: np.ndarray, alpha: float) -> tuple[float | None, float | None, int]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None, None, 0
    lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), int(x.size)


def bootstrap(stats: dict[str, Stat], labels, *, n_boot: int = 1000, seed: int = 0, groups=None,
              alpha: float = 0.05, batch_size: int | None = None,
              return_samples: bool = False) -> dict[str, dict]:
    """Point estimate and (1 - alpha) percentile CI of each stat.

    Returns {name: {value, ci_low, ci_high, n_boot, n_valid[, samples]}}; with
    n_boot = 0 the CI bounds are None.
    """
    est, samples = _run(stats, labels, n_boot, seed, groups, batch_size)
    out = {}
    for k in stats:
        lo, hi, n_valid = _interval(samples[k], alpha)
        out[k] = {"value": est[k], "ci_low": lo, "ci_high": hi, "n_boot": n_boot, "n_valid": n_valid}
        if return_samples:
            out[k]["samples"] = samples[k]
    return out


def paired_bootstrap(stats_a: dict[str, Stat], stats_b: dict[str, Stat], labels, *,
                     n_boot: int = 1000, seed: int = 0, groups=None, alpha: float = 0.05,
                     batch_size: int | None = None) -> dict[str, dict]:
    """CI of (A - B) for each stat in both sets, on the same resamples of the same clips.

    ``sign_flip_share`` is the share of resamples whose difference has a different sign
    from the point difference (a crude two-sided stability measure; small = robust).
    """
    if set(stats_a) != set(stats_b):
        raise ValueError("both systems need the same stats")
    both = {**{("a", k): f for k, f in stats_a.items()}, **{("b", k): f for k, f in stats_b.items()}}
    est, samples = _run(both, labels, n_boot, seed, groups, batch_size)
    out = {}
    for k in stats_a:
        diff = est[("a", k)] - est[("b", k)]
        d = samples[("a", k)] - samples[("b", k)]
        lo, hi, n_valid = _interval(d, alpha)
        ok = d[np.isfinite(d)]
        flip = float(np.mean(np.sign(ok) != np.sign(diff))) if ok.size else None
        out[k] = {"a": est[("a", k)], "b": est[("b", k)], "diff": diff, "ci_low": lo, "ci_high": hi,
                  "sign_flip_share": flip, "n_boot": n_boot, "n_valid": n_valid}
    return out
