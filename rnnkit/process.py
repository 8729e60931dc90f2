"""Process-wide settings the command line applies before any work (a library user's process is left alone)."""

from __future__ import annotations

import os
import sys

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas() -> None:
    """Let glibc's malloc keep one arena per usable CPU (at least two) instead of up to eight per CPU.

    Threads that allocate at the same time get arenas of their own, and memory freed in one arena
    is not reused by the others. Data preparation (pyarrow's readers) and TensorFlow run many
    threads, so a training run ends up holding more memory than it uses: 30-45 MiB more peak RSS
    training on 5M rows, at no measurable cost in speed (docs/performance.md, section e). Call it
    before those threads start. The user's own setting (``MALLOC_ARENA_MAX``, or
    ``glibc.malloc.arena_max`` in ``GLIBC_TUNABLES``) wins; where the C library is not glibc,
    nothing changes.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    if "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, max(2, len(os.sched_getaffinity(0))))


def one_thread_per_op() -> None:
    """Have TensorFlow run each op on one thread (``TF_NUM_INTRAOP_THREADS=1``), for commands that
    predict batch after batch: prediction then keeps one batch in flight per CPU
    (``rnnkit.tasks.base.prediction_streams``), each computed start to end by one thread, instead
    of splitting every small op of two batches across all the cores and waiting for them all.

    On 2 cores the reference forecasting model predicted 0.92-1.09x as fast in three pinned runs
    (1.02-1.29x in seven scratch runs; with 512-window batches), the example classification,
    tagging and text models 1.03x, 1.08x and 1.40x (docs/performance.md, section d). Call it
    before TensorFlow's first op; the user's own ``TF_NUM_INTRAOP_THREADS`` wins.
    """
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
