"""Pinned pretrained weights: ``scaa weights list``, ``fetch [VARIANT ...|all] [--from DIR]``, ``path VARIANT``.

``list`` prints one line per variant (name, SHA-256 prefix, where the checked file is, or
why it is not usable); ``fetch`` copies the files from DIR (or downloads them) into the
weights directory (``$SCAA_WEIGHTS_DIR``, else ``~/.cache/scaa/weights``) and exits 0
once all are in place, 2 otherwise; ``path`` prints the checked path of one variant or
exits 2. Nothing here downloads except ``fetch`` without ``--from``.
"""
from __future__ import annotations

import sys

from scaa import weights


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="one line per pinned variant: name, SHA-256 prefix, path or 'missing'")
    p = sub.add_parser("fetch", help="copy (--from DIR) or download pinned weights into the weights directory")
    p.add_argument("variants", nargs="*", default=["all"], metavar="VARIANT",
                   help=f"{', '.join(weights.PINNED)} or all (default: all)")
    p.add_argument("--from", dest="source_dir", metavar="DIR", help="directory holding the files (no download)")
    p = sub.add_parser("path", help="print the checked path of one variant (exit 2 when missing or wrong)")
    p.add_argument("variant", choices=sorted(weights.PINNED))


def _list() -> int:
    print(f"# weights directory: {weights.weights_dir()}")
    for name in weights.PINNED:
        info = weights.describe(name)
        if info["path"]:
            where = info["path"]
        elif (weights.weights_dir() / info["file"]).is_file():
            where = f"WRONG HASH: {weights.weights_dir() / info['file']} (replace with `scaa weights fetch {name}`)"
        else:
            where = "missing"
        print(f"{name:<10} {info['file']:<14} sha256:{info['sha256'][:12]}  {where}")
    return 0


def _fetch(variants: list[str], source_dir: str | None) -> int:
    names = list(weights.PINNED) if "all" in variants else list(dict.fromkeys(variants))
    failed = []
    for name in names:
        try:
            print(f"{name}: {weights.fetch(name, source_dir)}")
        except weights.WeightsError as err:
            failed.append(str(err))
    for message in failed:
        print(f"scaa weights: error: {message}", file=sys.stderr)
    return 2 if failed else 0


def main(args) -> int:
    if args.action == "list":
        return _list()
    if args.action == "fetch":
        return _fetch(args.variants, args.source_dir)
    print(weights.resolve(args.variant, download=False))
    return 0
