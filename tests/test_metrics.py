"""Metrics: one accumulator per kind, the same numbers whatever the batches."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.metrics import ConfusionMatrix, ForecastMetrics


def forecasts(windows: int = 50, horizon: int = 3, targets: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(10, 3, (windows, horizon, targets))
    return truth, truth + rng.normal(0, 1, truth.shape)


def test_forecast_metrics_by_hand():
    truth = np.array([[[2.0], [4.0]], [[1.0], [-2.0]]])  # 2 windows, 2 steps, 1 target
    predicted = np.array([[[3.0], [4.0]], [[1.0], [0.0]]])
    metrics = ForecastMetrics(["y"], {"y": 0.5}, horizon=2)
    metrics.update(truth, predicted)
    result = metrics.result()
    assert result["mae"] == pytest.approx((1 + 0 + 0 + 2) / 4)
    assert result["rmse"] == pytest.approx(np.sqrt((1 + 0 + 0 + 4) / 4))
    assert result["smape"] == pytest.approx(100 * (2 * 1 / 5 + 0 + 0 + 2 * 2 / 2) / 4)
    assert result["mape"] == pytest.approx(100 * (1 / 2 + 0 + 0 + 2 / 2) / 4)
    assert result["mase"] == pytest.approx(0.75 / 0.5)
    assert result["windows"] == 2
    assert result["per_step"] == {"mae": [0.5, 1.0], "rmse": [pytest.approx(np.sqrt(0.5)), pytest.approx(np.sqrt(2.0))]}
    assert "per_target" not in result


def test_forecast_metrics_in_batches_equal_all_at_once():
    truth, predicted = forecasts()
    whole = ForecastMetrics(["y", "x"], {"y": 1.5, "x": 2.0}, horizon=3)
    whole.update(truth, predicted)
    batched = ForecastMetrics(["y", "x"], {"y": 1.5, "x": 2.0}, horizon=3)
    for start in range(0, len(truth), 7):
        batched.update(truth[start : start + 7], predicted[start : start + 7])
    a, b = whole.result(), batched.result()
    assert set(a) == {"mae", "rmse", "smape", "mape", "mase", "windows", "per_step", "per_target"}
    assert a.keys() == b.keys() and a["windows"] == b["windows"] == 50
    for key in ("mae", "rmse", "smape", "mape", "mase"):
        assert b[key] == pytest.approx(a[key], rel=1e-12)
        for target in ("y", "x"):
            assert b["per_target"][target][key] == pytest.approx(a["per_target"][target][key], rel=1e-12)
    np.testing.assert_allclose(b["per_step"]["mae"], a["per_step"]["mae"], rtol=1e-12)
    # Per target: each target alone; overall MASE is the mean of the targets' MASE.
    alone = ForecastMetrics(["x"], {"x": 2.0}, horizon=3)
    alone.update(truth[..., 1:], predicted[..., 1:])
    for key in ("mae", "rmse", "smape", "mape", "mase"):
        assert a["per_target"]["x"][key] == pytest.approx(alone.result()[key], rel=1e-12)
    assert a["mase"] == pytest.approx((a["per_target"]["y"]["mase"] + a["per_target"]["x"]["mase"]) / 2)


def test_mape_and_mase_are_left_out_where_undefined():
    truth, predicted = forecasts(targets=2)
    truth[3, 1, 1] = 0.0  # a zero truth of target x, in one batch only
    metrics = ForecastMetrics(["y", "x"], {"y": 1.0, "x": float("nan")}, horizon=3)
    metrics.update(truth[:10], predicted[:10])
    metrics.update(truth[10:], predicted[10:])
    result = metrics.result()
    assert result["mape"] is None and result["per_target"]["x"]["mape"] is None
    assert result["per_target"]["y"]["mape"] is not None
    assert result["mase"] is None and result["per_target"]["x"]["mase"] is None and result["per_target"]["y"]["mase"] > 0


def test_confusion_matrix_accumulates_and_a_constant_baseline_counts_the_same_truth():
    labels = ["a", "b", "c"]
    truth = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    counts = ConfusionMatrix(labels)
    counts.update(truth[:4], predicted[:4])
    counts.update(truth[4:], predicted[4:])
    result = counts.result()
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert result["accuracy"] == pytest.approx(4 / 6) and result["count"] == 6
    assert result["per_class"]["c"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    majority = counts.constant(2).result()
    assert majority["confusion_matrix"] == [[0, 0, 2], [0, 0, 1], [0, 0, 3]]
    assert majority["accuracy"] == pytest.approx(0.5)
    assert majority["macro_f1"] == pytest.approx((0 + 0 + 2 * 0.5 * 1 / 1.5) / 3)
