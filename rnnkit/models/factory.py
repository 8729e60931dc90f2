"""Build a RecurrentModel from the config, and load ``.keras`` files safely."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np

from rnnkit.config import ModelConfig
from rnnkit.errors import RunError
from rnnkit.models.rnn import RecurrentModel

MIXED_POLICIES = {"none": None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def build_model(
    model: ModelConfig,
    *,
    input_features: int,
    output_steps: int,
    output_dim: int,
    window: int,
    output_mode: str = "steps",
    vocab_size: int | None = None,
    mask_inputs: bool = False,
    mixed_precision: str = "none",
) -> RecurrentModel:
    """Create and build the model for inputs ``(batch, window, input_features)`` (or token ids).

    ``mixed_precision`` ``"float16"`` or ``"bfloat16"`` computes in that type with float32 weights
    and a float32 output (Keras's ``mixed_*`` dtype policies).
    """
    network = RecurrentModel(
        input_features=input_features,
        output_steps=output_steps,
        output_dim=output_dim,
        cell=model.cell,
        units=model.layer_units,
        bidirectional=model.bidirectional,
        dropout=model.dropout,
        recurrent_dropout=model.recurrent_dropout,
        dense=model.dense,
        dense_activation=model.dense_activation,
        output_mode=output_mode,
        vocab_size=vocab_size,
        embedding_dim=model.embedding_dim,
        mask_inputs=mask_inputs,
        name="rnnkit_model",
        dtype=MIXED_POLICIES[mixed_precision],
    )
    sample = np.ones((1, window), "int32") if vocab_size else np.zeros((1, window, input_features), "float32")
    network(sample)
    return network


def load_model(path: Path) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode=True`` (no Lambda layers or other code).

    Raises:
        RunError: missing, corrupt, or unsafe files.
    """
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found; the run folder is incomplete")
    if not zipfile.is_zipfile(path):
        raise RunError(f"{path}: checkpoint is corrupt (not a .keras archive)")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "lambda" in text.lower():
            raise RunError(f"{path}: refused: the file holds code (a Lambda layer or similar) and safe mode is on") from None
        raise RunError(f"{path}: checkpoint is corrupt or not an rnnkit model: {text.splitlines()[0]}") from None
    except (OSError, KeyError, zipfile.BadZipFile, TypeError) as exc:
        raise RunError(
            f"{path}: checkpoint is corrupt: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
