"""Time the vectorised bootstrap: 1000 resamples of 71,000 scores (ASVspoof 2019 LA eval size).

Run: python bench/bench_bootstrap.py [--n 71000] [--n-boot 1000] [--seed 0]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from scaa import bootstrap, metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=71_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ties", action="store_true", help="round scores to 3 decimals")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    y = (rng.random(args.n) < 0.9).astype(int)          # ~LA eval: 90% spoof
    s = rng.normal(1.5 * y, 1.0)
    if args.ties:
        s = s.round(3)                                  # rounded: many ties
    print(f"n={args.n} (spoof {y.sum()}, bona fide {args.n - y.sum()}), n_boot={args.n_boot}, "
          f"ties={args.ties}, unique scores {np.unique(s).size}")
    t = time.perf_counter()
    W = list(bootstrap.resample_weights(y, args.n_boot, args.seed))
    print(f"resample counts only:      {time.perf_counter() - t:6.2f} s")
    for name, build in (("eer", bootstrap.eer_stat), ("roc_auc", bootstrap.auc_stat)):
        t = time.perf_counter()
        res = bootstrap.bootstrap({name: build(s, y)}, y, n_boot=args.n_boot, seed=args.seed)[name]
        dt = time.perf_counter() - t
        print(f"{name:8s} (incl. resampling): {dt:6.2f} s  estimate {res['value']:.4f} "
              f"CI [{res['ci_low']:.4f}, {res['ci_high']:.4f}]")
    t = time.perf_counter()
    bootstrap.bootstrap({"eer": bootstrap.eer_stat(s, y), "roc_auc": bootstrap.auc_stat(s, y)}, y, n_boot=args.n_boot, seed=args.seed)
    print(f"eer+auc together:          {time.perf_counter() - t:6.2f} s")
    t = time.perf_counter()
    metrics.eer(s, y)
    print(f"one plain EER (reference): {time.perf_counter() - t:6.3f} s")


if __name__ == "__main__":
    main()
