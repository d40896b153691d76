"""The SLURM profile plans the workflow (dry run: no cluster needed) in a scratch copy."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"


def _rules() -> set[str]:
    names = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        names |= set(re.findall(r"^(?:rule|checkpoint) (\w+):", smk.read_text(), flags=re.M))
    return names


def test_profile_names_real_rules():
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm"
    rules = _rules()
    for key in ("set-resources", "set-threads"):
        unknown = set(prof[key]) - rules
        assert not unknown, f"{key} names rules that do not exist: {unknown}"
    for heavy in ("extract_features", "train_cell", "score_dataset", "evaluate_cell", "summary"):
        res = prof["set-resources"][heavy]
        assert res["mem_mb"] > 0 and res["runtime"] > 0
    assert prof["default-resources"]["mem_mb"] > 0 and prof["default-resources"]["runtime"] > 0


def test_dry_run_plans_with_slurm_profile(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="snakemake-executor-plugin-slurm is not installed (pip install it to run this)")
    if shutil.which("snakemake") is None and not (Path(sys.executable).parent / "snakemake").exists():
        pytest.skip("snakemake is not installed")
    for item in ("Snakefile", "rules", "config", "workflow", "profiles", "environment.yml"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, tmp_path / item)
        elif src.exists():
            shutil.copy(src, tmp_path / item)
    exe = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    proc = subprocess.run([exe, "-n", "--profile", "profiles/slurm"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "This was a dry-run" in out and "train_cell" in out
    assert not (tmp_path / "results").exists()  # planning wrote nothing
