"""The Keras callback that keeps a run folder up to date while ``fit`` runs."""

from __future__ import annotations

import csv
import io
import math
import time
from typing import Any

import keras
import numpy as np

from rnnkit.runs import RunFolder, atomic_write


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: history.csv, last.keras, best.keras on improvement, early stopping, divergence.

    The best weights are also kept in memory so training can end on them (early stopping
    restores the best epoch, whether or not it stopped early).
    """

    def __init__(self, run: RunFolder, monitor: str, patience: int | None, min_delta: float) -> None:
        super().__init__()
        self.run = run
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.best_value = math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.epochs_done = 0
        self.wait = 0
        self.diverged_epoch: int | None = None
        self.rows: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        number = epoch + 1
        if not all(math.isfinite(v) for v in logs.values()):
            # Nothing of this epoch is written: best.keras and last.keras keep the last good state.
            self.diverged_epoch = number
            self.model.stop_training = True
            return
        self.epochs_done = number
        seconds = time.perf_counter() - self._started
        self.rows.append({"epoch": number, **logs, "learning_rate": _learning_rate(self.model), "seconds": round(seconds, 3)})
        atomic_write(self.run.history, _csv_text(self.rows))
        atomic_write(self.run.last, self.model.save)
        value = logs[self.monitor]
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch, self.wait = value, number, 0
            self.best_weights = self.model.get_weights()
            atomic_write(self.run.best, self.model.save)
        else:
            self.wait += 1
            if self.patience is not None and self.wait > self.patience:
                self.model.stop_training = True
        self.run.write_status("running", epoch=number, best_epoch=self.best_epoch)


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
