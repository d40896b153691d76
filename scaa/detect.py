"""Score audio files with a trained cell; one JSON line per file.

``scaa detect PATH... [--model RUN_DIR] [--window S] [--hop S]``. PATHs are files or
folders (searched recursively for wav, flac, mp3, ogg, opus, mp4 and other supported
audio). Each output line holds file, score (mean of the window scores; higher = more
likely spoof), p_spoof (Platt-calibrated on the cell's dev split), decision (spoof iff
score >= the dev EER threshold), threshold, latency_ms (decode + features + head, model
loading excluded), windows and model. An unreadable file gives a line with "error" and
the reason instead.

Model: --model, else ``detect: {model: RUN_DIR}`` in the config, else the cell with the
lowest **dev** EER in results/ablations/summary.csv.

Exit codes: 0 every file scored; 1 some input unreadable (its line has "error");
2 usage or model error (nothing scored).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from scaa import audio

EXIT_OK, EXIT_UNREADABLE, EXIT_MODEL = 0, 1, 2
DEFAULT_CONFIG = "config/config.yaml"
DEFAULT_SUMMARY = "results/ablations/summary.csv"
CELL_AXES = ("train_dataset", "encoder", "view", "loss", "head", "freeze", "seed")


class NoModel(RuntimeError):
    pass


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (recursive)")
    parser.add_argument("--model", help="trained cell directory (results/runs/...) or fusion directory "
                                        "(results/fusions/...); default: see below")
    parser.add_argument("--window", type=float, default=4.0, help="window length in seconds (default 4)")
    parser.add_argument("--hop", type=float, default=None, help="window hop in seconds (default window/2)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="workflow config holding detect: {model: ...}")
    parser.add_argument("--summary", default=DEFAULT_SUMMARY,
                        help="ablation summary used to pick the best dev-EER cell")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true",
                        help="run the encoder in bfloat16 (wav2vec2/hubert/wavlm/distillmos): 2-3x faster on CPUs "
                             "with AMX/AVX512-BF16; its EER change is in the benchmark rule's output")
    parser.add_argument("--int8", action="store_true",
                        help="int8 dynamic quantisation of the torch Linear layers (with --bf16 on an SSL encoder: "
                             "int8 transformer matmuls, bf16 convolutions, the fastest setting); it changes scores "
                             "more than bf16: check its EER change in the benchmark rule's output first")
    parser.epilog = "exit codes: 0 all scored, 1 some input unreadable, 2 usage/model error"


def best_from_summary(summary_path: str | Path) -> str:
    """run_dir of the cell with the lowest dev EER (ties: first in cell order)."""
    path = Path(summary_path)
    if not path.is_file():
        raise NoModel(f"no trained model found: {path} does not exist. Run `snakemake --cores all` first, "
                      "or pass --model RUN_DIR")
    df = pd.read_csv(path)
    if "dev_eer" not in df.columns or not len(df):
        raise NoModel(f"{path} has no dev_eer column or no rows; rerun snakemake, or pass --model RUN_DIR")
    df = df[df["dev_eer"].notna()]
    if not len(df):
        raise NoModel(f"{path}: no cell has a dev EER; pass --model RUN_DIR")
    keys = [c for c in CELL_AXES if c in df.columns]
    best = df.sort_values(["dev_eer", *keys], kind="mergesort").iloc[0]
    if "run_dir" in df.columns and isinstance(best["run_dir"], str):
        return best["run_dir"]
    if len(keys) < len(CELL_AXES):
        raise NoModel(f"{path} lacks run_dir and the cell columns {list(CELL_AXES)}")
    return ("results/runs/{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}"
            .format(**{k: best[k] for k in CELL_AXES}))


def resolve_model(model: str | None, config_path: str | Path = DEFAULT_CONFIG,
                  summary_path: str | Path = DEFAULT_SUMMARY) -> str:
    """--model, else config detect.model, else the best dev-EER cell of the summary."""
    if model:
        return model
    cfg = Path(config_path)
    if cfg.is_file():
        chosen = ((yaml.safe_load(cfg.read_text()) or {}).get("detect") or {}).get("model")
        if chosen:
            return str(chosen)
    return best_from_summary(summary_path)


def collect(paths: list[str]) -> list[tuple[str, str | None]]:
    """(file, problem) pairs: folders expanded recursively to supported audio, sorted."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in audio.AUDIO_SUFFIXES)
            if not found:
                out.append((str(path), "empty_folder: no supported audio files"))
            out += [(str(f), None) for f in found]
        elif path.is_file():
            out.append((str(path), None))
        else:
            out.append((str(path), "missing"))
    return out


def main(args) -> int:
    hop = args.hop if args.hop is not None else args.window / 2
    if args.window <= 0 or hop <= 0:
        print("scaa detect: error: --window and --hop must be positive", file=sys.stderr)
        return EXIT_MODEL
    try:
        run_dir = resolve_model(args.model, args.config, args.summary)
        from scaa.detector import Detector
        from scaa.fusion import FusedDetector

        loader = FusedDetector.from_dir if FusedDetector.is_fusion(run_dir) else Detector.from_run  # a fusion: each member once
        detector = loader(run_dir, threads=args.threads, dtype="bfloat16" if args.bf16 else None,
                          quantize="int8" if args.int8 else None)
        detector.warm_up()
    except Exception as err:  # any failure to get a model is a model error (exit 2)
        print(f"scaa detect: error: {err}", file=sys.stderr)
        return EXIT_MODEL
    code = EXIT_OK
    for path, problem in collect(args.paths):
        line = {"file": path, "model": run_dir}
        if args.bf16 or args.int8:  # scores differ a little from the model as trained: say so
            line["precision"] = "+".join(p for p, on in (("bf16", args.bf16), ("int8", args.int8)) if on)
        if problem is None:
            try:
                line.update(detector.score_file(path, args.window, hop))
            except audio.AudioError as err:
                problem = err.reason + (f": {err.detail}" if err.detail else "")
            except (ValueError, FloatingPointError, RuntimeError) as err:  # e.g. too short for the encoder
                problem = f"unscorable: {err}"
        if problem is not None:
            line["error"] = problem
            code = EXIT_UNREADABLE
        print(json.dumps(line), flush=True)
    return code
