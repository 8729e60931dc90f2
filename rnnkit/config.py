"""The config: every key with its default, type, range and description, in one place.

Configs are YAML read through a strict safe loader (YAML 1.2 scalars, no duplicate keys, no
Python tags), merged with ``--set dotted.key=value`` overrides, and validated by pydantic models
whose fields are the single source of truth for defaults, ranges, help and the JSON Schema.
This module never imports TensorFlow: ``rnnkit validate`` and config errors must be instant.
"""

from __future__ import annotations

import difflib
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.files import describe_os_error, regular_file

# Choices are registries: the keys are the valid config values and feed errors and help text.
TASKS = {
    "forecast": "predict the next `horizon` steps of the target column(s) of each series",
    "classify": "one label per sequence (numeric channels, or a text column with data.tokenize)",
    "tag": "one label per step of each sequence",
    "generate": "a language model over a plain text file, sampled with `rnnkit generate`",
}
# Monitors each task can watch; the first is the default.
TASK_MONITORS = {
    "forecast": ("val_loss", "loss", "val_mae", "mae"),
    "classify": ("val_loss", "loss", "val_accuracy", "accuracy"),
    "tag": ("val_loss", "loss", "val_accuracy", "accuracy"),
    "generate": ("val_loss", "loss", "val_accuracy", "accuracy"),
}
CELLS = {
    "simple": "SimpleRNN: the plain recurrence h_t = tanh(W x_t + U h_{t-1} + b)",
    "lstm": "LSTM: gated cell with a separate memory, good default for long dependencies",
    "gru": "GRU: gated cell, fewer weights than LSTM and often as good",
}
SCALERS = {
    "standard": "subtract the training mean and divide by the training standard deviation",
    "minmax": "map the training minimum and maximum to 0 and 1",
    "none": "feed values as they are",
}
MISSING = {
    "error": "stop with a data error naming the first missing cell",
    "drop": "drop rows with a missing value in a used column",
    "ffill": "carry the last observed value forward within each series (leading gaps are dropped)",
}
DETREND = {
    "none": "model scaled levels; right for stationary series whose range is covered by training",
    "last_value": "model each window relative to its last observed target value, so forecasts "
    "follow trends beyond the range seen in training",
}
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with momentum 0.9", "rmsprop": "RMSprop"}
LOSSES = {
    "auto": "mse for forecast, crossentropy for the other tasks",
    "mse": "mean squared error",
    "mae": "mean absolute error",
    "huber": "Huber loss (delta 1.0, in scaled units)",
    "crossentropy": "sparse categorical cross-entropy (classify, tag, generate)",
}
REGRESSION_LOSSES = ("mse", "mae", "huber")
SWEEP_METHODS = {
    "grid": "every combination of the listed choices, in an order shuffled by the seed; ranges are not allowed",
    "random": "independent draws from the choices and ranges (Optuna's RandomSampler)",
    "bayes": "Optuna's TPE sampler, which learns from finished trials; trials that trail the median at the same epoch are pruned",
}

PATH_KEYS = ("data.path", "data.val_path", "data.test_path")
# Keys (and their sub-keys) a sweep may not vary: they name or place the sweep itself, or hold paths that are
# resolved against the config file.
SWEEP_FIXED_KEYS = ("name", "versions", "output", "sweep", *PATH_KEYS)


class _Section(BaseModel):
    # strict: no silent "5" -> 5 or true -> 1; forbid: unknown keys are errors, not ignored.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class SplitConfig(_Section):
    val: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of each series held out for validation (chronological)")
    test: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of each series held out for testing, after validation")

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        if self.val + self.test >= 1.0:
            raise ValueError(f"split.val + split.test must be below 1. Received: val={self.val}, test={self.test}")
        return self


