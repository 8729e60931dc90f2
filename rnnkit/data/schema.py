"""The preprocessing contract of a run: columns, dtypes, window and scaler statistics (schema.json).

One :class:`Preprocessor` is fitted on training rows at train time, written to ``schema.json``,
and read back by evaluate and predict, so every command transforms data identically.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import ConfigDict

from rnnkit.errors import DataError, RunError
from rnnkit.run_files import read_json_object, validate_record

SCHEMA_VERSION = 1
ALIGN_BYTES = 64  # TensorFlow wraps host memory aligned like this without copying it (rnnkit.data.pipeline)
# predict and evaluate --data refuse a value further than this many training standard deviations (or
# minmax ranges) from the training center: no model says anything there, and it is most often a
# unit or a typo (1e7 where 10 was meant), which would otherwise give silent garbage.
FAR_FROM_TRAINING = 1e6
FLOAT32_MAX = float(np.finfo(np.float32).max)  # models read float32: a scaled value beyond this is inf
BEYOND_FLOAT32 = "scaled, it is beyond float32, the model's input type"
_DISTANCE = {"standard": ("standard deviations", "mean"), "minmax": ("ranges (max - min)", "minimum")}


def aligned_empty(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``ALIGN_BYTES`` boundary."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(size + ALIGN_BYTES, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGN_BYTES
    return buffer[offset : offset + size].view(dtype).reshape(shape)


def load_schema(path: Path) -> dict[str, Any]:
    """Read schema.json as plain data (callers pick the preprocessor class by its ``task``).

    Raises:
        RunError: missing, unreadable, too large or deeply nested, or not a JSON object.
    """
    return read_json_object(path)


class SchemaRecord:
    """Round trip of the dataclasses that schema.json holds (one per task family).

    The dataclass is the definition of its file: :meth:`from_dict` validates schema.json against
    its fields (:func:`rnnkit.run_files.validate_record`), so a damaged or edited schema.json
    fails there, naming the field, rather than as a traceback or wrong numbers later.
    """

    # Strict: "8" is not 8 and true is not 1. Forbid: a field this rnnkit does not know could
    # change how data is transformed (a newer rnnkit's schema, or an edit), so it is refused.
    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for schema.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "schema.json"):
        """Rebuild from schema.json content, validated.

        Raises:
            RunError: not an object, another schema version, a missing, unknown or mistyped
                field, or a value out of range (the message names the field as a dotted path).
        """
        if not isinstance(data, dict):
            raise RunError(f"{source}: expected a JSON object at the top level. Received: {type(data).__name__}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise RunError(f"{source}: schema_version is {version!r}; this rnnkit reads version {SCHEMA_VERSION}")
        return validate_record(cls, data, source)

    @classmethod
    def load(cls, path: Path):
        """Read and rebuild from a schema.json file."""
        return cls.from_dict(load_schema(path), str(path))


class ColumnRoles(Protocol):
    """What cleaning needs to know about columns; both DataConfig and Preprocessor provide it."""

    id: str | None
    time: str | None
    time_format: str | None
    features: list[str]
    missing: str

    @property
    def targets(self) -> list[str]: ...


@dataclass
class Preprocessor(SchemaRecord):
    """Column roles, window geometry and per-column scaling fitted on training rows.

    Values are mapped to model units as ``(value - center) / scale``. Under ``detrend:
    last_value`` target columns have ``center = 0`` and ``scale`` = the standard deviation of
    their training first differences, and each window is then shifted by its last observed value
    (in :mod:`rnnkit.data.pipeline`), so the model learns changes rather than levels.
    """

    id: str | None
    time: str | None
    time_kind: str | None
    features: list[str]
    target_columns: list[str]
    window: int
    horizon: int
    scale: str
    missing: str
    detrend: str
    center: dict[str, float]
    spread: dict[str, float]
    dtypes: dict[str, str] = field(default_factory=dict)
    naive_mae: dict[str, float] = field(default_factory=dict)  # in-sample one-step naive MAE, for MASE
    sources: dict[str, str] = field(default_factory=dict)  # data file -> sha256 at train time (resume checks it)
    time_format: str | None = None  # of a text time column, given or inferred; None in older runs: inferred again
    # The time column's regular step in the training rows (regular_step): a number for numeric
    # times, a pandas frequency ('D', 'W-SUN', 'MS', 'h') for dates; None where irregular, without
    # a time column, and in older runs. Predict names the time of each forecast step with it.
    time_step: int | float | str | None = None
    task: str = "forecast"
    schema_version: int = SCHEMA_VERSION

    @property
    def targets(self) -> list[str]:
        return list(self.target_columns)

    @property
    def detrended_features(self) -> list[bool]:
        """For each feature, whether windows shift it by its last value (it is a detrended target)."""
        return [self.detrend == "last_value" and f in self.target_columns for f in self.features]

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        train_rows: np.ndarray,
        data,
        time_kind: str | None,
        time_format: str | None = None,
        locate: Callable[[str, float], str] | None = None,
    ) -> Preprocessor:
        """Fit scaling statistics on the training rows of ``frame`` (rows sorted by series and time).

        Args:
            time_format: the format the time column was parsed with, recorded for evaluate and predict.
            locate: ``locate(column, value)`` names the file and line of a value, for errors.

        Raises:
            DataError: statistics that overflow (values too large to scale), naming the largest value.
        """
        columns = list(dict.fromkeys([*data.features, *data.targets]))
        diffs = _train_first_differences(frame, _train_pairs(frame, train_rows, data), data.targets)
        center: dict[str, float] = {}
        spread: dict[str, float] = {}
        for column in columns:
            values = frame[column].to_numpy(dtype=np.float64)[train_rows]
            if data.detrend == "last_value" and column in data.targets:
                center[column] = 0.0
                spread[column] = scale_statistics(diffs[column], "standard")[1] if data.scale != "none" else 1.0
            else:
                center[column], spread[column] = scale_statistics(values, data.scale)
            check_statistics(column, values, center[column], spread[column], _namer(locate, column, values, data.path))
        dtypes = {c: str(frame[c].dtype) for c in [data.id, data.time, *columns] if c is not None}
        naive = {t: float(np.mean(np.abs(diffs[t]))) if len(diffs[t]) else float("nan") for t in data.targets}
        return cls(
            id=data.id,
            time=data.time,
            time_kind=time_kind,
            features=list(data.features),
            target_columns=list(data.targets),
            window=data.window,
            horizon=data.horizon,
            scale=data.scale,
            missing=data.missing,
            detrend=data.detrend,
            center=center,
            spread=spread,
            dtypes=dtypes,
            naive_mae=naive,
            time_format=time_format,
            time_step=regular_step(frame, train_rows, data, time_kind),
        )

    def transform_inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs ``(rows, features)`` as float32."""
        return self._scaled(frame, self.features)

    def transform_targets(self, frame: pd.DataFrame) -> np.ndarray:
        """Targets ``(rows, targets)`` in model units, as float32."""
        return self._scaled(frame, self.target_columns)

    def to_original(self, predictions: np.ndarray, last_raw: np.ndarray) -> np.ndarray:
        """Map model outputs ``(n, horizon, targets)`` back to original units.

        Args:
            predictions: model outputs.
            last_raw: ``(n, targets)`` last observed target values at each origin (used by detrending).
        """
        center = np.array([self.center[t] for t in self.target_columns])
        spread = np.array([self.spread[t] for t in self.target_columns])
        values = predictions.astype(np.float64) * spread
        if self.detrend == "last_value":
            return values + last_raw[:, None, :]
        return values + center

    def step_times(self, origins: np.ndarray) -> list | None:
        """The time each forecast step is for, from the times of the forecast origins: ``origin +
        k * time_step`` for ``k`` = 1..horizon (calendar steps for dates: a month start after a
        month start), one array per step; None without a regular step."""
        if self.time_step is None:
            return None
        if isinstance(self.time_step, str):
            index, offset = pd.DatetimeIndex(origins), pd.tseries.frequencies.to_offset(self.time_step)
            with warnings.catch_warnings():  # an offset pandas applies element by element warns; still right
                warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
                return [index + k * offset for k in range(1, self.horizon + 1)]
        return [origins + k * self.time_step for k in range(1, self.horizon + 1)]

    def check_frame(self, frame: pd.DataFrame, path: str | Path) -> None:
        """Refuse a frame whose time column is of another kind than in training."""
        if self.time is None:
            return
        kind = "datetime" if pd.api.types.is_datetime64_any_dtype(frame[self.time]) else "numeric"
        if kind != self.time_kind:
            raise DataError(
                f"{path}: column '{self.time}' holds {kind} values, but the model was trained on {self.time_kind} times"
            )

    def check_range(self, column: str, values: np.ndarray, where: Callable[[int], str]) -> None:
        """Refuse new values of ``column`` far outside the training range (:func:`check_in_range`)."""
        if column in self.center:
            detrended = self.detrend == "last_value" and column in self.target_columns
            check_in_range(column, values, self.center[column], self.spread[column], self.scale, where, detrended=detrended)

    def _scaled(self, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
        # Column by column into one float32 array: no (rows x columns) float64 temporaries.
        out = aligned_empty((len(frame), len(columns)), np.float32)
        for index, column in enumerate(columns):
            values = frame[column].to_numpy(dtype=np.float64)
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported by the caller
                out[:, index] = (values - self.center[column]) / self.spread[column]
        return out


def scale_statistics(values: np.ndarray, scale: str) -> tuple[float, float]:
    """``(center, spread)`` of training values: mean and standard deviation (``standard``), minimum
    and range (``minmax``), or 0 and 1 (``none``, or no values).

    A spread of zero (a constant column) becomes 1, which keeps the column constant instead of NaN.
    Statistics that overflow come back non-finite, for :func:`check_statistics` to report.
    """
    if scale == "none" or len(values) == 0:
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        if scale == "standard":
            center, spread = float(values.mean()), float(values.std())
        else:
            center, spread = float(values.min()), float(values.max() - values.min())
    return center, spread if not np.isfinite(spread) or spread > 1e-12 else 1.0


def check_statistics(column: str, values: np.ndarray, center: float, spread: float, where: Callable[[int], str]) -> None:
    """Refuse scaling statistics that overflowed, naming the training value of largest magnitude.

    Args:
        values: the column's training values; ``where(i)`` names the file and line of ``values[i]``.

    Raises:
        DataError: ``center`` or ``spread`` is not finite.
    """
    if np.isfinite(center) and np.isfinite(spread):
        return
    largest = int(np.argmax(np.abs(values)))
    why = f"its training statistics overflow: center {center:g}, spread {spread:g}"
    raise too_large(where(largest), column, values[largest], why)


def check_in_range(
    column: str,
    values: np.ndarray,
    center: float,
    spread: float,
    scale: str,
    where: Callable[[int], str],
    detrended: bool = False,
) -> None:
    """Refuse a new value more than ``FAR_FROM_TRAINING`` training spreads from the training center.

    Without a training spread to measure by (``scale: none``, or a detrended column, whose level
    may legitimately lie far from its changes), only a value whose scaled form overflows float32
    is refused.

    Args:
        values: the column's new values (NaN is ignored); ``where(i)`` names the file and line of ``values[i]``.

    Raises:
        DataError: naming the first such value and how far it is.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        distance = np.abs(values - center) / spread
    if scale == "none" or detrended:
        beyond = np.flatnonzero(distance > FLOAT32_MAX)
        if len(beyond):
            raise too_large(where(int(beyond[0])), column, values[beyond[0]], BEYOND_FLOAT32)
        return
    beyond = np.flatnonzero(distance > FAR_FROM_TRAINING)
    if len(beyond):
        first = int(beyond[0])
        unit, origin = _DISTANCE[scale]
        raise DataError(
            f"{where(first)}, column '{column}': {values[first]:g} is {distance[first]:.3g} training {unit} from the "
            f"training {origin} ({center:g}); values more than {FAR_FROM_TRAINING:g} away are refused as far outside "
            "anything the model was trained on (check the column's units)"
        )


def too_large(where: str, column: str, value: float, why: str) -> DataError:
    """The error for a value too large to scale: ``where`` names its file and line."""
    return DataError(
        f"{where}, column '{column}': {value:g} is too large to scale ({why}); rescale the column, e.g. to other units"
    )


def _namer(locate, column: str, values: np.ndarray, path) -> Callable[[int], str]:
    # Names values[i] by file and line where the caller can, else by file only.
    return lambda i: locate(column, float(values[i])) if locate is not None else str(path)


def regular_step(frame: pd.DataFrame, train_rows: np.ndarray, data, time_kind: str | None) -> int | float | str | None:
    """The one step between the times of consecutive training rows of every series, where there is one.

    Numbers: the step, when every difference equals it (integers exactly, floats to 1e-9 relative).
    Dates: the frequency pandas infers (``pd.infer_freq``) from the longest run of training rows,
    when every training row of every series is one step of it after the row before (so series on
    different anchors, say weeks ending on Sunday and on Monday, have none).

    Args:
        frame: rows sorted by series and time.
        train_rows: which rows are training rows.
        data: column roles (``id``, ``time``).
        time_kind: ``numeric`` or ``datetime``.

    Returns:
        An int or float step, a pandas frequency such as ``'D'``, ``'W-SUN'``, ``'MS'`` or
        ``'h'``; None without a time column, with no two consecutive training rows, or irregular.
    """
    if data.time is None:
        return None
    pairs = np.flatnonzero(_train_pairs(frame, train_rows, data))  # row i follows row i - 1
    if len(pairs) == 0:
        return None
    if time_kind == "numeric":
        times = frame[data.time].to_numpy()
        steps = times[pairs] - times[pairs - 1]
        if times.dtype.kind in "iu":
            return int(steps[0]) if (steps == steps[0]).all() else None
        return float(steps[0]) if np.allclose(steps, steps[0], rtol=1e-9, atol=0) else None
    times = pd.DatetimeIndex(frame[data.time])
    runs = np.flatnonzero(np.diff(pairs) != 1) + 1  # where a run of consecutive pairs breaks
    starts, ends = np.append(0, runs), np.append(runs, len(pairs))
    longest = int(np.argmax(ends - starts))
    first, last = pairs[starts[longest]] - 1, pairs[ends[longest] - 1]
    if last - first < 2:  # pandas infers a frequency from 3 times or more
        return None
    with warnings.catch_warnings():  # pandas 3 announces that infer_freq will return an offset
        warnings.simplefilter("ignore")
        inferred = pd.infer_freq(times[first : min(last, first + 1_000) + 1])
        if inferred is None:
            return None
        offset = pd.tseries.frequencies.to_offset(inferred)
        follows = times[pairs - 1] + offset == times[pairs]
    return offset.freqstr if follows.all() else None


def _train_pairs(frame: pd.DataFrame, train_rows: np.ndarray, data) -> np.ndarray:
    """Rows that follow a row of their own series, both training rows."""
    same_series = np.ones(len(frame), dtype=bool)
    if data.id is not None:
        same_series = frame[data.id].eq(frame[data.id].shift()).to_numpy(copy=True)
    same_series[:1] = False
    return same_series & train_rows & np.roll(train_rows, 1)


def _train_first_differences(frame: pd.DataFrame, pairs: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    # A difference counts only when both of its rows are training rows of the same series (pairs).
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing differences are reported by check_statistics
        return {c: np.diff(frame[c].to_numpy(dtype=np.float64), prepend=np.nan)[pairs] for c in columns}
