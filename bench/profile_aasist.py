"""Where the AASIST fast path spends its time at 1 thread: front end, each residual block, graph part.

It gives the sinc filter bank's multiply-add rate, and for block 0 times one time tile's
pieces (conv1 as a GEMM, SELU, conv2, the residual GEMM, pool) with conv2's multiply-add
rate, to compare with the core's float32 peak. Uses the authors' weights through the encoder's loader (subnormal weights flushed),
and a seeded noise clip of 64,600 samples (the timing does not depend on the content).

Run: python bench/profile_aasist.py [--variant aasist|aasist_l] [--weights DIR] [--calls 15]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before torch is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from scaa.encoders.aasist import build_net  # noqa: E402
from scaa.encoders.aasist_fast import (FastEncoder, add_residual_taps_, shifted_selu_,  # noqa: E402
                                       sinc_filter_bank, taps_gemm)
from scaa.encoders.aasist_net import SAMPLES  # noqa: E402
from profile_ssl import timed  # noqa: E402  (median ms after warm-up)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="aasist", choices=["aasist", "aasist_l"])
    ap.add_argument("--weights", default=None, help="weights file or directory (default: the weights cache)")
    ap.add_argument("--calls", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = build_net(args.variant, args.weights)
    fast = FastEncoder(net)
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal((1, SAMPLES)).astype(np.float32) * 0.1)
    rows = []
    with torch.no_grad():
        rows.append(("whole fast path (maps + graph + output)", timed(lambda: net.fast_forward(wave), args.calls)))
        rows.append(("front end (sinc, pool, BN, SELU)", timed(lambda: fast.front(wave), args.calls)))
        x = fast.front(wave).contiguous(memory_format=torch.channels_last)
        first = x
        for i, params in enumerate(fast.blocks):
            rows.append((f"residual block {i} on {tuple(x.shape[1:])}", timed(lambda: fast.block(x, params),
                                                                                   args.calls)))
            x = fast.block(x, params)
        maps = x.contiguous()
        rows.append(("graph attention + readout", timed(lambda: net.graph(maps), args.calls)))
        params = fast.blocks[0]
        piece = F.pad(first[..., 0:fast.TILE + 2], (2, 0))
        h = taps_gemm(piece, *params["taps"])
        act = shifted_selu_(h.clone())
        out = F.conv2d(act, params["w2"], params["b2"])
        b, c, f, w = out.shape
        tiles = -(-first.shape[-1] // fast.TILE)
        conv2_ms = timed(lambda: F.conv2d(act, params["w2"], params["b2"]), args.calls)
        copy_ms = timed(lambda: h.clone(), args.calls)
        pieces = [("conv1 as one GEMM over its 6 taps", timed(lambda: taps_gemm(piece, *params["taps"]), args.calls)),
                  ("SELU (shifted, in place)", timed(lambda: shifted_selu_(h.clone()), args.calls) - copy_ms),
                  ("conv2", conv2_ms),
                  ("residual as a GEMM into conv2's output",
                   timed(lambda: add_residual_taps_(out.clone(), piece, params["residual_taps"]), args.calls)
                   - timed(lambda: out.clone(), args.calls)),
                  ("max-pool (1 x 3)", timed(lambda: out.permute(0, 2, 3, 1).view(b, f, w // 3, 3, c).amax(dim=3),
                                                 args.calls))]
        c_out, c_in, kh, kw = params["w2"].shape
        macs = c_out * c_in * kh * kw * out.shape[2] * out.shape[3]
        need = 3 * ((SAMPLES - fast.sinc_taps + 1) // 3)
        sinc_ms = timed(lambda: sinc_filter_bank(wave, fast.sinc_gemm, fast.PHASES, need), args.calls)
        rows_, width = -(-need // fast.PHASES), fast.sinc_gemm.shape[0]
        sinc_macs = rows_ * width * fast.sinc_gemm.shape[1]
    print(f"{args.variant}, 1 thread, median of {args.calls} calls, torch {torch.__version__}")
    print("| part | ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")
    print(f"\nsinc filter bank as one matrix product ({fast.PHASES} phases): {sinc_ms:.1f} ms, "
          f"{sinc_macs / 1e6:.0f} M multiply-adds, {sinc_macs / sinc_ms / 1e6:.1f} G multiply-adds/s")
    print(f"\nblock 0, one time tile of {fast.TILE} columns ({tiles} tiles per clip), {tuple(h.shape[1:])} activations:")
    print("| piece | ms per tile |\n|---|---|")
    for name, ms in pieces:
        print(f"| {name} | {ms:.2f} |")
    print(f"\nconv2: {macs / 1e6:.0f} M multiply-adds per tile, {macs / conv2_ms / 1e6:.1f} G multiply-adds/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
