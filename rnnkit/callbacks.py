"""The Keras callback that keeps a run folder up to date while the training loop runs."""

from __future__ import annotations

import csv
import io
import math
import time
from typing import Any

import keras
import numpy as np

from rnnkit.progress import Reporter, epoch_line
from rnnkit.runs import RunFolder, atomic_write, fault_point


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: checkpoints (last, and best on improvement), history.csv, status, early stopping.

    Everything needed to continue exactly (epoch, best value and epoch, patience counter, history
    rows, dropout RNG state) travels inside each checkpoint, so a checkpoint and its training
    state can never disagree. The best weights are also kept in memory so training can end on
    them, whether or not it stopped early.

    Args:
        run: the run folder.
        monitor: metric to minimise.
        patience: epochs without improvement before stopping (None: never).
        min_delta: smallest change that counts as an improvement.
        state: training state of a checkpoint to continue from.
        epochs: the planned number of epochs (named in each epoch's line).
        progress: told each epoch once it is saved; the same line goes to train.log.
    """

    def __init__(
        self,
        run: RunFolder,
        monitor: str,
        patience: int | None,
        min_delta: float,
        state: dict | None = None,
        *,
        epochs: int = 0,
        progress: Reporter | None = None,
    ) -> None:
        super().__init__()
        state = state or {}
        self.run = run
        self.epochs = epochs
        self.progress = progress or Reporter()
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        # Accuracy improves upwards, losses and errors downwards.
        self.sign = -1.0 if monitor.endswith("accuracy") else 1.0
        self.best_value = float(state.get("best_value", self.sign * math.inf))
        self.best_epoch = int(state.get("best_epoch", 0))
        self.wait = int(state.get("wait", 0))
        self.rows: list[dict[str, Any]] = list(state.get("rows", []))
        self.epochs_done = int(state.get("epoch", 0))
        self.best_weights = None
        self.diverged_epoch: int | None = None
        self._epoch = self.epochs_done
        self._started = time.perf_counter()
        if self.rows:
            atomic_write(self.run.history, _csv_text(self.rows))  # drop rows of epochs that were lost

    def should_stop(self) -> bool:
        """Whether early stopping had already fired in the state this recorder continues."""
        return self.patience is not None and self.wait > self.patience

    def restore_rng(self, model: keras.Model, state: dict) -> None:
        """Put the dropout RNG back where it was at the checkpoint."""
        for variable, value in zip(_seed_variables(model), state.get("seed_states", []), strict=False):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        fault_point("mid_epoch", self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        number = epoch + 1
        fault_point("epoch_end", number)
        if not all(math.isfinite(v) for v in logs.values()):
            # Nothing of this epoch is written: best.keras and last.keras keep the last good state.
            self.diverged_epoch = number
            self.model.stop_training = True
            return
        seconds = time.perf_counter() - self._started
        row = {"epoch": number, **logs, "learning_rate": _learning_rate(self.model), "seconds": round(seconds, 3)}
        value = logs[self.monitor]
        improved = self.sign * value < self.sign * self.best_value - self.min_delta
        if improved:
            self.best_value, self.best_epoch, self.wait = value, number, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
        self.rows.append(row)
        self.epochs_done = number
        state = {
            "epoch": number,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "rows": self.rows,
            "seed_states": [np.asarray(v).tolist() for v in _seed_variables(self.model)],
        }
        self.run.commit_checkpoints(self.model.save, ("last", "best") if improved else ("last",), state)
        atomic_write(self.run.history, _csv_text(self.rows))
        self.run.write_status("running", epoch=number, best_epoch=self.best_epoch)
        self.run.append_log(epoch_line(number, self.epochs, logs, seconds, eta=None))
        self.progress.epoch(number, self.epochs, logs, seconds)
        if self.should_stop():
            self.model.stop_training = True


def _seed_variables(model: keras.Model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _learning_rate(model) -> float:
    try:
        return float(np.asarray(model.optimizer.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return float("nan")


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
