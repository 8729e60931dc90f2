"""Sequences for classify and tag: long or wide layout, numeric channels or tokens, labels.

Rows of all sequences are stored once, contiguously per sequence, with each sequence's start and
length; batches are cut and padded lazily (:mod:`rnnkit.data.seq_pipeline`). Splits are by
sequence (stratified by label for classify) and happen before anything is fitted: scalers,
vocabulary and label set come from training sequences only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from rnnkit.config import Config, DataConfig
from rnnkit.data.prepare import clean_frame, fill_forward, line_namer, order_series, time_format_of
from rnnkit.data.readers import Table, read_columns, read_table, require_columns
from rnnkit.data.schema import (
    BEYOND_FLOAT32,
    SCHEMA_VERSION,
    SchemaRecord,
    check_in_range,
    check_statistics,
    scale_statistics,
    too_large,
)
from rnnkit.data.text import PAD_ID, Vocabulary, build_vocabulary, tokenize
from rnnkit.errors import DataError
from rnnkit.progress import Reporter

SPLITS = ("train", "val", "test")


@dataclass
class SequencePreprocessor(SchemaRecord):
    """What schema.json holds for classify and tag runs: columns, labels, vocabulary, scaling."""

    task: str
    layout: str
    id: str | None
    time: str | None
    features: list[str]
    target: str
    labels: list[str]
    max_length: int
    truncate_predict: bool  # whether predict cuts sequences to max_length (max_length was set)
    scale: str
    missing: str
    center: dict[str, float] = field(default_factory=dict)
    spread: dict[str, float] = field(default_factory=dict)
    tokenize: str | None = None
    lowercase: bool = False
    vocab: list[str] = field(default_factory=list)
    wide_columns: list[str] = field(default_factory=list)  # wide layout: the step columns, in order
    dtypes: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    time_format: str | None = None  # of a text time column, given or inferred; None in older runs: inferred again
    # The most frequent training label (of sequences for classify, of steps for tag), which the
    # majority-class baseline predicts; None in older runs.
    majority_label: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def targets(self) -> list[str]:
        return [self.target]

    @property
    def is_text(self) -> bool:
        return self.tokenize is not None

    @property
    def input_width(self) -> int:
        return 1 if self.is_text else len(self.features)

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.vocab)

    def label_ids(self, values: pd.Series, where) -> np.ndarray:
        """Label strings to ids; a label not seen in training is a data error naming where it is.

        Args:
            values: label strings.
            where: ``where(i)`` names the file and line or sequence of ``values[i]``.
        """
        index = {label: i for i, label in enumerate(self.labels)}
        ids = values.map(index)
        unknown = ids.isna().to_numpy()
        if unknown.any():
            first = int(np.flatnonzero(unknown)[0])
            shown = ", ".join(repr(x) for x in self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            raise DataError(
                f"{where(first)}, column '{self.target}': label {values.iloc[first]!r} was not seen in training (known: {shown})"
            )
        return ids.to_numpy(dtype=np.int32)

    def encode_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs of every row: scaled channels ``(rows, F)`` or token ids ``(rows,)``."""
        if self.is_text and self.task == "tag":
            return np.asarray(self.vocabulary().encode(_cells(frame[self.features[0]], self.lowercase)), dtype=np.int32)
        values = frame[self.features].to_numpy(dtype=np.float64)
        center = np.array([self.center[c] for c in self.features])
        spread = np.array([self.spread[c] for c in self.features])
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported by the caller
            return ((values - center) / spread).astype(np.float32)

    def check_range(self, column: str, values: np.ndarray, where: Callable[[int], str]) -> None:
        """Refuse new values of a numeric channel far outside the training range
        (:func:`rnnkit.data.schema.check_in_range`); a wide file's step columns share one channel."""
        channel = "value" if self.layout == "wide" else column
        if channel in self.center:
            check_in_range(column, values, self.center[channel], self.spread[channel], self.scale, where)


