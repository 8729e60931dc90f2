"""From a data config to arrays ready for windowing: clean, split, scale, and list window origins.

Rows of all series are stored once, contiguously per series, in one float32 matrix; a window is
named by its *origin* (the row of its last input step), so memory grows with rows, not with
rows x window. Windows are cut lazily later (:mod:`rnnkit.data.pipeline`).

Splitting is chronological within each series and happens before anything is fitted: the scaler
sees training rows only. A validation or test window may read inputs from before its split point,
but all of its targets lie inside its split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.config import Config
from rnnkit.data.readers import read_table, release_arrow_memory
from rnnkit.data.schema import BEYOND_FLOAT32, ColumnRoles, Preprocessor, too_large
from rnnkit.data.times import in_utc, infer_time_format, parse_times
from rnnkit.errors import DataError

SPLITS = ("train", "val", "test")
_SPLIT_CODE = {name: code for code, name in enumerate(SPLITS)}


@dataclass
class SeriesArrays:
    """Rows of every series, contiguous per series, with their split and window origins."""

    x: np.ndarray  # (rows, features) float32, scaled model inputs
    y: np.ndarray  # (rows, targets) float32, targets in model units
    y_raw: np.ndarray  # (rows, targets) float64, targets in original units
    times: np.ndarray  # (rows,) time of each row (or position when there is no time column)
    series: list  # id of each series, in storage order
    starts: np.ndarray  # (series,) first row of each series
    ends: np.ndarray  # (series,) one past the last row of each series
    row_split: np.ndarray  # (rows,) int8 code into SPLITS
    origins: dict[str, np.ndarray] = field(default_factory=dict)  # split -> int64 origin rows
    warnings: list[str] = field(default_factory=list)

    def series_of(self, rows: np.ndarray) -> np.ndarray:
        """Index into ``series`` of each given row."""
        return np.searchsorted(self.starts, rows, side="right") - 1


def used_columns(data: ColumnRoles) -> list[str]:
    """Columns read from data files: id, time, features and targets, each once."""
    names = [data.id, data.time, *data.features, *data.targets]
    return list(dict.fromkeys(n for n in names if n is not None))


def prepare_training_data(config: Config, pre: Preprocessor | None = None) -> tuple[Preprocessor, SeriesArrays]:
    """Read, clean and split the configured data, fit the preprocessing on training rows only.

    Args:
        config: the validated config.
        pre: a preprocessor fitted earlier (evaluate reuses the run's); ``None`` fits a new one.

    Returns:
        The fitted preprocessor (what schema.json stores) and the arrays of every split.

    Raises:
        DataError: unreadable files, bad cells, duplicate times, or too little data for one window.
    """
    data = config.data
    columns = used_columns(data)
    sources = [(split, path) for split, path in (("train", data.path), ("val", data.val_path), ("test", data.test_path)) if path]
    # One time format for every file: the run's, the config's, or the one the training file has.
    time_format = pre.time_format if pre is not None else None
    parts = []
    for split, path in sources:
        frame = read_table(path, columns)
        time_format = time_format or time_format_of(frame, data, path)
        frame = clean_frame(frame, data, path, time_format=time_format)
        if len(sources) > 1:  # without split files every row comes from data.path (code 0)
            frame["__source__"] = np.int8(_SPLIT_CODE[split])
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    del parts
    frame = fill_forward(order_series(frame, data, data.path), data, data.path)

    val_fraction = 0.0 if data.val_path else data.split.val
    test_fraction = 0.0 if data.test_path else data.split.test
    row_split = _assign_splits(frame, data, val_fraction, test_fraction)

    paths = [path for _, path in sources]
    if pre is None:
        pre = Preprocessor.fit(frame, row_split == 0, data, _time_kind(frame, data), time_format, _locator(paths))
    else:
        pre.check_frame(frame, data.path)
    arrays = _to_arrays(frame, pre, row_split, _locator(paths))
    del frame  # the arrays hold everything needed from here on
    release_arrow_memory()
    arrays.origins = {name: window_origins(arrays, pre, name, stride=(data.stride if name == "train" else 1)) for name in SPLITS}
    needed = pre.window + pre.horizon
    if len(arrays.origins["train"]) == 0:
        longest = int((arrays.row_split == 0).reshape(-1).sum()) if len(arrays.series) == 1 else _longest_train(arrays)
        raise DataError(
            f"{data.path}: no training windows: each series needs at least data.window + data.horizon = {needed} "
            f"rows in its training part; the longest has {longest}. Lower data.window or data.split fractions"
        )
    short = sum(1 for s, e in zip(arrays.starts, arrays.ends, strict=True) if e - s < needed)
    if short:
        arrays.warnings.append(f"{short} of {len(arrays.series)} series have fewer than {needed} rows and give no windows")
    for name in ("val", "test"):
        fraction = val_fraction if name == "val" else test_fraction
        explicit = data.val_path if name == "val" else data.test_path
        if (fraction > 0 or explicit) and len(arrays.origins[name]) == 0:
            arrays.warnings.append(
                f"the {name} split has no complete window (each needs {pre.horizon} target rows in the split); "
                f"its metrics are skipped"
            )
    return pre, arrays


def clean_frame(
    frame: pd.DataFrame,
    data: ColumnRoles,
    path: str | Path,
    row_offset: int = 0,
    numeric: Sequence[str] | None = None,
    time_format: str | None = None,
    check: Callable[[str, np.ndarray, Callable[[int], str]], None] | None = None,
    command: str | None = None,
) -> pd.DataFrame:
    """Check cells, parse a text time column and apply the ``error`` and ``drop`` missing-value policies.

    ``ffill`` needs rows in time order and is applied by :func:`fill_forward` after
    :func:`order_series`. Returns a frame with a fresh RangeIndex.

    Rows are named in errors as file lines (CSV, header is line 1) or 1-based rows (Parquet).

    Args:
        time_format: the format of a text time column (one resolved earlier, e.g. from the
            training file); ``None``: :func:`time_format_of` these rows.
        check: called as ``check(column, values, where)`` with the float values of each numeric
            column before any row is dropped, ``where(position)`` naming the file and line of a
            value (predict's training-range guard).
        command: the command reading a new file for a trained run (``predict``, ``evaluate
            --data``), which cannot change the run's missing-value policy; None for training.

    Raises:
        DataError: a non-numeric or infinite cell, a missing id or time, a time not in the
            column's format, or a missing value under ``missing: error``.
    """
    frame = frame.reset_index(drop=True)
    line = line_namer(path, row_offset)
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows (header only); expected at least one row per series")
    numeric = list(numeric) if numeric is not None else list(dict.fromkeys([*data.features, *data.targets]))
    for column in numeric:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_bool_dtype(values) else None
            if converted is None:
                raise DataError(f"{path}: column '{column}' holds true/false values; expected numbers")
            bad = converted.isna() & values.notna()
            if bad.any():
                first = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(f"{path}: {line(first)}, column '{column}': {values.iloc[first]!r} is not a number")
            frame[column] = converted
        values = frame[column].to_numpy()
        if values.dtype.kind != "f":  # float columns are checked as stored, without a float64 copy
            values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            first = int(np.flatnonzero(infinite)[0])
            raise DataError(f"{path}: {line(first)}, column '{column}': {values[first]} is not a finite number")
        if check is not None:
            check(column, values, lambda position: f"{path}: {line(position)}")
    for key in ("id", "time"):
        column = getattr(data, key)
        if column is not None and frame[column].isna().any():
            first = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise DataError(f"{path}: {line(first)}, column '{column}': the {key} column is empty; every row needs one")
    if data.time is not None and pd.api.types.is_datetime64_any_dtype(frame[data.time]):
        frame[data.time] = in_utc(frame[data.time])  # Parquet timestamps
    elif data.time is not None and not pd.api.types.is_numeric_dtype(frame[data.time]):
        time_format = time_format or time_format_of(frame, data, path, row_offset)
        frame[data.time] = parse_times(frame[data.time], time_format, path, data.time, line)
    if any(frame[column].isna().any() for column in numeric):
        missing = frame[numeric].isna()
        if data.missing == "error":
            row, col = np.argwhere(missing.to_numpy())[0]
            raise DataError(
                f"{path}: {line(int(row))}, column '{numeric[col]}': missing value; "
                + (
                    f"{command} needs every value, as the run was trained with data.missing: error "
                    "(fill the gap, or train a run with data.missing: drop or ffill)"
                    if command
                    else "set data.missing to drop or ffill to accept gaps"
                )
            )
        if data.missing == "drop":
            frame = frame[~missing.any(axis=1)].reset_index(drop=True)
    if len(frame) == 0:
        raise DataError(f"{path}: no rows left after dropping missing values (data.missing={data.missing})")
    return frame


def time_format_of(frame: pd.DataFrame, data: ColumnRoles, path: str | Path, row_offset: int = 0) -> str | None:
    """The format of the frame's text time column: ``data.time_format`` when set, else inferred
    from the column (:func:`rnnkit.data.times.infer_time_format`); ``None`` for no time column,
    or one that holds numbers or timestamps already.

    Raises:
        DataError: the column's format cannot be inferred (mixed or ambiguous).
    """
    column = data.time
    if column is None or column not in frame:
        return None
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    return data.time_format or infer_time_format(values, path, column, line_namer(path, row_offset))


def fill_forward(frame: pd.DataFrame, data: ColumnRoles, path: str | Path) -> pd.DataFrame:
    """Under ``missing: ffill``, carry values forward within each series; drop leading gaps."""
    numeric = list(dict.fromkeys([*data.features, *data.targets]))
    if data.missing != "ffill" or not frame[numeric].isna().any(axis=None):
        return frame
    if data.id is not None:
        frame[numeric] = frame.groupby(data.id, sort=False)[numeric].ffill()
    else:
        frame[numeric] = frame[numeric].ffill()
    frame = frame[~frame[numeric].isna().any(axis=1)].reset_index(drop=True)
    if len(frame) == 0:
        raise DataError(f"{path}: no rows left after forward-filling (every series starts with gaps)")
    return frame


def order_series(frame: pd.DataFrame, data: ColumnRoles, path: str | Path) -> pd.DataFrame:
    """Sort rows by series then time (stable), refusing duplicate times within a series."""
    keys = [k for k in (data.id, data.time) if k is not None]
    if data.time is not None and _already_ordered(frame, keys, strict=True):
        return frame  # times strictly increase within each series: nothing to sort, no duplicates
    single_file = "__source__" not in frame or frame["__source__"].nunique() <= 1
    if data.time is not None and single_file:
        # Name the file lines of a duplicate before sorting loses them.
        duplicated = np.flatnonzero(frame.duplicated(keys, keep=False).to_numpy())
        if len(duplicated):
            first = frame.loc[duplicated[0], keys]
            same = duplicated[(frame.loc[duplicated, keys] == first).all(axis=1).to_numpy()]
            line = line_namer(path, 0)
            where = f"series '{first[data.id]}', " if data.id else ""
            raise DataError(
                f"{path}: {where}column '{data.time}': time {first[data.time]} appears more than once "
                f"({line(int(same[0]))} and {line(int(same[1]))}); expected one row per time step in each series"
            )
    if keys and not _already_ordered(frame, keys):
        frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    if data.time is not None:
        same_series = frame[data.id].eq(frame[data.id].shift()) if data.id else pd.Series(True, index=frame.index)
        duplicated = same_series & frame[data.time].eq(frame[data.time].shift())
        if duplicated.any():
            row = int(np.flatnonzero(duplicated.to_numpy())[0])
            where = f"series '{frame[data.id].iloc[row]}', " if data.id else ""
            raise DataError(
                f"{path}: {where}column '{data.time}': time {frame[data.time].iloc[row]} appears more than once; "
                "expected one row per time step in each series"
            )
    return frame


def _already_ordered(frame: pd.DataFrame, keys: list[str], strict: bool = False) -> bool:
    # Files usually come sorted; skipping the sort then saves a full copy of the frame.
    # strict: the last key also never repeats within the first (no duplicate times).
    if len(keys) == 1:
        column = frame[keys[0]]
        if not strict:
            return bool(column.is_monotonic_increasing)
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column)):
            return False
        values = column.to_numpy()
        return bool(np.all(values[1:] > values[:-1]))
    first, second = frame[keys[0]], frame[keys[1]]
    if not first.is_monotonic_increasing:
        return False
    same = first.eq(first.shift()).to_numpy()
    step = (
        second.diff().to_numpy()
        if pd.api.types.is_numeric_dtype(second) or pd.api.types.is_datetime64_any_dtype(second)
        else None
    )
    if step is None:
        return False
    positive = step > (np.timedelta64(0) if pd.api.types.is_datetime64_any_dtype(second) else 0)
    return bool(np.all(positive[1:][same[1:]]))


def window_origins(arrays: SeriesArrays, pre: Preprocessor, split: str, stride: int = 1) -> np.ndarray:
    """Origins (rows of the last input step) of complete windows whose targets all lie in ``split``.

    A window never crosses a series boundary: its inputs and targets come from one series.
    """
    code = _SPLIT_CODE[split]
    chunks = []
    for start, end in zip(arrays.starts, arrays.ends, strict=True):
        first, last = start + pre.window - 1, end - pre.horizon - 1
        if last < first:
            continue
        # Splits are chronological, so all targets share a split when the first and last do.
        split = arrays.row_split
        keep = (split[first + 1 : last + 2] == code) & (split[first + pre.horizon : last + pre.horizon + 1] == code)
        origins = first + np.flatnonzero(keep).astype(np.int64)
        if stride > 1:
            origins = origins[(origins - origins[0]) % stride == 0] if len(origins) else origins
        chunks.append(origins)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


def summarize(pre: Preprocessor, arrays: SeriesArrays, missing_cells: int | None = None) -> dict:
    """Counts for ``rnnkit validate``: series, rows and windows per split, columns and scaling."""
    rows = {name: int((arrays.row_split == code).sum()) for name, code in _SPLIT_CODE.items()}
    windows = {name: len(arrays.origins.get(name, ())) for name in SPLITS}
    lengths = arrays.ends - arrays.starts
    return {
        "series": len(arrays.series),
        "rows": rows,
        "windows": windows,
        "series_length": {"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max())},
        "features": list(pre.features),
        "targets": list(pre.targets),
        "time": pre.time,
        "time_kind": pre.time_kind,
        "time_format": pre.time_format,
        "missing_values": missing_cells,
        "warnings": list(arrays.warnings),
    }


def count_missing(path: str | Path, columns: Sequence[str]) -> int:
    """Missing cells in the used columns of a file, before the missing-value policy applies."""
    return int(read_table(path, columns)[list(columns)].isna().sum().sum())


# --------------------------------------------------------------------------------------------


def _to_arrays(
    frame: pd.DataFrame, pre: Preprocessor, row_split: np.ndarray, locate: Callable[[str, float], str]
) -> SeriesArrays:
    if pre.id is not None:
        ids = frame[pre.id].to_numpy()
        boundaries = np.flatnonzero(frame[pre.id].ne(frame[pre.id].shift()).to_numpy())
        series = [ids[b].item() if hasattr(ids[b], "item") else ids[b] for b in boundaries]
    else:
        boundaries = np.array([0])
        series = [None]
    starts = boundaries.astype(np.int64)
    ends = np.append(starts[1:], len(frame)).astype(np.int64)
    times = frame[pre.time].to_numpy() if pre.time is not None else _positions(starts, ends)
    x, y = pre.transform_inputs(frame), pre.transform_targets(frame)
    for array, columns in ((x, pre.features), (y, pre.targets)):
        for index, column in enumerate(columns):
            finite = np.isfinite(array[:, index])
            if not finite.all():
                value = float(frame[column].iat[int(np.argmin(finite))])
                raise too_large(locate(column, value), column, value, BEYOND_FLOAT32)
    return SeriesArrays(
        x=x,
        y=y,
        y_raw=frame[list(pre.targets)].to_numpy(dtype=np.float64),
        times=times,
        series=series,
        starts=starts,
        ends=ends,
        row_split=row_split,
    )


def _locator(paths: Sequence[str | Path]) -> Callable[[str, float], str]:
    """``locate(column, value)``: the first file and line holding ``value`` in ``column``, for
    errors found after rows were sorted (the files are read again, on that error only)."""

    def locate(column: str, value: float) -> str:
        for path in paths:
            cells = pd.to_numeric(read_table(path, [column])[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            found = np.flatnonzero(cells == value)
            if len(found):
                return f"{path}: {line_namer(path)(int(found[0]))}"
        return str(paths[0])

    return locate


def _positions(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return np.concatenate([np.arange(e - s) for s, e in zip(starts, ends, strict=True)]) if len(starts) else np.zeros(0)


def _assign_splits(frame: pd.DataFrame, data, val: float, test: float) -> np.ndarray:
    source = frame["__source__"].to_numpy(dtype=np.int8) if "__source__" in frame else np.zeros(len(frame), np.int8)
    codes = source.copy()
    group = frame[data.id] if data.id else pd.Series(np.zeros(len(frame), np.int8), index=frame.index)
    # Position of each main-file row within its series, counted over main-file rows only.
    main = source == 0
    if data.id is None and main.all():  # one series, one file: the same rule on scalars
        size = np.int64(len(frame))
        n_test = np.rint(size * test).astype(np.int64)
        n_val = np.rint(size * val).astype(np.int64)
        codes[max(size - n_test - n_val, 0) :] = 1
        codes[max(size - n_test, 0) :] = 2
    else:
        keys = group[main]
        position = keys.groupby(keys, sort=False).cumcount().to_numpy()
        size = keys.groupby(keys, sort=False).transform("size").to_numpy()
        n_test = np.rint(size * test).astype(np.int64)
        n_val = np.rint(size * val).astype(np.int64)
        main_codes = np.zeros(main.sum(), np.int8)
        main_codes[position >= size - n_test - n_val] = 1
        main_codes[position >= size - n_test] = 2
        codes[main] = main_codes
    # Explicit split files must follow the training rows in time within each series.
    if data.val_path or data.test_path:
        previous = pd.Series(codes).groupby(group.to_numpy()).shift()
        backwards = previous.notna().to_numpy() & (codes < previous.fillna(0).to_numpy())
        if backwards.any():
            row = int(np.flatnonzero(backwards)[0])
            where = f"series '{frame[data.id].iloc[row]}' " if data.id else ""
            raise DataError(
                f"{data.path}: {where}has rows of the {SPLITS[codes[row]]} split after rows of a later split "
                "(time column "
                f"'{data.time}'); explicit val/test files must continue each series in time"
            )
    return codes


def _longest_train(arrays: SeriesArrays) -> int:
    train = arrays.row_split == 0
    return int(max(train[s:e].sum() for s, e in zip(arrays.starts, arrays.ends, strict=True)))


def _time_kind(frame: pd.DataFrame, data: ColumnRoles) -> str | None:
    if data.time is None:
        return None
    return "datetime" if pd.api.types.is_datetime64_any_dtype(frame[data.time]) else "numeric"


def line_namer(path: str | Path, row_offset: int = 0):
    """Names a row of a frame read from ``path`` (starting ``row_offset`` rows into the file) as
    the user finds it: a CSV file line (the header is line 1) or a 1-based Parquet row."""
    is_csv = str(path).lower().endswith((".csv", ".txt"))

    def name(position: int) -> str:
        return f"line {row_offset + position + 2}" if is_csv else f"row {row_offset + position + 1}"

    return name
