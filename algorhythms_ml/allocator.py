"""The C allocator's settings for the processes that build the assets.

glibc's malloc serves a large block (above a threshold that it raises up to 32 MB at most) with a
fresh mmap and gives it back to the kernel when it is freed, so every later block of that size
has its pages faulted in and zeroed again by the kernel. The build allocates such
blocks over and over (a full-batch GCN step's gathered embeddings are 67 MB on the 5,000-playlist
demo graph and about 600 MB on the full MPD's; pandas and Arrow frames alike), and on the demo
a GCN fit spent a quarter of its time in the kernel doing that. With both thresholds raised
the blocks come from the heap, which keeps what was freed for the next allocation. On the
demo's graph a GCN fit then takes about a third of the page faults and of the kernel time, for
about 15% more resident memory at its peak (`benchmarks/allocator.py` measures both, side by
side; README, Benchmarks, gives the figures and those of the demo's whole build).

The same settings go to the processes this one starts (the local Spark JVM and its Python
workers, whose block pass multiplies sparse matrices, and the embedded PostgreSQL) through
glibc's environment variables, read when a process starts. `ALGORHYTHMS_MALLOC_TUNING=0` leaves
the allocator as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap rather than from mmap.
MMAP_THRESHOLD = 1 << 30
# Free memory at the top of the heap is given back to the kernel past this much.
TRIM_THRESHOLD = 1 << 30

ENV = "ALGORHYTHMS_MALLOC_TUNING"

# The same settings for processes started from this one (glibc reads them at start-up).
ENVIRONMENT = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
}


def keep_freed_blocks(environ: MutableMapping[str, str] | None = None) -> bool:
    """Raise this process's mmap and trim thresholds (see the module's doc), and set them in
    `environ` (default os.environ) for the processes it starts, where not set already; True
    when the C library took them. Not Linux, not glibc, or `ALGORHYTHMS_MALLOC_TUNING=0` in
    `environ`: nothing changes."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    took_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    took_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not (took_mmap and took_trim):
        return False
    for name, value in ENVIRONMENT.items():
        environ.setdefault(name, value)
    return True


def release_freed_memory() -> bool:
    """Give the kernel back the pages of every free block on the heap (glibc's malloc_trim)
    and in Arrow's memory pool, after a collection of Python's cycles; True when the heap
    released any.

    With the thresholds above the heap keeps what a step freed, holes included, for the next
    allocation, so a process that runs many steps (`algorhythms materialize` runs them all in
    one) would carry the largest step's peak into every later one: 9 GB after the GCN at
    200,000 playlists. Called after each step of the build."""
    import gc

    gc.collect()
    try:  # Arrow's own pool (mimalloc or jemalloc) keeps freed blocks as well
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except ImportError:
        pass
    if not sys.platform.startswith("linux"):
        return False
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return malloc_trim(0) == 1
