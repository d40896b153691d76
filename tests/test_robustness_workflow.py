"""The robustness matrix, error lists, overlays on demand and energy records, end to end
on a tiny corpus the test writes itself; adding a condition extracts only its own
features and leaves the other conditions' results as they were."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from test_workflow import REPO, make_corpus, spectral_cells, write_config

NAN_PLUGIN = '''
import numpy as np
from scaa.registry import CONDITIONS


@CONDITIONS.register("nan_test")
class NanCondition:
    """Breaks every clip (a corrupt transform): must become a recorded skip."""

    def __call__(self, wave, rng):
        return wave * np.nan
'''


def snakemake(tmp_path, cfg, *args, env=None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})})


def planned_jobs(out: str) -> dict:
    rows = [line.split() for line in out.splitlines()]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] not in ("total", "all")}


@pytest.mark.slow
def test_conditions_errors_and_energy_end_to_end(tmp_path):
    make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path)
    spec = yaml.safe_load(cfg.read_text())
    spec["features"]["shards"] = 1
    spectral_cells(spec)
    spec["evaluation"]["conditions"] = {"telephone": {"type": "telephone"},
                                        "babble": {"type": "noise", "kind": "babble", "snr_db": 5},
                                        "broken": {"type": "nan_test"}}
    spec["evaluation"]["errors"] = {"top_k": 3}
    spec["energy"] = {"enabled": True, "country_iso_code": "DEU"}
    spec["plugins"] = ["nan_condition"]
    (tmp_path / "nan_condition.py").write_text(NAN_PLUGIN)
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)}
    cfg.write_text(yaml.safe_dump(spec))
    run = snakemake(tmp_path, cfg, env=env)
    assert run.returncode == 0, run.stderr[-4000:]

    rob = pd.read_csv(tmp_path / "results/ablations/robustness.csv")
    assert sorted(rob["condition"]) == ["babble", "broken", "clean", "telephone"]
    ok = rob[rob["status"] == "ok"].set_index("condition")
    assert ok.loc["clean", "d_eer"] == 0 and ok["eer"].between(0, 1).all()
    for cond in ("telephone", "babble"):    # paired CI around the paired difference
        assert ok.loc[cond, "d_eer_lo"] <= ok.loc[cond, "d_eer"] <= ok.loc[cond, "d_eer_hi"]
    broken = rob[rob["condition"] == "broken"].iloc[0]
    assert broken["status"] == "skipped" and "too few" in broken["reason"]   # a recorded skip, not a crash
    skips = pd.read_csv(next((tmp_path / "results/features/tiny/spectral/cond-broken/frozen").glob("*.skips.csv")))
    assert set(skips["reason"].str.split(":").str[0]) == {"condition_error"} and set(skips["split"]) == {"eval"}
    # conditions touch eval only: their feature shards hold eval clips, nothing else
    run_dir = tmp_path / "results/runs/tiny/spectral/none/ce/logreg/frozen/seed0"
    res = json.loads((run_dir / "robustness/telephone/metrics/tiny.json").read_text())
    assert res["n"] == {"bonafide": 12, "spoof": 12}

    errors = pd.read_csv(run_dir / "errors/tiny/errors.csv")
    assert {"utt_id", "attack", "speaker", "score", "p_spoof", "condition", "kind", "overlay"} <= set(errors)
    assert set(errors["kind"]) <= {"miss", "false_alarm"} and len(errors)
    assert errors.groupby(["condition", "kind"]).size().max() <= 3
    groups = pd.read_csv(run_dir / "errors/tiny/groups.csv")
    assert {"attack", "speaker"} <= set(groups["group_kind"])

    summary = pd.read_csv(tmp_path / "results/ablations/summary.csv")
    for col in ("energy_train_kwh", "co2_train_kg", "energy_kwh_per_1k_detections", "energy_method"):
        assert col in summary
    row = summary.iloc[0]
    assert (row["energy_train_kwh"] > 0 and row["energy_kwh_per_1k_detections"] > 0) or \
        row["energy_method"].startswith("energy unavailable")
    record = json.loads((run_dir / "energy_train.json").read_text())
    assert record["status"] in ("ok", "unavailable") and ("method" in record or "reason" in record)
    html = (tmp_path / "results/ablations/summary.html").read_text()
    assert "fig-robustness-tiny" in html and "overlay_clip" in html

    # an overlay of a listed clip, rendered on demand by its rule
    listed = [p for p in errors["overlay"] if p in html]   # the page names the clip's overlay target
    assert listed
    target = listed[0]
    assert "../overlays/" + target.split("results/overlays/", 1)[1] in html   # and links to it
    ov = snakemake(tmp_path, cfg, target, env=env)
    assert ov.returncode == 0, ov.stderr[-4000:]
    assert (tmp_path / target).exists() and (tmp_path / target).with_suffix(".png").exists()

    # nothing changed -> nothing to do; one more condition -> only its own extraction, the
    # cell's robustness job (cached features of the old conditions, same numbers) + the tables
    again = snakemake(tmp_path, cfg, "-n", env=env)
    assert "Nothing to be done" in again.stdout + again.stderr
    spec["evaluation"]["conditions"]["quiet"] = {"type": "gain", "gain_db": -20}
    cfg.write_text(yaml.safe_dump(spec))
    plan = snakemake(tmp_path, cfg, "-n", "--quiet", "rules", env=env)
    out = plan.stdout + plan.stderr
    assert planned_jobs(out) == {"extract_features": 1, "robustness_cell": 1, "robustness_table": 1,
                                 "summary": 1}, out
    done = snakemake(tmp_path, cfg, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads((run_dir / "robustness/telephone/metrics/tiny.json").read_text()) == res
    rob2 = pd.read_csv(tmp_path / "results/ablations/robustness.csv")
    assert sorted(rob2["condition"]) == ["babble", "broken", "clean", "quiet", "telephone"]
    pd.testing.assert_frame_equal(rob2[rob2["condition"] != "quiet"].reset_index(drop=True), rob)