class DataConfig(_Section):
    path: str = Field(description="CSV or Parquet file (plain text for generate); relative paths are relative to the config file")
    val_path: str | None = Field(None, description="explicit validation file (same columns); replaces split.val")
    test_path: str | None = Field(None, description="explicit test file (same columns); replaces split.test")
    id: str | None = Field(None, description="column naming the series or sequence a row belongs to; absent means one series")
    time: str | None = Field(None, description="column ordering rows within a series (numbers or dates); absent means file order")
    time_format: str | None = Field(
        None,
        description="format of a text time column, strftime (e.g. '%d/%m/%Y') or ISO8601; null: inferred, "
        "one format for the whole column (ISO 8601, or the only reading of every cell; ambiguous day/month is an error)",
    )
    layout: Literal["long", "wide"] = Field("long", description="long: one row per step; wide: one row per sequence (classify)")
    features: list[str] | None = Field(
        None, min_length=1, description="input columns (numeric; or one text column with tokenize); wide layout: default all"
    )
    target: str | list[str] | None = Field(
        None, description="forecast: column(s) to predict; classify: label; tag: per-step label"
    )
    window: int = Field(48, ge=1, le=100_000, description="input steps per example")
    horizon: int = Field(1, ge=1, le=10_000, description="steps ahead predicted at once (direct multi-step output)")
    stride: int = Field(1, ge=1, le=100_000, description="steps between consecutive training windows")
    split: SplitConfig = Field(default_factory=SplitConfig, description="held-out fractions per series")
    scale: Literal["standard", "minmax", "none"] = Field(
        "standard", description="per-column scaling fitted on training rows only"
    )
    missing: Literal["error", "drop", "ffill"] = Field("error", description="what to do with missing values")
    detrend: Literal["none", "last_value"] = Field("none", description="how to handle trends: none or last_value (see docs)")
    max_length: int | None = Field(
        None, ge=1, le=1_000_000, description="classify/tag: keep at most this many (last) steps; null: the longest sequence"
    )
    tokenize: Literal["char", "word"] | None = Field(None, description="text inputs: split into characters or words")
    vocab_size: int = Field(
        20_000, ge=3, le=10_000_000, description="text: largest vocabulary kept (by frequency), ids 0-1 reserved"
    )
    lowercase: bool = Field(False, description="text: lowercase before tokenizing")

    @property
    def targets(self) -> list[str]:
        if self.target is None:
            return []
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @field_validator("features")
    @classmethod
    def _no_duplicate_features(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _check_unique(value, "features")
        return value

    @field_validator("time_format")
    @classmethod
    def _usable_time_format(cls, value: str | None) -> str | None:
        # Cheap and complete enough: the format must read back what it writes (pandas parses
        # with the same directives as Python's strptime).
        if value is None or value == "ISO8601":
            return value
        example = "e.g. '%d/%m/%Y' or '%Y-%m-%d %H:%M'"
        if not re.search(r"%[A-Za-z]", value):
            raise ValueError(f"must be a strftime format with directives such as %d, %m, %Y, {example}. Received: {value!r}")
        try:
            datetime.strptime(datetime(2001, 2, 3, 4, 5, 6, 7000, tzinfo=timezone.utc).strftime(value), value)
        except ValueError as exc:
            raise ValueError(f"is not a usable strftime format ({exc}); {example}. Received: {value!r}") from None
        except re.error:  # strptime's regex refuses a directive given twice
            raise ValueError(f"is not a usable strftime format (a directive repeats); {example}. Received: {value!r}") from None
        return value

    @field_validator("target")
    @classmethod
    def _targets_listed_once(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("target must name at least one column. Received: target=[]")
            _check_unique(value, "target")
        return value

    @model_validator(mode="after")
    def _roles_do_not_overlap(self) -> DataConfig:
        for key in ("id", "time"):
            column = getattr(self, key)
            if column is not None and (column in (self.features or []) or column in self.targets):
                raise ValueError(f"column '{column}' is the {key} column and cannot also be a feature or target")
        if self.id is not None and self.id == self.time:
            raise ValueError(f"id and time must be different columns. Received: both '{self.id}'")
        return self


# Sizes without a natural upper bound get one far beyond any sensible model; whether a legal model
# fits the machine is estimated before a run folder is made (rnnkit.resources).
MAX_UNITS = 65_536
MAX_LAYERS = 32
LayerSize = Annotated[int, Field(ge=1, le=MAX_UNITS)]


class ModelConfig(_Section):
    cell: Literal["simple", "lstm", "gru"] = Field("lstm", description="recurrent cell: simple, lstm or gru")
    units: LayerSize | Annotated[list[LayerSize], Field(max_length=MAX_LAYERS)] = Field(
        default_factory=lambda: [64], description="units of each recurrent layer, one entry per layer"
    )
    bidirectional: bool = Field(False, description="run each recurrent layer forwards and backwards")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on each recurrent layer's inputs")
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the recurrent state (disables fast kernels)")
    dense: list[LayerSize] = Field(
        default_factory=list, max_length=MAX_LAYERS, description="hidden layer sizes of the dense head"
    )
    dense_activation: Literal["relu", "tanh", "gelu", "linear"] = Field(
        "relu", description="activation of the head's hidden layers"
    )
    embedding_dim: int = Field(32, ge=1, le=MAX_UNITS, description="text: size of each token's learned vector")

    @property
    def layer_units(self) -> list[int]:
        return [self.units] if isinstance(self.units, int) else list(self.units)

    @field_validator("units")
    @classmethod
    def _some_layer(cls, value: int | list[int]) -> int | list[int]:
        if value == []:
            raise ValueError("units must list at least one layer. Received: units=[]")
        return value


class EarlyStoppingConfig(_Section):
    monitor: Literal["val_loss", "loss", "val_mae", "mae", "val_accuracy", "accuracy"] = Field(
        "val_loss", description="metric watched for the best checkpoint and early stopping (accuracy: higher is better)"
    )
    patience: int | None = Field(
        5, ge=0, le=100_000, description="epochs without improvement before stopping; null never stops early"
    )
    min_delta: float = Field(0.0, ge=0.0, description="smallest change that counts as an improvement")


class TrainConfig(_Section):
    epochs: int = Field(50, ge=1, le=100_000, description="maximum number of passes over the training windows")
    batch_size: int = Field(64, ge=1, le=1_000_000, description="windows per gradient step")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="optimizer")
    learning_rate: float = Field(0.001, gt=0.0, le=10.0, description="initial learning rate")
    clipnorm: float | None = Field(None, gt=0.0, description="clip each gradient to this norm; null disables")
    loss: Literal["auto", "mse", "mae", "huber", "crossentropy"] = Field("auto", description="training loss; auto picks by task")
    class_weight: Literal["none", "balanced"] = Field(
        "none", description="classify: weigh classes inversely to their training frequency"
    )
    shuffle: bool = Field(True, description="shuffle training windows each epoch (seeded)")
    tensorboard: bool = Field(False, description="write TensorBoard logs (per epoch) to <run>/tensorboard")
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="tf.distribute strategy: none (one device), mirrored (every local GPU), "
        "multi_worker (several machines, from TF_CONFIG)",
    )
    worker_timeout: int = Field(
        300,
        ge=1,
        le=86_400,
        description="multi_worker: seconds to wait for every worker of TF_CONFIG's cluster to answer before giving up (exit 5)",
    )
    jit_compile: bool = Field(False, description="compile the training step's forward and backward pass with XLA")
    mixed_precision: Literal["none", "float16", "bfloat16"] = Field(
        "none",
        description="compute in float16 (GPUs, with loss scaling) or bfloat16 (CPUs with AVX512-BF16/AMX, TPUs); "
        "weights and outputs stay float32",
    )
    early_stopping: EarlyStoppingConfig = Field(
        default_factory=EarlyStoppingConfig, description="best-checkpoint and stopping rule"
    )


