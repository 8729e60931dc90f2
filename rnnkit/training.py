"""train, evaluate, predict and validate as library functions that return data.

Nothing here prints or exits; the CLI does. TensorFlow is imported only by the functions that
need it, so ``validate`` and config errors stay fast.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit import __version__
from rnnkit.config import (
    Config,
    apply_overrides,
    config_to_dict,
    dump_yaml,
    parse_overrides,
    validate_config,
)
from rnnkit.distribute import Worker, check_tf_config, wait_for_cluster
from rnnkit.errors import ConfigError, DataError, DivergedError, Interrupted, ResourceError, RunError, Terminated
from rnnkit.files import describe_os_error, regular_file
from rnnkit.progress import Reporter
from rnnkit.resources import check_inference_fits, check_training_fits
from rnnkit.runs import RunFolder, atomic_write, sha256_file
from rnnkit.tasks import get_task, load_preprocessor
from rnnkit.tasks.base import Task


@dataclass
class TrainResult:
    """What ``train`` produced.

    ``run_dir`` is None on a multi-worker run's non-chief workers: only the chief writes the run
    folder. ``weights_sha256`` fingerprints the final (best) weights, equal on every worker.
    """

    run_dir: Path | None
    epochs_run: int
    best_epoch: int
    monitor: str
    best_value: float
    metrics: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    worker: Worker = field(default_factory=Worker)
    weights_sha256: str = ""


@dataclass
class PredictResult:
    """What ``predict`` wrote."""

    output: Path
    rows: int
    series: int
    input_rows: int
    short_series: int = 0


def validate(config: Config) -> dict[str, Any]:
    """Check config and data without TensorFlow; return the resolved config and a data summary.

    Raises:
        DataError: the data cannot be read or cut into training windows.
    """
    task = get_task(config.task)
    pre, data = task.prepare(config)
    return {"config": config_to_dict(config), "data": task.summarize(config, pre, data)}


def train(
    config: Config,
    *,
    run_dir: str | Path | None = None,
    callbacks: list | None = None,
    progress: Reporter | None = None,
) -> TrainResult:
    """Fit a model and write a complete run folder.

    Data is read, checked and split before the run folder is created, so bad data leaves
    nothing behind. Checkpoints are committed crash-safely after every epoch; at the end the best
    weights are restored and evaluated on the validation and test splits.

    Args:
        config: the validated config.
        run_dir: exact run folder to create (must not exist or be empty); default
            ``<output.dir>/<name>-<timestamp>``.
        callbacks: extra Keras callbacks for the training loop, called after the one that records the
            run folder (so each epoch's checkpoint is committed first); ``rnnkit.sweep`` prunes with one.
        progress: told the run folder first (before the data is read), then warnings and each
            epoch; the same lines go to the run's ``train.log``. Default: silent.

    Returns:
        The run folder, epochs run, best epoch and metrics.

    Raises:
        DataError, RunError, ResourceError: bad data, an existing run folder, I/O failure.
        DivergedError: the loss became NaN or infinite (status ``diverged``).
        Interrupted: SIGINT or SIGTERM (status ``interrupted``).
    """
    progress = progress or Reporter()
    worker = check_tf_config(config.train.distribute)
    _check_optional_packages(config)
    planned = RunFolder.plan(config.output.dir, config.name, run_dir) if worker.chief else None
    if planned is not None:
        progress.run_folder(planned)
    task = get_task(config.task)
    pre, data = task.prepare(config)
    _check_fits(config, task, pre, data)
    pre.sources = data_fingerprints(config)
    if config.train.distribute not in _STRATEGIES:
        wait_for_cluster(worker, config.train.worker_timeout, progress.note)
    _, keras = _import_tensorflow(config.seed, start=lambda tf: _strategy(tf, config.train.distribute))

    def create(scratch: Path | None) -> RunFolder:
        if scratch:
            return RunFolder.create(scratch, config.name)
        run = RunFolder.create(config.output.dir, config.name, run_dir, planned=planned)
        if run.root != planned:  # another process took the name meanwhile
            progress.run_folder(run.root)
        return run

    with _worker_folder(worker, create) as run, run.lock():
        _write_run_files(run, config, pre)
        run.append_log(f"rnnkit {__version__}: training {_describe_model(config, task, pre, data)}")
        return _fit(run, config, task, pre, data, keras, progress, resume_state=None, callbacks=callbacks, worker=worker)


def resume(
    run_path: str | Path,
    *,
    config: Config | None = None,
    overrides: tuple[str, ...] = (),
    progress: Reporter | None = None,
) -> TrainResult:
    """Continue an interrupted run from its last complete checkpoint.

    Weights, optimizer state, epoch, early-stopping and best-metric state and dropout RNG come
    from ``checkpoints/last.keras``; the data order of each epoch depends only on the seed and the
    epoch, so the result equals an uninterrupted run. A run with no checkpoint starts over.

    Args:
        run_path: the run folder.
        config: a config to continue with; only ``train.epochs``, ``train.early_stopping``,
            ``output``, ``train.distribute``, ``train.worker_timeout``, ``train.jit_compile`` and
            ``train.tensorboard`` may differ from the run's.
        overrides: ``--set`` items applied over the run's (or the given) config.
        progress: as for :func:`train`.

    Raises:
        ConfigError: the data, model or optimizer settings differ from the run's.
        DataError: a data file changed since the run started.
        RunError: not a run folder, corrupt checkpoint, or nothing left to train.
        ResourceError: another process holds the run folder.
    """
    progress = progress or Reporter()
    original = RunFolder.open(run_path)
    wanted = config if config is not None else original.read_config()
    if overrides:
        wanted = validate_config(apply_overrides(config_to_dict(wanted), parse_overrides(overrides)), "--set", list(overrides))
    worker = check_tf_config(wanted.train.distribute)
    if worker.chief:
        progress.run_folder(original.root)
    with _worker_folder(worker, lambda scratch: original.copy_to(scratch) if scratch else original) as run, run.lock():
        run.remove_stale_temps()
        stored = run.read_config()
        _check_resumable(run, stored, wanted)
        task, pre = load_preprocessor(run.schema)
        status, state = run.read_status(), None
        if run.checkpoint("last").exists():  # both checkpoints checked before any data is read
            state = run.checkpoint_state("last", checkpoint_model(stored, task, pre))
            run.verified_checkpoint("best", checkpoint_model(stored, task, pre))
        for path, fingerprint in pre.sources.items():
            if not Path(path).exists():
                raise DataError(f"{path}: the run's data file is gone; resuming needs it at this path, unchanged")
            if data_fingerprint(path) != fingerprint:
                raise DataError(
                    f"{path}: data file changed since the run started; resuming would not reproduce it. Start a new run"
                )
        _, data = task.prepare(wanted, pre)
        _check_fits(wanted, task, pre, data)
        if status.get("state") == "complete" and state and state["epoch"] >= wanted.train.epochs:
            raise RunError(
                f"{run.root}: run is complete ({state['epoch']} epochs); raise train.epochs "
                f"(--set train.epochs=N) to train further, or start a new run"
            )
        if wanted.train.distribute not in _STRATEGIES:
            wait_for_cluster(worker, wanted.train.worker_timeout, progress.note)
        _, keras = _import_tensorflow(wanted.seed, start=lambda tf: _strategy(tf, wanted.train.distribute))
        if state is None:
            _clear_progress(run)
        _write_run_files(run, wanted, pre)
        epoch = int(state["epoch"]) if state else 0
        run.append_log(f"rnnkit {__version__}: resuming at epoch {epoch + 1} of {wanted.train.epochs}")
        return _fit(run, wanted, task, pre, data, keras, progress, resume_state=state, worker=worker)


def _describe_model(config: Config, task: Task, pre, data) -> str:
    # The first line of train.log: what is trained on what.
    from rnnkit.resources import parameter_count

    model = config.model
    weights = parameter_count(model, task.model_shape(pre))
    layers = f"{'bidirectional ' if model.bidirectional else ''}{model.cell} {model.layer_units}"
    return (
        f"a {config.task} model ({layers}, {weights:,} weights) on {task.examples(data, 'train'):,} training examples, "
        f"for up to {config.train.epochs} epochs"
    )


def _check_fits(config: Config, task: Task, pre, data) -> None:
    # A batch holds at most every training example.
    batch = min(config.train.batch_size, max(1, task.examples(data, "train")))
    check_training_fits(config.model, task.model_shape(pre), batch, config.train.optimizer)


@contextmanager
def _worker_folder(worker: Worker, folder) -> Iterator[RunFolder]:
    """``folder(None)``: the run folder, on the chief. Other workers of a multi-worker run train
    exactly as the chief does but into ``folder(scratch)`` in a temporary directory, deleted at
    the end, so the run folder is written once."""
    if worker.chief:
        yield folder(None)
        return
    scratch = tempfile.mkdtemp(prefix=f"rnnkit-worker{worker.index}-")
    try:
        yield folder(Path(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fit(
    run: RunFolder,
    config: Config,
    task: Task,
    pre,
    data,
    keras,
    progress: Reporter,
    resume_state,
    callbacks: list | None = None,
    *,
    worker: Worker,
) -> TrainResult:
    import tensorflow as tf

    from rnnkit.callbacks import RunRecorder
    from rnnkit.distribute import finish_together, gpu_warnings
    from rnnkit.loop import TrainingLoop
    from rnnkit.models import build_model, load_model

    strategy = _strategy(tf, config.train.distribute)
    warnings = task.warnings(data) + gpu_warnings(tf, config.model.cell, config.model.recurrent_dropout)
    if strategy.num_replicas_in_sync > 1 and config.train.clipnorm is not None:
        warnings.append(
            f"train.clipnorm clips each of the {strategy.num_replicas_in_sync} replicas' share of the gradient "
            "before they are summed, not the summed gradient"
        )
    monitor = config.train.early_stopping.monitor
    if monitor.startswith("val_") and not task.has_split(data, "val"):
        warnings.append(f"no validation data, so train.early_stopping.monitor falls back from {monitor} to {monitor[4:]}")
        monitor = monitor[4:]
    for warning in warnings:
        progress.note(f"warning: {warning}")
        run.append_log(f"warning: {warning}")
    start = 0 if resume_state is None else int(resume_state["epoch"])
    run.write_status("running", epoch=start)
    try:
        with strategy.scope():
            model = build_model(config.model, mixed_precision=config.train.mixed_precision, **task.model_kwargs(pre))
            model.compile(optimizer=_optimizer(keras, config))  # the optimizer only: TrainingLoop computes loss and metrics
            model.optimizer.build(model.trainable_variables)
        stopping = config.train.early_stopping
        recorder = RunRecorder(
            run, monitor, stopping.patience, stopping.min_delta, resume_state, epochs=config.train.epochs, progress=progress
        )
        if resume_state is not None:
            model.load_weights(run.verified_checkpoint("last"))
            recorder.restore_rng(model, resume_state)
            recorder.best_weights = load_model(run.verified_checkpoint("best")).get_weights()
        if start < config.train.epochs and not recorder.should_stop():
            datasets = task.datasets(config, pre, data, start)
            loop = TrainingLoop(model, task.loss(keras, config), task.metrics, strategy, jit_compile=config.train.jit_compile)
            loop.fit(
                datasets.train,
                steps=datasets.steps,
                epochs=config.train.epochs,
                initial_epoch=start,
                validation=datasets.val,
                callbacks=[recorder, *_tensorboard(keras, run, config), *(callbacks or ())],
                verbose=1 if progress.bars else 0,
            )
    except (KeyboardInterrupt, Terminated) as exc:
        code = 143 if isinstance(exc, Terminated) else 130
        epoch = _last_checkpoint_epoch(run)
        _best_effort_status(run, "interrupted", epoch=epoch, reason="SIGTERM" if code == 143 else "SIGINT")
        run.append_log(f"interrupted by {'SIGTERM' if code == 143 else 'SIGINT'}; {epoch} epoch(s) are saved")
        where, folder = _names(run, worker)
        raise Interrupted(
            f"{where}: training interrupted; {epoch} epoch(s) are saved. Resume with: rnnkit train --resume {folder}", code
        ) from None
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as exc:
        epoch = _last_checkpoint_epoch(run)
        _best_effort_status(run, "failed", epoch=epoch, reason=f"{type(exc).__name__}: {exc}"[:500])
        if worker.count == 1:
            raise
        detail = _op_error_cause(exc)
        where, folder = _names(run, worker)
        raise ResourceError(
            f"{where}: lost contact with another worker ({detail}); {epoch} epoch(s) are saved. "
            f"Resume with 'rnnkit train --resume {folder}' on every worker"
        ) from None
    except BaseException as exc:
        _best_effort_status(run, "failed", epoch=_last_checkpoint_epoch(run), reason=f"{type(exc).__name__}: {exc}"[:500])
        run.append_log(f"failed: {type(exc).__name__}: {exc}"[:500])
        raise

    if recorder.diverged_epoch is not None:
        run.write_status("diverged", epoch=recorder.diverged_epoch, reason="loss became NaN or infinite")
        run.append_log(f"diverged at epoch {recorder.diverged_epoch}: the loss is not finite")
        kept = f"best.keras from epoch {recorder.best_epoch} is untouched" if recorder.best_epoch else "no epoch finished cleanly"
        raise DivergedError(
            f"{run.root}: training diverged at epoch {recorder.diverged_epoch} (loss is not finite); {kept}. "
            "Try a lower train.learning_rate or set train.clipnorm"
        )

    model.set_weights(recorder.best_weights)
    digest = weights_sha256(model)
    if not worker.chief:
        finish_together(tf, strategy)
        return TrainResult(
            None, recorder.epochs_done, recorder.best_epoch, monitor, recorder.best_value, {}, warnings, worker, digest
        )
    metrics: dict[str, Any] = {"val": {}, "test": {}, "baseline": {}}
    for split in ("val", "test"):
        result = task.evaluate(model, pre, data, split)
        if result is not None:
            metrics[split], metrics["baseline"][split] = result
    metrics["best_epoch"] = recorder.best_epoch
    metrics["monitor"] = {"name": monitor, "value": recorder.best_value}
    run.write_json(run.metrics, metrics)
    _write_plots(run, task, model, pre, data, metrics, recorder.rows, recorder.best_epoch, monitor)
    run.write_status("complete", epoch=recorder.epochs_done, best_epoch=recorder.best_epoch)
    run.append_log(
        f"complete: {recorder.epochs_done} epochs, best epoch {recorder.best_epoch} ({monitor} {recorder.best_value:.5g})"
    )
    finish_together(tf, strategy)
    return TrainResult(
        run.root, recorder.epochs_done, recorder.best_epoch, monitor, recorder.best_value, metrics, warnings, worker, digest
    )


def _names(run: RunFolder, worker: Worker) -> tuple[str, str]:
    # How messages name this worker and the folder to resume: a non-chief's own folder is scratch.
    return (str(run.root), str(run.root)) if worker.chief else (worker.describe(), "RUN (the chief's run folder)")


def _op_error_cause(exc) -> str:
    # TensorFlow's message: "Graph execution error:", "Detected at node ..." and a Python stack, then the cause.
    paragraphs = [p.strip() for p in str(exc.message).split("\n\n") if p.strip()]
    causes = [p for p in paragraphs if not p.startswith(("Graph execution error", "Detected at node", 'File "'))]
    return " ".join((causes[0] if causes else paragraphs[-1] if paragraphs else type(exc).__name__).split())[:300]


def weights_sha256(model) -> str:
    """sha256 over every weight's bytes, in order: equal weights, equal digest."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return digest.hexdigest()


def _check_optional_packages(config: Config) -> None:
    import importlib.util

    if config.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ResourceError("train.tensorboard is true but the tensorboard package is missing: pip install 'rnnkit[tensorboard]'")


def _tensorboard(keras, run: RunFolder, config: Config) -> list:
    if not config.train.tensorboard:
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(run.root / "tensorboard"), update_freq="epoch", write_graph=False)]


