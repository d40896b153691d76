"""Latency of the torch/numpy runtime vs the exported ONNX graph (onnxruntime), per cell.

For each run dir (--model, repeatable; default: three cells trained here on a synthetic
corpus with the project's own code path: LFCC stats + mlp, LFCC frames + lcnn, spectral +
logreg), export to ONNX (parity-checked), then time ``raw_scores`` on one seeded 4 s clip
at 1 thread: ``--warmup`` untimed, ``--repeats`` timed calls each; p50/p95 in ms.
Model loading is excluded, as in the benchmark rule.

Run: python bench/bench_onnx.py [--model RUN_DIR ...] [--repeats 100] [--out bench/results/onnx.json]
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

from scaa.synthetic import synthetic_clip, synthetic_run  # noqa: E402
from scaa.detector import Detector  # noqa: E402
from scaa.threads import limit_threads  # noqa: E402
from scaa.export import export_onnx  # noqa: E402
from scaa.onnx_detector import OnnxDetector  # noqa: E402

CELLS = [
    ("lfcc stats + mlp", {"type": "spectral", "lfcc": True, "stats": ["mean", "std"]},
     {"type": "mlp", "hidden": [128], "epochs": 5, "patience": 2}),
    ("lfcc frames + lcnn", {"type": "spectral", "output": "frames"}, {"type": "lcnn", "epochs": 2, "patience": 1}),
    ("spectral + logreg", {"type": "spectral"}, {"type": "logreg", "C": [1.0], "folds": 3}),
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
    ap.add_argument("--out")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    limit_threads(1)
    runs = [(m, m) for m in args.model]
    if not runs:
        tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
        runs = [(name, synthetic_run(tmp / str(i), enc, head, n_per_split=(24, 16, 8))[0])
                for i, (name, enc, head) in enumerate(CELLS)]
    clip = synthetic_clip(4.0, 0)
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
    print("| cell | torch/numpy p50 ms | p95 ms | onnxruntime p50 ms | p95 ms | max abs score diff | graph size |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['cell']} | {r['torch']['p50_ms']} | {r['torch']['p95_ms']} | {r['onnx']['p50_ms']} | "
              f"{r['onnx']['p95_ms']} | {r['parity_max_abs_diff']:.1e} | {r['onnx_bytes'] / 1024:.0f} KiB |")
    print(f"\n4 s clip, 1 thread, {args.warmup} warm-up + {args.repeats} timed calls of raw_scores (load excluded)")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
