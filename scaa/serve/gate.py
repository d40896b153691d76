"""Bounded work: at most ``workers`` inferences run at once, at most ``queue`` more wait.

Admission happens before the upload is read (see :mod:`scaa.serve.limits`), so a full
server answers 503 at once instead of buffering bodies it cannot serve. Inference runs in
a thread pool, keeping the event loop free to answer /healthz and reject the overflow.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial


class Gate:
    def __init__(self, workers: int, queue: int):
        self.workers, self.queue = int(workers), int(queue)
        self.capacity = self.workers + self.queue
        self.admitted = 0
        self._lock = threading.Lock()
        self._slots = asyncio.Semaphore(self.workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="scaa-infer")
        self.mean_s = 1.0  # running mean inference time, for Retry-After
        self.served = 0

    def try_admit(self) -> bool:
        with self._lock:
            if self.admitted >= self.capacity:
                return False
            self.admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.admitted -= 1

    def retry_after_s(self) -> int:
        """Seconds until a slot is likely free: the queue ahead drained at the measured rate."""
        return max(1, math.ceil(self.capacity / self.workers * self.mean_s))

    async def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in the worker pool once a worker slot is free."""
        async with self._slots:
            t0 = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))
            finally:
                took = time.perf_counter() - t0
                self.served += 1
                self.mean_s += (took - self.mean_s) / min(self.served, 20)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
