"""What a trained cell costs to run, and what int8 and bfloat16 change.

Latency, real-time factor, memory, parameters and size; and what int8 dynamic quantisation
and (for encoders with a dtype option) bfloat16 change.

Latency and peak RSS are measured in a **fresh Python subprocess** per model variant
(``python -m scaa.workflow.benchmark measure RUN_DIR``) so the memory figure is that model's
alone and not what the parent happened to have loaded. Inside it: threads are capped
(default 1), the model is loaded (timed separately, excluded from latency), a seeded
synthetic 4 s clip is scored ``warmup`` times untimed, then ``repeats`` times timed
(feature extraction + head, :meth:`scaa.inference.detector.Detector.raw_scores`).

``synthetic_run`` builds a small but real trained cell (wav files -> manifest ->
features -> ``scaa.workflow.train.train_cell``) for the tests and ``bench/bench_detect.py``.
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

import numpy as np
import pandas as pd
import yaml

from scaa.workflow.synthetic import synthetic_clip
from scaa.threads import thread_env

MODEL_FILES = ("model.safetensors", "model.json")


# ---------------------------------------------------------------- child: one measurement
def _rss_now_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def count_parameters(detector) -> dict:
    """Head parameters (its own count) + encoder torch parameters. A frozen encoder's are not
    trainable; a top-k head's count includes its trained copy of the top layers."""
    from scaa.inference.quantize import torch_modules

    head = detector.head.n_parameters()
    enc_total = 0
    seen: set[int] = set()
    for mod in torch_modules(detector.encoder).values():
        for p in mod.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                enc_total += p.numel()
    enc_bytes = sum(t.numel() * t.element_size() for m in torch_modules(detector.encoder).values()
                    for t in list(m.parameters()) + list(m.buffers()))
    return {"head_total": int(head["total"]), "head_trainable": int(head["trainable"]),
            "encoder_total": int(enc_total), "total": int(head["total"] + enc_total),
            "trainable": int(head["trainable"]), "encoder_param_bytes": int(enc_bytes)}


def measure(run_dir: str, clip_s: float = 4.0, threads: int = 1, warmup: int = 5, repeats: int = 50,
            seed: int = 0, quantize: str | None = None, dtype: str | None = None, allow_plugins=()) -> dict:
    """Run in a fresh process: load, warm up, time ``repeats`` single-clip scorings."""
    import torch  # noqa: F401  (counted in the baseline, as every model here needs it)

    from scaa.inference.detector import Detector
    from scaa.threads import limit_threads

    limit_threads(threads)
    baseline = _rss_now_mb()
    t0 = time.perf_counter()
    det = Detector.from_run(run_dir, threads=threads, quantize=quantize, dtype=dtype, allow_plugins=allow_plugins)
    load_s = time.perf_counter() - t0
    clip = synthetic_clip(clip_s, seed)
    for _ in range(warmup):
        det.raw_scores([clip])
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        det.raw_scores([clip])
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times = np.asarray(times)
    p50 = float(np.percentile(times, 50))
    # CPU time of the process: at 1 thread, what the scoring costs on one core even when
    # other tenants of a shared machine stretch the wall-clock figures
    cpu_p50 = round(float(np.percentile(cpu, 50)), 3)
    return {"latency_ms": {"p50": round(p50, 3), "p95": round(float(np.percentile(times, 95)), 3),
                           "mean": round(float(times.mean()), 3), "min": round(float(times.min()), 3),
                           "n": int(repeats), "warmup": int(warmup)},
            "cpu_ms_p50": cpu_p50, "rtf": round(p50 / 1000 / clip_s, 5), "load_s": round(load_s, 3),
            "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
            "params": count_parameters(det), "threads": threads, "clip_s": clip_s, "quantize": quantize,
            "dtype": dtype}


def measure_in_subprocess(run_dir, clip_s=4.0, threads=1, warmup=5, repeats=50, seed=0, quantize=None,
                          dtype=None, timeout=1800, allow_plugins=()) -> dict:
    env = {**os.environ, **thread_env(threads), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "scaa.workflow.benchmark", "measure", str(run_dir), "--clip-s", str(clip_s),
           "--threads", str(threads), "--warmup", str(warmup), "--repeats", str(repeats), "--seed", str(seed)]
    if quantize:
        cmd += ["--quantize", quantize]
    if dtype:
        cmd += ["--dtype", dtype]
    for module in allow_plugins or ():
        cmd += ["--allow-plugin", module]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- parent: one cell
def int8_applies(run_dir, allow_plugins=()) -> tuple[bool, str]:
    """Whether the cell has torch nn.Linear layers to quantise (checked without a full load
    where the head alone decides it is not applicable)."""
    from scaa.inference.detector import Detector
    from scaa.inference.quantize import torch_modules

    det = Detector.from_run(run_dir, allow_plugins=allow_plugins)
    import torch

    found = [f"{who}.{name}" for who, obj in (("encoder", det.encoder), ("head", det.head))
             for name, mod in torch_modules(obj).items()
             if name != "loss" and any(isinstance(m, torch.nn.Linear) for m in mod.modules())]
    return (True, ", ".join(found)) if found else (False, "no torch nn.Linear layers (e.g. scikit-learn head on "
                                                          "handcrafted features)")


