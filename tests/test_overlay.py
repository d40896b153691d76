"""scaa overlay: files written, occlusion map shape, band masking in the STFT domain."""
import json
import warnings

import numpy as np
import pytest

from scaa import cli
from scaa.workflow.synthetic import synthetic_clip, synthetic_run
from scaa.inference.detector import Detector
from scaa.inference.overlay import band_edges, mask_band, occlusion


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    warnings.simplefilter("ignore")
    root = tmp_path_factory.mktemp("overlay")
    return synthetic_run(root, {"type": "spectral"}, {"type": "logreg", "C": [1.0], "folds": 2},
                         n_per_split=(12, 8, 4))[0]


def test_band_edges():
    mel, lin = band_edges(16, "mel"), band_edges(16, "linear")
    assert mel.shape == lin.shape == (17,)
    assert mel[0] == 0 and mel[-1] == pytest.approx(8000) and np.all(np.diff(mel) > 0)
    assert np.diff(mel)[0] < np.diff(mel)[-1]  # mel bands widen with frequency


def test_mask_band_removes_only_that_band():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    x = (np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 3000 * t) + 0.01 * rng.standard_normal(t.size))
    x = x.astype(np.float32)
    assert np.allclose(mask_band(x, 7990, 7991), x, atol=1e-3)  # (almost) nothing masked: reconstruction
    y = mask_band(x, 2500, 3500)
    spec = np.abs(np.fft.rfft(y[2000:-2000]))
    f = np.fft.rfftfreq(y[2000:-2000].size, 1 / 16000)
    assert spec[np.argmin(np.abs(f - 3000))] < 0.01 * spec[np.argmin(np.abs(f - 500))]


def test_overlay_writes_files(run_dir, tmp_path, capsys):
    det = Detector.from_run(run_dir)
    wave = synthetic_clip(8.0, seed=1)
    occ = occlusion(det, wave, window_s=3, hop_s=2, n_bands=8, scale="linear")
    n_windows = len(occ["ranges"])
    assert n_windows == 4 and occ["delta"].shape == (8, n_windows)
    assert np.isfinite(occ["delta"]).all() and np.abs(occ["delta"]).max() > 0

    import soundfile as sf

    sf.write(tmp_path / "clip.wav", wave, 16000)
    code = cli.main(["overlay", str(tmp_path / "clip.wav"), "--model", str(run_dir), "--out",
                     str(tmp_path / "out" / "clip"), "--window", "3", "--hop", "2", "--bands", "6"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    png, html, js = (tmp_path / "out" / f"clip.{e}" for e in ("png", "html", "json"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = html.read_text()
    assert "plotly" in text.lower() and "<script src=\"https://cdn" not in text and len(text) > 1_000_000  # bundled js
    record = json.loads(js.read_text())
    assert np.asarray(record["occlusion_delta"]).shape == (6, 4)
    assert printed["decision"] in ("spoof", "bonafide")


def test_mask_band_in_blocks_equals_the_whole_file():
    """Masked block by block (bounded memory: a 300 s overlay took the server past 1 GB), every
    sample equals the whole-file STFT's, at the edges of blocks and of the file too."""
    rng = np.random.default_rng(1)
    x = synthetic_clip(3.3, 2) + 0.05 * rng.standard_normal(int(3.3 * 16000)).astype(np.float32)
    for lo, hi in ((0, 300), (2500, 3500), (7000, 8000)):
        whole = mask_band(x, lo, hi, block=10**9)
        for block in (4096, 128 * 77):  # a multiple of the hop; the last block short
            assert np.allclose(mask_band(x, lo, hi, block=block), whole, atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        mask_band(x, 0, 300, block=1000)
