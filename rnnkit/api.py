"""The Python API, for notebooks and pipelines: train a run, open one, evaluate and predict with it.

    import rnnkit

    run = rnnkit.train("configs/quickstart.yaml", overrides={"train.epochs": 5})
    run.metrics["test"]["mae"]                  # what metrics.json holds
    run.history                                 # history.csv as a DataFrame
    forecasts = run.predict(frame)              # a DataFrame in the training layout in, the CLI's columns out
    run = rnnkit.load_run("runs/demand-lstm-20261204-101500")

The command line calls these same functions. Importing rnnkit is light (TensorFlow is imported
by the first call that needs it) and quiet: TensorFlow's start-up lines are kept off stderr
unless ``TF_CPP_MIN_LOG_LEVEL`` says otherwise. Errors are the :mod:`rnnkit.errors` classes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.config import Config, build_config, config_to_dict, load_config, parse_overrides
from rnnkit.errors import ConfigError
from rnnkit.progress import Reporter

if TYPE_CHECKING:
    import pandas as pd

    from rnnkit.training import PredictResult, TrainResult


@dataclass
class Run:
    """A run folder: what ``rnnkit train`` wrote, and what can be done with it.

    ``path`` is the folder (None only on the other workers of a multi-worker run, where the chief
    writes it); ``result`` holds what :func:`train` returned when this object came from it (epochs
    run, best epoch, warnings), None for a run opened with :func:`load_run`.
    """

    path: Path | None
    result: TrainResult | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The resolved config the run was trained with (its config.yaml)."""
        from rnnkit.runs import RunFolder

        return RunFolder.open(self.path).read_config()

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: ``val``, ``test``, ``baseline``, ``best_epoch``, ``monitor`` (and ``files`` after evaluate --data)."""
        from rnnkit.runs import RunFolder

        return RunFolder.open(self.path).read_metrics() or {}

    @property
    def status(self) -> dict[str, Any]:
        """status.json: ``state`` (running, complete, interrupted, failed, diverged, pruned), ``epoch``, ..."""
        from rnnkit.runs import RunFolder

        return RunFolder.open(self.path).read_status()

    @property
    def history(self) -> pd.DataFrame:
        """history.csv: one row per epoch (losses, metrics, learning rate, seconds)."""
        import pandas as pd

        from rnnkit.runs import RunFolder

        run = RunFolder.open(self.path)
        return pd.read_csv(run.history) if run.history.is_file() else pd.DataFrame()

    def evaluate(self, data: str | Path | None = None, split: str | None = None, *, progress: Reporter | None = None) -> dict:
        """Score the best checkpoint; the result is also written to metrics.json.

        Args:
            data: a labelled file in the training layout; every complete window (or sequence) of
                it is scored. Default: the run's own validation and test splits.
            split: ``"val"`` or ``"test"`` only (not with ``data``).
            progress: told how far the scoring is.

        Returns:
            ``{name: {"model": {...}, "baseline": {...}}}`` per split or file.
        """
        from rnnkit import training

        return training.evaluate(self.path, data=data, split=split, progress=progress)

    def predict(
        self, frame: pd.DataFrame, *, last: bool = False, batch_size: int | None = None, layout: str = "wide"
    ) -> pd.DataFrame:
        """Predictions for the rows of ``frame`` (the training layout), with the same columns as
        ``rnnkit predict`` writes: forecast runs one row per complete window (``last``: the newest
        of each series; ``layout="long"``: one row per step), classify runs one row per sequence,
        tag runs one row per input row. Errors name the rows of ``frame`` as ``row N`` (1-based)."""
        from rnnkit import training

        return training.predict_frame(self.path, frame, last_only=last, batch_size=batch_size, layout=layout)

    def predict_file(
        self,
        input: str | Path,
        output: str | Path,
        *,
        last: bool = False,
        chunk_rows: int = 200_000,
        batch_size: int | None = None,
        overwrite: bool = False,
        layout: str = "wide",
        progress: Reporter | None = None,
    ) -> PredictResult:
        """Stream ``input`` (CSV or Parquet, any size) through the model into ``output`` (CSV or
        Parquet), as ``rnnkit predict`` does; memory stays flat whatever the file size.
        ``layout="long"``: one row per forecast step (``rnnkit predict --format long``)."""
        from rnnkit import training

        return training.predict(
            self.path,
            input,
            output,
            chunk_rows=chunk_rows,
            batch_size=batch_size,
            last_only=last,
            overwrite=overwrite,
            layout=layout,
            progress=progress,
        )

    def generate(
        self, prompt: str = "", length: int = 200, *, temperature: float = 1.0, top_k: int | None = None, seed: int = 0
    ) -> str:
        """Text sampled from a ``generate`` run, one token at a time through the model's state."""
        from rnnkit import training

        return training.generate(self.path, prompt=prompt, length=length, temperature=temperature, top_k=top_k, seed=seed)

    def export(self, output: str | Path | None = None) -> Path:
        """Write a SavedModel whose ``serve`` signature takes raw inputs; returns its folder."""
        from rnnkit import training

        return training.export(self.path, output=output)[0]


