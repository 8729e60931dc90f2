"""Forecasting's scoring, pinned to values that can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import write_config

from rnnkit.config import load_config
from rnnkit.models import build_model
from rnnkit.tasks import get_task


def test_the_persistence_baseline_on_a_ramp_is_slope_times_the_mean_step(tmp_path):
    # On y = slope * t, repeating the last value misses step k by slope * k: its MAE over a horizon
    # of h steps is exactly slope * mean(1..h), whatever the model.
    slope, horizon = 2.5, 4
    frame = pd.DataFrame({"t": np.arange(80), "y": slope * np.arange(80.0)})
    frame.to_csv(tmp_path / "ramp.csv", index=False)
    config = load_config(
        write_config(
            tmp_path,
            tmp_path / "ramp.csv",
            data={"id": None, "time": "t", "features": ["y"], "target": "y", "window": 5, "horizon": horizon},
        )
    )
    task = get_task("forecast")
    pre, data = task.prepare(config)
    model = build_model(config.model, **task.model_kwargs(pre))
    for split in ("val", "test"):
        _, baseline = task.evaluate(model, pre, data, split)
        assert baseline["mae"] == slope * np.mean(np.arange(1, horizon + 1))
        assert baseline["per_step"]["mae"] == [slope * k for k in range(1, horizon + 1)]
        assert baseline["rmse"] == np.sqrt(np.mean((slope * np.arange(1, horizon + 1)) ** 2))
