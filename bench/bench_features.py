"""Feature-extraction benchmark: spectral clips/s/core and wav2vec2-base (random weights) speed.

    python bench/bench_features.py [--quick] [--out results/bench_features.json]

Each part runs in its own subprocess so its peak RSS (ru_maxrss) is its own. wav2vec2
uses random weights of the *base* architecture: speed does not depend on the values.
Compared on the same clips in the same run: a naive loop (one clip at a time through the
transformers forward, float32, no_grad) against length-bucketed batches in inference_mode,
plus bf16, int8 dynamic quantisation and the two combined (int8 matmuls in the transformer,
bf16 convolutions). FLOPs are counted with FlopCounterMode. The
bucketed rows go through scaa's encoder (its conv front end, scaa/encoders/conv_front_end.py,
and in bf16 its packed-weight transformer layers, scaa/encoders/fast_layers.py); the naive
row through transformers' own forward.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # numpy single-threaded; torch threads are set explicitly
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from scaa.dsp.audio import SAMPLE_RATE as SR  # noqa: E402
BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synth_clip(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Harmonic tone with vibrato, amplitude modulation and noise (speech-like spectrum)."""
    t = np.arange(int(SR * seconds)) / SR
    f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.05 * rng.standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def clip_lengths(n: int, lo: float, hi: float, seed: int = 0) -> list[float]:
    return [round(float(s), 3) for s in np.random.default_rng(seed).uniform(lo, hi, size=n)]


# ---- parts (each runs in a subprocess) -----------------------------------------------
def part_spectral(args) -> dict:
    import soundfile as sf

    from scaa.dsp.audio import load
    from scaa.encoders.spectral import SpectralEncoder

    rng = np.random.default_rng(0)
    enc = SpectralEncoder()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.n_spectral):
            p = Path(tmp) / f"clip{i}.flac"
            sf.write(p, synth_clip(4.0, rng), SR, subtype="PCM_16")
            paths.append(p)
        enc.encode_one(load(paths[0]))  # warm caches (mel basis, window)
        t0 = time.perf_counter()
        feats = [enc.encode_one(load(p)) for p in paths]
        elapsed = time.perf_counter() - t0
    assert all(np.isfinite(f).all() for f in feats)
    return {"part": "spectral", "clips": len(paths), "clip_seconds": 4.0, "seconds": elapsed,
            "clips_per_s_per_core": len(paths) / elapsed, "x_real_time": 4.0 * len(paths) / elapsed,
            "peak_rss_mb": peak_rss_mb()}


def _clips(args):
    rng = np.random.default_rng(1)
    waves = [synth_clip(s, rng) for s in clip_lengths(args.n_clips, 1.0, 6.0)]
    if args.shard is None:
        return waves
    # deal clips ranked by length round-robin, as the workflow's sharding does
    i, n = (int(v) for v in args.shard.split("/"))
    order = np.argsort([-w.size for w in waves], kind="stable")
    return [waves[j] for j in order[i::n]]


def _wait_for_go(args) -> None:
    """Concurrent shards: say ready, then start timing only when every shard is ready."""
    if not args.sync_dir:
        return
    Path(args.sync_dir, f"ready{args.shard.split('/')[0]}").touch()
    go = Path(args.sync_dir, "go")
    while not go.exists():
        time.sleep(0.01)


