"""Score audio files with a trained cell; one JSON line per file.

``scaa detect PATH... [--model RUN_DIR] [--window S] [--hop S] [--jobs N]``. PATHs are files or
folders (searched recursively for wav, flac, mp3, ogg, opus, mp4 and other supported
audio). Each output line holds file, score (mean of the window scores; higher = more
likely spoof), p_spoof (Platt-calibrated on the cell's dev split; a pretrained model's own
softmax), decision (spoof iff score >= the dev EER threshold; pretrained: >= 0), threshold,
latency_ms (decode + features + head, model loading excluded), windows and model. An
unreadable file gives a line with "error" and the reason instead. A WAV or AIFF file whose
header promises more audio than the file holds (cut short) is scored on what it holds, and
its line adds ``"warning": "truncated"``. A file name that is not valid UTF-8 is scored as
any other; its ``file`` has the undecodable bytes written as ``\\xNN`` and the line adds
``"file_escape": "backslashreplace"``, so every line is valid UTF-8 JSON. --window, --hop
and --max-seconds take finite numbers > 0, --threads and --jobs whole numbers >= 1;
anything else is a usage error (exit 2).

``--jobs N`` scores files in N processes (default: every available core when there are
several files, else 1), each holding the model once: on Linux, with one thread per process
and the torch runtime, the N−1 workers are forked copies of this process made after it
loaded the model; elsewhere they are spawned and load it themselves. On the forked path,
N−1 workers forked as soon as the encoder is built already decode and encode files while
this process loads the head (:class:`Prefetch`). Lines still come out in input order and
are the same as with ``--jobs 1`` (latency aside). Over more than a few files a progress
bar goes to stderr; stdout holds only the JSON lines.

Model: --model, else ``detect: {model: RUN_DIR}`` in the config, else the cell with the
lowest **dev** EER in results/ablations/summary.csv among cells not trained on the demo
corpus, else (nothing trained, or only demo-corpus toys) the pretrained AASIST-L of its authors, ``pretrained:aasist_l`` (:mod:`scaa.inference.pretrained`; one
line on stderr says so; ``--model pretrained:aasist_l`` or ``pretrained:aasist`` chooses
one explicitly). Its weights are hash-pinned (``scaa weights fetch``); missing weights are
a model error (exit 2) saying how to fetch them. The model directory is verified
against the checksums written when it was trained, and is never changed. Plugin modules a
model names are imported only if you allow them (``--allow-plugin NAME``, or
``detect: {allow_plugins: [NAME]}`` in the config); otherwise it is refused, naming them.

Exit codes: 0 every file scored; 1 some input unreadable (its line has "error");
2 usage or model error (nothing scored); 141 the reader of stdout went away (``| head``):
scoring stops there, without a traceback.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from scaa.dsp import audio
from scaa.inference.load import load_detector, load_front_end
from scaa.inference.model_choice import (DEFAULT_CONFIG, DEFAULT_SUMMARY, NoModel,  # noqa: F401 (re-exported)
                                         add_plugin_argument, allowed_plugins, announce_default, best_from_summary,
                                         choose_model, positive_int, positive_seconds, resolve_model)
from scaa.inference.parallel import ParallelScorer, Prefetch, start_method
from scaa.inference.pipeline import detect_line, printable, problem_text  # noqa: F401 (re-exported)

EXIT_OK, EXIT_UNREADABLE, EXIT_MODEL = 0, 1, 2
EXIT_CLOSED = 128 + 13  # stdout closed by its reader (SIGPIPE's code in a shell)
PROGRESS_MIN_FILES = 4  # a bar from this many files on


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (recursive)")
    parser.add_argument("--model", help="trained cell directory (results/runs/...), fusion directory "
                                        "(results/fusions/...) or pretrained:aasist_l / pretrained:aasist; "
                                        "default: detect.model of the config, else the best dev-EER cell of the "
                                        "summary, else pretrained:aasist_l")
    parser.add_argument("--window", type=positive_seconds, default=4.0, help="window length in seconds (default 4)")
    parser.add_argument("--hop", type=positive_seconds, default=None, help="window hop in seconds (default window/2)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="workflow config holding detect: {model: ...}")
    parser.add_argument("--summary", default=DEFAULT_SUMMARY,
                        help="ablation summary used to pick the best dev-EER cell")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch/BLAS threads per worker process")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="worker processes scoring files in parallel, each loading the model once "
                             "(default: all available cores for several files, 1 for one file)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--timings", action="store_true",
                        help="at the end, one JSON line on stderr: when the encoder and the whole model were "
                             "loaded, how many files workers prepared meanwhile, how many this process scored")
    parser.add_argument("--max-seconds", type=positive_seconds, default=600.0,
                        help="longer files get an error line instead of being decoded (default 600)")
    add_plugin_argument(parser)
    parser.add_argument("--bf16", action="store_true",
                        help="run the encoder in bfloat16 (wav2vec2/hubert/wavlm/distillmos): 2-3x faster on CPUs "
                             "with AMX/AVX512-BF16; its EER change is in the benchmark rule's output")
    parser.add_argument("--int8", action="store_true",
                        help="int8 dynamic quantisation of the torch Linear layers (with --bf16 on an SSL encoder: "
                             "int8 transformer matmuls, bf16 convolutions, the fastest setting); it changes scores "
                             "more than bf16: check its EER change in the benchmark rule's output first")
    parser.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                        help="onnx: score with the graph `scaa export RUN_DIR --format onnx` wrote (onnxruntime); "
                             "calibration and threshold as for torch")
    parser.epilog = ("exit codes: 0 all scored, 1 some input unreadable, 2 usage/model error, "
                     "141 stdout closed by its reader")


def collect(paths: list[str]) -> list[tuple[str, str | None]]:
    """(file, problem) pairs: folders expanded recursively to supported audio, sorted. A
    symlink whose target is gone is listed with its problem, not silently left out."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.suffix.lower() in audio.AUDIO_SUFFIXES
                           and (f.is_file() or (f.is_symlink() and not f.exists())))
            if not found:
                out.append((str(path), "empty_folder: no supported audio files"))
            out += [(str(f), None if f.exists() else "missing: dangling symlink") for f in found]
        elif path.is_file():
            out.append((str(path), None))
        else:
            out.append((str(path), "missing: dangling symlink" if path.is_symlink() else "missing"))
    return out


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def load_options(args) -> dict:
    """How ``main`` and every worker process load the model (picklable keywords)."""
    return {"threads": args.threads, "bf16": args.bf16, "int8": args.int8,
            "runtime": getattr(args, "runtime", "torch"), "allow_plugins": allowed_plugins(args.allow_plugin, args.config)}


