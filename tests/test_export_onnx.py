"""ONNX export: the torch front end equals the numpy one, onnxruntime scores equal torch's,
`scaa detect --runtime onnx` gives the same line, and what cannot be exported says why."""
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from scaa import cli  # noqa: E402
from scaa.workflow.synthetic import synthetic_clip, synthetic_run  # noqa: E402
from scaa.inference.detector import Detector  # noqa: E402
from scaa.encoders.spectral import SpectralEncoder  # noqa: E402
from scaa.inference.export import NotExportable, export_onnx, scorer_module  # noqa: E402
from scaa.inference.onnx_detector import OnnxDetector  # noqa: E402
from scaa.inference.onnx_frontend import SpectralFrontEnd  # noqa: E402


@pytest.mark.parametrize("params", [{}, {"lfcc": True, "stats": ["mean", "std"]}, {"output": "frames"},
                                    {"output": "frames", "lfcc_deltas": False, "n_lfcc": 13}])
def test_torch_front_end_equals_numpy(params):
    enc = SpectralEncoder(**params)
    front = SpectralFrontEnd(enc).eval()
    for seconds, seed in ((0.5, 0), (3.3, 1), (4.0, 2)):
        wave = synthetic_clip(seconds, seed)
        ref = enc.encode_one(wave)
        got = front(torch.from_numpy(wave)[None])[0].detach().numpy()
        assert got.shape == ref.shape
        # float32 rounding relative to the largest feature (the spectral centroid, in Hz)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6 * max(1.0, float(np.abs(ref).max())))


def _clips(manifest, tmp_path):
    paths = pd.read_parquet(manifest).path.tolist()[:4]
    long = tmp_path / "long.wav"  # several windows, so the mean over windows is exercised too
    sf.write(long, np.concatenate([sf.read(p, dtype="float32")[0] for p in paths] * 3), 16000)
    return paths + [str(long)]


def _parity(run_dir, manifest, tmp_path):
    meta = export_onnx(run_dir)
    assert meta["parity"]["max_abs_diff"] < 1e-3
    torch_det, onnx_det = Detector.from_run(run_dir), OnnxDetector.from_run(run_dir)
    for path in _clips(manifest, tmp_path):
        a, b = torch_det.score_file(path), onnx_det.score_file(path)
        assert b["score"] == pytest.approx(a["score"], abs=1e-4, rel=1e-4)
        assert b["p_spoof"] == pytest.approx(a["p_spoof"], abs=1e-4)
        assert [w["score"] for w in b["windows"]] == pytest.approx([w["score"] for w in a["windows"]], abs=1e-4)
    return meta


def test_mlp_parity_and_detect_runtime_onnx(serve_run, tmp_path, capsys):
    run_dir, manifest = serve_run
    _parity(run_dir, manifest, tmp_path)
    clip = pd.read_parquet(manifest).path[0]
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx"]) == 0
    onnx_line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 0
    torch_line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert onnx_line.pop("runtime") == "onnx"
    assert onnx_line["score"] == pytest.approx(torch_line["score"], abs=1e-4)
    assert set(onnx_line) == set(torch_line) and onnx_line["decision"] == torch_line["decision"]


def test_lcnn_logreg_and_svm_parity(tmp_path):
    for enc, head in (({"type": "spectral", "output": "frames"},
                       {"type": "lcnn", "channels": [4, 8], "embedding_dim": 8, "epochs": 2, "patience": 1,
                        "batch_size": 8}),
                      ({"type": "spectral"}, {"type": "logreg", "C": [1.0], "folds": 2}),
                      ({"type": "spectral", "lfcc": True}, {"type": "svm"})):
        run_dir, manifest = synthetic_run(tmp_path / head["type"], enc, head, n_per_split=(10, 8, 4))
        _parity(run_dir, manifest, tmp_path)


def test_stale_or_missing_export_is_refused(serve_run, tmp_path, capsys):
    run_dir, manifest = serve_run
    clip = pd.read_parquet(manifest).path[0]
    out = tmp_path / "elsewhere.onnx"
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["onnx"] == str(out)
    meta = json.loads((tmp_path / "elsewhere.onnx.json").read_text())
    meta["source_sha256"]["model.safetensors"] = "0" * 64
    (tmp_path / "elsewhere.onnx.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="export again"):
        OnnxDetector.from_run(run_dir, onnx_path=out)
    with pytest.raises(Exception, match="scaa export"):
        OnnxDetector.from_run(run_dir, onnx_path=tmp_path / "none.onnx")
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx", "--int8"]) == 2


def test_what_cannot_be_exported_says_why(tmp_path, capsys):
    run_dir, _ = synthetic_run(tmp_path / "gmm", {"type": "spectral", "output": "frames"},
                               {"type": "gmm", "n_components": 2, "max_iter": 5}, n_per_split=(8, 6, 4))
    with pytest.raises(NotExportable, match="head 'gmm'"):
        scorer_module(Detector.from_run(run_dir))
    assert cli.main(["export", str(run_dir), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "cannot export" in err and "mlp, lcnn, logreg, svm and score" in err
    assert not (run_dir / "model.onnx").exists()

    class Other:  # any encoder that is not the handcrafted front end
        pass

    det = Detector.from_run(run_dir)
    det.encoder = Other()
    det.spec = {**det.spec, "encoder": {"type": "wav2vec2"}}
    with pytest.raises(NotExportable, match="encoder 'wav2vec2'"):
        scorer_module(det)
