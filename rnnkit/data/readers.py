"""Reading CSV and Parquet tables, whole or in chunks, with one-line errors for bad files."""

from __future__ import annotations

import csv
import difflib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from rnnkit.errors import ConfigError, DataError
from rnnkit.files import regular_file

FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
# "utf-8-sig" reads UTF-8 and drops a byte-order mark, which Excel's "CSV UTF-8" writes before the
# header (with plain "utf-8" the first column would be named '\ufeffid' and not be found).
ENCODING = "utf-8-sig"
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def table_format(path: str | Path, *, for_output: bool = False) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the file extension.

    Raises:
        DataError: a URL or an unsupported input extension (pickle, Excel, ...).
        ConfigError: an unsupported output extension (a usage error).
    """
    text = str(path)
    if "://" in text or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", text):
        raise DataError(f"{text}: URLs are not read; rnnkit reads and writes local CSV or Parquet files only")
    suffix = Path(text).suffix.lower()
    if suffix not in FORMATS:
        role = "output" if for_output else "input"
        error = ConfigError if for_output else DataError
        raise error(f"{text}: unsupported {role} format '{suffix or '(none)'}'; expected one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def check_readable(path: str | Path) -> Path:
    """Check that ``path`` is an existing, non-empty, regular local file (after symlinks) and not a pickle.

    Raises:
        DataError: with the reason.
    """
    if "://" in str(path):
        table_format(path)  # refuses URLs with their own message
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; expected a CSV or Parquet file")
    fmt = table_format(path)
    regular_file(path, DataError, "data file")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if not head:
        raise DataError(f"{path}: file is empty; expected a header row and data")
    if head[:2] in _PICKLE_MAGIC:
        raise DataError(f"{path}: looks like a Python pickle; rnnkit never loads pickles, expected {fmt.upper()}")
    if fmt == "parquet" and head != b"PAR1":
        raise DataError(f"{path}: not a Parquet file (bad magic bytes {head!r}); expected a file starting with PAR1")
    return path


def read_columns(path: str | Path) -> list[str]:
    """The column names of a table, read from its header or Parquet footer only."""
    path = check_readable(path)
    if table_format(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"{path}: cannot read Parquet: {_first_line(exc)}") from None
    # The raw header: pandas would rename a repeated name ("x", "x.1") and hide the repeat.
    try:
        with open(path, encoding=ENCODING, newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text near byte {exc.start}; save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse the CSV header: {exc}") from None
    if not header:
        raise DataError(f"{path}: file has no header row; expected comma-separated columns")
    return header


def read_table(path: str | Path, columns: Sequence[str], text: Sequence[str] = ()) -> pd.DataFrame:
    """Read the given columns of a CSV or Parquet file into memory.

    Columns in ``text`` (ids, labels) are read as written: "007" stays "007", not 7.

    Raises:
        DataError: missing file, unreadable content, missing columns (with the closest spelling).
    """
    path = check_readable(path)
    require_columns(path, read_columns(path), columns)
    if table_format(path) == "parquet":
        require_flat(path, columns)
        try:
            return _as_text(_read_parquet_columns(path, list(dict.fromkeys(columns))), text)
        except Exception as exc:
            raise DataError(f"{path}: cannot read Parquet: {_first_line(exc)}") from None
    # Every column is parsed (not usecols) so a row with an extra field is an error, not dropped.
    return _read_csv(path, dtype=dict.fromkeys(text, str))[list(dict.fromkeys(columns))]


def iter_table(path: str | Path, columns: Sequence[str], chunk_rows: int, text: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    """Yield the given columns of a table in chunks of at most ``chunk_rows`` rows (``text`` as in read_table).

    Memory stays bounded by the chunk size whatever the file size.
    """
    path = check_readable(path)
    require_columns(path, read_columns(path), columns)
    wanted = list(dict.fromkeys(columns))
    if table_format(path) == "parquet":
        import pyarrow.parquet as pq

        require_flat(path, wanted)
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=wanted):
                yield _as_text(batch.to_pandas(), text)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: cannot read Parquet: {_first_line(exc)}") from None
        return
    try:
        with pd.read_csv(
            path, chunksize=chunk_rows, encoding=ENCODING, low_memory=False, dtype=dict.fromkeys(text, str)
        ) as reader:
            for chunk in reader:
                yield chunk[wanted]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text near byte {exc.start}; save the CSV as UTF-8") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {_first_line(exc)}") from None


class Table:
    """A table read in chunks: a local CSV or Parquet file, or a pandas DataFrame (the Python API).

    Messages name it by :attr:`name` (its path, or ``DataFrame``); ``line_namer(table.name)``
    names its rows as CSV file lines or 1-based rows.
    """

    def __init__(self, source: str | Path | pd.DataFrame) -> None:
        self.frame = source if isinstance(source, pd.DataFrame) else None
        self.path = None if self.frame is not None else Path(source)
        self.name = "DataFrame" if self.frame is not None else str(source)

    @property
    def is_csv(self) -> bool:
        return self.path is not None and table_format(self.path) == "csv"

    def columns(self) -> list[str]:
        """The column names; a file must be a readable CSV or Parquet file (:func:`check_readable`)."""
        if self.frame is not None:
            return [str(c) for c in self.frame.columns]
        check_readable(self.path)
        return read_columns(self.path)

    def rows(self) -> int | None:
        """Data rows, where they can be counted without parsing (for progress): a frame's length, a
        Parquet file's metadata, a CSV file's line breaks after the header (a quoted field with a
        line break counts twice, so this is an estimate); None where unreadable."""
        if self.frame is not None:
            return len(self.frame)
        try:
            if table_format(self.path) == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self.path).metadata.num_rows)
            with open(self.path, "rb") as handle:
                breaks = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b""))
                handle.seek(-1, os.SEEK_END)
                last = handle.read(1)
            return max(0, breaks - 1 + (last != b"\n"))
        except (OSError, ValueError, DataError):
            return None
        except Exception:  # pyarrow raises several types for corrupt files; reading will say what is wrong
            return None

    def chunks(self, columns: Sequence[str], chunk_rows: int, text: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
        """The given columns in chunks of at most ``chunk_rows`` rows (:func:`iter_table`)."""
        if self.frame is None:
            yield from iter_table(self.path, columns, chunk_rows, text)
            return
        require_columns(self.name, self.columns(), columns)
        wanted = list(dict.fromkeys(columns))
        for start in range(0, len(self.frame), chunk_rows):
            yield _as_text(self.frame.iloc[start : start + chunk_rows][wanted].reset_index(drop=True), text)


def require_columns(path: str | Path, available: Sequence[str], wanted: Sequence[str]) -> None:
    """Raise a DataError naming the first wanted column that the file lacks, with the closest spelling."""
    duplicates = sorted({c for c in available if list(available).count(c) > 1})
    if duplicates:
        raise DataError(f"{path}: column '{duplicates[0]}' appears more than once in the header")
    for column in wanted:
        if column not in available:
            folded = [c for c in available if str(c).lower() == column.lower()]
            close = folded or difflib.get_close_matches(column, [str(c) for c in available], n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            shown = ", ".join(map(str, list(available)[:12])) + (", ..." if len(available) > 12 else "")
            raise DataError(f"{path}: column '{column}' not found{hint}{_delimiter_hint(available)} Columns: {shown}")


def require_flat(path: str | Path, columns: Sequence[str]) -> None:
    """Refuse Parquet columns of nested types (struct, list, map): rnnkit reads one value per cell.

    Raises:
        DataError: naming the file, the first such column and its type.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(path).schema_arrow
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read Parquet: {_first_line(exc)}") from None
    for column in columns:
        kind = schema.field(column).type
        if pa.types.is_nested(kind):
            raise DataError(
                f"{path}: column '{column}' has the nested Parquet type {kind}; rnnkit reads columns of numbers, "
                "text, dates or timestamps, one value per cell"
            )


