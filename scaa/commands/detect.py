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
corpus, else (nothing trained, or only demo-corpus toys) the pretrained AASIST-L of its authors, ``pretrained:aasist_l`` (:mod:`scaa.pretrained`; one
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

import yaml

from scaa import audio
from scaa.grid import RUN_AXES, run_dir_of

EXIT_OK, EXIT_UNREADABLE, EXIT_MODEL = 0, 1, 2
EXIT_CLOSED = 128 + 13  # stdout closed by its reader (SIGPIPE's code in a shell)
DEFAULT_CONFIG = "config/config.yaml"
DEFAULT_SUMMARY = "results/ablations/summary.csv"
PROGRESS_MIN_FILES = 4  # a bar from this many files on


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
    from scaa.pretrained import DEFAULT

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
        from scaa.pretrained import notice

        print(notice(model, prog), file=sys.stderr, flush=True)


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


def _model_options(threads: int, bf16: bool, int8: bool, allow_plugins) -> dict:
    """The detector loaders' keywords for the command's --threads, --bf16, --int8 and plugins."""
    return {"threads": threads, "dtype": "bfloat16" if bf16 else None, "quantize": "int8" if int8 else None,
            "allow_plugins": allow_plugins}


def _load(run_dir: str, threads: int, bf16: bool, int8: bool, runtime: str = "torch", allow_plugins=()):
    from scaa.detector import Detector
    from scaa.fusion import FusedDetector
    from scaa.pretrained import is_pretrained

    if is_pretrained(run_dir):  # a pretrained model (scaa.pretrained), built as a cell's detector
        if runtime == "onnx":
            raise ValueError(f"--runtime onnx scores exported cells; {run_dir} has no exported graph")
        detector = Detector.from_run(run_dir, **_model_options(threads, bf16, int8, allow_plugins))
    elif FusedDetector.is_fusion(run_dir):  # a fusion: each member runs once per file
        if runtime == "onnx":
            raise ValueError("--runtime onnx scores single cells, not fusions")
        detector = FusedDetector.from_dir(run_dir, **_model_options(threads, bf16, int8, allow_plugins))
    elif runtime == "onnx":
        if bf16 or int8:
            raise ValueError("--bf16/--int8 apply to the torch runtime, not --runtime onnx")
        from scaa.onnx_detector import OnnxDetector

        detector = OnnxDetector.from_run(run_dir, threads=threads, allow_plugins=allow_plugins)
    else:
        detector = Detector.from_run(run_dir, **_model_options(threads, bf16, int8, allow_plugins))
    detector.warm_up()
    return detector


def _load_front_end(run_dir: str, threads: int, bf16: bool, int8: bool, runtime: str = "torch", allow_plugins=()):
    """A single cell's detector with its encoder built and warmed up but no head yet (see
    :class:`Prefetch`); None for a fusion or the onnx runtime, which load in one go."""
    from scaa.detector import Detector
    from scaa.fusion import FusedDetector
    from scaa.pretrained import is_pretrained

    if runtime != "torch" or (not is_pretrained(run_dir) and FusedDetector.is_fusion(run_dir)):
        return None
    detector = Detector.front_end(run_dir, **_model_options(threads, bf16, int8, allow_plugins))
    detector.warm_up()
    return detector


def line_options(args, hop: float) -> dict:
    """Keywords of :func:`detect_line` that are the same for every file of a run."""
    precision = "+".join(p for p, on in (("bf16", args.bf16), ("int8", args.int8)) if on) or None
    runtime = "onnx" if getattr(args, "runtime", "torch") == "onnx" else None
    return {"window_s": args.window, "hop_s": hop, "precision": precision, "runtime": runtime,
            "max_seconds": args.max_seconds}


# -- worker processes: each has the model once, loaded by it (spawn) or inherited (fork) --
_WORKER: dict = {}
MAX_CHUNK = 16  # files per hand-out to a worker process, at most
CHUNK_SECONDS = 0.05  # a hand-out holds about this much work (a round trip costs ~1 ms)


def start_method(load: dict) -> str:
    """'fork' where a copy of this process, model loaded, can score safely: Linux, the torch
    runtime and one thread per process (a forked child must not inherit a started OpenMP or
    onnxruntime thread pool). 'spawn' elsewhere: a fresh interpreter that loads the model."""
    fork_ok = (sys.platform.startswith("linux") and load.get("runtime", "torch") == "torch"
               and int(load.get("threads", 1)) == 1)
    return "fork" if fork_ok else "spawn"


def _worker_init(run_dir: str, load: dict, options: dict) -> None:
    try:
        _WORKER.update(detector=_load(run_dir, **load), run_dir=run_dir, options=options)
    except Exception as err:  # reported by _worker_ready, without a traceback from the child
        _WORKER["error"] = f"{type(err).__name__}: {err}"


def _worker_ready() -> str | None:
    """None once the worker has its model, else why it has none."""
    return None if "detector" in _WORKER else _WORKER.get("error", "not started")


def _worker_score(work: list[tuple]) -> list[dict]:
    """Lines of (path, problem, prepared) work items."""
    w = _WORKER
    return [detect_line(w["detector"], path, w["run_dir"], problem=problem, prepared=prepared, **w["options"])
            for path, problem, prepared in work]


def _forked_loop(conn) -> None:
    """A forked worker: score each list of items it is sent, until it is sent None."""
    while (items := conn.recv()) is not None:
        try:
            conn.send(("lines", _worker_score(items)))
        except Exception as err:  # the parent scores these files itself
            conn.send(("error", f"{type(err).__name__}: {err}"))


class _SpawnedWorker:
    """A fresh interpreter that imports scaa and loads the model itself (seconds)."""

    def __init__(self, ctx, run_dir: str, load: dict, options: dict):
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init,
                                        initargs=(run_dir, load, options))
        self._ready = self.pool.submit(_worker_ready)  # starts the process now

    def problem(self, timeout: float | None = None) -> str | None:
        """Blocks until the worker has its model (None) or has given up (why)."""
        try:
            return self._ready.result(timeout)
        except Exception as err:  # the process died
            return f"{type(err).__name__}: {err}"

    def score(self, items: list) -> list[dict]:
        return self.pool.submit(_worker_score, items).result()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class _ForkedWorker:
    """A copy of this process made after it loaded the model: ready at once, with nothing
    imported or loaded twice, and the model's memory shared until written."""

    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_forked_loop, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def problem(self, timeout: float | None = None) -> str | None:
        return None

    def score(self, items: list) -> list[dict]:
        self.conn.send(items)
        kind, body = self.conn.recv()  # EOFError when the process died
        if kind != "lines":
            raise RuntimeError(body)
        return body

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:  # already gone
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
        self.conn.close()


