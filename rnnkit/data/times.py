"""Time columns written as text: parsed with one format for the whole column, never cell by cell.

Guessing each cell's format separately reads ``13/01/2023`` as 13 January but ``02/01/2023`` as
February 1 in the same column, and so silently reorders rows. Here a column has one format: the
one given (``data.time_format``, or the one a run recorded in schema.json), or one inferred
from a sample of the column. ISO 8601 in any of its variants is inferred first; another format
only when exactly one reading parses every cell (a day-first column with a day above 12 has
one). An ambiguous or mixed column is a data error. The whole column is then parsed once with
that format, and every cell must parse.

Times written with a UTC offset are read as UTC instants, whatever offsets they carry (a
daylight-saving change); times with and without an offset cannot be mixed in one column.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.errors import DataError

ISO8601 = "ISO8601"  # pandas' name for ISO 8601 in any of its variants (dates, times, offsets, fractions)
SAMPLE_CELLS = 1_000  # cells, spread over the column, that a format is inferred from
GUESSED_CELLS = 20  # distinct sample cells whose formats are guessed to find the candidates

# A time of day followed by a UTC offset: "10:00+02:00", "10:00:00.5 -0330", "10:00Z".
_OFFSET = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"


def describe_format(time_format: str) -> str:
    """The format as messages show it."""
    return "ISO 8601" if time_format == ISO8601 else repr(time_format)


def infer_time_format(values: pd.Series, path: str | Path, column: str, line: Callable[[int], str]) -> str:
    """The one format that reads every cell of a text time column, inferred from a sample.

    Args:
        values: the column (missing cells are ignored).
        path, column: named in errors.
        line: ``line(position)`` names the row at ``position`` of ``values`` (``"line 7"``).

    Returns:
        ``ISO8601``, or the strftime format of the column.

    Raises:
        DataError: no format reads the sample (mixed formats, or cells that are no dates), or
            several formats read every cell with different results (day/month ambiguity).
    """
    values = _stripped(values)
    present = np.flatnonzero(values.notna().to_numpy())
    if len(present) == 0:
        return ISO8601
    positions = present[np.unique(np.linspace(0, len(present) - 1, min(len(present), SAMPLE_CELLS)).astype(np.int64))]
    sample = values.iloc[positions]
    if _parses(sample, ISO8601).all():
        return ISO8601
    candidates = _candidates(sample)
    fits = [fmt for fmt in candidates if _parses(sample, fmt).all()]
    if not fits:
        raise _mixed(path, column, line, sample, positions, [ISO8601, *candidates])
    fits = _distinct_readings(fits, sample)
    if len(fits) > 1:  # the sample cannot tell them apart: the whole column may
        cells = values.iloc[present]
        readers = [fmt for fmt in fits if _parses(cells, fmt).all()]
        if not readers:  # some cells read only one way, others only the other
            raise _mixed(path, column, line, cells, present, fits)
        fits = _distinct_readings(readers, cells)
        if len(fits) > 1:
            raise _ambiguous(path, column, cells, fits[:2])
    return fits[0]


def parse_times(values: pd.Series, time_format: str, path: str | Path, column: str, line: Callable[[int], str]) -> pd.Series:
    """Parse a text time column with one format; times with a UTC offset become UTC instants.

    Args:
        values: the column.
        time_format: ``ISO8601`` or a strftime format.
        path, column, line: name a cell in errors (``line`` as in :func:`infer_time_format`).

    Raises:
        DataError: a cell the format does not read, or times with and without a UTC offset.
    """
    values = _stripped(values)
    try:
        parsed = pd.to_datetime(values, format=time_format, errors="coerce")
    except ValueError:  # pandas refuses several UTC offsets in a column, or offsets mixed with none
        parsed = _times_in_utc(values, time_format, path, column, line)
    bad = parsed.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise _misfit(path, column, line(first), values.iloc[first], time_format)
    return in_utc(parsed)


def in_utc(times: pd.Series) -> pd.Series:
    """Times with a time zone as UTC instants; times without one unchanged."""
    return times.dt.tz_convert("UTC") if times.dt.tz is not None else times


def _stripped(values: pd.Series) -> pd.Series:
    # Spaces around a cell ("2024-01-02 ") are no part of its format; Arrow-backed text strips
    # fast. Other columns (dates read from Parquet as objects) are left as they are.
    return values.str.strip() if isinstance(values.dtype, pd.StringDtype) else values


def _parses(values: pd.Series, time_format: str) -> np.ndarray:
    """Which cells ``time_format`` reads (offsets of any kind allowed: only parsing is tested)."""
    return pd.to_datetime(values, format=time_format, errors="coerce", utc=True).notna().to_numpy() | values.isna().to_numpy()


def _candidates(sample: pd.Series) -> list[str]:
    """Formats pandas guesses for some distinct cells, read month-first and day-first, each also
    with day and month swapped, so both readings of a day/month column are always tried."""
    guesses: dict[str, None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when a guess contradicts dayfirst
        for cell in pd.unique(sample.astype(str))[:GUESSED_CELLS]:
            for dayfirst in (False, True):
                guess = pd.tseries.api.guess_datetime_format(cell, dayfirst=dayfirst)
                if guess is not None:
                    guesses[guess] = None
                    guesses[guess.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")] = None
    return list(guesses)


def _distinct_readings(formats: list[str], cells: pd.Series) -> list[str]:
    """One format per distinct result on ``cells`` (formats that read every cell alike are one)."""
    kept: list[str] = []
    readings: list[np.ndarray] = []
    for fmt in formats:
        reading = pd.to_datetime(cells, format=fmt, errors="coerce", utc=True).to_numpy()
        if not any(np.array_equal(reading, other) for other in readings):
            kept.append(fmt)
            readings.append(reading)
    return kept


def _times_in_utc(values: pd.Series, time_format: str, path: str | Path, column: str, line) -> pd.Series:
    """Times written with several UTC offsets, as UTC instants.

    Raises:
        DataError: some times have an offset and others none, which names no instant.
    """
    parsed = pd.to_datetime(values, format=time_format, errors="coerce", utc=True)  # what is not a time: NaT
    without = ~values.astype(str).str.strip().str.contains(_OFFSET, regex=True).to_numpy() & parsed.notna().to_numpy()
    if without.any():
        first = int(np.flatnonzero(without)[0])
        raise DataError(
            f"{path}: {line(first)}, column '{column}': {values.iloc[first]!r} has no UTC offset, but other times "
            "in the column have one; write every time with an offset, or none"
        )
    return parsed


def _misfit(path, column: str, where: str, cell, time_format: str) -> DataError:
    # A cell that is a date in some other format says so; one that is no date at all says that.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_date = pd.tseries.api.guess_datetime_format(str(cell)) is not None
    what = "is a date in another format than" if a_date else "is neither a number nor a date in the format of"
    return DataError(
        f"{path}: {where}, column '{column}': {cell!r} {what} the column's other times ({describe_format(time_format)}); "
        "write every time in one format, or set data.time_format (strftime, e.g. '%d/%m/%Y')"
    )


def _mixed(path, column: str, line, cells: pd.Series, positions: np.ndarray, formats: list[str]) -> DataError:
    """The first cell that the format reading most of ``cells`` does not read."""
    counts = {fmt: int(_parses(cells, fmt).sum()) for fmt in formats}
    best = max(formats, key=counts.__getitem__)
    if counts[best] == 0:  # no date format reads any cell
        numbers = pd.to_numeric(cells, errors="coerce").notna().to_numpy()
        if numbers.any() and not numbers.all():
            first = int(np.argmin(numbers))
            return DataError(
                f"{path}: {line(int(positions[first]))}, column '{column}': {cells.iloc[first]!r} is neither a number "
                "nor a date (the column's other times are numbers)"
            )
        return DataError(
            f"{path}: column '{column}': no date format could be inferred that reads its times (e.g. {cells.iloc[0]!r}); "
            "set data.time_format (strftime, e.g. '%d/%m/%Y')"
        )
    first = int(np.flatnonzero(~_parses(cells, best))[0])
    return _misfit(path, column, line(int(positions[first])), cells.iloc[first], best)


def _ambiguous(path, column: str, cells: pd.Series, formats: list[str]) -> DataError:
    first, second = (pd.to_datetime(cells, format=fmt, errors="coerce", utc=True).to_numpy() for fmt in formats)
    differ = pd.unique(cells[first != second].astype(str))[:2]
    examples = " and ".join(repr(cell) for cell in differ)
    return DataError(
        f"{path}: column '{column}': the times are ambiguous: every time reads as {formats[0]!r} and as "
        f"{formats[1]!r} with different dates (e.g. {examples}); set data.time_format to the right one, "
        f"e.g. data.time_format: '{formats[1]}'"
    )
