"""Crash safety: exact resume, SIGKILL at chosen moments, locks, divergence, full disks, tampering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_series, run_cli, write_config

from rnnkit.runs import FAULT_ENV, RunFolder

pytestmark = pytest.mark.slow
EPOCHS = 4
HOLD_LOCK = (
    "import time\nfrom rnnkit.runs import RunFolder\n"
    "with RunFolder({run!r}).lock():\n    print('held', flush=True)\n    time.sleep(60)"
)


def subprocess_rnnkit(*args, env_extra=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A config with dropout (so RNG state matters) and an uninterrupted reference run."""
    folder = tmp_path_factory.mktemp("crash")
    data = folder / "d.csv"
    make_series(n_series=3, length=50).to_csv(data, index=False)
    config = write_config(
        folder,
        data,
        model={"cell": "lstm", "units": [6], "dropout": 0.2, "recurrent_dropout": 0.1},
        train={"epochs": EPOCHS, "early_stopping": {"patience": 10}},
    )
    reference = folder / "reference"
    assert subprocess_rnnkit("train", config, "--run-dir", reference, "-q").returncode == 0
    return folder, config, reference


def weights(path: Path) -> list[np.ndarray]:
    from rnnkit.models import load_model

    return load_model(path).get_weights()


def assert_same_run(run: Path, reference: Path) -> None:
    for name in ("last", "best"):
        for a, b in zip(weights(run / "checkpoints" / f"{name}.keras"), weights(reference / "checkpoints" / f"{name}.keras")):
            np.testing.assert_array_equal(a, b)
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))  # each epoch trained exactly once
    pd.testing.assert_frame_equal(history.drop(columns="seconds"), pd.read_csv(reference / "history.csv").drop(columns="seconds"))
    ours, theirs = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert ours["test"] == theirs["test"]
    assert json.loads((run / "status.json").read_text())["state"] == "complete"
    assert not list(run.rglob("*.tmp-*"))


