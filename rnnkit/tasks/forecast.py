"""Forecasting: windows of each series in, the next ``horizon`` steps of the targets out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import Config
from rnnkit.data.prepare import SeriesArrays, count_missing, prepare_training_data, summarize
from rnnkit.data.schema import Preprocessor
from rnnkit.errors import DataError
from rnnkit.metrics import ForecastMetrics, skill
from rnnkit.progress import Reporter
from rnnkit.tasks.base import Datasets, FileEvaluation, PredictStats, Task, epoch_datasets, in_order, prediction_streams

# Windows per model call in validation and evaluation. 256 rather than 1,024: as fast with the
# wavefront loop (4,601 vs 4,379 windows/s) and 65 MiB lighter at peak training on 5M rows with
# val/test splits (+504 vs +569 MiB over the framework; docs/performance.md, section e).
EVAL_BATCH = 256
# rnnkit predict's batches (see predict_batch): for models with fewer recurrent weights than
# SMALL_MODEL, and for larger ones where each batch runs on one thread.
SMALL_MODEL = 20_000
SMALL_MODEL_BATCH = 4096
ONE_THREAD_BATCH = 512
# Series drawn in the forecast plot (forecast against actual from each one's last origin).
PLOT_SERIES = 4
_LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


class ForecastTask(Task):
    name = "forecast"
    preprocessor_class = Preprocessor
    metrics = ("mae",)
    baseline = "persistence (last observed value)"
    predict_layouts = ("wide", "long")

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
        scores = _Scores(pre)
        scores.update(data.y_raw[origins[:, None] + np.arange(1, pre.horizon + 1)], pre.to_original(predictions, last), last)
        return scores.result()

    def labelled_stream(self, pre: Preprocessor, path: str | Path, chunk_rows: int, progress: Reporter | None = None):
        """The file as a labelled stream (:class:`ForecastStream`), its columns and first rows checked."""
        from rnnkit.data.predict_stream import ForecastStream

        stream = ForecastStream(pre, path, chunk_rows=chunk_rows, labelled=True, progress=progress)
        stream.check_input()
        return stream

    def evaluate_file(self, model, pre: Preprocessor, stream) -> FileEvaluation:
        """Every complete window of the file, scored chunk by chunk; the plot from the last origin
        of the file's first ``PLOT_SERIES`` series with a window."""
        from rnnkit.data.pipeline import WindowCutter

        infer = self._inference(model, pre)
        scores, panels = _Scores(pre), _Panels(pre)
        steps = np.arange(1, pre.horizon + 1)
        for block in stream.blocks():
            predicted = pre.to_original(
                forecast(infer, WindowCutter(block.x, block.y, pre), block.origins, EVAL_BATCH), block.last_raw
            )
            scores.update(block.known.targets[block.origins[:, None] + steps], predicted, block.last_raw)
            panels.update(block, predicted)
        if scores.windows == 0:
            raise DataError(f"{stream.path}: no complete window: each series needs at least {pre.window + pre.horizon} rows")
        model_metrics, baseline = scores.result()
        return FileEvaluation(model_metrics, baseline, lambda folder: panels.write(folder / "forecast_test.png", "test"))

    def plots(self, model, pre: Preprocessor, data: SeriesArrays, split: str, folder: Path, metrics: dict) -> list[Path]:
        """Forecast against actual from the last origin of the split, for up to ``PLOT_SERIES`` series."""
        from rnnkit import plots
        from rnnkit.data.pipeline import WindowCutter

        origins = data.origins.get(split)
        if origins is None or len(origins) == 0:
            return []
        series = data.series_of(origins)
        last = np.array([origins[series == s].max() for s in np.unique(series)[:PLOT_SERIES]])
        infer = self._inference(model, pre)
        predicted = pre.to_original(forecast(infer, WindowCutter(data.x, data.y, pre), last, EVAL_BATCH), data.y_raw[last])
        panels = []
        for row, origin in enumerate(last):
            start = max(int(data.starts[data.series_of(np.array([origin]))[0]]), int(origin) - plot_context(pre) + 1)
            future = np.arange(origin + 1, origin + pre.horizon + 1)
            name = data.series[data.series_of(np.array([origin]))[0]]
            panels.append(
                _panel(
                    name,
                    data.times[start : origin + 1],
                    data.y_raw[start : origin + 1, 0],
                    data.times[future],
                    data.y_raw[future, 0],
                    predicted[row, :, 0],
                    split,
                )
            )
        path = folder / f"forecast_{split}.png"
        plots.forecasts(panels, pre.targets[0], path)
        return [path]

    def checked_stream(self, pre: Preprocessor, input_path, chunk_rows: int, progress: Reporter | None = None):
        """The input stream, its columns and first rows checked against the schema."""
        from rnnkit.data.predict_stream import ForecastStream

        stream = ForecastStream(pre, input_path, chunk_rows=chunk_rows, progress=progress)
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
        self,
        model,
        pre: Preprocessor,
        stream,
        writer,
        *,
        batch_size: int,
        last_only: bool,
        streams: int | None = None,
        layout: str = "wide",
    ) -> PredictStats:
        """Forecast every block of the stream into the writer, in the ``layout`` of
        :data:`rnnkit.data.predict_stream.TABLES`."""
        from rnnkit.data.pipeline import WindowCutter
        from rnnkit.data.predict_stream import TABLES

        table = TABLES[layout](pre)
        infer = self._inference(model, pre)
        writer.columns = table.columns
        rows = 0
        for block in stream.blocks(last_only=last_only):
            predictions = forecast(infer, WindowCutter(block.x, block.y, pre), block.origins, batch_size, streams)
            frame = table.frame(block, pre.to_original(predictions, block.last_raw))
            writer.write(frame)
            rows += len(frame)
        return PredictStats(rows, stream.series_seen, stream.rows_read, stream.short_series)

    def _inference(self, model, pre: Preprocessor):
        # XLA-compiled once per model: evaluating and plotting val and test after training would
        # otherwise compile the same pass four times.
        import tensorflow as tf

        return self.compiled_pass(model, tf.TensorSpec((None, pre.window, len(pre.features)), tf.float32), jit_compile=True)


