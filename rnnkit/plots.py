"""PNG plots for the run folder: learning curves, forecasts against actuals, confusion matrices.

Matplotlib is imported inside each function (with the non-interactive Agg backend) so that
nothing else pays for it. Every plot is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.runs import atomic_write

_COLORS = {"train": "#1f77b4", "val": "#d62728", "actual": "#333333", "forecast": "#ff7f0e"}


def learning_curves(rows: Sequence[dict], best_epoch: int, monitor: str, path: Path) -> None:
    """Loss (and the task's metric) per epoch, training against validation, best epoch marked."""
    plt = _pyplot()
    epochs = [int(r["epoch"]) for r in rows]
    metrics = [m for m in ("loss", "mae", "accuracy") if any(m in r for r in rows)]
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [r.get(prefix + metric) for r in rows]
            if any(v is not None and v == v for v in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=label, color=_COLORS["val" if prefix else "train"])
        if best_epoch:
            axis.axvline(best_epoch, color="#888888", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric if metric != "loss" else f"loss (best by {monitor})")
        axis.grid(alpha=0.3)
        axis.legend(frameon=False, fontsize=8)
    _save(figure, path)


def forecasts(panels: Sequence[dict], target: str, path: Path) -> None:
    """Forecast against actual for a few series.

    Each panel: ``series`` (name), ``history_times`` / ``history`` (actual values before the
    origin), ``future_times`` / ``actual`` / ``forecast`` (the horizon), and ``baseline`` (the
    persistence forecast). The horizon is shaded.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), squeeze=False)
    for index, (axis, panel) in enumerate(zip(axes[:, 0], panels, strict=True)):
        # The actual line runs on through the horizon (dotted there), joined at the origin.
        future_x = [panel["history_times"][-1], *panel["future_times"]]
        axis.plot(panel["history_times"], panel["history"], color=_COLORS["actual"], linewidth=1.2, label="actual")
        axis.plot(future_x, [panel["history"][-1], *panel["actual"]], color=_COLORS["actual"], linewidth=1.2, linestyle=":")
        axis.plot(panel["future_times"], panel["forecast"], color=_COLORS["forecast"], marker="o", markersize=3, label="forecast")
        axis.plot(panel["future_times"], panel["baseline"], color="#999999", linestyle="--", linewidth=1, label="persistence")
        axis.axvspan(panel["future_times"][0], panel["future_times"][-1], color=_COLORS["forecast"], alpha=0.10, label="horizon")
        axis.set_title(f"{panel['series']}: {target}, forecast from the last {panel.get('split', 'test')} origin", fontsize=10)
        axis.grid(alpha=0.3)
        if index == 0:
            axis.legend(frameon=False, fontsize=8, loc="upper left", ncol=4)
    figure.autofmt_xdate()
    _save(figure, path)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: Path) -> None:
    """Counts of true (rows) against predicted (columns) labels, with each row's share shaded."""
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.55 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels=labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=10)
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                axis.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if shares[i, j] > 0.5 else "black",
                )
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of true label")
    _save(figure, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda temp: figure.savefig(temp, dpi=110, format="png"))
    _pyplot().close(figure)