def part_wav2vec2(args) -> dict:
    import torch

    from scaa.batching import length_buckets, padded_fraction
    from scaa.encoders.ssl import Wav2Vec2Encoder

    torch.set_num_threads(args.threads)
    waves = _clips(args)
    audio_s = sum(w.size for w in waves) / SR
    kw = {"random_init_config": BASE, "seed": 0}
    if args.variant == "naive":
        enc = Wav2Vec2Encoder(**kw)
        model = enc.model

        def run():
            out = []
            with torch.no_grad():
                for w in waves:
                    x = torch.from_numpy(((w - w.mean()) / np.sqrt(w.var() + 1e-7))[None])
                    out.append(model(x).last_hidden_state.mean(1)[0].numpy())
            return out
        batches, waste = [[i] for i in range(len(waves))], 0.0
    else:
        opts = {"fp32": {}, "bf16": {"dtype": "bfloat16"}, "int8": {"quantize": "int8"},
                "int8_bf16": {"quantize": "int8", "dtype": "bfloat16"}}[args.variant]
        enc = Wav2Vec2Encoder(**kw, **opts)
        budget = int(args.batch_seconds * SR)
        batches = length_buckets([w.size for w in waves], budget)
        waste = padded_fraction([w.size for w in waves], batches)

        def run():
            out = []
            for b in batches:
                out.extend(enc.encode([waves[i] for i in b]))
            return out
    run_warm = [waves[0]]  # one short warm-up clip (allocator, oneDNN kernels)
    enc.encode(run_warm)
    _wait_for_go(args)
    t0 = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - t0
    assert len(out) == len(waves) and all(np.isfinite(o).all() for o in out)
    return {"part": "wav2vec2", "variant": args.variant, "threads": args.threads, "clips": len(waves),
            "audio_seconds": audio_s, "seconds": elapsed, "x_real_time": audio_s / elapsed,
            "rtf": elapsed / audio_s, "batches": len(batches), "padding_waste": waste,
            "peak_rss_mb": peak_rss_mb(), "shard": args.shard}


