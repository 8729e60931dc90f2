"""Typed models of a run folder's JSON files, and the one careful way to read them.

Every JSON file of a run folder (status.json, metrics.json, checkpoints/manifest.json, schema.json
and the training state inside each checkpoint) is read by :func:`read_json_object`: a regular
file, of bounded size and nesting, holding a JSON object. It is then validated in strict mode
(``"8"`` is not 8, ``true`` is not 1) by a pydantic model here, or for schema.json by the
preprocessor dataclass itself (:meth:`rnnkit.data.schema.SchemaRecord.from_dict`), before anything
uses it. Any problem is a :class:`~rnnkit.errors.RunError` naming the file, the field as a dotted
path, what was found and what is expected.

Unknown fields: refused in checkpoints/manifest.json, whose ``format`` number carries its
compatibility and which decides what gets loaded; kept in status.json, metrics.json and the
checkpoint training state, which are informational records that rnnkit itself extends (``reason``
of a failed run, ``files`` of ``evaluate --data``), so a run written by a newer rnnkit still lists,
evaluates and resumes.

Imports no TensorFlow, NumPy or pandas: ``rnnkit runs`` reads these files and must stay fast.
"""

from __future__ import annotations

import functools
import json
import math
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, model_validator

from rnnkit.config import DataConfig
from rnnkit.errors import RunError
from rnnkit.files import describe_os_error, regular_file

# pruned: a sweep trial that Optuna stopped early; its run folder is whole, like a complete one's.
STATES = ("running", "complete", "pruned", "interrupted", "failed", "diverged")
RUN_FORMAT = 1
CHECKPOINTS = ("best", "last")
STATE_ENTRY = "rnnkit_state.json"  # training state stored inside each .keras archive
MODEL_ENTRY = "config.json"  # the model's Keras config inside each .keras archive

# Far above anything rnnkit writes; deeper documents are hostile (json.loads itself overflows
# Python's stack near 1,000 levels, and re-writing them would overflow it sooner).
MAX_DEPTH = 32
# Largest file read, by name: the small records are kilobytes; schema.json holds a vocabulary of
# up to data.vocab_size (10 million) tokens and their frequencies.
SIZE_LIMITS = {"status.json": 1 << 20, "manifest.json": 1 << 20, "schema.json": 1 << 30}
DEFAULT_SIZE_LIMIT = 64 << 20
_SHA256 = r"^[0-9a-f]{64}$"


# -- reading -------------------------------------------------------------------------------------


