"""Sequence classification (one label per sequence) and tagging (one label per step).

Inputs are numeric channels (long or wide layout) or tokens of a text column. Sequences are
padded on the right and masked, so padding never changes a prediction; at predict time a batch is
padded only to its own longest sequence, so sequences longer than any seen in training work.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnkit.config import Config
from rnnkit.data.sequences import (
    SequenceArrays,
    SequencePreprocessor,
    SequenceStream,
    prepare_sequences,
    summarize_sequences,
)
from rnnkit.errors import DataError
from rnnkit.metrics import ConfusionMatrix
from rnnkit.progress import Reporter
from rnnkit.tasks.base import (
    Datasets,
    FileEvaluation,
    PredictStats,
    Task,
    epoch_datasets,
    in_order,
    prediction_streams,
    softmax,
)

EVAL_BATCH = 256


class SequenceTask(Task):
    metrics = ("accuracy",)
    preprocessor_class = SequencePreprocessor

    def __init__(self, name: str) -> None:
        self.name = name
        self.per_step = name == "tag"

    def prepare(self, config: Config, pre=None):
        return prepare_sequences(config, pre)

    def summarize(self, config: Config, pre: SequencePreprocessor, data: SequenceArrays) -> dict[str, Any]:
        return summarize_sequences(pre, data)

    def examples(self, data: SequenceArrays, split: str) -> int:
        return len(data.indices(split))

    def model_kwargs(self, pre: SequencePreprocessor) -> dict[str, Any]:
        return {
            "input_features": pre.input_width,
            "output_steps": 1,
            "output_dim": len(pre.labels),
            "window": min(pre.max_length, 64),
            "output_mode": "sequence" if self.per_step else "vector",
            "vocab_size": len(pre.vocab) + 2 if pre.is_text else None,
            "mask_inputs": not pre.is_text,
        }

    def example_steps(self, pre: SequencePreprocessor) -> int:
        return pre.max_length

    def loss(self, keras, config: Config):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def datasets(self, config: Config, pre: SequencePreprocessor, data: SequenceArrays, initial_epoch: int) -> Datasets:
        train, val = data.indices("train"), data.indices("val")
        val_cutter = self._cutter(pre, data, val) if len(val) else None
        datasets = epoch_datasets(
            config, self._cutter(pre, data, train), train, val_cutter, val, initial_epoch=initial_epoch, eval_batch=EVAL_BATCH
        )
        if config.train.class_weight == "balanced":
            weigh = self._weigher(pre, data, train)
            datasets.train = datasets.train.map(weigh)
            datasets.val = datasets.val.map(weigh) if datasets.val is not None else None
        return datasets

    def evaluate(self, model, pre: SequencePreprocessor, data: SequenceArrays, split: str):
        index = data.indices(split)
        if len(index) == 0:
            return None
        truth, predicted = self._predict_split(model, pre, data, index)
        train = data.indices("train")
        majority = int(np.bincount(self._train_labels(data, train), minlength=len(pre.labels)).argmax())
        counts = ConfusionMatrix(pre.labels)
        counts.update(truth, predicted)
        return self._scores(pre, counts, majority)

    def labelled_stream(
        self, pre: SequencePreprocessor, path: str | Path, chunk_rows: int, progress: Reporter | None = None
    ) -> SequenceStream:
        """The file as a labelled :class:`SequenceStream`, its columns and first rows checked."""
        stream = SequenceStream(pre, path, chunk_rows=chunk_rows, labelled=True, progress=progress)
        stream.check_input()
        return stream

    def evaluate_file(self, model, pre: SequencePreprocessor, stream: SequenceStream) -> FileEvaluation:
        """Every sequence of the file, scored chunk by chunk into a confusion matrix; the majority
        class is the run's training majority (in runs of older rnnkit, which did not record it,
        the file's own)."""
        infer = self._inference(model, pre)
        counts = ConfusionMatrix(pre.labels)
        streams = prediction_streams()
        for block in stream.blocks():
            sequences, labels = block.sequences, block.labels
            if self.per_step and pre.truncate_predict:  # as evaluation in memory: the last max_length steps
                sequences = [seq[-pre.max_length :] for seq in sequences]
                labels = [steps[-pre.max_length :] for steps in labels]
            predicted = self._outputs(infer, sequences, EVAL_BATCH, streams, lambda logits: logits.argmax(axis=-1))
            if self.per_step:
                counts.update(np.concatenate(labels), np.concatenate(predicted))
            else:
                counts.update(np.asarray(labels), np.asarray(predicted))
        if counts.count == 0:
            raise DataError(f"{stream.path}: no sequence to evaluate")
        if pre.majority_label is not None:
            majority = pre.labels.index(pre.majority_label)
        else:
            majority = int(counts.matrix.sum(axis=1).argmax())
        model_metrics, baseline = self._scores(pre, counts, majority)
        return FileEvaluation(model_metrics, baseline, lambda folder: self.plots(None, pre, None, "test", folder, model_metrics))

    def _scores(self, pre: SequencePreprocessor, counts: ConfusionMatrix, majority: int) -> tuple[dict, dict]:
        """``(model metrics, metrics of always predicting label id majority)``."""
        baseline = counts.constant(majority).result()
        baseline["predicts"] = pre.labels[majority]
        return counts.result(), baseline

    def plots(
        self, model, pre: SequencePreprocessor, data: SequenceArrays, split: str, folder: Path, metrics: dict
    ) -> list[Path]:
        """The confusion matrix of the split (from its metrics)."""
        from rnnkit import plots

        if "confusion_matrix" not in metrics:
            return []
        path = folder / f"confusion_{split}.png"
        title = f"{split}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
        plots.confusion_matrix(metrics["confusion_matrix"], metrics["labels"], title, path)
        return [path]

    def checked_stream(
        self, pre: SequencePreprocessor, input_path, chunk_rows: int, progress: Reporter | None = None
    ) -> SequenceStream:
        stream = SequenceStream(pre, input_path, chunk_rows=chunk_rows, progress=progress)
        stream.check_input()
        return stream

    def write_predictions(
        self,
        model,
        pre: SequencePreprocessor,
        stream: SequenceStream,
        writer,
        *,
        batch_size: int,
        last_only: bool,
        streams: int | None = None,
        layout: str = "wide",
    ):
        key = pre.id or "row"
        writer.columns = [
            key,
            *([pre.time or "step"] if self.per_step else []),
            pre.target,
            *[f"p_{label}" for label in pre.labels],
        ]
        infer = self._inference(model, pre)
        streams = prediction_streams(streams)
        rows = 0
        for block in stream.blocks():
            probabilities = self._outputs(infer, block.sequences, batch_size, streams, softmax)
            frame = self._output_frame(pre, key, block.ids, block.times, probabilities)
            writer.write(frame)
            rows += len(frame)
        return PredictStats(rows, stream.sequences, stream.rows_read)

    # ----------------------------------------------------------------------------------------

    def _inference(self, model, pre: SequencePreprocessor):
        # Batches of any size and length (predict pads each batch to its own longest sequence).
        import tensorflow as tf

        if pre.is_text:
            signature = tf.TensorSpec((None, None), tf.int32)
        else:
            signature = tf.TensorSpec((None, None, pre.input_width), tf.float32)
        return self.compiled_pass(model, signature)

    def _outputs(self, infer, sequences: list[np.ndarray], batch_size: int, streams: int, finish) -> list[np.ndarray]:
        """``finish(model outputs)`` for each sequence, in order: per step (tag, unpadded steps only)
        or per sequence. Sequences of similar lengths batch together, each batch padded to its own
        longest; ``streams`` batches run at once."""
        from rnnkit.data.seq_pipeline import pad_batch

        order = np.argsort([len(s) for s in sequences], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def run(chosen):
            return finish(np.asarray(infer(pad_batch([sequences[i] for i in chosen]))))

        outputs: list = [None] * len(sequences)
        with closing(in_order(run, batches, streams)) as results:
            for chosen, batch in zip(batches, results, strict=True):
                for position, i in enumerate(chosen):
                    outputs[i] = batch[position, : len(sequences[i])] if self.per_step else batch[position]
        return outputs

    def _cutter(self, pre: SequencePreprocessor, data: SequenceArrays, index: np.ndarray):
        from rnnkit.data.seq_pipeline import SequenceCutter

        # Sequences are cut to max_length when the config set it; otherwise held-out sequences
        # longer than every training sequence are padded to their own length, not cut.
        length = pre.max_length if pre.truncate_predict else max(pre.max_length, int(data.lengths[index].max()))
        return SequenceCutter(data.values, data.starts, data.lengths, data.labels, length, self.per_step)

    def _train_labels(self, data: SequenceArrays, train: np.ndarray) -> np.ndarray:
        if not self.per_step:
            return data.labels[train]
        return np.concatenate([data.labels[data.starts[i] : data.starts[i] + data.lengths[i]] for i in train])

    def _weigher(self, pre: SequencePreprocessor, data: SequenceArrays, train: np.ndarray):
        import tensorflow as tf

        counts = np.bincount(self._train_labels(data, train), minlength=len(pre.labels)).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / (len(pre.labels) * np.maximum(counts, 1)), 0.0)
        table = tf.constant(weights, tf.float32)
        return lambda x, y, w: (x, y, w * tf.gather(table, y))

    def _predict_split(self, model, pre: SequencePreprocessor, data: SequenceArrays, index: np.ndarray):
        from rnnkit.data.pipeline import ordered_dataset

        infer = self._inference(model, pre)

        def run(batch):
            x, y, w = batch
            return y.numpy(), np.asarray(infer(x)).argmax(axis=-1), w.numpy() > 0

        truths, predictions = [], []
        batches = ordered_dataset(self._cutter(pre, data, index), index, EVAL_BATCH)
        with closing(in_order(run, batches, prediction_streams())) as results:
            for y, predicted, keep in results:
                truths.append(y[keep] if self.per_step else y)
                predictions.append(predicted[keep] if self.per_step else predicted)
        return np.concatenate(truths), np.concatenate(predictions)

    def _output_frame(self, pre: SequencePreprocessor, key: str, ids, times, probabilities) -> pd.DataFrame:
        # Label and id columns are taken from arrays whose type pandas inferred once, on the labels
        # and on the block's ids: inferring it on every output row (object strings to pandas'
        # string type) was 10% of tagging's prediction time.
        labels = pd.Series(pre.labels).array
        if self.per_step:
            stacked = np.concatenate(probabilities)
            sequence = np.repeat(np.arange(len(ids)), [len(p) for p in probabilities])
            columns = {key: pd.Series(ids).array.take(sequence), pre.time or "step": np.concatenate(times)}
        else:
            stacked = np.stack(probabilities)
            columns = {key: ids}
        columns[pre.target] = labels.take(stacked.argmax(axis=-1))
        for index, label in enumerate(pre.labels):
            columns[f"p_{label}"] = stacked[:, index]
        return pd.DataFrame(columns)