class _Scores:
    """The model's and the persistence baseline's metrics, accumulated batch by batch."""

    def __init__(self, pre: Preprocessor) -> None:
        self.model = ForecastMetrics(pre.targets, pre.naive_mae, pre.horizon)
        self.persistence = ForecastMetrics(pre.targets, pre.naive_mae, pre.horizon)
        self.horizon = pre.horizon

    @property
    def windows(self) -> int:
        return self.model.windows

    def update(self, truth: np.ndarray, predicted: np.ndarray, last: np.ndarray) -> None:
        """Add windows: their truth and forecasts ``(windows, horizon, targets)`` and last observed values."""
        self.model.update(truth, predicted)
        self.persistence.update(truth, np.repeat(last[:, None, :], self.horizon, axis=1))

    def result(self) -> tuple[dict, dict]:
        """``(model metrics with skill against the baseline, baseline metrics)``."""
        model, baseline = self.model.result(), self.persistence.result()
        model.update(skill(model, baseline))
        return model, baseline


def plot_context(pre: Preprocessor) -> int:
    """Rows of history drawn before each forecast in the forecast plot, the origin's included."""
    return min(3 * pre.window, max(pre.window, 6 * pre.horizon))


def _panel(name, history_times, history, future_times, actual, predicted, split: str) -> dict:
    """One panel of :func:`rnnkit.plots.forecasts`; the baseline repeats the last observed value."""
    return {
        "series": "series" if name is None else str(name),
        "history_times": history_times,
        "history": history,
        "future_times": future_times,
        "actual": actual,
        "forecast": predicted,
        "baseline": np.repeat(history[-1], len(actual)),
        "split": split,
    }


@dataclass
class _Tail:
    """The last rows of one series (position in the series, time, first target) and the forecast
    from its latest origin."""

    positions: np.ndarray
    times: np.ndarray
    values: np.ndarray
    name: Any = None
    origin: int = -1
    forecast: np.ndarray | None = None

    def add(self, positions: np.ndarray, times: np.ndarray, values: np.ndarray, keep: int) -> None:
        """Append the rows not kept yet (blocks repeat the rows a series carries), keep the last ``keep``."""
        new = positions > (self.positions[-1] if len(self.positions) else -1)
        self.positions = np.concatenate([self.positions, positions[new]])[-keep:]
        self.times = np.concatenate([self.times, times[new]])[-keep:]
        self.values = np.concatenate([self.values, values[new]])[-keep:]


class _Panels:
    """What the forecast plot of a streamed file needs, and no more: for the file's first
    ``PLOT_SERIES`` series that have a complete window (in order of first appearance), the last
    ``plot_context + horizon`` rows seen and the forecast from the latest origin.

    A series is taken at its first window, whose block holds every row of the series so far (a
    series carries ``window - 1 + horizon`` rows between chunks, enough for its first window).
    """

    def __init__(self, pre: Preprocessor) -> None:
        self.pre = pre
        self.context = plot_context(pre)
        self.tails: dict[int, _Tail] = {}  # by the series' rank in the file

    def update(self, block, predicted: np.ndarray) -> None:
        """Keep what the plot needs from a block of a labelled stream and its forecasts (original units)."""
        known = block.known
        origin_ranks = known.ranks[block.origins]
        for rank in np.unique(origin_ranks).tolist():  # lowest first
            rows = np.flatnonzero(known.ranks == rank)
            if rank not in self.tails:
                if len(self.tails) == PLOT_SERIES:
                    if rank > max(self.tails):
                        continue
                    del self.tails[max(self.tails)]
                self.tails[rank] = _Tail(known.positions[:0], known.times[:0], known.targets[:0, 0])
            tail = self.tails[rank]
            tail.add(known.positions[rows], known.times[rows], known.targets[rows, 0], self.context + self.pre.horizon)
            latest = int(np.flatnonzero(origin_ranks == rank)[-1])
            tail.name, tail.origin, tail.forecast = (
                block.ids[latest],
                int(known.positions[block.origins[latest]]),
                predicted[latest, :, 0],
            )

    def write(self, path: Path, split: str) -> list[Path]:
        """Draw the panels into ``path``; returns ``[path]``, or nothing without a window."""
        from rnnkit import plots

        panels = []
        for rank in sorted(self.tails):
            tail = self.tails[rank]
            history = (tail.positions <= tail.origin) & (tail.positions > tail.origin - self.context)
            future = tail.positions > tail.origin
            panels.append(
                _panel(
                    tail.name,
                    tail.times[history],
                    tail.values[history],
                    tail.times[future],
                    tail.values[future],
                    tail.forecast,
                    split,
                )
            )
        if not panels:
            return []
        plots.forecasts(panels, self.pre.targets[0], path)
        return [path]


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