def _write_plots(run: RunFolder, task: Task, model, pre, data, metrics: dict, rows, best_epoch: int, monitor: str) -> None:
    from rnnkit import plots

    folder = run.subfolder("plots")
    plots.learning_curves(rows, best_epoch, monitor, folder / "learning_curves.png")
    for split in ("val", "test"):
        if metrics.get(split):
            task.plots(model, pre, data, split, folder, metrics[split])


def data_fingerprint(path: str | Path) -> str:
    """sha256 of a data file, so resume can refuse data that changed under a run.

    Raises:
        DataError: the file is missing, not a regular file, or unreadable.
    """
    path = regular_file(path, DataError, "run's data file")
    try:
        return sha256_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the run's data file: {describe_os_error(exc)}") from None


def data_fingerprints(config: Config) -> dict[str, str]:
    """Fingerprints of every data file the config reads."""
    paths = [p for p in (config.data.path, config.data.val_path, config.data.test_path) if p]
    return {p: data_fingerprint(p) for p in paths}


# Sections whose change makes a resumed run a different experiment.
_RESUME_FIXED = ("task", "seed", "data", "model")
_RESUME_FIXED_TRAIN = (
    "optimizer",
    "learning_rate",
    "clipnorm",
    "loss",
    "batch_size",
    "shuffle",
    "class_weight",
    "mixed_precision",
)


