import json

import numpy as np
import pytest

from scaa import calibration, metrics


def _logit_data(n, a, b, seed):
    """Scores whose true P(spoof | s) = sigmoid(a*s + b)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(a * s + b)))).astype(int)
    return s, y


def test_platt_recovers_true_mapping():
    s, y = _logit_data(40_000, 1.5, -0.7, 0)
    cal = calibration.fit("platt", s, y)
    assert cal.a == pytest.approx(1.5, rel=0.05) and cal.b == pytest.approx(-0.7, abs=0.06)


def test_platt_improves_miscalibrated_scores():
    s, y = _logit_data(20_000, 1.0, 0.0, 1)
    raw = 1 / (1 + np.exp(-(4 * s + 3)))          # badly scaled and shifted
    cal = calibration.fit("platt", 4 * s + 3, y)
    s2, y2 = _logit_data(20_000, 1.0, 0.0, 2)
    assert metrics.ece(cal.apply(4 * s2 + 3), y2) < 0.02 < metrics.ece(1 / (1 + np.exp(-(4 * s2 + 3))), y2)
    assert metrics.brier(cal.apply(4 * s2 + 3), y2) < metrics.brier(raw[: y2.size], y2)


def test_temperature_recovers_scale():
    s, y = _logit_data(40_000, 0.5, 0.0, 3)
    cal = calibration.fit("temperature", s, y)
    assert cal.temperature == pytest.approx(2.0, rel=0.06)


def test_separable_dev_gives_finite_fit():
    s = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    for method in calibration.CALIBRATORS:
        cal = calibration.fit(method, s, y)
        p = cal.apply(s)
        assert np.all(np.isfinite(cal.llr(s))) and np.all((p > 0.5) == (y == 1))
        assert p.max() < 1 and p.min() > 0


def test_llr_removes_dev_prior():
    s, y = _logit_data(5000, 1.0, 1.0, 4)
    cal = calibration.fit("platt", s, y)
    prior = y.mean()
    assert cal.prior_spoof == prior
    assert np.allclose(cal.llr(s), cal.log_odds(s) - np.log(prior / (1 - prior)))
    assert np.allclose(cal.apply(s), 1 / (1 + np.exp(-cal.log_odds(s))))


def test_roundtrip_json():
    s, y = _logit_data(1000, 1.0, 0.2, 5)
    for method in calibration.CALIBRATORS:
        cal = calibration.fit(method, s, y)
        back = calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert type(back) is type(cal)
        assert np.array_equal(back.apply(s), cal.apply(s)) and np.array_equal(back.llr(s), cal.llr(s))


def test_constant_dev_scores_predict_prior():
    cal = calibration.fit("platt", np.zeros(10), np.array([0] * 7 + [1] * 3))
    # mean of Platt's smoothed targets: 3 spoof at 4/5, 7 bona fide at 1/9
    assert cal.a == 0 and np.allclose(cal.apply([5.0]), (3 * 4 / 5 + 7 / 9) / 10)


def test_errors():
    with pytest.raises(ValueError):
        calibration.fit("isotonic", [0, 1], [0, 1])
    with pytest.raises(ValueError):
        calibration.fit("platt", [0, 1, 2], [1, 1, 1])
    with pytest.raises(ValueError):
        calibration.fit("platt", [0, np.nan], [0, 1])
    with pytest.raises(RuntimeError):
        calibration.Platt().apply([0.0])
    with pytest.raises(ValueError):
        calibration.from_dict({"method": "platt", "a": 1.0})
    cal = calibration.fit("platt", [0, 1], [0, 1])
    with pytest.raises(ValueError):
        cal.apply([np.inf])
