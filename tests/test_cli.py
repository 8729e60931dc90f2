"""End to end through the command line: train, evaluate, predict, validate, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_series, one_line_error, run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_train_writes_a_complete_run_folder(tmp_path, tiny_config):
    result = run_cli("train", tiny_config, "--run-dir", tmp_path / "run", "--set", "train.epochs=3")
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "schema.json",
        "history.csv",
        "metrics.json",
        "status.json",
        "checkpoints/best.keras",
        "checkpoints/last.keras",
    ):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.tmp-*"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seed"] == 7 and config["train"]["epochs"] == 3 and config["train"]["optimizer"] == "adam"
    assert set(config["versions"]) >= {"rnnkit", "tensorflow", "keras", "pandas"}
    assert Path(config["data"]["path"]).is_absolute()
    schema = json.loads((run / "schema.json").read_text())
    assert schema["features"] == ["y", "x"] and schema["window"] == 8 and set(schema["center"]) == {"y", "x"}
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "complete" and status["epoch"] == 3
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and {"loss", "val_loss", "mae", "val_mae"} <= set(history.columns)
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):
        assert {"mae", "rmse", "smape", "mase", "rel_mae", "per_step"} <= set(metrics[split])
        assert len(metrics[split]["per_step"]["mae"]) == 2
        assert {"mae", "rmse"} <= set(metrics["baseline"][split])
    assert metrics["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert f"run: {run}" in result.stdout and "naive MAE" in result.stdout
    for plot in ("learning_curves.png", "forecast_val.png", "forecast_test.png"):
        assert (run / "plots" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot


def test_same_config_and_seed_give_the_same_metrics(tmp_path, tiny_config):
    first = run_cli("train", tiny_config, "--run-dir", tmp_path / "a", "-q")
    second = run_cli("train", tiny_config, "--run-dir", tmp_path / "b", "-q")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout.strip() == str(tmp_path / "a")
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["test"] == b["test"] and a["val"] == b["val"]
    history_a, history_b = (pd.read_csv(tmp_path / r / "history.csv").drop(columns="seconds") for r in "ab")
    pd.testing.assert_frame_equal(history_a, history_b)


def test_training_ends_on_the_best_epoch_and_best_keras_holds_it(tmp_path, series_csv):
    config = write_config(tmp_path, series_csv, train={"epochs": 6, "learning_rate": 0.05, "early_stopping": {"patience": 1}})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert trained["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    # Metrics computed at the end of training (restored weights) equal those of best.keras.
    assert run_cli("evaluate", tmp_path / "run").exit_code == 0
    evaluated = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert evaluated["test"]["mae"] == pytest.approx(trained["test"]["mae"], rel=1e-6)
    assert evaluated["val"]["mae"] == pytest.approx(trained["val"]["mae"], rel=1e-6)


def test_evaluate_prints_a_table_and_records_splits_and_files(tmp_path, trained_run):
    run = tmp_path / "run"
    _copy_run(trained_run, run)
    result = run_cli("evaluate", run, "--split", "test")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[:4] == ["split", "windows", "MAE", "RMSE"]
    assert "test MAE by step:" in result.stdout
    other = tmp_path / "other.csv"
    make_series(n_series=2, length=30, seed=9).to_csv(other, index=False)
    result = run_cli("evaluate", run, "--data", other)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    entry = metrics["files"][str(other.resolve())]
    assert entry["model"]["windows"] == 2 * (30 - 8 - 2 + 1)
    assert entry["baseline"]["mae"] > 0
    one_line_error(run_cli("evaluate", run, "--data", other, "--split", "val"), 2, "--split applies to the run's own data")


def test_evaluate_data_streams_and_equals_evaluation_in_memory(tmp_path, trained_run):
    """The metrics of a file read in chunks of 7, 100 or all rows are those of the same windows
    evaluated at once in memory, to float rounding; the plot is written as before."""
    from rnnkit.data.prepare import prepare_training_data
    from rnnkit.models import load_model
    from rnnkit.tasks import load_preprocessor
    from rnnkit.training import evaluate

    run = tmp_path / "run"
    _copy_run(trained_run, run)
    other = tmp_path / "other.csv"
    frame = make_series(n_series=4, length=30, seed=9)
    frame.iloc[np.random.default_rng(2).permutation(len(frame))].sort_values("date", kind="stable").to_csv(other, index=False)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"].update(path=str(other), split={"val": 0.0, "test": 0.0})  # every window a training window
    config["train"]["early_stopping"]["monitor"] = "loss"
    from rnnkit.config import validate_config

    task, pre = load_preprocessor(run / "schema.json")
    _, arrays = prepare_training_data(validate_config(config), pre)
    expected, expected_baseline = task.evaluate(load_model(run / "checkpoints" / "best.keras"), pre, arrays, "train")
    assert expected["windows"] == 4 * (30 - 8 - 2 + 1)
    for chunk_rows in (7, 100, 10**6):
        found = evaluate(run, data=other, chunk_rows=chunk_rows)[str(other.resolve())]
        assert_close(found["model"], expected, rel=1e-6)  # XLA's rounding depends on the batch shape
        assert_close(found["baseline"], expected_baseline, rel=1e-12)
    recorded = json.loads((run / "metrics.json").read_text())["files"][str(other.resolve())]
    assert recorded["model"]["windows"] == expected["windows"]
    assert (run / "plots" / "files" / "other" / "forecast_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_streams_the_same_rows_as_one_chunk(tmp_path, trained_run):
    data = tmp_path / "new.csv"
    make_series(n_series=3, length=25, seed=3).to_csv(data, index=False)
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.parquet"
    assert run_cli("predict", trained_run, "--input", data, "--output", whole).exit_code == 0
    result = run_cli("predict", trained_run, "--input", data, "--output", chunked, "--chunk-rows", 7, "--batch-size", 5)
    assert result.exit_code == 0, result.stderr
    a, b = pd.read_csv(whole), pd.read_parquet(chunked)
    assert list(a.columns) == ["id", "origin_date", "date_h1", "date_h2", "y_h1", "y_h2"]
    assert len(a) == 3 * (25 - 8 + 1)
    assert list(a["id"]) == list(b["id"])
    for column in ("origin_date", "date_h1", "date_h2"):
        assert list(pd.to_datetime(a[column])) == list(b[column])
    np.testing.assert_allclose(a[["y_h1", "y_h2"]], b[["y_h1", "y_h2"]], rtol=1e-5)
    # The first origin of each series is its 8th row (a full window of 8 inputs); a daily run
    # forecasts the next two days.
    assert a.groupby("id")["origin_date"].first().tolist() == ["2024-01-08"] * 3
    assert a.groupby("id")[["date_h1", "date_h2"]].first().to_numpy().tolist() == [["2024-01-09", "2024-01-10"]] * 3
    last = tmp_path / "last.csv"
    assert run_cli("predict", trained_run, "--input", data, "--output", last, "--last").exit_code == 0
    tail = pd.read_csv(last)
    assert len(tail) == 3
    np.testing.assert_allclose(tail[["y_h1", "y_h2"]], a.groupby("id").tail(1)[["y_h1", "y_h2"]], rtol=1e-5)


def test_predict_long_format_holds_the_wide_values_one_step_a_row(tmp_path, trained_run):
    data = tmp_path / "new.csv"
    make_series(n_series=3, length=25, seed=3).to_csv(data, index=False)
    wide, long = tmp_path / "wide.parquet", tmp_path / "long.csv"
    assert run_cli("predict", trained_run, "--input", data, "--output", wide).exit_code == 0
    result = run_cli("predict", trained_run, "--input", data, "--output", long, "--format", "long", "--chunk-rows", 7)
    assert result.exit_code == 0, result.stderr
    a, b = pd.read_parquet(wide), pd.read_csv(long, parse_dates=["origin_date", "date"])
    assert list(b.columns) == ["id", "origin_date", "date", "step", "y"] and len(b) == 2 * len(a)
    assert b["id"].tolist() == np.repeat(a["id"], 2).tolist()
    assert b["origin_date"].tolist() == np.repeat(a["origin_date"], 2).tolist()
    assert b["date"].tolist() == a[["date_h1", "date_h2"]].to_numpy().ravel().tolist()
    assert (b["date"] - b["origin_date"] == pd.to_timedelta(b["step"], unit="D")).all()
    np.testing.assert_allclose(b["y"], a[["y_h1", "y_h2"]].to_numpy().ravel(), rtol=1e-5)
    # --last: the newest forecast of each series, in either format.
    last_wide, last_long = tmp_path / "last.csv", tmp_path / "last.parquet"
    assert run_cli("predict", trained_run, "--input", data, "--output", last_wide, "--last").exit_code == 0
    assert run_cli("predict", trained_run, "--input", data, "--output", last_long, "--last", "--format", "long").exit_code == 0
    c, d = pd.read_csv(last_wide), pd.read_parquet(last_long)
    assert c[["origin_date", "date_h1", "date_h2"]].to_numpy().tolist() == [["2024-01-25", "2024-01-26", "2024-01-27"]] * 3
    assert d["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-26", "2024-01-27"] * 3 and d["step"].tolist() == [1, 2] * 3
    np.testing.assert_allclose(d["y"], c[["y_h1", "y_h2"]].to_numpy().ravel(), rtol=1e-6)
    np.testing.assert_allclose(c[["y_h1", "y_h2"]], a.groupby("id").tail(1)[["y_h1", "y_h2"]], rtol=1e-5)


def _monthly(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(date=pd.date_range("2019-01-01", periods=40, freq="MS").strftime("%Y-%m-%d").tolist() * 2)


def _every_five(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(date=np.tile(100 + 5 * np.arange(40), 2))


def _irregular(frame: pd.DataFrame) -> pd.DataFrame:
    days = np.cumsum(np.random.default_rng(1).integers(1, 4, 40))  # 1 to 3 days apart
    return frame.assign(date=np.tile((pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"), 2))


@pytest.mark.parametrize(
    ("times", "step", "h1", "h2"),
    [
        (_monthly, "MS", ["2019-09-01", "2019-10-01"], ["2019-10-01", "2019-11-01"]),  # calendar months of 30 and 31 days
        (_every_five, 5, [140, 145], [145, 150]),
        (_irregular, None, None, None),
    ],
    ids=["month-start", "numbers-step-5", "irregular-dates"],
)
def test_a_run_records_its_time_step_and_predict_names_each_steps_time(tmp_path, times, step, h1, h2):
    data = tmp_path / "series.csv"
    times(make_series(n_series=2, length=40)).to_csv(data, index=False)
    config = write_config(tmp_path, data, train={"epochs": 1})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    assert json.loads((tmp_path / "run" / "schema.json").read_text())["time_step"] == step
    wide, long = tmp_path / "wide.csv", tmp_path / "long.csv"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", wide).exit_code == 0
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", long, "--format", "long").exit_code == 0
    a, b = pd.read_csv(wide), pd.read_csv(long)
    if step is None:  # no regular step: no time to name a step by
        assert list(a.columns) == ["id", "origin_date", "y_h1", "y_h2"]
        assert list(b.columns) == ["id", "origin_date", "step", "y"]
        return
    assert list(a.columns) == ["id", "origin_date", "date_h1", "date_h2", "y_h1", "y_h2"]
    assert list(b.columns) == ["id", "origin_date", "date", "step", "y"]
    assert a[["date_h1", "date_h2"]].iloc[:2].to_numpy().T.tolist() == [h1, h2]
    assert b["date"].tolist() == a[["date_h1", "date_h2"]].to_numpy().ravel().tolist()


def test_predict_batch_is_the_tasks_choice_unless_given(tmp_path, trained_run, monkeypatch):
    from rnnkit.models import RecurrentModel
    from rnnkit.tasks import get_task
    from rnnkit.tasks.forecast import ForecastTask

    forecast, classify = get_task("forecast"), get_task("classify")
    small, large = RecurrentModel(2, units=[32]), RecurrentModel(8, units=[64, 64])  # 4,480 and 50,432 weights
    for model in (small, large):
        model.build((None, 4, model.input_features))
    assert [forecast.predict_batch(small), forecast.predict_batch(large), classify.predict_batch(small)] == [4096, 1024, 1024]
    pairs = ((forecast, small), (forecast, large), (classify, large))
    assert [task.predict_batch(model, one_thread=True) for task, model in pairs] == [4096, 512, 1024]
    seen = []
    write = ForecastTask.write_predictions

    def spy(self, *args, batch_size, **kwargs):
        seen.append(batch_size)
        return write(self, *args, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(ForecastTask, "write_predictions", spy)
    data = tmp_path / "new.csv"
    make_series(n_series=1, length=20).to_csv(data, index=False)
    assert run_cli("predict", trained_run, "--input", data, "--output", tmp_path / "a.csv").exit_code == 0
    assert run_cli("predict", trained_run, "--input", data, "--output", tmp_path / "b.csv", "--batch-size", 7).exit_code == 0
    assert seen == [4096, 7]  # the trained run's LSTM(8) is a small model
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b, rtol=1e-5)  # XLA's float rounding depends on the batch shape


# Runs the command line with ForecastTask.write_predictions spied on (printing what it was handed
# and TensorFlow's intra-op threads), the test run's LSTM(8) counted as a large model.
_SPIED_CLI = """
import json, sys
import rnnkit.tasks.forecast
from rnnkit.tasks.forecast import ForecastTask
rnnkit.tasks.forecast.SMALL_MODEL = 0
write = ForecastTask.write_predictions
def spy(self, *args, batch_size, streams=None, **kwargs):
    import tensorflow as tf
    seen = [tf.config.threading.get_intra_op_parallelism_threads(), streams, batch_size]
    print("SEEN", json.dumps(seen), file=sys.stderr)
    return write(self, *args, batch_size=batch_size, streams=streams, **kwargs)
