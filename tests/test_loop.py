"""The training loop: exact masked means, XLA and mixed precision options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_series, run_cli, write_config


def _history(run) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv").drop(columns=["seconds"])


@pytest.fixture
def small_config(tmp_path):
    data = tmp_path / "series.csv"
    make_series(n_series=3, length=70).to_csv(data, index=False)
    return write_config(tmp_path, data, model={"cell": "lstm", "units": [8]}, train={"epochs": 2, "batch_size": 16})


def test_loop_logs_are_means_over_unpadded_steps():
    """Loss and accuracy of padded, weighted sequences equal the numpy computation over real steps."""
    import keras
    import tensorflow as tf

    from rnnkit.loop import TrainingLoop
    from rnnkit.models.rnn import PAD_VALUE, RecurrentModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 2)).astype("float32")
    lengths = np.array([5, 3, 1, 4, 2, 5])
    steps = np.arange(5)[None, :] < lengths[:, None]
    x[~steps] = PAD_VALUE
    y = rng.integers(0, 3, size=(6, 5)).astype("int32")
    w = np.where(steps, rng.uniform(0.5, 2.0, size=(6, 5)), 0.0).astype("float32")
    model = RecurrentModel(2, output_dim=3, cell="gru", units=[4], output_mode="sequence", mask_inputs=True)
    model(x[:1])
    loop = TrainingLoop(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), ("accuracy",), tf.distribute.get_strategy()
    )
    logs = loop.evaluate(tf.data.Dataset.from_tensor_slices((x, y, w)).batch(4))

    logits = np.asarray(model(x, training=False))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_step = -np.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
    assert logs["loss"] == pytest.approx((per_step * w)[steps].sum() / steps.sum(), rel=1e-5)
    assert logs["accuracy"] == pytest.approx((logits.argmax(-1) == y)[steps].mean(), rel=1e-6)


def test_jit_compile_trains_to_the_same_numbers_within_float_error(tmp_path, small_config):
    for jit in ("false", "true"):
        result = run_cli("train", small_config, "--set", f"train.jit_compile={jit}", "--run-dir", tmp_path / jit, "-q")
        assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(_history(tmp_path / "true").to_numpy(), _history(tmp_path / "false").to_numpy(), rtol=1e-3)


def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_outputs(tmp_path, small_config):
    from rnnkit.models import load_model

    result = run_cli("train", small_config, "--set", "train.mixed_precision=bfloat16", "--run-dir", tmp_path / "bf", "-q")
    assert result.exit_code == 0, result.stderr
    model = load_model(tmp_path / "bf" / "checkpoints" / "best.keras")
    assert model.recurrent_layers[0].dtype_policy.name == "mixed_bfloat16"
    assert {w.dtype.name for w in model.get_weights()} == {"float32"}
    outputs = model(np.zeros((2, 8, 2), "float32"))
    assert outputs.dtype.name == "float32" and np.isfinite(np.asarray(outputs)).all()
    history = _history(tmp_path / "bf")
    assert np.isfinite(history.to_numpy()).all()

    resumed = run_cli("train", "--resume", tmp_path / "bf", "--set", "train.mixed_precision=none", "--set", "train.epochs=3")
    assert resumed.exit_code == 2 and "train.mixed_precision changed from 'bfloat16' to 'none'" in resumed.stderr
