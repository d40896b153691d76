"""Robustness scoring, error lists and energy records on small frames (no workflow)."""
import json
import sys
import types

import numpy as np
import pandas as pd
import pytest

from scaa.workflow import energy, error_analysis, robustness


def scores(n=40, shift=1.0, seed=0, speakers=4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return pd.DataFrame({"utt_id": [f"u{i}" for i in range(n)], "split": "eval", "label": y,
                         "attack": np.where(y == 1, np.where(np.arange(n) % 4 == 1, "A07", "A08"), "-"),
                         "speaker": [f"S{i % speakers}" for i in range(n)],
                         "score": rng.normal(size=n) + shift * y})


def test_condition_eer_and_paired_delta_against_clean():
    clean = scores(shift=3.0)
    degraded = clean.assign(score=scores(shift=0.5, seed=1)["score"])
    res = robustness.evaluate_condition("noise", degraded, clean, n_boot=200, seed=0)
    assert res["status"] == "ok"
    assert res["eer"]["ci_low"] <= res["eer"]["value"] <= res["eer"]["ci_high"]
    d = res["d_eer"]
    assert d["value"] > 0 and d["ci_low"] <= d["value"] <= d["ci_high"]   # the condition hurts
    assert np.isclose(d["value"], res["eer"]["value"] - d["clean_eer_same_clips"])


def test_a_condition_without_usable_scores_is_a_recorded_skip():
    clean = scores()
    empty = clean.iloc[:0]
    res = robustness.evaluate_condition("broken", empty, clean, counts={"non_finite": 0, "no_features": 40})
    assert res["status"] == "skipped" and "too few" in res["reason"]
    nan = clean.assign(score=np.nan)
    assert robustness.evaluate_condition("nan", nan, clean)["status"] == "skipped"
    json.dumps(res, allow_nan=False)


def test_worst_condition_ignores_clean_and_skips():
    cell = {"train_dataset": "d", "encoder": "e", "view": "none", "loss": "ce", "head": "h", "freeze": "frozen",
            "seed": 0}
    rows = [{**cell, "eval_dataset": "x", "condition": c, "status": st, "eer": e}
            for c, st, e in (("clean", "ok", 0.9), ("mp3", "ok", 0.2), ("noise", "ok", 0.4), ("bad", "skipped", None))]
    worst = robustness.worst_condition(pd.DataFrame(rows), cell, "x")
    assert worst["condition"] == "noise"


def test_errors_lists_most_confident_mistakes_with_calibrated_probabilities():
    dev = scores(seed=3, shift=2.0)
    test = scores(seed=4, shift=2.0)
    test.loc[1, "score"] = -9.0      # a spoof scored very bona fide: the most confident miss
    test.loc[0, "score"] = 9.0       # a bona fide clip scored very spoof: the worst false alarm
    errs, groups = error_analysis.analyse("cellA", "results/runs/d/e/none/ce/h/frozen/seed0", "ev", dev,
                                  {"clean": test, "mp3": test}, top_k=2)
    clean = errs[errs["condition"] == "clean"]
    assert clean[clean["kind"] == "miss"].iloc[0]["utt_id"] == "u1"
    assert clean[clean["kind"] == "false_alarm"].iloc[0]["utt_id"] == "u0"
    assert (errs.groupby(["condition", "kind"]).size() <= 2).all()
    miss_p = clean[clean["kind"] == "miss"]["p_spoof"]
    fa_p = clean[clean["kind"] == "false_alarm"]["p_spoof"]
    assert miss_p.max() < fa_p.min() and miss_p.between(0, 1).all()
    assert clean.iloc[0]["overlay"] == "results/overlays/d/e/none/ce/h/frozen/seed0/ev/clean/u1.html"
    att = groups[(groups["group_kind"] == "attack") & (groups["condition"] == "clean")]
    assert set(att["group"]) == {"A07", "A08"} and att["eer"].between(0, 1).all()
    spk = groups[groups["group_kind"] == "speaker"]
    assert len(spk) == 8                                  # 4 speakers x 2 conditions
    # speakers with one class only get an error rate but no EER
    solo = error_analysis.group_eers(test.assign(speaker=np.where(test["label"] == 1, "SP", "BF")), 0.0)
    assert all(np.isnan(r["eer"]) for r in solo if r["group_kind"] == "speaker")


def test_energy_failure_is_recorded_not_raised(tmp_path, monkeypatch):
    broken = types.ModuleType("codecarbon")

    class Tracker:
        def __init__(self, **kw):
            raise OSError("no power data")

    broken.OfflineEmissionsTracker = Tracker
    monkeypatch.setitem(sys.modules, "codecarbon", broken)
    out = tmp_path / "e.json"
    with energy.track(out, task="t", country_iso_code="DEU") as rec:
        rec["clips"] = 3
    r = json.loads(out.read_text())
    assert r["status"] == "unavailable" and "no power data" in r["reason"] and r["clips"] == 3
    with energy.track(tmp_path / "off.json", task="t", enabled=False):
        pass
    assert json.loads((tmp_path / "off.json").read_text())["reason"] == "energy.enabled is false"
    assert energy.total_kwh([r]) == (None, None)


def test_energy_is_measured_offline_with_a_method():
    pytest.importorskip("codecarbon")
    with energy.track(None, task="t", country_iso_code="DEU") as rec:
        np.linalg.svd(np.random.default_rng(0).normal(size=(300, 300)))
    assert rec["status"] == "ok", rec
    assert rec["energy_kwh"] > 0 and rec["co2_kg"] > 0 and rec["country_iso_code"] == "DEU"
    assert rec["method"]


def test_model_card_states_the_best_cells_worst_condition_and_energy(tmp_path):
    from scaa.report import model_card
    from scaa.report.robustness_html import robustness_heatmap, with_cell_labels

    cells = [{"train_dataset": "d", "encoder": e, "view": "none", "loss": "ce", "head": "h", "freeze": "frozen",
              "seed": 0} for e in ("good", "bad")]
    summary = pd.DataFrame([{**c, "eval_dataset": "x", "run_dir": f"r/{c['encoder']}", "eer": 0.1, "eer_lo": 0.05,
                             "eer_hi": 0.15, "dev_eer": dev, "energy_train_kwh": 2e-5,
                             "energy_features_train_kwh": 1e-4, "energy_kwh_per_1k_detections": 3e-4,
                             "co2_kg_per_1k_detections": 1e-4, "energy_method": "estimate"}
                            for c, dev in zip(cells, (0.05, 0.3))])
    summary.to_csv(tmp_path / "summary.csv", index=False)
    rob = pd.DataFrame([{**c, "eval_dataset": "x", "condition": cond, "status": st, "eer": e, "eer_lo": e - 0.05,
                         "eer_hi": e + 0.05, "d_eer": e - 0.1, "d_eer_lo": e - 0.15, "d_eer_hi": e - 0.05,
                         "reason": "" if st == "ok" else "too few"}
                        for c in cells for cond, st, e in (("clean", "ok", 0.1), ("mp3", "ok", 0.2),
                                                           ("noise", "ok", 0.35 if c["encoder"] == "good" else 0.5),
                                                           ("broken", "skipped", np.nan))])
    rob.to_csv(tmp_path / "robustness.csv", index=False)
    text = model_card.render(str(tmp_path / "summary.csv"), root=str(tmp_path))
    assert "`d/good/none/ce/h/frozen/0` on eval set `x`: worst condition **noise**, EER 35.00" in text
    assert "+25.00 [+20.00, +30.00]" in text                 # ΔEER vs clean with its paired CI
    assert "| `d/good/none/ce/h/frozen/0` | x | 0.02 | 0.1 | 0.3 | 0.1 | estimate |" in text
    t = summary.assign(label=["good", "bad"])
    fig = robustness_heatmap(with_cell_labels(rob, t))
    assert list(fig.data[0].x) == ["clean", "broken", "mp3", "noise"] and list(fig.data[0].y) == ["good", "bad"]
    assert np.isnan(fig.data[0].z[0][1]) and fig.data[0].text[0][1] == "skip"
