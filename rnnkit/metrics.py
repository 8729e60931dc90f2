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
