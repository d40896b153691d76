"""Where the time of a wav2vec2-base forward goes, at 1 thread on one 4 s clip.

    python bench/profile_ssl.py [--dtype bfloat16] [--quantize int8] [--repeats 20]

Three parts, all on random weights of the base architecture (speed does not depend on
the values), each timed after warm-up:

1. matrix products of the transformer's shapes ([199 frames x 768] by 768 x 768 / 2304 /
   3072 and 3072 x 768): float32, bfloat16 through F.linear, bfloat16 with weights packed
   once (scaa.encoders.fused_ops.PackedLinear) and int8 dynamic quantisation, in GFLOP/s;
2. one transformer layer: transformers' module against scaa's FastEncoderLayer, in bf16;
3. the pooled-feature error of bf16 / int8 / int8 + bf16 convolutions against float32;
4. torch.profiler's per-operator self time for the whole encoder forward (scaa's path),
   with input shapes, so each conv layer and matmul shape is its own row.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_features import BASE  # noqa: E402  (the same base-size config the features benchmark times)


def timed(fn, repeats: int, warmup: int = 3) -> float:
    """Median milliseconds of ``fn()``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def matmuls(repeats: int) -> list[str]:
    import torch

    from scaa.encoders.fused_ops import PackedLinear

    rows = ["| shape (rows x in -> out) | fp32 ms (GFLOP/s) | bf16 F.linear ms (GFLOP/s) | bf16 packed ms (GFLOP/s) "
            "| int8 dynamic ms (GFLOP/s) |", "|---|---|---|---|---|"]
    g = torch.Generator().manual_seed(0)
    for m, k, n in ((199, 768, 768), (199, 768, 2304), (199, 768, 3072), (199, 3072, 768)):
        lin = torch.nn.Linear(k, n).eval()
        x = torch.randn(m, k, generator=g)
        xb, wb, bb = x.bfloat16(), lin.weight.detach().bfloat16(), lin.bias.detach().bfloat16()
        packed = PackedLinear.build(wb, bb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear},
                                                       dtype=torch.qint8)
        gflop = 2 * m * k * n / 1e9
        cells = []
        with torch.inference_mode():
            for fn in (lambda: lin(x), lambda: torch.nn.functional.linear(xb, wb, bb),
                       (lambda: packed(xb)) if packed is not None else None, lambda: q(x)):
                if fn is None:
                    cells.append("n/a")
                    continue
                ms = timed(fn, repeats)
                cells.append(f"{ms:.2f} ({gflop / ms * 1000:.0f})")
        rows.append(f"| {m} x {k} -> {n} | " + " | ".join(cells) + " |")
    return rows


def layer_ab(repeats: int) -> list[str]:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from scaa.encoders.fast_layers import FastEncoderLayer

    torch.manual_seed(0)
    layer = Wav2Vec2Model(Wav2Vec2Config(**BASE)).encoder.layers[0].eval().bfloat16()
    fast = FastEncoderLayer.build(layer)
    x = torch.randn(1, 199, 768).bfloat16()
    with torch.inference_mode():
        hf = timed(lambda: layer(x), repeats)
        ours = timed(lambda: fast(x), repeats) if fast is not None else float("nan")
        diff = float((fast(x).float() - layer(x).float()).abs().max()) if fast is not None else float("nan")
    return [f"One transformer layer, bf16, 199 frames: transformers {hf:.2f} ms, FastEncoderLayer {ours:.2f} ms "
            f"({100 * (1 - ours / hf):.0f} % less; largest output difference {diff:.3f})"]


def feature_error() -> list[str]:
    """Relative error of pooled features (mean + std of layers 6 and 12) against float32."""
    from scaa.workflow.synthetic import synthetic_clip
    from scaa.encoders.ssl import Wav2Vec2Encoder

    clips = [synthetic_clip(s, i) for i, s in enumerate((1.0, 2.5, 4.0))]
    kw = {"random_init_config": BASE, "layer": [6, 12], "pooling": "mean_std"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Wav2Vec2Encoder(**kw).encode(clips)
        out = []
        for name, opts in (("bf16", {"dtype": "bfloat16"}), ("int8", {"quantize": "int8"}),
                           ("int8 + bf16 convolutions", {"quantize": "int8", "dtype": "bfloat16"})):
            got = Wav2Vec2Encoder(**kw, **opts).encode(clips)
            err = [np.linalg.norm(a - b) / np.linalg.norm(a) for a, b in zip(ref, got)]
            out.append(f"{name} {100 * np.mean(err):.2f} %")
    return ["Pooled-feature error against float32 (relative L2, mean of 3 clips, random weights): "
            + "; ".join(out)]


def op_profile(args) -> list[str]:
    import torch
    from torch.profiler import profile

    from scaa.workflow.synthetic import synthetic_clip
    from scaa.encoders.ssl import Wav2Vec2Encoder

    opts = {"dtype": args.dtype}
    if args.quantize:
        opts["quantize"] = args.quantize
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = Wav2Vec2Encoder(random_init_config=BASE, **opts)
    clip = synthetic_clip(4.0, 0)
    ms = timed(lambda: enc.encode([clip]), args.repeats)
    with profile(record_shapes=True) as prof:
        for _ in range(3):
            enc.encode([clip])
    table = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in table) / 3 / 1000
    rows = [f"Whole forward ({opts}): median {ms:.0f} ms per 4 s clip; under the profiler {total:.0f} ms.", "",
            "| operator | input shapes | self ms per forward | share |", "|---|---|---|---|"]
    for e in sorted(table, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        share = e.self_cpu_time_total / 3 / 1000 / total
        shapes = str(e.input_shapes)[:90].replace("|", "/")
        rows.append(f"| {e.key} | {shapes} | {e.self_cpu_time_total / 3 / 1000:.1f} | {share:.0%} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--quantize", default=None, choices=["int8"])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    out = ["Command: `" + " ".join(["python bench/profile_ssl.py"] + sys.argv[1:]) + "`",
           f"(torch {torch.__version__}, 1 thread)", ""]
    out += matmuls(args.repeats) + [""] + layer_ab(args.repeats) + [""] + feature_error() + [""] + op_profile(args)
    print("\n".join(out))


if __name__ == "__main__":
    main()
