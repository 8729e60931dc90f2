"""Hyperparameter sweeps: runs of one config that differ in a few keys, ranked in a leaderboard.

A sweep folder holds one ordinary run folder per trial (``trial-0000/``, ...), the Optuna study
that chose their params and knows which finished (``study.db``, SQLite), the resolved config
(``sweep.yaml``) and ``leaderboard.csv``. Running the same sweep again continues it: finished
trials are kept, and a trial cut short by Ctrl-C, SIGTERM, a kill or an error is run again with
the same params under a new number. Every trial uses the config's seed, so trials differ only by
their params, and the samplers are seeded from it too.

Optuna and TensorFlow are imported only when a sweep runs, so config errors stay instant.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit import training
from rnnkit.config import Config, SweepRange, apply_overrides, config_to_dict, dump_yaml, validate_config
from rnnkit.errors import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ConfigError,
    DataError,
    DivergedError,
    Interrupted,
    ResourceError,
    RunError,
    Terminated,
)
from rnnkit.progress import Reporter
from rnnkit.runs import RunFolder, atomic_write
from rnnkit.tasks import get_task

DEFAULT_TRIALS = 20  # random and bayes, when sweep.trials is not given
STUDY_NAME = "rnnkit"
STUDY_FILE = "study.db"
LEADERBOARD_FILE = "leaderboard.csv"
CONFIG_FILE = "sweep.yaml"
# The test metric shown for each task beside the monitored one.
HEADLINES = {"forecast": "mae", "classify": "accuracy", "tag": "accuracy", "generate": "perplexity"}
# Trial outcomes that count towards sweep.trials; any other end (interrupted, failed) is run again.
FINISHED = ("complete", "pruned", "diverged", "invalid")


@dataclass
class SweepResult:
    """What ``run_sweep`` found and did."""

    sweep_dir: Path
    method: str
    metric: str
    maximize: bool
    columns: list[str]
    rows: list[dict[str, Any]]  # one per trial, best first
    trials_run: int  # by this call
    finished: int  # in the whole sweep
    target: int
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best trial's row, or None when no trial has a value yet."""
        return next((row for row in self.rows if row[self.metric] is not None), None)


class _TrialFailed(Exception):
    """A trial ended without a value (diverged, or params that make no valid run); the sweep goes on."""


def run_sweep(config: Config, *, source: str = "config", progress: Reporter | None = None) -> SweepResult:
    """Run (or continue) the hyperparameter sweep described by ``config.sweep``.

    Each trial applies its params to the config as dotted overrides and trains an ordinary run
    folder ``<sweep dir>/trial-NNNN`` with :func:`rnnkit.training.train`. Trials are ranked by
    ``sweep.metric`` at their best epoch. ``bayes`` reports the metric to Optuna after every epoch
    and stops trials that trail the median (status ``pruned``, in the leaderboard and in the
    trial's status.json; their run folder is whole and holds the best checkpoint up to that epoch).

    Args:
        config: a validated config with a ``sweep`` section.
        source: the config file, named in error messages.
        progress: told of each trial as it ends (its leaderboard row, trials done and left, ETA)
            and, labelled with the trial, of each trial's epochs. Default: silent.

    Returns:
        The leaderboard (also written to ``leaderboard.csv``) and what this call ran.

    Raises:
        ConfigError: no sweep section, or a sweep folder that holds a sweep of another config.
        DataError: bad data (before anything is created), or data changed since the sweep started.
        RunError: the sweep folder is not a sweep folder, or its study cannot be read.
        ResourceError: optuna is missing, I/O failure, or another process runs this sweep.
        Interrupted: SIGINT or SIGTERM; run the sweep again to continue it.
    """
    spec = config.sweep
    if spec is None:
        raise ConfigError(
            f"{source}: no sweep section; add sweep.params, e.g. --set 'sweep.params.model.cell=[lstm, gru]' "
            "(see README 'Sweeps')"
        )
    metric = spec.metric or config.train.early_stopping.monitor
    folder = Path(spec.dir) if spec.dir else Path("sweeps") / config.name
    warnings: list[str] = []
    target = spec.trials or DEFAULT_TRIALS
    if spec.method == "grid":
        size = math.prod(len(choices) for choices in spec.params.values())
        if spec.trials is not None and spec.trials > size:
            warnings.append(f"sweep.trials is {spec.trials} but the grid has {size} points; running {size}")
        target = min(spec.trials or size, size)

    study_path = folder / STUDY_FILE
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{folder}: sweep.dir is a file; choose a folder")
    if not study_path.exists():
        if folder.exists() and any(folder.iterdir()):
            raise RunError(f"{folder}: exists and is not a sweep folder (no {STUDY_FILE}); choose another sweep.dir")
        get_task(config.task).prepare(config)  # bad data fails here, before the sweep folder exists
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResourceError(f"{folder}: cannot create sweep folder: {exc.strerror}") from None

    with RunFolder(folder).lock(), _quiet_optuna() as optuna:
        sweep = _Sweep(optuna, config, folder, metric, target, progress or Reporter())
        atomic_write(folder / CONFIG_FILE, dump_yaml(config_to_dict(config)))
        ran = sweep.run()
        rows = sweep.write_leaderboard()
    finished = sum(row["status"] in FINISHED for row in rows)
    warnings += sweep.warnings
    return SweepResult(folder, spec.method, metric, sweep.maximize, sweep.columns, rows, ran, finished, target, warnings)