def train(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: Reporter | None = None,
) -> Run:
    """Train a model and write a run folder, as ``rnnkit train`` does.

    Args:
        config: a YAML file, a mapping with the same sections (data paths relative to the
            current directory), or a validated :class:`~rnnkit.config.Config`.
        overrides: dotted keys and values applied over the config, ``{"train.epochs": 5}``, or
            ``["train.epochs=5"]`` strings as ``--set`` takes them.
        run_dir: the run folder to create (default ``<output.dir>/<name>-<timestamp>``).
        progress: told the run folder, warnings and each epoch (default: silent).

    Returns:
        The new run.

    Raises:
        ConfigError, DataError, RunError, ResourceError, DivergedError: see rnnkit.errors.
    """
    from rnnkit import training

    result = training.train(resolve_config(config, overrides), run_dir=run_dir, progress=progress)
    return Run(result.run_dir, result)


def resume(
    path: str | Path,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    config: Config | None = None,
    progress: Reporter | None = None,
) -> Run:
    """Continue an interrupted run from its last complete checkpoint (``rnnkit train --resume``).

    ``config`` (default: the run's own) and ``overrides`` may change only ``train.epochs``,
    ``train.early_stopping``, ``output`` and how training runs.

    Raises:
        ConfigError: a change that resuming cannot honour; RunError, DataError, ResourceError.
    """
    from rnnkit import training

    result = training.resume(path, config=config, overrides=_override_items(overrides), progress=progress)
    return Run(Path(path), result)


def load_run(path: str | Path) -> Run:
    """Open a run folder written by ``rnnkit train``.

    Raises:
        RunError: not a run folder, or one whose files do not validate.
    """
    from rnnkit.runs import RunFolder

    run = RunFolder.open(path)
    run.read_config()  # a damaged folder fails here, not at first use
    return Run(run.root)


def resolve_config(
    config: str | Path | Mapping[str, Any] | Config, overrides: Mapping[str, Any] | Sequence[str] | None = None
) -> Config:
    """A validated config from a file, a mapping or a Config, with ``overrides`` applied.

    Raises:
        ConfigError: naming the key.
    """
    items = _override_items(overrides)
    if isinstance(config, (str, Path)):
        return load_config(config, items)
    if isinstance(config, Config):
        config = config_to_dict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a YAML file, a mapping or a Config. Received: {type(config).__name__}")
    return build_config(copy.deepcopy(dict(config)), parse_overrides(items))


def _override_items(overrides: Mapping[str, Any] | Sequence[str] | None) -> tuple[str, ...]:
    # As --set takes them; values of a mapping are written as JSON, which the YAML loader reads back unchanged.
    if overrides is None:
        return ()
    if isinstance(overrides, str):
        return (overrides,)
    if isinstance(overrides, Mapping):
        return tuple(f"{key}={json.dumps(value)}" for key, value in overrides.items())
    return tuple(overrides)