def _check_resumable(run: RunFolder, old: Config, new: Config) -> None:
    before, after = config_to_dict(old), config_to_dict(new)
    pairs = [(key, before[key], after[key]) for key in _RESUME_FIXED]
    pairs += [(f"train.{key}", before["train"][key], after["train"][key]) for key in _RESUME_FIXED_TRAIN]
    for key, was, now in pairs:
        if was != now:
            detail = _first_difference(key, was, now)
            raise ConfigError(
                f"{run.root}: cannot resume: {detail}; resume keeps data, model and optimizer. Start a new run instead"
            )


def _first_difference(key: str, was: Any, now: Any) -> str:
    if isinstance(was, dict) and isinstance(now, dict):
        for sub in dict.fromkeys([*was, *now]):
            if was.get(sub) != now.get(sub):
                return _first_difference(f"{key}.{sub}", was.get(sub), now.get(sub))
    return f"{key} changed from {was!r} to {now!r}"


def _write_run_files(run: RunFolder, config: Config, pre) -> None:
    resolved = config.model_copy(update={"versions": library_versions()})
    atomic_write(run.config, dump_yaml(config_to_dict(resolved)))
    run.write_json(run.schema, pre.to_dict())


def _clear_progress(run: RunFolder) -> None:
    for path in (run.history, run.metrics, run.manifest, run.checkpoint("best"), run.checkpoint("last")):
        if path.exists():
            path.unlink()


