"""Speed-up of ``scaa detect --jobs N`` over ``--jobs 1`` on a folder of real clips.

Two cells are trained here on a small synthetic corpus with the project's own code path
(scaa.workflow.synthetic.synthetic_run): spectral + mlp and DistillMOS + svm (the issue's slow
case). Each then scores the same folder (the first ``--files`` eval clips of a corpus in
the ASVspoof 2019 LA layout) with ``python -m scaa.cli detect --jobs 1`` and with
``--jobs N``, as a user would: wall clock of the whole command, model loading included
(once per worker). The JSON lines of both runs must be identical apart from latency_ms,
in the same order; the script fails otherwise.

The speed-up is only meaningful on an otherwise idle machine with N free cores: the load
average before each run is printed with it.

    python bench/bench_detect_jobs.py --root ../shared/corpora/scaa-dev --files 120 --jobs 2

With a cheap cell (spectral features) scoring a file takes a few milliseconds and a run is
bound by start-up (imports and model load, seconds); ``--repeat`` copies the clips into a
bigger folder to show where parallel scoring starts to pay. ``--one-file K`` also times
``scaa detect`` on a single clip K times (the median is reported: start-up and exit).
``--baseline-rev REV`` measures the ``scaa`` package of git revision REV the same way,
interleaved with this tree's runs, as the "before" side.

    python bench/bench_detect_jobs.py --files 694 --jobs 2 --only spectral --rounds 5 --one-file 9 --baseline-rev 1daa69e
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]

CELLS = [
    ("spectral + mlp", {"type": "spectral"}, {"type": "mlp", "hidden": [32], "epochs": 5, "patience": 2}),
    ("distillmos + svm", {"type": "distillmos"}, {"type": "svm"}),
]


def cpu_of_children() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def detect(folder: Path, run_dir: Path, jobs: int, tree: Path = REPO, cpu: list | None = None,
           timings: dict | None = None) -> tuple[float, list[dict], float]:
    """Wall clock, lines and 1-min load before, of ``scaa detect`` run from ``tree``; its
    CPU time (all its processes) is appended to ``cpu``; with ``timings`` (this tree only)
    the run's own ``--timings`` line is stored in it."""
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    c0 = cpu_of_children()
    t0 = time.perf_counter()
    # run from / (python -m puts the working directory first on sys.path: not this repository)
    out = subprocess.run([sys.executable, "-m", "scaa.cli", "detect", str(folder), "--model", str(run_dir),
                          "--jobs", str(jobs), "--no-progress", *(["--timings"] if timings is not None else [])],
                         env=env, capture_output=True, text=True, cwd="/")
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(cpu_of_children() - c0)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"scaa detect failed ({out.returncode}): {out.stderr[-2000:]}")
    if timings is not None:
        timings.update(next(json.loads(x)["timings"] for x in out.stderr.splitlines() if x.startswith('{"timings"')))
    return wall, [json.loads(x) for x in out.stdout.splitlines()], load


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO.parent / "shared/corpora/scaa-dev"))
    p.add_argument("--files", type=int, default=120)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", choices=["spectral", "distillmos"])
    p.add_argument("--repeat", type=int, default=1,
                   help="copy the clips this many times under distinct names (a bigger folder)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run --jobs 1 and --jobs N this many times each (medians reported)")
    p.add_argument("--one-file", type=int, default=0, metavar="K",
                   help="also time `scaa detect` on one clip K times (median reported)")
    p.add_argument("--baseline-rev", help="git revision whose scaa/ is measured as the 'before' side")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    from scaa.workflow.synthetic import synthetic_run

    clips = sorted((Path(args.root) / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[:args.files]
    if not clips:
        raise SystemExit(f"no eval clips under {args.root}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("now", REPO)]
        if args.baseline_rev:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline_rev, "scaa"],
                                     check=True, capture_output=True).stdout
            (Path(tmp) / "before").mkdir()
            subprocess.run(["tar", "-x", "-C", str(Path(tmp) / "before")], input=archive, check=True)
            trees.insert(0, (f"before ({args.baseline_rev})", Path(tmp) / "before"))
        folder = Path(tmp) / "clips"
        folder.mkdir()
        for r in range(args.repeat):
            for c in clips:
                shutil.copy(c, folder / (c.name if r == 0 else f"r{r}_{c.name}"))
        for i, (name, enc, head) in enumerate(CELLS):
            if args.only and not enc["type"].startswith(args.only):
                continue
            run_dir, _ = synthetic_run(Path(tmp) / f"cell{i}", enc, head, n_per_split=(24, 16, 8))
            reference = None
            walls = {(code, jobs): [] for code, _ in trees for jobs in (1, args.jobs)}
            loads, last_timings = {}, {}
            for _ in range(args.rounds):  # each round runs every tree, so drift hits them alike
                for code, tree in trees:
                    w1, lines1, loads[code, 1] = detect(folder, run_dir, 1, tree)
                    last_timings[code] = {} if tree == REPO else None  # where the last run's time went
                    wn, linesn, loads[code, args.jobs] = detect(folder, run_dir, args.jobs, tree,
                                                                timings=last_timings[code])
                    strip = [[{k: v for k, v in line.items() if k != "latency_ms"} for line in ls]
                             for ls in (lines1, linesn)]
                    if strip[0] != strip[1]:
                        raise SystemExit(f"{name} ({code}): --jobs {args.jobs} lines differ from --jobs 1")
                    if reference is not None and strip[0] != reference:
                        raise SystemExit(f"{name}: the lines of {code} differ from those of {trees[0][0]}")
                    reference = strip[0]
                    walls[code, 1].append(w1)
                    walls[code, args.jobs].append(wn)
            for code, _ in trees:
                w1, wn = (statistics.median(walls[code, j]) for j in (1, args.jobs))
                results.append({"cell": name, "code": code, "files": len(clips) * args.repeat, "jobs": args.jobs,
                                "rounds": args.rounds, "wall_jobs1_s": w1, f"wall_jobs{args.jobs}_s": wn,
                                "speedup": w1 / wn, "walls_jobs1_s": walls[code, 1],
                                f"walls_jobs{args.jobs}_s": walls[code, args.jobs],
                                "load_before_jobs1": loads[code, 1], f"load_before_jobs{args.jobs}": loads[code, args.jobs],
                                "identical_lines": True, "timings": last_timings[code]})
            one = {code: [] for code, _ in trees}
            one_cpu = {code: [] for code, _ in trees}
            for _ in range(args.one_file):  # the trees interleaved, so drift hits both alike
                for code, tree in trees:
                    one[code].append(detect(folder / clips[0].name, run_dir, 1, tree, one_cpu[code])[0])
            for r in results[-len(trees):]:
                r["one_file_s"] = sorted(one[r["code"]]) if args.one_file else None
                r["one_file_cpu_s"] = sorted(one_cpu[r["code"]]) if args.one_file else None
    print(f"scaa detect on {len(clips)} eval clips of {args.root}"
          f"{f' (each copied {args.repeat} times: {len(clips) * args.repeat} files)' if args.repeat > 1 else ''}, 1 thread per worker, "
          f"{os.cpu_count()} CPUs, model loading included; median of {args.rounds} round(s)\n")
    print(f"| cell | code | --jobs 1 s | --jobs {args.jobs} s | speed-up | same lines, same order | "
          f"one file s, wall / CPU (median of {args.one_file}) | 1-min load before (1 / {args.jobs}) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        one_file = (f"{statistics.median(r['one_file_s']):.2f} / {statistics.median(r['one_file_cpu_s']):.2f}"
                    if r["one_file_s"] else "-")
        print(f"| {r['cell']} | {r['code']} | {r['wall_jobs1_s']:.1f} | {r[f'wall_jobs{args.jobs}_s']:.1f} | "
              f"{r['speedup']:.2f}x | yes | {one_file} | "
              f"{r['load_before_jobs1']:.1f} / {r[f'load_before_jobs{args.jobs}']:.1f} |")
    timed = [r for r in results if r["timings"]]
    if timed:
        print(f"\nWhere the last --jobs {args.jobs} run of this tree spent its time (`scaa detect --timings`, "
              "seconds from the start of its main):\n")
        print("| cell | encoder loaded | whole model loaded | files prepared meanwhile | files scored by this process | done |")
        print("|---|---|---|---|---|---|")
        for r in timed:
            t = r["timings"]
            print(f"| {r['cell']} | {t.get('encoder_loaded_s', '-')} | {t['model_loaded_s']} | {t['prepared_while_loading']} "
                  f"of {t['files']} | {t['scored_here']} | {t['done_s']} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