def part_flops(args) -> dict:
    """FLOPs of the wav2vec2-base forward at 1, 3.5 and 6 s; quadratic fit over length."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from scaa.encoders.ssl import Wav2Vec2Encoder

    enc = Wav2Vec2Encoder(random_init_config=BASE)
    # FlopCounterMode cannot trace the weight-norm parametrisation of the positional conv;
    # fold it into a plain weight (same forward, negligible FLOPs)
    for module in enc.model.modules():
        if torch.nn.utils.parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                torch.nn.utils.parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    rng = np.random.default_rng(2)
    secs = [1.0, 3.5, 6.0]
    counts = []
    for s in secs:
        with FlopCounterMode(display=False) as fc, torch.inference_mode():
            enc.hidden_states([synth_clip(s, rng)])
        counts.append(fc.get_total_flops())
    coef = np.polyfit(secs, counts, 2)  # flops(T) = c2 T^2 + c1 T + c0 (attention is quadratic)
    lengths = clip_lengths(args.n_clips, 1.0, 6.0)
    total = float(sum(np.polyval(coef, s) for s in lengths))
    return {"part": "flops", "probe_seconds": secs, "probe_flops": counts, "fit": coef.tolist(),
            "workload_flops": total, "workload_audio_s": float(sum(lengths)),
            "gflops_per_audio_second": total / sum(lengths) / 1e9, "peak_rss_mb": peak_rss_mb()}


# ---- CPU peak -------------------------------------------------------------------------
def cpu_peak() -> dict:
    """Peak fp32 FLOP/s = cores x GHz x FLOPs/cycle, from lscpu / cpuinfo."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    info = dict(re.findall(r"^([^:\n]+):\s*(.*)$", text, flags=re.M))
    flags = set(info.get("Flags", "").split())
    cores = len(os.sched_getaffinity(0))
    mhz = float(info.get("CPU max MHz", 0) or 0)
    source = "lscpu CPU max MHz"
    if not mhz:
        found = re.findall(r"cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text())
        mhz, source = (float(found[0]), "/proc/cpuinfo cpu MHz (nominal; turbo not visible in this VM)") \
            if found else (0.0, "unknown")
    if "avx512f" in flags:
        isa, lanes = "AVX-512", 16
    elif "avx2" in flags:
        isa, lanes = "AVX2", 8
    else:
        isa, lanes = "SSE", 4
    fma_units = 2 if "fma" in flags else 1
    per_cycle = lanes * 2 * fma_units if "fma" in flags else lanes * 2
    peak = cores * mhz / 1000 * per_cycle
    # bf16 dot products (vdpbf16ps) do 2 multiply-adds per fp32 lane: twice the fp32 rate
    peak_bf16 = 2 * peak if "avx512_bf16" in flags else None
    return {"model": info.get("Model name", platform.processor()), "cores": cores, "ghz": mhz / 1000,
            "ghz_source": source, "isa": isa, "fma_units_assumed": fma_units, "flops_per_cycle": per_cycle,
            "peak_gflops": peak, "peak_bf16_gflops": peak_bf16, "amx_bf16": "amx_bf16" in flags,
            "derivation": f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle "
                          f"({isa}: {lanes} fp32 lanes x 2 (FMA) x {fma_units} FMA units) = {peak:.0f} GFLOP/s"}


# ---- driver ---------------------------------------------------------------------------
def run_part(part: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--n-clips", str(args.n_clips),
           "--n-spectral", str(args.n_spectral), "--batch-seconds", str(args.batch_seconds)]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"part {part} {extra} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_shards(args, variant: str, shards: int = 2) -> dict:
    """``shards`` single-thread processes at once, each on its share of the clips (what
    ``features: {threads: 1}`` with several shards does on a multi-core machine). Timing
    starts when all have loaded the model; throughput = all audio / the slowest shard."""
    with tempfile.TemporaryDirectory() as sync:
        procs = []
        for i in range(shards):
            cmd = [sys.executable, __file__, "--part", "wav2vec2", "--n-clips", str(args.n_clips),
                   "--batch-seconds", str(args.batch_seconds), "--variant", variant, "--threads", "1",
                   "--shard", f"{i}/{shards}", "--sync-dir", sync]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        while len(list(Path(sync).glob("ready*"))) < shards:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.05)
        Path(sync, "go").touch()
        parts = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"shard of {variant} failed:\n{err[-3000:]}")
            parts.append(json.loads(out.strip().splitlines()[-1]))
    audio_s = sum(r["audio_seconds"] for r in parts)
    wall = max(r["seconds"] for r in parts)
    return {"part": "wav2vec2", "variant": f"{variant}-shards", "threads": shards, "shards": shards,
            "clips": sum(r["clips"] for r in parts), "audio_seconds": audio_s, "seconds": wall,
            "x_real_time": audio_s / wall, "rtf": wall / audio_s, "batches": sum(r["batches"] for r in parts),
            "padding_waste": float(np.mean([r["padding_waste"] for r in parts])),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in parts), "shard_seconds": [r["seconds"] for r in parts]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer clips (about a minute)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--part", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--shard", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sync-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n-clips", type=int, default=None)
    ap.add_argument("--n-spectral", type=int, default=None)
    ap.add_argument("--batch-seconds", type=float, default=32.0)
    args = ap.parse_args(argv)
    if args.n_clips is None:
        args.n_clips = 12 if args.quick else 40
    if args.n_spectral is None:
        args.n_spectral = 60 if args.quick else 300
    if args.part:
        fn = {"spectral": part_spectral, "wav2vec2": part_wav2vec2, "flops": part_flops}[args.part]
        print(json.dumps(fn(args)))
        return

    started = time.time()
    load_before = os.getloadavg()
    results = {"command": " ".join([Path(sys.executable).name] + sys.argv), "cpu": cpu_peak(),
               "python": platform.python_version()}
    import torch

    results["torch"] = torch.__version__
    results["spectral"] = run_part("spectral", args)
    results["flops"] = run_part("flops", args)
    runs = [run_part("wav2vec2", args, variant="naive", threads=2)]
    for threads in (1, 2):
        runs.append(run_part("wav2vec2", args, variant="fp32", threads=threads))
    for threads in (1, 2):
        runs.append(run_part("wav2vec2", args, variant="bf16", threads=threads))
    runs.append(run_part("wav2vec2", args, variant="int8", threads=2))
    runs.append(run_part("wav2vec2", args, variant="int8_bf16", threads=2))
    for variant in ("fp32", "bf16", "int8_bf16"):
        runs.append(run_shards(args, variant))
    naive = runs[0]["seconds"]
    gflop = results["flops"]["workload_flops"] / 1e9
    for r in runs:
        r["speedup_vs_naive"] = naive / r["seconds"]
        r["gflops_per_s"] = gflop / r["seconds"]
        bf16 = r["variant"].startswith("bf16") and results["cpu"]["peak_bf16_gflops"]
        peak = results["cpu"]["peak_bf16_gflops"] if bf16 else results["cpu"]["peak_gflops"]
        r["pct_of_peak"] = 100 * r["gflops_per_s"] / (peak * r["threads"] / results["cpu"]["cores"])
    results["wav2vec2"] = runs
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    results["wall_seconds"] = time.time() - started
    print(to_markdown(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))


