import numpy as np
import pytest
from scipy.stats import norm

from scaa import bootstrap as B
from scaa import metrics as M


def _tied_data(seed, n=None):
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(10, 200))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = (rng.normal(y, 1.0) * 2).round()            # few distinct values: many ties
    return s, y


def _expand(W_row, *arrays):
    idx = np.repeat(np.arange(W_row.size), W_row.astype(int))
    return [a[idx] for a in arrays]


@pytest.mark.parametrize("seed", range(8))
def test_weighted_stats_equal_metrics_on_expanded_resamples(seed):
    s, y = _tied_data(seed)
    p = 1 / (1 + np.exp(-s))
    W = np.concatenate(list(B.resample_weights(y, 25, seed)))
    stats = B.metric_stats(B.SCORE_METRICS.keys() | B.PROB_METRICS.keys() | B.LLR_METRICS.keys()
                           | set(B.RATE_METRICS), y, scores=s, prob=p, llr=s, threshold=0.5)
    plain = {"eer": M.eer, "roc_auc": M.roc_auc, "average_precision": M.average_precision,
             "min_dcf": M.min_dcf, "ece": M.ece, "brier": M.brier, "cllr": M.cllr, "act_dcf": M.act_dcf}
    values = {k: f(W) for k, f in stats.items()}
    for r in range(W.shape[0]):
        ss, pp, yy = _expand(W[r], s, p, y)
        assert values["eer"][r] == M.eer(ss, yy)      # exact, not approximately
        for k, fn in plain.items():
            x = pp if k in B.PROB_METRICS else ss
            assert values[k][r] == pytest.approx(fn(x, yy), abs=1e-12), k
        rates = M.rates_at_threshold(ss, yy, 0.5)
        for k in B.RATE_METRICS:
            assert values[k][r] == pytest.approx(rates[k], abs=1e-12)


def test_eer_window_fallback_is_exact():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    s = rng.normal(y, 1.0).round(2)
    W = np.concatenate(list(B.resample_weights(y, 100, 1)))
    full = B.eer_stat(s, y, window=False)(W)
    assert np.array_equal(B.eer_stat(s, y)(W), full)
    assert np.array_equal(B.eer_stat(s, y, window=1e-4)(W), full)   # most rows fall back
    assert B.eer_stat(s, y)(np.ones((1, y.size)))[0] == M.eer(s, y)


def test_function_stat_generic():
    s, y = _tied_data(3)
    W = np.concatenate(list(B.resample_weights(y, 10, 0)))
    assert np.allclose(B.function_stat(M.roc_auc, s, y)(W), B.auc_stat(s, y)(W))


def test_resampling_properties():
    y = np.array([0] * 30 + [1] * 70)
    W1 = np.concatenate(list(B.resample_weights(y, 40, 5, batch_size=7)))
    W2 = np.concatenate(list(B.resample_weights(y, 40, 5)))
    W3 = np.concatenate(list(B.resample_weights(y, 40, 6)))
    assert np.array_equal(W1, W2) and not np.array_equal(W2, W3)
    assert np.all(W1[:, y == 0].sum(1) == 30) and np.all(W1[:, y == 1].sum(1) == 70)
    spk = np.array([f"s{i % 4}" for i in range(30)] + [f"s{i % 7}" for i in range(70)])
    G = np.concatenate(list(B.resample_weights(y, 40, 5, groups=spk)))
    for c in (0, 1):                               # one weight per speaker within a class
        for name in np.unique(spk[y == c]):
            cols = G[:, (y == c) & (spk == name)]
            assert np.all(cols == cols[:, :1])
        k = len(np.unique(spk[y == c]))
        per_spk = [G[:, (y == c) & (spk == nm)][:, 0] for nm in np.unique(spk[y == c])]
        assert np.all(np.sum(per_spk, axis=0) == k)
    with pytest.raises(ValueError):
        next(B.resample_weights(np.zeros(5), 3, 0))


def test_zero_resamples_gives_point_estimate_only():
    s, y = _tied_data(1)
    res = B.bootstrap({"eer": B.eer_stat(s, y)}, y, n_boot=0)["eer"]
    assert res["value"] == M.eer(s, y) and res["ci_low"] is None and res["n_valid"] == 0


def test_ci_coverage_on_gaussian_scores():
    """95% percentile CIs cover the population EER/AUC at about the nominal rate."""
    d, n = 1.5, 300
    true = {"eer": norm.cdf(-d / 2), "roc_auc": norm.cdf(d / np.sqrt(2))}
    rng = np.random.default_rng(12345)
    y = np.repeat([0, 1], n)
    hits = {k: 0 for k in true}
    repeats = 200
    for rep in range(repeats):
        s = rng.normal(d * y, 1.0)
        res = B.bootstrap({"eer": B.eer_stat(s, y), "roc_auc": B.auc_stat(s, y)}, y, n_boot=200, seed=rep)
        for k, v in true.items():
            hits[k] += res[k]["ci_low"] <= v <= res[k]["ci_high"]
    for k in true:
        assert 0.88 <= hits[k] / repeats <= 0.99, (k, hits[k] / repeats)


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 400)
    good, bad = rng.normal(2.5 * y, 1), rng.normal(0.5 * y, 1)
    mk = lambda s: {"eer": B.eer_stat(s, y), "roc_auc": B.auc_stat(s, y)}
    same = B.paired_bootstrap(mk(good), mk(good), y, n_boot=200)
    assert same["eer"]["diff"] == 0 and same["eer"]["ci_low"] == same["eer"]["ci_high"] == 0
    res = B.paired_bootstrap(mk(good), mk(bad), y, n_boot=300, seed=1)
    e = res["eer"]
    assert e["diff"] == pytest.approx(M.eer(good, y) - M.eer(bad, y))
    assert e["ci_high"] < 0 and e["sign_flip_share"] == 0.0
    assert res["roc_auc"]["ci_low"] > 0
    # a tiny difference flips sign in a good share of resamples
    near = good + rng.normal(0, 0.05, y.size)
    flip = B.paired_bootstrap(mk(good), mk(near), y, n_boot=300)["eer"]["sign_flip_share"]
    assert 0.05 < flip <= 1.0
    with pytest.raises(ValueError):
        B.paired_bootstrap(mk(good), {"eer": B.eer_stat(bad, y)}, y)
