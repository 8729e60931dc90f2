"""``rnnkit runs``: a table per task with the task's own columns, fitted to the terminal; --columns;
csv, json and markdown; filters and sorting in every format; pruned and damaged runs.

The run folders here are written by hand, file by file, as ``rnnkit train`` writes them (config.yaml
resolved by the config loader, schema.json from each task's own preparation of tiny data,
status.json and metrics.json of the shapes a run holds), so no test trains a model.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import assert_refused, make_sequences, make_series

from rnnkit import compare
from rnnkit.config import config_to_dict, dump_yaml, load_config
from rnnkit.run_files import STATES
from rnnkit.runs import RunFolder

CONFIG = 2
TINY_MODEL = {"cell": "gru", "units": [8]}
LONG_PATH = "/data/projects/very/long/folder/names/of/a/shared/disk/series.csv"


def task_data(folder: Path) -> dict[str, dict]:
    """The ``data:`` section of a small valid config of each task, its files in ``folder``."""
    sequence = {"path": str(folder / "seq.csv"), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"}
    series = {"path": str(folder / "series.csv"), "id": "id", "time": "date", "features": ["y", "x"], "target": "y"}
    return {
        "forecast": {**series, "window": 8, "horizon": 2},
        "classify": sequence,
        "tag": sequence,
        "generate": {"path": str(folder / "corpus.txt"), "tokenize": "char", "window": 8},
    }


def task_metrics(task: str, value: float) -> dict:
    """metrics.json of a finished run of ``task`` whose headline test metric is ``value``."""
    if task == "forecast":
        split = {"mae": value, "rmse": value * 1.3, "smape": 5.0, "mape": 5.1, "mase": 0.6, "windows": 12}
        split |= {"per_step": {"mae": [value, value]}, "rel_mae": value / 2, "rel_rmse": 0.6, "skill_mae": 0.4}
        baseline = {"mae": value * 2, "rmse": value * 2.5, "windows": 12}
    elif task == "generate":
        split = {"cross_entropy": 1.1, "perplexity": value, "tokens": 400, "accuracy": 0.4}
        baseline = {"cross_entropy": 2.0, "perplexity": 7.4, "tokens": 400}
    else:
        split = {
            "accuracy": value,
            "macro_f1": value - 0.1,
            "count": 6,
            "per_class": {"1": {"f1": 0.5}},
            "labels": ["1", "Standing"],
        }
        baseline = {"accuracy": 0.5, "macro_f1": 0.33, "count": 6}
    monitor = {"name": "val_loss", "value": 0.25}
    return {"val": split, "test": split, "baseline": {"val": baseline, "test": baseline}, "best_epoch": 2, "monitor": monitor}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory) -> dict[str, dict]:
    """schema.json of each task, as its own preparation writes it (pandas only, no model)."""
    from rnnkit.tasks import get_task

    folder = tmp_path_factory.mktemp("schemas")
    make_series(n_series=2, length=40).to_csv(folder / "series.csv", index=False)
    make_sequences(n=20).to_csv(folder / "seq.csv", index=False)
    (folder / "corpus.txt").write_text("the cat sat on the mat. " * 40)
    written = {}
    for task, data in task_data(folder).items():
        path = folder / f"{task}.yaml"
        path.write_text(yaml.safe_dump({"task": task, "data": data, "model": TINY_MODEL}))
        pre, _ = get_task(task).prepare(load_config(path))
        written[task] = json.loads(json.dumps(pre.to_dict()))
    return written


def fake_run(folder: Path, name: str, task: str, schemas: dict, *, value: float, state: str = "complete", **sections) -> Path:
    """Write run folder ``folder/name`` of ``task`` with headline metric ``value``; keyword sections
    (data=..., model=..., train=...) are merged into the task's config."""
    run = folder / name
    run.mkdir(parents=True)
    # The data paths need not exist: runs never reads the data.
    config = {"name": name.split("-")[0], "seed": 7, "task": task, "data": task_data(folder)[task], "model": TINY_MODEL}
    config["train"] = {"epochs": 3}
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    resolved = config_to_dict(load_config(run / "config.yaml")) | {"versions": {"rnnkit": "0.1.0", "python": "3.11.7"}}
    (run / "config.yaml").write_text(dump_yaml(resolved))
    (run / "schema.json").write_text(json.dumps(schemas[task]))
    files = RunFolder(run)
    files.write_json(files.metrics, task_metrics(task, value))
    files.write_status(state, epoch=2, best_epoch=2)
    return run


