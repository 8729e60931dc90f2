"""tf.data pipelines that cut windows lazily from the stored rows.

Each batch is a vector of window origins; one ``tf.gather`` turns it into ``(batch, window,
features)`` inputs and ``(batch, horizon, targets)`` targets. Nothing but the rows and the origin
indices is ever held in memory, and gathering whole batches at once keeps the pipeline far ahead
of a small recurrent model (``timeseries_dataset_from_array`` and ``Dataset.window`` work per
window; benchmarks/window_pipeline.py measures them 18-25x slower here).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnnkit.data.schema import Preprocessor


class WindowCutter:
    """Turns a batch of origins into model-ready ``(inputs, targets)`` tensors.

    Args:
        x: ``(rows, features)`` scaled inputs (``SeriesArrays.x``).
        y: ``(rows, targets)`` targets in model units (``SeriesArrays.y``).
        pre: the run's preprocessor (window, horizon, detrending).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, pre: Preprocessor) -> None:
        self.x = tf.constant(x)
        self.y = tf.constant(y)
        self.input_offsets = tf.range(-pre.window + 1, 1, dtype=tf.int64)
        self.target_offsets = tf.range(1, pre.horizon + 1, dtype=tf.int64)
        self.detrend = pre.detrend == "last_value"
        self.feature_shift = tf.constant(pre.detrended_features, dtype=tf.float32)

    def inputs(self, origins: tf.Tensor) -> tf.Tensor:
        """``(batch, window, features)`` inputs of the windows ending at ``origins``."""
        x = tf.gather(self.x, origins[:, None] + self.input_offsets)
        if self.detrend:
            x = x - x[:, -1:, :] * self.feature_shift
        return x

    def targets(self, origins: tf.Tensor) -> tf.Tensor:
        """``(batch, horizon, targets)`` targets of the windows ending at ``origins``."""
        y = tf.gather(self.y, origins[:, None] + self.target_offsets)
        if self.detrend:
            y = y - tf.gather(self.y, origins)[:, None, :]
        return y

    def cut(self, origins: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(inputs, targets)`` of the windows ending at ``origins``."""
        return self.inputs(origins), self.targets(origins)


def num_batches(count: int, batch_size: int) -> int:
    """Batches needed for ``count`` windows (the last one may be short)."""
    return -(-count // batch_size)


def training_dataset(
    cutter,
    origins: np.ndarray,
    batch_size: int,
    *,
    seed: int,
    shuffle: bool,
    epochs: int,
    initial_epoch: int = 0,
) -> tf.data.Dataset:
    """Batches ``cutter.cut(indices)`` for epochs ``initial_epoch .. epochs - 1``, back to back.

    ``cutter`` is any object whose ``cut`` maps a batch of example indices (window origins, or
    sequence numbers) to model-ready tensors: WindowCutter here, SequenceCutter and TokenWindows
    in :mod:`rnnkit.data.seq_pipeline`.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees exactly the
    batches an uninterrupted run would. Use with ``steps_per_epoch=num_batches(...)``.
    """
    origins_t = tf.constant(origins, dtype=tf.int64)
    steps = num_batches(len(origins), batch_size)

    def epoch_order(epoch: tf.Tensor) -> tf.Tensor:
        if not shuffle:
            return origins_t
        return tf.random.experimental.stateless_shuffle(origins_t, seed=tf.stack([tf.cast(seed, tf.int64), epoch]))

    def batches_of(order: tf.Tensor) -> tf.data.Dataset:
        return tf.data.Dataset.range(steps).map(lambda i: order[i * batch_size : (i + 1) * batch_size])

    dataset = tf.data.Dataset.range(initial_epoch, epochs).map(epoch_order).flat_map(batches_of)
    return dataset.map(cutter.cut, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def ordered_dataset(cutter, origins: np.ndarray, batch_size: int, *, with_targets: bool = True) -> tf.data.Dataset:
    """Batches in index order, for validation, evaluation and prediction (``with_targets=False``:
    ``cutter.inputs`` only, for a WindowCutter)."""
    origins_t = tf.constant(origins, dtype=tf.int64)
    steps = num_batches(len(origins), batch_size)
    dataset = tf.data.Dataset.range(steps).map(lambda i: origins_t[i * batch_size : (i + 1) * batch_size])
    fn = cutter.cut if with_targets else cutter.inputs
    return dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
