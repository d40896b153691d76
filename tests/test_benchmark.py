"""Cost figures of a trained cell: fresh-process latency/RSS, parameters, size, int8 effect."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from scaa.benchmark import benchmark_cell, eval_subset, int8_applies, summarize, synthetic_run


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    warnings.simplefilter("ignore")
    root = tmp_path_factory.mktemp("bench")
    return synthetic_run(root, {"type": "spectral"}, {"type": "mlp", "hidden": [16], "epochs": 3, "patience": 2},
                         n_per_split=(16, 10, 10))


def test_benchmark_cell_and_summary(mlp_run, tmp_path):
    run_dir, manifest = mlp_run
    out = tmp_path / "b" / "cell.json"
    cell = {"train_dataset": "synthetic", "encoder": "spectral", "head": "mlp", "seed": 0}
    res = benchmark_cell(run_dir, out, run_dir / "scores" / "synthetic.parquet", manifest, warmup=1, repeats=5,
                         cell=cell)
    assert json.loads(out.read_text())["latency_ms"] == res["latency_ms"]
    lat = res["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] and lat["n"] == 5
    assert res["rtf"] == pytest.approx(lat["p50"] / 1000 / 4.0, abs=1e-5)
    assert res["peak_rss_mb"] >= res["baseline_rss_mb"] > 10
    head_params = json.loads((run_dir / "model.json").read_text())["n_parameters"]
    assert res["params"]["head_total"] == head_params["total"] > 0
    assert res["params"]["encoder_total"] == 0  # handcrafted features: no torch parameters
    files = ("model.safetensors", "model.json")
    assert res["size_bytes"]["head_files"] == sum((run_dir / f).stat().st_size for f in files)
    q = res["int8"]
    assert q["applies"] and "head.module" in q["detail"]
    assert q["eer"]["n_clips"] == 10 and q["eer"]["clips"].endswith("all")
    assert 0 <= q["eer"]["eer_int8"] <= 1 and q["eer"]["delta_eer"] == pytest.approx(
        q["eer"]["eer_int8"] - q["eer"]["eer_fp32"])
    table = summarize([out], tmp_path / "b" / "summary.csv")
    row = pd.read_csv(tmp_path / "b" / "summary.csv").iloc[0]
    assert len(table) == 1 and row["encoder"] == "spectral" and row["int8_applies"]
    assert row["latency_p50_ms"] == lat["p50"] and row["params_total"] == res["params"]["total"]


def test_int8_not_applicable_to_sklearn_head(tmp_path):
    warnings.simplefilter("ignore")
    run_dir, _ = synthetic_run(tmp_path, {"type": "spectral"}, {"type": "logreg", "C": [1.0], "folds": 2},
                               n_per_split=(8, 6, 4))
    applies, why = int8_applies(run_dir)
    assert not applies and "Linear" in why


def test_eval_subset_is_seeded_and_stratified(mlp_run):
    run_dir, manifest = mlp_run
    scores = run_dir / "scores" / "synthetic.parquet"
    a, b = eval_subset(scores, manifest, 6, seed=1), eval_subset(scores, manifest, 6, seed=1)
    assert a.equals(b) and len(a) == 6 and set(a["label"]) == {0, 1}
    assert not a["utt_id"].equals(eval_subset(scores, manifest, 6, seed=2)["utt_id"])
    assert len(eval_subset(scores, manifest, 100, seed=1)) == 10
    assert np.all(a["path"].str.endswith(".wav"))