@pytest.fixture
def mixed(tmp_path, schemas) -> Path:
    """A folder of three forecast runs (one pruned), two classify, one tag and one generate run."""
    folder = tmp_path / "runs"
    folder.mkdir()
    fake_run(folder, "f1-gru", "forecast", schemas, value=1.5, model={"cell": "gru"})
    fake_run(folder, "f2-lstm", "forecast", schemas, value=1.2, model={"cell": "lstm"}, data={"window": 12})
    fake_run(folder, "f3-pruned", "forecast", schemas, value=2.25, state="pruned", model={"cell": "lstm"})
    # data.window differs between the classify runs too, but a classifier does not read it.
    fake_run(folder, "c1-small", "classify", schemas, value=0.75)
    fake_run(folder, "c2-wide", "classify", schemas, value=0.9, model={"units": [16]}, data={"window": 20})
    fake_run(folder, "t1", "tag", schemas, value=0.8)
    fake_run(folder, "g1", "generate", schemas, value=3.25)
    return folder


def runs(*args, columns: int | None = None):
    """``rnnkit runs`` in-process; ``columns`` sets the COLUMNS width the table fits."""
    from click.testing import CliRunner

    from rnnkit.cli import cli

    env = {"COLUMNS": str(columns)} if columns else {"COLUMNS": ""}
    result = CliRunner().invoke(cli, ["runs", *map(str, args)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def tables(text: str) -> dict[str, list[list[str]]]:
    """The text tables of ``rnnkit runs`` by heading: each a list of rows of cells (header first).
    Cells are split on whitespace (no value here holds a space); '-' is an empty cell."""
    found: dict[str, list[list[str]]] = {}
    for block in text.strip().split("\n\n"):
        heading, *lines = block.splitlines()
        found[heading] = [line.split() for line in lines if not line.startswith("(")]
    return found


def note_of(block: str) -> str:
    """The note under a table, its wrapped lines joined."""
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("("))
    return " ".join(line.strip() for line in lines[start:])


def column(table: list[list[str]], name: str) -> list[str]:
    header, *rows = table
    return [row[header.index(name)] for row in rows]


# -- one table per task, with the task's own columns ----------------------------------------------


def test_each_task_has_its_own_table_columns_and_metrics(mixed):
    found = tables(runs(mixed))
    assert list(found) == ["forecast (3 runs)", "classify (2 runs)", "tag (1 run)", "generate (1 run)"]
    forecast, classify, tag, generate = found.values()
    # Only what differs within the task: data.window and model.cell for forecasts ...
    assert forecast[0] == [
        "run",
        "status",
        "epochs",
        "best_epoch",
        "data.window",
        "model.cell",
        "test.mae",
        "test.rmse",
        "test.rel_mae",
    ]
    assert column(forecast, "data.window") == ["8", "12", "8"] and column(forecast, "test.mae") == ["1.5", "1.2", "2.25"]
    # ... model.units for classifiers: their data.window differs as well, but means nothing to them.
    assert classify[0] == ["run", "status", "epochs", "best_epoch", "model.units", "test.accuracy", "test.macro_f1"]
    assert column(classify, "model.units") == ["[8]", "[16]"]
    assert tag[0] == ["run", "status", "epochs", "best_epoch", "test.accuracy", "test.macro_f1"]
    # A language model's accuracy is not its headline: perplexity is.
    assert generate[0] == ["run", "status", "epochs", "best_epoch", "test.perplexity"]
    assert column(generate, "test.perplexity") == ["3.25"]


def test_the_registry_names_a_headline_metric_and_keys_rnnkit_knows_for_every_task():
    from rnnkit.config import TASKS
    from rnnkit.run_files import SplitMetrics

    assert set(compare.TASK_COLUMNS) == set(TASKS)
    known = compare.known_columns([])
    for spec in compare.TASK_COLUMNS.values():
        assert spec.metrics and set(spec.metrics) <= set(SplitMetrics.model_fields)
        assert set(spec.config) <= set(known), set(spec.config) - set(known)


def test_validation_metrics_stand_in_when_no_run_has_test_metrics(tmp_path, schemas):
    run = fake_run(tmp_path / "runs", "a", "forecast", schemas, value=1.0)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"] = {}
    (run / "metrics.json").write_text(json.dumps(metrics))
    header = tables(runs(tmp_path / "runs"))["forecast (1 run)"][0]
    assert header[-3:] == ["val.mae", "val.rmse", "val.rel_mae"]


# -- fitting the terminal -------------------------------------------------------------------------


def test_at_80_columns_the_least_important_columns_are_hidden_and_named(mixed):
    text = runs(mixed, columns=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    forecast = text.split("\n\n")[0]
    lines = forecast.splitlines()
    shown = lines[1].split()
    # The run, its status, the first metric and what differs stay; epochs go first.
    assert shown[:2] == ["run", "status"] and {"test.mae", "data.window", "model.cell"} <= set(shown)
    note = note_of(forecast)
    hidden = [c for c in ["epochs", "best_epoch", "test.rmse", "test.rel_mae"] if c not in shown]
    assert hidden and note.startswith(f"({len(hidden)} column")
    assert f"hidden: {', '.join(hidden)}; --columns to choose, --format csv for all)" in note
    # Rows are whole: every shown cell of every run is on its line.
    assert [line.split()[0] for line in lines[2:5]] == ["f1-gru", "f2-lstm", "f3-pruned"]
    assert all(len(line.split()) == len(shown) for line in lines[2:5])


def test_at_200_columns_nothing_is_hidden(mixed):
    wide, piped = runs(mixed, columns=200), runs(mixed)
    assert wide == piped and "hidden" not in wide
    assert max(len(line) for line in wide.splitlines()) <= 200


def test_a_very_narrow_terminal_keeps_run_and_status_and_shortens_the_reason(tmp_path, schemas):
    folder = tmp_path / "runs"
    run = fake_run(folder, "a", "forecast", schemas, value=1.0)
    (run / "metrics.json").write_text('{"test": {"mae": "low"}}')
    text = runs(folder, columns=40)
    header, row = text.splitlines()[1:3]
    assert header.split() == ["run", "status", "reason"]
    assert row.split()[:2] == ["a", "damaged"] and row.endswith("...") and len(row) <= 40
    assert "metrics.json: test.mae must be a number" in runs(folder)  # in full when nothing limits the width


def test_long_config_values_lose_their_middle_in_the_table_only(tmp_path, schemas):
    folder = tmp_path / "runs"
    fake_run(folder, "a", "forecast", schemas, value=1.0, data={"path": LONG_PATH})
    fake_run(folder, "b", "forecast", schemas, value=1.0)
    cell = column(tables(runs(folder))["forecast (2 runs)"], "data.path")[0]
    assert cell.startswith("/data/proj") and cell.endswith("series.csv") and "..." in cell
    assert len(cell) == compare.MAX_VALUE
    assert pd.read_csv(io.StringIO(runs(folder, "--format", "csv")))["data.path"].tolist()[0] == LONG_PATH


# -- --columns ------------------------------------------------------------------------------------


def test_columns_chooses_the_columns_of_one_table(mixed):
    text = runs(mixed, "--columns", "run,status,model.cell,test.mae,task", "--sort", "test.mae")
    header, *rows = text.splitlines()
    assert header.split() == ["run", "status", "model.cell", "test.mae", "task"]
    assert [row.split() for row in rows[:3]] == [
        ["f2-lstm", "complete", "lstm", "1.2", "forecast"],
        ["f1-gru", "complete", "gru", "1.5", "forecast"],
        ["f3-pruned", "pruned", "lstm", "2.25", "forecast"],
    ]
    assert rows[3].split() == ["c1-small", "complete", "gru", "-", "classify"]  # no test.mae: last, a dash
    assert len(rows) == 7


def test_columns_are_dropped_from_the_right_when_too_wide(mixed):
    text = runs(mixed, "--columns", "run,test.mae,data.path,model.cell", columns=40)
    assert text.splitlines()[0].split() == ["run", "test.mae"]
    assert note_of(text) == "(2 columns hidden: data.path, model.cell; --columns to choose, --format csv for all)"
    assert max(len(line) for line in text.splitlines()) <= 40


CASES = {
    "misspelt column": (
        ["--columns", "run,test.mea"],
        ["--columns 'run,test.mea'", "unknown column 'test.mea'", "did you mean 'test.mae'"],
    ),
    "misspelt config key": (["--columns", "model.cel"], ["unknown column 'model.cel'", "did you mean 'model.cell'"]),
    "nothing like it": (["--columns", "zzzzzz"], ["unknown column 'zzzzzz'", "--format csv lists every column"]),
    "no names": (["--columns", " , "], ["--columns ' , '", "expected column names separated by commas"]),
    "misspelt sort": (["--sort", "test.rsme"], ["--sort 'test.rsme'", "did you mean 'test.rmse'"]),
    "misspelt filter": (["--filter", "stauts=complete"], ["--filter 'stauts=complete'", "did you mean 'status'"]),
    "unknown format": (["--format", "xml"], ["'xml' is not one of"]),
}


@pytest.mark.parametrize("name", CASES)
def test_mistakes_are_usage_errors_that_name_the_culprit(mixed, name):
    args, fragments = CASES[name]
    assert_refused(["runs", mixed, *args], CONFIG, fragments, mixed)


# -- formats --------------------------------------------------------------------------------------


def test_csv_holds_every_column_of_every_run_in_full(mixed):
    frame = pd.read_csv(io.StringIO(runs(mixed, "--format", "csv")))
    assert list(frame["run"]) == ["c1-small", "c2-wide", "f1-gru", "f2-lstm", "f3-pruned", "g1", "t1"]
    assert list(frame.columns[:5]) == ["run", "status", "task", "epochs", "best_epoch"]
    assert list(frame.columns[-2:]) == ["reason", "path"]
    # Every config key, constant ones too, and every metric, not only the headline ones.
    for name in ("seed", "data.horizon", "model.dropout", "train.epochs", "versions.rnnkit", "test.mase", "val.cross_entropy"):
        assert name in frame.columns, name
    mae = json.loads((mixed / "f3-pruned" / "metrics.json").read_text())["test"]["rmse"]
    assert frame.set_index("run").loc["f3-pruned", "test.rmse"] == mae  # full precision
    assert frame.set_index("run").loc["c2-wide", "model.units"] == "[16]"
    assert frame["model.bidirectional"].tolist() == [False] * 7
    assert frame["reason"].isna().all()


def test_json_is_a_list_of_objects_with_real_types(mixed):
    rows = json.loads(runs(mixed, "--format", "json"))
    assert [row["run"] for row in rows][2:5] == ["f1-gru", "f2-lstm", "f3-pruned"]
    first = rows[2]
    assert first["epochs"] == 2 and first["test.mae"] == 1.5 and first["model.units"] == [8]
    assert first["model.bidirectional"] is False and first["reason"] is None and first["test.accuracy"] is None
    assert first["path"] == str(mixed / "f1-gru")
    assert len({tuple(row) for row in rows}) == 1  # every object has the same keys


def test_csv_and_json_keep_to_the_chosen_columns(mixed):
    chosen = "run,test.accuracy,model.units"
    assert runs(mixed, "--format", "csv", "--columns", chosen, "--filter", "task=classify").splitlines() == [
        "run,test.accuracy,model.units",
        "c1-small,0.75,[8]",
        "c2-wide,0.9,[16]",
    ]
    rows = json.loads(runs(mixed, "--format", "json", "--columns", chosen, "--filter", "task=classify"))
    assert rows == [
        {"run": "c1-small", "test.accuracy": 0.75, "model.units": [8]},
        {"run": "c2-wide", "test.accuracy": 0.9, "model.units": [16]},
    ]


def test_markdown_is_one_github_table_per_task(mixed):
    text = runs(mixed, "--format", "markdown")
    blocks = text.split("\n\n")
    assert blocks[0::2] == ["**forecast** (3 runs)", "**classify** (2 runs)", "**tag** (1 run)", "**generate** (1 run)"]
    forecast = blocks[1].splitlines()
    assert (
        forecast[0] == "| run | status | epochs | best_epoch | data.window | model.cell | test.mae | test.rmse | test.rel_mae |"
    )
    assert forecast[1] == "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    assert forecast[2] == "| f1-gru | complete | 2 | 2 | 8 | gru | 1.5 | 1.95 | 0.75 |"
    assert all(line.startswith("| ") and line.endswith(" |") and line.count(" | ") == 8 for line in forecast)


def test_non_finite_metrics_are_null_in_json_and_nan_in_csv(tmp_path, schemas):
    run = fake_run(tmp_path / "runs", "g", "generate", schemas, value=float("inf"))
    assert json.loads((run / "metrics.json").read_text())["test"]["perplexity"] == float("inf")
    assert json.loads(runs(tmp_path / "runs", "--format", "json"))[0]["test.perplexity"] is None
    assert pd.read_csv(io.StringIO(runs(tmp_path / "runs", "--format", "csv")))["test.perplexity"].tolist() == [float("inf")]


def test_an_empty_folder_in_every_format(tmp_path):
    (tmp_path / "runs").mkdir()
    assert runs(tmp_path / "runs").strip() == f"no runs in {tmp_path / 'runs'}"
    assert json.loads(runs(tmp_path / "runs", "--format", "json")) == []
    assert runs(tmp_path / "runs", "--format", "csv").strip() == "run,status,task,epochs,best_epoch,reason,path"


# -- filters and sorting, in every format ---------------------------------------------------------


@pytest.mark.parametrize("fmt", compare.FORMATS)
def test_filters_and_sort_hold_in_every_format(mixed, fmt):
    args = ["--format", fmt, "--filter", "status=complete", "--filter", "task=forecast", "--sort", "test.mae", "--desc"]
    text = runs(mixed, *args)
    if fmt == "json":
        names = [row["run"] for row in json.loads(text)]
    elif fmt == "csv":
        names = pd.read_csv(io.StringIO(text))["run"].tolist()
    elif fmt == "markdown":
        names = [line.split(" | ")[0].removeprefix("| ") for line in text.splitlines()[4:]]
    else:
        names = column(tables(text)["forecast (2 runs)"], "run")
    assert names == ["f1-gru", "f2-lstm"]  # the pruned run is not complete


def test_filters_compare_numbers_as_numbers_and_booleans_as_written(mixed):
    assert column(tables(runs(mixed, "--filter", "test.mae<1.5"))["forecast (1 run)"], "run") == ["f2-lstm"]
    assert tables(runs(mixed, "--filter", "model.bidirectional=false", "--filter", "task=tag")) == {
        "tag (1 run)": tables(runs(mixed, "--filter", "task=tag"))["tag (1 run)"]
    }
    assert runs(mixed, "--filter", "status=running").strip() == f"no runs in {mixed} match the filters"


def test_the_sort_column_is_shown_even_when_it_does_not_differ(mixed):
    table = tables(runs(mixed, "--sort", "train.epochs", "--filter", "task=tag"))["tag (1 run)"]
    assert "train.epochs" in table[0]


# -- pruned and damaged runs ----------------------------------------------------------------------


def test_pruned_is_a_run_state(tmp_path):
    assert "pruned" in STATES
    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    run.write_status("pruned", epoch=1, best_epoch=1, reason="trailed the median at epoch 1")
    assert run.read_status()["state"] == "pruned"


def test_pruned_runs_say_so_and_are_not_complete(mixed):
    forecast = tables(runs(mixed))["forecast (3 runs)"]
    assert dict(zip(column(forecast, "run"), column(forecast, "status"))) == {
        "f1-gru": "complete",
        "f2-lstm": "complete",
        "f3-pruned": "pruned",
    }
    assert "f3-pruned" not in runs(mixed, "--filter", "status=complete")
    assert column(tables(runs(mixed, "--filter", "status=pruned"))["forecast (1 run)"], "run") == ["f3-pruned"]


@pytest.mark.parametrize("fmt", compare.FORMATS)
def test_damaged_runs_keep_their_reason_in_every_format(tmp_path, schemas, fmt):
    folder = tmp_path / "runs"
    fake_run(folder, "good", "forecast", schemas, value=1.0)
    broken = fake_run(folder, "broken", "forecast", schemas, value=1.0)
    (broken / "status.json").write_text('{"state": "finished"}')
    lost = fake_run(folder, "lost", "forecast", schemas, value=1.0)
    (lost / "config.yaml").write_text("model: {cell: lstn}\n")
    (lost / "schema.json").unlink()
    text = runs(folder, "--format", fmt)
    if fmt in ("csv", "json"):
        rows = json.loads(text) if fmt == "json" else pd.read_csv(io.StringIO(text)).to_dict("records")
        found = {row["run"]: row for row in rows}
        assert found["broken"]["status"] == "damaged" and "status.json: state must be one of" in found["broken"]["reason"]
        assert found["broken"]["test.mae"] == 1.0  # what is readable is still there
        assert found["lost"]["task"] in (None, "") or pd.isna(found["lost"]["task"])
        assert "config.yaml: the run's config is not valid" in found["lost"]["reason"]
        return
    # The run without config or schema has no task: it gets a table of its own, last.
    blocks = text.split("\n\n")
    headings = blocks[0::2] if fmt == "markdown" else [block.splitlines()[0] for block in blocks]
    expected = ["forecast (2 runs)", "unknown task (1 run)"]
    assert headings == ([f"**{h.replace(' (', '** (')}" for h in expected] if fmt == "markdown" else expected)
    assert "status.json: state must be one of" in text and "config.yaml: the run's config is not valid" in text


def test_on_a_terminal_the_table_fits_its_width_without_being_told(mixed):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))  # 24 rows, 60 columns
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "runs", str(mixed)], stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the command has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert lines[0] == "forecast (3 runs)" and "hidden" in "\n".join(lines)
    assert max(len(line) for line in lines) <= 60
