"""Shared fixtures: tiny seeded data sets and configs, and one trained run reused by many tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args):
    """Run the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from rnnkit.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, code: int, *fragments: str) -> str:
    """Assert the documented failure shape: exit code, one 'rnnkit: error:' line holding the fragments."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnnkit: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every regular file under ``roots``. ``.lock`` is left out: it
    records the pid of whoever last held the run folder's lock, and rewriting it is its purpose."""
    files = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and path.name != ".lock":
                stat = path.stat()
                files[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return files


def assert_refused(args, code: int, fragments, *roots: Path) -> str:
    """Run the CLI in-process and assert the documented refusal: exit ``code``, exactly one
    ``rnnkit: error:`` line on stderr holding every fragment, and no file under ``roots`` created,
    changed or removed. Returns the line."""
    before = snapshot(*roots)
    result = run_cli(*args)
    line = one_line_error(result, code, *fragments)
    assert snapshot(*roots) == before, "files were created, changed or removed"
    return line


def make_series(
    n_series: int = 3, length: int = 60, seed: int = 0, trend: float = 0.0, start: str = "2024-01-01"
) -> pd.DataFrame:
    """Long-layout frame: id, date, y (seasonal + trend + noise), x (exogenous)."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(n_series):
        t = np.arange(length)
        x = np.sin(t / 3.0 + index) + rng.normal(0, 0.1, length)
        y = 10 * (index + 1) + 3 * np.sin(2 * np.pi * t / 7) + trend * t + np.roll(x, 1) + rng.normal(0, 0.2, length)
        frames.append(
            pd.DataFrame(
                {
                    "id": f"s{index}",
                    "date": pd.date_range(start, periods=length, freq="D").strftime("%Y-%m-%d"),
                    "y": y.round(4),
                    "x": x.round(4),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_config(folder: Path, data_path: Path | str, name: str = "cfg.yaml", **sections) -> Path:
    """Write a tiny, fast config; keyword sections (data=..., model=..., train=...) are merged in."""
    config = {
        "name": "tiny",
        "seed": 7,
        "task": "forecast",
        "data": {
            "path": str(data_path),
            "id": "id",
            "time": "date",
            "features": ["y", "x"],
            "target": "y",
            "window": 8,
            "horizon": 2,
            "split": {"val": 0.2, "test": 0.2},
        },
        "model": {"cell": "gru", "units": [8]},
        "train": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, "early_stopping": {"patience": 3}},
        "output": {"dir": str(folder / "runs")},
    }
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def python_sigint():
    """SIGINT handled as Python handles it by default (KeyboardInterrupt), also when the test run
    was started with SIGINT ignored, as a shell starts its background jobs: a process that starts
    with SIGINT ignored keeps ignoring it, which would make Ctrl-C tests fail for the wrong reason.
    Child processes started meanwhile inherit the default disposition."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    make_series().to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_config(tmp_path: Path, series_csv: Path) -> Path:
    return write_config(tmp_path, series_csv)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One run trained through the library, shared by evaluate / predict tests (read-only use)."""
    from rnnkit.config import load_config
    from rnnkit.training import train

    folder = tmp_path_factory.mktemp("trained")
    data = folder / "series.csv"
    make_series(n_series=3, length=60).to_csv(data, index=False)
    config = load_config(write_config(folder, data, model={"cell": "lstm", "units": [8], "dense": [4]}))
    return train(config, run_dir=folder / "run").run_dir


def make_sequences(n: int = 60, seed: int = 0, labels=("Standing", "1"), min_len: int = 8, max_len: int = 20) -> pd.DataFrame:
    """Long-layout classification data: variable-length 2-channel sequences, class = frequency.

    Channel ``b`` is unscaled (around 100) on purpose; labels are strings, one of them numeric-looking.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        label = labels[index % len(labels)]
        frequency = 0.4 + 1.2 * labels.index(label)
        length = int(rng.integers(min_len, max_len + 1))
        phase = rng.uniform(0, 6.28)
        for step in range(length):
            rows.append(
                {
                    "seq": f"q{index:03d}",
                    "t": step,
                    "a": np.sin(frequency * step + phase) + rng.normal(0, 0.05),
                    "b": 100 + 5 * np.cos(frequency * step + phase),
                    "label": label,
                }
            )
    return pd.DataFrame(rows)


def make_documents(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    good, bad, filler = ["good", "great", "lovely"], ["bad", "awful", "dull"], ["the", "film", "was", "very", "and", "plot"]
    docs = []
    for index in range(n):
        label = "pos" if index % 2 else "neg"
        words = [*rng.choice(good if label == "pos" else bad, 2), *rng.choice(filler, int(rng.integers(2, 6)))]
        rng.shuffle(words)
        docs.append({"doc": f"d{index}", "text": " ".join(words), "sentiment": label})
    return pd.DataFrame(docs)
