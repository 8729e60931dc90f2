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


def test_predict_runs_each_op_on_one_thread_unless_the_user_chose(monkeypatch, tmp_path):
    from rnnkit import training

    seen = []

    def fake_predict(*args, **kwargs):
        seen.append(os.environ.get("TF_NUM_INTRAOP_THREADS"))
        return training.PredictResult(tmp_path / "out.csv", 0, 0, 0, 0)

    monkeypatch.setattr(training, "predict", fake_predict)
    argv = ("predict", tmp_path, "--input", tmp_path / "in.csv", "--output", tmp_path / "out.csv")
    assert run_cli(*argv).exit_code == 0
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert run_cli(*argv).exit_code == 0
    assert seen == ["1", "3"]
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    assert run_cli("validate", "--schema").exit_code == 0
    assert "TF_NUM_INTRAOP_THREADS" not in os.environ  # only prediction
