"""tf.data pipelines that cut windows lazily from the stored rows.

A vector of window origins is turned into ``(windows, window, features)`` inputs and ``(windows,
horizon, targets)`` targets by one ``tf.gather``. Nothing but the rows and the origin indices is
ever held in memory, and the rows are handed to TensorFlow without a copy (:func:`rows_variable`).

Batches are cut ``GROUP_BATCHES`` at a time and then split: one op call costs far more than
gathering 64 windows (benchmarks/window_pipeline.py), so cutting one batch per call would leave
the pipeline bound by per-op overhead. ``timeseries_dataset_from_array`` and ``Dataset.window``
work per window and are slower still. A WindowCutter cuts each group with one XLA-compiled
function: TensorFlow's gather copies the windows 32 bytes (one row) at a time after building the
whole index matrix, XLA fuses the indices into the copy, which makes the gather about twice as
fast and lifts the pipeline from about 0.6M to 1M windows/s (docs/performance.md, section e).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnnkit.data.schema import ALIGN_BYTES, Preprocessor

GROUP_BATCHES = 64  # batches cut by one gather (8 MiB of inputs at window 64 x 8 features x batch 64)
GROUP_WINDOWS = 4096  # ... but no more windows than this: large (evaluation) batches are cut fewer at a time


def rows_variable(array: np.ndarray) -> tf.Variable:
    """The rows of ``array`` as a non-trainable CPU variable that shares the array's memory when it can.

    A 64-byte aligned, contiguous, writable array (what :func:`rnnkit.data.schema.aligned_empty`
    makes) is wrapped through DLPack without a copy, so it must not change while the variable is
    in use; any other array is copied once. A variable
    rather than a constant because tf.data's graph rewrite (applied under op determinism)
    copies captured constants into the dataset; a variable is captured by handle. Read it whole
    (``.read_value()``) before gathering: ``tf.gather`` on the variable itself switches it to
    copy-on-read and copies the rows.
    """
    array = np.asarray(array)
    with tf.device("/CPU:0"):
        if array.flags.c_contiguous and array.flags.writeable and array.size and array.ctypes.data % ALIGN_BYTES == 0:
            value = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
        else:
            value = tf.constant(array)
        return tf.Variable(value, trainable=False)


class WindowCutter:
    """Turns a batch of origins into model-ready ``(inputs, targets)`` tensors.

    Args:
        x: ``(rows, features)`` scaled inputs (``SeriesArrays.x``).
        y: ``(rows, targets)`` targets in model units (``SeriesArrays.y``).
        pre: the run's preprocessor (window, horizon, detrending).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, pre: Preprocessor) -> None:
        self.x = rows_variable(x)
        self.y = rows_variable(y)
        self.input_offsets = tf.range(-pre.window + 1, 1, dtype=tf.int64)
        self.target_offsets = tf.range(1, pre.horizon + 1, dtype=tf.int64)
        self.detrend = pre.detrend == "last_value"
        self.feature_shift = tf.constant(pre.detrended_features, dtype=tf.float32)
        # XLA compiles it once per number of origins: a group, a short last group, a short batch.
        self._compiled_cut = tf.function(self._cut_rows, jit_compile=True)

    def inputs(self, origins: tf.Tensor) -> tf.Tensor:
        """``(batch, window, features)`` inputs of the windows ending at ``origins``."""
        return self._inputs(self.x.read_value(), origins)

    def targets(self, origins: tf.Tensor) -> tf.Tensor:
        """``(batch, horizon, targets)`` targets of the windows ending at ``origins``."""
        return self._targets(self.y.read_value(), origins)

    def cut(self, origins: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(inputs, targets)`` of the windows ending at ``origins``, gathered by XLA (on the CPU,
        where the rows are); equal to ``(inputs(origins), targets(origins))``. Origins must be
        valid: XLA clamps an index out of range where TensorFlow would raise."""
        with tf.device(self.x.device):
            return self._compiled_cut(self.x.read_value(), self.y.read_value(), origins)

    def _cut_rows(self, x: tf.Tensor, y: tf.Tensor, origins: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._inputs(x, origins), self._targets(y, origins)

    def _inputs(self, rows: tf.Tensor, origins: tf.Tensor) -> tf.Tensor:
        x = tf.gather(rows, origins[:, None] + self.input_offsets)
        if self.detrend:
            x = x - x[:, -1:, :] * self.feature_shift
        return x

    def _targets(self, rows: tf.Tensor, origins: tf.Tensor) -> tf.Tensor:
        y = tf.gather(rows, origins[:, None] + self.target_offsets)
        if self.detrend:
            y = y - tf.gather(rows, origins)[:, None, :]
        return y


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
    sequence numbers) to model-ready tensors, each example independently of the others in its
    batch: WindowCutter here, SequenceCutter and TokenWindows in :mod:`rnnkit.data.seq_pipeline`.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees exactly the
    batches an uninterrupted run would. Use with ``steps_per_epoch=num_batches(...)``.
    """
    origins_t = tf.constant(origins, dtype=tf.int64)
    count = len(origins)

    def epoch_order(epoch: tf.Tensor) -> tf.Tensor:
        if not shuffle:
            return origins_t
        return tf.random.experimental.stateless_shuffle(origins_t, seed=tf.stack([tf.cast(seed, tf.int64), epoch]))

    dataset = tf.data.Dataset.range(initial_epoch, epochs).map(epoch_order)
    dataset = dataset.flat_map(lambda order: _batches(cutter.cut, order, count, batch_size))
    return dataset.prefetch(tf.data.AUTOTUNE)


def ordered_dataset(cutter, origins: np.ndarray, batch_size: int, *, with_targets: bool = True) -> tf.data.Dataset:
    """Batches in index order, for validation, evaluation and prediction (``with_targets=False``:
    ``cutter.inputs`` only, for a WindowCutter)."""
    origins_t = tf.constant(origins, dtype=tf.int64)
    fn = cutter.cut if with_targets else cutter.inputs
    return _batches(fn, origins_t, len(origins), batch_size).prefetch(tf.data.AUTOTUNE)


def _batches(cut, order: tf.Tensor, count: int, batch_size: int) -> tf.data.Dataset:
    # Full batches are cut GROUP_BATCHES at a time (fewer when that exceeds GROUP_WINDOWS windows)
    # and split; a short last batch is cut alone. Every example is cut independently, so the
    # batches equal those cut one at a time. The map is sequential: reading a variable is stateful,
    # and under op determinism tf.data would run a parallel map of it sequentially anyway (logging
    # an error line about it). The next group is cut ahead (prefetch(1)) while batches are split
    # off this one by from_tensor_slices, which hands batches on faster than unbatch does.
    full = count // batch_size
    per_group = max(1, min(GROUP_BATCHES, GROUP_WINDOWS // batch_size))
    group = per_group * batch_size

    def cut_group(index: tf.Tensor):
        part = order[index * group : tf.minimum((index + 1) * group, full * batch_size)]
        return tf.nest.map_structure(lambda t: _split(t, batch_size), cut(part))

    groups = tf.data.Dataset.range(num_batches(full, per_group)).map(cut_group).prefetch(1)
    dataset = groups.flat_map(lambda *parts: tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else parts[0]))
    if count % batch_size:
        dataset = dataset.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size : count]).map(cut))
    return dataset


def _split(tensor: tf.Tensor, batch_size: int) -> tf.Tensor:
    # (n * batch_size, ...) -> (n, batch_size, ...), keeping the static inner dimensions.
    inner = [d if d is not None else tf.shape(tensor)[i + 1] for i, d in enumerate(tensor.shape[1:])]
    return tf.reshape(tensor, [-1, batch_size, *inner])
