"""Hostile run folders: every file is validated before it is used.

Each case copies the shared trained run, damages one file (schema.json, status.json, metrics.json,
checkpoints/manifest.json, config.yaml, or a checkpoint swapped in from another run and rehashed),
runs one command, and checks the documented failure: exit 4 (3 for a data file), one ``rnnkit: error:`` line naming
the file and the field, and nothing created or changed. Then ``rnnkit runs`` over damaged runs,
and round trips showing that what rnnkit writes passes its own validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import assert_refused, make_documents, make_sequences, make_series, snapshot, write_config

from rnnkit.cli import cli
from rnnkit.errors import RunError
from rnnkit.runs import RunFolder

DATA, RUN = 3, 4
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads alone raises RecursionError on this


def edit_json(relative: str, change):
    """Mutate: ``change(data)`` edits the parsed file in place (what it returns is ignored)."""

    def mutate(run: Path) -> None:
        path = run / relative
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return mutate


def write_text(relative: str, text: str):
    def mutate(run: Path) -> None:
        (run / relative).write_text(text)

    return mutate


def rehash(run: Path, name: str) -> None:
    """Record checkpoint ``name``'s current sha256 in the manifest, as a careful forger would."""
    manifest = run / "checkpoints" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["checkpoints"][name]["sha256"] = hashlib.sha256((run / "checkpoints" / f"{name}.keras").read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data))


def edit_state(change):
    """Mutate the training state inside last.keras and rehash it."""

    def mutate(run: Path) -> None:
        path = run / "checkpoints" / "last.keras"
        with zipfile.ZipFile(path) as archive:
            entries = {info.filename: archive.read(info) for info in archive.infolist()}
        state = json.loads(entries["rnnkit_state.json"])
        change(state)
        entries["rnnkit_state.json"] = json.dumps(state).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)
        rehash(run, "last")

    return mutate


def swap(other: str, name: str = "best"):
    """Mutate: copy checkpoint ``name`` of another trained run in and rehash the manifest."""

    def mutate(run: Path, runs: dict[str, Path]) -> None:
        shutil.copyfile(runs[other] / "checkpoints" / f"{name}.keras", run / "checkpoints" / f"{name}.keras")
        rehash(run, name)

    return mutate


def command(name: str, copy: Path, tmp: Path) -> list:
    data = copy.parent / "series.csv"
    return {
        "evaluate": ["evaluate", copy],
        "predict": ["predict", copy, "--input", data, "--output", tmp / "out.csv"],
        "export": ["export", copy, "--output", tmp / "export"],
        "generate": ["generate", copy, "--prompt", "a"],
        "resume": ["train", "--resume", copy, "--set", "train.epochs=4"],
    }[name]


SCHEMA, STATUS, METRICS, MANIFEST = "schema.json", "status.json", "metrics.json", "checkpoints/manifest.json"

