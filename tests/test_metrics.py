import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from scaa import metrics


def reference_eer(bona, spoof):
    """Straightforward re-implementation of ASVspoof compute_det_curve + compute_eer.

    Targets are bona fide with higher scores, so our scores are negated; loops on purpose.
    """
    target, nontarget = -np.asarray(bona, float), -np.asarray(spoof, float)
    all_scores = list(target) + list(nontarget)
    is_target = [1] * len(target) + [0] * len(nontarget)
    order = np.argsort(np.array(all_scores), kind="mergesort")
    frr, far = [0.0], [1.0]
    tar_seen, non_seen = 0, 0
    for i in order:
        tar_seen += is_target[i]
        non_seen += 1 - is_target[i]
        frr.append(tar_seen / len(target))
        far.append((len(nontarget) - non_seen) / len(nontarget))
    gaps = [abs(a - b) for a, b in zip(frr, far)]
    i = gaps.index(min(gaps))
    return (frr[i] + far[i]) / 2


@pytest.mark.parametrize("seed", range(30))
def test_eer_matches_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.integers(0, int(rng.integers(1, 8)), n) + (rng.normal(size=n) * 0.5 if seed % 3 == 0 else 0)
    assert metrics.eer(s, y) == reference_eer(s[y == 0], s[y == 1])


def test_eer_hand_cases():
    assert metrics.eer([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 0.0
    assert metrics.eer([0.8, 0.9, 0.1, 0.2], [0, 0, 1, 1]) == 1.0
    # All-equal scores: the reference's stable sort puts every (tied) target first, so the
    # path runs (0,1) (1/3,1) (2/3,1) (1,1) ...: the first zero gap is at (1,1) -> EER 1.0,
    # not the 0.5 a tie-symmetric definition would give. We keep the reference quirk.
    assert metrics.eer([0.5] * 6, [0, 0, 0, 1, 1, 1]) == 1.0 == reference_eer([0.5] * 3, [0.5] * 3)
    # Hand-worked tie: bona fide {0, 1}, spoof {1, 2}. Negated: targets [0, -1], nontargets
    # [-1, -2]; stable sort -> -2(n), -1(t), -1(n), 0(t); (FRR, FAR) points:
    # (0,1) (0,.5) (.5,.5) (.5,0) (1,0): first zero gap at (.5,.5) -> EER 0.5.
    assert metrics.eer([0, 1, 1, 2], [0, 0, 1, 1]) == 0.5
    # bona fide {0, 1}, spoof {1, 3, 4}: sorted negated: -4n -3n -1t -1n 0t
    # (0,1) (0,2/3) (0,1/3) (.5,1/3) (.5,0) (1,0): min gap 1/6 at (.5,1/3) -> 5/12
    assert metrics.eer([0, 1, 1, 3, 4], [0, 0, 1, 1, 1]) == pytest.approx(5 / 12)


def test_eer_threshold_separates():
    s, y = [0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]
    e, t = metrics.eer_and_threshold(s, y)
    r = metrics.rates_at_threshold(s, y, t)
    assert e == 0 and r["accuracy"] == 1.0 and r["far"] == 0 and r["frr"] == 0


def test_eer_large_gaussian_close_to_population():
    rng = np.random.default_rng(0)
    d = 2.0
    y = np.repeat([0, 1], 100_000)
    s = rng.normal(d * y, 1.0)
    assert metrics.eer(s, y) == pytest.approx(norm.cdf(-d / 2), abs=0.004)
    assert metrics.roc_auc(s, y) == pytest.approx(norm.cdf(d / np.sqrt(2)), abs=0.003)


@pytest.mark.parametrize("bad", [
    ([0.1, np.nan], [0, 1]), ([0.1, 0.2], [1, 1]), ([0.1, 0.2], [0, 2]), ([0.1], [0, 1]),
])
def test_degenerate_input_raises(bad):
    with pytest.raises(ValueError):
        metrics.eer(*bad)
    with pytest.raises(ValueError):
        metrics.roc_auc(*bad)


def test_reliability_ece_brier():
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.5, 0.5])
    y = np.array([0, 0, 1, 1, 1, 0])
    assert metrics.ece(p, y) == pytest.approx((2 * 0.05 + 2 * 0.05) / 6)
    curve = metrics.reliability_curve(p, y)
    assert len(curve["centre"]) == 15 and sum(curve["count"]) == 6
    assert curve["accuracy"][7] == 0.5 and curve["confidence"][7] == 0.5
    assert np.isnan(curve["accuracy"][3]) and curve["count"][3] == 0
    assert metrics.brier(p, y) == pytest.approx(np.mean((p - y) ** 2))
    assert metrics.ece([1.0, 0.0], [1, 0]) == 0.0   # p = 1 lands in the last bin
    with pytest.raises(ValueError):
        metrics.ece([1.2, 0.1], [1, 0])


