"""The ``scaa`` command: ``list`` components, ``manifest`` a dataset, ``detect`` / ``overlay`` files, ``serve`` a model over HTTP, ``export`` it to ONNX, fetch pinned ``weights``."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> module with ``add_arguments(parser)`` and ``main(args) -> int``
COMMANDS = {
    "detect": "scaa.commands.detect",
    "overlay": "scaa.inference.overlay",
    "serve": "scaa.serve",
    "export": "scaa.inference.export",
    "compare": "scaa.report.compare",
    "weights": "scaa.commands.weights",
}


def _cmd_list(args) -> int:
    from scaa.registry import ALL, load_plugins

    load_plugins(args.plugin)
    for kind, registry in ALL.items():
        if args.kind and kind != args.kind:
            continue
        print(f"{kind}:")
        for name, desc in registry.describe().items():
            print(f"  {name:<22} {desc}")
    return 0


def _cmd_manifest(args) -> int:
    import yaml

    from scaa import manifest
    from scaa.registry import DATASETS

    spec = {"type": args.type, "root": args.root, "on_error": args.on_error}
    if args.params:
        spec.update(yaml.safe_load(args.params))
    df, rejects = DATASETS.build(spec).build()
    manifest.write(df, rejects, args.out, args.out.replace(".parquet", "") + ".rejects.csv")
    print(df.groupby(["split", "label"]).size().to_string())
    print(f"{len(df)} clips, {len(rejects)} rejected -> {args.out}")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command`` (the subcommand being run) only that
    subcommand's module is imported, so ``scaa detect`` does not pay for the others'
    imports (pandas, fastapi, ...)."""
    parser = argparse.ArgumentParser(prog="scaa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="print every registered component with a one-line description")
    from scaa.registry import ALL

    p.add_argument("kind", nargs="?", choices=list(ALL), help="one kind only (default: every kind)")
    p.add_argument("--plugin", action="append", default=[], help="module to import first (repeatable)")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("manifest", help="build a manifest for a dataset outside the workflow")
    p.add_argument("type", help="dataset type, e.g. asvspoof2019_la")
    p.add_argument("root")
    p.add_argument("--out", default="manifest.parquet")
    p.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    p.add_argument("--params", help="extra adapter params as YAML, e.g. '{split_fractions: {train: 0.8, dev: 0.2}}'")
    p.set_defaults(func=_cmd_manifest)
    for name, module in COMMANDS.items():
        if command in COMMANDS and name != command:
            sub.add_parser(name)
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(func=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    from scaa.extras import MissingExtra

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv[0] if argv else None).parse_args(argv)
    except SystemExit as done:  # a usage error (exit 2, message on stderr) or --help (0)
        return done.code if isinstance(done.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, MissingExtra) as err:
        print(f"scaa {args.command}: error: {err}", file=sys.stderr)
        return 2


# Commands after which the process ends without the interpreter's teardown (once output is
# flushed and no child process is left): with torch, scikit-learn and pyarrow loaded,
# teardown takes about a second, a quarter of `scaa detect one.wav`. Commands that write
# files keep the normal exit, so every atexit handler still runs for them.
FAST_EXIT = {"detect"}


def run() -> None:
    """The ``scaa`` program (console script and ``python -m scaa.cli``)."""
    argv = sys.argv[1:]
    try:
        code = main(argv)
    except BrokenPipeError:  # the reader of stdout went away (`scaa list | head`): end quietly, 128 + SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        sys.exit(141)
    if argv and argv[0] in FAST_EXIT:
        fast_exit(code)
    sys.exit(code)


def fast_exit(code: int) -> None:
    """End the process now with ``code``, skipping the interpreter's teardown; returns
    (for a normal exit) if a child process is still running or the output cannot be flushed."""
    if "multiprocessing" in sys.modules:
        import multiprocessing

        if multiprocessing.active_children():
            return
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: the normal exit reports it
        return
    os._exit(code)


if __name__ == "__main__":
    run()
