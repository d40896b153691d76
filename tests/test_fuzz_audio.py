"""Fuzzing the audio loader and `scaa detect` with random, truncated and damaged files:
every one ends as a score or an error line, never a traceback or a hang."""
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from scaa.dsp import audio

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".mp4")


def _encoded(fmt: str, wave: np.ndarray, sr: int, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def fuzz_files(folder: Path, seed: int = 7) -> list[Path]:
    """About 300 files: random bytes, truncated and bit-damaged WAV/FLAC, and valid files
    with random rates, channel counts, lengths and contents (NaN, inf, silence, clipping)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    good = {"WAV": _encoded("WAV", tone(1.0), 16000), "FLAC": _encoded("FLAC", tone(1.0), 16000)}
    blobs = []
    for _ in range(80):  # random bytes under every suffix, a few behind a real magic number
        data = rng.bytes(int(rng.integers(0, 4096)))
        if rng.random() < 0.3:
            data = rng.choice([b"RIFF", b"fLaC", b"OggS", b"ID3"]) + data
        blobs.append((rng.choice(SUFFIXES), data))
    for _ in range(80):  # truncated at a random point, header included
        fmt = str(rng.choice(list(good)))
        blobs.append((f".{fmt.lower()}", good[fmt][: int(rng.integers(0, len(good[fmt])))]))
    for _ in range(60):  # a few random bytes overwritten, mostly in the header
        fmt = str(rng.choice(list(good)))
        data = bytearray(good[fmt])
        for _ in range(int(rng.integers(1, 8))):
            pos = int(rng.integers(0, 64 if rng.random() < 0.7 else len(data)))
            data[pos] = int(rng.integers(0, 256))
        blobs.append((f".{fmt.lower()}", bytes(data)))
    for _ in range(80):  # valid headers around unusual contents
        sr = int(rng.choice([8000, 11025, 16000, 22050, 44100, 48000, 96000]))
        n = int(rng.choice([0, 1, 7, 100, sr // 3, sr, 3 * sr]))
        ch = int(rng.integers(1, 4))
        kind = rng.choice(["noise", "zeros", "nan", "inf", "loud"])
        wave = rng.standard_normal((n, ch)).astype(np.float32) * 0.1
        if kind == "zeros":
            wave[:] = 0
        elif kind == "nan" and n:
            wave[rng.integers(0, n)] = np.nan
        elif kind == "inf" and n:
            wave[rng.integers(0, n)] = np.inf
        elif kind == "loud":
            wave *= 100
        fmt, subtype, suffix = (("WAV", "FLOAT", ".wav") if kind in ("nan", "inf") or rng.random() < 0.5
                                else ("FLAC", None, ".flac"))
        if fmt == "FLAC":
            wave = np.clip(wave, -1, 1)
        blobs.append((suffix, _encoded(fmt, wave, sr, subtype)))
    paths = []
    for i, (suffix, data) in enumerate(blobs):
        path = folder / f"f{i:03d}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_the_loader_returns_audio_or_an_audio_error(tmp_path):
    paths = fuzz_files(tmp_path / "fuzz")
    assert len(paths) >= 300
    outcomes, t0 = {}, time.monotonic()
    for path in paths:
        try:
            wave = audio.load(path, max_seconds=600)
        except audio.AudioError as err:
            outcomes[err.reason] = outcomes.get(err.reason, 0) + 1
            continue
        except Exception as err:  # anything else is a crash the loader should have named
            pytest.fail(f"{path.name}: {type(err).__name__}: {err}")
        assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
        assert wave.size >= audio.MIN_SECONDS * audio.SAMPLE_RATE
        outcomes["ok"] = outcomes.get("ok", 0) + 1
    assert time.monotonic() - t0 < 120, "the loader is too slow on garbage"
    # the corpus exercises both outcomes and several reasons
    assert outcomes.get("ok", 0) >= 10 and {"unreadable", "too_short", "non_finite"} <= set(outcomes), outcomes


@pytest.mark.slow
def test_detect_answers_every_file_with_one_line(tmp_path, logreg_run):
    run_dir, _ = logreg_run
    paths = fuzz_files(tmp_path / "fuzz")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "scaa.cli", "detect", str(tmp_path / "fuzz"), "--model",
                           str(run_dir)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert sorted(Path(x["file"]).name for x in lines) == sorted(p.name for p in paths)
    for line in lines:
        assert ("score" in line) != ("error" in line), line
        if "score" in line:
            assert np.isfinite(line["score"]) and 0 <= line["p_spoof"] <= 1
    assert proc.returncode == (1 if any("error" in x for x in lines) else 0)