def test_dcf_and_cllr():
    # Perfect scores: minDCF 0. Uninformative LLR 0: Cllr exactly 1.
    assert metrics.min_dcf([0, 1], [0, 1]) == 0
    assert metrics.cllr(np.zeros(4), [0, 0, 1, 1]) == pytest.approx(1.0)
    # All-equal scores: best is the trivial decision, normalised cost 1.
    assert metrics.min_dcf([0.3] * 4, [0, 0, 1, 1]) == pytest.approx(1.0)
    # Bayes threshold log(0.95 / 0.5); decide spoof strictly above it.
    t = metrics.bayes_threshold()
    assert t == pytest.approx(np.log(1.9))
    # One bona fide above threshold (miss 1/2), spoofs all above: 0.95*0.5/0.5 = 0.95
    assert metrics.act_dcf([t + 1, t - 1, t + 1, t + 2], [0, 0, 1, 1]) == pytest.approx(0.95)
    # A spoof exactly at the threshold counts as accepted: FA 1/2 -> 10*.05*.5/.5 = 0.5
    assert metrics.act_dcf([t - 1, t - 1, t, t + 2], [0, 0, 1, 1]) == pytest.approx(0.5)
    # Cllr of a confident wrong LLR is large, of a confident right one small
    assert metrics.cllr([-10, 10], [0, 1]) < 0.001 < 5 < metrics.cllr([10, -10], [0, 1])


def test_min_dcf_matches_loop():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.normal(y, 1).round(1)
    frr, far, _ = metrics.det_curve(s, y)
    best = min(1 * 0.95 * a + 10 * 0.05 * b for a, b in zip(frr, far))
    assert metrics.min_dcf(s, y) == pytest.approx(best / 0.5)


def test_min_tdcf_2019():
    rng = np.random.default_rng(0)
    tar, non, spf = rng.normal(3, 1, 500), rng.normal(-3, 1, 500), rng.normal(2, 1, 500)
    y = np.repeat([0, 1], 300)
    good = metrics.min_tdcf(rng.normal(4 * y, 1), y, tar, non, spf)
    chance = metrics.min_tdcf(rng.normal(0 * y, 1), y, tar, non, spf)
    assert 0 <= good < 0.1 and 0.9 < chance <= 1.0 + 1e-12
    assert metrics.min_tdcf([0, 1], [0, 1], tar, non, spf) == 0
    with pytest.raises(ValueError):
        metrics.min_tdcf([0, 1], [0, 1], tar, non, spf, cost_model={"Pspoof": 0.5})


def test_per_attack_and_rates():
    s = np.array([0.0, 0.1, 0.9, 0.95, 0.05, 0.5])
    y = np.array([0, 0, 1, 1, 1, 1])
    a = np.array(["-", "-", "A01", "A01", "A02", "A02"])
    res = metrics.eer_per_attack(s, y, a)
    assert set(res) == {"A01", "A02"} and res["A01"]["eer"] == 0 and res["A01"]["n_spoof"] == 2
    assert res["A02"]["eer"] == metrics.eer([0.0, 0.1, 0.05, 0.5], [0, 0, 1, 1])
    r = metrics.rates_at_threshold(s, y, 0.5)
    assert r == {"accuracy": 5 / 6, "far": 0.25, "frr": 0.0, "balanced_accuracy": 1 - 0.125}


def test_curves_downsampled():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 5000)
    s = rng.normal(y, 1)
    roc, det = metrics.roc_points(s, y), metrics.det_points(s, y)
    assert len(roc["fpr"]) <= 201 and len(det["far"]) <= 202
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(det["frr"]) >= 0)
    gaps = np.abs(np.array(det["frr"]) - np.array(det["far"]))
    assert (np.array(det["frr"])[gaps.argmin()] + np.array(det["far"])[gaps.argmin()]) / 2 == metrics.eer(s, y)
    assert metrics.average_precision(s, y) > y.mean()
    assert metrics.roc_auc(s, y) == roc_auc_score(y, s)
