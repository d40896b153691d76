"""The workflow end to end on a tiny corpus the test writes itself (no shared data)."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import write_wav

REPO = Path(__file__).resolve().parents[1]


def make_corpus(root: Path, per_split: int = 24, shift: int = 0, broken: bool = True):
    """A tiny ASVspoof 2019 LA tree; ``shift`` moves every tone (another 'domain', same clip
    ids), ``broken`` adds an eval clip that cannot be decoded."""
    la = root / "LA"
    for split, ext, letter in (("train", "trn", "T"), ("dev", "trl", "D"), ("eval", "trl", "E")):
        lines = []
        for i in range(per_split):
            name = f"LA_{letter}_{i:07d}"
            spoof = i % 2 == 1
            # spoofs: brighter tones, a learnable difference with some overlap
            write_wav(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{name}.flac", fmt="FLAC",
                      seconds=0.5 + 0.05 * (i % 7), freq=shift + 180 + 25 * (i % 9) + (120 if spoof else 0), seed=i)
            attack = ("A01" if split != "eval" else "A09") if spoof else "-"
            lines.append(f"S{letter}{i // 4:03d} {name} - {attack} {'spoof' if spoof else 'bonafide'}")
        if split == "eval" and broken:  # a clip that cannot be decoded: recorded, not fatal
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
    cfg["heads"]["logreg"]["folds"] = 3
    cfg["evaluation"]["conditions"] = {}   # the robustness matrix has its own workflow test
    cfg["energy"] = {"enabled": False}
    for k, v in (extra or {}).items():
        cfg[k] = v
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def spectral_cells(spec: dict, heads=("logreg",), views=("none",), reference: tuple = ("none", "logreg")) -> None:
    """Limit a config spec to spectral / ce / frozen / seed-0 cells over ``heads`` x ``views``,
    with the (view, head) cell ``reference`` as the reference of paired comparisons."""
    spec["ablation"] = {"encoder": ["spectral"], "view": list(views), "loss": ["ce"], "head": list(heads),
                        "freeze": ["frozen"], "seed": [0]}
    view, head = reference
    spec["evaluation"]["reference"] = {"train_dataset": "tiny", "encoder": "spectral", "view": view,
                                       "loss": "ce", "head": head, "freeze": "frozen", "seed": 0}


def snakemake(tmp_path, cfg, *args, env=None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", *args]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=full_env)


@pytest.mark.slow
def test_workflow_runs_to_summary_and_adding_a_loss_runs_only_new_cells(tmp_path):
    make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path, {
        "views": {"none": {"type": "none"}, "lowpass": {"type": "lowpass", "cutoff_hz": 2000}},
        "view_sets": {"none": ["none"], "aug": ["none", "lowpass"]},
    })
    spec = yaml.safe_load(cfg.read_text())
    spec["heads"]["mlp"] = {"type": "mlp", "hidden": [16], "epochs": 5, "patience": 3, "lr": 0.01}
    spectral_cells(spec, heads=("logreg", "mlp"), views=("none", "aug"), reference=("aug", "mlp"))
    cfg.write_text(yaml.safe_dump(spec))
    run = snakemake(tmp_path, cfg)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / "ablations" / "summary.csv")
    assert len(summary) == 4 and set(summary["head"]) == {"logreg", "mlp"}
    assert summary["eer"].between(0, 1).all() and (summary["eer_lo"] <= summary["eer"]).all()
    assert summary["d_eer"].notna().all() and summary["is_reference"].sum() == 1
    html = (tmp_path / "results" / "ablations" / "summary.html").read_text()
    assert "unreadable" in html  # the broken eval clip is reported, not silently dropped
    rejects = pd.read_csv(tmp_path / "results" / "manifest" / "tiny.rejects.csv")
    assert rejects["utt_id"].tolist() == ["LA_E_9999999"]
    run_dir = tmp_path / "results/runs/tiny/spectral/aug/ce/mlp/frozen/seed0"
    assert {"model.safetensors", "model.json", "config.yaml", "train_log.csv", "dev_scores.parquet"} <= \
        {p.name for p in run_dir.iterdir()}
    assert len(pd.read_csv(run_dir / "train_log.csv")) >= 1
    job_log = (run_dir / "train.log").read_text()  # one progress line per epoch in the job's log
    assert job_log.count("mlp head epoch ") == len(pd.read_csv(run_dir / "train_log.csv"))
    assert "mlp head epoch 1/5: train loss" in job_log and "ETA <= " in job_log
    # nothing changed -> nothing to do
    again = snakemake(tmp_path, cfg, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # adding a loss from a plugin module is one registry entry plus config lines, and
    # plans only the new cell (mlp x aug x focal) and the summary: no re-extraction
    spec["plugins"] = ["my_loss"]
    spec["losses"]["focal"] = {"type": "focal", "gamma": 2.0}
    spec["ablation"]["loss"] = ["ce", "focal"]
    cfg2 = tmp_path / "config2.yaml"
    cfg2.write_text(yaml.safe_dump(spec))
    env = {"PYTHONPATH": str(REPO / "examples" / "plugins")}
    plan = snakemake(tmp_path, cfg2, "-n", "--quiet", "rules", env=env)
    out = plan.stdout + plan.stderr
    rows = [line.split() for line in out.splitlines()]
    jobs = {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] != "total"
            and r[0] != "all"}
    assert jobs == {"train_cell": 2, "score_dataset": 2, "evaluate_cell": 2, "robustness_cell": 2,
                    "robustness_table": 1, "summary": 1}, out
    # the cell runs for real
    done = snakemake(tmp_path, cfg2, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / "ablations" / "summary.csv")
    assert set(summary["loss"]) == {"ce", "focal"} and len(summary) == 6


@pytest.mark.slow
def test_shard_size_sets_the_shard_count_from_the_manifest(tmp_path):
    """features.shard_size: 72 readable clips at 30 per shard -> 3 shards for the 'none'
    view, decided once the manifest exists; a second run has nothing to do."""
    make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path)
    spec = yaml.safe_load(cfg.read_text())
    spec["features"]["shard_size"] = 30
    spectral_cells(spec)
    cfg.write_text(yaml.safe_dump(spec))
    run = snakemake(tmp_path, cfg)
    assert run.returncode == 0, run.stderr[-4000:]
    shards = sorted(p.name for p in (tmp_path / "results/features/tiny/spectral/none/frozen").glob("*.npz"))
    assert shards == [f"shard{i}-of-3.npz" for i in (1, 2, 3)]
    summary = pd.read_csv(tmp_path / "results" / "ablations" / "summary.csv")
    assert len(summary) == 1 and summary["eer"].between(0, 1).all()
    again = snakemake(tmp_path, cfg, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_adding_a_resynthesis_family_and_a_fusion_plans_only_new_cells(tmp_path):
    """Vocoded spoofs and fusion cells are grid additions like a new loss: existing cells
    keep their paths and specs; the new ones run end to end into the summary."""
    make_corpus(tmp_path / "corpus")
    cfg = write_config(tmp_path)
    spec = yaml.safe_load(cfg.read_text())
    spec["heads"]["mlp"] = {"type": "mlp", "hidden": [16], "epochs": 4, "patience": 2, "lr": 0.01}
    spectral_cells(spec, heads=("logreg", "mlp"))
    cfg.write_text(yaml.safe_dump(spec))
    assert snakemake(tmp_path, cfg).returncode == 0
    spec["resynthesizers"] = {"opus": {"type": "opus", "bit_rate": 8000}}
    spec["ablation"]["resynth"] = ["none", "opus"]
    spec["fusions"] = {"both": {"members": [{"head": "logreg"}, {"head": "mlp"}]}}
    cfg2 = tmp_path / "config2.yaml"
    cfg2.write_text(yaml.safe_dump(spec))
    plan = snakemake(tmp_path, cfg2, "-n", "--quiet", "rules")
    out = plan.stdout + plan.stderr
    rows = [line.split() for line in out.splitlines()]
    jobs = {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] not in ("total", "all")}
    # the new cells also get their error lists, and the robustness table gains their rows
    assert jobs == {"generate_resynth": 2, "extract_resynth": 2, "train_cell": 2, "score_dataset": 2,
                    "evaluate_cell": 2, "fuse_dev": 1, "fuse_scores": 1, "evaluate_fusion": 1,
                    "robustness_cell": 2, "robustness_table": 1, "summary": 1}, out
    done = snakemake(tmp_path, cfg2)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / "ablations" / "summary.csv")
    assert set(summary["resynth"]) == {"none", "opus"} and "fusion" in set(summary["encoder"])
    voc = summary[summary["resynth"] == "opus"]
    assert (voc["generated_spoofs"] == 12).all()  # one per bona fide train clip, none for dev/eval
    info = yaml.safe_load((tmp_path / "results/runs/tiny+opus/spectral/none/ce/mlp/frozen/seed0/config.yaml").read_text())
    assert info["resynth"] == {"opus": {"type": "opus", "bit_rate": 8000}}
    assert (tmp_path / "results" / "ablations" / "effects.csv").exists()
    fused = yaml.safe_load((tmp_path / "results/fusions/both/seed0/fusion.json").read_text())
    assert fused["fitted_on"] == "dev" and len(fused["members"]) == 2


@pytest.mark.slow
def test_jobs_import_the_scaa_package_of_the_checkout_that_runs_them(tmp_path):
    """An installed (editable) scaa may point at another checkout: the planning process and
    script jobs must not use it (Snakemake puts the Snakefile's folder on their path)."""
    import shutil
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("Snakefile", "environment.yml", "rules", "workflow", "config", "scaa"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, checkout / part)
    marker = tmp_path / "imported_from.txt"
    with open(checkout / "scaa" / "__init__.py", "a") as fh:
        fh.write("\nimport os as _os\nopen(_os.environ['SCAA_IMPORT_MARKER'], 'a').write(__file__ + '\\n')\n")
    make_corpus(tmp_path / "corpus", per_split=4)
    cfg = write_config(tmp_path)
    spec = yaml.safe_load(cfg.read_text())
    spectral_cells(spec)
    cfg.write_text(yaml.safe_dump(spec))
    workdir = tmp_path / "elsewhere"   # results kept apart from the code, as with --directory
    workdir.mkdir()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(cfg), "--cores", "1", "results/manifest/tiny.parquet"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "SCAA_IMPORT_MARKER": str(marker)})
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert (workdir / "results" / "manifest" / "tiny.parquet").exists()
    imported = marker.read_text().split()
    # the planning process and the manifest's script job both import the copy
    assert len(imported) >= 2 and set(imported) == {str(checkout / "scaa" / "__init__.py")}, imported
