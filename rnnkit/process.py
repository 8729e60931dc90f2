"""Process-wide settings the command line applies before any work (a library user's process is
left alone), and the number of CPUs a process may use."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

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


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may keep busy: those it may run on (its affinity), or fewer where a
    cgroup CPU quota allows less (a container's ``--cpus``; whole CPUs, rounded up)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cpu_quota(cgroup)
    return max(1, min(cpus, quota) if quota else cpus)


def _cpu_quota(cgroup: Path) -> int | None:
    """The CPU quota of the process's cgroup as seen from inside it (v2 ``cpu.max``, else v1
    ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``), or None where there is none."""
    try:
        if (cgroup / "cpu.max").is_file():
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        return None