ForecastTask.write_predictions = spy
from rnnkit.cli import cli
cli.main(sys.argv[1:], prog_name="rnnkit")
"""


@pytest.mark.slow
def test_predict_command_runs_one_batch_per_cpu_each_op_on_one_thread_unless_the_user_chose(tmp_path, trained_run, monkeypatch):
    import os

    from rnnkit.process import usable_cpus
    from rnnkit.tasks import forecast
    from rnnkit.tasks.base import ONE_THREAD_MAX_CPUS, cpu_streams

    data = tmp_path / "new.csv"
    make_series(n_series=3, length=30, seed=5).to_csv(data, index=False)
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    env["CUDA_VISIBLE_DEVICES"] = "-1"  # a CPU host, also where the tests run beside a GPU
    seen, outputs = [], []
    for threads in (None, "2"):
        out = tmp_path / f"out-{threads}.csv"
        argv = [sys.executable, "-c", _SPIED_CLI, "predict", trained_run, "--input", data, "--output", out]
        run_env = env if threads is None else {**env, "TF_NUM_INTRAOP_THREADS": threads}
        result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, env=run_env)
        assert result.returncode == 0, result.stderr
        seen += [json.loads(line.split(" ", 1)[1]) for line in result.stderr.splitlines() if line.startswith("SEEN ")]
        outputs.append(pd.read_csv(out))
    # A fresh process: TensorFlow takes one thread per op, one batch per CPU is in flight, and a
    # large forecasting model predicts 512 windows at a time; with the user's own setting,
    # TensorFlow's threads, rnnkit's two streams and 1,024 windows, as before.
    mine = [1, cpu_streams(), 512] if usable_cpus() <= ONE_THREAD_MAX_CPUS else [0, None, 1024]
    assert seen == [mine, [0, None, 1024]]
    assert len(outputs[0]) == 3 * (30 - 8 + 1)
    pd.testing.assert_frame_equal(outputs[0], outputs[1], rtol=1e-5)
    # In a process where TensorFlow has started (this one), the command changes nothing.
    handed = []
    write = forecast.ForecastTask.write_predictions

    def spy(self, *args, batch_size, streams=None, **kwargs):
        handed.append([streams, batch_size])
        return write(self, *args, batch_size=batch_size, streams=streams, **kwargs)

    monkeypatch.setattr(forecast, "SMALL_MODEL", 0)
    monkeypatch.setattr(forecast.ForecastTask, "write_predictions", spy)
    library = tmp_path / "library.csv"
    assert run_cli("predict", trained_run, "--input", data, "--output", library).exit_code == 0
    assert handed == [[None, 1024]]
    pd.testing.assert_frame_equal(pd.read_csv(library), outputs[1], rtol=1e-5)


def test_predict_matches_evaluate_forecasts(tmp_path, trained_run):
    """A forecast from predict equals the one evaluate scores, for the same window."""
    from rnnkit.data.pipeline import WindowCutter
    from rnnkit.data.predict_stream import ForecastStream
    from rnnkit.data.schema import Preprocessor
    from rnnkit.models import load_model

    data = tmp_path / "new.csv"
    make_series(n_series=1, length=20, seed=4).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    assert run_cli("predict", trained_run, "--input", data, "--output", out).exit_code == 0
    pre = Preprocessor.load(trained_run / "schema.json")
    [block] = ForecastStream(pre, data, labelled=True).blocks()  # the windows evaluate --data scores
    model = load_model(trained_run / "checkpoints" / "best.keras")
    origins = block.origins
    expected = pre.to_original(model(WindowCutter(block.x, block.y, pre).inputs(origins)).numpy(), block.last_raw)
    assert len(origins) == 20 - 8 - 2 + 1  # each with its 2 targets in the file
    np.testing.assert_allclose(pd.read_csv(out)[["y_h1", "y_h2"]].to_numpy()[: len(origins)], expected[:, :, 0], rtol=1e-5)


def test_predict_checks_input_before_writing(tmp_path, trained_run):
    bad = tmp_path / "bad.csv"
    make_series(n_series=1, length=20).drop(columns=["x"]).to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    one_line_error(run_cli("predict", trained_run, "--input", bad, "--output", out), 3, str(bad), "column 'x' not found")
    assert not out.exists()
    text = make_series(n_series=1, length=20).astype({"x": object})
    text.loc[15, "x"] = "n/a?"
    text.to_csv(bad, index=False)
    one_line_error(run_cli("predict", trained_run, "--input", bad, "--output", out), 3, "line 17, column 'x'")
    assert not out.exists() and not list(tmp_path.glob(".out.tmp*"))
    out.write_text("keep me")
    good = tmp_path / "good.csv"
    make_series(n_series=1, length=20).to_csv(good, index=False)
    one_line_error(run_cli("predict", trained_run, "--input", good, "--output", out), 2, "already exists", "--overwrite")
    assert out.read_text() == "keep me"
    assert run_cli("predict", trained_run, "--input", good, "--output", out, "--overwrite").exit_code == 0
    one_line_error(
        run_cli("predict", tmp_path / "nope", "--input", good, "--output", tmp_path / "o.csv"), 4, "run folder not found"
    )
    unsorted = make_series(n_series=1, length=20).iloc[::-1]
    unsorted.to_csv(bad, index=False)
    one_line_error(run_cli("predict", trained_run, "--input", bad, "--output", tmp_path / "u.csv"), 3, "sort by id and time")


def test_invalid_config_or_data_creates_no_run_folder(tmp_path, series_csv):
    config = write_config(tmp_path, series_csv, model={"cell": "lstn"})
    one_line_error(run_cli("train", config), 2, "model.cell must be one of")
    config = write_config(tmp_path, tmp_path / "missing.csv")
    one_line_error(run_cli("train", config), 3, "missing.csv: data file not found")
    assert not (tmp_path / "runs").exists()


def test_an_existing_run_folder_is_never_overwritten(tmp_path, tiny_config):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("x")
    one_line_error(run_cli("train", tiny_config, "--run-dir", run), 4, "already exists", "--resume")
    assert [p.name for p in run.iterdir()] == ["precious.txt"]


def test_default_run_folders_get_unique_names(tmp_path, tiny_config):
    for _ in range(2):
        assert run_cli("train", tiny_config, "-q", "--set", "train.epochs=1").exit_code == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(name.startswith("tiny-") for name in runs)


def test_validate_prints_the_resolved_config_and_a_data_summary(tiny_config):
    result = run_cli("validate", tiny_config, "--set", "data.window=5")
    assert result.exit_code == 0, result.stderr
    report = yaml.safe_load(result.stdout)
    assert report["config"]["data"]["window"] == 5 and report["config"]["model"]["dropout"] == 0.0
    data = report["data"]
    assert data["series"] == 3 and data["rows"] == {"train": 108, "val": 36, "test": 36}
    assert data["windows"]["train"] == 3 * (36 - 5 - 2 + 1)
    assert data["features"] == ["y", "x"] and data["missing_values"] == 0
    schema = json.loads(run_cli("validate", "--schema").stdout)
    assert "data" in schema["properties"]


def test_subprocess_errors_are_one_line_without_traceback_unless_debug(tmp_path, series_csv):
    config = write_config(tmp_path, series_csv, train={"epochs": "many"})
    command = [sys.executable, "-m", "rnnkit", "train", str(config)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        f"rnnkit: error: {config}: train.epochs must be a whole number. Received: epochs='many' (str)"
    ]
    debug = subprocess.run([sys.executable, "-m", "rnnkit", "--debug", *command[3:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom rnnkit.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\nprint('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("False")


def test_quickstart_beats_persistence(tmp_path):
    """The bundled example shows clear skill over the naive baseline (shortened run)."""
    result = run_cli("train", ROOT / "configs" / "quickstart.yaml", "--run-dir", tmp_path / "q", "-q", "--set", "train.epochs=12")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "q" / "metrics.json").read_text())
    assert metrics["test"]["rel_mae"] < 0.6
    assert metrics["test"]["mae"] < metrics["baseline"]["test"]["mae"]


def assert_close(found, expected, rel: float) -> None:
    """Equal nested metrics: the same keys, None where expected is None, numbers to ``rel``."""
    if isinstance(expected, dict):
        assert isinstance(found, dict) and list(found) == list(expected), (found, expected)
        for key in expected:
            assert_close(found[key], expected[key], rel)
    elif isinstance(expected, list):
        assert len(found) == len(expected)
        for a, b in zip(found, expected, strict=True):
            assert_close(a, b, rel)
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert found == pytest.approx(expected, rel=rel, abs=0)
    else:
        assert found == expected


def _copy_run(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target)


def test_several_targets_numeric_time_and_a_single_series(tmp_path):
    frame = make_series(n_series=1, length=60).drop(columns=["id"])
    frame["date"] = np.arange(100, 160)
    data = tmp_path / "one.parquet"
    frame.to_parquet(data, index=False)
    config = write_config(tmp_path, data, data={"id": None, "target": ["y", "x"]}, train={"epochs": 1})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test"]["per_target"]) == {"y", "x"}
    assert json.loads((tmp_path / "run" / "schema.json").read_text())["time_step"] == 1
    out, long = tmp_path / "out.csv", tmp_path / "long.parquet"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", out).exit_code == 0
    forecasts = pd.read_csv(out)
    assert list(forecasts.columns) == ["origin_date", "date_h1", "date_h2", "y_h1", "y_h2", "x_h1", "x_h2"]
    assert forecasts[["origin_date", "date_h1", "date_h2"]].iloc[0].tolist() == [107, 108, 109]
    assert len(forecasts) == 60 - 8 + 1
    # Long: one row per origin and step, each target a column, the same values.
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", long, "--format", "long").exit_code == 0
    rows = pd.read_parquet(long)
    assert list(rows.columns) == ["origin_date", "date", "step", "y", "x"] and len(rows) == 2 * len(forecasts)
    assert rows[["origin_date", "date", "step"]].iloc[:3].to_numpy().tolist() == [[107, 108, 1], [107, 109, 2], [108, 109, 1]]
    for target in ("y", "x"):
        wide = forecasts[[f"{target}_h1", f"{target}_h2"]].to_numpy().ravel()
        np.testing.assert_allclose(rows[target], wide, rtol=1e-6)


def test_without_a_time_column_origins_are_positions(tmp_path, trained_run):
    frame = make_series(n_series=2, length=20).drop(columns=["date"])
    data = tmp_path / "notime.csv"
    frame.to_csv(data, index=False)
    config = write_config(tmp_path, data, data={"time": None}, train={"epochs": 1})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", out, "--chunk-rows", 9).exit_code == 0
    forecasts = pd.read_csv(out)
    assert list(forecasts.columns) == ["id", "origin", "y_h1", "y_h2"]  # no times to name the steps by
    assert forecasts.groupby("id")["origin"].apply(list).tolist() == [list(range(7, 20))] * 2
    long = tmp_path / "long.csv"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", long, "--format", "long").exit_code == 0
    rows = pd.read_csv(long)
    assert list(rows.columns) == ["id", "origin", "step", "y"]
    assert (
        rows["step"].tolist() == [1, 2] * len(forecasts) and rows["origin"].tolist() == np.repeat(forecasts["origin"], 2).tolist()
    )
    np.testing.assert_allclose(rows["y"], forecasts[["y_h1", "y_h2"]].to_numpy().ravel(), rtol=1e-6)


def test_runs_lists_differing_config_and_metrics_with_sort_and_filter(tmp_path, tiny_config):
    for cell in ("gru", "lstm", "simple"):
        args = ["--set", f"model.cell={cell}", "--set", "train.epochs=1", "--run-dir", tmp_path / "runs" / cell, "-q"]
        assert run_cli("train", tiny_config, *args).exit_code == 0
    result = run_cli("runs", tmp_path / "runs", "--sort", "test.mae")
    assert result.exit_code == 0, result.stderr
    heading, header, *rows = result.stdout.splitlines()
    columns = header.split()
    assert heading == "forecast (3 runs)" and columns[:4] == ["run", "status", "epochs", "best_epoch"]
    assert "model.cell" in columns and "test.mae" in columns and "model.units" not in columns  # only what differs
    maes = [float(row.split()[columns.index("test.mae")]) for row in rows]
    assert maes == sorted(maes) and len(rows) == 3
    only = run_cli("runs", tmp_path / "runs", "--filter", "model.cell=lstm")
    assert [line.split()[0] for line in only.stdout.splitlines()[2:]] == ["lstm"]
    assert run_cli("runs", tmp_path / "runs", "--sort", "nope").exit_code == 2
    assert run_cli("runs", tmp_path / "missing").exit_code == 4


def test_tensorboard_logs_behind_a_config_option(tmp_path, tiny_config):
    assert (
        run_cli(
            "train",
            tiny_config,
            "--run-dir",
            tmp_path / "run",
            "-q",
            "--set",
            "train.epochs=2",
            "--set",
            "train.tensorboard=true",
        ).exit_code
        == 0
    )
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} == {"train", "validation"}
