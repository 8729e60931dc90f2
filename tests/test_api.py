"""The Python API: rnnkit.train / load_run / resume and Run, as a notebook would use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import make_sequences, make_series, write_config

import rnnkit
from rnnkit.api import Run, resolve_config
from rnnkit.errors import ConfigError, DataError, RunError


def test_importing_rnnkit_does_not_import_tensorflow_or_pandas():
    code = "import sys, rnnkit; rnnkit.Run; print(sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]" and result.stderr == ""


def test_a_config_comes_from_a_file_a_mapping_or_a_config(tmp_path, monkeypatch):
    data = tmp_path / "series.csv"
    make_series().to_csv(data, index=False)
    path = write_config(tmp_path, data)
    from_file = resolve_config(path, {"train.epochs": 5, "model.units": [4, 4]})
    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["data"]["path"] = "series.csv"  # relative to the current directory
    from_mapping = resolve_config(raw, ["train.epochs=5", "model.units=[4, 4]"])
    assert from_file == from_mapping
    assert from_file.train.epochs == 5 and from_file.model.layer_units == [4, 4]
    assert from_file.data.path == str(data)
    assert resolve_config(from_file) == from_file
    with pytest.raises(ConfigError, match=r"--set train.epocs: unknown key 'train.epocs'; did you mean 'train.epochs'\?"):
        resolve_config(raw, {"train.epocs": 5})
    with pytest.raises(ConfigError, match=r"config must be a YAML file, a mapping or a Config\. Received: int"):
        resolve_config(3)


def test_load_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="run folder not found"):
        rnnkit.load_run(tmp_path / "nope")


@pytest.mark.slow
def test_train_predict_evaluate_and_resume_from_python(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = make_series(n_series=2, length=40)
    frame.to_csv("series.csv", index=False)
    config = yaml.safe_load(write_config(tmp_path, tmp_path / "series.csv").read_text())
    run = rnnkit.train(config, {"train.epochs": 2}, run_dir="run")
    assert isinstance(run, Run) and run.path.name == "run" and run.result.epochs_run == 2
    assert run.status["state"] == "complete" and run.config.train.epochs == 2
    assert run.metrics == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(run.history["epoch"]) == [1, 2]

    opened = rnnkit.load_run("run")
    predicted = opened.predict(frame)
    opened.predict_file("series.csv", "out.csv")
    from_file = pd.read_csv("out.csv")
    assert list(predicted.columns) == list(from_file.columns) == ["id", "origin_date", "date_h1", "date_h2", "y_h1", "y_h2"]
    pd.testing.assert_frame_equal(
        predicted.astype({c: str for c in ("origin_date", "date_h1", "date_h2")}).reset_index(drop=True),
        from_file.astype({c: str for c in ("origin_date", "date_h1", "date_h2")}),
        check_dtype=False,
    )
    last = opened.predict(frame, last=True)
    assert list(last["id"]) == ["s0", "s1"]
    long = opened.predict(frame, last=True, layout="long")
    assert list(long.columns) == ["id", "origin_date", "date", "step", "y"] and len(long) == 4

    scores = opened.evaluate(split="test")
    assert scores["test"]["model"]["mae"] == pytest.approx(run.metrics["test"]["mae"], rel=1e-9)
    with pytest.raises(DataError, match=r"DataFrame: row 3, column 'x': 'oops' is not a number"):
        opened.predict(frame.astype({"x": object}).assign(x=lambda f: f["x"].where(f.index != 2, "oops")))

    resumed = rnnkit.resume("run", {"train.epochs": 3})
    assert resumed.result.epochs_run == 3 and list(resumed.history["epoch"]) == [1, 2, 3]


@pytest.mark.slow
def test_a_classifier_predicts_a_frame_like_its_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = make_sequences(n=40)
    frame.to_csv("seq.csv", index=False)
    config = write_config(
        tmp_path,
        tmp_path / "seq.csv",
        task="classify",
        data={"path": str(tmp_path / "seq.csv"), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"},
        model={"cell": "gru", "units": [8]},
    )
    run = rnnkit.train(config, run_dir="run")
    predicted = run.predict(frame)
    run.predict_file("seq.csv", "out.csv")
    from_file = pd.read_csv("out.csv", dtype={"seq": str, "label": str})
    assert list(predicted.columns) == list(from_file.columns)
    assert list(predicted["label"]) == list(from_file["label"])
    pd.testing.assert_series_equal(predicted["p_1"], from_file["p_1"], check_names=False, check_dtype=False)


@pytest.mark.slow
def test_the_api_writes_nothing_to_stderr(tmp_path):
    make_series(n_series=2, length=40).to_csv(tmp_path / "series.csv", index=False)
    config = write_config(tmp_path, tmp_path / "series.csv")
    script = (
        "import rnnkit, pandas as pd\n"
        f"run = rnnkit.train({str(config)!r}, run_dir={str(tmp_path / 'run')!r})\n"
        f"run.predict(pd.read_csv({str(tmp_path / 'series.csv')!r}))\n"
        "run.evaluate()\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
