"""Listing and comparing run folders (``rnnkit runs``): status, config that differs, headline metrics.

Reads only the small JSON and YAML files of each run, each validated as the commands that use
them validate it; a run whose files do not pass is listed as ``damaged`` with the reason. Never
imports TensorFlow.

What a table shows for a task's runs comes from :data:`TASK_COLUMNS`, one entry per task: its
headline metrics and the config keys only some tasks read. The text table groups runs by task,
one table per task under a heading line, because each task has its own metrics and keys: a
single table of mixed tasks could only share run, status and epochs, and would fill every other
column with dashes. csv and json are one flat table of every column, for programs.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import math
import operator
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rnnkit.config import Config, config_to_dict
from rnnkit.errors import ConfigError, RunError
from rnnkit.run_files import SplitMetrics
from rnnkit.runs import RunFolder


@dataclass(frozen=True)
class TaskColumns:
    """What ``rnnkit runs`` shows of one task's runs.

    Attributes:
        metrics: headline metrics, most important first, named without their split: each is shown
            for the test split, or for validation when no run has test metrics.
        config: config keys that this task reads but some other task does not. A key listed for
            another task and not here means nothing for this task's runs and is never shown as
            differing; keys listed for no task (model.cell, train.learning_rate) apply to all.
    """

    metrics: tuple[str, ...]
    config: tuple[str, ...] = ()


_SEQUENCE_KEYS = ("data.max_length", "data.tokenize", "data.vocab_size", "data.lowercase", "data.scale", "data.missing")
TASK_COLUMNS: dict[str, TaskColumns] = {
    "forecast": TaskColumns(
        metrics=("mae", "rmse", "rel_mae"),
        config=("data.window", "data.horizon", "data.stride", "data.detrend", "data.scale", "data.missing"),
    ),
    "classify": TaskColumns(
        metrics=("accuracy", "macro_f1"),
        config=(*_SEQUENCE_KEYS, "data.layout", "model.embedding_dim", "train.class_weight"),
    ),
    "tag": TaskColumns(metrics=("accuracy", "macro_f1"), config=(*_SEQUENCE_KEYS, "model.embedding_dim", "train.class_weight")),
    "generate": TaskColumns(
        metrics=("perplexity",),
        config=("data.window", "data.stride", "data.tokenize", "data.vocab_size", "data.lowercase", "model.embedding_dim"),
    ),
}

FORMATS = ("table", "csv", "json", "markdown")
IDENTITY = ("run", "status", "task", "epochs", "best_epoch")
SPLITS = ("test", "val")  # metrics of these splits are columns; the first is preferred
MAX_VALUE = 24  # characters of a config value in the text table; longer ones lose their middle
MIN_REASON = 24  # characters the reason keeps at least when the table is fitted to the terminal
NOTE = "--columns to choose, --format csv for all)"  # ends the note under a table that hides columns
TASK_KEPT = {"run", "status", "reason"}  # columns of a task's table that a narrow terminal never hides
_NEVER_DIFFERING = ("name", "task", "output.", "versions.", "sweep.")  # named elsewhere, or not the run's setup
_OPERATORS = {"=": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass
class RunRecord:
    """One run folder as ``rnnkit runs`` reads it; :attr:`values` are its columns."""

    name: str
    path: str
    status: str
    task: str | None
    epochs: int | None
    best_epoch: int | None
    reason: str | None
    config: dict[str, Any]  # dotted keys; empty when config.yaml is unreadable
    metrics: dict[str, Any]  # "<split>.<metric>": the numbers of metrics.json

    @functools.cached_property
    def values(self) -> dict[str, Any]:
        """Every column of the run by name: identity, config keys, metrics, reason and path."""
        identity = {
            "run": self.name,
            "status": self.status,
            "task": self.task,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
        }
        config = {k: v for k, v in self.config.items() if k != "task"}  # the identity column holds it
        return {**identity, **config, **self.metrics, "reason": self.reason, "path": self.path}


def list_runs(folder: str | Path) -> list[RunRecord]:
    """Every run folder directly inside ``folder`` (a folder holding config.yaml), by name.

    Raises:
        RunError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: runs folder not found")
    return [_read_run(path) for path in sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file())]