def eval_subset(scores_path, manifest_path, max_clips: int, seed: int) -> pd.DataFrame:
    """Eval clips of a cell with their audio paths: all of them, or a seeded class-stratified
    subset of ``max_clips`` (each class keeps at least 1 clip)."""
    scores = pd.read_parquet(scores_path)
    manifest = pd.read_parquet(manifest_path)[["utt_id", "path"]]
    df = scores[["utt_id", "label"]].merge(manifest, on="utt_id", how="inner")
    if len(df) <= max_clips:
        return df.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    parts = []
    for label, group in df.groupby("label"):
        k = max(1, int(round(max_clips * len(group) / len(df))))
        parts.append(group.iloc[np.sort(rng.choice(len(group), size=min(k, len(group)), replace=False))])
    return pd.concat(parts).sort_values("utt_id").reset_index(drop=True)


def bf16_applies(run_dir, allow_plugins=()) -> tuple[bool, str]:
    """Whether the cell's encoder can run in bfloat16 and does not already."""
    from scaa.inference.detector import encoder_has_dtype

    spec = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    enc = spec.get("encoder") or {}
    if not encoder_has_dtype(enc):
        return False, f"encoder {enc.get('type')!r} has no dtype option"
    trained = enc.get("dtype", "float32")
    if trained == "bfloat16":
        return False, "encoder already runs in bfloat16"
    return True, f"encoder {enc.get('type')!r} in bfloat16 (training features were {trained})"


def int8_bf16_applies(run_dir, allow_plugins=()) -> tuple[bool, str]:
    """Whether the cell's encoder has both options (SSL encoders: int8 matmuls in the
    transformer, bfloat16 convolutions); a cell already in bfloat16 gets exactly this from
    the plain int8 variant."""
    from scaa.inference.detector import encoder_has_option

    ok, why = bf16_applies(run_dir)
    if not ok:
        return ok, why
    spec = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    enc = spec.get("encoder") or {}
    if not encoder_has_option(enc, "quantize"):
        return False, f"encoder {enc.get('type')!r} has no quantize option"
    return True, f"encoder {enc.get('type')!r}: int8 Linear layers, bfloat16 convolutions"


# what each variant changes when the model is loaded (Detector.from_run keywords)
VARIANTS = {"int8": {"quantize": "int8"}, "bf16": {"dtype": "bfloat16"},
            "int8_bf16": {"quantize": "int8", "dtype": "bfloat16"}}


def variant_eer_change(run_dir, subset: pd.DataFrame, variant: str, allow_plugins=()) -> dict:
    """EER of the cell as trained and of one variant (int8 / bf16 / int8_bf16) on the same clips, both
    scored from audio here. ``eer_fp32`` is the cell as trained."""
    from scaa import metrics
    from scaa.dsp import audio
    from scaa.inference.detector import Detector

    base = Detector.from_run(run_dir, threads=1, allow_plugins=allow_plugins)
    other = Detector.from_run(run_dir, threads=1, allow_plugins=allow_plugins, **VARIANTS[variant])
    s0, s1, y, skipped = [], [], [], 0
    for row in subset.itertuples():
        try:
            wave = audio.load(row.path)
        except audio.AudioError:
            skipped += 1
            continue
        s0.append(base.raw_scores([wave])[0])
        s1.append(other.raw_scores([wave])[0])
        y.append(int(row.label))
    y = np.asarray(y)
    out = {"n_clips": int(len(y)), "n_bonafide": int((y == 0).sum()), "n_spoof": int((y == 1).sum()),
           "unreadable": skipped,
           "max_abs_score_change": float(np.max(np.abs(np.subtract(s0, s1)))) if y.size else None}
    if y.size and 0 < y.sum() < y.size:
        e0, e1 = metrics.eer(s0, y), metrics.eer(s1, y)
        out.update({"eer_fp32": e0, f"eer_{variant}": e1, "delta_eer": e1 - e0})
    else:
        out["note"] = "subset lacks one class; EER not defined"
    return out


def file_bytes(run_dir) -> int:
    return int(sum((Path(run_dir) / f).stat().st_size for f in MODEL_FILES if (Path(run_dir) / f).is_file()))


