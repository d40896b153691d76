"""Score many files in parallel: forked or spawned worker processes, each holding the model once, and prefetching while the head loads.

Lines come back in input order and are the same as with one process (latency aside); see
``scaa detect --jobs`` (:mod:`scaa.commands.detect`).
"""
from __future__ import annotations

import sys
import time

from scaa.inference.load import load_detector
from scaa.inference.pipeline import SCORING_ERRORS, detect_line, problem_text

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
        _WORKER.update(detector=load_detector(run_dir, **load), run_dir=run_dir, options=options)
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
    """A file's :class:`~scaa.inference.pipeline.Prepared`, or the problem its line will report."""
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