def _best_effort_status(run: RunFolder, state: str, **fields: Any) -> None:
    # Already failing (perhaps because the disk is full): the original error matters more.
    try:
        run.write_status(state, **fields)
    except ResourceError:
        pass


def _last_checkpoint_epoch(run: RunFolder) -> int:
    try:
        return int(run.read_manifest()["checkpoints"].get("last", {}).get("epoch", 0))
    except RunError:
        return 0


def evaluate(
    run_path: str | Path,
    *,
    data: str | Path | None = None,
    split: str | None = None,
    chunk_rows: int = 200_000,
    progress: Reporter | None = None,
) -> dict[str, Any]:
    """Evaluate the run's best checkpoint and record the result in metrics.json.

    Args:
        run_path: the run folder.
        data: a new file with the training columns; every complete window (or sequence) in it is
            evaluated, the file read in chunks as ``predict`` reads its input (text files of
            ``generate`` runs whole).
        split: ``"val"`` or ``"test"`` of the run's own data (default: both). Not with ``data``.
        chunk_rows: rows of ``data`` read at a time.
        progress: told how many rows of ``data`` have been read (default: silent).

    Returns:
        ``{name: {"model": {...}, "baseline": {...}}}`` for each evaluated split or file.

    Raises:
        ConfigError: ``split`` and ``data`` together, or an unknown split.
        RunError: incomplete or corrupt run folder.
        DataError: the data does not match the run's schema.
    """
    if split is not None and split not in ("val", "test"):
        raise ConfigError(f"--split must be val or test. Received: {split!r}")
    if split is not None and data is not None:
        raise ConfigError("--split applies to the run's own data; with --data the whole file is evaluated")
    run, config, task, pre, best = _open_run(run_path)
    with run.lock():  # before any work: a training process writes the same metrics.json and plots
        run.remove_stale_temps()  # the lock is ours: any temporary file was left by a killed writer
        run.read_metrics()  # written at the end: a damaged one fails now, not after the work
        if data is not None:
            stream = task.labelled_stream(pre, data, chunk_rows, progress)  # columns and first rows, before the model loads
            model = _load_best(config, best)
            evaluation = task.evaluate_file(model, pre, stream)
            results = {str(Path(data).resolve()): {"model": evaluation.model, "baseline": evaluation.baseline}}
            evaluation.plots(run.subfolder("plots", "files", Path(data).stem))  # once scored: a failure writes nothing
            run.update_metrics({"files": results})
            return results
        for path in (config.data.path, config.data.val_path, config.data.test_path):
            if path and not Path(path).exists():
                raise DataError(f"{path}: the run's data file is gone; evaluate another file with --data PATH")
        _, prepared = task.prepare(config, pre)
        model = _load_best(config, best)
        results = {}
        for name in [split] if split else ["val", "test"]:
            outcome = task.evaluate(model, pre, prepared, name)
            if outcome is None:
                raise DataError(f"{config.data.path}: the {name} split has nothing to evaluate")
            results[name] = {"model": outcome[0], "baseline": outcome[1]}
        for name in results:  # only once every split is scored: a failure writes nothing
            task.plots(model, pre, prepared, name, run.subfolder("plots"), results[name]["model"])
        run.update_metrics(
            {**{n: v["model"] for n, v in results.items()}, "baseline": {n: v["baseline"] for n, v in results.items()}}
        )
    return results


