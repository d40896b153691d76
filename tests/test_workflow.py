"""The workflow end to end on a tiny corpus the test writes itself (no shared data)."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import write_wav

REPO = Path(__file__).resolve().parents[1]


def make_corpus(root: Path, per_split: int = 24):
    la = root / "LA"
    for split, ext, letter in (("train", "trn", "T"), ("dev", "trl", "D"), ("eval", "trl", "E")):
        lines = []
        for i in range(per_split):
            name = f"LA_{letter}_{i:07d}"
            spoof = i % 2 == 1
            # spoofs: brighter tones, a learnable difference with some overlap
            write_wav(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{name}.flac", fmt="FLAC",
                      seconds=0.5 + 0.05 * (i % 7), freq=180 + 25 * (i % 9) + (120 if spoof else 0), seed=i)
            attack = ("A01" if split != "eval" else "A09") if spoof else "-"
            lines.append(f"S{letter}{i // 4:03d} {name} - {attack} {'spoof' if spoof else 'bonafide'}")
        if split == "eval":  # a clip that cannot be decoded: recorded, not fatal
            (la / "ASVspoof2019_LA_eval" / "flac" / "LA_E_9999999.flac").write_bytes(b"broken")
            lines.append("SE999 LA_E_9999999 - - bonafide")
        proto = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{split}.{ext}.txt"
        proto.parent.mkdir(parents=True, exist_ok=True)
        proto.write_text("\n".join(lines) + "\n")


def write_config(tmp_path: Path, extra: dict | None = None) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "asvspoof2019_la.yaml").read_text())
    cfg["datasets"] = {"tiny": {"type": "asvspoof2019_la", "root": str(tmp_path / "corpus")}}
    cfg["train_datasets"] = cfg["eval_datasets"] = ["tiny"]
    cfg["features"]["shards"] = 2
    cfg["evaluation"]["n_boot"] = 50
    cfg["evaluation"]["reference"]["train_dataset"] = "tiny"
    cfg["heads"]["logreg"]["folds"] = 3
    for k, v in (extra or {}).items():
        cfg[k] = v
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(tmp_path, cfg, *args):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_workflow_runs_to_summary_and_reruns_nothing(tmp_path):
    make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path)
    run = snakemake(tmp_path, cfg)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / "ablations" / "summary.csv")
    assert len(summary) == 2 and set(summary["encoder"]) == {"spectral", "spectral_lfcc"}
    assert summary["eer"].between(0, 1).all() and (summary["eer_lo"] <= summary["eer"]).all()
    assert (tmp_path / "results" / "ablations" / "summary.html").stat().st_size > 1000
    rejects = pd.read_csv(tmp_path / "results" / "manifest" / "tiny.rejects.csv")
    assert rejects["utt_id"].tolist() == ["LA_E_9999999"]
    html = (tmp_path / "results" / "ablations" / "summary.html").read_text()
    assert "LA_E_9999999" in html or "unreadable" in html
    # nothing changed -> nothing to do
    again = snakemake(tmp_path, cfg, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # a new head variant plans only its own cells (and the summary)
    extra = yaml.safe_load(cfg.read_text())
    extra["heads"]["logreg_c1"] = {"type": "logreg", "C": [1.0], "folds": 3}
    extra["ablation"]["head"] = ["logreg", "logreg_c1"]
    cfg2 = tmp_path / "config2.yaml"
    cfg2.write_text(yaml.safe_dump(extra))
    plan = snakemake(tmp_path, cfg2, "-n", "--quiet", "rules")
    out = plan.stdout + plan.stderr
    train_jobs = [line for line in out.splitlines() if line.strip().startswith("train_cell")]
    assert train_jobs and train_jobs[0].split()[-1] == "2", out
    assert "extract_features" not in out and "manifest" not in out
