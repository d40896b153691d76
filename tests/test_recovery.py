"""A run killed mid-training recovers with the README's two commands, and its metrics equal
those of a run that was never interrupted."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import REPO, make_corpus, spectral_cells, write_config

def _config(root: Path) -> Path:
    make_corpus(root / "corpus")
    cfg = write_config(root)
    spec = yaml.safe_load(cfg.read_text())
    # enough epochs that training is still going when the kill comes
    spec["heads"]["mlp"] = {"type": "mlp", "hidden": [64], "epochs": 150, "patience": 150, "lr": 0.001}
    spectral_cells(spec, heads=("mlp", "logreg"))
    cfg.write_text(yaml.safe_dump(spec))
    return cfg


def _cmd(root: Path, cfg: Path, *extra) -> list[str]:
    # the workflow profile (profiles/default, rerun-incomplete on) applies as in a plain `snakemake`
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
            "--configfile", str(cfg), "--cores", "2", *extra]


def _metrics(root: Path) -> dict:
    return {str(p.relative_to(root)): json.loads(p.read_text())
            for p in sorted((root / "results" / "runs").rglob("metrics/*.json"))}


@pytest.mark.slow
def test_kill_mid_training_then_unlock_and_rerun(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    cfg_clean, cfg_killed = _config(clean), _config(killed)
    done = subprocess.run(_cmd(clean, cfg_clean), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    expected = _metrics(clean)
    assert len(expected) == 2

    # start the same run, SIGKILL its whole process group while an mlp cell is training
    proc = subprocess.Popen(_cmd(killed, cfg_killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    runs = killed / "results" / "runs"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            training = [p for p in runs.rglob("mlp/frozen/seed*/train.log")] if runs.exists() else []
            if any(not (p.parent / "checksums.json").exists() for p in training):
                time.sleep(0.5)  # inside the epoch loop
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-training"
    assert not (killed / "results" / "ablations" / "summary.csv").exists()

    # the documented recovery: unlock, then the same command again
    unlock = subprocess.run(_cmd(killed, cfg_killed, "--unlock"), capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    again = subprocess.run(_cmd(killed, cfg_killed), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert _metrics(killed).keys() == expected.keys()
    assert _metrics(killed) == expected
