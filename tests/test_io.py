"""The order of every durable write: a crash at any moment leaves the old file or the new one.

An atomic write must fsync the temporary file, then rename it over the target, then fsync the
folder (so the rename itself survives a power cut); a checkpoint commit stages and fsyncs every
file, records it as pending in the manifest, renames each into place, fsyncs the folder, then
records it as committed. These tests record the real calls (``os.fsync``, ``os.replace``) and pin
that order, which no other test could tell from the files alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rnnkit.runs import RunFolder, atomic_write


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, str]]:
    """``("fsync", path)`` and ``("replace", source -> target)`` events, in order, by file name."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        return real_fsync(fd)

    def replace(source, target):
        events.append(("replace", f"{Path(source).name} -> {Path(target).name}"))
        return real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_an_atomic_write_fsyncs_the_file_then_renames_then_fsyncs_the_folder(tmp_path, calls):
    target = tmp_path / "metrics.json"
    atomic_write(target, "{}")
    temporary = f".metrics.tmp-{os.getpid()}.json"
    assert calls == [("fsync", temporary), ("replace", f"{temporary} -> metrics.json"), ("fsync", tmp_path.name)]
    assert target.read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_checkpoint_commit_stages_records_renames_and_records_again(tmp_path, calls):
    run = RunFolder.create(tmp_path, "r", tmp_path / "run")

    def save(path: Path) -> None:
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model.weights.h5", b"weights")

    run.commit_checkpoints(save, ("last", "best"), {"epoch": 1})
    pid = os.getpid()
    manifest_write = [
        ("fsync", f".manifest.tmp-{pid}.json"),
        ("replace", f".manifest.tmp-{pid}.json -> manifest.json"),
        ("fsync", "checkpoints"),
    ]
    assert calls == [
        ("fsync", f".last.tmp-{pid}.keras"),
        ("fsync", f".best.tmp-{pid}.keras"),
        *manifest_write,  # both staged files recorded as pending
        ("replace", f".last.tmp-{pid}.keras -> last.keras"),
        ("replace", f".best.tmp-{pid}.keras -> best.keras"),
        ("fsync", "checkpoints"),
        *manifest_write,  # then as committed
    ]
    manifest = json.loads(run.manifest.read_text())
    assert manifest["pending"] == {} and set(manifest["checkpoints"]) == {"last", "best"}
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["best.keras", "last.keras", "manifest.json"]
