"""Process-wide settings the command line applies before any work."""

from __future__ import annotations

import ctypes
import os
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
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    v2.mkdir()
    assert process.usable_cpus(tmp_path / "none") == 8
    for text, cpus in (("max 100000", 8), ("150000 100000", 2), ("300000 100000", 3), ("5000000 100000", 8)):
        (v2 / "cpu.max").write_text(text + "\n")
        assert process.usable_cpus(v2) == cpus, text
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    for quota, cpus in (("-1", 8), ("50000", 1), ("400000", 4)):
        (v1 / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
        assert process.usable_cpus(v1) == cpus, quota