def read_json_object(path: Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """Read a run folder's JSON file: a regular file within its size limit holding a JSON object.

    Args:
        path: the file.
        missing_ok: return None for a missing file instead of failing.

    Raises:
        RunError: missing (unless ``missing_ok``), not a regular file, too large, not UTF-8 JSON,
            nested too deeply, or not an object at the top level.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        if missing_ok:
            return None
        raise RunError(f"{path}: not found; the run folder is incomplete")
    limit = SIZE_LIMITS.get(path.name, DEFAULT_SIZE_LIMIT)
    regular_file(path, RunError, "run folder file", max_bytes=limit)  # a FIFO or a device would block or never end
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise RunError(f"{path}: cannot read: {describe_os_error(exc)}") from None
    if len(data) > limit:
        raise RunError(f"{path}: larger than {_size(limit)}, far more than rnnkit writes; the run folder is corrupt")
    return parse_json_object(data, str(path))


def parse_json_object(data: bytes | str, source: str) -> dict[str, Any]:
    """Parse JSON text that must hold an object nested at most :data:`MAX_DEPTH` levels deep.

    Raises:
        RunError: not UTF-8, not JSON, nested too deeply, or not an object.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        parsed = json.loads(text)
    except UnicodeDecodeError as exc:
        raise RunError(f"{source}: not UTF-8 text (byte {exc.start}); the run folder is corrupt") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
        raise RunError(f"{source}: not valid JSON ({exc}); the run folder is corrupt") from None
    except RecursionError:
        raise RunError(f"{source}: nested more than {MAX_DEPTH} levels deep; the run folder is corrupt") from None
    if not isinstance(parsed, dict):
        raise RunError(f"{source}: expected a JSON object at the top level. Received: a JSON {_kind(parsed)}")
    if _deeper_than(parsed, MAX_DEPTH):
        raise RunError(f"{source}: nested more than {MAX_DEPTH} levels deep; the run folder is corrupt")
    return parsed


def validate(model: type[BaseModel], data: dict[str, Any], source: str) -> BaseModel:
    """``model`` validated from ``data``; the first problem becomes a one-line RunError.

    Raises:
        RunError: ``source``, the field as a dotted path, what was found and what is expected.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RunError(describe(exc, source)) from None


def describe(exc: ValidationError, source: str) -> str:
    """One line for the first error of ``exc``: ``<source>: <field> must be <x>. Received: ...``."""
    error = exc.errors(include_url=False)[0]
    loc = [part for part in error["loc"] if part != "[key]"]  # pydantic's marker of a bad dict key
    field = dotted(loc)
    kind, value = error["type"], error.get("input")
    if kind in ("missing", "missing_keyword_argument"):
        return f"{source}: required field '{field}' is missing"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{source}: unknown field '{field}'; rnnkit does not write it (a newer run format, or an edit)"
    if kind == "value_error":  # a check of our own: its message says what is wrong
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{source}: {field}: {message}" if loc else f"{source}: {message}"
    if not loc:
        return f"{source}: expected a JSON object at the top level. Received: a JSON {_kind(value)}"
    received = f" Received: {field}={_shown(value)}"
    if kind == "literal_error":
        return f"{source}: {field} must be one of {error['ctx']['expected']}.{received}"
    expected = _PATTERNS.get(error.get("ctx", {}).get("pattern")) or _EXPECTED.get(kind)
    message = expected.format(**error.get("ctx", {})) if expected else error["msg"].lower()
    kind_note = f" ({_kind(value)})" if kind in _TYPE_ERRORS and value is not None else ""
    return f"{source}: {field} must be {message}.{received}{kind_note}"


def dotted(loc: list | tuple) -> str:
    """A validation location as the user reads it: ``spread.y``, ``labels[2]``, ``sources['/d.csv']``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{_shown(str(part))}]"
    return text or "(top level)"


# -- status.json, metrics.json, checkpoints/manifest.json -------------------------------------


class _Record(BaseModel):
    # Informational records: unknown fields are kept (forward compatible); known ones are typed.
    model_config = ConfigDict(strict=True, extra="allow")


class RunStatus(_Record):
    """status.json: the run's state, written at every epoch and when training ends."""

    state: Literal[STATES]
    updated: str | None = None
    started: str | None = None
    pid: int | None = None
    epoch: int | None = Field(None, ge=0)
    best_epoch: int | None = Field(None, ge=0)
    reason: str | None = None


class SplitMetrics(_Record):
    """Metrics of one split or file: the headline numbers are typed, breakdowns kept as written.

    NaN and infinity are allowed: MASE without a naive scale or a perplexity that overflowed are
    written that way.
    """

    mae: float | None = None
    rmse: float | None = None
    smape: float | None = None
    mape: float | None = None
    mase: float | None = None
    rel_mae: float | None = None
    rel_rmse: float | None = None
    skill_mae: float | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    cross_entropy: float | None = None
    perplexity: float | None = None
    windows: int | None = Field(None, ge=0)
    count: int | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0)


class FileMetrics(_Record):
    """``metrics.json`` ``files.<path>``: what ``evaluate --data`` measured on one file."""

    model: SplitMetrics
    baseline: SplitMetrics


class Monitor(_Record):
    """``metrics.json`` ``monitor``: the metric early stopping watched and its best value."""

    name: str
    value: float


class RunMetrics(_Record):
    """metrics.json: ``val``, ``test``, ``baseline`` by split, ``files``, best epoch and monitor."""

    val: SplitMetrics | None = None
    test: SplitMetrics | None = None
    baseline: dict[str, SplitMetrics] | None = None
    files: dict[str, FileMetrics] | None = None
    best_epoch: int | None = Field(None, ge=0)
    monitor: Monitor | None = None