def to_markdown(r: dict) -> str:
    s, f, c = r["spectral"], r["flops"], r["cpu"]
    lines = [f"Command: `{r['command']}`  (torch {r['torch']}, Python {r['python']})", "",
             f"CPU: {c['model']}; peak fp32 = {c['derivation']} [{c['ghz_source']}]; peak bf16 = "
             + (f"{c['peak_bf16_gflops']:.0f} GFLOP/s (AVX512-BF16 dot products: 2 x fp32)"
                if c.get("peak_bf16_gflops") else "n/a (no AVX512-BF16)")
             + f"; AMX: {'yes' if c.get('amx_bf16') else 'no'}",
             f"Load average before/after: {r['load_average']['before'][0]:.2f} / "
             f"{r['load_average']['after'][0]:.2f}", "",
             "| part | threads | clips | audio s | time s | x real time | speed-up vs naive "
             "| GFLOP/s | % of peak (bf16 rows: bf16 peak, others: fp32; for its threads) | padding waste | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| spectral (FLAC decode + features, 4 s clips): {s['clips_per_s_per_core']:.0f} clips/s/core "
             f"| 1 | {s['clips']} | {4 * s['clips']:.0f} | {s['seconds']:.2f} | {s['x_real_time']:.0f} | "
             f"| | | | {s['peak_rss_mb']:.0f} |"]
    for w in r["wav2vec2"]:
        name = {"naive": "wav2vec2-base naive loop (1 clip at a time, fp32, no_grad)",
                "fp32": "wav2vec2-base bucketed fp32 inference_mode",
                "bf16": "wav2vec2-base bucketed bf16 (oneDNN, AVX512-BF16 / AMX)",
                "int8": "wav2vec2-base bucketed int8 dynamic",
                "int8_bf16": "wav2vec2-base bucketed int8 dynamic + bf16 convolutions",
                "fp32-shards": "wav2vec2-base bucketed fp32, 2 shards x 1 thread at once (total, peak RSS per shard)",
                "bf16-shards": "wav2vec2-base bucketed bf16, 2 shards x 1 thread at once (total, peak RSS per shard)",
                "int8_bf16-shards": "wav2vec2-base bucketed int8 + bf16 convolutions, 2 shards x 1 thread at once",
                }[w["variant"]]
        lines.append(f"| {name} | {w['threads']} | {w['clips']} | {w['audio_seconds']:.1f} | {w['seconds']:.2f} | "
                     f"{w['x_real_time']:.1f} | {w['speedup_vs_naive']:.2f}x | {w['gflops_per_s']:.0f} | "
                     f"{w['pct_of_peak']:.0f} | {w['padding_waste']:.1%} | {w['peak_rss_mb']:.0f} |")
    lines += ["", f"wav2vec2-base FLOPs: {f['gflops_per_audio_second']:.1f} GFLOP per second of audio "
                  f"(FlopCounterMode at {f['probe_seconds']} s, quadratic fit; workload "
                  f"{f['workload_flops'] / 1e9:.0f} GFLOP for {f['workload_audio_s']:.0f} s); "
                  f"flop-count process peak RSS {f['peak_rss_mb']:.0f} MB. Total wall {r['wall_seconds']:.0f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
