"""Streaming input and output of forecasts: bounded memory however large the file.

The input (of ``rnnkit predict``, or the labelled file of ``rnnkit evaluate --data``) is read in
chunks; each series keeps only its last rows between chunks (enough to complete the next window,
and under evaluation its targets), so memory is bounded by the chunk size plus ``window`` (and
``horizon``) rows per series. The output is written to a temporary file beside the target and
renamed into place only when complete.
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.prepare import clean_frame, line_namer, time_format_of
from rnnkit.data.readers import Table, require_columns, table_format
from rnnkit.data.schema import Preprocessor
from rnnkit.errors import ConfigError, DataError, ResourceError
from rnnkit.files import describe_os_error, file_kind, fsync_dir, remove_dead_temporaries, temporary_sibling
from rnnkit.progress import Reporter


@dataclass
class KnownRows:
    """What evaluation needs besides the windows: each row's series, position and time, and the
    targets in original units (for the truth after each origin)."""

    ranks: np.ndarray  # (rows,) each row's series: its rank in the file (order of first appearance)
    positions: np.ndarray  # (rows,) each row's 0-based position within its whole series
    times: np.ndarray  # (rows,) time of each row (its position without a time column)
    targets: np.ndarray  # (rows, targets) float64, original units


@dataclass
class Block:
    """Rows of one chunk (with each series' carried-over rows) and the window origins to forecast."""

    x: np.ndarray  # (rows, features) scaled inputs
    y: np.ndarray  # (rows, targets) targets in model units (zeros when the input has none)
    origins: np.ndarray  # (windows,) rows of the last input step
    last_raw: np.ndarray  # (windows, targets) last observed target values, original units
    ids: np.ndarray  # (windows,) series id of each window
    times: np.ndarray  # (windows,) time (or position) of each origin
    known: KnownRows | None = None  # labelled streams only


class ForecastStream:
    """Reads a forecasting file in chunks and yields blocks of windows to forecast.

    With ``labelled`` (``rnnkit evaluate --data``) the targets are read too, and a window is
    yielded once the ``horizon`` rows after its origin have arrived, with the rows it needs for
    scoring (:class:`KnownRows`): each series then carries ``window - 1 + horizon`` rows between
    chunks.
    """

    def __init__(
        self,
        pre: Preprocessor,
        path: str | Path | pd.DataFrame,
        chunk_rows: int = 200_000,
        *,
        labelled: bool = False,
        progress: Reporter | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise ConfigError(f"--chunk-rows must be at least 1. Received: {chunk_rows}")
        self.pre = pre
        self.table = Table(path)
        self.path = self.table.name  # named in messages: the file, or "DataFrame"
        self.chunk_rows = chunk_rows
        self.progress = progress or Reporter()  # told the rows read, chunk by chunk
        self.labelled = labelled
        self.command = "evaluate --data" if labelled else "predict"  # named in errors
        # Rows after an origin that must have arrived before its window is yielded: its targets.
        self.lag = pre.horizon if labelled else 0
        # Targets are read when the model needs them (as inputs, or as the anchor of detrending)
        # or evaluation does.
        self.has_targets = labelled or pre.detrend == "last_value" or set(pre.targets) <= set(pre.features)
        self.columns = list(
            dict.fromkeys(c for c in [pre.id, pre.time, *pre.features, *(pre.targets if self.has_targets else [])] if c)
        )
        self.numeric = list(dict.fromkeys([*pre.features, *(pre.targets if self.has_targets else [])]))
        self.time_format = pre.time_format  # None in runs of older rnnkit: inferred from the first chunk
        self.series_seen = 0
        self.rows_read = 0
        self.short_series = 0  # series with fewer rows than one window, so no forecast

    @property
    def text(self) -> list[str]:
        """Columns read as written: a CSV's id column, so that "007" stays "007" and an id that
        looks like a number in one chunk and like text in another stays one series. Parquet ids
        keep their stored type."""
        return [self.pre.id] if self.pre.id is not None and self.table.is_csv else []

    def check_input(self) -> None:
        """Check the file, its columns and the dtypes of its first rows against the schema.

        Raises:
            DataError: naming the first problem.
        """
        require_columns(self.path, self.table.columns(), self.columns)
        first = next(self.table.chunks(self.columns, min(self.chunk_rows, 10_000), text=self.text), None)
        if first is None or len(first) == 0:
            raise DataError(f"{self.path}: no data rows (header only)")
        self._clean(first, 0)

    def blocks(self, last_only: bool = False) -> Iterator[Block]:
        """Yield one block per input chunk (or, with ``last_only``, one block at the end).

        A chunk is handled with array operations over all of its series at once, not a loop over
        series: on a file of 57,600 short series that loop took 75 s of a 90 s predict.
        """
        pre = self.pre
        # Rows each series carries into the next chunk: what its next windows need (and their
        # targets, when labelled), and under ffill at least one, to fill a gap at the start of the
        # next chunk.
        keep = pre.window if last_only else max(pre.window - 1 + self.lag, int(pre.missing == "ffill"))
        carry = _Carry()
        offset = 0
        with self.progress.task(self.command, total=self.table.rows(), unit="rows") as reading:
            for chunk in self.table.chunks(self.columns, self.chunk_rows, text=self.text):
                size = len(chunk)
                reading.advance(size)
                chunk = self._clean(chunk, offset)
                group = self._series(chunk, carry, offset)
                offset += size
                self.rows_read += size
                if not last_only:
                    # Earlier chunks yielded the origins whose targets they held; an origin is yielded
                    # once its targets are here (lag rows after it).
                    first = np.maximum(pre.window - 1, group.carried - self.lag)[group.codes]
                    complete = group.position < group.sizes[group.codes] - self.lag
                    origins = np.flatnonzero((group.position >= first) & complete)
                    if len(origins):
                        series = group.codes[origins]
                        known = self._known(group) if self.labelled else None
                        if known is not None:  # an origin may be a carried row
                            times = known.times[origins]
                        elif pre.time is not None:  # as read in this chunk, whatever type the carried rows had
                            times = chunk[pre.time].to_numpy()[group.source[origins]]
                        else:  # without a time column an origin is named by its 0-based row within its series
                            times = group.base[series] + group.position[origins]
                        yield self._block(group.rows, origins, group.keys[series], times, known)
                carry.keep(group, keep)
        self.series_seen = carry.series
        self.short_series = int((carry.counts[: carry.series] < pre.window).sum())
        if last_only:
            rows, ranks = carry.ordered()
            ends = np.flatnonzero(np.append(ranks[1:] != ranks[:-1], True)) if len(ranks) else ranks  # series' last rows
            ends = ends[np.diff(np.append(-1, ends)) >= pre.window]
            if len(ends):
                times = rows[pre.time].to_numpy()[ends] if pre.time is not None else carry.counts[ranks[ends]] - 1
                yield self._block(rows, ends, carry.keys[ranks[ends]], times)

    # ----------------------------------------------------------------------------------------

    def _clean(self, chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
        """The one place a chunk of input is checked: its cells, its times (in the run's time
        format, the same for every chunk), their kind, and values far outside the training range."""
        if self.time_format is None:
            self.time_format = time_format_of(chunk, self.pre, self.path, offset)
        chunk = clean_frame(
            chunk,
            self.pre,
            self.path,
            row_offset=offset,
            numeric=self.numeric,
            time_format=self.time_format,
            check=self.pre.check_range,
            command=self.command,
        )
        self.pre.check_frame(chunk, self.path)
        return chunk

    def _series(self, chunk: pd.DataFrame, carry: _Carry, offset: int) -> _Series:
        """The chunk's rows after the rows each of its series carries over, grouped by series in
        order of first appearance, time order checked and (under ``ffill``) gaps filled."""
        self._check_time_zones(chunk, carry, offset)
        if self.pre.id is None:
            codes, keys = np.zeros(len(chunk), np.int64), np.array([None], dtype=object)
        else:
            codes, uniques = pd.factorize(chunk[self.pre.id])
            keys = np.asarray(uniques, dtype=object)
        ranks = carry.rank(keys)
        carried_rows, carried_codes = carry.take(ranks)
        rows = pd.concat([carried_rows, chunk], ignore_index=True) if len(carried_rows) else chunk
        codes = np.concatenate([carried_codes, codes])
        source = np.concatenate([np.full(len(carried_codes), -1), np.arange(len(chunk))])
        order = np.argsort(codes, kind="stable")  # a series' carried rows stay before its new ones
        rows, codes, source = rows.take(order).reset_index(drop=True), codes[order], source[order]
        self._check_order(rows, codes, keys, chunk, source)
        if self.pre.missing == "ffill":
            filled = rows[self.numeric].groupby(codes).ffill().to_numpy(dtype=np.float64)
            rows[self.numeric] = carry.fill_forward(filled, codes, ranks)
            complete = ~rows[self.numeric].isna().any(axis=1).to_numpy()
            rows, codes, source = rows[complete].reset_index(drop=True), codes[complete], source[complete]
        carried = np.bincount(carried_codes, minlength=len(keys))
        return _Series(rows, codes, source, keys, ranks, carried, base=carry.counts[ranks] - carried)

    def _check_time_zones(self, chunk: pd.DataFrame, carry: _Carry, offset: int) -> None:
        """Refuse a chunk whose times have a UTC offset where earlier chunks' had none, or the reverse."""
        time = self.pre.time
        if time is None or self.pre.time_kind != "datetime" or carry.empty:
            return
        aware = [getattr(column.dtype, "tz", None) is not None for column in (carry.rows[time], chunk[time])]
        if aware[0] != aware[1]:
            raise DataError(
                f"{self.path}: {line_namer(self.path, offset)(0)}, column '{time}': times "
                f"{'with' if aware[1] else 'without'} a UTC offset after times {'without' if aware[1] else 'with'} one; "
                "write every time with an offset, or none"
            )

    def _check_order(self, rows: pd.DataFrame, codes: np.ndarray, keys: np.ndarray, chunk: pd.DataFrame, source) -> None:
        time = self.pre.time
        if time is None or len(rows) < 2:
            return
        steps = rows[time].diff().iloc[1:].le(pd.Timedelta(0) if self.pre.time_kind == "datetime" else 0).to_numpy()
        bad = np.flatnonzero(steps & (codes[1:] == codes[:-1]))
        if len(bad):
            where = f"series '{keys[codes[bad[0] + 1]]}', " if self.pre.id else ""
            value = chunk[time].iloc[source[bad[0] + 1]]  # a row of this chunk: the carried ones were in order
            raise DataError(
                f"{self.path}: {where}column '{time}': time {value} does not come after the row before it; "
                f"{self.command} reads each series in time order (sort by id and time)"
            )

    def _known(self, group: _Series) -> KnownRows:
        """The series, position, time and target values of every row of the group."""
        positions = group.base[group.codes] + group.position
        times = group.rows[self.pre.time].to_numpy() if self.pre.time is not None else positions
        targets = group.rows[self.pre.targets].to_numpy(dtype=np.float64)
        return KnownRows(group.ranks[group.codes], positions, times, targets)

    def _block(
        self, rows: pd.DataFrame, origins: np.ndarray, ids: np.ndarray, times: np.ndarray, known: KnownRows | None = None
    ) -> Block:
        """The block of ``origins`` (rows of ``rows``), each of series ``ids`` and named ``times``."""
        pre = self.pre
        if known is not None:
            y, last_raw = pre.transform_targets(rows), known.targets[origins]
        elif self.has_targets:
            y = pre.transform_targets(rows)
            last_raw = rows[pre.targets].to_numpy(dtype=np.float64)[origins]
        else:
            y = np.zeros((len(rows), len(pre.targets)), np.float32)
            last_raw = np.zeros((len(origins), len(pre.targets)))
        return Block(pre.transform_inputs(rows), y, origins, last_raw, ids, times, known)


class ForecastTable(ABC):
    """The output rows of forecasts, in one of :data:`TABLES`.

    The origin column, ``origin_<time>``, holds the time of the last observed step (``origin``,
    the 0-based row within the series, without a time column). Where the run's time column has a
    regular step (``Preprocessor.time_step``), each forecast step also gets the time it is for.
    """

    layout = ""

    def __init__(self, pre: Preprocessor) -> None:
        self.pre = pre
        self.origin = f"origin_{pre.time}" if pre.time is not None else "origin"
        self.columns = self._columns()
        repeated = next((c for c in self.columns if self.columns.count(c) > 1), None)
        if repeated is not None:
            raise ConfigError(
                f"--format {self.layout}: the output would have two columns named '{repeated}' (a column of the run "
                f"is named so); use the other --format"
            )

    @abstractmethod
    def frame(self, block: Block, values: np.ndarray) -> pd.DataFrame:
        """The output rows of ``block`` whose forecasts are ``values`` ``(windows, horizon, targets)``
        in original units."""
        ...

    @abstractmethod
    def _columns(self) -> list[str]: ...

    def _steps(self) -> range:
        return range(1, self.pre.horizon + 1)

    def _regular(self) -> bool:
        return self.pre.time is not None and self.pre.time_step is not None


class WideTable(ForecastTable):
    """One row per forecast: id, ``origin_<time>``, ``<time>_h<k>`` (where regular), ``<target>_h<k>``."""

    layout = "wide"

    def _columns(self) -> list[str]:
        times = [f"{self.pre.time}_h{k}" for k in self._steps()] if self._regular() else []
        steps = [f"{t}_h{k}" for t in self.pre.targets for k in self._steps()]
        return [c for c in (self.pre.id, self.origin) if c] + times + steps

    def frame(self, block: Block, values: np.ndarray) -> pd.DataFrame:
        columns: dict[str, object] = {}
        if self.pre.id is not None:
            columns[self.pre.id] = block.ids
        columns[self.origin] = block.times
        if self._regular():
            for k, times in enumerate(self.pre.step_times(block.times), start=1):
                columns[f"{self.pre.time}_h{k}"] = times
        for t_index, target in enumerate(self.pre.targets):
            for k in self._steps():
                columns[f"{target}_h{k}"] = values[:, k - 1, t_index]
        return pd.DataFrame(columns)


class LongTable(ForecastTable):
    """One row per forecast step: id, ``origin_<time>``, ``<time>`` (the step's time, where
    regular), ``step``, one column per target."""

    layout = "long"

    def _columns(self) -> list[str]:
        return (
            [c for c in (self.pre.id, self.origin) if c]
            + ([self.pre.time] if self._regular() else [])
            + ["step", *self.pre.targets]
        )

    def frame(self, block: Block, values: np.ndarray) -> pd.DataFrame:
        windows, horizon = values.shape[:2]
        columns: dict[str, object] = {}
        if self.pre.id is not None:
            columns[self.pre.id] = np.repeat(block.ids, horizon)
        columns[self.origin] = np.repeat(block.times, horizon)
        if self._regular():
            # Step-major pieces, read back origin by origin: rows of one origin together.
            order = (np.arange(horizon)[None, :] * windows + np.arange(windows)[:, None]).ravel()
            stacked = pd.concat([pd.Series(times) for times in self.pre.step_times(block.times)], ignore_index=True)
            columns[self.pre.time] = stacked.take(order).reset_index(drop=True)
        columns["step"] = np.tile(np.arange(1, horizon + 1), windows)
        for t_index, target in enumerate(self.pre.targets):
            columns[target] = values[:, :, t_index].ravel()
        return pd.DataFrame(columns)


# The layouts of forecast output (rnnkit predict --format).
TABLES: dict[str, type[ForecastTable]] = {"wide": WideTable, "long": LongTable}


@dataclass
class _Series:
    """A chunk's rows grouped by series (see ForecastStream._series)."""

    rows: pd.DataFrame
    codes: np.ndarray  # (rows,) series of each row: its index in keys
    source: np.ndarray  # (rows,) row of the chunk each row is, -1 for carried rows
    keys: np.ndarray  # series ids (object), in order of first appearance in the chunk
    ranks: np.ndarray  # (series,) each series' rank in the file (_Carry)
    carried: np.ndarray  # (series,) rows carried over from earlier chunks, first in each series
    base: np.ndarray  # (series,) position in the whole series of its row 0 here
    sizes: np.ndarray = field(init=False)  # (series,) rows of each series here, carried ones included
    position: np.ndarray = field(init=False)  # (rows,) row within its series here

    def __post_init__(self) -> None:
        self.sizes = np.bincount(self.codes, minlength=len(self.keys))
        self.position = np.arange(len(self.codes)) - (np.cumsum(self.sizes) - self.sizes)[self.codes]


class _Carry:
    """What the stream keeps between chunks: every series' rank (order of first appearance in the
    file), its row count so far, its last rows and (under ``ffill``) the last value seen in each
    column, which a row dropped as incomplete may hold."""

    def __init__(self) -> None:
        self.ranks: dict[object, int] = {}
        self.keys = np.empty(0, dtype=object)  # by rank
        self.counts = np.zeros(0, np.int64)  # by rank
        self.rows: pd.DataFrame | None = None  # the last rows of every series, each series' in order
        self.row_ranks = np.zeros(0, np.int64)
        self.last_values: np.ndarray | None = None  # (series by rank, columns) last value seen, NaN if none

    def fill_forward(self, values: np.ndarray, codes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Fill the gaps left in ``values`` (rows of a chunk already forward-filled within it,
        series ``ranks[codes]``) from the values earlier chunks saw, and remember each series'
        latest values: the whole file forward-filled, as training fills it, whatever the chunks."""
        if self.last_values is None:
            self.last_values = np.full((0, values.shape[1]), np.nan)
        if len(self.last_values) < len(self.keys):
            grow = np.full((len(self.keys) - len(self.last_values), values.shape[1]), np.nan)
            self.last_values = np.concatenate([self.last_values, grow])
        series = ranks[codes]
        gaps = np.isnan(values)
        values[gaps] = self.last_values[series][gaps]
        if len(codes):
            ends = np.flatnonzero(np.append(codes[1:] != codes[:-1], True))  # rows come grouped by series
            self.last_values[series[ends]] = values[ends]
        return values

    @property
    def series(self) -> int:
        return len(self.ranks)

    @property
    def empty(self) -> bool:
        """No rows carried (none kept yet, or a window of one)."""
        return self.rows is None or len(self.rows) == 0

    def rank(self, keys: np.ndarray) -> np.ndarray:
        """Ranks of ``keys``; series not seen before get the next ranks."""
        known = len(self.ranks)
        ranks = np.fromiter((self.ranks.setdefault(key, len(self.ranks)) for key in keys), np.int64, len(keys))
        if len(self.ranks) > known:
            self.keys = np.concatenate([self.keys, np.asarray(keys[ranks >= known], dtype=object)])
            self.counts = np.concatenate([self.counts, np.zeros(len(self.ranks) - known, np.int64)])
        return ranks

    def take(self, ranks: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """The carried rows of the series ``ranks`` (removed from the carry) and, for each, its
        index in ``ranks``."""
        if self.empty:
            return pd.DataFrame(), np.zeros(0, np.int64)
        index = np.full(len(self.keys), -1, np.int64)
        index[ranks] = np.arange(len(ranks))
        codes = index[self.row_ranks]
        taken = codes >= 0
        rows = self.rows[taken]
        self.rows, self.row_ranks = self.rows[~taken], self.row_ranks[~taken]
        return rows, codes[taken]

    def keep(self, group: _Series, keep: int) -> None:
        """Count the chunk's rows and keep each of its series' last ``keep`` rows."""
        self.counts[group.ranks] = group.base + group.sizes
        last = group.position >= group.sizes[group.codes] - keep
        rows, ranks = group.rows[last], group.ranks[group.codes[last]]
        if self.empty:
            self.rows, self.row_ranks = rows, ranks
        else:
            self.rows = pd.concat([self.rows, rows], ignore_index=True)
            self.row_ranks = np.concatenate([self.row_ranks, ranks])

    def ordered(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The carried rows by series rank (each series' in order) and the rank of each."""
        if self.empty:
            return pd.DataFrame(), np.zeros(0, np.int64)
        order = np.argsort(self.row_ranks, kind="stable")
        return self.rows.take(order).reset_index(drop=True), self.row_ranks[order]


class FrameWriter:
    """Collects predictions in memory, as :class:`OutputWriter` writes them to a file (the Python API)."""

    path = None

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self._frames: list[pd.DataFrame] = []

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def write(self, frame: pd.DataFrame) -> None:
        self._frames.append(frame)

    @property
    def frame(self) -> pd.DataFrame:
        """Every row written, in order (no row: the columns alone)."""
        if not self._frames:
            return pd.DataFrame(columns=self.columns or [])
        return pd.concat(self._frames, ignore_index=True)


class OutputWriter:
    """Writes CSV or Parquet in pieces to a temp file, renamed into place only on success."""

    def __init__(self, path: str | Path, overwrite: bool = False) -> None:
        self.format = table_format(path, for_output=True)
        path = Path(path)
        try:
            kind = file_kind(path)
        except FileNotFoundError:
            pass  # a new file, perhaps in a new folder
        except OSError as exc:
            raise ResourceError(f"{path}: cannot write the output file: {describe_os_error(exc)}") from None
        else:
            if kind is not None:
                raise ResourceError(f"{path}: is {kind}; expected an output file (a regular file or a new name)")
            if not overwrite:
                raise ConfigError(f"{path}: output file already exists; choose another --output or pass --overwrite")
        self.path = path
        self.temp = temporary_sibling(path)
        self._created: list[Path] = []  # output folders this writer made, removed again if it fails
        self._handle = None
        self._parquet = None
        self._schema = None
        self.columns: list[str] | None = None

    def __enter__(self) -> OutputWriter:
        # The output folder is made only now, once the input has been checked and the model loaded.
        self._created = [folder for folder in [self.path.parent, *self.path.parent.parents] if not folder.exists()][::-1]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._remove_created()
            raise ResourceError(f"{self.path}: cannot create the output folder: {describe_os_error(exc)}") from None
        remove_dead_temporaries(self.path.parent)  # left by a predict that was killed
        return self

    def write(self, frame: pd.DataFrame) -> None:
        try:
            if self.format == "csv":
                header = self._handle is None
                if header:
                    self._handle = open(self.temp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - held across writes
                text = csv_text(frame, header=header)
                if text is None:
                    frame.to_csv(self._handle, index=False, header=header)
                else:
                    self._handle.write(text)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                if self._parquet is None:
                    self._schema = table.schema
                    self._parquet = pq.ParquetWriter(self.temp, self._schema)
                self._parquet.write_table(table.cast(self._schema))
        except OSError as exc:
            raise ResourceError(f"{self.path}: cannot write output: {describe_os_error(exc)}") from None

    def __exit__(self, kind, value, traceback) -> None:
        finished = False
        try:
            if self._handle is not None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            if self._parquet is not None:
                self._parquet.close()
                with open(self.temp, "rb+") as handle:  # ParquetWriter does not flush to the disk itself
                    os.fsync(handle.fileno())
            if kind is None:
                if self._handle is None and self._parquet is None:
                    self._write_empty()
                os.replace(self.temp, self.path)
                fsync_dir(self.path.parent)
                finished = True
        except OSError as exc:
            raise ResourceError(f"{self.path}: cannot write output: {describe_os_error(exc)}") from None
        finally:
            if self.temp.exists():
                self.temp.unlink()
            if not finished:
                self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()  # only while empty
            except OSError:
                break
        self._created = []

    def _write_empty(self) -> None:
        frame = pd.DataFrame(columns=self.columns or [])
        if self.format == "csv":
            frame.to_csv(self.temp, index=False)
        else:
            frame.to_parquet(self.temp, index=False)


_QUOTED = frozenset(',"\r\n')  # characters that make CSV quote a field
_CSV_BLOCK_CELLS = 100_000  # to_csv formats a frame a block of this many cells (whole rows) at a time


def csv_text(frame: pd.DataFrame, *, header: bool = True) -> str | None:
    """``frame.to_csv(index=False, header=header)``, character for character, written by pyarrow's
    CSV writer: about 7x as fast (``benchmarks/csv_output.py``; pandas formats every float through
    numpy, 26.5 of the 45 s of a 1.75M-row ``rnnkit predict``).

    None where the same text is not certain, for pandas to write: a column that is not float,
    integer, string or datetime (object columns: strings only); a name or value that CSV must
    quote; fewer than two columns (a lone empty field is written ``""``); a line ending other
    than ``\\n``.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = list(frame.columns)
    if os.linesep != "\n" or len(names) < 2 or not all(isinstance(n, str) and not _QUOTED.intersection(n) for n in names):
        return None
    block = max(1, _CSV_BLOCK_CELLS // len(names))
    columns = []
    try:
        for _, column in frame.items():
            text = _column_text(column, block)
            if text is None:
                return None
            columns.append(text)
        out = io.BytesIO()
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")  # the header: below
        pa_csv.write_csv(pa.Table.from_arrays(columns, names=[str(i) for i in range(len(names))]), out, options)
    except pa.ArrowException:  # a value that needs quotes, a non-string object, an unsupported array
        return None
    return (",".join(names) + "\n" if header else "") + out.getvalue().decode("utf-8")


def _column_text(column: pd.Series, block: int):
    """The column as Arrow strings, each what ``to_csv`` writes for it (null: empty), or None."""
    import pyarrow as pa

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype in (np.float32, np.float64):
        return _float_text(column.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pa.array(column.to_numpy()).cast(pa.string())
    if (isinstance(dtype, np.dtype) and dtype.kind == "M") or isinstance(dtype, pd.DatetimeTZDtype):
        # pandas' own text, NaT missing. to_csv lays dates out a block of rows at a time (date
        # only when every time in the block is midnight, as many fraction digits as the block
        # needs), so the same blocks here.
        pieces = [column.iloc[start : start + block] for start in range(0, len(column), block)]
        column = pd.concat([piece.astype(str).where(piece.notna(), None) for piece in pieces]) if pieces else column
    elif not (isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object)):
        return None
    text = pa.array(column, from_pandas=True)  # objects other than strings: another type, or an error
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type) or pa.types.is_null(text.type)):
        return None
    return text.cast(pa.string())


def _float_text(values: np.ndarray):
    """What ``to_csv`` writes for float32 or float64: numpy's shortest text (``values.astype(str)``),
    empty for NaN. Arrow's cast finds the same shortest digits but lays some out differently
    (``1``, ``1e+15``, ``0.00001`` where numpy writes ``1.0``, ``1000000000000000.0``, ``1e-05``).
    numpy writes a point and no exponent exactly from 1e-4 up to 1e16 (float64) or 1e6 (float32);
    values outside that, or whose Arrow text lacks a point or has an exponent (NaN, infinities and
    zeros among them), take numpy's text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values)  # NaN stays a float here, not a null
    text = pc.cast(array, pa.string())
    positional = pc.and_(pc.match_substring(text, "."), pc.invert(pc.match_substring(text, "e")))
    magnitude = pc.abs(pc.cast(array, pa.float64()))  # numpy compares float32 values in wider floats too
    below = 1e16 if values.dtype == np.float64 else 1e6
    inside = pc.and_(pc.greater_equal(magnitude, 1e-4), pc.less(magnitude, below))
    other = ~pc.and_(positional, inside).to_numpy(zero_copy_only=False)
    if not other.any():
        return text
    fixed = values[other].astype(str).astype(object)
    fixed[np.isnan(values[other])] = None
    return pc.replace_with_mask(text, pa.array(other), pa.array(fixed, type=pa.string()))