def benchmark_cell(run_dir, out_path=None, scores_path=None, manifest_path=None, clip_s: float = 4.0,
                   threads: int = 1, warmup: int = 5, repeats: int = 50, seed: int = 0,
                   quant_clips: int = 200, int8: bool = True, bf16: bool = True,
                   cell: dict | None = None, allow_plugins=()) -> dict:
    """All cost figures of one cell; written to ``out_path`` as JSON when given."""
    run_dir = str(run_dir)
    result = {"run_dir": run_dir, "cell": cell or {}, "clip_s": clip_s, "threads": threads, "seed": seed,
              "what": "latency = features + head for one clip after warm-up, model loading excluded; "
                      "peak RSS of a fresh process holding only this model",
              "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                          "cpus": os.cpu_count()}}
    result.update(measure_in_subprocess(run_dir, clip_s, threads, warmup, repeats, seed,
                                        allow_plugins=allow_plugins))
    result["size_bytes"] = {"head_files": file_bytes(run_dir),
                            "encoder_param_bytes": result["params"]["encoder_param_bytes"],
                            "note": "head files are the run dir's model.*; the encoder is not stored in "
                                    "the run dir, its in-memory parameter+buffer bytes are given instead"}
    checks = {"int8": (int8, int8_applies), "bf16": (bf16, bf16_applies),
              "int8_bf16": (int8 and bf16, int8_bf16_applies)}
    sub = None
    if scores_path and manifest_path and Path(scores_path).is_file() and Path(manifest_path).is_file():
        sub = eval_subset(scores_path, manifest_path, quant_clips, seed)
    for name, (wanted, applies_fn) in checks.items():
        applies, why = applies_fn(run_dir, allow_plugins) if wanted else (False, "disabled")
        q: dict = {"applies": applies, "detail": why}
        if applies:
            m = measure_in_subprocess(run_dir, clip_s, threads, warmup, repeats, seed, allow_plugins=allow_plugins,
                                      **VARIANTS[name])
            q.update({"latency_ms": m["latency_ms"], "cpu_ms_p50": m.get("cpu_ms_p50"), "rtf": m["rtf"],
                      "peak_rss_mb": m["peak_rss_mb"]})
            if sub is not None:
                q["eer"] = variant_eer_change(run_dir, sub, name, allow_plugins)
                q["eer"]["clips"] = (f"eval clips of {Path(scores_path).stem}: "
                                     + ("all" if len(sub) == len(pd.read_parquet(scores_path))
                                        else f"seeded (seed {seed}) class-stratified subset of {len(sub)}"))
            else:
                q["eer"] = {"note": "no eval scores/manifest given: EER change not measured"}
        result[name] = q
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text(json.dumps(result, indent=1))
    return result


def flatten(result: dict) -> dict:
    """One CSV row from a benchmark_cell result."""
    row = dict(result.get("cell") or {})
    row["run_dir"] = result["run_dir"]
    lat = result["latency_ms"]
    row.update({"latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"], "rtf": result["rtf"],
                "peak_rss_mb": result["peak_rss_mb"], "baseline_rss_mb": result["baseline_rss_mb"],
                "load_s": result["load_s"], "threads": result["threads"], "clip_s": result["clip_s"]})
    row.update({f"params_{k}": v for k, v in result["params"].items() if k != "encoder_param_bytes"})
    row["head_file_bytes"] = result["size_bytes"]["head_files"]
    row["encoder_param_bytes"] = result["size_bytes"]["encoder_param_bytes"]
    for name in VARIANTS:
        q = result.get(name) or {}
        row[f"{name}_applies"] = bool(q.get("applies"))
        if q.get("applies"):
            row[f"{name}_latency_p50_ms"] = q["latency_ms"]["p50"]
            row[f"{name}_peak_rss_mb"] = q["peak_rss_mb"]
            eer = q.get("eer") or {}
            for k in ("eer_fp32", f"eer_{name}", "delta_eer", "n_clips"):
                row[f"{name}_{k}"] = eer.get(k)
    return row


def summarize(json_paths, out_csv) -> pd.DataFrame:
    rows = [flatten(json.loads(Path(p).read_text())) for p in json_paths]
    df = pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_csv, index=False)
    return df


# ---------------------------------------------------------------- command line (child)
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scaa.workflow.benchmark")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="one fresh-process measurement (prints one JSON line)")
    m.add_argument("run_dir")
    m.add_argument("--clip-s", type=float, default=4.0)
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("--warmup", type=int, default=5)
    m.add_argument("--repeats", type=int, default=50)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--quantize", choices=["int8"])
    m.add_argument("--dtype", choices=["bfloat16"])
    m.add_argument("--allow-plugin", action="append", default=[])
    c = sub.add_parser("cell", help="all figures for one cell -> JSON")
    c.add_argument("run_dir")
    c.add_argument("--out")
    c.add_argument("--scores")
    c.add_argument("--manifest")
    args = p.parse_args(argv)
    if args.cmd == "measure":
        import warnings

        warnings.simplefilter("ignore")
        print(json.dumps(measure(args.run_dir, args.clip_s, args.threads, args.warmup, args.repeats, args.seed,
                                 args.quantize, args.dtype, args.allow_plugin)))
    else:
        print(json.dumps(benchmark_cell(args.run_dir, args.out, args.scores, args.manifest), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
