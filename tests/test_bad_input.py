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
from scaa import cli
from scaa.dsp import audio
from scaa.workflow import extract
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
    err = capsys.readouterr().err  # range checks (--window/--hop); NaN and hop 0: the flag's own type (argument --hop)
    assert "--window/--hop" in err or "argument --window" in err or "argument --hop" in err


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
    imported on the way (scaa.dsp.melbank computes the bank)."""
    code = ("import sys; from scaa.inference.detector import Detector; d = Detector.from_run(sys.argv[1]); "
            "from scaa.encoders.spectral import mel_basis; "
            "assert 'soxr' not in sys.modules and mel_basis.cache_info().currsize == 0, 'too early to tell'; "
            "d.warm_up(); "
            "print('soxr' in sys.modules, mel_basis.cache_info().currsize > 0, 'librosa' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True True False"


# -- flags, file names and truncated files (issue 29) ------------------------------------
@pytest.mark.parametrize("command", ["detect", "overlay", "serve"])
@pytest.mark.parametrize("flag,value", [("--window", "inf"), ("--window", "nan"), ("--hop", "-1"), ("--hop", "inf"),
                                        ("--window", "abc"), ("--threads", "0"), ("--threads", "1.5")])
def test_bad_flag_values_are_usage_errors(command, flag, value, tmp_path, capsys):
    args = {"detect": [str(tmp_path)], "overlay": [str(tmp_path / "x.wav")], "serve": []}[command]
    assert cli.main([command, *args, "--model", str(tmp_path / "nope"), flag, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a" in err and "Traceback" not in err


@pytest.mark.parametrize("flag,value", [("--max-seconds", "nan"), ("--max-seconds", "inf"), ("--max-seconds", "0"),
                                        ("--jobs", "0"), ("--jobs", "-2")])
def test_detect_limits_are_usage_errors(flag, value, tmp_path, capsys):
    assert cli.main(["detect", str(tmp_path), "--model", str(tmp_path / "nope"), flag, value]) == 2
    assert f"argument {flag}: expected a" in capsys.readouterr().err


def test_the_program_exits_2_on_an_infinite_window(tmp_path):
    out = subprocess.run([sys.executable, "-m", "scaa.cli", "detect", str(tmp_path), "--window", "inf"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 2 and "argument --window: expected a finite number of seconds > 0, got 'inf'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_non_utf8_file_name_is_scored_and_written_escaped(run_dir, tmp_path, capsys):
    folder = tmp_path / "names"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.wav")  # Latin-1 bytes: not UTF-8
    with open(raw, "wb") as fh:
        sf.write(fh, tone(1.0), 16000, format="WAV")
    sf.write(str(folder / "plain.wav"), tone(1.0), 16000)
    assert cli.main(["detect", str(folder), "--model", str(run_dir), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")  # no lone surrogates in the output: valid UTF-8 JSON
    lines = [json.loads(x) for x in out.splitlines()]
    odd = next(x for x in lines if "file_escape" in x)
    assert "error" not in odd and "score" in odd
    assert odd["file"] == str(folder) + "/caf\\xe9-\\xff.wav" and odd["file_escape"] == "backslashreplace"
    plain = next(x for x in lines if x["file"].endswith("plain.wav"))
    assert "file_escape" not in plain


def _truncate(path, keep: float):
    size = path.stat().st_size
    os.truncate(path, int(size * keep))


def test_a_truncated_wav_is_scored_with_a_warning(run_dir, tmp_path, capsys):
    cut, whole = tmp_path / "cut.wav", tmp_path / "whole.wav"
    for p in (cut, whole):
        sf.write(str(p), tone(3.0), 16000, subtype="PCM_16")
    _truncate(cut, 0.5)  # the header still promises 3 s
    assert audio.truncated(cut) and not audio.truncated(whole)
    assert cli.main(["detect", str(cut), str(whole), "--model", str(run_dir), "--jobs", "1"]) == 0
    lines = {Path(x["file"]).name: x for x in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines["cut.wav"]["warning"] == "truncated" and "score" in lines["cut.wav"]
    assert "warning" not in lines["whole.wav"]


def test_truncation_is_read_from_wav_and_aiff_chunk_headers(tmp_path):
    import struct

    aiff = tmp_path / "a.aiff"
    sf.write(str(aiff), tone(1.0), 16000, format="AIFF")
    assert not audio.truncated(aiff)
    _truncate(aiff, 0.6)
    assert audio.truncated(aiff)
    streamed = tmp_path / "s.wav"  # a WAV written to a pipe leaves the sizes unset: not truncated
    sf.write(str(streamed), tone(1.0), 16000, subtype="PCM_16")
    data = bytearray(streamed.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(bytes(data))
    assert not audio.truncated(streamed)
    flac = tmp_path / "f.flac"
    sf.write(str(flac), tone(1.0), 16000, format="FLAC")
    assert not audio.truncated(flac) and not audio.truncated(tmp_path / "gone.wav")
