"""RecurrentModel: the corrected version of the textbook RNN subclass (see shared/seed-notes.md).

What it fixes: the initial state is optional (zeros when absent); inputs must be 3-D
``(batch, time, features)`` and of the declared width, or the call fails saying what was
expected; every cell's state structure is handled (LSTM ``[h, c]``, GRU and SimpleRNN ``[h]``,
doubled by bidirectional layers); the head reads the last step and emits ``(batch, horizon,
targets)``; states are returned only on request, so ``fit`` sees a single-output model; the input
width is declared and checked, not ignored.

Stacked layers on a machine without a GPU run as one wavefront loop (:mod:`rnnkit.models.stacked`)
where it computes what the layers would; the layers themselves run otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rnnkit.models import stacked

CELL_LAYERS = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
STATE_NAMES = {"simple": ["h"], "lstm": ["h", "c"], "gru": ["h"]}
# What the head emits: "steps" (batch, output_steps, output_dim) from the last step (forecast);
# "vector" (batch, output_dim) from the last (unmasked) step (classify); "sequence"
# (batch, time, output_dim) at every step (tag, generate).
OUTPUT_MODES = ("steps", "vector", "sequence")
# Value of padded steps in numeric inputs; a step whose features all equal it is masked.
PAD_VALUE = -1.0e9


@keras.saving.register_keras_serializable(package="rnnkit")
class RecurrentModel(keras.Model):
    """Stacked (optionally bidirectional) recurrent layers and a dense head.

    Args:
        input_features: width of the last input axis.
        output_steps: steps predicted at once (the forecast horizon).
        output_dim: values per step (targets).
        cell: ``"simple"``, ``"lstm"`` or ``"gru"``.
        units: units of each recurrent layer, first to last.
        bidirectional: wrap each recurrent layer in ``Bidirectional`` (concatenated outputs).
        dropout: dropout on the inputs of each recurrent layer.
        recurrent_dropout: dropout on the recurrent state.
        dense: hidden sizes of the head.
        dense_activation: activation of the head's hidden layers.
        output_mode: ``"steps"``, ``"vector"`` or ``"sequence"`` (see OUTPUT_MODES).
        vocab_size: inputs are token ids ``(batch, time)`` below this, embedded and masked at 0.
        embedding_dim: size of the token embedding.
        mask_inputs: numeric inputs may hold padded steps (all features PAD_VALUE) to mask.
    """

    def __init__(
        self,
        input_features: int,
        output_steps: int = 1,
        output_dim: int = 1,
        cell: str = "lstm",
        units: Sequence[int] = (64,),
        bidirectional: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        dense: Sequence[int] = (),
        dense_activation: str = "relu",
        output_mode: str = "steps",
        vocab_size: int | None = None,
        embedding_dim: int = 32,
        mask_inputs: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if cell not in CELL_LAYERS:
            raise ValueError(f"cell must be one of {sorted(CELL_LAYERS)}. Received: cell={cell!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}. Received: output_mode={output_mode!r}")
        units = [int(u) for u in units]
        if not units:
            raise ValueError("units must name at least one recurrent layer. Received: units=[]")

        # Layers.
        # Layers compute in the model's dtype policy (e.g. mixed_bfloat16); the head's output stays float32.
        policy = self.dtype_policy
        self.embedding = (
            keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding", dtype=policy)
            if vocab_size
            else None
        )
        self.masking = (
            keras.layers.Masking(mask_value=PAD_VALUE, name="masking", dtype=policy) if mask_inputs and not vocab_size else None
        )
        self.recurrent_layers = []
        for index, size in enumerate(units):
            layer = CELL_LAYERS[cell](
                size,
                return_sequences=output_mode == "sequence" or index < len(units) - 1,
                return_state=True,
                dropout=dropout,
                recurrent_dropout=recurrent_dropout,
                name=f"{cell}_{index}",
                dtype=policy,
            )
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{index}", dtype=policy)
            self.recurrent_layers.append(layer)
        self.head_layers = [
            keras.layers.Dense(size, activation=dense_activation, name=f"dense_{index}", dtype=policy)
            for index, size in enumerate(dense)
        ]
        self.output_layer = keras.layers.Dense(
            output_dim if output_mode != "steps" else output_steps * output_dim, name="output", dtype="float32"
        )
        self.reshape = (
            keras.layers.Reshape((output_steps, output_dim), name="steps", dtype="float32") if output_mode == "steps" else None
        )

        # Config: exactly the constructor arguments.
        self.input_features = int(input_features)
        self.output_steps = int(output_steps)
        self.output_dim = int(output_dim)
        self.cell = cell
        self.units = units
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.dense = [int(d) for d in dense]
        self.dense_activation = dense_activation
        self.output_mode = output_mode
        self.vocab_size = int(vocab_size) if vocab_size else None
        self.embedding_dim = int(embedding_dim)
        self.mask_inputs = bool(mask_inputs)

    @property
    def state_structure(self) -> list[list[str]]:
        """Names of the state tensors each recurrent layer takes and returns, e.g. ``[["h", "c"]]``."""
        names = STATE_NAMES[self.cell]
        if self.bidirectional:
            names = [f"forward_{n}" for n in names] + [f"backward_{n}" for n in names]
        return [list(names) for _ in self.units]

    def output_mask(self, inputs):
        """``(batch, time)`` booleans marking the real (unpadded) steps of ``"sequence"`` outputs;
        None when every output counts. The mask Keras attaches to the outputs, made explicit."""
        if self.output_mode != "sequence":
            return None
        if self.embedding is not None:
            return keras.ops.not_equal(inputs, 0)
        if self.masking is not None:
            return keras.ops.any(keras.ops.not_equal(inputs, PAD_VALUE), axis=-1)
        return None

    def build(self, input_shape) -> None:
        """Create every weight for inputs ``(batch, time, input_features)`` (or ``(batch, time)`` ids)."""
        batch, steps = input_shape[0], input_shape[1]
        width = self.input_features
        if self.embedding is not None:
            self.embedding.build((batch, steps))
            width = self.embedding_dim
        for layer, size in zip(self.recurrent_layers, self.units, strict=True):
            layer.build((batch, steps, width))
            width = size * (2 if self.bidirectional else 1)
        head = (batch, steps, width) if self.output_mode == "sequence" else (batch, width)
        for layer in self.head_layers:
            layer.build(head)
            head = (*head[:-1], layer.units)
        self.output_layer.build(head)
        if self.reshape is not None:
            self.reshape.build((batch, self.output_steps * self.output_dim))
        self.built = True

    def call(self, inputs, initial_state=None, training=None, return_state=False):
        """Run the network.

        Args:
            inputs: ``(batch, time, input_features)`` floats.
            initial_state: ``None`` (zeros) or one list per recurrent layer, shaped as
                :attr:`state_structure`, each tensor ``(batch, units)``.
            training: whether dropout is active.
            return_state: also return the final states, in the structure of ``initial_state``.

        Returns:
            ``(batch, output_steps, output_dim)`` outputs, and the final states if requested.
        """
        self._check_inputs(inputs)
        states_in = self._check_states(initial_state)
        x = inputs
        if self.embedding is not None:
            x = self.embedding(x)
        elif self.masking is not None:
            x = self.masking(x)
        if self.embedding is None and self.masking is None and stacked.eligible(self.recurrent_layers, x, training=training):
            x, final_states = stacked.run(
                self.recurrent_layers, x, states_in, return_sequences=self.output_mode == "sequence", training=training
            )
        else:
            final_states = []
            for layer, state in zip(self.recurrent_layers, states_in, strict=True):
                result = layer(x, initial_state=state, training=training)
                x, states = result[0], list(result[1:])
                final_states.append(states)
        for layer in self.head_layers:
            x = layer(x)
        outputs = self.output_layer(x)
        if self.reshape is not None:
            outputs = self.reshape(outputs)
        return (outputs, final_states) if return_state else outputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            input_features=self.input_features,
            output_steps=self.output_steps,
            output_dim=self.output_dim,
            cell=self.cell,
            units=list(self.units),
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            dense=list(self.dense),
            dense_activation=self.dense_activation,
            output_mode=self.output_mode,
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            mask_inputs=self.mask_inputs,
        )
        return config

    def _check_inputs(self, inputs) -> None:
        shape = tuple(inputs.shape)
        if self.embedding is not None:
            if len(shape) != 2:
                raise ValueError(f"RecurrentModel expects token ids of shape (batch, time); received shape {shape}")
            return
        expected = f"(batch, time, {self.input_features})"
        if len(shape) != 3:
            hint = " For one univariate series, add a last axis of size 1." if len(shape) == 2 else ""
            raise ValueError(
                f"RecurrentModel expects inputs of shape {expected}; received rank {len(shape)} shape {shape}.{hint}"
            )
        if shape[-1] is not None and shape[-1] != self.input_features:
            raise ValueError(f"RecurrentModel expects inputs of shape {expected}; received {shape} with {shape[-1]} features")

    def _check_states(self, initial_state) -> list:
        if initial_state is None:
            return [None] * len(self.recurrent_layers)
        structure = self.state_structure
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(structure):
            raise ValueError(
                f"initial_state must hold one entry per recurrent layer ({len(structure)}), each a list "
                f"{structure[0]}. Received: {type(initial_state).__name__} of length "
                f"{len(initial_state) if isinstance(initial_state, (list, tuple)) else 'n/a'}"
            )
        checked = []
        for index, (state, names) in enumerate(zip(initial_state, structure, strict=True)):
            if state is None:
                checked.append(None)
                continue
            state = list(state) if isinstance(state, (list, tuple)) else [state]
            if len(state) != len(names):
                raise ValueError(
                    f"initial_state[{index}] must be {len(names)} tensor(s) {names} for a "
                    f"{'bidirectional ' if self.bidirectional else ''}{self.cell} layer. Received: {len(state)}"
                )
            for tensor, name in zip(state, names, strict=True):
                width = tensor.shape[-1]
                if len(tensor.shape) != 2 or (width is not None and width != self.units[index]):
                    raise ValueError(
                        f"initial_state[{index}] {name} must have shape (batch, {self.units[index]}). "
                        f"Received: {tuple(tensor.shape)}"
                    )
            checked.append(state)
        return checked
