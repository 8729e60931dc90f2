"""Forecasting: windows of each series in, the next ``horizon`` steps of the targets out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.data.prepare import SeriesArrays, count_missing, prepare_eval_data, prepare_training_data, summarize
from rnnkit.data.schema import Preprocessor
from rnnkit.metrics import forecast_metrics, skill
from rnnkit.tasks.base import Datasets, PredictStats, Task, epoch_datasets, in_order, prediction_streams

# Windows per model call in validation and evaluation. 256 rather than 1,024: as fast with the
# wavefront loop (4,601 vs 4,379 windows/s) and 65 MiB lighter at peak training on 5M rows with
# val/test splits (+504 vs +569 MiB over the framework; docs/performance.md, section e).
EVAL_BATCH = 256
# rnnkit predict's batches (see predict_batch): for models with fewer recurrent weights than
# SMALL_MODEL, and for larger ones where each batch runs on one thread.
SMALL_MODEL = 20_000
SMALL_MODEL_BATCH = 4096
ONE_THREAD_BATCH = 512
_LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


class ForecastTask(Task):
    name = "forecast"
    preprocessor_class = Preprocessor
    metrics = ("mae",)
    baseline = "persistence (last observed value)"

    def prepare(self, config: Config, pre=None):
        return prepare_training_data(config, pre)

    def summarize(self, config: Config, pre, data) -> dict[str, Any]:
        paths = [p for p in (config.data.path, config.data.val_path, config.data.test_path) if p]
        columns = list(dict.fromkeys([*config.data.features, *config.data.targets]))
        return summarize(pre, data, missing_cells=sum(count_missing(p, columns) for p in paths))

    def examples(self, data: SeriesArrays, split: str) -> int:
        return len(data.origins.get(split, ()))

    def model_kwargs(self, pre: Preprocessor) -> dict[str, Any]:
        return {
            "input_features": len(pre.features),
            "output_steps": pre.horizon,
            "output_dim": len(pre.targets),
            "window": pre.window,
        }

    def loss(self, keras, config: Config):
        name = "mse" if config.train.loss == "auto" else config.train.loss
        return keras.losses.Huber() if name == "huber" else _LOSSES[name]

    def datasets(self, config: Config, pre: Preprocessor, data: SeriesArrays, initial_epoch: int) -> Datasets:
        from rnnkit.data.pipeline import WindowCutter

        cutter = WindowCutter(data.x, data.y, pre)
        return epoch_datasets(
            config, cutter, data.origins["train"], val=data.origins.get("val"), initial_epoch=initial_epoch, eval_batch=EVAL_BATCH
        )

    def evaluate(self, model, pre: Preprocessor, data: SeriesArrays, split: str):
        from rnnkit.data.pipeline import WindowCutter

        origins = data.origins.get(split)
        if origins is None or len(origins) == 0:
            return None
        infer = self._inference(model, pre)
        predictions = forecast(infer, WindowCutter(data.x, data.y, pre), origins, EVAL_BATCH)
        last = data.y_raw[origins]
        predicted = pre.to_original(predictions, last)
        truth = data.y_raw[origins[:, None] + np.arange(1, pre.horizon + 1)]
        persistence = np.repeat(last[:, None, :], pre.horizon, axis=1)
        model_metrics = forecast_metrics(truth, predicted, pre.targets, pre.naive_mae)
        baseline = forecast_metrics(truth, persistence, pre.targets, pre.naive_mae)
        model_metrics.update(skill(model_metrics, baseline))
        return model_metrics, baseline

    def file_data(self, pre: Preprocessor, path: str | Path) -> SeriesArrays:
        return prepare_eval_data(pre, path)

    def plots(self, model, pre: Preprocessor, data: SeriesArrays, split: str, folder: Path, metrics: dict) -> list[Path]:
        """Forecast against actual from the last origin of the split, for up to four series."""
        from rnnkit import plots
        from rnnkit.data.pipeline import WindowCutter

        origins = data.origins.get(split)
        if origins is None or len(origins) == 0:
            return []
        series = data.series_of(origins)
        last = np.array([origins[series == s].max() for s in np.unique(series)[:4]])
        infer = self._inference(model, pre)
        predicted = pre.to_original(forecast(infer, WindowCutter(data.x, data.y, pre), last, EVAL_BATCH), data.y_raw[last])
        panels = []
        for row, origin in enumerate(last):
            context = min(3 * pre.window, max(pre.window, 6 * pre.horizon))
            start = max(int(data.starts[data.series_of(np.array([origin]))[0]]), int(origin) - context + 1)
            future = np.arange(origin + 1, origin + pre.horizon + 1)
            name = data.series[data.series_of(np.array([origin]))[0]]
            panels.append(
                {
                    "series": "series" if name is None else str(name),
                    "history_times": data.times[start : origin + 1],
                    "history": data.y_raw[start : origin + 1, 0],
                    "future_times": data.times[future],
                    "actual": data.y_raw[future, 0],
                    "forecast": predicted[row, :, 0],
                    "baseline": np.repeat(data.y_raw[origin, 0], pre.horizon),
                    "split": split,
                }
            )
        path = folder / f"forecast_{split}.png"
        plots.forecasts(panels, pre.targets[0], path)
        return [path]

    def checked_stream(self, pre: Preprocessor, input_path, chunk_rows: int):
        """The input stream, its columns and first rows checked against the schema."""
        from rnnkit.data.predict_stream import ForecastStream

        stream = ForecastStream(pre, input_path, chunk_rows=chunk_rows)
        stream.check_input()
        return stream

    def predict_batch(self, model, *, one_thread: bool = False) -> int:
        """4,096 windows for a model of fewer than 20,000 recurrent weights; for larger ones 512
        where each batch runs on one thread of its own (``one_thread``, as in ``rnnkit predict``
        on a CPU), else 1,024.

        A small model's step at 1,024 windows is too little work to keep the cores busy: LSTM(16),
        LSTM(32) and GRU(64) forecasts ran 1.1-1.4x as fast at 4,096, while LSTM(64) x 2 ran
        0.96-1.10x and LSTM(128), alone or stacked, 0.8-0.9x. With one thread per batch, a
        larger model ran faster at 512 windows (perhaps because a step's gates then fit in the
        core's cache): LSTM(64) x 2, LSTM(128) and the reference LSTM(128) x 2 ran 1.09-1.15x as
        fast as at 1,024 (docs/performance.md, section d).
        """
        weights = sum(layer.count_params() for layer in model.recurrent_layers)
        if weights < SMALL_MODEL:
            return SMALL_MODEL_BATCH
        return ONE_THREAD_BATCH if one_thread else super().predict_batch(model)

    def write_predictions(
        self, model, pre: Preprocessor, stream, writer, *, batch_size: int, last_only: bool, streams: int | None = None
    ) -> PredictStats:
        """Forecast every block of the stream into the writer."""
        from rnnkit.data.pipeline import WindowCutter

        infer = self._inference(model, pre)
        writer.columns = stream.output_columns()
        rows = 0
        for block in stream.blocks(last_only=last_only):
            predictions = forecast(infer, WindowCutter(block.x, block.y, pre), block.origins, batch_size, streams)
            frame = stream.output_frame(block, pre.to_original(predictions, block.last_raw))
            writer.write(frame)
            rows += len(frame)
        return PredictStats(rows, stream.series_seen, stream.rows_read, stream.short_series)

    def _inference(self, model, pre: Preprocessor):
        # XLA-compiled once per model: evaluating and plotting val and test after training would
        # otherwise compile the same pass four times.
        import tensorflow as tf

        return self.compiled_pass(model, tf.TensorSpec((None, pre.window, len(pre.features)), tf.float32), jit_compile=True)


def forecast(infer, cutter, origins: np.ndarray, batch_size: int, streams: int | None = None) -> np.ndarray:
    """Model outputs ``(windows, horizon, targets)`` for the windows ending at ``origins``.

    Every batch reaches ``infer`` with ``batch_size`` windows (or all of them, when fewer), so an
    XLA-compiled ``infer`` compiles once: the origins are padded to whole batches by repeating the
    last one, and the padded rows are dropped from the output. Windows are gathered batch by batch with eager ops
    rather than through a tf.data pipeline, whose construction (tracing its map function, about
    0.1-0.3 s) cost more than the gathers it would overlap with the model (about 1% of a batch).

    ``streams`` batches (default: ``prediction_streams()``) are in flight at once, each gathered
    and run by its own thread (``in_order``): on 2 CPU cores two streams predict 1.16-1.26x as
    fast as one, at less CPU time per window (docs/performance.md, section d). Every batch is
    computed alone, so the outputs do not depend on the streams. Call this outside ``tf.device``
    and distribution-strategy scopes, which the threads would not inherit.
    """
    import tensorflow as tf

    from rnnkit.data.pipeline import num_batches

    count = len(origins)
    batch_size = max(1, min(batch_size, count))  # a few windows are never padded up to a large batch
    padded = np.empty(num_batches(count, batch_size) * batch_size, dtype=np.int64)
    padded[:count] = origins
    padded[count:] = origins[-1] if count else 0

    def run(start: int) -> np.ndarray:
        return infer(cutter.inputs(tf.constant(padded[start : start + batch_size]))).numpy()

    return np.concatenate(list(in_order(run, range(0, count, batch_size), prediction_streams(streams))))[:count]
