import contextlib
import os

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tone(seconds=1.0, freq=220.0, sr=16000, amp=0.3, seed=0):
    """A voiced-ish test signal: a harmonic tone plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6))
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_wav(path, wave=None, sr=16000, fmt=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(**kw) if wave is None else wave, sr, format=fmt)
    return path


def noise_waves(seed=0, lengths=(16000, 9000, 12345)):
    """Clips of different lengths, so SSL encoders see a padded batch."""
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


def tiny_ssl(cls, extra=None, **kw):
    """An SSL encoder of ``cls`` with a few thousand random weights (same code path as base)."""
    from scaa.encoders.ssl import TINY_CONFIG

    return cls(random_init_config={**TINY_CONFIG, **(extra or {})}, **kw)


@pytest.fixture
def make_wav():
    return write_wav


@pytest.fixture
def la_corpus(tmp_path):
    """A tiny ASVspoof 2019 LA layout: 6 clips per split, both classes."""
    root = tmp_path / "LA19"
    la = root / "LA"
    names = {"train": ("trn", "T"), "dev": ("trl", "D"), "eval": ("trl", "E")}
    for split, (ext, letter) in names.items():
        lines = []
        for i in range(6):
            name = f"LA_{letter}_{i:07d}"
            spoof = i % 2 == 1
            write_wav(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{name}.flac", fmt="FLAC",
                      freq=150 + 40 * i + (300 if spoof else 0), seed=i)
            lines.append(f"LA_{i // 2:04d} {name} - {'A01' if spoof else '-'} {'spoof' if spoof else 'bonafide'}")
        proto = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{split}.{ext}.txt"
        proto.parent.mkdir(parents=True, exist_ok=True)
        proto.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def serve_run(tmp_path_factory):
    """A small trained cell (LFCC stats + mlp) for the server, browser and ONNX tests: (run_dir, manifest)."""
    import warnings

    from scaa.workflow.synthetic import synthetic_run

    warnings.simplefilter("ignore")
    return synthetic_run(tmp_path_factory.mktemp("serve"), {"type": "spectral", "lfcc": True, "stats": ["mean", "std"]},
                         {"type": "mlp", "hidden": [16], "epochs": 4, "patience": 2}, n_per_split=(12, 10, 6))


@pytest.fixture(scope="session")
def logreg_run(tmp_path_factory):
    """(run_dir, manifest_path) of a spectral + logreg cell trained on a small synthetic
    corpus; shared read-only: tests that change files work on a copy."""
    import warnings

    from scaa.workflow.synthetic import synthetic_run

    warnings.simplefilter("ignore")
    return synthetic_run(tmp_path_factory.mktemp("logreg_run"), {"type": "spectral"},
                         {"type": "logreg", "C": [1.0], "folds": 3}, n_per_split=(12, 10, 8))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(args, cwd, log_path):
    """``scaa serve ARGS --port P`` started as a user would start it from ``cwd``; yields
    (base URL, log path) once /healthz answers, and stops it afterwards."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    root = Path(__file__).resolve().parents[1]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(log_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scaa.cli", "serve", *map(str, args), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail(f"scaa serve exited {proc.returncode}:\n{Path(log_path).read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"scaa serve did not answer /healthz:\n{Path(log_path).read_text()}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def served(serve_run):
    """The serving tests' detector: (Detector, run_dir, eval clip paths), loaded once per module."""
    import pandas as pd

    from scaa.inference.detector import Detector

    run_dir, manifest = serve_run
    det = Detector.from_run(run_dir)
    det.warm_up()
    return det, str(run_dir), pd.read_parquet(manifest).path.tolist()
