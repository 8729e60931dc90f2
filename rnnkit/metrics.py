"""Forecast metrics in original units, overall, per horizon step and per target (NumPy only)."""

from __future__ import annotations

import numpy as np

# MAPE is undefined where the truth is zero; it is reported only when no |truth| is this small.
_MAPE_FLOOR = 1e-8


def forecast_metrics(truth: np.ndarray, predicted: np.ndarray, targets: list[str], naive_mae: dict[str, float]) -> dict:
    """Errors of ``predicted`` against ``truth``, both ``(windows, horizon, targets)``.

    Args:
        truth: true values in original units.
        predicted: forecasts in original units.
        targets: names of the target columns (last axis).
        naive_mae: in-sample one-step naive MAE of each target on training rows (MASE scale).

    Returns:
        ``mae``, ``rmse``, ``smape`` (percent), ``mape`` (percent, or None where a truth is 0),
        ``mase`` (MAE over the naive scale, averaged over targets), ``windows``, plus
        ``per_step`` and ``per_target`` breakdowns.
    """
    error = predicted - truth
    result = _summary(truth, predicted, error, naive_mae, targets)
    result["windows"] = int(truth.shape[0])
    result["per_step"] = {
        "mae": [float(v) for v in np.abs(error).mean(axis=(0, 2))],
        "rmse": [float(v) for v in np.sqrt((error**2).mean(axis=(0, 2)))],
    }
    if len(targets) > 1:
        result["per_target"] = {
            name: _summary(truth[..., [i]], predicted[..., [i]], error[..., [i]], naive_mae, [name])
            for i, name in enumerate(targets)
        }
    return result


def skill(model: dict, baseline: dict) -> dict:
    """How the model compares with the baseline: relative MAE (below 1 is better) and skill score."""
    rel_mae = model["mae"] / baseline["mae"] if baseline["mae"] > 0 else None
    rel_rmse = model["rmse"] / baseline["rmse"] if baseline["rmse"] > 0 else None
    return {
        "rel_mae": rel_mae,
        "rel_rmse": rel_rmse,
        "skill_mae": None if rel_mae is None else 1.0 - rel_mae,
    }


def _summary(
    truth: np.ndarray, predicted: np.ndarray, error: np.ndarray, naive_mae: dict[str, float], targets: list[str]
) -> dict:
    absolute = np.abs(error)
    denominator = np.abs(truth) + np.abs(predicted)
    smape = np.where(denominator > 0, 2.0 * absolute / np.where(denominator > 0, denominator, 1.0), 0.0)
    mape = None
    if np.all(np.abs(truth) > _MAPE_FLOOR):
        mape = float(100.0 * np.mean(absolute / np.abs(truth)))
    scales = np.array([naive_mae.get(t, np.nan) for t in targets], dtype=np.float64)
    per_target_mae = absolute.reshape(-1, len(targets)).mean(axis=0)
    mase = float(np.mean(per_target_mae / scales)) if np.all(np.isfinite(scales) & (scales > 0)) else None
    return {
        "mae": float(absolute.mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "smape": float(100.0 * smape.mean()),
        "mape": mape,
        "mase": mase,
    }


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
        truth: true class ids (one per sequence, or per unpadded step).
        predicted: predicted class ids, same shape.
        labels: class names by id.

    Returns:
        ``accuracy``, ``macro_f1``, ``per_class`` ({label: {precision, recall, f1, support}}),
        ``confusion_matrix`` (rows: truth, columns: prediction, in ``labels`` order), ``count``.
    """
    n = len(labels)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (truth.astype(np.int64), predicted.astype(np.int64)), 1)
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
        "confusion_matrix": matrix.tolist(),
    }


def language_model_metrics(cross_entropy: float, tokens: int) -> dict:
    """Per-token cross-entropy (nats) and perplexity."""
    return {"cross_entropy": float(cross_entropy), "perplexity": float(np.exp(cross_entropy)), "tokens": int(tokens)}
