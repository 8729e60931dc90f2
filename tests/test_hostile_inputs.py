"""Hostile inputs through the CLI: exit code, one line on stderr naming the culprit, nothing touched.

Each case builds its files, runs one command, and checks that stderr is a single
``rnnkit: error:`` line containing the expected fragments (the file and the key, column or row),
that the exit code is the documented one, and that no file was created or changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_refused, make_series, write_config

CONFIG, DATA, RUN, IO = 2, 3, 4, 5
BASE = (
    "data:\n  path: d.csv\n  id: id\n  time: date\n  features: [y, x]\n  target: y\n"
    "  window: 8\n  horizon: 2\noutput: {dir: runs}\n"
)


def good_csv(folder: Path, name: str = "d.csv", **kwargs) -> Path:
    path = folder / name
    make_series(n_series=2, length=40, **kwargs).to_csv(path, index=False)
    return path


def yaml_case(text: str, *extra: str):
    def setup(tmp: Path, run: Path):
        good_csv(tmp)
        (tmp / "c.yaml").write_text(text)
        return ["train", tmp / "c.yaml", *extra]

    return setup


def data_case(write, config_extra: dict | None = None, name: str = "d.csv"):
    """``write(path)`` writes a bad data file at ``path``; the config reads it."""

    def setup(tmp: Path, run: Path):
        path = tmp / name
        write(path)
        config = write_config(tmp, path, **(config_extra or {}))
        return ["train", config]

    return setup


def frame_case(mutate, **config_extra):
    return data_case(lambda p: mutate(make_series(n_series=2, length=40)).to_csv(p, index=False), config_extra)


def predict_case(write, *extra: str, output: str = "out.csv"):
    def setup(tmp: Path, run: Path):
        path = tmp / "new.csv"
        write(path)
        return ["predict", run, "--input", path, "--output", tmp / output, *extra]

    return setup


def run_case(mutate, command: str = "evaluate"):
    def setup(tmp: Path, run: Path):
        copy = tmp / "run"
        shutil.copytree(run, copy)
        mutate(copy)
        if command == "evaluate":
            return ["evaluate", copy]
        good = good_csv(tmp, "new.csv")
        return ["predict", copy, "--input", good, "--output", tmp / "out.csv"]

    return setup


def edit_json(path: Path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def with_cell(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame


CASES = {
    # -- config ---------------------------------------------------------------------------------
    "yaml-malformed": (yaml_case("data: [1\n"), CONFIG, ["c.yaml", "line 2, column 1"]),
    "yaml-empty": (yaml_case(""), CONFIG, ["c.yaml", "config is empty"]),
    "yaml-top-level-list": (yaml_case("- data\n- model\n"), CONFIG, ["c.yaml", "top level must be a mapping"]),
    "unknown-section": (yaml_case(BASE + "modle: {}\n"), CONFIG, ["c.yaml", "unknown key 'modle'; did you mean 'model'?"]),
    "unknown-nested-key": (yaml_case(BASE.replace("window", "windw")), CONFIG, ["c.yaml", "did you mean 'data.window'?"]),
    "duplicate-key": (yaml_case(BASE + "seed: 1\nseed: 2\n"), CONFIG, ["c.yaml", "duplicate key 'seed'"]),
    "python-tag": (
        yaml_case(BASE + "name: !!python/object/apply:os.system [touch pwned]\n"),
        CONFIG,
        ["c.yaml", "is not allowed"],
    ),
    "string-for-int": (yaml_case(BASE + "train: {epochs: '5'}\n"), CONFIG, ["c.yaml", "train.epochs must be a whole number"]),
    "bool-for-number": (yaml_case(BASE.replace("window: 8", "window: true")), CONFIG, ["c.yaml", "data.window", "(bool)"]),
    "yaml11-yes": (yaml_case(BASE + "model: {bidirectional: yes}\n"), CONFIG, ["model.bidirectional must be true or false"]),
    "yaml11-sexagesimal": (yaml_case(BASE + "train: {epochs: 1:30}\n"), CONFIG, ["train.epochs", "'1:30'"]),
    "out-of-range": (yaml_case(BASE + "model: {dropout: 1.5}\n"), CONFIG, ["c.yaml", "model.dropout must be less than 1"]),
    "infinite-float": (
        yaml_case(BASE + "train: {learning_rate: .inf}\n"),
        CONFIG,
        ["train.learning_rate must be a finite number"],
    ),
    "nan-float": (yaml_case(BASE + "train: {clipnorm: .nan}\n"), CONFIG, ["train.clipnorm must be a finite number"]),
    "negative-seed": (yaml_case(BASE + "seed: -1\n"), CONFIG, ["c.yaml", "seed must be at least 0"]),
    "enum-typo": (yaml_case(BASE + "model: {cell: lstn}\n"), CONFIG, ["model.cell", "did you mean 'lstm'?"]),
    "conflicting-splits": (
        yaml_case(BASE.replace("  horizon: 2\n", "  horizon: 2\n  split: {val: 0.5, test: 0.5}\n")),
        CONFIG,
        ["c.yaml", "split.val + split.test"],
    ),
    "conflicting-roles": (yaml_case(BASE.replace("time: date", "time: x")), CONFIG, ["c.yaml", "column 'x' is the time column"]),
    "monitor-without-val": (
        yaml_case(BASE.replace("  horizon: 2\n", "  horizon: 2\n  split: {val: 0.0}\n")),
        CONFIG,
        ["c.yaml", "needs validation data"],
    ),
    "set-unknown-key": (yaml_case(BASE, "--set", "train.epocs=3"), CONFIG, ["--set train.epocs", "did you mean 'train.epochs'?"]),
    "set-without-equals": (yaml_case(BASE, "--set", "train.epochs"), CONFIG, ["--set 'train.epochs'", "KEY=VALUE"]),
    "config-missing": (lambda tmp, run: ["train", tmp / "none.yaml"], CONFIG, ["none.yaml", "config file not found"]),
    "config-is-directory": (lambda tmp, run: ["train", tmp], CONFIG, ["is a directory"]),
    "config-not-utf8": (
        lambda tmp, run: [(tmp / "c.yaml").write_bytes(b"name: \xff\xfe\n"), "train", tmp / "c.yaml"][1:],
        CONFIG,
        ["c.yaml", "not UTF-8"],
    ),
    # -- data -----------------------------------------------------------------------------------
    "data-missing": (data_case(lambda p: None), DATA, ["d.csv", "data file not found"]),
    "data-directory": (data_case(lambda p: p.mkdir()), DATA, ["d.csv", "is a directory"]),
    "data-empty": (data_case(lambda p: p.write_text("")), DATA, ["d.csv", "file is empty"]),
    "data-header-only": (data_case(lambda p: p.write_text("id,date,y,x\n")), DATA, ["d.csv", "header only"]),
    "column-missing": (frame_case(lambda f: f.drop(columns=["x"])), DATA, ["d.csv", "column 'x' not found"]),
    "column-duplicated": (
        data_case(lambda p: p.write_text("id,date,y,x,x\ns,2024-01-01,1,2,3\n")),
        DATA,
        ["d.csv", "column 'x' appears more than once"],
    ),
    "non-numeric-cell": (frame_case(lambda f: with_cell(f, "y", 3, "abc")), DATA, ["d.csv", "line 5, column 'y'", "'abc'"]),
    "missing-value": (frame_case(lambda f: with_cell(f, "x", 7, None)), DATA, ["d.csv", "line 9, column 'x': missing value"]),
    "infinite-value": (frame_case(lambda f: with_cell(f, "x", 2, "inf")), DATA, ["d.csv", "line 4, column 'x'", "not a finite"]),
    "too-few-rows": (frame_case(lambda f: f.groupby("id").head(12)), DATA, ["d.csv", "no training windows", "= 10"]),
    "duplicate-timestamps": (
        frame_case(lambda f: pd.concat([f, f.iloc[[3]]])),
        DATA,
        ["d.csv", "series 's0'", "line 5 and line 82"],
    ),
    "bad-date": (frame_case(lambda f: with_cell(f, "date", 6, "tomorrow")), DATA, ["d.csv", "line 8, column 'date'"]),
    "bad-encoding": (
        data_case(lambda p: p.write_bytes(b"id,date,y,x\ns\xe9,2024-01-01,1,2\n")),
        DATA,
        ["d.csv", "not UTF-8"],
    ),
    "wrong-delimiter": (
        data_case(lambda p: make_series().to_csv(p, index=False, sep=";")),
        DATA,
        ["d.csv", "semicolon-separated"],
    ),
    "pickle-extension": (
        data_case(lambda p: make_series().to_pickle(p), name="d.pkl"),
        DATA,
        ["d.pkl", "unsupported input format"],
    ),
    "pickle-disguised": (data_case(lambda p: make_series().to_pickle(p, compression=None)), DATA, ["d.csv", "pickle"]),
    "url": (lambda tmp, run: ["train", write_config(tmp, "https://example.com/d.csv")], DATA, ["URLs are not read"]),
    "fake-parquet": (data_case(lambda p: p.write_text("id,date\n"), name="d.parquet"), DATA, ["d.parquet", "not a Parquet file"]),
    "extra-field": (
        data_case(
            lambda p: p.write_text(
                "\n".join(
                    line + (",9" if i == 5 else "") for i, line in enumerate(make_series().to_csv(index=False).splitlines())
                )
            )
        ),
        DATA,
        ["d.csv", "cannot parse CSV", "line 6"],
    ),
    # -- predict-time input ---------------------------------------------------------------------
    "predict-missing-column": (
        predict_case(lambda p: make_series().drop(columns=["x"]).to_csv(p, index=False)),
        DATA,
        ["new.csv", "column 'x' not found"],
    ),
    "predict-non-numeric": (
        predict_case(lambda p: with_cell(make_series(), "x", 4, "?").to_csv(p, index=False)),
        DATA,
        ["new.csv", "line 6, column 'x'"],
    ),
    "predict-time-kind": (
        predict_case(lambda p: make_series().assign(date=range(180)).to_csv(p, index=False)),
        DATA,
        ["new.csv", "column 'date' holds numeric values", "datetime"],
    ),
    "predict-missing-value": (
        predict_case(lambda p: with_cell(make_series(), "x", 4, None).to_csv(p, index=False)),
        DATA,
        ["new.csv", "line 6, column 'x': missing value; predict needs every value", "data.missing: error"],
    ),
    "predict-unsorted": (
        predict_case(lambda p: make_series().iloc[::-1].to_csv(p, index=False)),
        DATA,
        ["new.csv", "series 's2'", "sort by id and time"],
    ),
    "predict-output-exists": (
        predict_case(lambda p: (make_series().to_csv(p, index=False), (p.parent / "out.csv").write_text("mine"))),
        CONFIG,
        ["out.csv", "already exists", "--overwrite"],
    ),
    "predict-output-format": (
        predict_case(lambda p: make_series().to_csv(p, index=False), output="out.xlsx"),
        CONFIG,
        ["out.xlsx", "unsupported output format"],
    ),
    "predict-output-is-a-folder": (
        predict_case(lambda p: (make_series().to_csv(p, index=False), (p.parent / "out.csv").mkdir())),
        IO,
        ["out.csv", "is a directory", "expected an output file"],
    ),
    # -- run folders ----------------------------------------------------------------------------
    "run-missing": (lambda tmp, run: ["evaluate", tmp / "nope"], RUN, ["nope", "run folder not found"]),
    "run-not-a-run": (
        lambda tmp, run: [(tmp / "plain").mkdir(), "evaluate", tmp / "plain"][1:],
        RUN,
        ["plain", "config.yaml is missing"],
    ),
    "run-incomplete": (run_case(lambda r: (r / "checkpoints" / "best.keras").unlink()), RUN, ["no best checkpoint"]),
    "run-other-schema-version": (
        run_case(lambda r: edit_json(r / "schema.json", schema_version=2), command="predict"),
        RUN,
        ["schema.json", "schema_version is 2"],
    ),
    "run-other-format": (
        run_case(lambda r: edit_json(r / "checkpoints" / "manifest.json", format=2)),
        RUN,
        ["manifest.json", "format 2"],
    ),
    "run-dir-exists": (
        lambda tmp, run: [
            "train",
            write_config(tmp, good_csv(tmp)),
            "--run-dir",
            [(tmp / "r").mkdir(), (tmp / "r" / "f").touch(), tmp / "r"][2],
        ],
        RUN,
        ["already exists and is not empty"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, tmp_path, trained_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup, code, fragments = CASES[name]
    assert_refused(setup(tmp_path, trained_run), code, fragments, tmp_path, trained_run)
    assert not (tmp_path / "pwned").exists()


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