class OutputConfig(_Section):
    dir: str = Field("runs", description="folder that receives run folders; relative to the current directory")


class SweepRange(_Section):
    low: int | float = Field(description="smallest value drawn")
    high: int | float = Field(description="largest value drawn")
    log: bool = Field(False, description="draw uniformly on a log scale (learning rates); needs low above 0")
    step: int | float | None = Field(None, gt=0, description="draw only low, low + step, ...; not with log")

    @property
    def integer(self) -> bool:
        """Whole numbers are drawn when low, high (and step) are whole numbers."""
        return all(isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None)

    @model_validator(mode="after")
    def _valid_range(self) -> SweepRange:
        if not self.low < self.high:
            raise ValueError(f"low must be below high. Received: low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low above 0. Received: low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step exclude each other")
        return self


class SweepConfig(_Section):
    method: Literal["grid", "random", "bayes"] = Field("grid", description="how trials are chosen: " + ", ".join(SWEEP_METHODS))
    trials: int | None = Field(
        None, ge=1, le=100_000, description="trials in all, counting finished ones of a resumed sweep; default: grid size, or 20"
    )
    metric: Literal["val_loss", "loss", "val_mae", "mae", "val_accuracy", "accuracy"] | None = Field(
        None, description="ranks trials, at each trial's best epoch; default train.early_stopping.monitor (accuracy: higher)"
    )
    dir: str | None = Field(
        None, description="sweep folder (trials, leaderboard, study); default sweeps/<name>, from the current dir"
    )
    params: dict[str, list[Any] | SweepRange] = Field(
        min_length=1, description="dotted config key: a list of choices, or a range {low, high, log, step} (random and bayes)"
    )
    prune: bool = Field(True, description="bayes: stop trials whose metric trails the median of finished trials at that epoch")
    prune_startup_trials: int = Field(3, ge=0, le=100_000, description="bayes: finished trials needed before pruning starts")
    prune_warmup_epochs: int = Field(1, ge=0, le=100_000, description="bayes: epochs every trial trains before it can be pruned")

    @field_validator("params", mode="before")
    @classmethod
    def _flat_params(cls, value: Any) -> Any:
        # Dotted keys (model.units) or nested sections (model: {units: ...}, as --set writes them) both work.
        if not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("name at least one dotted config key to sweep, e.g. model.cell: [lstm, gru]")
        flat: dict[str, Any] = {}
        for key, spec in value.items():
            if isinstance(spec, dict) and spec and not {"low", "high"} & set(spec):
                for sub, sub_spec in cls._flat_params(spec).items():
                    flat[f"{key}.{sub}"] = sub_spec
            elif isinstance(spec, dict):
                flat[key] = _sweep_range(key, spec)
            elif isinstance(spec, list) and not spec:
                raise ValueError(f"{key} must list at least one choice. Received: []")
            elif not isinstance(spec, list):
                raise ValueError(
                    f"{key} must be a list of choices or a range {{low, high}}. Received: {spec!r}"
                    f" (write [{spec!r}] for a single choice)"
                )
            else:
                flat[key] = spec
        return flat


