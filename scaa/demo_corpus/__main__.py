"""CLI: ``python -m scaa.demo_corpus OUT_DIR --seed 2026 --workers 2``."""
from __future__ import annotations

import argparse
import json
import sys

from scaa.demo_corpus.builder import build
from scaa.demo_corpus.sources import DEFAULT_SOUNDS_DIR, MissingDependencyError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scaa.demo_corpus", description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--n-bonafide", type=int, default=40, help="clips per bona fide speaker")
    ap.add_argument("--n-spoof", type=int, default=40, help="clips per attack per split")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sounds-dir", default=str(DEFAULT_SOUNDS_DIR))
    args = ap.parse_args(argv)
    try:
        summary = build(args.out_dir, seed=args.seed, n_bonafide=args.n_bonafide, n_spoof=args.n_spoof,
                        workers=args.workers, sounds_dir=args.sounds_dir)
    except (MissingDependencyError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