# name: (mutation, command, exit code, fragments of the one error line)
CASES = {
    # -- schema.json -------------------------------------------------------------------------
    "schema-window-string": (
        edit_json(SCHEMA, lambda d: d.update(window="8")),
        "evaluate",
        RUN,
        ["schema.json: window must be a whole number", 'Received: window="8"'],
    ),
    "schema-horizon-zero": (
        edit_json(SCHEMA, lambda d: d.update(horizon=0)),
        "predict",
        RUN,
        ["schema.json: horizon must be at least 1. Received: horizon=0"],
    ),
    "schema-spread-zero": (
        edit_json(SCHEMA, lambda d: d["spread"].update(y=0.0)),
        "predict",
        RUN,
        ["schema.json: spread.y must be a finite number above 0. Received: spread.y=0.0"],
    ),
    "schema-spread-nan": (
        edit_json(SCHEMA, lambda d: d["spread"].update(x=float("nan"))),
        "evaluate",
        RUN,
        ["schema.json: spread.x must be a finite number above 0. Received: spread.x=NaN"],
    ),
    "schema-center-infinite": (
        edit_json(SCHEMA, lambda d: d["center"].update(y=float("inf"))),
        "export",
        RUN,
        ["schema.json: center.y must be a finite number. Received: center.y=Infinity"],
    ),
    "schema-center-column-missing": (
        edit_json(SCHEMA, lambda d: d["center"].pop("x")),
        "predict",
        RUN,
        ["schema.json: center has no entry for column 'x', which the model reads"],
    ),
    "schema-field-missing": (
        edit_json(SCHEMA, lambda d: d.pop("target_columns")),
        "evaluate",
        RUN,
        ["schema.json: required field 'target_columns' is missing"],
    ),
    "schema-unknown-field": (
        edit_json(SCHEMA, lambda d: d.update(windw=8)),
        "predict",
        RUN,
        ["schema.json: unknown field 'windw'"],
    ),
    "schema-features-not-strings": (
        edit_json(SCHEMA, lambda d: d.update(features=["y", 1])),
        "generate",
        RUN,
        ["schema.json: features[1] must be a string. Received: features[1]=1 (integer)"],
    ),
    "schema-scale-unknown": (
        edit_json(SCHEMA, lambda d: d.update(scale="robust")),
        "resume",
        RUN,
        ["schema.json: scale must be one of 'standard', 'minmax' or 'none'. Received: scale=\"robust\""],
    ),
    "schema-time-step-not-a-frequency": (
        edit_json(SCHEMA, lambda d: d.update(time_step="fortnightly")),
        "predict",
        RUN,
        ["schema.json: time_step must be a pandas frequency such as 'D'", 'Received: time_step="fortnightly"'],
    ),
    "schema-top-level-list": (write_text(SCHEMA, "[1, 2]"), "evaluate", RUN, ["schema.json: expected a JSON object", "list"]),
    "schema-deeply-nested": (write_text(SCHEMA, DEEP), "predict", RUN, ["schema.json: nested more than 32 levels deep"]),
    "schema-source-gone": (  # resume hashes the data files schema.json names: a data error, not a traceback
        edit_json(SCHEMA, lambda d: d.update(sources={"/nonexistent/d.csv": "0" * 64})),
        "resume",
        DATA,
        ["/nonexistent/d.csv: the run's data file is gone"],
    ),
    # -- status.json (read by resume; evaluate and predict do not use it) ------------------------
    "status-epoch-string": (
        edit_json(STATUS, lambda d: d.update(epoch="2")),
        "resume",
        RUN,
        ["status.json: epoch must be a whole number", 'Received: epoch="2" (string)'],
    ),
    "status-unknown-state": (
        edit_json(STATUS, lambda d: d.update(state="done")),
        "resume",
        RUN,
        ["status.json: state must be one of 'running', 'complete'", 'Received: state="done"'],
    ),
    "status-state-missing": (
        edit_json(STATUS, lambda d: d.pop("state")),
        "resume",
        RUN,
        ["status.json: required field 'state' is missing"],
    ),
    "status-top-level-string": (
        write_text(STATUS, '"complete"'),
        "resume",
        RUN,
        ["status.json: expected a JSON object", "string"],
    ),
    "status-deeply-nested": (write_text(STATUS, DEEP), "resume", RUN, ["status.json: nested more than 32 levels deep"]),
    # -- metrics.json (evaluate merges into it: checked before any data is read) ----------------
    "metrics-mae-string": (
        edit_json(METRICS, lambda d: d["test"].update(mae="6.5")),
        "evaluate",
        RUN,
        ["metrics.json: test.mae must be a number", 'Received: test.mae="6.5" (string)'],
    ),
    "metrics-best-epoch-negative": (
        edit_json(METRICS, lambda d: d.update(best_epoch=-1)),
        "evaluate",
        RUN,
        ["metrics.json: best_epoch must be at least 0. Received: best_epoch=-1"],
    ),
    "metrics-monitor-name-missing": (
        edit_json(METRICS, lambda d: d["monitor"].pop("name")),
        "evaluate",
        RUN,
        ["metrics.json: required field 'monitor.name' is missing"],
    ),
    "metrics-top-level-list": (write_text(METRICS, "[]"), "evaluate", RUN, ["metrics.json: expected a JSON object", "list"]),
    "metrics-deep-extra-field": (
        edit_json(METRICS, lambda d: d.update(notes=json.loads("[" * 40 + "]" * 40))),
        "evaluate",
        RUN,
        ["metrics.json: nested more than 32 levels deep"],
    ),
    # -- checkpoints/manifest.json --------------------------------------------------------------
    "manifest-sha256-not-hex": (
        edit_json(MANIFEST, lambda d: d["checkpoints"]["best"].update(sha256="x" * 64)),
        "predict",
        RUN,
        ["manifest.json: checkpoints.best.sha256 must be a sha256 digest (64 hex digits, lowercase)"],
    ),
    "manifest-epoch-missing": (
        edit_json(MANIFEST, lambda d: d["checkpoints"]["best"].pop("epoch")),
        "evaluate",
        RUN,
        ["manifest.json: required field 'checkpoints.best.epoch' is missing"],
    ),
    "manifest-epoch-bool": (
        edit_json(MANIFEST, lambda d: d["checkpoints"]["last"].update(epoch=True)),
        "resume",
        RUN,
        ["manifest.json: checkpoints.last.epoch must be a whole number. Received: checkpoints.last.epoch=true"],
    ),
    "manifest-unknown-checkpoint": (
        edit_json(MANIFEST, lambda d: d["checkpoints"].update(worst=d["checkpoints"]["best"])),
        "export",
        RUN,
        ["manifest.json: checkpoints.worst must be one of 'best' or 'last'"],
    ),
    "manifest-unknown-field": (
        edit_json(MANIFEST, lambda d: d.update(signed_by="me")),
        "evaluate",
        RUN,
        ["manifest.json: unknown field 'signed_by'"],
    ),
    "manifest-pending-not-object": (
        edit_json(MANIFEST, lambda d: d.update(pending=[])),
        "generate",
        RUN,
        ["manifest.json: pending must be an object. Received: pending=[]"],
    ),
    "manifest-top-level-number": (
        write_text(MANIFEST, "1"),
        "predict",
        RUN,
        ["manifest.json: expected a JSON object", "integer"],
    ),
    "manifest-deeply-nested": (write_text(MANIFEST, DEEP), "evaluate", RUN, ["manifest.json: nested more than 32 levels deep"]),
    # -- the training state inside last.keras (resume continues from it) -------------------------
    "state-epoch-string": (
        edit_state(lambda s: s.update(epoch="2")),
        "resume",
        RUN,
        ["last.keras: rnnkit_state.json: epoch must be a whole number"],
    ),
    "state-rows-not-list": (
        edit_state(lambda s: s.update(rows={"epoch": 1})),
        "resume",
        RUN,
        ["last.keras: rnnkit_state.json: rows must be a list"],
    ),
    # -- config.yaml: through load_config, as a run error naming config.yaml ---------------------
    "config-invalid-value": (
        write_text("config.yaml", "data: {path: d.csv, features: [y], target: y}\nmodel: {cell: lstn}\n"),
        "evaluate",
        RUN,
        ["config.yaml: the run's config is not valid for this rnnkit", "model.cell must be one of"],
    ),
    "config-malformed-yaml": (write_text("config.yaml", "data: [1\n"), "resume", RUN, ["config.yaml", "line 2, column 1"]),
    "config-top-level-list": (write_text("config.yaml", "- a\n"), "predict", RUN, ["config.yaml", "top level must be a mapping"]),
}

