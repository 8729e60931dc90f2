"""Metrics in original units: forecast errors and classification counts, accumulated batch by batch
(NumPy only).

Each metric has one implementation, an accumulator: ``update(truth, predicted)`` adds a batch,
``result()`` gives the metrics of everything added. Evaluation in memory adds all of a split
at once; ``rnnkit evaluate --data`` adds one chunk of the file at a time.
"""

from __future__ import annotations

import numpy as np

# MAPE is undefined where the truth is zero; it is reported only when no |truth| is this small.
_MAPE_FLOOR = 1e-8


class ForecastMetrics:
    """Errors of forecasts against the truth, both ``(windows, horizon, targets)`` in original units.

    Sums of every error term are kept per step and target, so the result equals computing the
    metrics on all windows at once up to float rounding, whatever the batches.

    Args:
        targets: names of the target columns (last axis).
        naive_mae: in-sample one-step naive MAE of each target on training rows (MASE scale).
        horizon: forecast steps (second axis).
    """

    def __init__(self, targets: list[str], naive_mae: dict[str, float], horizon: int) -> None:
        self.targets = list(targets)
        self.naive_mae = dict(naive_mae)
        self.windows = 0
        cells = (horizon, len(self.targets))
        self._absolute = np.zeros(cells)
        self._squared = np.zeros(cells)
        self._smape = np.zeros(cells)
        self._relative = np.zeros(cells)  # |error| / |truth|, for MAPE
        self._near_zero = np.zeros(len(self.targets), dtype=bool)  # a truth within _MAPE_FLOOR of 0: no MAPE

    def update(self, truth: np.ndarray, predicted: np.ndarray) -> None:
        """Add the windows of a batch."""
        error = predicted - truth
        absolute = np.abs(error)
        denominator = np.abs(truth) + np.abs(predicted)
        magnitude = np.abs(truth)
        near_zero = magnitude <= _MAPE_FLOOR
        self._absolute += absolute.sum(axis=0)
        self._squared += (error**2).sum(axis=0)
        self._smape += np.where(denominator > 0, 2.0 * absolute / np.where(denominator > 0, denominator, 1.0), 0.0).sum(axis=0)
        self._relative += (absolute / np.where(near_zero, 1.0, magnitude)).sum(axis=0)
        self._near_zero |= near_zero.any(axis=(0, 1))
        self.windows += int(truth.shape[0])

    def result(self) -> dict:
        """The metrics of every window added (at least one).

        Returns:
            ``mae``, ``rmse``, ``smape`` (percent), ``mape`` (percent, or None where a truth is 0),
            ``mase`` (MAE over the naive scale, averaged over targets), ``windows``, plus
            ``per_step`` and ``per_target`` (several targets) breakdowns.
        """
        result = self._summary(np.arange(len(self.targets)))
        result["windows"] = self.windows
        cells = self.windows * len(self.targets)
        result["per_step"] = {
            "mae": [float(v) for v in self._absolute.sum(axis=1) / cells],
            "rmse": [float(v) for v in np.sqrt(self._squared.sum(axis=1) / cells)],
        }
        if len(self.targets) > 1:
            result["per_target"] = {name: self._summary(np.array([i])) for i, name in enumerate(self.targets)}
        return result

    def _summary(self, columns: np.ndarray) -> dict:
        """The overall metrics of the targets ``columns``."""
        steps = self._absolute.shape[0]
        cells = self.windows * steps * len(columns)
        scales = np.array([self.naive_mae.get(self.targets[i], np.nan) for i in columns], dtype=np.float64)
        per_target_mae = self._absolute[:, columns].sum(axis=0) / (self.windows * steps)
        mase = float(np.mean(per_target_mae / scales)) if np.all(np.isfinite(scales) & (scales > 0)) else None
        return {
            "mae": float(self._absolute[:, columns].sum() / cells),
            "rmse": float(np.sqrt(self._squared[:, columns].sum() / cells)),
            "smape": float(100.0 * self._smape[:, columns].sum() / cells),
            "mape": None if self._near_zero[columns].any() else float(100.0 * self._relative[:, columns].sum() / cells),
            "mase": mase,
        }


def skill(model: dict, baseline: dict) -> dict:
    """How the model compares with the baseline: relative MAE (below 1 is better) and skill score."""
    rel_mae = model["mae"] / baseline["mae"] if baseline["mae"] > 0 else None
    rel_rmse = model["rmse"] / baseline["rmse"] if baseline["rmse"] > 0 else None
    return {
        "rel_mae": rel_mae,
        "rel_rmse": rel_rmse,
        "skill_mae": None if rel_mae is None else 1.0 - rel_mae,
    }


class ConfusionMatrix:
    """Counts of (true class, predicted class), accumulated batch by batch.

    Args:
        labels: class names by id.
    """

    def __init__(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.matrix = np.zeros((len(self.labels), len(self.labels)), dtype=np.int64)

    @property
    def count(self) -> int:
        """Examples added (sequences, or unpadded steps)."""
        return int(self.matrix.sum())

    def update(self, truth: np.ndarray, predicted: np.ndarray) -> None:
        """Add class ids of a batch: ``truth`` and ``predicted`` of the same shape."""
        n = len(self.labels)
        pairs = truth.astype(np.int64).ravel() * n + predicted.astype(np.int64).ravel()
        self.matrix += np.bincount(pairs, minlength=n * n).reshape(n, n)

    def constant(self, index: int) -> ConfusionMatrix:
        """The matrix of a model that predicts class ``index`` for every example added here."""
        other = ConfusionMatrix(self.labels)
        other.matrix[:, index] = self.matrix.sum(axis=1)
        return other

    def result(self) -> dict:
        """:func:`classification_metrics` of the counts."""
        return classification_metrics(self.matrix, self.labels)


def classification_metrics(matrix: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support from a confusion matrix.

    Args:
        matrix: counts, rows the true class and columns the predicted one, in ``labels`` order.
        labels: class names by id.

    Returns:
        ``accuracy``, ``macro_f1``, ``per_class`` ({label: {precision, recall, f1, support}}),
        ``confusion_matrix`` (rows: truth, columns: prediction, in ``labels`` order), ``count``.
    """
    n = len(labels)
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_count = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(n), where=predicted_count > 0)
    recall = np.divide(true_positive, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    present = support > 0  # macro-F1 over the classes that occur in the truth
    return {
        "accuracy": float(true_positive.sum() / max(1, matrix.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "count": int(matrix.sum()),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": list(labels),
        "confusion_matrix": np.asarray(matrix).tolist(),
    }


def language_model_metrics(cross_entropy: float, tokens: int) -> dict:
    """Per-token cross-entropy (nats) and perplexity."""
    return {"cross_entropy": float(cross_entropy), "perplexity": float(np.exp(cross_entropy)), "tokens": int(tokens)}
