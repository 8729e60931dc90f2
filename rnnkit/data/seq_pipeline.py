"""Cutters for whole sequences (classify, tag) and token windows (generate).

Both plug into :func:`rnnkit.data.pipeline.training_dataset` and ``ordered_dataset``.

Sequences are stored once, contiguously; a batch is a vector of sequence indices, turned into a
right-padded ``(batch, max_length, features)`` tensor by one gather. Padding steps hold
``PAD_VALUE`` (numeric inputs) or token id 0, which the model masks, so padding never changes a
result.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnnkit.data.text import PAD_ID
from rnnkit.models.rnn import PAD_VALUE


class SequenceCutter:
    """Cuts padded batches out of contiguous sequences.

    Args:
        values: ``(rows, F)`` float32 or ``(rows,)`` int32 token ids.
        starts: first row of each sequence.
        lengths: rows of each sequence.
        labels: per sequence (classify) or per row (tag).
        length: padded length; longer sequences keep their last ``length`` steps.
        per_step: labels are per row (tag).
    """

    def __init__(self, values, starts, lengths, labels, length: int, per_step: bool) -> None:
        self.values = tf.constant(values)
        self.starts = tf.constant(starts, dtype=tf.int64)
        self.lengths = tf.constant(lengths, dtype=tf.int64)
        self.labels = tf.constant(labels, dtype=tf.int32)
        self.length = int(length)
        self.per_step = per_step
        self.tokens = values.ndim == 1

    def cut(self, index: tf.Tensor):
        """``(inputs, labels, weights)`` of the sequences ``index``; weights mask padded steps."""
        kept = tf.minimum(tf.gather(self.lengths, index), self.length)
        first = tf.gather(self.starts, index) + tf.gather(self.lengths, index) - kept
        steps = tf.range(self.length, dtype=tf.int64)
        valid = steps[None, :] < kept[:, None]
        rows = tf.where(valid, first[:, None] + steps[None, :], first[:, None])
        x = tf.gather(self.values, rows)
        if self.tokens:
            x = tf.where(valid, x, tf.cast(PAD_ID, x.dtype))
        else:
            x = tf.where(valid[:, :, None], x, tf.constant(PAD_VALUE, x.dtype))
        if self.per_step:
            y = tf.where(valid, tf.gather(self.labels, rows), 0)
            return x, y, tf.cast(valid, tf.float32)
        return x, tf.gather(self.labels, index), tf.ones_like(kept, dtype=tf.float32)


def pad_batch(sequences: list[np.ndarray]) -> np.ndarray:
    """Right-pad sequences of any lengths to the longest (predict: lengths are not capped)."""
    longest = max(len(s) for s in sequences)
    if sequences[0].ndim == 1:
        out = np.full((len(sequences), longest), PAD_ID, dtype=np.int32)
    else:
        out = np.full((len(sequences), longest, sequences[0].shape[1]), PAD_VALUE, dtype=np.float32)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
    return out


class TokenWindows:
    """Language-model windows over one token stream: inputs ``ids[o-w+1..o]``, targets shifted by one."""

    def __init__(self, ids: np.ndarray, window: int) -> None:
        self.ids = tf.constant(ids, dtype=tf.int32)
        self.input_offsets = tf.range(-window + 1, 1, dtype=tf.int64)

    def cut(self, origins: tf.Tensor):
        rows = origins[:, None] + self.input_offsets
        return tf.gather(self.ids, rows), tf.gather(self.ids, rows + 1)
