"""The interface every task implements, and helpers they share."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.progress import Reporter
from rnnkit.resources import ModelShape

# Batches a prediction or evaluation keeps in flight on a CPU, each on its own thread (in_order).
STREAMS = 2
# Windows or sequences per model call of rnnkit predict, where neither the user nor the task chooses.
PREDICT_BATCH = 1024
# One thread per op and one batch in flight per CPU (one_thread_per_op) only up to this many usable
# CPUs: measured on 2; on larger machines the batches in flight, and their memory, would grow with
# the CPUs unmeasured, so those keep TensorFlow's shared threads.
ONE_THREAD_MAX_CPUS = 8


@dataclass
class Datasets:
    """What training needs: training batches (back-to-back epochs), steps per epoch, validation batches."""

    train: Any
    steps: int
    val: Any | None


@dataclass
class FileEvaluation:
    """What evaluating a new labelled file gave: the metrics of the model and of the task's
    baseline, and ``plots(folder)``, which writes the task's plots of the file into ``folder``
    and returns their paths."""

    model: dict[str, Any]
    baseline: dict[str, Any]
    plots: Callable[[Path], list[Path]]


@dataclass
class PredictStats:
    """What ``predict`` wrote."""

    rows: int
    sequences: int
    input_rows: int
    short: int = 0


class Task(ABC):
    """One kind of learning problem; subclasses implement every abstract method."""

    name = ""
    preprocessor_class: Any = None
    metrics: tuple[str, ...] = ()  # Keras metric names shown during training
    predict_layouts: tuple[str, ...] = ("wide",)  # rnnkit predict --format choices; the first is the default
    _compiled: tuple | None = None  # (model, its compiled forward pass): see compiled_pass

    def compiled_pass(self, model, signature, *, jit_compile: bool = False):
        """The model's forward pass (no dropout) as one graph function for inputs of ``signature``,
        built once per model: evaluating val and test and predicting would otherwise trace it
        again each time. A graph, not eager calls: an eager Keras RNN runs its steps op by op
        from Python, 11-70x slower on the example models (docs/performance.md)."""
        cached = self._compiled
        if cached is None or cached[0] is not model:
            cached = self._compiled = (model, inference_function(model, signature, jit_compile=jit_compile))
        return cached[1]

    def predict_batch(self, model, *, one_thread: bool = False) -> int:
        """``rnnkit predict``'s batch size when ``--batch-size`` is not given; ``one_thread``: each
        batch runs on one thread of its own (:func:`one_thread_per_op`)."""
        return PREDICT_BATCH

    @abstractmethod
    def prepare(self, config: Config, pre=None) -> tuple[Any, Any]:
        """Read and split the configured data; fit the preprocessor on training data unless given."""
        ...

    @abstractmethod
    def summarize(self, config: Config, pre, data) -> dict[str, Any]:
        """A data summary for ``rnnkit validate``."""
        ...

    def warnings(self, data) -> list[str]:
        return list(getattr(data, "warnings", []))

    @abstractmethod
    def examples(self, data, split: str) -> int:
        """Windows, sequences or token windows of a split."""
        ...

    def has_split(self, data, split: str) -> bool:
        return self.examples(data, split) > 0

    @abstractmethod
    def model_kwargs(self, pre) -> dict[str, Any]:
        """Arguments of :func:`rnnkit.models.build_model` besides the model config."""
        ...

    def example_steps(self, pre) -> int:
        """Time steps of one example (the longest, where they vary)."""
        return int(self.model_kwargs(pre)["window"])

    def model_shape(self, pre) -> ModelShape:
        """What the model's size depends on besides ``model:``, for :mod:`rnnkit.resources`."""
        kwargs = self.model_kwargs(pre)
        return ModelShape(
            input_features=kwargs["input_features"],
            output_steps=kwargs["output_steps"],
            output_dim=kwargs["output_dim"],
            steps=self.example_steps(pre),
            sequence_output=kwargs.get("output_mode") == "sequence",
            vocab_size=kwargs.get("vocab_size"),
        )

    @abstractmethod
    def loss(self, keras, config: Config): ...

    @abstractmethod
    def datasets(self, config: Config, pre, data, initial_epoch: int) -> Datasets: ...

    @abstractmethod
    def evaluate(self, model, pre, data, split: str) -> tuple[dict, dict] | None:
        """``(model metrics, baseline metrics)`` on a split, or None when it is empty."""
        ...

    @abstractmethod
    def labelled_stream(self, pre, path: str | Path, chunk_rows: int, progress: Reporter | None = None):
        """A new labelled file opened for :meth:`evaluate_file`, its columns and first rows checked
        against the schema (no model needed); read in chunks of ``chunk_rows`` rows where the task streams."""
        ...

    @abstractmethod
    def evaluate_file(self, model, pre, stream) -> FileEvaluation:
        """Metrics of every complete example of a :meth:`labelled_stream`, beside the baseline.

        Raises:
            DataError: a problem in a later chunk, or nothing to evaluate.
        """
        ...

    def plots(self, model, pre, data, split: str, folder: Path, metrics: dict) -> list[Path]:
        """Task plots of a split written into ``folder``; returns their paths (none by default)."""
        return []

    @abstractmethod
    def checked_stream(self, pre, input_path, chunk_rows: int, progress: Reporter | None = None):
        """A chunked reader of a prediction input, its columns and first rows checked (no model needed)."""
        ...

    @abstractmethod
    def write_predictions(
        self,
        model,
        pre,
        stream,
        writer,
        *,
        batch_size: int,
        last_only: bool,
        streams: int | None = None,
        layout: str = "wide",
    ) -> PredictStats:
        """Predict every block of ``stream`` into ``writer``, ``streams`` batches at once (default:
        :func:`prediction_streams`), in ``layout``, one of :attr:`predict_layouts`."""
        ...