PREFETCH_BYTES = 256 << 20  # features the prefetching workers hold at most, together


def prepare_item(detector, path: str, window_s: float, hop_s: float, max_seconds: float | None = None, **_):
    """A file's :class:`~scaa.detector.Prepared`, or the problem its line will report."""
    try:
        return detector.prepare(path, window_s, hop_s, max_seconds)
    except SCORING_ERRORS as err:
        return problem_text(err)


def _prefetch_loop(conn, detector, items: list, options: dict, counter, max_bytes: int) -> None:
    """A prefetching worker: prepare the next file until told to stop (or out of files or
    room), then hand over what it prepared."""
    done, held = {}, 0
    try:
        while held < max_bytes and not conn.poll():
            with counter.get_lock():
                i = counter.value
                if i >= len(items):
                    break
                counter.value = i + 1
            path, problem = items[i]
            if problem is None:
                done[i] = prepare_item(detector, path, **options)
                held += getattr(done[i], "nbytes", 0)
    except Exception:  # a file it did not finish is scored again later, where any error surfaces
        pass
    conn.recv()
    conn.send(done)


class Prefetch:
    """Workers that prepare files (decode, windows, encoder features) while this process
    loads the head. They are forked once the encoder is built, so through the rest of
    start-up (importing torch and scikit-learn, calibration, head: seconds) the other cores
    already work instead of idling; on a cheap cell that start-up is most of a folder's
    time. Each takes the next file from a counter in shared memory and keeps what it
    prepared (at most ``max_bytes`` of features, all workers together) until :meth:`collect`."""

    def __init__(self, detector, n_workers: int, items: list, options: dict, max_bytes: int = PREFETCH_BYTES):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.counter = ctx.Value("q", 0)
        self.workers = []
        for _ in range(n_workers):
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_prefetch_loop, daemon=True,
                               args=(child, detector, items, options, self.counter, max_bytes // n_workers))
            proc.start()
            child.close()
            self.workers.append((proc, conn))

    def collect(self) -> dict:
        """Stop the workers: {file index: Prepared, or the problem of a file that has none}. A
        file a worker took but did not finish (it failed or died) is left out, to be scored later."""
        prepared = {}
        for _, conn in self.workers:
            try:
                conn.send("stop")
                prepared.update(conn.recv())
            except (OSError, EOFError):  # a worker that died
                pass
        self.close()
        return prepared

    def close(self) -> None:
        """End the workers now (after :meth:`collect` they have nothing left to hand over)."""
        for proc, conn in self.workers:
            proc.terminate()
            proc.join()
            conn.close()
        self.workers = []


class ParallelScorer:
    """Scores files with this process's detector plus ``extra`` worker processes.

    Two ways to start the workers (:func:`start_method`). Forked: made *after* this process
    loaded its model (``detector``), they start in milliseconds and share its memory.
    Spawned (another runtime, several threads per process, not Linux): started *before*
    this process loads its model, so their start-up (imports and model load, seconds)
    overlaps with it. Either way this process scores files too, and a worker takes files
    only once it has its model. Files are handed out from a shared counter, so a small
    folder is finished by whoever is ready and never waits for a slow start, and a worker
    that fails to start leaves its share to the others. Lines come back in input order.
    ``prepared`` (from :meth:`Prefetch.collect`): files already decoded and encoded, for
    which only the head runs."""

    def __init__(self, run_dir: str, extra: int, load: dict, options: dict, detector=None,
                 prepared: dict | None = None):
        import multiprocessing

        self.run_dir, self.options = run_dir, options
        self.prepared = dict(prepared or {})  # file index -> Prepared or problem (from a Prefetch)
        self.local_files = 0  # files this process scored (``lines``)
        self.forked = detector is not None
        if self.forked:  # fork: the children inherit this process's loaded model
            _WORKER.update(detector=detector, run_dir=run_dir, options=options)
            ctx = multiprocessing.get_context("fork")
            self.workers = [_ForkedWorker(ctx) for _ in range(extra)]
        else:
            ctx = multiprocessing.get_context("spawn")
            self.workers = [_SpawnedWorker(ctx, run_dir, load, options) for _ in range(extra)]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        if self.forked:  # the children have their copy; this process keeps no second reference
            _WORKER.clear()

    def lines(self, detector, items: list):
        import threading

        n, lock, done = len(items), threading.Lock(), threading.Condition()
        state = {"next": 0, "stop": False, "local_files": 0, "local_seconds": 0.0}
        results: dict[int, dict] = {}
        failures: list[BaseException] = []

        def take(chunk=False):
            """The next file's index; for a worker, the next few when files are cheap (a round
            trip to a process costs about as much as scoring a small file), but never so many
            that the others wait for its last hand-out."""
            with lock:
                i = state["next"]
                if state["stop"] or i >= n:
                    return None
                k = 1
                if chunk and state["local_files"]:  # about CHUNK_SECONDS of work, by this process's pace
                    per_file = state["local_seconds"] / state["local_files"]
                    k = int(min(MAX_CHUNK, CHUNK_SECONDS / max(per_file, 1e-6),
                                (n - i) // (4 * (len(self.workers) + 1)))) or 1
                state["next"] = i + k
                return range(i, i + k) if chunk else i

        def work(i):
            """File i as (path, problem, prepared)."""
            path, problem = items[i]
            prepared = self.prepared.pop(i, None)
            return (path, prepared, None) if isinstance(prepared, str) else (path, problem, prepared)

        def put(i, line):
            with done:
                results[i] = line
                done.notify_all()

        def run_local():
            try:
                while (i := take()) is not None:
                    path, problem, prepared = work(i)
                    t0 = time.perf_counter()
                    put(i, detect_line(detector, path, self.run_dir, problem=problem, prepared=prepared,
                                       **self.options))
                    with lock:
                        state["local_files"] += 1
                        state["local_seconds"] += time.perf_counter() - t0
                        self.local_files += 1
            except BaseException as err:  # surfaced to the caller below
                failures.append(err)
                with done:
                    state["stop"] = True
                    done.notify_all()

        def run_worker(worker):
            problem = worker.problem()
            if problem is not None:  # the others take its share
                print(f"scaa detect: a worker process could not load the model ({problem}); "
                      "going on without it", file=sys.stderr)
                return
            while (chunk := take(chunk=True)) is not None:
                todo = [work(i) for i in chunk]
                try:
                    lines = worker.score(todo)
                except Exception:  # a dead worker: score its files here instead
                    lines = [detect_line(detector, path, self.run_dir, problem=problem, prepared=prepared,
                                         **self.options) for path, problem, prepared in todo]
                    with lock:
                        self.local_files += len(todo)
                for i, line in zip(chunk, lines):
                    put(i, line)

        local = threading.Thread(target=run_local, daemon=True)
        threads = [local] + [threading.Thread(target=run_worker, args=(w,), daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        try:
            for i in range(n):
                with done:
                    while i not in results and not failures:
                        done.wait()
                    if failures:
                        raise failures[0]
                    line = results.pop(i)
                yield line
        finally:  # also when the caller stops early: no file is started after this
            with lock:
                state["stop"] = True
            local.join()  # it runs the model in this process: let it finish its file


def main(args) -> int:
    from scaa.detector import check_windowing

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
        front = _load_front_end(run_dir, **load) if jobs > 1 and fork else None
        if front is not None:  # forked workers prepare files while this process loads the head
            clock["encoder"] = time.perf_counter()
            prefetch = Prefetch(front, jobs - 1, items, options)
            front.load_head()
            front.warm_up()
            detector = front
        else:
            detector = _load(run_dir, **load)  # model errors surface here (exit 2)
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


# what a file's line reports as its "error" instead of failing the run (e.g. too short for the encoder)
SCORING_ERRORS = (audio.AudioError, ValueError, FloatingPointError, RuntimeError)


def problem_text(err: Exception) -> str:
    """The "error" of a file that could not be scored."""
    if isinstance(err, audio.AudioError):
        return err.reason + (f": {err.detail}" if err.detail else "")
    return f"unscorable: {err}"


def detect_line(detector, path: str, model: str, window_s: float, hop_s: float, precision: str | None = None,
                problem: str | None = None, name: str | None = None, runtime: str | None = None,
                max_seconds: float | None = None, prepared=None) -> dict:
    """One output line of ``scaa detect`` (also the body of the server's /v1/detect).

    ``name`` is what the line calls the file (default ``path``; the server passes the
    uploaded file's name, so its temporary path never shows). A file that cannot be
    scored gets ``error`` (the AudioError reason, or ``unscorable: ...``) instead of scores.
    ``prepared``: the file already decoded and encoded (:func:`prepare_item`); only the head runs.
    """
    name = path if name is None else name
    line = {"file": name, "model": model}
    shown = printable(name)
    if shown != name:  # a name that is not valid UTF-8: written so that the line is valid JSON
        line.update(file=shown, file_escape=FILE_ESCAPE)
    if precision:  # scores differ a little from the model as trained: say so
        line["precision"] = precision
    if runtime:  # an exported graph scored the file (agrees with torch to the parity tolerance)
        line["runtime"] = runtime
    if problem is None:
        try:
            line.update(detector.score_file(path, window_s, hop_s, max_seconds=max_seconds) if prepared is None
                        else detector.finish(prepared))
        except SCORING_ERRORS as err:
            problem = problem_text(err)
    if problem is None and audio.truncated(path):  # scored, but the file holds less than its header says
        line["warning"] = "truncated"
    if problem is not None:
        line["error"] = printable(problem.replace(str(path), name) if name != path else problem)
    return line


FILE_ESCAPE = "backslashreplace"  # how a non-UTF-8 file name is written in a line's "file"


def printable(text: str) -> str:
    """``text`` as valid Unicode: a file name that is not valid UTF-8 (held in a str by
    surrogate escapes, as Python reads such names) gets its undecodable bytes written as
    ``\\xNN`` (Python's "backslashreplace"); other text is returned unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the name's own bytes
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", FILE_ESCAPE)