class Config(_Section):
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="prefix of the run folder name")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="seed for weights, shuffling and dropout")
    task: Literal["forecast", "classify", "tag", "generate"] = Field("forecast", description="what to learn: " + ", ".join(TASKS))
    data: DataConfig = Field(description="where the sequences are and how to cut them into examples")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the recurrent network")
    train: TrainConfig = Field(default_factory=TrainConfig, description="how to fit it")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where runs go")
    versions: dict[str, str] | None = Field(None, description="library versions, written by rnnkit train; ignored on input")
    sweep: SweepConfig | None = Field(None, description="hyperparameter search run by rnnkit sweep; rnnkit train ignores it")

    @model_validator(mode="after")
    def _task_needs(self) -> Config:
        data, task = self.data, self.task
        required = {"forecast": ("features", "target"), "classify": ("target",), "tag": ("id", "features", "target")}
        for key in required.get(task, ()):
            if getattr(data, key) is None:
                raise ValueError(f"task '{task}' needs data.{key}")
        if task == "classify" and data.layout == "long" and data.features is None:
            raise ValueError("task 'classify' with data.layout long needs data.features (or set data.layout: wide)")
        if task == "classify" and data.layout == "long" and data.id is None and data.tokenize is None:
            raise ValueError("task 'classify' with numeric long-layout data needs data.id naming each sequence")
        if task in ("classify", "tag") and isinstance(data.target, list) and len(data.target) != 1:
            raise ValueError(f"task '{task}' takes one label column in data.target. Received: {data.target}")
        if task != "classify" and data.layout == "wide":
            raise ValueError(f"data.layout 'wide' is for task 'classify'. Received: task '{task}'")
        if data.tokenize is not None and task in ("classify", "tag") and (data.features is None or len(data.features) != 1):
            raise ValueError(f"data.tokenize needs exactly one text column in data.features. Received: {data.features}")
        if data.tokenize is not None and task == "forecast":
            raise ValueError("data.tokenize is for classify, tag and generate; forecast reads numbers")
        if task == "generate":
            if data.tokenize is None:
                raise ValueError("task 'generate' needs data.tokenize: char or word")
            if self.model.bidirectional:
                raise ValueError(
                    "model.bidirectional must be false for task 'generate': a language model may not read the future "
                    "it predicts, and generation runs forwards one step at a time"
                )
        if task != "forecast" and data.detrend != "none":
            raise ValueError(f"data.detrend is for forecast. Received: detrend '{data.detrend}' with task '{task}'")
        monitor = self.train.early_stopping.monitor
        if monitor not in TASK_MONITORS[task]:
            allowed = ", ".join(f"'{m}'" for m in TASK_MONITORS[task])
            raise ValueError(f"train.early_stopping.monitor for task '{task}' must be one of {allowed}. Received: '{monitor}'")
        loss = self.train.loss
        if loss != "auto" and (task == "forecast") == (loss == "crossentropy"):
            expected = "auto, mse, mae or huber" if task == "forecast" else "auto or crossentropy"
            raise ValueError(f"train.loss for task '{task}' must be {expected}. Received: '{loss}'")
        return self

    @model_validator(mode="after")
    def _monitor_has_data(self) -> Config:
        monitor = self.train.early_stopping.monitor
        has_val = self.data.val_path is not None or self.data.split.val > 0
        if monitor.startswith("val_") and not has_val:
            raise ValueError(
                f"train.early_stopping.monitor '{monitor}' needs validation data, but data.split.val is 0 "
                "and data.val_path is not set; set one or monitor 'loss'"
            )
        return self

    @model_validator(mode="after")
    def _sweep_fits(self) -> Config:
        sweep = self.sweep
        if sweep is None:
            return self
        if sweep.metric is not None and sweep.metric not in TASK_MONITORS[self.task]:
            allowed = ", ".join(f"'{m}'" for m in TASK_MONITORS[self.task])
            raise ValueError(f"sweep.metric for task '{self.task}' must be one of {allowed}. Received: '{sweep.metric}'")
        base = self.model_dump(mode="json", exclude={"sweep"})
        for key, spec in sweep.params.items():
            _check_sweep_key(key)
            if isinstance(spec, SweepRange) and sweep.method == "grid":
                raise ValueError(
                    f"sweep.params.{key} is a range {{low: {spec.low}, high: {spec.high}}}; method 'grid' takes a list of "
                    "choices. List the values, or set sweep.method to random or bayes"
                )
            # Each choice (or both ends of a range) must make a valid config on its own.
            for value in [spec.low, spec.high] if isinstance(spec, SweepRange) else spec:
                trial = apply_overrides(base, {key: value})
                try:
                    Config.model_validate(trial)
                except ValidationError as exc:
                    detail = _describe(exc, trial, f"value {value!r}", [])
                    raise ValueError(f"sweep.params.{key}: {detail}") from None
        return self


