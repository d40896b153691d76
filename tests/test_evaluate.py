import json

import numpy as np
import pandas as pd
import pytest

from scaa import calibration, metrics
from scaa.workflow.evaluate import evaluate, paired_comparison


def _scores(n_bona, n_spoof, seed, shift=2.0, scale=3.0, offset=1.0, prefix="u"):
    rng = np.random.default_rng(seed)
    y = np.array([0] * n_bona + [1] * n_spoof)
    attack = np.where(y == 1, np.array(["A01", "A02", "A03"])[np.arange(y.size) % 3], "-")
    s = scale * rng.normal(shift * y * (1 + (attack == "A03")), 1.0) + offset  # A03 easier
    return pd.DataFrame({"utt_id": [f"{prefix}{i}" for i in range(y.size)], "label": y, "score": s,
                         "attack": attack, "speaker": [f"spk{i % 10}" for i in range(y.size)]})


def test_evaluate_report_is_complete_and_consistent():
    dev, test = _scores(300, 600, 0), _scores(400, 900, 1)
    out = evaluate(dev, test, n_boot=200, seed=0)
    json.dumps(out, allow_nan=False)                               # strict JSON
    assert out["n"] == {"dev": {"bonafide": 300, "spoof": 600}, "test": {"bonafide": 400, "spoof": 900}}
    m = out["metrics"]
    s, y = test["score"].to_numpy(), test["label"].to_numpy()
    assert m["eer"]["value"] == metrics.eer(s, y)
    assert m["roc_auc"]["value"] == pytest.approx(metrics.roc_auc(s, y))
    for k, v in m.items():
        assert v["ci_low"] <= v["value"] <= v["ci_high"] or np.isclose(v["ci_low"], v["value"]), k
    # threshold and calibration come from dev only
    e_dev, thr = metrics.eer_and_threshold(dev["score"], dev["label"])
    assert out["threshold"]["score"] == thr and out["threshold"]["dev_eer"] == e_dev
    assert m["far"]["value"] == metrics.rates_at_threshold(s, y, thr)["far"]
    cal = calibration.from_dict(out["calibration"])
    ref = calibration.fit("platt", dev["score"], dev["label"])
    assert np.allclose(cal.apply(s), ref.apply(s))
    assert m["ece"]["value"] == pytest.approx(metrics.ece(ref.apply(s), y))
    assert m["cllr"]["value"] == pytest.approx(metrics.cllr(ref.llr(s), y))
    assert m["ece"]["value"] < 0.06                        # dev and test share the distribution
    assert set(out["per_attack_eer"]) == {"A01", "A02", "A03"}
    pa = out["per_attack_eer"]
    assert pa["A03"]["value"] < pa["A01"]["value"] and pa["A01"]["n_spoof"] == 300
    assert len(out["reliability"]["count"]) == 15 and sum(out["reliability"]["count"]) == len(test)
    assert len(out["roc"]["fpr"]) <= 201 and len(out["det"]["far"]) <= 202


def test_evaluate_does_not_use_test_for_calibration():
    dev = _scores(200, 200, 0)
    test_a, test_b = _scores(200, 200, 1), _scores(200, 200, 1, offset=50.0)  # test shifted
    a = evaluate(dev, test_a, n_boot=0)
    b = evaluate(dev, test_b, n_boot=0)
    assert a["calibration"] == b["calibration"] and a["threshold"] == b["threshold"]
    assert b["metrics"]["ece"]["value"] > a["metrics"]["ece"]["value"]
    assert a["metrics"]["eer"]["ci_low"] is None


def test_speaker_grouping_and_temperature():
    dev, test = _scores(100, 100, 2), _scores(150, 150, 3)
    out = evaluate(dev, test, n_boot=50, group_by_speaker=True, calibration="temperature")
    assert out["bootstrap"]["group_by_speaker"] and out["calibration"]["method"] == "temperature"
    plain = evaluate(dev, test, n_boot=50)
    assert out["metrics"]["eer"]["value"] == plain["metrics"]["eer"]["value"]
    assert out["metrics"]["eer"]["ci_low"] != plain["metrics"]["eer"]["ci_low"]


def test_bad_frames():
    dev, test = _scores(20, 20, 0), _scores(20, 20, 1)
    with pytest.raises(ValueError, match="lack columns"):
        evaluate(dev.drop(columns="speaker"), test, n_boot=0)
    with pytest.raises(ValueError, match="repeat utt_ids"):
        evaluate(dev, pd.concat([test, test.iloc[:1]]), n_boot=0)
    nan = test.copy()
    nan.loc[3, "score"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(dev, nan, n_boot=0)
    with pytest.raises(ValueError, match="both classes"):
        evaluate(dev[dev.label == 1], test, n_boot=0)


def test_paired_comparison_aligns_by_utt_id():
    a = _scores(300, 300, 4, shift=2.0)
    b = _scores(300, 300, 4, shift=0.7)
    b = b.sample(frac=1.0, random_state=0).iloc[5:]          # shuffled, 5 clips missing
    out = paired_comparison(a, b, n_boot=200, seed=0)
    json.dumps(out, allow_nan=False)
    assert out["n"]["only_a"] == 5 and out["n"]["only_b"] == 0
    shared = a[a.utt_id.isin(b.utt_id)]
    e = out["metrics"]["eer"]
    assert e["a"] == metrics.eer(shared.score, shared.label)
    assert e["diff"] < 0 and e["ci_high"] < 0 and out["metrics"]["roc_auc"]["ci_low"] > 0
    flipped = b.assign(label=1 - b.label)
    with pytest.raises(ValueError, match="labels disagree"):
        paired_comparison(a, flipped, n_boot=0)
    with pytest.raises(ValueError):
        paired_comparison(a, b, metrics=("ece",), n_boot=0)