@dataclass
class SequenceArrays:
    """Rows of every sequence, contiguous per sequence, with labels and split of each sequence."""

    values: np.ndarray  # (rows, F) float32 or (rows,) int32 token ids
    starts: np.ndarray  # (sequences,) int64
    lengths: np.ndarray  # (sequences,) int64
    labels: np.ndarray  # classify: (sequences,) int32; tag: (rows,) int32
    ids: list  # sequence ids
    split: np.ndarray  # (sequences,) int8 code into SPLITS
    times: np.ndarray | None = None  # (rows,) time of each row (tag output)
    warnings: list[str] = field(default_factory=list)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(split)).astype(np.int64)


def prepare_sequences(config: Config, pre: SequencePreprocessor | None = None) -> tuple[SequencePreprocessor, SequenceArrays]:
    """Read, split and encode classify/tag data; fit scaling, vocabulary and labels on training sequences.

    Raises:
        DataError: unreadable files, bad cells, a label that changes within a sequence, too little data.
    """
    data = config.data
    paths = (data.path, data.val_path, data.test_path)
    frames = []
    time_format = pre.time_format if pre is not None else None  # one format for every file: see _load
    for code, path in enumerate(paths):
        if path is not None:
            frame, time_format = _load(path, data, config.task, time_format)
            frame["__source__"] = code
            frames.append(frame)
    # Sequences in different files are different sequences, even when their ids coincide.
    frame = pd.concat([_order(f, data, config.task, paths[int(f["__source__"].iloc[0])]) for f in frames], ignore_index=True)
    row_starts, row_lengths, ids = _group_rows(frame, data, config.task)
    sequence_labels = _constant_labels(frame, data, row_starts, row_lengths, ids, paths) if config.task == "classify" else None
    split = _split(frame["__source__"].to_numpy()[row_starts], sequence_labels, data, config.seed)
    if pre is None:
        pre = _fit(frame, data, config, split, row_starts, row_lengths, sequence_labels, _locator(frame, paths), time_format)
    arrays = _arrays(frame, pre, data, row_starts, row_lengths, ids, split, sequence_labels, paths)
    if len(arrays.indices("train")) == 0:
        raise DataError(f"{data.path}: no training sequences after the split; lower data.split fractions or add sequences")
    for name in ("val", "test"):
        explicit = data.val_path if name == "val" else data.test_path
        fraction = data.split.val if name == "val" else data.split.test
        if (explicit or fraction > 0) and len(arrays.indices(name)) == 0:
            arrays.warnings.append(f"the {name} split has no sequence; its metrics are skipped")
    cut = int((arrays.lengths > pre.max_length).sum())
    if cut and pre.truncate_predict:
        arrays.warnings.append(f"{cut} sequences are longer than data.max_length={pre.max_length} and keep their last steps")
    return pre, arrays


def summarize_sequences(pre: SequencePreprocessor, arrays: SequenceArrays) -> dict:
    """Counts for ``rnnkit validate``."""
    per_split = {name: arrays.indices(name) for name in SPLITS}
    summary: dict[str, Any] = {
        "sequences": {name: len(index) for name, index in per_split.items()},
        "rows": {name: int(arrays.lengths[index].sum()) for name, index in per_split.items()},
        "sequence_length": {
            "min": int(arrays.lengths.min()),
            "median": float(np.median(arrays.lengths)),
            "max": int(arrays.lengths.max()),
        },
        "max_length": pre.max_length,
        "features": list(pre.features),
        "target": pre.target,
        "labels": list(pre.labels),
    }
    if pre.task == "classify":
        counts = np.bincount(arrays.labels[per_split["train"]], minlength=len(pre.labels))
        summary["train_label_counts"] = {label: int(c) for label, c in zip(pre.labels, counts, strict=True)}
    if pre.is_text:
        summary["vocabulary"] = len(pre.vocab) + 2
    summary["warnings"] = list(arrays.warnings)
    return summary


def pre_as_data(pre: SequencePreprocessor, path: str | Path) -> DataConfig:
    """A DataConfig describing a file in the run's layout (for reading new files)."""
    return DataConfig.model_construct(
        path=str(path),
        id=pre.id,
        time=pre.time,
        time_format=pre.time_format,
        layout=pre.layout,
        features=pre.wide_columns if pre.layout == "wide" else pre.features,
        target=pre.target,
        tokenize=pre.tokenize,
        lowercase=pre.lowercase,
        missing=pre.missing,
        max_length=pre.max_length,
    )


