"""Detector cost against the issue's goals, at 1 thread on one 4 s clip (model loading excluded):

- spectral features + mlp head, end to end: p50 latency under 20 ms;
- wav2vec2 base (random weights: transformers' Wav2Vec2Config() defaults are the base
  size, 95M parameters; HF_HUB_OFFLINE=1) + mlp head: p50 latency under 400 ms;
- peak RSS of a fresh process holding only that model, for both.

Each cell is trained here on a small synthetic corpus with the project's own code path
(scaa.benchmark.synthetic_run), then measured by scaa.benchmark.benchmark_cell (fresh
subprocess per variant; int8 dynamic quantisation of the torch Linear layers too, with
its EER change on the synthetic eval clips — a smoke figure, not a result).

Run: python bench/bench_detect.py [--repeats 50] [--warmup 5] [--out bench_detect.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from scaa.benchmark import benchmark_cell, synthetic_run  # noqa: E402

MLP = {"type": "mlp", "hidden": [128], "epochs": 10, "patience": 3}
CASES = [
    ("spectral + mlp", {"type": "spectral"}, 20.0, (24, 16, 16)),
    ("wav2vec2 base (random init) + mlp", {"type": "wav2vec2", "random_init_config": {}}, 400.0, (12, 8, 8)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["spectral", "wav2vec2"])
    ap.add_argument("--out", help="write all figures as JSON here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, enc, goal_ms, sizes) in enumerate(CASES):
            if args.only and not enc["type"].startswith(args.only):
                continue
            run_dir, manifest = synthetic_run(f"{tmp}/{i}", enc, MLP, seed=args.seed, n_per_split=sizes)
            res = benchmark_cell(run_dir, None, run_dir / "scores" / "synthetic.parquet", manifest,
                                 threads=1, warmup=args.warmup, repeats=args.repeats, seed=args.seed)
            results[name] = res
            lat, q = res["latency_ms"], res["int8"]
            q_lat = f"{q['latency_ms']['p50']:.1f}" if q.get("applies") else "n/a"
            q_eer = q.get("eer", {}).get("delta_eer")
            rows.append(f"| {name} | {lat['p50']:.2f} | {lat['p95']:.2f} | {res['rtf']:.4f} | "
                        f"{res['peak_rss_mb']:.0f} ({res['baseline_rss_mb']:.0f}) | {res['params']['total']:,} | "
                        f"{q_lat} | {'n/a' if q_eer is None else f'{q_eer:+.3f}'} | "
                        f"< {goal_ms:.0f} ms: {'PASS' if lat['p50'] < goal_ms else 'FAIL'} |")
    print(f"1 thread, 4 s clip, {args.repeats} timed runs after {args.warmup} warm-up; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| detector | p50 ms | p95 ms | RTF | peak RSS MB (baseline) | params | int8 p50 ms | int8 ΔEER | goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nbaseline = RSS of the fresh process after importing numpy/torch/scaa, before loading the model;"
          " int8 ΔEER on the synthetic eval clips (smoke check only).")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
