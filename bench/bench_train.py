"""Time one ``mlp`` training cell on one CPU core: 25,000 synthetic 768-d vectors plus a dev set.

Goal: under 60 s wall (ASVspoof 2019 LA train size with frozen wav2vec2-base features).
Prints wall time, epochs run, dev EER and peak RSS. Example:

    python bench/bench_train.py                 # defaults: n=25000 dim=768 hidden=[128] epochs=30
    python bench/bench_train.py --patience 1000      # worst case: all 30 epochs, no early stop
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch


def synthetic(n: int, dim: int, seed: int):
    from scaa.featstore import Features

    r = np.random.default_rng(seed)
    y = (r.random(n) < 0.1).astype(np.int64)           # ~10 % spoof, like ASVspoof 2019 LA has bona fide
    X = r.normal(size=(n, dim)).astype(np.float32)
    direction = np.random.default_rng(123).normal(size=dim)  # same signal direction in train and dev
    X += 0.08 * np.outer(y, direction).astype(np.float32)  # weak spread-out signal: not separable at once
    return Features(np.array([f"b{seed}_{i}" for i in range(n)]), X, y=y)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=25_000)
    p.add_argument("--n-dev", type=int, default=5_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--hidden", type=int, nargs="*", default=[128])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--patience", type=int, default=5, help="a large value forces all epochs (worst case)")
    p.add_argument("--loss", default="ce")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    from scaa.heads.mlp import MLPHead

    train, dev = synthetic(args.n, args.dim, args.seed), synthetic(args.n_dev, args.dim, args.seed + 1)
    head = MLPHead(hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                   patience=args.patience, loss=args.loss, random_state=args.seed)
    rows: list[dict] = []
    t0 = time.perf_counter()
    head.fit(train, dev=dev, log=rows.append)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"train {args.n}x{args.dim}, dev {args.n_dev}, hidden={args.hidden}, loss={args.loss}, "
          f"threads={torch.get_num_threads()}")
    print(f"epochs run {len(rows)} (best {head.best_epoch_}, dev EER {head.best_dev_eer_:.4f}), "
          f"mean epoch {np.mean([r['seconds'] for r in rows]):.2f} s")
    print(f"wall time {wall:.1f} s, peak RSS {peak_mb:.0f} MiB, parameters {head.n_parameters()['total']}")
    return 0 if wall < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
