"""Process-wide settings the command line applies before any work (a library user's process is
left alone), and the CPUs and memory a process may use."""

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
    mallopt(_M_ARENA_MAX, max(2, _affinity_cpus()))


def usable_cpus(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int:
    """CPUs this process may keep busy: those it may run on (its affinity), or fewer where a
    cgroup CPU quota allows less (a container's ``--cpus``, a systemd ``CPUQuota``; whole CPUs,
    rounded up). ``root``: where the cgroup file systems are mounted; ``membership``: the
    process's cgroups, as ``/proc/self/cgroup`` lists them."""
    cpus = _affinity_cpus()
    quota = _cpu_quota(root, membership)
    return max(1, min(cpus, quota) if quota else cpus)


def machine_memory(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes of memory this process may use: the machine's physical memory, or less where a cgroup
    limit on the way from the process's cgroup to the mount's root sets less (a container's
    ``--memory``; cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``). None where the platform
    cannot say."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        lines = []
    limits = []
    for line in filter(str.strip, lines):
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":
            limits += [_memory_limit(folder / "memory.max") for folder in _up(root, path)]
        elif "memory" in controllers.split(","):
            limits += [_memory_limit(folder / "memory.limit_in_bytes") for folder in _up(root / "memory", path)]
    return min([physical, *(limit for limit in limits if limit)])


def _memory_limit(path: Path) -> int | None:
    # "max" (v2) or a huge number (v1's "no limit" is the largest page-aligned 63-bit value): unlimited.
    try:
        text = path.read_text().strip()
        return None if text == "max" or int(text) >= 2**62 else int(text)
    except (OSError, ValueError):
        return None


def _affinity_cpus() -> int:
    """CPUs the process may run on (where the platform cannot say: all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _cpu_quota(root: Path, membership: Path) -> int | None:
    """The smallest CPU quota on the way from the process's cgroup up to the mount's root (cgroup
    v2 ``cpu.max``; v1 ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``), or None where none is set.
    Inside a container's cgroup namespace the process's cgroup is the root itself."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        lines = []
    quotas = []
    for line in filter(str.strip, lines):
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":  # cgroup v2: one line "0::/path"
            folders, read = _up(root, path), _v2_quota
        elif "cpu" in controllers.split(","):  # cgroup v1: the cpu controller's own mount
            folders, read = _up(root / "cpu", path), _v1_quota
        else:
            continue
        quotas += [q for q in map(read, folders) if q is not None]
    if not lines:  # no membership to read: the mount's root alone
        quotas += [q for q in (_v2_quota(root), _v1_quota(root / "cpu")) if q is not None]
    return min(quotas, default=None)


def _up(mount: Path, path: str) -> list[Path]:
    """``mount / path`` and each folder above it up to ``mount`` (only ``mount`` for a path that
    leads out of it, as a cgroup outside the process's namespace is shown)."""
    parts = [p for p in path.strip().split("/") if p]
    if ".." in parts:
        return [mount]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _v2_quota(folder: Path) -> int | None:
    return _quota(folder / "cpu.max", None)


def _v1_quota(folder: Path) -> int | None:
    return _quota(folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us")


def _quota(quota_file: Path, period_file: Path | None) -> int | None:
    """Whole CPUs (rounded up) of a quota file: ``"QUOTA PERIOD"`` (v2), or a quota and a period
    file (v1); None where it is unlimited (``max``, ``-1``), absent or unreadable."""
    try:
        fields = quota_file.read_text().split()
        if period_file is not None:
            fields = fields[:1] + period_file.read_text().split()[:1]
        quota, period = fields[0], fields[1]
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None
