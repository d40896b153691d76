"""Bounded work, one lane per kind of request.

At most ``workers`` run at once, at most ``queue`` more wait. Detects and overlays have a
lane each (their own threads), so a detect is never queued behind a minutes-long overlay.

A request is admitted once its body has arrived (a stalled upload holds no place here;
:mod:`scaa.serve.limits` bounds those), and a lane already full answers 503 before the
body is read. Work runs in the lane's thread pool, keeping the event loop free to answer
/healthz and reject the overflow. ``Retry-After`` is the measured wait: the moving average
of the lane's service time x the requests it holds, over its workers.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

EMA_WEIGHT = 0.3      # weight of the newest service time in the moving average
FIRST_GUESS_S = 1.0   # service time assumed before the first request is measured


class Busy(Exception):
    """A lane is full: answered 503 with Retry-After."""

    def __init__(self, lane: "Gate"):
        self.lane = lane
        self.retry_after_s = lane.retry_after_s()
        super().__init__(f"busy: every {lane.name} worker and queue slot is taken "
                         f"({lane.workers} running, {lane.queue} waiting); retry in {self.retry_after_s} s")


class Gate:
    def __init__(self, workers: int, queue: int, name: str = "detect"):
        self.name, self.workers, self.queue = name, int(workers), int(queue)
        self.capacity = self.workers + self.queue
        self.admitted = 0
        self._lock = threading.Lock()
        self._slots = asyncio.Semaphore(self.workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=f"scaa-{name}")
        self.service_s: float | None = None  # moving average of measured service time
        self.served = 0

    def full(self) -> bool:
        return self.admitted >= self.capacity

    def try_admit(self) -> bool:
        with self._lock:
            if self.admitted >= self.capacity:
                return False
            self.admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.admitted -= 1

    @contextmanager
    def admit(self):
        """Hold a place in the lane for the ``with`` block; :class:`Busy` when there is none."""
        if not self.try_admit():
            raise Busy(self)
        try:
            yield self
        finally:
            self.release()

    def expected_wait_s(self) -> float:
        """How long a request admitted now would wait before a worker takes it: every request
        the lane holds, served ``workers`` at a time at the measured service time."""
        service = FIRST_GUESS_S if self.service_s is None else self.service_s
        return service * self.admitted / self.workers

    def retry_after_s(self) -> int:
        """Seconds until retrying is likely to be admitted and served: the measured wait, >= 1."""
        return max(1, math.ceil(self.expected_wait_s()))

    def measure(self, seconds: float) -> None:
        with self._lock:
            self.served += 1
            self.service_s = seconds if self.service_s is None else \
                (1 - EMA_WEIGHT) * self.service_s + EMA_WEIGHT * seconds

    async def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in this lane's worker pool once a worker is free."""
        async with self._slots:
            t0 = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))
            finally:
                self.measure(time.perf_counter() - t0)

    def status(self) -> dict:
        return {"admitted": self.admitted, "capacity": self.capacity, "workers": self.workers,
                "service_s": None if self.service_s is None else round(self.service_s, 4),
                "expected_wait_s": round(self.expected_wait_s(), 3)}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
