import numpy as np
import pytest
from scipy.stats import norm

from scaa import bootstrap, metrics


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
    W = np.concatenate(list(bootstrap.resample_weights(y, 25, seed)))
    stats = bootstrap.metric_stats(bootstrap.SCORE_METRICS.keys() | bootstrap.PROB_METRICS.keys() | bootstrap.LLR_METRICS.keys()
                           | set(bootstrap.RATE_METRICS), y, scores=s, prob=p, llr=s, threshold=0.5)
    plain = {"eer": metrics.eer, "roc_auc": metrics.roc_auc, "average_precision": metrics.average_precision,
             "min_dcf": metrics.min_dcf, "ece": metrics.ece, "brier": metrics.brier, "cllr": metrics.cllr, "act_dcf": metrics.act_dcf}
    values = {k: f(W) for k, f in stats.items()}
    for r in range(W.shape[0]):
        ss, pp, yy = _expand(W[r], s, p, y)
        assert values["eer"][r] == metrics.eer(ss, yy)      # exact, not approximately
        for k, fn in plain.items():
            x = pp if k in bootstrap.PROB_METRICS else ss
            assert values[k][r] == pytest.approx(fn(x, yy), abs=1e-12), k
        rates = metrics.rates_at_threshold(ss, yy, 0.5)
        for k in bootstrap.RATE_METRICS:
            assert values[k][r] == pytest.approx(rates[k], abs=1e-12)


def test_eer_window_fallback_is_exact():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    s = rng.normal(y, 1.0).round(2)
    W = np.concatenate(list(bootstrap.resample_weights(y, 100, 1)))
    full = bootstrap.eer_stat(s, y, window=False)(W)
    assert np.array_equal(bootstrap.eer_stat(s, y)(W), full)
    assert np.array_equal(bootstrap.eer_stat(s, y, window=1e-4)(W), full)   # most rows fall back
    assert bootstrap.eer_stat(s, y)(np.ones((1, y.size)))[0] == metrics.eer(s, y)


def test_function_stat_generic():
    s, y = _tied_data(3)
    W = np.concatenate(list(bootstrap.resample_weights(y, 10, 0)))
    assert np.allclose(bootstrap.function_stat(metrics.roc_auc, s, y)(W), bootstrap.auc_stat(s, y)(W))


def test_resampling_properties():
    y = np.array([0] * 30 + [1] * 70)
    W1 = np.concatenate(list(bootstrap.resample_weights(y, 40, 5, batch_size=7)))
    W2 = np.concatenate(list(bootstrap.resample_weights(y, 40, 5)))
    W3 = np.concatenate(list(bootstrap.resample_weights(y, 40, 6)))
    assert np.array_equal(W1, W2) and not np.array_equal(W2, W3)
    assert np.all(W1[:, y == 0].sum(1) == 30) and np.all(W1[:, y == 1].sum(1) == 70)
    spk = np.array([f"s{i % 4}" for i in range(30)] + [f"s{i % 7}" for i in range(70)])
    G = np.concatenate(list(bootstrap.resample_weights(y, 40, 5, groups=spk)))
    for c in (0, 1):                               # one weight per speaker within a class
        for name in np.unique(spk[y == c]):
            cols = G[:, (y == c) & (spk == name)]
            assert np.all(cols == cols[:, :1])
        k = len(np.unique(spk[y == c]))
        per_spk = [G[:, (y == c) & (spk == nm)][:, 0] for nm in np.unique(spk[y == c])]
        assert np.all(np.sum(per_spk, axis=0) == k)
    with pytest.raises(ValueError):
        next(bootstrap.resample_weights(np.zeros(5), 3, 0))


def test_zero_resamples_gives_point_estimate_only():
    s, y = _tied_data(1)
    res = bootstrap.bootstrap({"eer": bootstrap.eer_stat(s, y)}, y, n_boot=0)["eer"]
    assert res["value"] == metrics.eer(s, y) and res["ci_low"] is None and res["n_valid"] == 0


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
        res = bootstrap.bootstrap({"eer": bootstrap.eer_stat(s, y), "roc_auc": bootstrap.auc_stat(s, y)}, y, n_boot=200, seed=rep)
        for k, v in true.items():
            hits[k] += res[k]["ci_low"] <= v <= res[k]["ci_high"]
    for k in true:
        assert 0.88 <= hits[k] / repeats <= 0.99, (k, hits[k] / repeats)


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 400)
    good, bad = rng.normal(2.5 * y, 1), rng.normal(0.5 * y, 1)
    mk = lambda s: {"eer": bootstrap.eer_stat(s, y), "roc_auc": bootstrap.auc_stat(s, y)}
    same = bootstrap.paired_bootstrap(mk(good), mk(good), y, n_boot=200)
    assert same["eer"]["diff"] == 0 and same["eer"]["ci_low"] == same["eer"]["ci_high"] == 0
    res = bootstrap.paired_bootstrap(mk(good), mk(bad), y, n_boot=300, seed=1)
    e = res["eer"]
    assert e["diff"] == pytest.approx(metrics.eer(good, y) - metrics.eer(bad, y))
    assert e["ci_high"] < 0 and e["sign_flip_share"] == 0.0
    assert res["roc_auc"]["ci_low"] > 0
    # a tiny difference flips sign in a good share of resamples
    near = good + rng.normal(0, 0.05, y.size)
    flip = bootstrap.paired_bootstrap(mk(good), mk(near), y, n_boot=300)["eer"]["sign_flip_share"]
    assert 0.05 < flip <= 1.0
    with pytest.raises(ValueError):
        bootstrap.paired_bootstrap(mk(good), {"eer": bootstrap.eer_stat(bad, y)}, y)
