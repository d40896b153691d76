"""Keep freed memory in the process heap during training (glibc only).

A torch training step allocates the same batch-sized buffers every step: the padded
input, each layer's activations and their gradients, 1 to 30 MB each. glibc's malloc
serves blocks above its mmap threshold with fresh pages from the kernel and gives them
back on free, and trims free memory off the top of the heap, so every step pays a page
fault per 4 KB touched. On the ``attn`` head that was a quarter of an epoch
(bench/results/cnn_train_attn.md). Raising both thresholds lets the next step reuse the
same memory. The price: the process keeps up to ``trim_threshold`` of freed memory
instead of returning it, so its resident size stays near its peak.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20   # blocks up to 32 MB come from the heap (glibc's own dynamic ceiling)
TRIM_THRESHOLD = 256 << 20  # free memory kept at the heap top before it goes back to the kernel
logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Set the two thresholds once per process; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS, Windows: their allocators behave differently
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not ok:
        logger.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return ok