def _load_best(config: Config, best: Path):
    # TensorFlow is imported only now: data errors found before it cost no import.
    _import_tensorflow(config.seed)
    from rnnkit.models import load_model

    return load_model(best)


def predict(
    run_path: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    chunk_rows: int = 200_000,
    batch_size: int | None = None,
    last_only: bool = False,
    overwrite: bool = False,
    layout: str = "wide",
    progress: Reporter | None = None,
) -> PredictResult:
    """Forecast from every complete window of a CSV or Parquet file, streaming in chunks.

    The input is checked against schema.json before the model is loaded. Each series keeps only
    its last ``window - 1`` rows between chunks, so memory is bounded by the chunk size. Wide
    output has one row per forecast: the series id, ``origin_<time>`` (the time of the last
    observed step; ``origin``, its row within the series, without a time column), where the time
    column is regular ``<time>_h<k>`` (the time step ``k`` is for), and ``<target>_h<k>`` for
    every target and step in original units. Long output has one row per forecast step: id,
    ``origin_<time>``, ``<time>`` (where regular), ``step``, one column per target. Classify and
    tag runs write one row per sequence or step. The output appears at ``output_path`` only once
    complete.

    Args:
        run_path: the run folder.
        input_path: rows in the training layout (id, time, features; targets under detrending).
        output_path: ``.csv`` or ``.parquet`` file to write.
        chunk_rows: rows read per chunk.
        batch_size: windows or sequences per model call; None lets the task choose
            (``Task.predict_batch``): 1,024; for forecasting models of fewer than 20,000
            recurrent weights 4,096, for larger ones 512 where each batch runs on one thread.
        last_only: only the forecast from the last window of each series (the future).
        overwrite: replace an existing output file.
        layout: ``"wide"`` or (forecast runs) ``"long"``: ``rnnkit predict --format``.
        progress: told how many input rows have been read (default: silent).

    Raises:
        ConfigError: the output exists (without ``overwrite``) or has an unknown format or layout.
        DataError: the input does not match the schema, or a series is out of time order.
        RunError: incomplete or corrupt run folder.
    """
    from rnnkit.data.predict_stream import OutputWriter

    run, config, task, pre, best = _open_run(run_path)
    _check_layout(run, task, layout)
    writer = OutputWriter(output_path, overwrite=overwrite)
    stream = task.checked_stream(pre, input_path, chunk_rows, progress)  # columns and cells, before the model is loaded
    stats = _predict(config, task, pre, best, stream, writer, batch_size, last_only, layout)
    return PredictResult(writer.path, stats.rows, stats.sequences, stats.input_rows, stats.short)