def _sweep_range(key: str, spec: dict[str, Any]) -> SweepRange:
    fields = list(SweepRange.model_fields)
    for name in spec:
        if name not in fields:
            close = difflib.get_close_matches(str(name), fields, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            raise ValueError(f"{key}: unknown range key '{name}'{hint} Range keys: {', '.join(fields)}")
    try:
        return SweepRange.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"] if p in fields)
        if error["type"] == "missing":
            raise ValueError(f"{key}: a range needs '{field}'. Received: {spec}") from None
        message = "must be a number" if error["type"] in _TYPE_ERRORS else error["msg"].removeprefix("Value error, ")
        received = f". Received: {field}={error['input']!r}" if field else ""
        raise ValueError(f"{key}: {f'{field}: ' if field else ''}{message}{received}") from None


def _check_sweep_key(key: str) -> None:
    model: type[BaseModel] = Config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        prefix = ".".join(parts[: depth + 1])
        field = model.model_fields.get(part)
        if field is None:
            valid = [".".join([*parts[:depth], name]) for name in model.model_fields]
            close = difflib.get_close_matches(prefix, valid, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            raise ValueError(f"sweep.params: unknown key '{key}'{hint} Valid keys here: {', '.join(valid)}")
        if prefix in SWEEP_FIXED_KEYS or key == "data":
            raise ValueError(f"sweep.params: '{key}' cannot be swept; sweep keys of model, train, data (but paths) or seed")
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ValueError(f"sweep.params: unknown key '{key}': '{prefix}' is a value, not a section")
            model = annotation


# --------------------------------------------------------------------------------------------
# YAML: a SafeLoader with YAML 1.2 core scalars, so 1e-3 is a float, `on`/`yes` stay strings,
# 012 is twelve, 1:20 is a string, dates stay strings; duplicate keys are errors.


# Limits on what a YAML file may ask of the loader, checked while it is read, so that a hostile
# document is refused in milliseconds: a "billion laughs" of nested aliases would otherwise expand
# to gigabytes in every later walk of the config, and deep nesting would exhaust Python's stack.
MAX_YAML_BYTES = 1 << 20  # a config file; configs are a few kilobytes
MAX_YAML_DEPTH = 32  # nested collections, aliases expanded
MAX_YAML_NODES = 10_000  # values, aliases expanded
MAX_INT_DIGITS = 30  # every whole-number key is bounded far below this


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        # The composer recurses once per level: refuse before Python's stack runs out.
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past MAX_YAML_NODES values or MAX_YAML_DEPTH levels,
    or refer to themselves. Each node's expanded size and height are computed once (aliases share
    nodes), so a billion-laughs document is measured in microseconds, never expanded."""
    sizes: dict[int, tuple[int, int] | None] = {}

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            known = sizes[key]
            if known is None:
                raise yaml.composer.ComposerError(None, None, "an alias refers to a value that contains it", node.start_mark)
        else:
            sizes[key] = None
            children = node.value if isinstance(node, yaml.SequenceNode) else []
            if isinstance(node, yaml.MappingNode):
                children = [child for pair in node.value for child in pair]
            size, height = 1, 0
            for child in children:
                if depth + 1 > MAX_YAML_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested deeper than {MAX_YAML_DEPTH} levels once aliases are expanded", child.start_mark
                    )
                child_size, child_height = measure(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
                if size > MAX_YAML_NODES:
                    break
            known = sizes[key] = (size, height)
        size, height = known
        if depth + height > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels once aliases are expanded", node.start_mark
            )
        if size > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"holds more than {MAX_YAML_NODES:,} values once aliases are expanded", node.start_mark
            )
        return known

    measure(root, 0)


_StrictLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
):
    _StrictLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    digits = len(text.lstrip("+-"))
    if digits > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a whole number of {digits:,} digits; numbers in a config have at most {MAX_INT_DIGITS}", node.start_mark
        )
    if text.startswith(("0x", "0o")):
        return int(text[2:], 16 if text[1] == "x" else 8)
    return int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: _construct_mapping(loader, node, deep=True))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text with the strict safe loader.

    Args:
        text: the YAML document.
        source: the file name (or ``--set key``) named in error messages.

    Returns:
        The parsed Python value.

    Raises:
        ConfigError: malformed YAML, a duplicate key, a tag such as ``!!python/object``, or a
            document past the limits (MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES, MAX_INT_DIGITS).
    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {len(text):,} characters of YAML; at most {MAX_YAML_BYTES:,} are read")
    try:
        loader = _StrictLoader(text)  # a SafeLoader subclass: plain YAML values only
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in problem:
            tag = problem.split("tag", 1)[-1].strip(" '")
            problem = f"tag '{tag}' is not allowed; configs hold plain YAML values only"
        raise ConfigError(f"{source}: {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set dotted.key=value`` items into ``{dotted_key: value}`` (values parsed as YAML).

    Raises:
        ConfigError: an item without ``=`` or with an invalid key.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=5")
        overrides[key] = parse_yaml(raw, f"--set {key}") if raw.strip() else None
    return overrides


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each dotted override set, creating sections as needed."""
    result = _deep_copy(raw)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {dotted}: '{prefix}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (), *, base_dir: Path | None = None) -> Config:
    """Load, merge and validate a config file.

    Args:
        path: the YAML file; ``None`` builds the config from overrides alone.
        overrides: ``dotted.key=value`` strings, applied over the file.
        base_dir: folder that relative ``--set`` paths are resolved against (default: current dir).

    Returns:
        The validated config, with data paths made absolute.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key, wrong type or value.
    """
    if path is None:
        return build_config({}, parse_overrides(overrides), source="--set", base_dir=base_dir)
    path = Path(path)
    raw = parse_yaml(read_config_text(path), str(path))
    if raw is None:
        raise ConfigError(f"{path}: config is empty; expected a mapping with at least data.path, data.features and data.target")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: top level must be a mapping of sections (data, model, train, ...). Received: {type(raw).__name__}"
        )
    _resolve_paths(raw, path.parent.resolve())
    return build_config(raw, parse_overrides(overrides), source=str(path), base_dir=base_dir)