class SequenceBlock(NamedTuple):
    """Complete sequences of a chunk: ids, encoded inputs, the time (or step) of each row, and
    with a labelled stream the label ids (one per sequence for classify, an array per sequence
    for tag)."""

    ids: list
    sequences: list[np.ndarray]
    times: list[np.ndarray]
    labels: np.ndarray | list[np.ndarray] | None = None


class SequenceStream:
    """Reads a file of sequences in chunks and yields complete, encoded sequences: the input of
    ``rnnkit predict``, or with ``labelled`` a labelled file of ``rnnkit evaluate --data``.

    Long layout needs the rows of each sequence to be contiguous (sorted by id); a sequence is
    complete when the next one starts, so memory holds one chunk plus one sequence. Wide and
    text layouts hold one sequence per row.
    """

    def __init__(
        self,
        pre: SequencePreprocessor,
        path: str | Path | pd.DataFrame,
        chunk_rows: int = 200_000,
        *,
        labelled: bool = False,
        progress: Reporter | None = None,
    ) -> None:
        self.pre = pre
        self.table = Table(path)
        self.path = self.table.name  # named in messages: the file, or "DataFrame"
        self.chunk_rows = chunk_rows
        self.progress = progress or Reporter()  # told the rows read, chunk by chunk
        self.labelled = labelled
        self.command = "evaluate --data" if labelled else "predict"  # named in errors
        self.data = pre_as_data(pre, self.path)
        self.time_format = pre.time_format  # None in runs of older rnnkit: inferred from the first chunk
        inputs = pre.wide_columns if pre.layout == "wide" else pre.features
        self.columns = list(
            dict.fromkeys([c for c in (pre.id, pre.time) if c] + list(inputs) + ([pre.target] if labelled else []))
        )
        self.text = [c for c in (pre.id, pre.target if labelled else None) if c]  # read as written
        self.sequences = 0
        self.rows_read = 0

    def check_input(self) -> None:
        """Columns and the first rows' cells against the schema, before any model is loaded."""
        require_columns(self.path, self.table.columns(), self.columns)
        first = next(self.table.chunks(self.columns, min(self.chunk_rows, 10_000), text=self.text), None)
        if first is None or len(first) == 0:
            raise DataError(f"{self.path}: no data rows (header only)")
        self._prepare(first, 0)

    def blocks(self) -> Iterator[SequenceBlock]:
        """Yield the complete sequences of each chunk."""
        pending: pd.DataFrame | None = None
        finished: set = set()
        offset = 0
        with self.progress.task(self.command, total=self.table.rows(), unit="rows") as reading:
            for chunk in self.table.chunks(self.columns, self.chunk_rows, text=self.text):
                size = len(chunk)
                reading.advance(size)
                frame = self._prepare(chunk, offset)
                offset += size
                self.rows_read += size
                if self.pre.layout == "wide" or (self.pre.is_text and self.pre.task == "classify"):
                    yield self._encode(frame)
                    continue
                frame = frame if pending is None else pd.concat([pending, frame], ignore_index=True)
                last_id = frame[self.pre.id].iloc[-1]
                ready = frame[frame[self.pre.id] != last_id]
                pending = frame[frame[self.pre.id] == last_id].reset_index(drop=True)
                if len(ready):
                    self._check_contiguous(ready, finished)
                    yield self._encode(ready)
        if pending is not None and len(pending):
            self._check_contiguous(pending, finished)
            yield self._encode(pending)

    def _prepare(self, chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
        """The one place a chunk is checked: cells, times in the run's format (the same for every
        chunk), numeric values far outside the training range, and labels where read."""
        chunk = chunk.reset_index(drop=True).assign(__row__=lambda f: f.index + offset)
        check = self.pre.check_range
        if self.pre.layout == "wide":
            return _wide_to_long(chunk, self.data, self.pre.wide_columns, self.path, row_offset=offset, check=check)
        if self.labelled:
            chunk[self.pre.target] = _label_strings(chunk[self.pre.target], self.path, self.pre.target)
        if self.pre.is_text and self.pre.task == "classify":
            chunk = _check_text(chunk, self.pre.features[0], self.path, offset)
        else:
            if self.time_format is None:
                self.time_format = time_format_of(chunk, self.data, self.path, offset)
            numeric = [] if self.pre.is_text else list(self.pre.features)
            chunk = clean_frame(
                chunk,
                self.data,
                self.path,
                row_offset=offset,
                numeric=numeric,
                time_format=self.time_format,
                check=check,
                command=self.command,
            )
        if self.labelled and chunk[self.pre.target].isna().any():
            row = int(chunk["__row__"].iloc[int(np.flatnonzero(chunk[self.pre.target].isna().to_numpy())[0])])
            raise DataError(f"{self.path}: {line_namer(self.path)(row)}, column '{self.pre.target}': missing label")
        return chunk

    def _check_contiguous(self, frame: pd.DataFrame, finished: set) -> None:
        key = self.pre.id
        starts = frame.loc[frame[key].ne(frame[key].shift()), key].tolist()
        for value in starts:
            if value in finished:
                raise DataError(
                    f"{self.path}: rows of sequence '{value}' are not contiguous; {self.command} reads one sequence "
                    f"at a time (sort the file by '{key}')"
                )
            finished.add(value)

    def _encode(self, frame: pd.DataFrame) -> SequenceBlock:
        pre = self.pre
        frame = _order(frame.reset_index(drop=True), self.data, pre.task, self.path)
        row_starts, row_lengths, ids = _group_rows(frame, self.data, pre.task)
        values, starts, lengths = _encode_spans(frame, pre, row_starts, row_lengths)
        sequences = [values[s : s + n] for s, n in zip(starts, lengths, strict=True)]
        if pre.truncate_predict and pre.task == "classify":
            sequences = [seq[-pre.max_length :] for seq in sequences]
        times = _times(frame, self.data)
        row_times = [
            times[s : s + n] if times is not None else np.arange(n) for s, n in zip(row_starts, row_lengths, strict=True)
        ]
        self.sequences += len(ids)
        if not self.labelled:
            return SequenceBlock(ids, sequences, row_times)
        where = _locator(frame, (self.path,))
        if pre.task == "classify":
            labels = _constant_labels(frame, self.data, row_starts, row_lengths, ids, (self.path,))
            return SequenceBlock(ids, sequences, row_times, _label_ids(frame, pre, row_starts, ids, labels, where))
        steps = _label_ids(frame, pre, row_starts, ids, None, where)
        return SequenceBlock(ids, sequences, row_times, [steps[s : s + n] for s, n in zip(row_starts, row_lengths, strict=True)])


# --------------------------------------------------------------------------------------------


def _load(
    path: str | Path, data: DataConfig, task: str, time_format: str | None = None, check=None
) -> tuple[pd.DataFrame, str | None]:
    """One file's rows, cleaned, and the format its time column was parsed with: ``time_format``
    (resolved from an earlier file), else :func:`time_format_of` this one. ``check`` as in clean_frame."""
    if data.layout == "wide":
        features = wide_columns(path, data)
        frame = read_table(path, [c for c in (data.id, data.target) if c] + list(features), text=_text_columns(data))
        return _wide_to_long(frame, data, features, path, check=check), None
    names = [c for c in (data.id, data.time, *(data.features or []), data.target) if c]
    frame = read_table(path, list(dict.fromkeys(names)), text=_text_columns(data))
    frame["__line__"] = np.arange(len(frame))  # row position in its file, for error messages
    if data.target is not None:
        frame[data.target] = _label_strings(frame[data.target], path, data.target)
    if data.tokenize is not None and task == "classify":
        return _check_text(frame.reset_index(drop=True), data.features[0], path, 0), None
    numeric = [] if data.tokenize else list(data.features or [])
    time_format = time_format or time_format_of(frame, data, path)
    # Ordering and ffill follow in _order.
    frame = clean_frame(frame, data, path, numeric=numeric, time_format=time_format, check=check)
    if data.target is not None and frame[data.target].isna().any():
        row = int(np.flatnonzero(frame[data.target].isna().to_numpy())[0])
        raise DataError(f"{path}: {line_namer(path)(row)}, column '{data.target}': missing label")
    return frame, time_format


def wide_columns(path, data) -> list[str]:
    """The step columns of a wide file: data.features, or every column but id and target."""
    return list(data.features) if data.features else [c for c in read_columns(path) if c not in (data.id, data.target)]


def _check_text(frame: pd.DataFrame, column: str, path, offset: int) -> pd.DataFrame:
    empty = frame[column].isna().to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(f"{path}: {line_namer(path)(row + offset)}, column '{column}': empty text")
    return frame


def _wide_to_long(
    frame: pd.DataFrame, data, features: list[str], path: str | Path, row_offset: int = 0, check=None
) -> pd.DataFrame:
    """One row per sequence (columns = steps) to long rows; trailing empty cells shorten a sequence.
    ``check`` as in clean_frame, called per step column."""
    base = line_namer(path)
    line = lambda position: base(position + row_offset)  # noqa: E731
    has_labels = data.target is not None and data.target in frame
    labels = _label_strings(frame[data.target], path, data.target) if has_labels else pd.Series([None] * len(frame))
    values = frame[features].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    text_cells = frame[features].notna().to_numpy() & np.isnan(values)
    if text_cells.any():
        row, col = np.argwhere(text_cells)[0]
        raise DataError(f"{path}: {line(int(row))}, column '{features[col]}': {frame.iloc[row][features[col]]!r} is not a number")
    present = ~np.isnan(values)
    lengths = np.where(present.any(axis=1), values.shape[1] - np.argmax(present[:, ::-1], axis=1), 0)
    gaps = present.cumsum(axis=1) < np.arange(1, values.shape[1] + 1)
    inner = gaps & (np.arange(values.shape[1]) < lengths[:, None])
    if inner.any() and data.missing == "error":
        row, col = np.argwhere(inner)[0]
        raise DataError(f"{path}: {line(int(row))}, column '{features[col]}': missing value inside the sequence")
    if np.isinf(values).any():
        row, col = np.argwhere(np.isinf(values))[0]
        raise DataError(f"{path}: {line(int(row))}, column '{features[col]}': not a finite number")
    if check is not None:
        for index, column in enumerate(features):
            check(column, values[:, index], lambda row: f"{path}: {line(row)}")
    if (lengths == 0).any():
        row = int(np.flatnonzero(lengths == 0)[0])
        raise DataError(f"{path}: {line(row)}: the sequence has no values")
    if has_labels and labels.isna().any():
        row = int(np.flatnonzero(labels.isna().to_numpy())[0])
        raise DataError(f"{path}: {line(row)}, column '{data.target}': missing label")
    ids = frame[data.id].to_numpy() if data.id else np.arange(len(frame)) + row_offset
    rows = []  # wide files are small (one row per sequence); clarity over speed here
    for index in range(len(frame)):
        seq = pd.Series(values[index, : lengths[index]])
        seq = seq.ffill() if data.missing == "ffill" else seq.dropna() if data.missing == "drop" else seq
        part = {"__seq__": index, "__id__": ids[index], "__line__": index + row_offset, "value": seq.to_numpy()}
        if has_labels:
            part[data.target] = labels.iloc[index]
        rows.append(pd.DataFrame(part))
    return pd.concat(rows, ignore_index=True).dropna(subset=["value"])


def _text_columns(data) -> list[str]:
    # Ids and labels are kept exactly as written in the file.
    return [c for c in (data.id, data.target) if c]


def _label_strings(values: pd.Series, path, column: str) -> pd.Series:
    # Labels are kept exactly as written: "1" stays "1", 1.0 read from Parquet becomes "1.0".
    out = values.astype("string").astype(object)
    return out.where(values.notna(), None)


def _order(frame: pd.DataFrame, data, task: str, path) -> pd.DataFrame:
    """Long layout: one file's rows sorted by sequence and time (duplicates refused), gaps forward-filled."""
    if data.layout == "wide" or (data.tokenize is not None and task == "classify"):
        return frame.reset_index(drop=True)
    frame = order_series(frame, data, path)
    return fill_forward(frame, data, path) if data.tokenize is None else frame


def _group_rows(frame: pd.DataFrame, data, task: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Row span ``(starts, lengths)`` and id of each sequence; frames come ordered by sequence."""
    if data.layout == "wide":
        key = "__seq__"
    elif data.tokenize is not None and task == "classify":
        column = data.id if data.id else "__row__" if "__row__" in frame else None
        ids = frame[column].tolist() if column else list(range(len(frame)))
        return np.arange(len(frame), dtype=np.int64), np.ones(len(frame), dtype=np.int64), ids
    else:
        key = data.id
    if key is None:
        return np.array([0], dtype=np.int64), np.array([len(frame)], dtype=np.int64), [None]
    boundary = frame[key].ne(frame[key].shift())
    if "__source__" in frame:
        boundary |= frame["__source__"].ne(frame["__source__"].shift())
    starts = np.flatnonzero(boundary.to_numpy()).astype(np.int64)
    lengths = np.diff(np.append(starts, len(frame))).astype(np.int64)
    id_column = "__id__" if data.layout == "wide" else key
    return starts, lengths, [frame[id_column].iloc[b] for b in starts]


def _encode_spans(frame: pd.DataFrame, pre: SequencePreprocessor, row_starts: np.ndarray, row_lengths: np.ndarray):
    """Encoded values and each sequence's span in them (tokens for documents, rows otherwise)."""
    if pre.is_text and pre.task == "classify":
        vocab = pre.vocabulary()
        documents = [vocab.encode(tokenize(str(t), pre.tokenize, pre.lowercase)) or [PAD_ID + 1] for t in frame[pre.features[0]]]
        lengths = np.array([len(d) for d in documents], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return np.fromiter((i for d in documents for i in d), dtype=np.int32, count=int(lengths.sum())), starts, lengths
    return pre.encode_values(frame), row_starts, row_lengths


def _arrays(
    frame, pre: SequencePreprocessor, data, row_starts, row_lengths, ids, split, sequence_labels, paths
) -> SequenceArrays:
    where = _locator(frame, paths)
    labels = _label_ids(frame, pre, row_starts, ids, sequence_labels, where)
    values, starts, lengths = _encode_spans(frame, pre, row_starts, row_lengths)
    if not pre.is_text:
        for index, column in enumerate(pre.features):
            finite = np.isfinite(values[:, index])
            if not finite.all():
                row = int(np.argmin(finite))
                value = float(frame[column].iat[row])
                raise too_large(where(row), column, value, BEYOND_FLOAT32)
    return SequenceArrays(values, starts, lengths, labels, ids, split, _times(frame, data))


def _label_ids(frame: pd.DataFrame, pre: SequencePreprocessor, row_starts, ids, sequence_labels, where) -> np.ndarray:
    """Label ids of each sequence (classify: ``sequence_labels``) or each row (tag); an unknown
    label is a data error, ``where`` naming its file and line."""
    if pre.task == "classify":
        return pre.label_ids(pd.Series(sequence_labels, dtype=object), lambda i: where(row_starts[i], f"sequence '{ids[i]}'"))
    return pre.label_ids(frame[pre.target], where)


def _locator(frame: pd.DataFrame, paths):
    """``where(row, what=None)``: the file of a row and its line (or ``what``), for error messages."""
    sources = frame["__source__"].to_numpy() if "__source__" in frame else np.zeros(len(frame), dtype=int)
    # The row's position in its file: __line__ where the whole file was read, __row__ in a stream.
    line = next((c for c in ("__line__", "__row__") if c in frame), None)
    lines = frame[line].to_numpy() if line else np.arange(len(frame))

    def where(row, what=None) -> str:
        path = paths[int(sources[row])]
        return f"{path}: {what or line_namer(path)(int(lines[row]))}"

    return where


def _constant_labels(frame: pd.DataFrame, data, starts, lengths, ids, paths) -> list:
    labels = frame[data.target].to_numpy(dtype=object)
    where = _locator(frame, paths)
    result = []
    for start, length, sid in zip(starts, lengths, ids, strict=True):
        values = labels[start : start + length]
        changed = np.flatnonzero(values != values[0])
        if len(changed):
            raise DataError(
                f"{where(start, f'sequence {sid!r}')}, column '{data.target}': label changes within the sequence "
                f"({values[0]!r}, then {values[changed[0]]!r}); classify expects one label per sequence"
            )
        result.append(values[0])
    return result


def _split(source: np.ndarray, labels: list | None, data: DataConfig, seed: int) -> np.ndarray:
    split = source.astype(np.int8)
    main = np.flatnonzero(source == 0)
    val = 0.0 if data.val_path else data.split.val
    test = 0.0 if data.test_path else data.split.test
    rng = np.random.default_rng(seed)
    groups = [main] if labels is None else [main[np.asarray([labels[i] for i in main]) == c] for c in sorted(set(labels))]
    for members in groups:
        members = rng.permutation(members)
        n_test, n_val = round(len(members) * test), round(len(members) * val)
        split[members[:n_test]] = 2
        split[members[n_test : n_test + n_val]] = 1
    return split


def _fit(
    frame, data: DataConfig, config: Config, split, starts, lengths, sequence_labels, where, time_format: str | None
) -> SequencePreprocessor:
    train_sequences = np.flatnonzero(split == 0)
    train_rows = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in train_sequences])
    features = list(data.features) if data.layout == "long" else ["value"]
    if config.task == "classify":
        train_labels = pd.Series([sequence_labels[i] for i in train_sequences], dtype=object)
    else:
        train_labels = frame[data.target].iloc[train_rows]
    labels = sorted(set(train_labels), key=_natural)
    counts = train_labels.value_counts()
    majority = max(labels, key=lambda label: counts[label])  # the first of equals, as np.argmax picks
    center, spread, vocab = {}, {}, []
    if data.tokenize is not None:
        column = frame[features[0]].iloc[train_rows]
        tokens = _cells(column, data.lowercase) if config.task == "tag" else None
        token_lists = [tokens] if tokens is not None else (tokenize(str(t), data.tokenize, data.lowercase) for t in column)
        vocab = build_vocabulary(token_lists, data.vocab_size)
    else:
        train = frame[features].iloc[train_rows].to_numpy(dtype=np.float64)
        for index, column in enumerate(features):
            values = train[:, index]
            center[column], spread[column] = scale_statistics(values, data.scale)
            check_statistics(column, values, center[column], spread[column], lambda i: where(train_rows[i]))
    train_lengths = lengths[train_sequences]
    if data.tokenize is not None and config.task == "classify":
        texts = frame[features[0]].iloc[train_sequences]
        train_lengths = np.array([len(tokenize(str(t), data.tokenize, data.lowercase)) for t in texts])
    return SequencePreprocessor(
        wide_columns=wide_columns(data.path, data) if data.layout == "wide" else [],
        task=config.task,
        layout=data.layout,
        id=data.id,
        time=data.time,
        features=features,
        target=data.target,
        labels=[str(x) for x in labels],
        max_length=int(data.max_length or max(1, int(train_lengths.max()))),
        truncate_predict=data.max_length is not None,
        scale=data.scale,
        missing=data.missing,
        center=center,
        spread=spread,
        tokenize=data.tokenize,
        lowercase=data.lowercase,
        vocab=vocab,
        dtypes={c: str(frame[c].dtype) for c in frame.columns if not c.startswith("__")},
        time_format=time_format,
        majority_label=str(majority),
    )


def _times(frame: pd.DataFrame, data) -> np.ndarray | None:
    return frame[data.time].to_numpy() if data.time and data.time in frame else None


def _cells(values: pd.Series, lowercase: bool) -> list[str]:
    cells = values.astype(str)
    return (cells.str.lower() if lowercase else cells).tolist()


def _natural(label: str):
    # Numeric-looking labels sort by value ("2" before "10"), others alphabetically.
    try:
        return (0, float(label), str(label))
    except (TypeError, ValueError):
        return (1, 0.0, str(label))
