"""Config loading: strict YAML, defaults, overrides, and one-line errors that name the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.config import Config, json_schema, load_config, parse_yaml
from rnnkit.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


BASE = "data:\n  path: d.csv\n  features: [y]\n  target: y\n"


def error_of(tmp_path: Path, text: str, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_yaml_12_scalars_avoid_yaml_11_traps():
    parsed = parse_yaml("a: 1e-3\nb: on\nc: 012\nd: 1:20\ne: 2020-01-01\nf: no\ng: 0x10\nh: true\n", "x")
    assert parsed == {"a": 0.001, "b": "on", "c": 12, "d": "1:20", "e": "2020-01-01", "f": "no", "g": 16, "h": True}


def test_learning_rate_in_exponent_notation_is_a_float(tmp_path):
    config = load_config(write(tmp_path, BASE + "train:\n  learning_rate: 1e-3\n"))
    assert config.train.learning_rate == pytest.approx(0.001)


def test_defaults_are_filled_and_paths_resolved_against_config_folder(tmp_path):
    config = load_config(write(tmp_path, BASE))
    assert config.data.path == str((tmp_path / "d.csv").resolve())
    assert config.data.window == 48 and config.model.cell == "lstm" and config.train.epochs == 50
    assert config.data.targets == ["y"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("x: !!python/object/apply:os.system [echo hi]\n", "is not allowed"),
        ("data: [1\n", "line 2, column 1: expected ',' or ']'"),
        ("", "config is empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        (BASE + "modle: {}\n", "unknown key 'modle'; did you mean 'model'?"),
        (BASE + "model:\n  unit: 4\n", "did you mean 'model.units'?"),
        (
            BASE + "model:\n  cell: lstn\n",
            "model.cell must be one of 'simple', 'lstm' or 'gru'. Received: cell='lstn' (did you mean 'lstm'?)",
        ),
        (BASE + "train:\n  epochs: '5'\n", "train.epochs must be a whole number. Received: epochs='5' (str)"),
        (BASE + "train:\n  epochs: true\n", "train.epochs must be a whole number. Received: epochs=True (bool)"),
        (BASE + "train:\n  epochs: 0\n", "train.epochs must be at least 1. Received: epochs=0"),
        (BASE + "train:\n  learning_rate: .nan\n", "train.learning_rate must be a finite number"),
        (BASE + "train:\n  learning_rate: -1\n", "train.learning_rate must be greater than 0"),
        (BASE + "model:\n  dropout: 1.5\n", "model.dropout must be less than 1"),
        (BASE + "model:\n  bidirectional: yes\n", "model.bidirectional must be true or false. Received: bidirectional='yes'"),
        (BASE + "data:\n  path: d.csv\n", "duplicate key 'data'"),
        ("data:\n  path: d.csv\n  target: y\n", "task 'forecast' needs data.features"),
        (BASE.replace("target: y", "target: y\n  split: {val: 0.6, test: 0.5}"), "split.val + split.test must be below 1"),
        (BASE.replace("features: [y]", "features: [y, y]"), "features lists column 'y' twice"),
        (BASE.replace("features: [y]", "features: [t]\n  time: t"), "column 't' is the time column"),
        (BASE + "model:\n  units: []\n", "units must list at least one layer"),
        (BASE + "task: generate\n", "task 'generate' needs data.tokenize"),
        (
            "task: generate\ndata: {path: t.txt, tokenize: char}\nmodel: {bidirectional: true}\n",
            "model.bidirectional must be false for task 'generate'",
        ),
        (BASE + "task: tag\n", "task 'tag' needs data.id"),
        (BASE + "task: classify\n", "numeric long-layout data needs data.id"),
        (
            "task: classify\ndata: {path: d.csv, id: s, features: [y], target: c}\ntrain: {loss: mse}\n",
            "train.loss for task 'classify' must be auto or crossentropy",
        ),
        ("task: classify\ndata: {path: d.csv, layout: wide, target: [a, b]}\n", "takes one label column"),
        ("task: tag\ndata: {path: d.csv, id: s, features: [w], target: t, layout: wide}\n", "'wide' is for task 'classify'"),
        (BASE + "data_x: 1\n", "unknown key 'data_x'"),
        (BASE + "name: 'a b'\n", "name must be a string matching"),
        (
            BASE + "train:\n  early_stopping: {monitor: val_accuracy}\n",
            "monitor for task 'forecast' must be one of 'val_loss', 'loss', 'val_mae', 'mae'. Received: 'val_accuracy'",
        ),
        (BASE.replace("target: y", "target: y\n  split: {val: 0.0}"), "needs validation data"),
    ],
)
def test_config_errors_are_one_line_naming_the_key(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert expected in message
    assert str(tmp_path / "c.yaml") in message


def test_set_overrides_parse_yaml_and_win_over_the_file(tmp_path):
    config = load_config(
        write(tmp_path, BASE), ["model.units=[16, 8]", "train.epochs=3", "data.scale=minmax", "train.clipnorm=1e0"]
    )
    assert config.model.layer_units == [16, 8]
    assert config.train.epochs == 3 and config.data.scale == "minmax" and config.train.clipnorm == 1.0


def test_set_errors_name_the_override(tmp_path):
    message = error_of(tmp_path, BASE, ["train.epocs=3"])
    assert message.startswith("--set train.epocs: unknown key 'train.epocs'; did you mean 'train.epochs'?")
    assert "expected KEY=VALUE" in error_of(tmp_path, BASE, ["train.epochs"])
    assert "'data.path' is a value, not a section" in error_of(tmp_path, BASE, ["data.path.x=1"])


def test_set_data_path_is_relative_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    path = sub / "c.yaml"
    path.write_text(BASE)
    config = load_config(path, ["data.path=other.csv"])
    assert config.data.path == str(tmp_path / "other.csv")


def test_missing_and_directory_config_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_json_schema_lists_every_section_with_descriptions():
    schema = json_schema()
    assert set(schema["properties"]) >= {"name", "seed", "task", "data", "model", "train", "output"}
    text = json.dumps(schema)
    assert "input steps per example" in text and "recurrent cell" in text
    assert Config.model_fields["seed"].description


def test_config_errors_do_not_import_tensorflow(tmp_path):
    path = write(tmp_path, BASE + "model:\n  cell: lstn\n")
    code = (
        "import sys\nfrom rnnkit.cli import cli\n"
        f"try:\n    cli(['validate', {str(path)!r}], standalone_mode=False)\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stderr


def test_every_bundled_example_config_is_valid():
    root = Path(__file__).resolve().parent.parent
    configs = sorted((root / "configs").glob("*.yaml"))
    assert len(configs) >= 5
    for path in configs:
        config = load_config(path)
        assert Path(config.data.path).is_file(), path