def line_options(args, hop: float) -> dict:
    """Keywords of :func:`detect_line` that are the same for every file of a run."""
    precision = "+".join(p for p, on in (("bf16", args.bf16), ("int8", args.int8)) if on) or None
    runtime = "onnx" if getattr(args, "runtime", "torch") == "onnx" else None
    return {"window_s": args.window, "hop_s": hop, "precision": precision, "runtime": runtime,
            "max_seconds": args.max_seconds}


def main(args) -> int:
    from scaa.inference.pipeline import check_windowing

    hop = args.hop if args.hop is not None else args.window / 2
    try:
        check_windowing(args.window, hop)
    except ValueError as err:
        print(f"scaa detect: error: --window/--hop: {err}", file=sys.stderr)
        return EXIT_MODEL
    if args.jobs is not None and args.jobs < 1:
        print("scaa detect: error: --jobs must be at least 1", file=sys.stderr)
        return EXIT_MODEL
    items = collect(args.paths)
    options = line_options(args, hop)
    todo = sum(problem is None for _, problem in items)
    jobs = min(args.jobs or (available_cores() if todo > 1 else 1), max(todo, 1))
    scorer = prefetch = None
    clock = {"start": time.perf_counter()}
    prepared = {}
    try:
        run_dir, how = choose_model(args.model, args.config, args.summary)
        announce_default("scaa detect", run_dir, how)
        load = load_options(args)
        fork = start_method(load) == "fork"
        if jobs > 1 and not fork:  # spawned workers start loading now, alongside this process
            scorer = ParallelScorer(run_dir, jobs - 1, load, options)
        front = load_front_end(run_dir, **load) if jobs > 1 and fork else None
        if front is not None:  # forked workers prepare files while this process loads the head
            clock["encoder"] = time.perf_counter()
            prefetch = Prefetch(front, jobs - 1, items, options)
            front.load_head()
            front.warm_up()
            detector = front
        else:
            detector = load_detector(run_dir, **load)  # model errors surface here (exit 2)
        clock["model"] = time.perf_counter()
        if jobs > 1 and fork:  # copies of this process, model loaded
            prepared = prefetch.collect() if prefetch is not None else {}
            scorer = ParallelScorer(run_dir, jobs - 1, load, options, detector=detector, prepared=prepared)
    except Exception as err:  # any failure to get a model is a model error (exit 2)
        for started in (scorer, prefetch):
            if started is not None:
                started.close()
        print(f"scaa detect: error: {err}", file=sys.stderr)
        return EXIT_MODEL
    if scorer is not None:
        lines = scorer.lines(detector, items)
    else:
        lines = (detect_line(detector, path, run_dir, problem=problem, **options) for path, problem in items)
    from tqdm import tqdm

    bar = tqdm(total=len(items), unit="file", desc="scaa detect", file=sys.stderr, mininterval=1.0,
               disable=args.no_progress or len(items) < PROGRESS_MIN_FILES)
    code = EXIT_OK
    try:
        for line in lines:
            if "error" in line:
                code = EXIT_UNREADABLE
            print(json.dumps(line), flush=True)
            bar.update()
    except BrokenPipeError:  # the reader went away (`| head`): stop scoring, leave quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_CLOSED
    finally:
        bar.close()
        lines.close()  # stops this process's scoring thread before the workers go
        if scorer is not None:
            scorer.close()
    if args.timings:
        since = {k: round(v - clock["start"], 3) for k, v in clock.items() if k != "start"}
        print(json.dumps({"timings": {"jobs": jobs, "files": len(items), **{f"{k}_loaded_s": v for k, v in since.items()},
                                      "prepared_while_loading": len(prepared),
                                      "scored_here": scorer.local_files if scorer is not None else len(items),
                                      "done_s": round(time.perf_counter() - clock["start"], 3)}}), file=sys.stderr)
    return code
