"""Sweeps: trials as run folders, the leaderboard, resuming, pruning, and sweep config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_series, one_line_error, run_cli, write_config

from rnnkit import training
from rnnkit.config import config_to_dict, load_config
from rnnkit.errors import ConfigError
from rnnkit.sweep import format_trial, run_sweep

TINY = {"cell": "gru", "units": [4]}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    make_series(n_series=2, length=50).to_csv(path, index=False)
    return path


def sweep_config(tmp_path: Path, data: Path, **sweep) -> Path:
    return write_config(tmp_path, data, model=TINY, sweep={"dir": str(tmp_path / "sweep"), **sweep})


def leaderboard(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "leaderboard.csv")


# -- config: fast, no TensorFlow --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sweep", "fragments"),
    [
        ({"params": {"model.unit": [[4], [8]]}}, ["sweep.params", "'model.unit'", "did you mean 'model.units'"]),
        (
            {"method": "grid", "params": {"train.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}},
            ["sweep.params.train.learning_rate is a range", "method 'grid'"],
        ),
        ({"method": "random", "params": {"model.cell": ["gru", "lstn"]}}, ["sweep.params.model.cell", "'lstn'", "'lstm'"]),
        ({"method": "random", "params": {"train.learning_rate": {"low": 1e-2, "hgh": 1}}}, ["learning_rate", "'hgh'"]),
        ({"method": "random", "params": {"model.cell": "gru"}}, ["model.cell must be a list of choices"]),
        ({"params": {"data.path": ["other.csv"]}}, ["'data.path' cannot be swept"]),
        ({"method": "brid", "params": {"model.cell": ["gru"]}}, ["sweep.method", "did you mean 'grid'"]),
        ({"metric": "val_accuracy", "params": {"model.cell": ["gru"]}}, ["sweep.metric", "'val_accuracy'"]),
    ],
)
def test_bad_sweep_configs_exit_2_with_one_line_and_create_nothing(tmp_path, data, sweep, fragments):
    config = sweep_config(tmp_path, data, **sweep)
    one_line_error(run_cli("sweep", config), 2, str(config), *fragments)
    assert not (tmp_path / "sweep").exists()


def test_a_config_without_sweep_params_is_a_config_error(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, data, model=TINY)
    one_line_error(run_cli("sweep", config), 2, "no sweep section")
    one_line_error(run_cli("sweep", config, "--method", "random"), 2, "sweep.params", "missing")
    assert not (tmp_path / "sweeps").exists()


def test_sweep_section_changes_nothing_for_train(tmp_path, data):
    plain = load_config(write_config(tmp_path, data, model=TINY))
    swept = load_config(sweep_config(tmp_path, data, params={"model.cell": ["gru", "lstm"]}))
    assert "sweep" not in config_to_dict(plain)  # runs' config.yaml are as before
    assert {k: v for k, v in config_to_dict(swept).items() if k != "sweep"} == config_to_dict(plain)
    # Nested sections (as --set writes them) and dotted keys mean the same.
    nested = load_config(sweep_config(tmp_path, data, params={"model": {"cell": ["gru", "lstm"]}}))
    assert nested.sweep == swept.sweep


def test_format_trial_names_params_and_scores():
    row = {"trial": 3, "model.cell": "gru", "best_epoch": 2, "val_loss": 0.5, "test_mae": 1.25, "status": "pruned", "run": "x"}
    assert format_trial(row) == "trial 3: pruned, val_loss 0.5, test_mae 1.25 (model.cell=gru)"


# -- end to end ------------------------------------------------------------------------------


class _InterruptAt:
    """Wraps training.train to press Ctrl-C during the first epoch of one trial's run folder."""

    def __init__(self, run_name: str) -> None:
        self.run_name = run_name
        self.real = training.train
        self.calls: list[str] = []

    def __call__(self, config, **kwargs):
        import keras

        class CtrlC(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise KeyboardInterrupt

        name = Path(kwargs["run_dir"]).name
        self.calls.append(name)
        if name == self.run_name:
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), CtrlC()]
        return self.real(config, **kwargs)