def report(
    folder: str | Path,
    *,
    fmt: str = "table",
    columns: str | None = None,
    sort: str | None = None,
    descending: bool = False,
    filters: tuple[str, ...] = (),
    width: int | None = None,
) -> str:
    """The ``rnnkit runs`` listing of ``folder`` in format ``fmt``.

    Args:
        folder: a folder of run folders (a sweep folder is one).
        fmt: ``table`` (grouped by task, fitted to ``width``), ``markdown`` (grouped, GitHub
            tables), ``csv`` or ``json`` (one table of every column, values untruncated).
        columns: comma-separated column names; they replace the task's columns and make one
            table (text formats) or limit csv and json to them.
        sort: column to sort by (runs without a value last); ``descending`` reverses.
        filters: ``KEY=VALUE`` (or ``!=``, ``<``, ``<=``, ``>``, ``>=``) conditions, all kept.
        width: characters the text table may take; None for no limit.

    Returns:
        The text to print, without a trailing newline.

    Raises:
        RunError: ``folder`` is not a folder.
        ConfigError: an unknown format or column (with the closest valid spelling), or a malformed filter.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    runs = list_runs(folder)
    known = known_columns(runs)
    chosen = parse_columns(columns, known) if columns is not None else None
    shown = select(runs, filters=filters, sort=sort, descending=descending, known=known)
    if fmt == "json":
        return format_json(shown, chosen or all_columns(shown))
    if fmt == "csv":
        return format_csv(shown, chosen or all_columns(shown))
    if not shown:
        return f"no runs in {folder}" + (" match the filters" if runs else "")
    return "\n\n".join(format_tables(shown, columns=chosen, sort=sort, width=width, markdown=fmt == "markdown"))


def known_columns(runs: Iterable[RunRecord]) -> list[str]:
    """Every column name ``--columns``, ``--sort`` and ``--filter`` accept: those of the listed
    runs, and every config key and metric rnnkit writes (so a name is valid in any folder)."""
    metrics = [f"{split}.{name}" for split in SPLITS for name in SplitMetrics.model_fields]
    names = dict.fromkeys([*IDENTITY, *_CONFIG_KEYS, *metrics, "reason", "path"])
    for run in runs:
        names.update(dict.fromkeys(run.values))
    return list(names)


def parse_columns(text: str, known: list[str]) -> list[str]:
    """``--columns a,b,c`` as a list of known column names, each once.

    Raises:
        ConfigError: no names, or an unknown one (naming the closest valid spelling).
    """
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ConfigError(f"--columns {text!r}: expected column names separated by commas, e.g. --columns run,status,test.mae")
    for name in names:
        _check_column(name, known, f"--columns {text!r}")
    return names


def select(
    runs: list[RunRecord],
    *,
    filters: tuple[str, ...] = (),
    sort: str | None = None,
    descending: bool = False,
    known: list[str] | None = None,
) -> list[RunRecord]:
    """The runs that pass every filter, sorted by ``sort`` (runs without a value last).

    Numbers compare as numbers; anything else compares as the table shows it (``true``,
    ``[32,16]``).

    Raises:
        ConfigError: a filter or sort key that is no column, or a malformed filter.
    """
    known = known if known is not None else known_columns(runs)
    for item in filters:
        match = re.fullmatch(r"\s*([\w.\-\[\]]+)\s*(!=|<=|>=|=|<|>)\s*(.*)", item)
        if not match:
            raise ConfigError(f"--filter {item!r}: expected KEY=VALUE (or !=, <, <=, >, >=), e.g. --filter status=complete")
        key, op, value = match.groups()
        _check_column(key, known, f"--filter {item!r}")
        if op in ("<", "<=", ">", ">=") and not _is_number(value):
            raise ConfigError(f"--filter {item!r}: {op} compares numbers. Received: {value!r}")
        runs = [run for run in runs if _matches(run.values.get(key), op, value)]
    if sort is not None:
        _check_column(sort, known, f"--sort {sort!r}")
        present = [run for run in runs if run.values.get(sort) is not None]
        missing = [run for run in runs if run.values.get(sort) is None]
        runs = sorted(present, key=lambda run: _sort_key(run.values[sort]), reverse=descending) + missing
    return runs


def all_columns(runs: Iterable[RunRecord]) -> list[str]:
    """Every column any of ``runs`` has: identity, config keys, metrics, then reason and path."""
    names = dict.fromkeys(IDENTITY)
    for run in runs:
        names.update(dict.fromkeys(run.values))
    for last in ("reason", "path"):
        names.pop(last, None)
        names[last] = None
    return list(names)


def task_columns(task: str | None, runs: list[RunRecord], sort: str | None = None) -> tuple[list[str], list[str]]:
    """The default columns of a table of ``task``'s runs, in table order and by importance.

    Run, status, epochs and best epoch; the config keys whose values differ between the runs
    (only keys that mean something for the task); the ``sort`` column; the task's headline
    metrics any run has; the reason when a run is damaged.

    Returns:
        The columns in table order, and the same columns most important first (the order in
        which they survive a narrow terminal).
    """
    spec = TASK_COLUMNS.get(task) if task is not None else None
    # A run of unknown task (neither config.yaml nor schema.json readable) gets every headline metric it has.
    names = spec.metrics if spec else tuple(dict.fromkeys(m for s in TASK_COLUMNS.values() for m in s.metrics))
    metrics = []
    for name in names:
        split = next((s for s in SPLITS if any(f"{s}.{name}" in run.metrics for run in runs)), None)
        if split is not None:
            metrics.append(f"{split}.{name}")
    own = set(spec.config) if spec else set()
    foreign = {key for other, s in TASK_COLUMNS.items() if other != task for key in s.config} - own
    readable = [run for run in runs if run.config]  # an unreadable config does not make every key look different
    keys = dict.fromkeys(key for run in readable for key in run.config)
    differing = [
        key
        for key in keys
        if not key.startswith(_NEVER_DIFFERING)
        and key not in foreign
        and len({_text(run.config.get(key)) for run in readable}) > 1
    ]
    reason = ["reason"] if any(run.reason for run in runs) else []
    base = ["run", "status", "epochs", "best_epoch", *differing, *metrics, *reason]
    by = [sort] if sort is not None and sort not in base else []
    shown = ["run", "status", "epochs", "best_epoch", *differing, *by, *metrics, *reason]
    importance = ["run", "status", *reason, *by, *metrics[:1], *differing, *metrics[1:], "best_epoch", "epochs"]
    return shown, importance


def format_tables(
    runs: list[RunRecord],
    *,
    columns: list[str] | None = None,
    sort: str | None = None,
    width: int | None = None,
    markdown: bool = False,
) -> list[str]:
    """The text tables of ``runs``: one per task under a heading line, or, when ``columns`` are
    given, one table of those columns.

    Args:
        runs: the runs, in the order they are listed.
        columns: the columns chosen; None for each task's own (:func:`task_columns`).
        sort: the sort column, shown even when it would not be.
        width: fit each text table to this many characters by hiding the least important
            columns (a note line names them) and shortening the reason; None for no limit.
        markdown: GitHub tables instead of aligned text (never fitted or shortened).
    """
    if columns is not None:
        return [_table(runs, columns, columns, {columns[0]}, width, markdown)]
    groups: dict[str | None, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.task, []).append(run)
    rank = {task: index for index, task in enumerate(TASK_COLUMNS)}
    tables = []
    for task in sorted(groups, key=lambda t: (t is None, rank.get(t, len(rank)))):
        group = groups[task]
        shown, importance = task_columns(task, group, sort)
        count = f"{len(group)} run{'s' if len(group) != 1 else ''}"
        name = task or "unknown task"
        heading = f"**{name}** ({count})" if markdown else f"{name} ({count})"
        tables.append(heading + ("\n\n" if markdown else "\n") + _table(group, shown, importance, TASK_KEPT, width, markdown))
    return tables


def format_csv(runs: list[RunRecord], columns: list[str]) -> str:
    """CSV of ``columns`` for every run, values in full: lists and objects as JSON, booleans as
    ``true``/``false``, missing values empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for run in runs:
        writer.writerow([_csv_value(run.values.get(column)) for column in columns])
    return buffer.getvalue().rstrip("\n")