def build_config(
    raw: dict[str, Any], overrides: dict[str, Any], *, source: str = "config", base_dir: Path | None = None
) -> Config:
    """Validate a config mapping (its data paths absolute or relative to ``base_dir``) with
    ``{dotted.key: value}`` overrides applied.

    Args:
        raw: the sections, as a YAML file holds them.
        overrides: values by dotted key; relative data paths among them (and in ``raw``) are
            resolved against ``base_dir`` (default: the current directory).
        source: how messages name where ``raw`` came from.

    Raises:
        ConfigError: naming the key (``--set KEY`` for an override).
    """
    merged = apply_overrides(raw, overrides)
    _resolve_paths(merged, (base_dir or Path.cwd()).resolve())  # absolute paths stay as they are
    return validate_config(merged, source, set_keys=list(overrides))


def read_config_text(path: Path, error: type[RnnkitError] = ConfigError) -> str:
    """The text of a YAML file: a regular file of at most MAX_YAML_BYTES, in UTF-8.

    Raises:
        error: (ConfigError by default) missing, not a regular file, too large, unreadable, not UTF-8.
    """
    regular_file(path, error, "YAML config file", max_bytes=MAX_YAML_BYTES)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_YAML_BYTES + 1)  # a file that grew since it was checked is cut short, then refused
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); expected a YAML config file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the YAML config file: {describe_os_error(exc)}") from None
    if len(text) > MAX_YAML_BYTES:
        raise error(f"{path}: YAML config file grew past {MAX_YAML_BYTES:,} bytes while it was read")
    return text