def predict_frame(
    run_path: str | Path,
    frame,
    *,
    batch_size: int | None = None,
    last_only: bool = False,
    layout: str = "wide",
    chunk_rows: int = 200_000,
):
    """:func:`predict` for a pandas DataFrame in the training layout: the predictions as a
    DataFrame with the columns ``rnnkit predict`` writes.

    Raises:
        ConfigError, DataError, RunError: as for :func:`predict`; rows are named ``row N`` (1-based).
    """
    from rnnkit.data.predict_stream import FrameWriter

    run, config, task, pre, best = _open_run(run_path)
    _check_layout(run, task, layout)
    writer = FrameWriter()
    stream = task.checked_stream(pre, frame, chunk_rows)
    _predict(config, task, pre, best, stream, writer, batch_size, last_only, layout)
    return writer.frame


def _check_layout(run: RunFolder, task: Task, layout: str) -> None:
    if task.name == "generate":
        raise ConfigError(f"{run.root}: a language model run; sample from it with 'rnnkit generate {run.root} --prompt TEXT'")
    if layout not in task.predict_layouts:
        raise ConfigError(
            f"--format must be one of {', '.join(task.predict_layouts)} for a {task.name} run. Received: {layout!r}"
        )


def _predict(config, task, pre, best, stream, writer, batch_size, last_only, layout):
    # Where TensorFlow has not started yet (a command, a fresh process) and the host allows it,
    # each op runs on one thread and one batch per CPU is in flight (tasks.base.one_thread_per_op);
    # where it has (a notebook that trained first), batches share TensorFlow's threads as set.
    from rnnkit.tasks.base import cpu_streams, one_thread_per_op, ops_on_one_thread

    _import_tensorflow(config.seed, start=one_thread_per_op)
    from rnnkit.models import load_model

    model = load_model(best)
    one_thread = ops_on_one_thread()
    batch = batch_size or task.predict_batch(model, one_thread=one_thread)
    streams = cpu_streams() if one_thread else None
    check_inference_fits(config.model, task.model_shape(pre), batch, streams or 2)
    with writer:
        return task.write_predictions(
            model, pre, stream, writer, batch_size=batch, last_only=last_only, streams=streams, layout=layout
        )


