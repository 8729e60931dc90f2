"""A stack of unidirectional recurrent layers run as one wavefront loop (TensorFlow, no GPU).

Keras runs stacked recurrent layers one after another: layer k + 1 starts when layer k has taken
every step, and each step is a chain of small ops. On a CPU at batch 64 those chains are bound by
op overhead, not arithmetic, and leave a core idle. Yet step t of layer k needs only step t of
layer k - 1 and step t - 1 of layer k, so one iteration here takes step t of layer 0, step t - 1
of layer 1, ..., step t - k of layer k: k + 1 independent chains, which TensorFlow's executor runs
side by side. The first and last k iterations, where some layers have no step to take, are
written out before and after the loop. Each step projects its own inputs: projecting the whole
sequence before the loop (as cuDNN does) measured slower, with and without XLA, and holds a
``(time, batch, 4 x units)`` tensor, 128 MiB per LSTM(128) layer at batch 1,024.

Same weights and the same arithmetic as the Keras layers (LSTM, GRU with ``reset_after``,
SimpleRNN, each with its default activations), summed in another order: outputs agree to float
rounding. :class:`rnnkit.models.RecurrentModel` uses it where :func:`eligible` says so; on a GPU,
Keras's cuDNN kernels are faster still, so never there.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_CELLS = (keras.layers.LSTMCell, keras.layers.GRUCell, keras.layers.SimpleRNNCell)


def eligible(layers, inputs, *, training) -> bool:
    """Whether :func:`run` computes what ``layers`` (called in turn, without masks) would.

    Needs two or more LSTM, GRU or SimpleRNN layers with Keras's own cells (not subclasses),
    not Bidirectional, stateful, backwards or unrolled, with default activations and biases; a
    time axis of known length; no recurrent dropout while training (input dropout is applied as
    Keras applies it); and no GPU.
    """
    if len(layers) < 2 or inputs.shape[1] is None or tf.config.list_logical_devices("GPU"):
        return False
    for layer in layers:
        cell = getattr(layer, "cell", None)
        if type(cell) not in _CELLS or layer.go_backwards or layer.stateful or layer.unroll:
            return False
        if not cell.use_bias or cell.activation is not keras.activations.tanh:
            return False
        if not isinstance(cell, keras.layers.SimpleRNNCell) and cell.recurrent_activation is not keras.activations.sigmoid:
            return False
        if isinstance(cell, keras.layers.GRUCell) and not cell.reset_after:
            return False
        if training and cell.recurrent_dropout:
            return False
    return True


def run(layers, inputs, initial_states, *, return_sequences: bool, training=False):
    """Run ``layers`` over ``inputs`` ``(batch, time, features)``.

    Args:
        layers: recurrent layers, first to last, that :func:`eligible` accepted.
        inputs: the first layer's inputs.
        initial_states: one entry per layer: ``None`` (zeros) or its state tensors (``[h, c]``
            for LSTM, ``[h]`` otherwise).
        return_sequences: return the last layer's output at every step, not only the last.
        training: apply each layer's input dropout: one mask per layer and sequence, drawn from
            the cell's seed generator, as the Keras cell draws it.

    Returns:
        ``(outputs, final_states)``: ``(batch, time, units)`` or ``(batch, units)`` outputs of
        the last layer, and each layer's final state tensors.
    """
    cells = [_Cell(layer.cell) for layer in layers]
    steps, depth = int(inputs.shape[1]), len(cells)
    x = tf.cast(inputs, cells[0].dtype)
    batch = tf.shape(x)[0]
    masks = [cell.dropout_mask(batch) if training else None for cell in cells]
    first = tf.TensorArray(x.dtype, size=steps).unstack(tf.transpose(x, [1, 0, 2]))  # read a step at a time
    states = [
        cell.zeros(batch) if state is None else [tf.cast(s, cell.dtype) for s in state]
        for cell, state in zip(cells, initial_states, strict=True)
    ]
    outputs = tf.TensorArray(cells[-1].dtype, size=steps) if return_sequences else None

    def iteration(t, states, outputs, active):
        # Layer k takes its step t - k; every input comes from the previous iteration's states.
        updated = list(states)
        for k in active:
            below = first.read(t) if k == 0 else states[k - 1][0]
            projected = cells[k].project(below if masks[k] is None else below * masks[k])
            updated[k] = cells[k].step(projected, states[k])
            if k == depth - 1 and return_sequences:
                outputs = outputs.write(t - k, updated[k][0])
        return updated, outputs

    def partial(t):
        return [k for k in range(depth) if 0 <= t - k < steps]

    for t in range(depth - 1):  # layers still waiting for their first input
        states, outputs = iteration(t, states, outputs, partial(t))
    if steps >= depth:

        def body(t, states, outputs):
            states, outputs = iteration(t, states, outputs, range(depth))
            return t + 1, states, outputs

        loop_vars = (tf.constant(depth - 1), states, outputs if outputs is not None else ())
        _, states, carried = tf.while_loop(
            lambda t, *_: t < steps, body, loop_vars, parallel_iterations=32, maximum_iterations=steps - depth + 1
        )
        outputs = carried if return_sequences else None
    for t in range(max(steps, depth - 1), steps + depth - 1):  # layers that have taken every step
        states, outputs = iteration(t, states, outputs, partial(t))

    if return_sequences:
        return tf.transpose(outputs.stack(), [1, 0, 2]), states
    return states[-1][0], states


class _Cell:
    """One Keras cell's weights in its compute dtype, and its step."""

    def __init__(self, cell) -> None:
        self.cell = cell
        self.dtype = cell.compute_dtype
        self.kind = type(cell)
        self.units = cell.units
        self.kernel = tf.cast(cell.kernel.value, self.dtype)
        self.recurrent = tf.cast(cell.recurrent_kernel.value, self.dtype)
        bias = tf.cast(cell.bias.value, self.dtype)
        if self.kind is keras.layers.GRUCell:  # reset_after: input and recurrent biases
            self.bias, self.recurrent_bias = bias[0], bias[1]
        else:
            self.bias, self.recurrent_bias = bias, None

    def zeros(self, batch) -> list:
        count = 2 if self.kind is keras.layers.LSTMCell else 1
        return [tf.zeros([batch, self.units], self.dtype) for _ in range(count)]

    def dropout_mask(self, batch):
        """``(batch, inputs)`` input dropout mask (None without dropout), as Keras's cell draws it."""
        if not 0.0 < self.cell.dropout < 1.0:
            return None
        ones = tf.ones([batch, self.kernel.shape[0]], self.dtype)
        return keras.random.dropout(ones, rate=self.cell.dropout, seed=self.cell.seed_generator)

    def project(self, x):
        """A step's inputs ``(batch, inputs)`` times the kernel, plus the (input) bias."""
        return tf.matmul(x, self.kernel) + self.bias

    def step(self, projected, state) -> list:
        """The new state (its first tensor is the output) from a step's projected input."""
        h = state[0]
        if self.kind is keras.layers.LSTMCell:
            z = projected + tf.matmul(h, self.recurrent)
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(f) * state[1] + tf.sigmoid(i) * tf.tanh(g)
            return [tf.sigmoid(o) * tf.tanh(c), c]
        if self.kind is keras.layers.GRUCell:
            x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
            r_z, r_r, r_h = tf.split(tf.matmul(h, self.recurrent) + self.recurrent_bias, 3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            candidate = tf.tanh(x_h + tf.sigmoid(x_r + r_r) * r_h)
            return [z * h + (1 - z) * candidate]
        return [tf.tanh(projected + tf.matmul(h, self.recurrent))]
