"""Short clips, bad windowing and dangling symlinks end as clear errors or recorded skips."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import tone
from scaa import audio, cli, extract
from scaa.registry import ENCODERS, VIEWS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(logreg_run):
    return logreg_run[0]


@pytest.fixture
def one_sample(tmp_path):
    path = tmp_path / "one.flac"
    sf.write(str(path), np.full(1, 0.5, np.float32), 16000, format="FLAC")
    return path


def test_the_loader_refuses_clips_shorter_than_the_minimum(one_sample, tmp_path):
    with pytest.raises(audio.AudioError) as err:
        audio.load(one_sample)
    assert err.value.reason == "too_short" and "< 0.25 s" in err.value.detail
    short = tmp_path / "short.wav"
    sf.write(str(short), tone(0.2), 16000)
    with pytest.raises(audio.AudioError, match="too_short"):
        audio.load(short)
    assert audio.load(short, min_seconds=0.1).size == int(0.2 * 16000)
    # the duration is judged before resampling: 0.25 s at 8 kHz is long enough
    assert audio.prepare(tone(0.25, sr=8000), 8000).size == 4000


def test_detect_gives_an_error_line_for_a_too_short_file(run_dir, one_sample, capsys):
    assert cli.main(["detect", str(one_sample), "--model", str(run_dir)]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["error"].startswith("too_short") and "score" not in line


@pytest.mark.parametrize("args", [["--window", "0.001"], ["--window", "4", "--hop", "0"],
                                  ["--window", "2", "--hop", "3"], ["--window", "nan"]])
def test_window_and_hop_are_validated(run_dir, one_sample, args, capsys):
    assert cli.main(["detect", str(one_sample), "--model", str(run_dir), *args]) == 2
    assert "--window/--hop" in capsys.readouterr().err


def test_overlay_of_a_too_short_file_is_an_error_line(run_dir, one_sample, tmp_path, capsys):
    assert cli.main(["overlay", str(one_sample), "--model", str(run_dir), "--out", str(tmp_path / "o")]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("too_short")


def test_extraction_records_a_too_short_clip(one_sample, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(str(good), tone(1.0), 16000)
    rows = pd.DataFrame({"utt_id": ["a", "b"], "path": [str(one_sample), str(good)], "split": ["eval"] * 2,
                         "duration_s": [1 / 16000, 1.0]})
    info = extract.extract_shard(rows, ENCODERS.build({"type": "spectral"}), "none", VIEWS.build({"type": "none"}),
                                 0, tmp_path / "s.npz", tmp_path / "s.skips.csv", progress=False)
    assert info["encoded"] == 1 and info["skipped"] == 1
    skip = pd.read_csv(tmp_path / "s.skips.csv").iloc[0]
    assert skip["utt_id"] == "a" and skip["reason"] == "too_short" and "s < 0.25 s" in skip["detail"]


def test_a_dangling_symlink_gets_an_error_line(run_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(str(folder / "ok.wav"), tone(1.0), 16000)
    os.symlink(tmp_path / "gone.wav", folder / "link.wav")
    assert cli.main(["detect", str(folder), "--model", str(run_dir)]) == 1
    lines = {Path(x["file"]).name: x for x in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(lines) == {"ok.wav", "link.wav"}
    assert lines["link.wav"]["error"] == "missing: dangling symlink" and "score" in lines["ok.wav"]


def test_huge_file_is_refused_from_its_header(run_dir, tmp_path, capsys):
    path = tmp_path / "long.flac"
    sf.write(str(path), np.zeros(16000 * 3, np.float32) + 0.01, 16000, format="FLAC")
    assert cli.main(["detect", str(path), "--model", str(run_dir), "--max-seconds", "2"]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("too_long")


def test_warm_up_loads_the_resampler(run_dir):
    """The first file's latency must not include one-time costs: after warm-up the
    resampler (soxr) is loaded and the mel filter bank built; librosa (and numba) are never
    imported on the way (scaa.melbank computes the bank)."""
    code = ("import sys; from scaa.detector import Detector; d = Detector.from_run(sys.argv[1]); "
            "from scaa.encoders.spectral import _mel_basis; "
            "assert 'soxr' not in sys.modules and _mel_basis.cache_info().currsize == 0, 'too early to tell'; "
            "d.warm_up(); "
            "print('soxr' in sys.modules, _mel_basis.cache_info().currsize > 0, 'librosa' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True True False"
