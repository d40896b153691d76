"""Which model answers (--model, config, best dev-EER cell, pretrained default) and the options every model-loading command shares.

``scaa detect``, ``scaa overlay`` and ``scaa serve`` choose their model the same way
(:func:`choose_model`): ``--model``, else ``detect: {model: RUN_DIR}`` in the config, else
the cell with the lowest **dev** EER in results/ablations/summary.csv among cells not
trained on the demo corpus, else the pretrained default (:data:`scaa.inference.pretrained.DEFAULT`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from scaa.plan.grid import RUN_AXES, run_dir_of

DEFAULT_CONFIG = "config/config.yaml"
DEFAULT_SUMMARY = "results/ablations/summary.csv"


class NoModel(RuntimeError):
    pass


def positive_seconds(text: str) -> float:
    """argparse ``type=`` of --window, --hop and --max-seconds: a finite number > 0 (NaN and
    inf are usage errors, exit 2, not a traceback or a limit switched off)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type=`` of --threads and --jobs: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_plugin_argument(parser) -> None:
    parser.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                        help="plugin module the model may import (repeatable); a model naming any other is refused")


def detect_settings(config_path: str | Path = DEFAULT_CONFIG) -> dict:
    """The ``detect:`` block of the user's config (empty when there is no config)."""
    cfg = Path(config_path)
    if not cfg.is_file():
        return {}
    return (yaml.safe_load(cfg.read_text()) or {}).get("detect") or {}


def allowed_plugins(flags: list[str], config_path: str | Path = DEFAULT_CONFIG) -> list[str]:
    """Plugins the *user* allows: --allow-plugin flags plus detect.allow_plugins of their config."""
    from scaa.registry import module_list

    listed = module_list(detect_settings(config_path).get("allow_plugins"), f"{config_path}: detect.allow_plugins")
    return list(dict.fromkeys([*flags, *listed]))


def demo_datasets(config_path: str | Path = DEFAULT_CONFIG) -> set[str]:
    """Names of the config's datasets built from the embedded demo corpus (and ``demo``):
    cells trained on them are toys, never a default detector."""
    cfg = Path(config_path)
    datasets = ((yaml.safe_load(cfg.read_text()) or {}).get("datasets") or {}) if cfg.is_file() else {}
    return {"demo"} | {name for name, spec in datasets.items() if isinstance(spec, dict) and spec.get("type") == "demo"}


class OnlyDemoCells(NoModel):
    """The summary's cells were all trained on the demo corpus."""


def best_from_summary(summary_path: str | Path, skip: set[str] | frozenset = frozenset()) -> str:
    """run_dir of the cell with the lowest dev EER (ties: first in cell order), leaving out
    cells whose training set (before any ``+resynth``) is in ``skip``."""
    path = Path(summary_path)
    if not path.is_file():
        raise NoModel(f"no trained model found: {path} does not exist. Run `snakemake --cores all` first, "
                      "or pass --model RUN_DIR")
    import pandas as pd

    df = pd.read_csv(path)
    if "dev_eer" not in df.columns or not len(df):
        raise NoModel(f"{path} has no dev_eer column or no rows; rerun snakemake, or pass --model RUN_DIR")
    df = df[df["dev_eer"].notna()]
    if not len(df):
        raise NoModel(f"{path}: no cell has a dev EER; pass --model RUN_DIR")
    if skip and "train_dataset" in df.columns:
        trained_on = df["train_dataset"].astype(str).str.split("+").apply(lambda parts: set(parts) - {""})
        df = df[~trained_on.apply(lambda names: bool(names & set(skip)))]
        if not len(df):
            raise OnlyDemoCells(f"{path}: every cell was trained on the demo corpus ({', '.join(sorted(skip))})")
    keys = [c for c in RUN_AXES if c in df.columns]
    best = df.sort_values(["dev_eer", *keys], kind="mergesort").iloc[0]
    if "run_dir" in df.columns and isinstance(best["run_dir"], str):
        return best["run_dir"]
    if len(keys) < len(RUN_AXES):
        raise NoModel(f"{path} lacks run_dir and the cell columns {list(RUN_AXES)}")
    return run_dir_of(best)


def choose_model(model: str | None, config_path: str | Path = DEFAULT_CONFIG,
                 summary_path: str | Path = DEFAULT_SUMMARY) -> tuple[str, str]:
    """(model, how it was chosen): --model ("flag"), else config detect.model ("config"), else
    the best dev-EER cell of the summary that was not trained on the demo corpus ("summary"),
    else, when nothing was trained or only on the demo corpus, the pretrained default
    ``pretrained:aasist_l`` ("default"). A summary that exists but names no usable cell
    stays an error (:class:`NoModel`)."""
    if model:
        return model, "flag"
    chosen = detect_settings(config_path).get("model")
    if chosen:
        return str(chosen), "config"
    from scaa.inference.pretrained import DEFAULT

    if not Path(summary_path).is_file():
        return DEFAULT, "default"
    try:  # a demo-corpus cell is a toy: with only those, the pretrained default answers
        return best_from_summary(summary_path, skip=demo_datasets(config_path)), "summary"
    except OnlyDemoCells:
        return DEFAULT, "default"


def resolve_model(model: str | None, config_path: str | Path = DEFAULT_CONFIG,
                  summary_path: str | Path = DEFAULT_SUMMARY) -> str:
    """--model, else config detect.model, else the best dev-EER cell of the summary, else
    the pretrained default (:func:`choose_model`)."""
    return choose_model(model, config_path, summary_path)[0]


def announce_default(prog: str, model: str, how: str) -> None:
    """The one stderr line saying that no model was given and the pretrained default answers."""
    if how == "default":
        from scaa.inference.pretrained import notice

        print(notice(model, prog), file=sys.stderr, flush=True)