# A checkpoint from another run, the manifest rehashed to match: (mutation, command, exit code, fragments).
SWAPS = {
    "swap-best-features-evaluate": (
        swap("one_feature"),
        "evaluate",
        RUN,
        ["best.keras: the model expects 1 input features; schema.json has 2"],
    ),
    "swap-best-features-predict": (
        swap("one_feature"),
        "predict",
        RUN,
        ["best.keras: the model expects 1 input features; schema.json has 2"],
    ),
    "swap-best-features-export": (
        swap("one_feature"),
        "export",
        RUN,
        ["best.keras: the model expects 1 input features; schema.json has 2"],
    ),
    "swap-best-features-generate": (
        swap("one_feature"),
        "generate",
        RUN,
        ["best.keras: the model expects 1 input features; schema.json has 2"],
    ),
    "swap-best-horizon-predict": (
        swap("horizon_3"),
        "predict",
        RUN,
        ["best.keras: the model predicts 3 steps (the horizon); schema.json has 2"],
    ),
    "swap-last-features-resume": (
        swap("one_feature", "last"),
        "resume",
        RUN,
        ["last.keras: the model expects 1 input features; schema.json has 2"],
    ),
    "swap-last-units-resume": (
        swap("units_4", "last"),
        "resume",
        RUN,
        ["last.keras: the model has recurrent layers of [4] units; config.yaml has [8]"],
    ),
}


