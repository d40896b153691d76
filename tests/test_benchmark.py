"""Cost figures of a trained cell: fresh-process latency/RSS, parameters, size, int8 / bf16 effect."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from scaa.workflow.benchmark import bf16_applies, benchmark_cell, eval_subset, int8_applies, summarize
from scaa.workflow.synthetic import synthetic_run
from scaa.inference.detector import Detector, ModelError


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
    assert not res["bf16"]["applies"] and "no dtype option" in res["bf16"]["detail"] and not row["bf16_applies"]
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


def test_bf16_variant_of_an_ssl_cell(tmp_path):
    """A cell trained on float32 wav2vec2 features, scored with the encoder in bfloat16."""
    pytest.importorskip("transformers")
    from scaa.encoders.ssl import TINY_CONFIG

    warnings.simplefilter("ignore")
    enc = {"type": "wav2vec2", "random_init_config": TINY_CONFIG}
    run_dir, manifest = synthetic_run(tmp_path, enc, {"type": "mlp", "hidden": [8], "epochs": 2, "patience": 1},
                                      n_per_split=(8, 6, 6))
    applies, why = bf16_applies(run_dir)
    assert applies and "float32" in why
    assert Detector.from_run(run_dir, dtype="bfloat16").encoder.dtype_name == "bfloat16"
    res = benchmark_cell(run_dir, None, run_dir / "scores" / "synthetic.parquet", manifest, warmup=1, repeats=3,
                         int8=False)
    q = res["bf16"]
    assert q["applies"] and q["latency_ms"]["n"] == 3 and not res["int8"]["applies"]
    assert q["eer"]["n_clips"] == 6 and q["eer"]["delta_eer"] == pytest.approx(
        q["eer"]["eer_bf16"] - q["eer"]["eer_fp32"])
    assert 0 < q["eer"]["max_abs_score_change"] < 1.0  # bf16 moves scores a little, not arbitrarily


def test_int8_variants_of_an_ssl_cell_quantise_the_encoder_itself(tmp_path):
    """int8 goes through the SSL encoder's own quantize option (so its bf16 fast path is not
    left running unquantised), and int8_bf16 keeps the convolutions in bfloat16."""
    pytest.importorskip("transformers")
    import torch

    from scaa.workflow.benchmark import int8_bf16_applies
    from scaa.encoders.ssl import TINY_CONFIG

    warnings.simplefilter("ignore")
    enc = {"type": "wav2vec2", "random_init_config": TINY_CONFIG}
    run_dir, manifest = synthetic_run(tmp_path, enc, {"type": "mlp", "hidden": [8], "epochs": 2, "patience": 1},
                                      n_per_split=(8, 6, 6))
    assert int8_bf16_applies(run_dir)[0]
    det = Detector.from_run(run_dir, quantize="int8")
    assert det.encoder.quantize == "int8" and det.encoder.fast_layers is None
    assert det.encoder.front_end.dtype == torch.float32
    hybrid = Detector.from_run(run_dir, quantize="int8", dtype="bfloat16")
    assert hybrid.encoder.quantize == "int8" and hybrid.encoder.fast_layers is None
    assert hybrid.encoder.front_end.dtype == torch.bfloat16 and hybrid.encoder.torch_dtype == torch.float32
    q_proj = hybrid.encoder.model.encoder.layers[0].attention.q_proj
    assert type(q_proj).__module__.startswith("torch.ao")  # int8 dynamic Linear
    from scaa.inference.quantize import torch_modules

    head_mods = {k: m for k, m in torch_modules(hybrid.head).items() if k != "loss"}
    assert head_mods and not any(type(m) is torch.nn.Linear for mod in head_mods.values()
                                 for m in mod.modules())  # the head was quantised too
    res = benchmark_cell(run_dir, None, run_dir / "scores" / "synthetic.parquet", manifest, warmup=1, repeats=2,
                         bf16=True, int8=True)
    q = res["int8_bf16"]
    assert q["applies"] and q["eer"]["n_clips"] == 6 and 0 <= q["eer"]["max_abs_score_change"] < 1.0


def test_dtype_override_refused_for_encoders_without_it(mlp_run):
    run_dir, _ = mlp_run
    with pytest.raises(ModelError, match="no dtype option"):
        Detector.from_run(run_dir, dtype="bfloat16")


def test_int8_leaves_torch_transformer_layers_runnable():
    """torch's TransformerEncoderLayer fast path reads Linear weights as tensors; quantising
    them broke DistillMOS's int8 variant. Its Linears stay float32, the others are quantised."""
    import torch
    from torch import nn

    from scaa.inference.quantize import quantize_int8

    class Holder:
        pass

    torch.manual_seed(0)
    enc = Holder()
    enc.net = nn.Sequential(nn.Linear(8, 8), nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1)).eval()
    x = torch.randn(2, 5, 8)
    with torch.inference_mode():
        ref = enc.net(x)
    done = quantize_int8(enc, Holder())
    assert done == ["encoder.net (3 Linear layers of nn.Transformer*Layer kept in float32)"]
    assert not isinstance(enc.net[0], nn.Linear) or type(enc.net[0]).__module__.startswith("torch.ao")
    with torch.inference_mode():
        out = enc.net(x)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=0.1)