def format_json(runs: list[RunRecord], columns: list[str]) -> str:
    """A JSON list with one object per run holding ``columns`` as real JSON types; numbers that
    JSON cannot hold (NaN, infinity) and missing values are null."""
    rows = [{column: _json_value(run.values.get(column)) for column in columns} for run in runs]
    return json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------------------------


def _config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            keys += _config_keys(section, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


_CONFIG_KEYS = [key for key in _config_keys(Config) if key != "task"]


def _read_run(path: Path) -> RunRecord:
    # Each file is read on its own, so a damaged one leaves the others' columns filled in; the
    # first problem found is the reason shown.
    from rnnkit.tasks import load_preprocessor  # pandas, not TensorFlow: only once runs are listed

    run = RunFolder(path)
    problems: list[str] = []

    def read(reader, default):
        try:
            return reader()
        except RunError as exc:
            problems.append(str(exc).replace(f"{path}/", ""))
            return default

    config = read(lambda: config_to_dict(run.read_config()), {})
    task, _ = read(lambda: load_preprocessor(run.schema), (None, None))
    status = read(run.read_status, {})
    metrics = read(run.read_metrics, {})
    read(run.read_manifest, None)
    flat_metrics = {}
    for split in ("val", "test"):
        for key, value in (metrics.get(split) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat_metrics[f"{split}.{key}"] = value
    return RunRecord(
        name=path.name,
        path=str(path),
        status="damaged" if problems else status.get("state", "unknown"),
        # schema.json names the task too: a run whose config.yaml is damaged still joins its task's table.
        task=config.get("task", task.name if task is not None else None),
        epochs=status.get("epoch"),
        best_epoch=metrics.get("best_epoch", status.get("best_epoch")),
        reason=problems[0] if problems else None,
        config=_flatten(config),
        metrics=flat_metrics,
    )


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _check_column(name: str, known: list[str], option: str) -> None:
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else "; --format csv lists every column"
        raise ConfigError(f"{option}: unknown column '{name}'{hint}")


def _table(
    runs: list[RunRecord], columns: list[str], importance: list[str], kept: set[str], width: int | None, markdown: bool
) -> str:
    numeric = {c: all(_is_numeric(run.values.get(c)) or run.values.get(c) is None for run in runs) for c in columns}
    if markdown:
        lines = [columns, ["---:" if numeric[c] else "---" for c in columns]]
        lines += [[_text(run.values.get(c)).replace("|", "\\|") for c in columns] for run in runs]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    cells = {c: [_shorten(c, _text(run.values.get(c))) for run in runs] for c in columns}
    shown, hidden = _fit(columns, importance, kept, cells, width)
    lines = []
    for index in range(-1, len(runs)):
        line = []
        for column in shown:
            size = max(len(column), *(len(text) for text in cells[column]))
            text = column if index < 0 else cells[column][index]
            line.append(text.rjust(size) if numeric[column] else text.ljust(size))
        lines.append("  ".join(line).rstrip())
    if hidden:
        lines.append(_hidden_note([c for c in columns if c in hidden], width))
    return "\n".join(lines)


def _fit(
    columns: list[str], importance: list[str], kept: set[str], cells: dict[str, list[str]], width: int | None
) -> tuple[list[str], set[str]]:
    # Hide the least important columns, but those kept, until the table fits with the reason at
    # MIN_REASON characters; the reason, a sentence, then takes whatever room is left.
    shown, hidden = list(columns), set()
    if width is None:
        return shown, hidden

    def size(column: str) -> int:
        natural = max(len(column), *(len(text) for text in cells[column]))
        return min(natural, MIN_REASON) if column == "reason" else natural

    def total() -> int:
        return sum(size(column) for column in shown) + 2 * (len(shown) - 1)

    for column in reversed(importance):
        if total() <= width:
            break
        if column not in kept:
            shown.remove(column)
            hidden.add(column)
    if "reason" in shown:
        room = max(MIN_REASON, width - (total() - size("reason")))
        cells["reason"] = [text if len(text) <= room else text[: room - 3] + "..." for text in cells["reason"]]
    return shown, hidden


def _hidden_note(hidden: list[str], width: int) -> str:
    # Every hidden name is listed; a note wider than the terminal wraps between names, and the
    # way out gets a line of its own.
    head = f"({len(hidden)} column{'s' if len(hidden) != 1 else ''} hidden: {', '.join(hidden)};"
    if len(head) + 1 + len(NOTE) <= width:
        return f"{head} {NOTE}"
    wrap = functools.partial(textwrap.wrap, width=width, break_long_words=False, break_on_hyphens=False)
    return "\n".join([*wrap(head), *wrap(NOTE, initial_indent=" ", subsequent_indent=" ")])


def _shorten(column: str, text: str) -> str:
    # Config values lose their middle, which keeps a path's file name and the end of a list;
    # the run's name is never shortened and the reason only to fit the terminal.
    if column in ("run", "reason") or len(text) <= MAX_VALUE:
        return text
    head = (MAX_VALUE - 3) // 2
    return text[:head] + "..." + text[len(text) - (MAX_VALUE - 3 - head) :]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"  # as YAML and --set write it
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sort_key(value: Any):
    return (0, value, "") if _is_numeric(value) else (1, 0, _text(value))


def _matches(found: Any, op: str, wanted: str) -> bool:
    if found is None:
        return op == "!="
    if _is_numeric(found):
        try:
            return _OPERATORS[op](float(found), float(wanted))
        except ValueError:
            return False
    return _OPERATORS[op](_text(found), wanted)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
