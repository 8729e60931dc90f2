"""RecurrentModel: shapes, state structures, state continuation, errors, serialisation."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.errors import RunError
from rnnkit.models import RecurrentModel, build_model, load_model

CELLS = ["simple", "lstm", "gru"]
STATES = {"simple": 1, "lstm": 2, "gru": 1}


def make(cell="lstm", bidirectional=False, units=(5, 4), **kwargs):
    keras.utils.set_random_seed(1)
    return RecurrentModel(
        input_features=3, output_steps=2, output_dim=2, cell=cell, units=units, bidirectional=bidirectional, **kwargs
    )


def inputs(batch=4, time=6, features=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


@pytest.mark.parametrize(("cell", "bidirectional"), list(itertools.product(CELLS, [False, True])))
def test_output_shape_and_state_structure(cell, bidirectional):
    model = make(cell, bidirectional)
    outputs, states = model(inputs(), return_state=True)
    assert tuple(outputs.shape) == (4, 2, 2)
    per_layer = STATES[cell] * (2 if bidirectional else 1)
    assert [len(layer) for layer in states] == [per_layer, per_layer]
    assert [[tuple(s.shape) for s in layer] for layer in states] == [[(4, 5)] * per_layer, [(4, 4)] * per_layer]
    assert [len(names) for names in model.state_structure] == [per_layer, per_layer]
    # Feeding states back in is accepted in the same structure.
    again = model(inputs(), initial_state=states)
    assert tuple(again.shape) == (4, 2, 2)


@pytest.mark.parametrize("cell", CELLS)
def test_zero_initial_state_is_the_default(cell):
    model = make(cell)
    zeros = [[np.zeros((4, u), "float32")] * STATES[cell] for u in (5, 4)]
    np.testing.assert_allclose(model(inputs()), model(inputs(), initial_state=zeros), atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_state_carries_a_sequence_across_calls(cell):
    # Running the first half, then the second half from the returned states, equals one full run:
    # the property step-by-step generation relies on.
    model = make(cell)
    x = inputs(time=10)
    _, states = model(x[:, :6], return_state=True)
    continued = model(x[:, 6:], initial_state=states)
    np.testing.assert_allclose(continued, model(x), atol=1e-5)


def test_wrong_rank_and_width_say_what_was_expected():
    model = make()
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, 3\); received rank 2 shape \(10, 10\)"):
        model(np.random.rand(10, 10).astype("float32"))
    with pytest.raises(ValueError, match=r"received \(2, 6, 4\) with 4 features"):
        model(inputs(batch=2, features=4))


def test_wrong_initial_state_structure_is_explained():
    model = make("lstm")
    with pytest.raises(ValueError, match=r"one entry per recurrent layer \(2\)"):
        model(inputs(), initial_state=[np.zeros((4, 5), "float32")])
    with pytest.raises(ValueError, match=r"must be 2 tensor\(s\) \['h', 'c'\] for a lstm layer"):
        model(inputs(), initial_state=[[np.zeros((4, 5), "float32")], None])
    with pytest.raises(ValueError, match=r"h must have shape \(batch, 5\)"):
        model(inputs(), initial_state=[[np.zeros((4, 3), "float32")] * 2, None])


def test_get_config_round_trip():
    model = make("gru", True, dense=[7], dropout=0.1, recurrent_dropout=0.2)
    config = model.get_config()
    clone = RecurrentModel.from_config(config)
    assert clone.get_config() == config
    for key in ("input_features", "output_steps", "output_dim", "cell", "units", "bidirectional", "dense", "dropout"):
        assert key in config


@pytest.mark.parametrize(("cell", "bidirectional"), [("simple", False), ("lstm", True), ("gru", False)])
def test_save_and_safe_reload_give_identical_predictions(tmp_path, cell, bidirectional):
    model = build_model(
        ModelConfig(cell=cell, units=[6, 4], bidirectional=bidirectional, dense=[5]),
        input_features=3,
        output_steps=2,
        output_dim=2,
        window=6,
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, RecurrentModel)
    np.testing.assert_array_equal(model(inputs()), loaded(inputs()))
    # Other window lengths work too: time is not fixed by the build shape.
    assert tuple(loaded(inputs(time=11)).shape) == (4, 2, 2)


def test_corrupt_and_missing_checkpoints_are_run_errors(tmp_path):
    with pytest.raises(RunError, match="checkpoint not found"):
        load_model(tmp_path / "none.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(RunError, match="corrupt"):
        load_model(broken)
    model = build_model(ModelConfig(units=[3]), input_features=3, output_steps=1, output_dim=1, window=4)
    good = tmp_path / "good.keras"
    model.save(good)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(RunError, match="corrupt"):
        load_model(truncated)


def test_lambda_layers_are_refused_in_safe_mode(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("RNNKIT_TEST_MARKER", str(marker))
    inputs_ = keras.Input((4, 3))
    # The Lambda touches a marker file whenever its code runs.
    touch = lambda t: (__import__("pathlib").Path(__import__("os").environ["RNNKIT_TEST_MARKER"]).touch(), t)[1]  # noqa: E731
    hidden = keras.layers.Lambda(touch)(inputs_)
    model = keras.Model(inputs_, keras.layers.LSTM(2)(hidden))
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink()
    with pytest.raises(RunError, match="refused"):
        load_model(path)
    assert not marker.exists()
    # The marker proves the test can fail: an unsafe load does run the code.
    keras.saving.load_model(path, safe_mode=False)(np.zeros((1, 4, 3), "float32"))
    assert marker.exists()
