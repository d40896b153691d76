"""Wall time of the whole demo workflow, a baseline revision against this one, same day.

Each side is a fresh ``git clone`` of this repository (``--baseline-rev REV``, then the
current commit) in a temporary folder, run from scratch with ``snakemake --cores N`` (the
README's first command, demo corpus build included) and ``PYTHONPATH`` set to that clone,
so every job imports the clone's own ``scaa``. The runs go one after the other, so run this
on an otherwise idle machine. ``--after-config`` adds a config file to the current side's
run: the default turns off what the baseline did not do (channel conditions, energy
tracking), so both sides score the same cells on clean audio; the current side still
writes its per-cell error lists.

    python bench/bench_workflow.py --baseline-rev c1912bf --out bench/results/workflow.json \
        | tee bench/results/workflow.md
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAME_WORK = "evaluation:\n  conditions: null\nenergy:\n  enabled: false\n"


def run_side(rev: str, cores: str, extra_config: str | None, tmp: Path) -> dict:
    clone = tmp / rev[:12]
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    cmd = [sys.executable, "-m", "snakemake", "--cores", cores]
    if extra_config is not None:
        (clone / "bench_extra.yaml").write_text(extra_config)
        cmd += ["--configfile", "config/config.yaml", "bench_extra.yaml"]
    env = {**os.environ, "PYTHONPATH": str(clone), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{rev}: snakemake failed ({out.returncode}):\n{out.stderr[-3000:]}")
    done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", out.stderr)
    summary = pd.read_csv(clone / "results" / "ablations" / "summary.csv")
    return {"rev": rev, "wall_s": wall, "jobs": int(done[-1][1]) if done else None,
            "cells": int(len(summary.drop_duplicates("run_dir"))) if "run_dir" in summary else None,
            "summary": summary}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-rev", required=True)
    p.add_argument("--cores", default="all")
    p.add_argument("--after-config", default=None,
                   help="YAML file merged over config/config.yaml on the current side (default: clean audio, no energy)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    extra = Path(args.after_config).read_text() if args.after_config else SAME_WORK
    with tempfile.TemporaryDirectory() as tmp:
        before = run_side(args.baseline_rev, args.cores, None, Path(tmp))
        after = run_side(head, args.cores, extra, Path(tmp))
    keys = ["encoder", "view", "loss", "head", "seed", "eval_dataset"]
    m = after["summary"].merge(before["summary"], on=keys, suffixes=("_after", "_before"))
    same = float((m["eer_after"] - m["eer_before"]).abs().max()) if len(m) else float("nan")
    print(f"`snakemake --cores {args.cores}` from scratch on the demo corpus, {os.cpu_count()} CPUs, "
          f"one run after the other\n")
    print("| code | jobs | cells | wall |")
    print("|---|---|---|---|")
    for side, label in ((before, f"before ({args.baseline_rev})"), (after, f"now ({head[:7]})")):
        print(f"| {label} | {side['jobs']} | {side['cells']} | {side['wall_s'] / 60:.1f} min ({side['wall_s']:.0f} s) |")
    print(f"\nspeed-up {before['wall_s'] / after['wall_s']:.2f}x; rows in both summaries: {len(m)}, "
          f"largest eval-EER difference between them {same:.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "baseline_rev": args.baseline_rev, "head": head, "after_config": extra,
            "before": {k: v for k, v in before.items() if k != "summary"},
            "after": {k: v for k, v in after.items() if k != "summary"},
            "rows_in_both": len(m), "max_eer_difference": same}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
