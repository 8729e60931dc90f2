"""Whether a model fits the machine: its size and the memory training or prediction needs,
estimated from the config and the data's shape before any run folder is made or model built.

A config may ask for a legal model that no machine here can hold (``model.units: 65536`` is 17
billion weights). Without this check TensorFlow would fail deep inside the first step with a
ResourceExhaustedError, or the kernel would kill the process, after the run folder was made. The
estimate counts what dominates: weights, gradients and optimizer slots, the best weights kept in
memory, and one batch's activations through time. It is meant to catch the impossible, not to
predict the peak to the megabyte.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.config import ModelConfig
from rnnkit.errors import ResourceError
from rnnkit.process import machine_memory

GATES = {"simple": 1, "lstm": 4, "gru": 3}
# Per parameter: the weight, its gradient, the best weights the run keeps, and the optimizer's slots.
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 1}
FLOAT_BYTES = 4
GIB = 1 << 30


@dataclass(frozen=True)
class ModelShape:
    """What the model's size depends on besides ``model:`` (``Task.model_kwargs`` and the steps of one example)."""

    input_features: int
    output_steps: int
    output_dim: int
    steps: int  # time steps of one example (window, or longest sequence)
    sequence_output: bool = False  # one output per step (tag, generate) rather than per example
    vocab_size: int | None = None


def parameter_count(model: ModelConfig, shape: ModelShape) -> int:
    """Weights of the RecurrentModel that ``model`` and ``shape`` build (as Keras counts them)."""
    gates = GATES[model.cell]
    directions = 2 if model.bidirectional else 1
    count = 0
    width = shape.input_features
    if shape.vocab_size:
        count += shape.vocab_size * model.embedding_dim
        width = model.embedding_dim
    for units in model.layer_units:
        biases = 2 if model.cell == "gru" else 1  # Keras's GRU keeps input and recurrent biases (reset_after)
        count += directions * gates * units * (width + units + biases)
        width = directions * units
    for size in model.dense:
        count += (width + 1) * size
        width = size
    outputs = shape.output_dim if shape.sequence_output else shape.output_steps * shape.output_dim
    return count + (width + 1) * outputs


def training_bytes(model: ModelConfig, shape: ModelShape, batch_size: int, optimizer: str) -> tuple[int, int]:
    """``(weights and optimizer state, one batch's activations)`` in bytes for training."""
    weights = parameter_count(model, shape) * FLOAT_BYTES * (3 + OPTIMIZER_SLOTS[optimizer])
    per_step = _activation_floats(model, shape, training=True)
    return weights, batch_size * shape.steps * per_step * FLOAT_BYTES


def inference_bytes(model: ModelConfig, shape: ModelShape, batch_size: int, batches_in_flight: int = 1) -> int:
    """Bytes to predict ``batches_in_flight`` batches at once."""
    weights = parameter_count(model, shape) * FLOAT_BYTES
    return weights + batches_in_flight * batch_size * shape.steps * _activation_floats(model, shape, training=False) * FLOAT_BYTES


def check_training_fits(model: ModelConfig, shape: ModelShape, batch_size: int, optimizer: str) -> None:
    """Refuse a model whose training cannot fit in this machine's memory.

    Raises:
        ResourceError: naming what needs the memory and what the machine has.
    """
    available = machine_memory()
    weights, activations = training_bytes(model, shape, batch_size, optimizer)
    if available is None or weights + activations <= available:
        return
    have = f"this machine has {_gib(available)}"
    if weights > available:
        raise ResourceError(
            f"the model needs about {_gib(weights)} for its {parameter_count(model, shape):,} weights and their optimizer "
            f"state; {have}. Lower model.units, model.dense or model.embedding_dim"
        )
    raise ResourceError(
        f"training needs about {_gib(weights + activations)} ({_gib(activations)} for a batch of {batch_size} examples of "
        f"{shape.steps} steps through the network, {_gib(weights)} for weights and optimizer state); {have}. "
        "Lower train.batch_size, data.window (or data.max_length) or model.units"
    )


def check_inference_fits(model: ModelConfig, shape: ModelShape, batch_size: int, batches_in_flight: int = 1) -> None:
    """Refuse a prediction batch size whose batches cannot fit in this machine's memory.

    Raises:
        ResourceError: naming the batch size and what the machine has.
    """
    available = machine_memory()
    needed = inference_bytes(model, shape, batch_size, batches_in_flight)
    if available is not None and needed > available:
        raise ResourceError(
            f"predicting in batches of {batch_size} needs about {_gib(needed)}; this machine has {_gib(available)}. "
            "Lower --batch-size"
        )


def _activation_floats(model: ModelConfig, shape: ModelShape, *, training: bool) -> int:
    # Per example and step. Training keeps every step's gates and states for the backward pass;
    # prediction keeps each layer's output sequence (what the next layer reads).
    directions = 2 if model.bidirectional else 1
    kept = GATES[model.cell] + 3 if training else 1
    floats = shape.input_features if not shape.vocab_size else model.embedding_dim
    floats += sum(directions * kept * units for units in model.layer_units)
    if shape.sequence_output:
        floats += sum(model.dense) + 3 * shape.output_dim  # logits, their softmax and its gradient, at every step
    return floats


def _gib(size: int) -> str:
    return f"{size / GIB:,.1f} GiB" if size >= GIB else f"{size / (1 << 20):,.0f} MiB"