def validate_config(raw: dict[str, Any], source: str = "config", set_keys: list[str] | None = None) -> Config:
    """Validate a config mapping, turning the first problem into one readable line.

    Raises:
        ConfigError: the message names the source, the dotted key, what was found and what is allowed.
    """
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw, source, set_keys or [])) from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data, in declaration order (what config.yaml holds)."""
    data = config.model_dump(mode="json")
    if data.get("sweep") is None:
        data.pop("sweep", None)  # only sweep configs carry the section; runs' config.yaml stay as they were
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """Serialise plain data as block-style YAML that :func:`parse_yaml` reads back unchanged."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file, for editors and external validation."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rnnkit config"
    return schema


# --------------------------------------------------------------------------------------------


def _check_unique(values: list[str], key: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{key} lists column '{value}' twice")
        seen.add(value)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    # Relative data paths become absolute (from base); absolute ones stay as they are.
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in ("path", "val_path", "test_path"):
        value = data.get(key)
        if isinstance(value, str) and value:
            if "://" in value:
                continue  # left for the data reader to refuse with a clear message
            # Absolute but not resolved: a symlink stays a link, so that messages name the path as
            # written and a link to a device or a link loop is refused by the reader, not here.
            data[key] = os.path.abspath(base / Path(value).expanduser())


def _section_model(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _received(raw: Any, loc: tuple) -> tuple[bool, Any]:
    node = raw
    for part in loc:
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
        else:
            return False, None
    return True, node


_UNION_MEMBERS = {
    "str": "a string",
    "int": "a whole number",
    "list[str]": "a list of strings",
    "list[int]": "a list of whole numbers",
}


def _describe(exc: ValidationError, raw: dict[str, Any], source: str, set_keys: list[str]) -> str:
    errors = exc.errors(include_url=False)
    error = _closest_member_error(errors, raw)
    # Errors on a union report each member under a tag such as 'int' or 'list[int]'; the path
    # without the tags is what the user wrote, and the tags say what would have been accepted.
    tags = [p for p in error["loc"] if _is_tag(p)]
    loc = tuple(p for p in error["loc"] if p not in tags)
    outer = tuple(p for p in loc if not isinstance(p, int))
    union = [t for e in errors if tags and (t := _union_tag(e["loc"])) and _strip(e["loc"])[: len(outer)] == outer]
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    where = source
    written = ".".join(map(str, outer)) or dotted  # the key as --set names it, without list positions
    if any(written == k or written.startswith(k + ".") or k.startswith(written + ".") for k in set_keys):
        where = f"--set {dotted}"
    kind = error["type"]
    found, value = _received(raw, loc)
    leaf = str(loc[-1]) if loc and not isinstance(loc[-1], int) else dotted.rsplit(".", 1)[-1]

    if kind == "extra_forbidden":
        section = _section_model(loc[:-1])
        valid = list(section.model_fields) if section else []
        close = difflib.get_close_matches(leaf, valid, n=1, cutoff=0.6)
        hint = f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else "."
        return f"{where}: unknown key '{dotted}'{hint} Valid keys here: {', '.join(valid)}"
    if kind == "missing":
        return f"{where}: required key '{dotted}' is missing"
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        close = difflib.get_close_matches(str(value), re.findall(r"'([^']*)'", allowed), n=1, cutoff=0.5) if found else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}: {dotted} must be one of {allowed}. Received: {leaf}={value!r}{hint}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
        return f"{where}: {dotted}: {message}" if dotted != "(top level)" else f"{where}: {message}"
    if len(set(union)) > 1 and kind in _TYPE_ERRORS:
        # A wrong type for a union field: say every accepted form, for the field as written.
        dotted = ".".join(map(str, outer))
        found, value = _received(raw, outer)
        options = " or ".join(_UNION_MEMBERS[t] for t in dict.fromkeys(union) if t in _UNION_MEMBERS)
        return f"{where}: {dotted} must be {options}. Received: {outer[-1]}={value!r}"
    expected = _EXPECTED.get(kind)
    if expected:
        message = expected.format(**error.get("ctx", {}))
    received = f" Received: {leaf}={value!r}" + (f" ({type(value).__name__})" if found and kind in _TYPE_ERRORS else "")
    hint = "; quote it to make it a string" if kind == "string_type" and found and not isinstance(value, (dict, list)) else ""
    return f"{where}: {dotted} must be {message}.{received if found else ''}{hint}"


def _closest_member_error(errors: list[dict], raw: dict[str, Any]) -> dict:
    """The first error, or, where it belongs to a union, the error of the member that matches what
    was written: a list's errors for a list (``units: [8, 100000]``), a scalar's otherwise."""
    first = errors[0]
    if not any(_is_tag(p) for p in first["loc"]):
        return first
    outer = tuple(p for p in _strip(first["loc"]) if not isinstance(p, int))
    found, value = _received(raw, outer)
    if not found:
        return first
    wants_list = isinstance(value, list)
    for error in errors:
        tag = next((p for p in error["loc"] if _is_tag(p)), None)
        same_field = tuple(p for p in _strip(error["loc"]) if not isinstance(p, int))[: len(outer)] == outer
        if tag is not None and same_field and tag.startswith("list[") == wants_list:
            return error
    return first


def _is_tag(part: Any) -> bool:
    # pydantic names a union member's errors by its type: 'int', 'list[int]', 'constrained-int', ...
    return isinstance(part, str) and (_member(part) in _UNION_MEMBERS or "[" in part or part == "function-after")


def _member(tag: str) -> str:
    return tag.replace("constrained-", "")


def _union_tag(loc: tuple) -> str | None:
    return next((_member(p) for p in loc if isinstance(p, str) and _member(p) in _UNION_MEMBERS), None)


def _strip(loc: tuple) -> tuple:
    return tuple(p for p in loc if not _is_tag(p))


_TYPE_ERRORS = {"int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type", "model_type", "int_from_float"}
_EXPECTED = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "greater_than_equal": "at least {ge}",
    "greater_than": "greater than {gt}",
    "less_than_equal": "at most {le}",
    "less_than": "less than {lt}",
    "finite_number": "a finite number",
    "string_pattern_mismatch": "a string matching {pattern}",
    "too_short": "a list with at least {min_length} item(s)",
    "too_long": "a list with at most {max_length} item(s)",
}