def check_refused(tmp: Path, run: Path, mutate, name: str, code: int, fragments: list[str], runs: dict | None = None) -> None:
    copy = tmp / "run"
    shutil.copytree(run, copy)
    shutil.copyfile(run.parent / "series.csv", tmp / "series.csv")  # predict's input
    mutate(copy) if runs is None else mutate(copy, runs)
    assert_refused(command(name, copy, tmp), code, fragments, tmp, run)


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_run_file_is_refused_before_any_work(case, tmp_path, trained_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_refused(tmp_path, trained_run, *CASES[case])


@pytest.fixture(scope="session")
def other_runs(trained_run, tmp_path_factory) -> dict[str, Path]:
    """Tiny runs on the same data as ``trained_run`` whose models differ from it in one way."""
    from rnnkit.config import load_config
    from rnnkit.training import train

    data = trained_run.parent / "series.csv"
    folder = tmp_path_factory.mktemp("others")
    variants = {
        "one_feature": {"data": {"features": ["y"]}},
        "horizon_3": {"data": {"horizon": 3}},
        "units_4": {"model": {"cell": "lstm", "units": [4], "dense": [4]}},
    }
    runs = {}
    for name, sections in variants.items():
        sections = {"model": {"cell": "lstm", "units": [8], "dense": [4]}, "train": {"epochs": 1}, **sections}
        config = load_config(write_config(folder, data, name=f"{name}.yaml", **sections))
        runs[name] = train(config, run_dir=folder / name).run_dir
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SWAPS))
def test_checkpoint_from_another_run_is_refused(case, tmp_path, trained_run, other_runs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_refused(tmp_path, trained_run, *SWAPS[case], other_runs)


def test_model_of_another_task_or_kind_is_refused(tmp_path):
    from rnnkit.run_files import check_model

    def archive(config: dict) -> Path:
        path = tmp_path / "m.keras"
        with zipfile.ZipFile(path, "w") as handle:
            handle.writestr("config.json", json.dumps({"class_name": "RecurrentModel", "config": config}))
        return path

    classes = archive({"input_features": 2, "output_dim": 3, "output_mode": "vector", "mask_inputs": True})
    expected = {"input_features": 2, "output_steps": 1, "output_dim": 2, "window": 20, "output_mode": "vector"}
    with pytest.raises(RunError, match=r"m.keras: the model has 3 outputs per step .*; schema.json has 2$"):
        check_model(classes, {"schema.json": {k: v for k, v in expected.items() if k != "output_steps"}})
    with pytest.raises(RunError, match=r"the model's config has no 'output_steps'; the checkpoint is not an rnnkit model"):
        check_model(classes, {"schema.json": expected})
    with pytest.raises(RunError, match=r"the model expects true input features; schema.json has 1"):  # true == 1 in Python
        check_model(archive({"input_features": True}), {"schema.json": {"input_features": 1}})
    with pytest.raises(RunError, match=r"the checkpoint has no config.json; it was not written by rnnkit"):
        zipfile.ZipFile(tmp_path / "empty.keras", "w").close()
        check_model(tmp_path / "empty.keras", {"schema.json": expected})


def test_there_are_at_least_twenty_five_cases():
    assert len(CASES) + len(SWAPS) >= 25
    commands = {name for _, name, _, _ in [*CASES.values(), *SWAPS.values()]}
    assert commands == {"evaluate", "predict", "export", "generate", "resume"}


# -- rnnkit runs ----------------------------------------------------------------------------------


def damaged_runs(folder: Path, run: Path) -> dict[str, str]:
    """Copies of ``run`` in ``folder``: one intact, the others each with one damaged file; returns
    each damaged copy's expected reason."""
    damage = {
        "bad-config": (write_text("config.yaml", "model: {cell: lstn}\n"), "config.yaml: the run's config is not valid"),
        "bad-schema": (edit_json(SCHEMA, lambda d: d["spread"].update(y=-2.0)), "schema.json: spread.y must be a finite number"),
        "bad-status": (edit_json(STATUS, lambda d: d.update(state=7)), "status.json: state must be one of"),
        "bad-metrics": (write_text(METRICS, '{"test": {"mae": "low"}}'), "metrics.json: test.mae must be a number"),
        "deep-metrics": (write_text(METRICS, DEEP), "metrics.json: nested more than 32 levels deep"),
        "fifo-status": (lambda r: (r / STATUS).unlink() or os.mkfifo(r / STATUS), "status.json: is a FIFO (named pipe)"),
        "no-schema": (lambda r: (r / SCHEMA).unlink(), "schema.json: not found"),
    }
    shutil.copytree(run, folder / "good")
    for name, (mutate, _) in damage.items():
        shutil.copytree(run, folder / name)
        mutate(folder / name)
    return {name: reason for name, (_, reason) in damage.items()}


def test_runs_lists_damaged_runs_with_their_reason(tmp_path, trained_run):
    folder = tmp_path / "runs"
    reasons = damaged_runs(folder, trained_run)
    before = snapshot(folder)
    result = CliRunner().invoke(cli, ["runs", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    heading, header, *rows = result.stdout.splitlines()  # every copy is a forecast run: one table
    assert heading == f"forecast ({len(reasons) + 1} runs)" and header.split()[-1] == "reason"
    listed = {row.split()[0]: row for row in rows}
    assert set(listed) == {"good", *reasons}
    assert listed["good"].split()[1] == "complete" and listed["good"].rstrip().endswith(" -")
    for name, reason in reasons.items():
        assert listed[name].split()[1] == "damaged", listed[name]
        assert reason in listed[name], (reason, listed[name])
    # What is readable is still shown: the damaged status leaves the metrics columns filled in.
    columns = header.split()
    assert not [c for c in columns if c.startswith(("data.", "model.", "train."))]  # the unreadable config differs in nothing
    assert listed["bad-status"].split()[columns.index("test.mae")] == listed["good"].split()[columns.index("test.mae")]
    assert snapshot(folder) == before
    only = CliRunner().invoke(cli, ["runs", str(folder), "--filter", "status=damaged"], catch_exceptions=False)
    assert len(only.stdout.splitlines()) == 2 + len(reasons)


def test_runs_without_damage_has_no_reason_column(tmp_path, trained_run):
    shutil.copytree(trained_run, tmp_path / "runs" / "good")
    result = CliRunner().invoke(cli, ["runs", str(tmp_path / "runs")], catch_exceptions=False)
    assert result.exit_code == 0 and "reason" not in result.stdout and "damaged" not in result.stdout


def test_runs_never_imports_tensorflow(tmp_path, trained_run):
    folder = tmp_path / "runs"
    damaged_runs(folder, trained_run)
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom rnnkit.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['runs', {str(folder)!r}])\n"
        "print(result.exit_code, result.stdout.count('damaged'), 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["0", "7", "False"], out.stderr


# -- what rnnkit writes passes its own checks ------------------------------------------------------


def test_files_of_a_trained_run_validate_and_round_trip(tmp_path, trained_run):
    from rnnkit.tasks import load_preprocessor
    from rnnkit.training import checkpoint_model

    run = RunFolder(trained_run)
    assert run.read_status()["state"] == "complete"
    assert run.read_metrics() == json.loads(run.metrics.read_text())
    assert run.read_manifest() == json.loads(run.manifest.read_text())
    task, pre = load_preprocessor(run.schema)
    assert json.loads(json.dumps(pre.to_dict())) == json.loads(run.schema.read_text())
    expected = checkpoint_model(run.read_config(), task, pre)
    for name in ("best", "last"):
        assert run.checkpoint_state(name, expected)["epoch"] == 2
    # update_metrics reads, merges and writes: the result validates again.
    copy = RunFolder(tmp_path / "run")
    shutil.copytree(trained_run, copy.root)
    copy.update_metrics({"files": {"/x/new.csv": {"model": {"mae": 1.0, "mase": float("nan")}, "baseline": {"mae": 2.0}}}})
    assert copy.read_metrics()["files"]["/x/new.csv"]["baseline"] == {"mae": 2.0}


def preprocessor_of(tmp_path: Path, task: str, data: dict):
    from rnnkit.config import load_config
    from rnnkit.tasks import get_task

    config = {"task": task, "data": data, "model": {"units": [4]}, "output": {"dir": str(tmp_path / "runs")}}
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(config))
    pre, _ = get_task(task).prepare(load_config(path))
    return pre


def test_every_task_schema_round_trips(tmp_path):
    sequences, documents, series, corpus = (tmp_path / n for n in ("seq.csv", "docs.csv", "series.csv", "corpus.txt"))
    make_sequences().to_csv(sequences, index=False)
    make_documents().to_csv(documents, index=False)
    make_series().to_csv(series, index=False)
    corpus.write_text("the cat sat on the mat. " * 40)
    records = [
        preprocessor_of(
            tmp_path,
            "forecast",
            {
                "path": str(series),
                "id": "id",
                "time": "date",
                "features": ["y", "x"],
                "target": "y",
                "window": 6,
                "horizon": 2,
                "detrend": "last_value",
            },
        ),
        preprocessor_of(
            tmp_path, "classify", {"path": str(sequences), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"}
        ),
        preprocessor_of(
            tmp_path,
            "tag",
            {"path": str(sequences), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label", "scale": "minmax"},
        ),
        preprocessor_of(
            tmp_path,
            "classify",
            {"path": str(documents), "id": "doc", "features": ["text"], "target": "sentiment", "tokenize": "word"},
        ),
        preprocessor_of(tmp_path, "generate", {"path": str(corpus), "tokenize": "char", "window": 8}),
    ]
    for pre in records:
        written = json.loads(json.dumps(pre.to_dict()))  # as schema.json holds it
        assert type(pre).from_dict(written) == pre


def test_naive_mae_may_be_nan_but_spreads_may_not(trained_run):
    from rnnkit.data.schema import Preprocessor

    data = json.loads((trained_run / "schema.json").read_text())
    data["naive_mae"] = {"y": float("nan")}  # a target without training differences: MASE is left out
    assert math.isnan(Preprocessor.from_dict(data).naive_mae["y"])
    data["spread"]["x"] = float("-inf")
    with pytest.raises(RunError, match=r"spread.x must be a finite number above 0. Received: spread.x=-Infinity"):
        Preprocessor.from_dict(data)


def test_time_step_and_majority_label_validate_and_older_schemas_load_without_them(tmp_path):
    series, sequences = tmp_path / "series.csv", tmp_path / "seq.csv"
    make_series().to_csv(series, index=False)
    make_sequences().to_csv(sequences, index=False)
    forecast = preprocessor_of(
        tmp_path,
        "forecast",
        {"path": str(series), "id": "id", "time": "date", "features": ["y", "x"], "target": "y", "window": 6, "horizon": 2},
    )
    classify = preprocessor_of(
        tmp_path, "classify", {"path": str(sequences), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"}
    )
    assert (forecast.time_step, classify.majority_label) == ("D", "1")
    for pre, field, wrong, message in [
        (forecast, "time_step", 1, "time_step must be a pandas frequency such as 'D', 'W-SUN', 'MS' or 'h'"),
        (forecast, "time_step", "every other day", "time_step must be a pandas frequency"),
        (classify, "majority_label", "Sitting", 'majority_label must be one of the labels (["1", "Standing"]), or null'),
    ]:
        data = json.loads(json.dumps(pre.to_dict()))
        with pytest.raises(RunError, match=re.escape(message)):
            type(pre).from_dict({**data, field: wrong})
        del data[field]  # as an older rnnkit wrote schema.json
        assert getattr(type(pre).from_dict(data), field) is None
    numeric = {**json.loads(json.dumps(forecast.to_dict())), "time_kind": "numeric"}
    assert type(forecast).from_dict({**numeric, "time_step": 5}).time_step == 5
    for wrong in ("D", 0, float("inf")):
        with pytest.raises(
            RunError, match=r"time_step must be a finite number above 0 \(the time column holds numbers\), or null"
        ):
            type(forecast).from_dict({**numeric, "time_step": wrong})
