"""The wavefront loop over stacked layers computes what the Keras layers compute, in value and gradient."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.models import RecurrentModel, stacked

LAYERS = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
STATES = {"simple": 1, "lstm": 2, "gru": 1}


def make_layers(cell, units, features, **kwargs):
    keras.utils.set_random_seed(3)
    layers = [LAYERS[cell](u, return_sequences=True, return_state=True, **kwargs) for u in units]
    width = features
    for layer, size in zip(layers, units, strict=True):
        layer.build((None, None, width))
        width = size
    for layer in layers:  # non-zero biases, so that a misplaced bias shows
        layer.cell.bias.assign(np.random.default_rng(len(units)).normal(size=layer.cell.bias.shape) * 0.5)
    return layers


def keras_reference(layers, x, initial_states):
    final = []
    for layer, state in zip(layers, initial_states, strict=True):
        result = layer(x, initial_state=state)
        x, states = result[0], list(result[1:])
        final.append(states)
    return x, final


@pytest.mark.parametrize(
    ("cell", "depth", "steps"),
    [*itertools.product(["simple", "lstm", "gru"], [2, 3], [1, 2, 7]), ("lstm", 4, 3)],
)
def test_outputs_states_and_gradients_match_the_keras_layers(cell, depth, steps):
    units = [5, 4, 6, 3][:depth]
    layers = make_layers(cell, units, features=3)
    rng = np.random.default_rng(steps)
    x = tf.constant(rng.normal(size=(4, steps, 3)), tf.float32)
    initial = [None] + [[tf.constant(rng.normal(size=(4, u)), tf.float32)] * STATES[cell] for u in units[1:]]
    variables = [w for layer in layers for w in layer.trainable_weights]

    with tf.GradientTape(persistent=True) as tape:
        want, want_states = keras_reference(layers, x, initial)
        got, got_states = stacked.run(layers, x, initial, return_sequences=True)
        want_loss = tf.reduce_sum(want * want) + sum(tf.reduce_sum(s) for layer in want_states for s in layer)
        got_loss = tf.reduce_sum(got * got) + sum(tf.reduce_sum(s) for layer in got_states for s in layer)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got_layer, want_layer in zip(got_states, want_states, strict=True):
        assert len(got_layer) == len(want_layer) == STATES[cell]
        for g, w in zip(got_layer, want_layer, strict=True):
            np.testing.assert_allclose(g, w, atol=1e-5)
    for g, w in zip(tape.gradient(got_loss, variables), tape.gradient(want_loss, variables), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)

    last, _ = stacked.run(layers, x, initial, return_sequences=False)
    np.testing.assert_allclose(last, want[:, -1], atol=1e-5)


def test_compiled_with_xla_it_still_matches():
    layers = make_layers("lstm", [6, 5], features=3)
    variables = [w for layer in layers for w in layer.trainable_weights]
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 9, 3)), tf.float32)

    def forward_and_gradients(fused):
        with tf.GradientTape() as tape:
            out = (
                stacked.run(layers, x, [None, None], return_sequences=True)[0]
                if fused
                else keras_reference(layers, x, [None, None])[0]
            )
            loss = tf.reduce_sum(out * out)
        return out, tape.gradient(loss, variables)

    got, got_gradients = tf.function(lambda: forward_and_gradients(True), jit_compile=True)()
    want, want_gradients = forward_and_gradients(False)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for g, w in zip(got_gradients, want_gradients, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def model(cell="lstm", **kwargs):
    keras.utils.set_random_seed(1)
    return RecurrentModel(input_features=3, output_steps=2, output_dim=2, cell=cell, units=(5, 4), **kwargs)


@pytest.mark.parametrize(("cell", "output_mode"), itertools.product(["simple", "lstm", "gru"], ["steps", "vector", "sequence"]))
def test_the_model_gives_the_same_outputs_either_way(cell, output_mode, monkeypatch):
    net = model(cell, output_mode=output_mode)
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    assert stacked.eligible(net.recurrent_layers, tf.constant(x), training=False)
    fused, fused_states = net(x, return_state=True)
    monkeypatch.setattr(stacked, "eligible", lambda *args, **kwargs: False)
    layered, layered_states = net(x, return_state=True)
    np.testing.assert_allclose(fused, layered, atol=1e-5)
    for got, want in zip(tf.nest.flatten(fused_states), tf.nest.flatten(layered_states), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_input_dropout_draws_the_masks_the_keras_layers_draw(cell, monkeypatch):
    # Two models built from one seed hold the same weights and seed generators: the same masks.
    fused_net, layered_net = model(cell, dropout=0.4), model(cell, dropout=0.4)
    x = np.random.default_rng(0).normal(size=(16, 6, 3)).astype("float32")
    fused = fused_net(x, training=True)
    assert not np.allclose(fused, fused_net(x, training=False), atol=1e-3)  # dropout is on
    monkeypatch.setattr(stacked, "eligible", lambda *args, **kwargs: False)
    np.testing.assert_allclose(fused, layered_net(x, training=True), atol=1e-5)


def test_which_models_and_calls_take_the_wavefront_loop(monkeypatch):
    x = tf.zeros((2, 6, 3))
    assert stacked.eligible(model().recurrent_layers, x, training=True)
    assert not stacked.eligible(model().recurrent_layers[:1], x, training=False)  # one layer: nothing to overlap
    assert not stacked.eligible(model(bidirectional=True).recurrent_layers, x, training=False)
    assert stacked.eligible(model(dropout=0.2).recurrent_layers, x, training=True)
    recurrent_dropout = model(dropout=0.2, recurrent_dropout=0.1).recurrent_layers
    assert not stacked.eligible(recurrent_dropout, x, training=True)  # per-gate masks: the Keras layers
    assert stacked.eligible(recurrent_dropout, x, training=False)  # no dropout at inference
    unknown_time = tf.TensorSpec((None, None, 3))
    assert not stacked.eligible(model().recurrent_layers, unknown_time, training=False)
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert not stacked.eligible(model().recurrent_layers, x, training=False)  # cuDNN is faster


def test_mixed_bfloat16_computes_in_bfloat16_like_the_keras_layers(monkeypatch):
    net = model(dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    with tf.GradientTape() as tape:
        fused = net(x)
        loss = tf.reduce_sum(fused)
    gradients = tape.gradient(loss, net.trainable_variables)
    assert net.recurrent_layers[0].cell.compute_dtype == "bfloat16"
    assert fused.dtype == tf.float32 and all(g.dtype == tf.float32 for g in gradients)
    monkeypatch.setattr(stacked, "eligible", lambda *args, **kwargs: False)
    np.testing.assert_allclose(fused, net(x), atol=0.05)  # bfloat16 keeps 8 bits of mantissa


@pytest.mark.parametrize("jit_compile", [False, True])
def test_prediction_functions_run_the_wavefront_loop(jit_compile, monkeypatch):
    from rnnkit.tasks.base import inference_function

    net = model()
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    want = net(x)  # built before tracing
    calls = []
    run = stacked.run
    monkeypatch.setattr(stacked, "run", lambda *args, **kwargs: calls.append(1) or run(*args, **kwargs))
    infer = inference_function(net, tf.TensorSpec((None, 6, 3), tf.float32), jit_compile=jit_compile)
    np.testing.assert_allclose(infer(x), want, atol=1e-5)
    assert calls == [1]  # traced once, through the wavefront loop