@pytest.mark.slow
def test_grid_sweep_interrupted_then_continued_without_rerunning_finished_trials(tmp_path, data, monkeypatch):
    config = sweep_config(tmp_path, data, method="grid", params={"model.cell": ["gru", "lstm"]})
    folder = tmp_path / "sweep"
    interrupt = _InterruptAt("trial-0001")
    monkeypatch.setattr(training, "train", interrupt)

    result = run_cli("sweep", config, "--quiet")
    line = one_line_error(result, 130, "sweep interrupted", "1 of 2 trials finished")
    assert "again" in line
    board = leaderboard(folder)
    assert list(board["status"]) == ["complete", "interrupted"]
    first = json.loads((folder / "trial-0000" / "metrics.json").read_text())
    assert json.loads((folder / "trial-0001" / "status.json").read_text())["state"] == "interrupted"

    result = run_cli("sweep", config)
    assert result.exit_code == 0, result.stderr
    assert interrupt.calls == ["trial-0000", "trial-0001", "trial-0002"]  # trial 0 was not run again
    board = leaderboard(folder)
    assert list(board.columns) == ["trial", "model.cell", "best_epoch", "val_loss", "test_mae", "status", "run"]
    finished = board[board["status"] == "complete"]
    assert sorted(finished["model.cell"]) == ["gru", "lstm"]  # the two grid points, once each
    assert list(finished["val_loss"]) == sorted(finished["val_loss"])  # best first
    assert list(board["status"])[-1] == "interrupted"
    retried = board.set_index("trial")
    assert retried.loc[2, "model.cell"] == retried.loc[1, "model.cell"]  # same params, new number
    assert json.loads((folder / "trial-0000" / "metrics.json").read_text()) == first
    for run in finished["run"]:
        assert json.loads((folder / run / "status.json").read_text())["state"] == "complete"
        assert (folder / run / "checkpoints" / "best.keras").is_file()
        assert "sweep" not in yaml.safe_load((folder / run / "config.yaml").read_text())
    # A line per trial on stderr as it ends; the table on stdout: the header, then the best trial first.
    assert "rnnkit: trial 2: complete, val_loss " in result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["trial", "model.cell", "best_epoch"])
    assert lines[header + 1].split()[0] == str(finished["trial"].iloc[0])
    # A finished sweep runs nothing more; a sweep of another config refuses the folder.
    assert "0 run now" in run_cli("sweep", config).stdout
    one_line_error(run_cli("sweep", config, "--set", "train.learning_rate=0.02"), 2, "train.learning_rate", "another config")


@pytest.mark.slow
def test_random_sweep_continues_to_more_trials_with_new_draws(tmp_path, data):
    rate = {"low": 1e-3, "high": 3e-2, "log": True}
    config = sweep_config(tmp_path, data, method="random", params={"train.learning_rate": rate})
    folder = tmp_path / "sweep"
    first = run_sweep(load_config(config, ["sweep.trials=1"]))
    assert (first.trials_run, first.finished) == (1, 1)
    seen = (folder / "trial-0000" / "metrics.json").stat().st_mtime_ns

    second = run_sweep(load_config(config, ["sweep.trials=2"]))
    assert (second.trials_run, second.finished, second.target) == (1, 2, 2)
    assert (folder / "trial-0000" / "metrics.json").stat().st_mtime_ns == seen  # not run again
    rates = [row["train.learning_rate"] for row in second.rows]
    assert len(set(rates)) == 2 and all(1e-3 <= r <= 3e-2 for r in rates)  # a new draw, not the first one again
    values = [row["val_loss"] for row in second.rows]
    assert values == sorted(values) and second.best == second.rows[0]
    trial = yaml.safe_load((folder / second.best["run"] / "config.yaml").read_text())
    assert trial["train"]["learning_rate"] == pytest.approx(second.best["train.learning_rate"])
    assert trial["seed"] == 7  # every trial uses the config's seed


@pytest.mark.slow
def test_bayes_prunes_trials_that_trail_the_median(tmp_path, data):
    config = sweep_config(
        tmp_path,
        data,
        method="bayes",
        trials=2,
        prune_startup_trials=1,
        prune_warmup_epochs=0,
        params={"train.learning_rate": {"low": 1e-5, "high": 5e-2, "log": True}},
    )
    result = run_sweep(load_config(config))
    statuses = [row["status"] for row in result.rows]
    assert sorted(statuses) == ["complete", "pruned"], result.rows
    for row in result.rows:
        run = result.sweep_dir / row["run"]
        history = pd.read_csv(run / "history.csv")
        # A pruned trial stopped after the epoch it was pruned at; its run folder is whole all the same,
        # and its status.json says what the leaderboard says.
        assert len(history) == (1 if row["status"] == "pruned" else 2)
        status = json.loads((run / "status.json").read_text())
        assert (status["state"], status["epoch"]) == (row["status"], len(history))
        assert (run / "checkpoints" / "best.keras").is_file()
    assert (result.sweep_dir / "study.db").is_file() and (result.sweep_dir / "sweep.yaml").is_file()
    # rnnkit runs agrees, and --filter status=complete leaves the pruned trial out.
    listed = json.loads(run_cli("runs", result.sweep_dir, "--format", "json").stdout)
    assert {row["run"]: row["status"] for row in listed} == {row["run"]: row["status"] for row in result.rows}
    complete = json.loads(run_cli("runs", result.sweep_dir, "--format", "json", "--filter", "status=complete").stdout)
    assert [row["run"] for row in complete] == [row["run"] for row in result.rows if row["status"] == "complete"]


def test_run_sweep_without_a_sweep_section_names_the_source(tmp_path, data):
    with pytest.raises(ConfigError, match=r"cfg\.yaml: no sweep section"):
        run_sweep(load_config(write_config(tmp_path, data, model=TINY)), source=str(tmp_path / "cfg.yaml"))
