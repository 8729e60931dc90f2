"""Progress and logs: bars on a terminal, plain lines in a log file, train.log in every run."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_series, write_config

from rnnkit import progress
from rnnkit.progress import ConsoleReporter, Reporter, duration, epoch_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def test_durations_read_naturally():
    assert [duration(s) for s in (0.4, 42, 65, 3599, 3600, 7445)] == ["0 s", "42 s", "1m 05s", "59m 59s", "1h 00m", "2h 04m"]


def test_an_epoch_line_names_the_epoch_its_numbers_and_the_time():
    line = epoch_line(3, 40, {"loss": 0.08123, "val_loss": 0.0901}, 2.14, eta=74)
    assert line == "epoch 3/40: loss 0.08123, val_loss 0.0901; 2.1 s, ETA 1m 14s"
    assert epoch_line(40, 40, {"loss": 1.0}, 1.0, eta=None) == "epoch 40/40: loss 1; 1.0 s"


def test_plain_epoch_lines_estimate_the_time_left(clock):
    stream = io.StringIO()
    reporter = ConsoleReporter(stream, bars=False)
    for epoch in (6, 7, 8):  # a resumed run: the estimate counts from the first epoch it saw
        clock.now += 2.0
        reporter.epoch(epoch, 10, {"loss": 0.5}, 2.0)
    assert stream.getvalue().splitlines() == [
        "epoch 6/10: loss 0.5; 2.0 s, ETA 8 s",
        "epoch 7/10: loss 0.5; 2.0 s, ETA 6 s",
        "epoch 8/10: loss 0.5; 2.0 s, ETA 4 s",
    ]


def test_a_task_prints_a_plain_line_at_most_every_few_seconds(clock):
    stream = io.StringIO()
    reporter = ConsoleReporter(stream, bars=False, every=5.0)
    with reporter.task("predict", total=1000, unit="rows") as task:
        for _ in range(10):
            clock.now += 1.0
            task.advance(100)
    assert stream.getvalue().splitlines() == [
        "predict: 500 of 1,000 rows (50%), 100 rows/s, ETA 5 s",
        "predict: 1,000 of 1,000 rows (100%), 100 rows/s, ETA 0 s",
        "predict: 1,000 of 1,000 rows (100%), 100 rows/s, 10 s",
    ]


def test_a_quick_task_says_nothing_and_slow_items_read_per_item(clock):
    stream = io.StringIO()
    reporter = ConsoleReporter(stream, bars=False, every=5.0)
    with reporter.task("predict", total=10) as task:
        task.advance(10)
    assert stream.getvalue() == ""
    with reporter.task("sweep", total=4, unit="trials") as task:
        clock.now += 30.0
        task.advance()
    assert stream.getvalue().splitlines() == [
        "sweep: 1 of 4 trials (25%), 30 s per trial, ETA 1m 30s",
        "sweep: 1 of 4 trials (25%), 30 s per trial, 30 s",
    ]


def test_a_bar_redraws_one_line_on_a_terminal(clock):
    stream = io.StringIO()
    reporter = ConsoleReporter(stream, bars=True)
    with reporter.task("evaluate", total=4, unit="windows") as task:
        for _ in range(4):
            clock.now += 1.0
            task.advance()
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert "[========================] 4 of 4 windows (100%)" in text
    reporter.epoch(1, 2, {"loss": 1.0}, 1.0)  # Keras's own bar shows epochs on a terminal
    assert stream.getvalue() == text


def test_a_labelled_reporter_prefixes_its_lines():
    stream = io.StringIO()
    trial = ConsoleReporter(stream, bars=False).labelled("trial 3")
    trial.note("warning: x")
    trial.epoch(1, 1, {"loss": 1.0}, 1.0)
    assert stream.getvalue().splitlines() == ["rnnkit: trial 3: warning: x", "trial 3: epoch 1/1: loss 1; 1.0 s"]


def test_the_default_reporter_is_silent():
    reporter = Reporter()
    reporter.note("x")
    reporter.epoch(1, 1, {}, 1.0)
    with reporter.task("x", 3) as task:
        task.advance()
    assert reporter.labelled("y") is reporter


def test_a_closed_stderr_never_stops_the_work():
    stream = io.StringIO()
    stream.close()
    ConsoleReporter(stream, bars=False).note("still fine")


@pytest.mark.slow
def test_train_into_a_log_file_names_the_run_first_and_each_epoch(tmp_path):
    data = tmp_path / "series.csv"
    make_series(n_series=2, length=40).to_csv(data, index=False)
    config = write_config(tmp_path, data, train={"epochs": 3, "batch_size": 32, "learning_rate": 0.01})
    log = tmp_path / "log"
    with open(log, "w") as handle:
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        result = subprocess.run(
            [sys.executable, "-m", "rnnkit", "train", config, "--run-dir", tmp_path / "run"],
            stdout=handle, stderr=subprocess.STDOUT, env=env, timeout=600,
        )  # fmt: skip
    lines = log.read_text().splitlines()
    assert result.returncode == 0, lines
    assert lines[0] == f"run: {tmp_path / 'run'}"
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert re.fullmatch(
        r"epoch 1/3: loss [\d.e-]+, mae [\d.e-]+, val_loss [\d.e-]+, val_mae [\d.e-]+; [\d.]+ s, ETA \d+ s", epochs[0]
    )
    assert not [line for line in lines if "\r" in line or "━" in line]  # no bars in a log
    run_log = (tmp_path / "run" / "train.log").read_text().splitlines()
    assert "training a forecast model (gru [8]" in run_log[0]
    assert [line.split(" ", 2)[2].split(";")[0] for line in run_log[1:4]] == [e.split(";")[0] for e in epochs]
    assert run_log[-1].endswith("complete: 3 epochs, best epoch 3 (val_loss " + run_log[-1].rsplit("(val_loss ", 1)[1])


@pytest.mark.slow
def test_quiet_training_prints_only_the_run_folder(tmp_path):
    data = tmp_path / "series.csv"
    make_series(n_series=2, length=40).to_csv(data, index=False)
    config = write_config(tmp_path, data)
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", config, "--run-dir", tmp_path / "run", "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"{tmp_path / 'run'}\n"
    assert len(re.findall(r":\d\d epoch \d/2: ", Path(tmp_path / "run" / "train.log").read_text())) == 2
