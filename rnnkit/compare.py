"""Listing and comparing run folders (``rnnkit runs``): status, task, differing config, metrics.

Reads only the small JSON and YAML files of each run, each validated as the commands that use
them validate it; a run whose files do not pass is listed as ``damaged`` with the reason. Never
imports TensorFlow.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import Any

from rnnkit.config import config_to_dict
from rnnkit.errors import ConfigError, RunError
from rnnkit.runs import RunFolder

# Headline metrics, in table order; a column appears when any listed run has it.
HEADLINE = (
    "test.mae",
    "test.rmse",
    "test.rel_mae",
    "test.accuracy",
    "test.macro_f1",
    "test.perplexity",
    "val.mae",
    "val.accuracy",
)
_IGNORED = ("versions.", "output.", "name", "task")  # task has its own column
_OPERATORS = {"=": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def list_runs(folder: str | Path) -> list[dict[str, Any]]:
    """Every run folder directly inside ``folder`` (a folder holding config.yaml), oldest first.

    Raises:
        RunError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: runs folder not found")
    runs = []
    for path in sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file()):
        runs.append(_read_run(path))
    return runs


def compare(
    runs: list[dict[str, Any]], *, sort: str | None = None, descending: bool = False, filters: tuple[str, ...] = ()
) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the runs table.

    Columns: run, status, task, epochs, best epoch, each config key whose value differs between
    the runs, and the headline metrics any run has.

    Raises:
        ConfigError: a filter or sort key that is not a column, or a malformed filter.
    """
    keys = sorted({k for run in runs for k in run["config"]})
    # A damaged run without a readable config does not make every key look different.
    readable = [run for run in runs if run["config"]]
    varying = [k for k in keys if not k.startswith(_IGNORED) and len({_text(run["config"].get(k)) for run in readable}) > 1]
    metrics = [m for m in HEADLINE if any(m in run["metrics"] for run in runs)]
    reason = ["reason"] if any(run["reason"] for run in runs) else []
    columns = ["run", "status", "task", "epochs", "best_epoch", *varying, *metrics, *reason]
    rows = [
        [run["name"], run["status"], run["config"].get("task"), run["epochs"], run["best_epoch"]]
        + [run["config"].get(k) for k in varying]
        + [run["metrics"].get(m) for m in metrics]
        + [run["reason"] for _ in reason]
        for run in runs
    ]
    all_keys = set(columns) | set(keys)
    for item in filters:
        match = re.fullmatch(r"\s*([\w.\-\[\]]+)\s*(!=|<=|>=|=|<|>)\s*(.*)", item)
        if not match:
            raise ConfigError(f"--filter {item!r}: expected KEY=VALUE (or !=, <, <=, >, >=), e.g. --filter status=complete")
        key, op, value = match.groups()
        if key not in all_keys:
            raise ConfigError(f"--filter {item!r}: unknown key '{key}'; columns: {', '.join(columns)}")
        if op in ("<", "<=", ">", ">=") and not _is_number(value):
            raise ConfigError(f"--filter {item!r}: {op} compares numbers. Received: {value!r}")
        keep = []
        for run, row in zip(runs, rows, strict=True):
            found = row[columns.index(key)] if key in columns else run["config"].get(key)
            if _matches(found, op, value):
                keep.append((run, row))
        runs, rows = [r for r, _ in keep], [r for _, r in keep]
    if sort is not None:
        if sort not in columns:
            raise ConfigError(f"--sort '{sort}' is not a column; columns: {', '.join(columns)}")
        index = columns.index(sort)
        present = [r for r in rows if r[index] is not None]
        missing = [r for r in rows if r[index] is None]
        rows = sorted(present, key=lambda r: _sort_key(r[index]), reverse=descending) + missing
    return columns, rows


def format_table(columns: list[str], rows: list[list[Any]]) -> str:
    """Aligned text table; numbers right-aligned."""
    cells = [columns] + [[_text(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(columns))]
    lines = []
    for row in cells:
        lines.append(
            "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        )
    return "\n".join(lines)


def _read_run(path: Path) -> dict[str, Any]:
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
    read(lambda: load_preprocessor(run.schema), None)
    status = read(run.read_status, {})
    metrics = read(run.read_metrics, {})
    read(run.read_manifest, None)
    flat_metrics = {}
    for split in ("val", "test"):
        for key, value in (metrics.get(split) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat_metrics[f"{split}.{key}"] = value
    return {
        "name": path.name,
        "path": str(path),
        "status": "damaged" if problems else status.get("state", "unknown"),
        "reason": problems[0] if problems else None,
        "epochs": status.get("epoch"),
        "best_epoch": metrics.get("best_epoch", status.get("best_epoch")),
        "config": _flatten(config),
        "metrics": flat_metrics,
    }


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def _sort_key(value: Any):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, _text(value))


def _matches(found: Any, op: str, wanted: str) -> bool:
    if found is None:
        return op == "!="
    if isinstance(found, (int, float)) and not isinstance(found, bool):
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