def format_leaderboard(result: SweepResult) -> str:
    """The leaderboard as an aligned text table, best trial first."""
    if not result.rows:
        return "no trials yet"
    table = [result.columns] + [[_cell(row[c]) for c in result.columns] for row in result.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(result.columns))]
    numeric = [all(_is_number(row[c]) for row in result.rows if row[c] is not None) for c in result.columns]
    return "\n".join(
        "  ".join(cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(line, widths, numeric)).rstrip()
        for line in table
    )


def format_trial(row: dict[str, Any]) -> str:
    """One line for a leaderboard row: ``trial 3: complete, val_loss 0.0712, test_mae 4.43 (model.cell=gru)``."""
    keys = list(row)
    params = keys[1 : keys.index("best_epoch")]
    metric, headline = keys[keys.index("best_epoch") + 1 : keys.index("best_epoch") + 3]
    chosen = ", ".join(f"{key}={_cell(row[key])}" for key in params)
    scores = f"{metric} {_cell(row[metric])}, {headline} {_cell(row[headline])}" if row[metric] is not None else "no value"
    return f"trial {row['trial']}: {row['status']}, {scores} ({chosen})"


# --------------------------------------------------------------------------------------------


class _Sweep:
    """One sweep folder's study, and the objective that turns a trial into a run folder."""

    def __init__(self, optuna, config: Config, folder: Path, metric: str, target: int, progress: Reporter) -> None:
        self.optuna = optuna
        self.config = config
        self.spec = config.sweep
        self.folder = folder
        self.metric = metric
        self.maximize = metric.endswith("accuracy")
        self.target = target
        self.progress = progress
        self.headline = f"test_{HEADLINES[config.task]}"
        self.columns = ["trial", *self.spec.params, "best_epoch", metric, self.headline, "status", "run"]
        self.warnings: list[str] = []
        self.base = {k: v for k, v in config_to_dict(config).items() if k != "sweep"}
        # Optuna's categorical choices must be plain scalars: lists (model.units) are stored as JSON text.
        self.labels = {key: _labels(spec) for key, spec in self.spec.params.items() if not isinstance(spec, SweepRange)}
        self.storage = self._open_storage()
        self.study = self._open_study()

    # -- study -------------------------------------------------------------------------------

    def _open_storage(self):
        from sqlalchemy.exc import SQLAlchemyError

        path = self.folder / STUDY_FILE
        try:
            return self.optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
        except SQLAlchemyError as exc:
            raise RunError(f"{path}: cannot open the sweep's study: {type(exc).__name__}: {exc}") from None

    def _open_study(self):
        direction = "maximize" if self.maximize else "minimize"
        try:
            study = self.optuna.load_study(study_name=STUDY_NAME, storage=self.storage)
        except KeyError:
            study = self.optuna.create_study(study_name=STUDY_NAME, storage=self.storage, direction=direction)
        identity = _identity(self.config)
        stored = study.user_attrs.get("config")
        if stored is None:
            study.set_user_attr("config", identity)
            study.set_user_attr("data", training.data_fingerprints(self.config))
        elif stored != identity:
            raise ConfigError(
                f"{self.folder}: holds a sweep of another config ({_first_difference('', stored, identity)}); only "
                "sweep.trials may change when a sweep continues. Choose another sweep.dir or remove this folder"
            )
        for path, fingerprint in (study.user_attrs.get("data") or {}).items():
            if training.data_fingerprint(path) != fingerprint:
                raise DataError(
                    f"{path}: data file changed since the sweep started; its trials would not compare. Choose another sweep.dir"
                )
        study.pruner = self._pruner()
        return study

    def _pruner(self):
        pruners = self.optuna.pruners
        if self.spec.method != "bayes" or not self.spec.prune:
            return pruners.NopPruner()
        # Steps are 1-based epochs: warmup w means epochs 1..w always run.
        return pruners.MedianPruner(
            n_startup_trials=self.spec.prune_startup_trials, n_warmup_steps=self.spec.prune_warmup_epochs + 1
        )

    def _sampler(self):
        # Seeded from the config's seed and the next trial number, so a continued sweep neither repeats
        # the draws of its first part nor depends on when it was stopped. The grid's order must stay
        # the same for the whole study (Optuna indexes it by grid id), so its seed never changes.
        samplers, seed = self.optuna.samplers, self.config.seed
        number = len(self.study.get_trials(deepcopy=False))
        if self.spec.method == "grid":
            return samplers.GridSampler(self.labels, seed=seed)
        if self.spec.method == "random":
            return samplers.RandomSampler(seed=(seed + number) % 2**32)
        # The first third of the trials (at most 10, Optuna's default) are random draws that seed TPE.
        startup = max(1, min(10, self.target // 3))
        return samplers.TPESampler(seed=(seed + number) % 2**32, n_startup_trials=startup)

    # -- running -----------------------------------------------------------------------------

    def run(self) -> int:
        """Run trials until ``target`` have finished; return how many this call ran."""
        self._requeue_cut_short()
        self.write_leaderboard()
        remaining = self.target - self._finished()
        if remaining <= 0:
            return 0
        before = self._started()
        self.study.sampler = self._sampler()
        # The pruning callback needs Keras before train() imports it: import TensorFlow as train() does,
        # keeping its start-up lines off stderr, and without its warning that each new trial's model retraces.
        training._quiet_tensorflow_import()
        tf_logger = logging.getLogger("tensorflow")
        tf_level = tf_logger.level
        tf_logger.setLevel(logging.ERROR)
        self.trials = self.progress.task("sweep", total=remaining, unit="trials")
        try:
            self.study.optimize(
                self._objective, n_trials=remaining, catch=(_TrialFailed,), callbacks=[self._after_trial], gc_after_trial=True
            )
        except (KeyboardInterrupt, Terminated, Interrupted) as exc:
            code = EXIT_SIGTERM if isinstance(exc, Terminated) or getattr(exc, "exit_code", 0) == EXIT_SIGTERM else EXIT_SIGINT
            self._write_leaderboard_best_effort()
            raise Interrupted(
                f"{self.folder}: sweep interrupted; {self._finished()} of {self.target} trials finished. "
                "Run the same 'rnnkit sweep' command again to continue it",
                code,
            ) from None
        except BaseException:
            self._write_leaderboard_best_effort()
            raise
        finally:
            self.trials.close()
            tf_logger.setLevel(tf_level)
        return self._started() - before

    def _objective(self, trial) -> float:
        import keras

        params = {key: self._suggest(trial, key, spec) for key, spec in self.spec.params.items()}
        run_dir = self.folder / f"trial-{trial.number:04d}"
        trial.set_user_attr("run", run_dir.name)
        trial.set_user_attr("status", "running")
        pruning = _pruning_callback(trial, self.metric)
        try:
            config = validate_config(apply_overrides(self.base, params), f"{self.folder} trial {trial.number}")
            result = training.train(
                config, run_dir=run_dir, callbacks=[pruning], progress=self.progress.labelled(f"trial {trial.number}")
            )
        except (ConfigError, DataError) as exc:
            # These params make no valid run (say a window longer than the series): a finished outcome.
            self._end(trial, "invalid", reason=str(exc))
            raise _TrialFailed(str(exc)) from None
        except DivergedError as exc:
            self._end(trial, "diverged", reason=str(exc))
            raise _TrialFailed(str(exc)) from None
        except BaseException as exc:
            cut = isinstance(exc, (KeyboardInterrupt, Terminated, Interrupted))
            self._end(trial, "interrupted" if cut else "failed", reason=f"{type(exc).__name__}: {exc}")
            self._requeue(trial)
            raise
        finally:
            keras.backend.clear_session()  # free the trial's graph; the next train() seeds afresh

        value = _value_at_best_epoch(result, self.metric)
        test = result.metrics.get("test", {}).get(HEADLINES[self.config.task])
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("value", value)
        trial.set_user_attr("test", test)
        trial.set_user_attr("epochs", result.epochs_run)
        self.warnings.extend(w for w in result.warnings if w not in self.warnings)
        if value is None or not math.isfinite(value):
            self._end(trial, "invalid", reason=f"no finite {self.metric} at any epoch")
            raise _TrialFailed(f"no finite {self.metric}")
        if pruning.pruned_at is not None:
            reason = f"trailed the median at epoch {pruning.pruned_at}"
            # train() ended the run as complete; the run folder says what the leaderboard says.
            run = RunFolder(result.run_dir)
            with run.lock():
                run.write_status("pruned", epoch=result.epochs_run, best_epoch=result.best_epoch, reason=reason)
            self._end(trial, "pruned", reason=reason)
            raise self.optuna.TrialPruned()
        self._end(trial, "complete")
        return value

    def _suggest(self, trial, key: str, spec: list | SweepRange) -> Any:
        if isinstance(spec, SweepRange):
            if spec.integer:
                return trial.suggest_int(key, spec.low, spec.high, step=spec.step or 1, log=spec.log)
            return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)
        labels = self.labels[key]
        return spec[labels.index(trial.suggest_categorical(key, labels))]

    def _end(self, trial, status: str, reason: str | None = None) -> None:
        trial.set_user_attr("status", status)
        if reason:
            trial.set_user_attr("reason", reason[:500])

    def _after_trial(self, study, trial) -> None:
        study.sampler = self._sampler()
        rows = self.write_leaderboard()
        self.progress.note(format_trial(next(row for row in rows if row["trial"] == trial.number)))
        self.trials.advance()

    def _started(self) -> int:
        waiting = self.optuna.trial.TrialState.WAITING
        return sum(t.state != waiting for t in self.study.get_trials(deepcopy=False))

    def _finished(self) -> int:
        return sum(t.user_attrs.get("status") in FINISHED for t in self.study.get_trials(deepcopy=False))

    def _requeue_cut_short(self) -> None:
        # The sweep folder's lock guarantees that no other process runs trials of this study: a trial
        # still marked running was cut short by a kill. Mark it and queue its params to run again.
        states = self.optuna.trial.TrialState
        for trial in self.study.get_trials(deepcopy=False, states=(states.RUNNING,)):
            if not trial.user_attrs.get("requeued"):  # else the trial saw its interruption and queued itself
                self.storage.set_trial_user_attr(trial._trial_id, "status", "interrupted")
                self._requeue(trial)
            self.storage.set_trial_state_values(trial._trial_id, states.FAIL)

    def _requeue(self, trial) -> None:
        # study.enqueue_trial would drop the grid id, which GridSampler needs to see the grid point done.
        optuna = self.optuna
        trial = self.storage.get_trial(trial._trial_id)  # a frozen copy, whether given a live or a frozen trial
        attrs = {k: v for k, v in trial.system_attrs.items() if k in ("grid_id", "search_space")}
        self.study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                system_attrs={**attrs, "fixed_params": dict(trial.params)},
                user_attrs={"retry_of": trial.number},
            )
        )
        self.storage.set_trial_user_attr(trial._trial_id, "requeued", True)

    # -- leaderboard -------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        waiting = self.optuna.trial.TrialState.WAITING
        rows = []
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state == waiting:
                continue
            attrs = trial.user_attrs
            row = {"trial": trial.number, **{key: trial.params.get(key) for key in self.spec.params}}
            row.update(
                {
                    "best_epoch": attrs.get("best_epoch"),
                    self.metric: attrs.get("value"),
                    self.headline: attrs.get("test"),
                    "status": attrs.get("status", "running"),
                    "run": attrs.get("run"),
                }
            )
            rows.append(row)
        sign = -1.0 if self.maximize else 1.0
        return sorted(rows, key=lambda r: (r[self.metric] is None, sign * (r[self.metric] or 0.0), r["trial"]))

    def write_leaderboard(self) -> list[dict[str, Any]]:
        rows = self.rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        atomic_write(self.folder / LEADERBOARD_FILE, buffer.getvalue())
        return rows

    def _write_leaderboard_best_effort(self) -> None:
        # Already failing (perhaps the disk is full): the original error matters more.
        try:
            self.write_leaderboard()
        except (ResourceError, KeyboardInterrupt, Terminated):
            pass