@pytest.mark.parametrize(
    "point",
    [
        "epoch_end:1",  # before the first checkpoint: resume starts over
        "mid_epoch:3",
        "checkpoint_staged:2",  # temp file written, manifest not yet told
        "checkpoint_replaced_last:3",  # last.keras renamed, manifest not yet updated
        "checkpoint_replaced_best:2",  # between the best checkpoint and its manifest entry
    ],
)
def test_sigkill_then_resume_equals_an_uninterrupted_run(experiment, point):
    folder, config, reference = experiment
    run = folder / point.replace(":", "-")
    killed = subprocess_rnnkit("train", config, "--run-dir", run, "-q", env_extra={FAULT_ENV: point})
    assert killed.returncode == -9, killed.stderr  # the fault point was reached
    # No file at a final name is corrupt: everything listed verifies.
    folder_ = RunFolder(run)
    for name, entry in folder_.read_manifest()["checkpoints"].items():
        folder_.verified_checkpoint(name)
        assert entry["epoch"] >= 1
    resumed = subprocess_rnnkit("train", "--resume", run, "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run, reference)


def test_resume_in_process_and_extending_epochs(experiment):
    folder, config, reference = experiment
    run = folder / "short"
    assert run_cli("train", config, "--run-dir", run, "-q", "--set", "train.epochs=2").exit_code == 0
    result = run_cli("train", "--resume", run, "-q")
    assert result.exit_code == 4 and "run is complete (2 epochs)" in result.stderr
    assert run_cli("train", "--resume", run, "-q", "--set", f"train.epochs={EPOCHS}").exit_code == 0
    assert_same_run(run, reference)


def test_resume_refuses_changed_data_model_or_optimizer(experiment, tmp_path):
    reference = experiment[2]
    for override, fragment in (
        ("model.units=[7]", "model.units changed from [6] to [7]"),
        ("data.window=5", "data.window changed from 8 to 5"),
        ("train.learning_rate=0.5", "train.learning_rate changed from 0.01 to 0.5"),
        ("train.class_weight=balanced", "train.class_weight changed from 'none' to 'balanced'"),
    ):
        result = run_cli("train", "--resume", reference, "--set", override)
        assert result.exit_code == 2, result.stderr
        assert "cannot resume: " + fragment in result.stderr
    assert run_cli("train", "--resume", tmp_path / "nothing").exit_code == 4


def test_resume_refuses_changed_data_files(tmp_path):
    data = tmp_path / "d.csv"
    make_series(n_series=2, length=40).to_csv(data, index=False)
    config = write_config(tmp_path, data, train={"epochs": 3})
    run = tmp_path / "run"
    killed = subprocess_rnnkit("train", config, "--run-dir", run, "-q", env_extra={FAULT_ENV: "mid_epoch:2"})
    assert killed.returncode == -9
    make_series(n_series=2, length=40, seed=9).to_csv(data, index=False)
    result = run_cli("train", "--resume", run)
    assert result.exit_code == 3 and "data file changed since the run started" in result.stderr


def _committed(manifest: Path, name: str) -> bool:
    try:
        return name in json.loads(manifest.read_text())["checkpoints"]
    except (OSError, ValueError, KeyError):
        return False


def test_sigint_and_sigterm_leave_a_resumable_run(tmp_path, python_sigint):
    data = tmp_path / "d.csv"
    make_series(n_series=3, length=200).to_csv(data, index=False)
    config = write_config(tmp_path, data, train={"epochs": 200, "early_stopping": {"patience": None}})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for signum, code, reason in ((2, 130, "SIGINT"), (15, 143, "SIGTERM")):
        run = tmp_path / reason
        process = subprocess.Popen(
            [sys.executable, "-m", "rnnkit", "train", str(config), "--run-dir", str(run), "-q"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        manifest = run / "checkpoints" / "manifest.json"
        # Wait for a committed checkpoint: the manifest first appears with the epoch only pending.
        while not _committed(manifest, "last") and process.poll() is None:
            subprocess.run(["sleep", "0.2"])
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == code, stderr
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "interrupted" and status["reason"] == reason and status["epoch"] >= 1
        assert f"Resume with: rnnkit train --resume {run}" in stderr
        assert len(stderr.strip().splitlines()) == 1
        RunFolder(run).verified_checkpoint("last")


def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(tmp_path, trained_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_LOCK.format(run=str(run)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    try:
        result = run_cli("train", "--resume", run, "--set", "train.epochs=5")
        assert result.exit_code == 5
        assert f"run folder is in use by pid {holder.pid}" in result.stderr
        assert run_cli("evaluate", run).exit_code == 5
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing anything by hand: its lock is gone with it.
    assert "pid" in (run / ".lock").read_text()
    assert run_cli("evaluate", run).exit_code == 0


def test_divergence_exits_6_and_keeps_the_best_checkpoint(tmp_path):
    data = tmp_path / "d.csv"
    frame = make_series(n_series=2, length=60)
    frame["y"] = frame["y"] * 1e3
    frame.to_csv(data, index=False)
    config = write_config(
        tmp_path,
        data,
        data={"scale": "none"},
        model={"cell": "simple", "units": [8]},
        train={"epochs": 6, "optimizer": "sgd", "learning_rate": 5.0, "early_stopping": {"patience": None}},
    )
    result = run_cli("train", config, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 6, result.stderr
    assert "training diverged at epoch" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    run = tmp_path / "run"
    assert json.loads((run / "status.json").read_text())["state"] == "diverged"
    for name in RunFolder(run).read_manifest()["checkpoints"]:
        RunFolder(run).verified_checkpoint(name)


def test_full_disk_exits_5_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    import keras

    data = tmp_path / "d.csv"
    make_series(n_series=2, length=40).to_csv(data, index=False)
    config = write_config(tmp_path, data, train={"epochs": 4, "early_stopping": {"patience": None}})
    calls = {"n": 0}
    original = keras.Model.save

    def failing_save(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", failing_save)
    result = run_cli("train", config, "--run-dir", tmp_path / "run")
    assert result.exit_code == 5, result.stderr
    assert "cannot write checkpoint: disk full" in result.stderr
    run = RunFolder(tmp_path / "run")
    assert run.read_manifest()["checkpoints"]["last"]["epoch"] == 1
    run.verified_checkpoint("last")
    run.verified_checkpoint("best")
    assert not list(run.root.rglob("*.tmp-*"))
    assert json.loads(run.status.read_text())["state"] == "failed"


def test_altered_truncated_or_escaping_checkpoints_are_refused(tmp_path, trained_run):
    import shutil

    for case in ("altered", "truncated", "escape", "format"):
        run = tmp_path / case
        shutil.copytree(trained_run, run)
        best = run / "checkpoints" / "best.keras"
        manifest_path = run / "checkpoints" / "manifest.json"
        if case == "altered":
            data = bytearray(best.read_bytes())
            data[len(data) // 2] ^= 0xFF
            best.write_bytes(bytes(data))
            fragment = "checkpoint is corrupt (sha256 differs"
        elif case == "truncated":
            best.write_bytes(best.read_bytes()[:1000])
            fragment = "checkpoint is corrupt"
        elif case == "escape":
            manifest = json.loads(manifest_path.read_text())
            manifest["checkpoints"]["best"]["file"] = "../../outside.keras"
            manifest_path.write_text(json.dumps(manifest))
            fragment = "checkpoints must be best.keras or last.keras inside the run folder"
        else:
            manifest = json.loads(manifest_path.read_text())
            manifest["format"] = 99
            manifest_path.write_text(json.dumps(manifest))
            fragment = "format 99; this rnnkit reads run format 1"
        out = tmp_path / f"{case}.csv"
        result = run_cli("predict", run, "--input", trained_run.parent / "series.csv", "--output", out)
        assert result.exit_code == 4, (case, result.stderr)
        assert fragment in result.stderr
        assert not out.exists()