def epoch_datasets(
    config: Config,
    train_cutter,
    train: np.ndarray,
    val_cutter=None,
    val: np.ndarray | None = None,
    *,
    initial_epoch: int,
    eval_batch: int,
) -> Datasets:
    """Seeded training batches from ``initial_epoch`` on, and ordered validation batches if any."""
    from rnnkit.data.pipeline import num_batches, ordered_dataset, training_dataset

    batch = config.train.batch_size
    dataset = training_dataset(
        train_cutter,
        train,
        batch,
        seed=config.seed,
        shuffle=config.train.shuffle,
        epochs=config.train.epochs,
        initial_epoch=initial_epoch,
    )
    validation = ordered_dataset(val_cutter or train_cutter, val, eval_batch) if val is not None and len(val) else None
    return Datasets(dataset, num_batches(len(train), batch), validation)


def inference_function(model, signature, jit_compile: bool = False):
    """A compiled forward pass (no dropout) for inputs of the given TensorSpec.

    With ``jit_compile`` XLA compiles the pass once per concrete input shape: callers should feed
    batches of one size (pad the last one).
    """
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), input_signature=[signature], jit_compile=jit_compile)


def prediction_streams(streams: int | None = None) -> int:
    """Batches to run at once: ``streams`` if given, else ``STREAMS`` on a CPU and one where a GPU
    is present (not measured there).

    A model's forward pass on a CPU spends much of each step between small ops, leaving a core
    idle, which a second batch fills: two streams predict 1.16-1.26x as fast as one on the
    forecasting reference model (docs/performance.md, section d) and more on small models.
    """
    if streams is not None:
        return streams
    import tensorflow as tf

    return 1 if tf.config.list_logical_devices("GPU") else STREAMS


def one_thread_per_op(tf) -> None:
    """Have TensorFlow run each op on one thread, so that prediction can run one batch per CPU
    (:func:`cpu_streams`).

    Before, two batches shared TensorFlow's intra-op threads: each small op of a step was split
    across the cores, which waited on each other at every op. On 2 cores the example
    classification, tagging and text models then predicted 1.03x, 1.08x and 1.40x as fast, the
    reference forecasting model 0.92-1.15x in five pinned runs (docs/performance.md, section
    d). Only on a host without a GPU (not measured there) and of at most ``ONE_THREAD_MAX_CPUS``
    usable CPUs, and not where the user set ``TF_NUM_INTRAOP_THREADS``. The setting is
    process-wide and TensorFlow takes it only before its first op: later, nothing changes.
    """
    from rnnkit.process import usable_cpus

    if "TF_NUM_INTRAOP_THREADS" in os.environ or usable_cpus() > ONE_THREAD_MAX_CPUS or tf.config.list_physical_devices("GPU"):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow has started: its threads stay as they are
        pass


def ops_on_one_thread() -> bool:
    """Whether TensorFlow runs each op on one thread (:func:`one_thread_per_op`, or the user's
    ``tf.config.threading``) on a host without a GPU."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() == 1 and not tf.config.list_logical_devices("GPU")


def cpu_streams() -> int:
    """Batches to run at once where each op runs on one thread (:func:`one_thread_per_op`): one
    per usable CPU, at least ``STREAMS`` and at most ``ONE_THREAD_MAX_CPUS``."""
    from rnnkit.process import usable_cpus

    return max(STREAMS, min(usable_cpus(), ONE_THREAD_MAX_CPUS))


def in_order(function, items, streams: int):
    """``function(item)`` for each item, in order.

    With ``streams`` above one and more than one item, computed by that many threads with no more
    than ``streams`` calls waiting beyond the one being yielded (``Executor.map`` would queue every
    item up front), while the caller's thread takes the items from ``items`` (an iterator is
    advanced lazily); a single item is computed in the caller's thread. On an error or an
    interrupt the queued calls are cancelled; running ones finish. Each call runs alone, so the
    results do not depend on ``streams``. The threads do not inherit thread-local TensorFlow state
    such as a ``tf.device`` or distribution-strategy scope: call this outside them.
    """
    items = iter(items)
    head = list(islice(items, 2))  # a second item decides whether threads are worth starting
    if streams < 2 or len(head) < 2:
        yield from map(function, chain(head, items))
        return
    with ThreadPoolExecutor(streams) as pool:
        pending: deque = deque()
        try:
            for item in chain(head, items):
                pending.append(pool.submit(function, item))
                if len(pending) > streams:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
