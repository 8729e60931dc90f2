"""Process-wide settings the command line applies before any work."""

from __future__ import annotations

import ctypes
import os
import shutil
import sys

import pytest
from conftest import run_cli

from rnnkit import process


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    return fake


def test_malloc_arenas_are_capped_at_one_per_usable_cpu_and_at_least_two(libc, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 5}, raising=False)
    process.limit_malloc_arenas()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    process.limit_malloc_arenas()
    assert libc.calls == [(-8, 4), (-8, 2)]  # M_ARENA_MAX


def test_a_users_own_arena_limit_and_other_platforms_are_left_alone(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    process.limit_malloc_arenas()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0:glibc.malloc.arena_max=4")
    process.limit_malloc_arenas()
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setattr(sys, "platform", "darwin")
    process.limit_malloc_arenas()
    assert libc.calls == []


def test_every_command_caps_the_arenas_before_its_work(libc, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    result = run_cli("validate", "--schema")
    assert result.exit_code == 0
    assert libc.calls == [(-8, 3)]


def test_usable_cpus_are_the_affinity_or_fewer_under_a_cgroup_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    root, membership = tmp_path / "cgroup", tmp_path / "membership"

    def cpus(lines: str, files: dict[str, str]) -> int:
        shutil.rmtree(root, ignore_errors=True)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text + "\n")
        membership.write_text(lines)
        return process.usable_cpus(root, membership)

    v2 = "0::/system.slice/job.service\n"  # the v2 line of /proc/self/cgroup, outside a namespace
    assert cpus(v2, {}) == 8
    assert cpus(v2, {"cpu.max": "max 100000"}) == 8
    assert cpus(v2, {"system.slice/job.service/cpu.max": "150000 100000"}) == 2  # rounded up
    assert cpus(v2, {"system.slice/cpu.max": "300000 100000", "system.slice/job.service/cpu.max": "max 100000"}) == 3
    assert cpus(v2, {"system.slice/job.service/cpu.max": "5000000 100000"}) == 8  # never above the affinity
    assert cpus("0::/\n", {"cpu.max": "200000 100000"}) == 2  # inside a container's namespace
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # above the mount: never read
    assert cpus("0::/../other\n", {"cpu.max": "200000 100000"}) == 2  # a cgroup outside the namespace
    for broken in ("150000", "lots 100000", "150000 0", ""):
        assert cpus(v2, {"system.slice/job.service/cpu.max": broken}) == 8, broken
    v1 = "5:cpuacct:/\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    v1_files = {"cpu/docker/abc/cpu.cfs_period_us": "100000"}
    assert cpus(v1, {**v1_files, "cpu/docker/abc/cpu.cfs_quota_us": "-1"}) == 8
    assert cpus(v1, {**v1_files, "cpu/docker/abc/cpu.cfs_quota_us": "50000"}) == 1
    assert cpus(v1, {**v1_files, "cpu/docker/cpu.cfs_quota_us": "400000", "cpu/docker/cpu.cfs_period_us": "100000"}) == 4
    assert cpus(v1, {"cpu/docker/abc/cpu.cfs_quota_us": "50000"}) == 8  # no period file
    membership.unlink()  # nothing to read: the mount's root alone
    assert process.usable_cpus(root, membership) == 8
