"""SavedModel export: plain TensorFlow serves raw inputs and matches rnnkit predict."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from conftest import make_documents, make_sequences, make_series, run_cli, write_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("detrend", ["none", "last_value"])
def test_exported_forecaster_takes_raw_inputs_and_matches_predict(tmp_path, detrend):
    data = tmp_path / "d.csv"
    frame = make_series(n_series=2, length=50, trend=0.5)
    frame.to_csv(data, index=False)
    config = write_config(tmp_path, data, data={"detrend": detrend}, train={"epochs": 2})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    result = run_cli("export", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", out).exit_code == 0
    expected = pd.read_csv(out)
    served = tf.saved_model.load(str(tmp_path / "run" / "export" / "savedmodel"))
    series = frame[frame["id"] == "s1"][["y", "x"]].to_numpy(np.float32)
    windows = np.stack([series[i - 7 : i + 1] for i in range(7, len(series))])  # window 8
    forecast = served.serve(tf.constant(windows))["forecast"].numpy()
    want = expected[expected["id"] == "s1"][["y_h1", "y_h2"]].to_numpy()
    np.testing.assert_allclose(forecast[:, :, 0], want, rtol=1e-4, atol=1e-4)
    assert run_cli("export", tmp_path / "run").exit_code == 2  # never overwrites


def test_exported_sequence_classifier_pads_by_lengths(tmp_path):
    data = tmp_path / "seq.csv"
    frame = make_sequences(n=40)
    frame.to_csv(data, index=False)
    config = {
        "task": "classify",
        "data": {"path": str(data), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"},
        "model": {"cell": "gru", "units": [8]},
        "train": {"epochs": 2, "batch_size": 16},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert run_cli("train", tmp_path / "c.yaml", "--run-dir", tmp_path / "run", "-q").exit_code == 0
    assert run_cli("export", tmp_path / "run", "--output", tmp_path / "sm").exit_code == 0
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", data, "--output", out).exit_code == 0
    expected = pd.read_csv(out, dtype={"label": str}).set_index("seq")
    served = tf.saved_model.load(str(tmp_path / "sm"))
    groups = [g[["a", "b"]].to_numpy(np.float32) for _, g in frame.groupby("seq")]
    lengths = np.array([len(g) for g in groups], np.int32)
    padded = np.zeros((len(groups), lengths.max(), 2), np.float32)
    for i, g in enumerate(groups):
        padded[i, : len(g)] = g
    result = served.serve(tf.constant(padded), tf.constant(lengths))
    probabilities = result["probabilities"].numpy()
    ids = sorted(frame["seq"].unique())
    np.testing.assert_allclose(probabilities[:, 0], expected.loc[ids, "p_1"].to_numpy(), rtol=1e-4, atol=1e-5)
    assert [x.decode() for x in result["label"].numpy()] == expected.loc[ids, "label"].tolist()


def test_exported_text_classifier_tokenizes_inside(tmp_path):
    data = tmp_path / "docs.csv"
    make_documents().to_csv(data, index=False)
    config = {
        "task": "classify",
        "data": {
            "path": str(data),
            "id": "doc",
            "features": ["text"],
            "target": "sentiment",
            "tokenize": "word",
            "lowercase": True,
        },
        "model": {"cell": "lstm", "units": [8], "embedding_dim": 8},
        "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert run_cli("train", tmp_path / "c.yaml", "--run-dir", tmp_path / "run", "-q").exit_code == 0
    assert run_cli("export", tmp_path / "run").exit_code == 0
    new = tmp_path / "new.csv"
    texts = ["Great, LOVELY film!", "awful... dull plot", "zebra"]
    pd.DataFrame({"doc": ["a", "b", "c"], "text": texts}).to_csv(new, index=False)
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", new, "--output", out).exit_code == 0
    expected = pd.read_csv(out)
    served = tf.saved_model.load(str(tmp_path / "run" / "export" / "savedmodel"))
    result = served.serve(tf.constant(texts))
    np.testing.assert_allclose(result["probabilities"].numpy()[:, 1], expected["p_pos"], rtol=1e-4, atol=1e-5)
    schema = json.loads((tmp_path / "run" / "schema.json").read_text())
    assert schema["labels"] == ["neg", "pos"]
    shutil.rmtree(tmp_path / "run" / "export")