def release_arrow_memory() -> None:
    """Hand memory that pyarrow's allocator keeps cached after frees back to the system."""
    import sys

    if "pyarrow" in sys.modules:  # nothing to release if no Parquet file was read
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def _read_parquet_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    # One column at a time, each converted exactly as pd.read_parquet converts it: the peak is the
    # frame plus one column, not the whole Arrow table plus the frame (5M x 9 columns: 273 MiB
    # instead of 554 MiB above the process before reading).
    if len(columns) < 2:
        return pd.read_parquet(path, columns=columns)
    parts = []
    for column in columns:
        parts.append(pd.read_parquet(path, columns=[column]))
        release_arrow_memory()
    # Side by side by position; the index a pandas-written file restores is kept as read.
    frame = pd.concat([part.reset_index(drop=True) for part in parts], axis=1)
    frame.index = parts[0].index
    return frame


def _as_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame and not pd.api.types.is_object_dtype(frame[column]):
            frame[column] = frame[column].astype("string").astype(object).where(frame[column].notna(), None)
    return frame


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding=ENCODING, low_memory=False, **kwargs)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text near byte {exc.start}; save the CSV as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file has no header row; expected comma-separated columns") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {_first_line(exc)}") from None
    return frame


def _delimiter_hint(columns: Sequence[str]) -> str:
    if len(columns) == 1:
        for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in str(columns[0]):
                return f" The header looks {name}-separated; rnnkit reads comma-separated CSV."
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