class CheckpointEntry(BaseModel):
    """One checkpoint of the manifest: its file name inside checkpoints/, sha256 and epoch."""

    model_config = ConfigDict(strict=True, extra="forbid")

    file: str
    sha256: str = Field(pattern=_SHA256)
    epoch: int = Field(ge=0)


class Manifest(BaseModel):
    """checkpoints/manifest.json: verified checkpoints, and those staged but not yet confirmed."""

    model_config = ConfigDict(strict=True, extra="forbid")

    format: Literal[RUN_FORMAT]
    checkpoints: dict[Literal[CHECKPOINTS], CheckpointEntry] = Field(default_factory=dict)
    pending: dict[Literal[CHECKPOINTS], CheckpointEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _files_stay_inside(self) -> Manifest:
        for section in ("checkpoints", "pending"):
            for name, entry in getattr(self, section).items():
                if entry.file != f"{name}.keras":
                    raise ValueError(
                        f"{section}.{name}.file names {entry.file!r}; checkpoints must be best.keras or last.keras "
                        "inside the run folder"
                    )
        return self


class CheckpointState(_Record):
    """The training state inside each checkpoint (``rnnkit_state.json``): what resume continues from."""

    epoch: int = Field(ge=0)
    best_value: float  # +-inf before the first improvement
    best_epoch: int = Field(ge=0)
    wait: int = Field(ge=0)
    rows: list[dict[str, float]]  # strict floats accept whole numbers (the epoch column)
    seed_states: list[list[int]] = Field(default_factory=list)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """checkpoints/manifest.json validated, as plain data; None when the file does not exist.

    Raises:
        RunError: another format, an unknown field, a malformed entry, or a name outside the folder.
    """
    data = read_json_object(path, missing_ok=True)
    if data is None:
        return None
    found = data.get("format")
    if found != RUN_FORMAT or isinstance(found, bool):
        # Before the fields: a newer format may lay them out differently.
        raise RunError(f"{path}: format {found!r}; this rnnkit reads run format {RUN_FORMAT}")
    return validate(Manifest, data, str(path)).model_dump()


def read_archive_json(archive: zipfile.ZipFile, entry: str, source: str) -> dict[str, Any]:
    """JSON object stored as ``entry`` of a checkpoint archive, its size checked before reading.

    Raises:
        RunError: absent, too large, or not a JSON object.
    """
    try:
        info = archive.getinfo(entry)
    except KeyError:
        raise RunError(f"{source}: the checkpoint has no {entry}; it was not written by rnnkit") from None
    # The uncompressed size is declared up front: a small archive may inflate to gigabytes.
    if info.file_size > DEFAULT_SIZE_LIMIT:
        raise RunError(f"{source}: {entry} is larger than {_size(DEFAULT_SIZE_LIMIT)}; the checkpoint is corrupt")
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise RunError(f"{source}: checkpoint is corrupt: cannot read {entry} ({exc})") from None
    return parse_json_object(data, f"{source}: {entry}")


# -- schema.json ------------------------------------------------------------------------------


def validate_record(cls: type, data: dict[str, Any], source: str) -> Any:
    """An instance of the schema dataclass ``cls`` (a :class:`rnnkit.data.schema.SchemaRecord`)
    built from schema.json content, validated against the dataclass's own fields.

    Types come from the dataclass, in strict mode and with unknown fields refused (its
    ``__pydantic_config__``); fields named like a data config key obey that key's type and range;
    :data:`FIELD_CHECKS` judge what types cannot (finite centers, spreads above 0, ...).

    Raises:
        RunError: ``source``, the field as a dotted path, what was found and what is expected.
    """
    try:
        # JSON mode: strict validation builds a dataclass from an object (Python mode would insist
        # on an instance); NaN and infinity pass here and are judged by FIELD_CHECKS.
        record = _adapter(cls).validate_json(json.dumps(data))
        _ConfigValues.model_validate({key: getattr(record, key) for key in _CONFIG_KEYS if hasattr(record, key)})
    except ValidationError as exc:
        raise RunError(describe(exc, source)) from None
    for name, check in FIELD_CHECKS.items():
        problem = check(name, getattr(record, name), record) if hasattr(record, name) else None
        if problem is not None:
            raise RunError(f"{source}: {problem}")
    return record


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


# Fields named like a data config key take the values that key allows: rnnkit.config is their
# one definition (window and horizon at least 1, scale one of standard/minmax/none, ...).
_CONFIG_KEYS = ("window", "horizon", "stride", "max_length", "layout", "scale", "missing", "detrend", "tokenize", "time_format")
_ConfigValues = create_model(
    "_ConfigValues",
    __config__=ConfigDict(strict=True),
    **{key: (DataConfig.model_fields[key].annotation, DataConfig.model_fields[key]) for key in _CONFIG_KEYS},
)


def _finite(name: str, values: dict[str, float], record: Any) -> str | None:
    for key, value in values.items():
        if not math.isfinite(value):
            return _wrong([name, key], "a finite number", value)
    return None


def _positive(name: str, values: dict[str, float], record: Any) -> str | None:
    # A spread divides every value: zero, negative or non-finite would turn data into inf or NaN.
    for key, value in values.items():
        if not (math.isfinite(value) and value > 0):
            return _wrong([name, key], "a finite number above 0", value)
    return None


def _non_empty_unique(name: str, values: list[str], record: Any) -> str | None:
    if not values:
        return _wrong([name], "a list of at least one name", values)
    return _unique(name, values, record)


def _unique(name: str, values: list[str], record: Any) -> str | None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            return _wrong([name, index], "a name not listed before it", value)
        seen.add(value)
    return None


def _sha256_values(name: str, values: dict[str, str], record: Any) -> str | None:
    for key, value in values.items():
        if not re.fullmatch(_SHA256, value):
            return _wrong([name, key], "a sha256 hex digest", value)
    return None


def _frequencies(name: str, values: list[float], record: Any) -> str | None:
    wanted = len(record.vocab) + 2  # one per token id: the vocabulary and the 2 reserved ids
    if len(values) != wanted:
        return f"{name} must hold {wanted} frequencies, one per token id (vocab and 2 reserved ids). Received: {len(values)}"
    for index, value in enumerate(values):
        if not (math.isfinite(value) and value >= 0):
            return _wrong([name, index], "a finite number of at least 0", value)
    if sum(values) <= 0:
        return f"{name} must hold a frequency above 0. Received: only zeros"
    return None


def _scaled_columns(name: str, values: dict[str, float], record: Any) -> str | None:
    # Every column the record scales needs a center and a spread (text features are not scaled).
    columns = [] if getattr(record, "tokenize", None) else list(record.features)
    for column in [*columns, *getattr(record, "target_columns", [])]:
        if column not in values:
            return f"{name} has no entry for column {column!r}, which the model reads. Received: {name}={_shown(values)}"
    return None


def _time_step(name: str, value: int | float | str | None, record: Any) -> str | None:
    # Predict adds it to origin times: a frequency for dates, a positive number for numeric times.
    if value is None:
        return None
    if isinstance(value, str) and record.time_kind == "datetime":
        import pandas as pd

        try:
            pd.tseries.frequencies.to_offset(value)
            return None
        except ValueError:
            pass
    elif not isinstance(value, str) and record.time_kind == "numeric" and math.isfinite(value) and value > 0:
        return None
    expected = {
        "datetime": "a pandas frequency such as 'D', 'W-SUN', 'MS' or 'h' (the time column holds dates), or null",
        "numeric": "a finite number above 0 (the time column holds numbers), or null",
    }.get(record.time_kind, "null (the run has no time column)")
    return _wrong([name], expected, value)


def _majority_label(name: str, value: str | None, record: Any) -> str | None:
    if value is None or value in record.labels:
        return None
    return _wrong([name], f"one of the labels ({_shown(record.labels)}), or null", value)


def _all(*checks: Callable[[str, Any, Any], str | None]) -> Callable[[str, Any, Any], str | None]:
    def check(name: str, value: Any, record: Any) -> str | None:
        return next((problem for c in checks if (problem := c(name, value, record)) is not None), None)

    return check


def _wrong(loc: list, expected: str, value: Any) -> str:
    field = dotted(loc)
    return f"{field} must be {expected}. Received: {field}={_shown(value)}"


# Checks of values that types cannot express, by field name: each applies to every schema record
# that has the field and returns what is wrong, or None.
FIELD_CHECKS: dict[str, Callable[[str, Any, Any], str | None]] = {
    "features": _non_empty_unique,
    "target_columns": _non_empty_unique,
    "labels": _non_empty_unique,
    "vocab": _unique,
    "center": _all(_finite, _scaled_columns),
    "spread": _all(_positive, _scaled_columns),
    "sources": _sha256_values,
    "unigram": _frequencies,
    "time_step": _time_step,
    "majority_label": _majority_label,
}


# -- the model inside a checkpoint ----------------------------------------------------------------

# What a checkpoint's model config must agree on with the run (the RecurrentModel arguments that
# shape its weights), and how a message says what the model has. schema.json implies the data's
# shapes (Task.model_kwargs), config.yaml the architecture.
MODEL_FACTS = {
    "input_features": "expects {} input features",
    "output_steps": "predicts {} steps (the horizon)",
    "output_dim": "has {} outputs per step (targets, classes or tokens)",
    "vocab_size": "embeds {} token ids (the vocabulary and 2 reserved ids)",
    "output_mode": "has output mode {}",
    "mask_inputs": "has mask_inputs={}",
    "cell": "has {} cells",
    "units": "has recurrent layers of {} units",
    "bidirectional": "has bidirectional={}",
    "dense": "has dense head layers {}",
    "embedding_dim": "has embedding_dim={}",
}


def check_model(path: Path, expected: dict[str, dict[str, Any]]) -> None:
    """Check the model stored in checkpoint ``path`` against what the run's files say it is.

    Reads the model's Keras config from the archive, without TensorFlow, so a checkpoint copied
    from another run is refused before data is read or a model loaded, instead of failing inside
    Keras (or, where shapes happen to fit, giving another model's numbers).

    Args:
        path: a ``.keras`` checkpoint.
        expected: by file name (``"schema.json"``, ``"config.yaml"``), the model arguments that
            file implies; those named in :data:`MODEL_FACTS` are compared.

    Raises:
        RunError: the checkpoint is not an rnnkit model or disagrees, e.g. "the model expects 3
            input features; schema.json has 2".
    """
    try:
        with zipfile.ZipFile(path) as archive:
            document = read_archive_json(archive, MODEL_ENTRY, str(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise RunError(f"{path}: checkpoint is corrupt (not a .keras archive: {exc})") from None
    config = document.get("config")
    if not isinstance(config, dict):
        raise RunError(f"{path}: {MODEL_ENTRY} has no model config; the checkpoint is not an rnnkit model")
    for source, facts in expected.items():
        for key, wanted in facts.items():
            if key not in MODEL_FACTS:
                continue
            if key not in config:
                raise RunError(f"{path}: the model's config has no '{key}'; the checkpoint is not an rnnkit model")
            found = config[key]
            if found != wanted or type(found) is not type(wanted):
                phrase = MODEL_FACTS[key].format(_shown(found))
                raise RunError(f"{path}: the model {phrase}; {source} has {_shown(wanted)}")


# --------------------------------------------------------------------------------------------


_PATTERNS = {_SHA256: "a sha256 digest (64 hex digits, lowercase)"}
_TYPE_ERRORS = {"int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type", "model_type", "dataclass_type"}
_EXPECTED = {
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "dataclass_type": "an object",
    "greater_than_equal": "at least {ge}",
    "greater_than": "greater than {gt}",
    "less_than_equal": "at most {le}",
    "less_than": "less than {lt}",
    "finite_number": "a finite number",
    "string_pattern_mismatch": "a string matching {pattern}",
    "too_short": "a list of at least {min_length} item(s)",
    "literal_error": "one of {expected}",
}


def _kind(value: Any) -> str:
    # JSON's names for what was found.
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "float"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _shown(value: Any, width: int = 60) -> str:
    # As JSON writes it ("8", null, true, NaN); hostile files can hold megabytes in one value.
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative: a deep document must not overflow the stack here either.
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _size(limit: int) -> str:
    return f"{limit >> 30} GiB" if limit >= 1 << 30 else f"{limit >> 20} MiB"
