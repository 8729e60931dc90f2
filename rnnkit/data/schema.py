"""The preprocessing contract of a run: columns, dtypes, window and scaler statistics (schema.json).

One :class:`Preprocessor` is fitted on training rows at train time, written to ``schema.json``,
and read back by evaluate and predict, so every command transforms data identically.
"""

from __future__ import annotations

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
    def fit(cls, frame: pd.DataFrame, train_rows: np.ndarray, data, time_kind: str | None) -> Preprocessor:
        """Fit scaling statistics on the training rows of ``frame`` (rows sorted by series and time)."""
        columns = list(dict.fromkeys([*data.features, *data.targets]))
        diffs = _train_first_differences(frame, train_rows, data, data.targets)
        center: dict[str, float] = {}
        spread: dict[str, float] = {}
        for column in columns:
            values = frame[column].to_numpy(dtype=np.float64)[train_rows]
            if data.detrend == "last_value" and column in data.targets:
                center[column] = 0.0
                spread[column] = _safe(np.std(diffs[column])) if data.scale != "none" else 1.0
            elif data.scale == "standard":
                center[column] = float(values.mean())
                spread[column] = _safe(values.std())
            elif data.scale == "minmax":
                center[column] = float(values.min())
                spread[column] = _safe(values.max() - values.min())
            else:
                center[column], spread[column] = 0.0, 1.0
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

    def check_frame(self, frame: pd.DataFrame, path: str | Path) -> None:
        """Refuse a frame whose time column is of another kind than in training."""
        if self.time is None:
            return
        kind = "datetime" if pd.api.types.is_datetime64_any_dtype(frame[self.time]) else "numeric"
        if kind != self.time_kind:
            raise DataError(
                f"{path}: column '{self.time}' holds {kind} values, but the model was trained on {self.time_kind} times"
            )

    def _scaled(self, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
        # Column by column into one float32 array: no (rows x columns) float64 temporaries.
        out = aligned_empty((len(frame), len(columns)), np.float32)
        for index, column in enumerate(columns):
            values = frame[column].to_numpy(dtype=np.float64)
            out[:, index] = (values - self.center[column]) / self.spread[column]
        return out


def _safe(value: float) -> float:
    # A constant column has no spread; dividing by 1 keeps it constant instead of NaN.
    value = float(value)
    return value if np.isfinite(value) and value > 1e-12 else 1.0


def _train_first_differences(frame: pd.DataFrame, train_rows: np.ndarray, data, columns: list[str]) -> dict[str, np.ndarray]:
    same_series = np.ones(len(frame), dtype=bool)
    if data.id is not None:
        same_series = frame[data.id].eq(frame[data.id].shift()).to_numpy(copy=True)
    same_series[0] = False
    # A difference counts only when both of its rows are training rows of the same series.
    valid = same_series & train_rows & np.roll(train_rows, 1)
    return {c: np.diff(frame[c].to_numpy(dtype=np.float64), prepend=np.nan)[valid] for c in columns}
