"""Training through tf.distribute: one loop for every strategy, two workers over loopback, TF_CONFIG."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_series, one_line_error, run_cli, write_config

from rnnkit.distribute import Worker, check_tf_config, gpu_warnings


def _history(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv").drop(columns=["seconds"])


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_two_workers(tmp_path: Path, *args: str) -> list[subprocess.Popen]:
    """Start ``rnnkit train ARGS`` as worker 0 and worker 1 of a loopback cluster; each gets its own TMPDIR."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir(exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},  # what users see: the CLI's default
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "TMPDIR": str(scratch),
        }
        command = [sys.executable, "-m", "rnnkit", "train", *args]
        processes.append(
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    return processes


def _on_two_workers(tmp_path: Path, *args: str) -> list[subprocess.CompletedProcess]:
    """Run ``rnnkit train ARGS`` on two loopback workers; both must succeed with nothing on stderr but epoch lines."""
    processes = _start_two_workers(tmp_path, *args)
    results = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    for result in results:
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert all(line.startswith("epoch ") for line in result.stderr.splitlines()), result.stderr
    return results


def _digest(stdout: str) -> str:
    match = re.search(r"weights sha256 ([0-9a-f]{64})", stdout)
    assert match, stdout
    return match.group(1)


def _distributed_config(tmp_path: Path, batch_size: int | None = None, **train) -> Path:
    data = tmp_path / "series.csv"
    make_series(n_series=3, length=70).to_csv(data, index=False)
    config = write_config(tmp_path, data, model={"cell": "lstm", "units": [8]}, train={"epochs": 2, **train})
    if batch_size is None:
        # Two steps per epoch, the second of a single window: one worker's share of it is empty.
        from rnnkit.config import load_config
        from rnnkit.training import validate

        windows = validate(load_config(config))["data"]["windows"]["train"]
        config = write_config(
            tmp_path, data, model={"cell": "lstm", "units": [8]}, train={"epochs": 2, "batch_size": windows - 1, **train}
        )
    return config


@pytest.mark.slow
def test_two_workers_train_in_lockstep_and_only_the_chief_writes(tmp_path):
    from rnnkit.models import load_model
    from rnnkit.training import weights_sha256

    config = _distributed_config(tmp_path, distribute="multi_worker")
    chief, other = _on_two_workers(tmp_path, str(config), "--run-dir", "runs/both")
    run = tmp_path / "runs" / "both"

    # Same weights on both workers: the digests printed by each equal the chief's best checkpoint.
    assert _digest(chief.stdout) == _digest(other.stdout) == weights_sha256(load_model(run / "checkpoints" / "best.keras"))
    assert f"run: {Path('runs/both')}" in chief.stdout and "chief of 2 workers" in chief.stdout
    assert other.stdout.startswith("worker 1 of 2: 2 epoch(s) in step with the chief, which wrote the run folder")
    # The run folder is written once: one folder, complete; the other worker's scratch folder is gone
    # (TensorFlow may leave its own caches in that worker's TMPDIR).
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["both"]
    assert json.loads((run / "status.json").read_text())["state"] == "complete"
    assert list((tmp_path / "tmp1").glob("rnnkit-worker*")) == []

    # Resumed on two workers (the other worker resumes from a private copy of the run folder).
    chief, other = _on_two_workers(tmp_path, "--resume", "runs/both", "--set", "train.epochs=3")
    assert _digest(chief.stdout) == _digest(other.stdout) == weights_sha256(load_model(run / "checkpoints" / "best.keras"))
    assert list((tmp_path / "tmp1").glob("rnnkit-worker*")) == []

    # The same training as one process: the global batch is split, the gradient and the logs are not.
    single = run_cli(
        "train", config, "--set", "train.distribute=none", "--set", "train.epochs=3", "--run-dir", tmp_path / "one", "-q"
    )
    assert single.exit_code == 0, single.stderr
    two, one = _history(run), _history(tmp_path / "one")
    assert list(two["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(two.to_numpy(), one.to_numpy(), rtol=1e-5)


@pytest.mark.slow
def test_a_lost_worker_stops_the_chief_with_one_line_and_a_resumable_run(tmp_path):
    config = _distributed_config(tmp_path, batch_size=8, distribute="multi_worker", epochs=500)
    chief, other = _start_two_workers(tmp_path, str(config), "--run-dir", "runs/lost", "--quiet")
    history = tmp_path / "runs" / "lost" / "history.csv"
    deadline = time.monotonic() + 300
    while not (history.exists() and len(history.read_text().splitlines()) > 1) and time.monotonic() < deadline:
        time.sleep(0.5)
    other.kill()
    try:
        _, stderr = chief.communicate(timeout=300)
    finally:
        chief.kill()
        other.communicate()
    lines = stderr.strip().splitlines()
    assert chief.returncode == 5 and len(lines) == 1, stderr
    assert "lost contact with another worker" in lines[0] and "rnnkit train --resume runs/lost' on every worker" in lines[0]
    status = json.loads((tmp_path / "runs" / "lost" / "status.json").read_text())
    assert status["state"] == "failed" and status["epoch"] >= 1


def test_mirrored_strategy_runs_the_same_step_as_no_strategy(tmp_path):
    config = _distributed_config(tmp_path, batch_size=16, epochs=2)
    for strategy in ("none", "mirrored"):
        result = run_cli("train", config, "--set", f"train.distribute={strategy}", "--run-dir", tmp_path / strategy, "-q")
        assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(_history(tmp_path / "none"), _history(tmp_path / "mirrored"))


@pytest.mark.parametrize(
    ("tf_config", "fragments"),
    [
        (None, ["TF_CONFIG environment variable is not set", '"cluster"']),
        ("{not json", ["TF_CONFIG: cannot read it (JSONDecodeError"]),
        ('{"cluster": {"worker": ["a:1"]}}', ["TF_CONFIG: cannot read it (KeyError: 'task')"]),
        (
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
            ["TF_CONFIG: task 'worker' index 2 is not in the cluster (chief: 0, worker: 2)"],
        ),
    ],
)
def test_multi_worker_needs_a_usable_tf_config(tmp_path, tiny_config, monkeypatch, tf_config, fragments):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    result = run_cli("train", tiny_config, "--set", "train.distribute=multi_worker")
    one_line_error(result, 2, *fragments)
    assert not (tmp_path / "runs").exists()


def test_the_chief_is_the_chief_task_or_else_worker_zero(monkeypatch):
    def who(cluster: dict, kind: str, index: int) -> Worker:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}))
        return check_tf_config("multi_worker")

    workers = {"worker": ["a:1", "b:2"]}
    assert who(workers, "worker", 0) == Worker(0, 2, True, "a:1", (("worker 1", "b:2"),))
    assert who(workers, "worker", 1) == Worker(1, 2, False, "b:2", (("worker 0", "a:1"),))
    with_chief = {"chief": ["c:3"], **workers}
    assert who(with_chief, "chief", 0) == Worker(0, 3, True, "c:3", (("worker 0", "a:1"), ("worker 1", "b:2")))
    assert who(with_chief, "worker", 0) == Worker(1, 3, False, "a:1", (("chief 0", "c:3"), ("worker 1", "b:2")))
    assert check_tf_config("mirrored") == Worker()  # TF_CONFIG is only read for multi_worker


def test_gpu_warnings_name_the_settings_that_rule_out_cudnn():
    class Devices:
        def __init__(self, gpus):
            self.gpus = gpus

        def list_physical_devices(self, kind):
            return self.gpus if kind == "GPU" else []

    class FakeTF:
        def __init__(self, gpus):
            self.config = Devices(gpus)

    assert gpu_warnings(FakeTF([]), "simple", 0.5) == []  # no GPU: nothing to say
    warnings = gpu_warnings(FakeTF(["GPU:0"]), "lstm", 0.2)
    assert len(warnings) == 1 and warnings[0].startswith("model.recurrent_dropout is above 0")
    assert gpu_warnings(FakeTF(["GPU:0"]), "lstm", 0.0) == []
    assert "no cuDNN kernel" in gpu_warnings(FakeTF(["GPU:0"]), "simple", 0.0)[0]