def _pruning_callback(trial, metric: str):
    """A Keras callback that reports ``metric`` to Optuna after every epoch and stops a pruned trial."""
    import keras

    class OptunaPruning(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.pruned_at: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            # Without validation data, training monitors the training metric instead.
            value = logs.get(metric, logs.get(metric.removeprefix("val_")))
            if value is None or not math.isfinite(float(value)):
                return
            trial.report(float(value), step=epoch + 1)
            if trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return OptunaPruning()


def _value_at_best_epoch(result: training.TrainResult, metric: str) -> float | None:
    if metric == result.monitor or metric.removeprefix("val_") == result.monitor:
        return result.best_value if result.best_epoch else None
    history = result.run_dir / "history.csv"
    with open(history, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["epoch"]) == result.best_epoch:
                value = row.get(metric) or row.get(metric.removeprefix("val_"))
                return float(value) if value else None
    return None


def _labels(choices: list[Any]) -> list[Any]:
    if all(c is None or isinstance(c, (str, int, float, bool)) for c in choices):
        return list(choices)
    return [json.dumps(c) for c in choices]


def _identity(config: Config) -> dict[str, Any]:
    # What makes trials comparable: everything but sweep.trials, where runs go and the versions.
    data = config_to_dict(config)
    for key in ("output", "versions"):
        data.pop(key, None)
    data["sweep"] = {k: v for k, v in data["sweep"].items() if k not in ("trials", "dir")}
    return json.loads(json.dumps(data))


def _first_difference(key: str, was: Any, now: Any) -> str:
    if isinstance(was, dict) and isinstance(now, dict):
        for sub in dict.fromkeys([*was, *now]):
            if was.get(sub) != now.get(sub):
                return _first_difference(f"{key}.{sub}".lstrip("."), was.get(sub), now.get(sub))
    return f"{key} was {was!r}, now {now!r}"


@contextmanager
def _quiet_optuna() -> Iterator[Any]:
    # rnnkit reports trials itself; Optuna's log lines (one per trial) would only repeat them.
    try:
        import optuna
    except ImportError:
        raise ResourceError("rnnkit sweep needs optuna: pip install 'optuna>=4'") from None
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield optuna
    finally:
        optuna.logging.set_verbosity(previous)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
