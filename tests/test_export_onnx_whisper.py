"""ONNX export of whisper cells: the torch rewrite equals the encoder (windows > 30 s included),
onnxruntime's scores equal torch's for every exportable head and for a top-k cell on clips of
different lengths, `scaa detect --runtime onnx` works, and bfloat16 / int8 whisper is refused.

Everything runs on a tiny random Whisper built from a config (no wheel, no hub), so the same
tests run on a bare machine and in CI."""
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from scaa import cli  # noqa: E402
from scaa.workflow.synthetic import synthetic_clip, synthetic_run  # noqa: E402
from scaa.inference.detector import Detector  # noqa: E402
from scaa.encoders.whisper import TINY_CONFIG, WhisperEncoder  # noqa: E402
from scaa.inference.export import LONG_CHECK_S, NotExportable, export_onnx, scorer_module  # noqa: E402
from scaa.inference.onnx_detector import OnnxDetector  # noqa: E402
from scaa.inference.onnx_whisper import WhisperFrontEnd  # noqa: E402

TINY = {"type": "whisper", "random_init_config": TINY_CONFIG}
MLP = {"type": "mlp", "hidden": [16], "epochs": 2, "patience": 1}
SCORE_TOL = 1e-4  # score units, absolute and relative; float32 STFT-by-convolution vs FFT


def _waves():
    """0.03 s (a few frames), 0.5 s, 4 s, and 31 s + 1 sample (two 30 s windows of unequal length)."""
    rng = np.random.default_rng(3)
    return [(0.1 * rng.standard_normal(480)).astype(np.float32), synthetic_clip(0.5, 1), synthetic_clip(4.0, 2),
            synthetic_clip(31.0, 3)[:31 * 16000 - 1]]


@pytest.mark.parametrize("params", [{}, {"pooling": "mean_std", "layer": [0, 2]}, {"pooling": "none", "layer": 1}])
def test_onnx_whisper_equals_encoder(params):
    enc = WhisperEncoder(random_init_config=TINY_CONFIG, **params)
    front = WhisperFrontEnd(enc).eval()
    for wave in _waves():
        ref = enc.encode([wave])[0]
        with torch.no_grad():
            got = front(torch.from_numpy(wave)[None])[0].numpy()
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def _clips(manifest, tmp_path):
    paths = pd.read_parquet(manifest).path.tolist()[:3]
    long = tmp_path / "long.wav"  # 33 s: one detect window of 40 s spans two encoder windows
    sf.write(long, synthetic_clip(33.0, 7), 16000)
    return paths + [str(long)]


def _parity(run_dir, manifest, tmp_path):
    meta = export_onnx(run_dir)
    assert LONG_CHECK_S in meta["parity"]["seconds"] and meta["parity"]["max_abs_diff"] < 1e-3
    torch_det, onnx_det = Detector.from_run(run_dir), OnnxDetector.from_run(run_dir)
    for path in _clips(manifest, tmp_path):
        for window in (4.0, 40.0):  # detect's default windows, and windows longer than 30 s
            a, b = torch_det.score_file(path, window_s=window, hop_s=2.0), onnx_det.score_file(path, window, 2.0)
            assert b["score"] == pytest.approx(a["score"], abs=SCORE_TOL, rel=SCORE_TOL)
            assert [w["score"] for w in b["windows"]] == pytest.approx([w["score"] for w in a["windows"]],
                                                                       abs=SCORE_TOL, rel=SCORE_TOL)


@pytest.mark.parametrize("name, enc, head, freeze", [
    ("mlp", TINY, MLP, "frozen"),
    ("logreg", {**TINY, "pooling": "mean_std", "layer": [1, 2]}, {"type": "logreg", "C": [1.0], "folds": 2}, "frozen"),
    ("svm", {**TINY, "layer": 1}, {"type": "svm"}, "frozen"),
    ("lcnn", {**TINY, "pooling": "none"}, {"type": "lcnn", "channels": [4, 8], "embedding_dim": 8, "epochs": 2,
                                           "patience": 1, "batch_size": 8}, "frozen"),
    ("top1", TINY, MLP, "top1"),
])
def test_whisper_cell_parity(name, enc, head, freeze, tmp_path):
    run_dir, manifest = synthetic_run(tmp_path / name, enc, head, n_per_split=(8, 6, 4), freeze=freeze)
    _parity(run_dir, manifest, tmp_path)


def test_whisper_detect_runtime_onnx(tmp_path, capsys):
    run_dir, manifest = synthetic_run(tmp_path / "cell", TINY, MLP, n_per_split=(8, 6, 4))
    assert cli.main(["export", str(run_dir), "--format", "onnx"]) == 0
    assert json.loads(capsys.readouterr().out)["parity"]["max_abs_diff"] < 1e-3
    clip = pd.read_parquet(manifest).path[0]
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx"]) == 0
    onnx_line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 0
    torch_line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert onnx_line.pop("runtime") == "onnx"
    assert onnx_line["score"] == pytest.approx(torch_line["score"], abs=SCORE_TOL, rel=SCORE_TOL)
    assert set(onnx_line) == set(torch_line) and onnx_line["decision"] == torch_line["decision"]


def test_bfloat16_and_int8_whisper_are_refused(tmp_path, capsys):
    run_dir, _ = synthetic_run(tmp_path / "bf16", {**TINY, "dtype": "bfloat16"}, MLP, n_per_split=(8, 6, 4))
    assert cli.main(["export", str(run_dir), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "cannot export" in err and "dtype bfloat16" in err and "float32" in err
    assert not (run_dir / "model.onnx").exists()
    det = Detector.from_run(run_dir)
    det.encoder = WhisperEncoder(random_init_config=TINY_CONFIG, quantize="int8")
    with pytest.raises(NotExportable, match="int8"):
        scorer_module(det)
