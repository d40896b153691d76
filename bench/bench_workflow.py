"""Wall time of a whole workflow run, a baseline revision against this one, same day.

Each side is a fresh ``git clone`` of this repository (``--baseline-rev REV``, then the
current commit) in a temporary folder, run from scratch with ``snakemake --cores N`` (the
README's first command, demo corpus build included) and ``PYTHONPATH`` set to that clone,
so every job imports the clone's own ``scaa``. The runs go one after the other, so run this
on an otherwise idle machine.

``--config FILE`` (repeatable, merged in order) is merged over config/config.yaml on both
sides (relative dataset roots in it are resolved against this checkout, as a run from
here would). Without it,
``--after-config`` adds a config file to the current side's run only: its default turns
off what an old baseline did not do (channel conditions, energy tracking), so both sides
score the same cells on clean audio; the current side still writes its error lists.

    python bench/bench_workflow.py --baseline-rev c1912bf --out bench/results/workflow.json \
        | tee bench/results/workflow.md
    python bench/bench_workflow.py --baseline-rev 817b041 --config config/asvspoof2019_la.yaml \
        --config bench/configs/study_spectral_only.yaml --out bench/results/workflow_study_spectral.json \
        | tee bench/results/workflow_study_spectral.md
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


def absolute_roots(text: str) -> str:
    """The config with every relative ``datasets.<name>.root`` made absolute against REPO."""
    import yaml

    tree = yaml.safe_load(text) or {}
    for spec in (tree.get("datasets") or {}).values():
        root = spec.get("root") if isinstance(spec, dict) else None
        if root and not os.path.isabs(root) and not str(root).startswith("results/"):
            spec["root"] = str((REPO / root).resolve())
    return yaml.safe_dump(tree, sort_keys=False)


def run_side(rev: str, cores: str, extra_config: list[str] | None, tmp: Path) -> dict:
    clone = tmp / rev[:12]
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    cmd = [sys.executable, "-m", "snakemake", "--cores", cores]
    if extra_config is not None:
        names = []
        for i, text in enumerate(extra_config):
            names.append(f"bench_extra{i}.yaml")
            (clone / names[-1]).write_text(text)
        cmd += ["--configfile", "config/config.yaml", *names]
    env = {**os.environ, "PYTHONPATH": str(clone), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{rev}: snakemake failed ({out.returncode}):\n{out.stderr[-3000:]}")
    done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", out.stderr)
    summary = pd.read_csv(clone / "results" / "ablations" / "summary.csv")
    robustness = clone / "results" / "ablations" / "robustness.csv"
    return {"rev": rev, "wall_s": wall, "jobs": int(done[-1][1]) if done else None,
            "cells": int(len(summary.drop_duplicates("run_dir"))) if "run_dir" in summary else None,
            "summary": summary, "robustness": pd.read_csv(robustness) if robustness.exists() else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-rev", required=True)
    p.add_argument("--cores", default="all")
    p.add_argument("--config", action="append", default=[],
                   help="YAML file merged over config/config.yaml on both sides (repeatable, in order)")
    p.add_argument("--after-config", default=None,
                   help="without --config: YAML file merged over config/config.yaml on the current side "
                        "(default: clean audio, no energy)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    if args.config:
        shared = [absolute_roots(Path(c).read_text()) for c in args.config]
        before_extra, extra = shared, shared
    else:
        before_extra, extra = None, [Path(args.after_config).read_text() if args.after_config else SAME_WORK]
    with tempfile.TemporaryDirectory() as tmp:
        before = run_side(args.baseline_rev, args.cores, before_extra, Path(tmp))
        after = run_side(head, args.cores, extra, Path(tmp))
    keys = ["train_dataset", "encoder", "view", "loss", "head", "freeze", "seed", "eval_dataset"]
    keys = [k for k in keys if k in after["summary"] and k in before["summary"]]
    m = after["summary"].merge(before["summary"], on=keys, suffixes=("_after", "_before"))
    same = float((m["eer_after"] - m["eer_before"]).abs().max()) if len(m) else float("nan")
    rob_rows, rob_same = 0, float("nan")
    if before["robustness"] is not None and after["robustness"] is not None:
        rk = [k for k in keys + ["condition"] if k in after["robustness"] and k in before["robustness"]]
        r = after["robustness"].merge(before["robustness"], on=rk, suffixes=("_after", "_before"))
        rob_rows = len(r)
        if rob_rows:
            rob_same = float(max((r["eer_after"] - r["eer_before"]).abs().max(skipna=True),
                                 (r["d_eer_after"] - r["d_eer_before"]).abs().max(skipna=True)))
    what = (f"with {' then '.join(args.config)} merged over config/config.yaml on both sides" if args.config
            else "on the demo corpus")
    print(f"`snakemake --cores {args.cores}` from scratch {what}, {os.cpu_count()} CPUs, "
          f"one run after the other\n")
    print("| code | jobs | cells | wall |")
    print("|---|---|---|---|")
    for side, label in ((before, f"before ({args.baseline_rev})"), (after, f"now ({head[:7]})")):
        print(f"| {label} | {side['jobs']} | {side['cells']} | {side['wall_s'] / 60:.1f} min ({side['wall_s']:.0f} s) |")
    print(f"\nspeed-up {before['wall_s'] / after['wall_s']:.2f}x; rows in both summaries: {len(m)}, "
          f"largest eval-EER difference between them {same:.4f}")
    if rob_rows:
        print(f"rows in both robustness tables: {rob_rows}, largest EER or ΔEER difference between them "
              f"{rob_same:.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "baseline_rev": args.baseline_rev, "head": head, "before_config": before_extra, "after_config": extra,
            "before": {k: v for k, v in before.items() if k not in ("summary", "robustness")},
            "after": {k: v for k, v in after.items() if k not in ("summary", "robustness")},
            "rows_in_both": len(m), "max_eer_difference": same,
            "robustness_rows_in_both": rob_rows, "max_robustness_difference": rob_same}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