def export(run_path: str | Path, *, output: str | Path | None = None, fmt: str = "savedmodel") -> tuple[Path, dict]:
    """Export the run's best model as a SavedModel whose signature takes raw inputs.

    Args:
        run_path: the run folder.
        output: a new folder (default ``<run>/export/savedmodel``).
        fmt: ``"savedmodel"``.

    Returns:
        The folder written and a summary of the serving signature.

    Raises:
        ConfigError: unknown format, an existing output folder, or a task that cannot be exported.
        RunError: incomplete or corrupt run folder.
    """
    from rnnkit.export import FORMATS, export_savedmodel

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    run, config, task, pre, best = _open_run(run_path)
    target = Path(output) if output is not None else run.root / "export" / fmt
    _import_tensorflow(config.seed)
    from rnnkit.models import load_model

    return target, export_savedmodel(load_model(best), task.name, pre, target)


def generate(
    run_path: str | Path,
    *,
    prompt: str = "",
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """Sample text from a ``generate`` run, one token at a time through the model's state.

    Raises:
        ConfigError: the run is not a language model, or an option is out of range.
        RunError: incomplete or corrupt run folder.
    """
    from rnnkit.tasks.generate import sample

    if length < 0 or temperature <= 0 or (top_k is not None and top_k < 1):
        raise ConfigError(
            f"--length must be at least 0, --temperature above 0 and --top-k at least 1. "
            f"Received: length={length}, temperature={temperature}, top_k={top_k}"
        )
    run, config, task, pre, best = _open_run(run_path)
    if task.name != "generate":
        raise ConfigError(f"{run.root}: a {task.name} run; 'rnnkit generate' samples from generate runs")
    _import_tensorflow(config.seed)
    from rnnkit.models import load_model

    return sample(load_model(best), pre, prompt, length, temperature, top_k, seed)


# --------------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    """Versions recorded in config.yaml so a run can be reproduced months later."""
    import keras
    import numpy
    import pandas
    import tensorflow as tf

    return {
        "rnnkit": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


# The process's tf.distribute strategies for training, each made once (before TensorFlow's first
# op when the process trains: the multi-worker strategy must be).
_STRATEGIES: dict[str, Any] = {}


def _strategy(tf, distribute: str):
    from rnnkit.distribute import make_strategy

    if distribute not in _STRATEGIES:
        _STRATEGIES[distribute] = make_strategy(tf, distribute)
    return _STRATEGIES[distribute]


def _import_tensorflow(seed: int, start: Callable | None = None):
    """Import TensorFlow and Keras, seeded and deterministic; call ``start(tf)`` (if given) before
    TensorFlow's first op."""
    tf = _quiet_tensorflow_import(start)
    import keras

    keras.utils.set_random_seed(seed)
    # Same config and seed, same numbers on CPU.
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def _quiet_tensorflow_import(start=None):
    """Import TensorFlow and call ``start(tf)`` before its first op. Unless TF_CPP_MIN_LOG_LEVEL
    says otherwise (``rnnkit --debug`` sets 0), TensorFlow's C++ runtime logs nothing below errors,
    and the lines it writes to stderr before its logging is configured (oneDNN, CPU features) are
    hidden too: a library call, like a command, leaves stderr to the caller."""
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        import tensorflow as tf

        if start is not None:
            start(tf)
        return tf
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow as tf

        if start is not None:
            start(tf)
        (tf.constant([[1.0]]) @ tf.constant([[1.0]])).numpy()  # the first op logs too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    return tf


_OPTIMIZERS = {
    "adam": lambda keras, **kw: keras.optimizers.Adam(**kw),
    "adamw": lambda keras, **kw: keras.optimizers.AdamW(**kw),
    "sgd": lambda keras, **kw: keras.optimizers.SGD(momentum=0.9, **kw),
    "rmsprop": lambda keras, **kw: keras.optimizers.RMSprop(**kw),
}


def _optimizer(keras, config: Config):
    kwargs: dict[str, Any] = {"learning_rate": config.train.learning_rate}
    if config.train.clipnorm is not None:
        kwargs["clipnorm"] = config.train.clipnorm
    return _OPTIMIZERS[config.train.optimizer](keras, **kwargs)


def checkpoint_model(config: Config, task: Task, pre) -> dict[str, dict[str, Any]]:
    """What a run's checkpoints must hold, by the file that says so (see ``RunFolder.verified_checkpoint``):
    the shapes schema.json implies and the architecture config.yaml names."""
    model = config.model
    architecture = {
        "cell": model.cell,
        "units": model.layer_units,
        "bidirectional": model.bidirectional,
        "dense": list(model.dense),
        "embedding_dim": model.embedding_dim,
    }
    return {"schema.json": task.model_kwargs(pre), "config.yaml": architecture}


def _open_run(run_path: str | Path) -> tuple[RunFolder, Config, Task, Any, Path]:
    # The best checkpoint is verified here, once, before any data is read or model loaded: its
    # sha256, and that its model is the one the run's files describe (not another run's).
    run = RunFolder.open(run_path)
    config = run.read_config()
    task, pre = load_preprocessor(run.schema)
    return run, config, task, pre, run.verified_checkpoint("best", checkpoint_model(config, task, pre))
