"""The ``rnnkit`` command line: parse options, make one library call, print a short summary.

Expected failures print one line on stderr and exit with the code of their error class
(``rnnkit.errors``); ``--debug`` shows the traceback. TensorFlow is imported only by commands
that train or run a model, so ``--help`` and config errors are instant.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

import click

from rnnkit import __version__
from rnnkit.errors import EXIT_SIGINT, EXIT_SIGPIPE, EXIT_SIGTERM, ResourceError, RnnkitError, Terminated
from rnnkit.files import describe_os_error
from rnnkit.process import limit_malloc_arenas
from rnnkit.progress import ConsoleReporter


class _Group(click.Group):
    """Maps expected errors, usage errors included, to one stderr line and their exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra) or 0
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "rnnkit"
            click.echo(f"rnnkit: error: {_usage_message(exc)} (see '{command} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"rnnkit: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("rnnkit: interrupted", err=True)
            sys.exit(EXIT_SIGINT)
        except _StdoutClosed:
            # `rnnkit runs | head`: the reader has gone; whatever the command wrote to files is
            # complete. Exit as a process killed by SIGPIPE would, without a word.
            _silence_stdout()
            sys.exit(EXIT_SIGPIPE)

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        if debug:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")  # TensorFlow's C++ log lines too (rnnkit hides them)
        limit_malloc_arenas()
        # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C: temporary files are removed, locks
        # released, and training saves what it can, whatever the command.
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return super().invoke(ctx)
        except RnnkitError as exc:
            if debug:
                traceback.print_exc()
            if isinstance(exc, _StdoutFailed):
                _silence_stdout()
            click.echo(f"rnnkit: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            click.echo("rnnkit: interrupted", err=True)
            sys.exit(EXIT_SIGINT)
        except Terminated:
            if debug:
                traceback.print_exc()
            click.echo("rnnkit: terminated (SIGTERM)", err=True)
            sys.exit(EXIT_SIGTERM)
        finally:
            signal.signal(signal.SIGTERM, previous)


class _StdoutClosed(Exception):
    """Standard output's reader went away (EPIPE)."""


class _StdoutFailed(ResourceError):
    """Standard output cannot be written (a full disk)."""


def echo(text: str = "") -> None:
    """Write a line to standard output.

    Raises:
        _StdoutClosed: the reader has gone (``| head``).
        _StdoutFailed: standard output cannot be written (a full disk).
    """
    try:
        click.echo(text)
    except BrokenPipeError:
        raise _StdoutClosed() from None
    except OSError as exc:
        raise _StdoutFailed(f"standard output: cannot write: {describe_os_error(exc)}") from None


def _bars() -> bool:
    # Live bars only when both streams are a terminal: a bar in a log file is noise.
    return sys.stderr.isatty() and sys.stdout.isatty()


class _TrainReporter(ConsoleReporter):
    """Names the run folder on standard output, as the first line of every ``train``."""

    def run_folder(self, path: Path) -> None:
        echo(f"run: {path}")


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; a broken or full one would print a traceback then.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _usage_message(exc: click.UsageError) -> str:
    # `rnnkit train --debug` is a common slip: --debug belongs to rnnkit itself.
    if isinstance(exc, click.NoSuchOption) and exc.option_name == "--debug" and exc.ctx is not None:
        name = exc.ctx.info_name
        return f"No such option '--debug' for '{name}': it goes before the command, as in rnnkit --debug {name} ..."
    return exc.format_message()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rnnkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for expected errors too.")
def cli(debug: bool) -> None:
    """Train, evaluate and apply recurrent neural networks on sequence data.

    Configs are YAML (see `rnnkit validate --schema`); every command that reads a run folder
    needs nothing else. Exit codes: 0 ok, 1 internal error, 2 config or usage, 3 data, 4 run
    folder or model, 5 environment or I/O, 6 diverged, 130 SIGINT, 143 SIGTERM.
    """


# Bounds of the options that have no natural one (a config's keys carry theirs in the schema).
MAX_PREDICT_BATCH = 65_536
MAX_CHUNK_ROWS = 10_000_000
MAX_GENERATE_LENGTH = 1_000_000

_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress lines or bars on stderr.")
_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, value parsed as YAML (repeatable): --set train.epochs=5",
)


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@_set_option
@click.option(
    "--run-dir", type=click.Path(path_type=Path), help="Exact run folder to create (default: <output.dir>/<name>-<timestamp>)."
)
@click.option(
    "--resume",
    "resume_run",
    type=click.Path(path_type=Path),
    help="Continue this interrupted run from its last complete checkpoint (CONFIG optional).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display and no summary; print only the run folder.")
def train(config: Path | None, overrides: tuple[str, ...], run_dir: Path | None, resume_run: Path | None, quiet: bool) -> None:
    """Validate CONFIG, build data and model, fit, and write a run folder.

    With --resume RUN, continue RUN instead; only train.epochs, train.early_stopping, output,
    train.distribute, train.worker_timeout, train.jit_compile and train.tensorboard may change
    (through CONFIG or --set).
    """
    from rnnkit.config import load_config

    if resume_run is None and config is None:
        raise click.UsageError("missing CONFIG (or --resume RUN)")
    if resume_run is not None and run_dir is not None:
        raise click.UsageError("--run-dir and --resume exclude each other: a resumed run stays in its folder")
    resolved = load_config(config, overrides) if config is not None else None
    from rnnkit import api

    progress = None if quiet else _TrainReporter(bars=_bars())
    if resume_run is not None:
        run = api.resume(resume_run, config=resolved, overrides=() if resolved else overrides, progress=progress)
    else:
        run = api.train(resolved, run_dir=run_dir, progress=progress)
    result = run.result
    if result.run_dir is None:  # a multi-worker run's other workers: the chief wrote the run folder
        echo(
            f"{result.worker.describe()}: {result.epochs_run} epoch(s) in step with the chief, which wrote the run folder; "
            f"weights sha256 {result.weights_sha256}"
        )
        return
    if quiet:
        echo(str(result.run_dir))
        return
    if result.worker.count > 1:
        echo(f"chief of {result.worker.count} workers; weights sha256 {result.weights_sha256}")
    echo(f"epochs: {result.epochs_run}, best epoch {result.best_epoch} ({result.monitor} {result.best_value:.5g})")
    splits = {
        s: {"model": result.metrics[s], "baseline": result.metrics["baseline"].get(s)}
        for s in ("val", "test")
        if result.metrics.get(s)
    }
    echo(_metrics_table(splits))


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    help="Evaluate every window of this file instead of the run's splits (read in chunks, each series in time order).",
)
@click.option("--split", type=click.Choice(["val", "test"]), help="Only this split of the run's data (default: both).")
@_quiet_option
def evaluate(run: Path, data_path: str | None, split: str | None, quiet: bool) -> None:
    """Metrics of RUN's best checkpoint, in original units, beside the persistence baseline."""
    from rnnkit import api

    results = api.load_run(run).evaluate(data=data_path, split=split, progress=None if quiet else ConsoleReporter(bars=_bars()))
    echo(_metrics_table(results))
    echo(f"written to {Path(run) / 'metrics.json'}")


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--input", "input_path", required=True, type=click.Path(path_type=Path), help="CSV or Parquet file in the training layout."
)
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path), help="CSV or Parquet file to write.")
@click.option("--last", "last_only", is_flag=True, help="Forecast runs: only the forecast from the last window of each series.")
@click.option(
    "--chunk-rows",
    default=200_000,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_CHUNK_ROWS),
    help=f"Input rows read at a time (at most {MAX_CHUNK_ROWS:,}).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=MAX_PREDICT_BATCH),
    help=f"Windows or sequences per model call, at most {MAX_PREDICT_BATCH:,}. [default: 1024; forecasting: 4096 "
    "under 20,000 recurrent weights, 512 from 20,000 on a host of up to 8 CPUs and no GPU, unless TF_NUM_INTRAOP_THREADS is set]",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--format",
    "layout",
    type=click.Choice(["wide", "long"]),
    default="wide",
    show_default=True,
    help="Forecast runs: one row per forecast (wide) or one per forecast step (long).",
)
@_quiet_option
def predict(
    run: Path,
    input_path: Path,
    output_path: Path,
    last_only: bool,
    chunk_rows: int,
    batch_size: int | None,
    overwrite: bool,
    layout: str,
    quiet: bool,
) -> None:
    """Predict INPUT with RUN's best checkpoint, streaming in chunks.

    Forecast runs, wide: one row per complete window (series id, origin_<time>, <time>_h<k> where
    the time column is regular, <target>_h<k>); long: one row per window and step (id,
    origin_<time>, <time>, step, <target>...). Classify runs: one row per sequence (id, label,
    p_<label>). Tag runs: one row per input row.
    """
    from rnnkit import api

    result = api.load_run(run).predict_file(
        input_path,
        output_path,
        chunk_rows=chunk_rows,
        batch_size=batch_size,
        last=last_only,
        overwrite=overwrite,
        layout=layout,
        progress=None if quiet else ConsoleReporter(bars=_bars()),
    )
    if result.short_series:
        click.echo(f"rnnkit: warning: {result.short_series} series have fewer rows than the window and got no forecast", err=True)
    echo(
        f"wrote {_count(result.rows, 'prediction')} for {_count(result.series, 'series', 'series')} or sequences "
        f"({_count(result.input_rows, 'input row')}) to {result.output}"
    )


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--prompt", default="", help="Text to continue (default: start from a token drawn from training frequencies).")
@click.option(
    "--length",
    default=200,
    show_default=True,
    type=click.IntRange(min=0, max=MAX_GENERATE_LENGTH),
    help=f"Tokens to generate (at most {MAX_GENERATE_LENGTH:,}).",
)
@click.option(
    "--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Sampling temperature."
)
@click.option("--top-k", type=click.IntRange(min=1), help="Sample among the K most likely tokens only.")
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the sampler: same seed, same text."
)
def generate(run: Path, prompt: str, length: int, temperature: float, top_k: int | None, seed: int) -> None:
    """Sample text from a generate RUN, one token at a time through the model's state."""
    from rnnkit import training

    echo(training.generate(run, prompt=prompt, length=length, temperature=temperature, top_k=top_k, seed=seed))


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@_set_option
@click.option("--schema", "print_schema", is_flag=True, help="Print the JSON Schema of config files and exit.")
def validate(config: Path | None, overrides: tuple[str, ...], print_schema: bool) -> None:
    """Check CONFIG and its data without training; print the resolved config and a data summary."""
    import json

    from rnnkit import config as config_module

    if print_schema:
        echo(json.dumps(config_module.json_schema(), indent=2))
        return
    if config is None:
        raise click.UsageError("missing CONFIG (or pass --schema)")
    from rnnkit import training

    report = training.validate(config_module.load_config(config, overrides))
    for warning in report["data"].pop("warnings"):
        click.echo(f"rnnkit: warning: {warning}", err=True)
    echo(config_module.dump_yaml(report).rstrip())


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", default="savedmodel", show_default=True, type=click.Choice(["savedmodel"]), help="Export format."
)
@click.option("--output", type=click.Path(path_type=Path), help="New folder to write (default: RUN/export/savedmodel).")
def export(run: Path, fmt: str, output: Path | None) -> None:
    """Export RUN's best model for TF Serving; its signature takes raw, unscaled inputs."""
    from rnnkit import training

    target, signature = training.export(run, output=output, fmt=fmt)
    echo(f"wrote {target} (signature 'serve': " + "; ".join(f"{k} {v}" for k, v in signature.items()) + ")")


@cli.command()
@click.argument("folder", required=False, default="runs", type=click.Path(path_type=Path))
@click.option("--sort", "sort_key", help="Sort by this column, e.g. test.mae or model.cell.")
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep runs whose column matches (=, !=, <, <=, >, >=); repeatable.",
)
@click.option(
    "--columns",
    metavar="A,B,...",
    help="Columns to show, in this order, in one table: run, status, task, epochs, best_epoch, reason, path, "
    "any dotted config key (model.cell) or metric (test.mae).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown"]),
    default="table",
    show_default=True,
    help="table: one per task, fitted to the terminal; csv, json: every column, untruncated; markdown: GitHub tables.",
)
def runs(folder: Path, sort_key: str | None, desc: bool, filters: tuple[str, ...], columns: str | None, fmt: str) -> None:
    """Tables of the runs in FOLDER (default: runs), one per task: status, config values that differ, metrics.

    On a terminal the table fits its width: the least important columns are hidden (a note says
    which). Piped or redirected, the whole table is printed, unless COLUMNS sets a width.
    """
    from rnnkit import compare

    width = _terminal_width() if fmt == "table" else None
    echo(compare.report(folder, fmt=fmt, columns=columns, sort=sort_key, descending=desc, filters=filters, width=width))


def _terminal_width() -> int | None:
    # COLUMNS first, as shutil does; a pipe has no width, so `rnnkit runs > runs.txt` keeps every column.
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@_set_option
@click.option("--trials", type=click.IntRange(min=1), help="Trials in all, finished ones included (sets sweep.trials).")
@click.option("--method", type=click.Choice(["grid", "random", "bayes"]), help="How trials are chosen (sets sweep.method).")
@_quiet_option
def sweep(config: Path, overrides: tuple[str, ...], trials: int | None, method: str | None, quiet: bool) -> None:
    """Hyperparameter search over CONFIG's sweep.params; run it again to continue it.

    Each trial is a run folder in sweep.dir (default sweeps/<name>); the leaderboard, best trial
    first, is printed and written to leaderboard.csv there.
    """
    from rnnkit.config import load_config

    options = {"sweep.trials": trials, "sweep.method": method}
    extra = tuple(f"{key}={value}" for key, value in options.items() if value is not None)
    resolved = load_config(config, overrides + extra)
    from rnnkit import sweep as sweeps

    result = sweeps.run_sweep(resolved, source=str(config), progress=None if quiet else ConsoleReporter(bars=_bars()))
    if not quiet:
        for warning in result.warnings:
            click.echo(f"rnnkit: warning: {warning}", err=True)
    echo(sweeps.format_leaderboard(result))
    echo(f"sweep: {result.sweep_dir} ({result.finished} of {result.target} trials finished, {result.trials_run} run now)")


def main() -> None:
    """Console entry point."""
    cli(prog_name="rnnkit")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


# Table columns per kind of metrics: (header, where, key, digits); where is "model" or "baseline".
_TABLES = {
    "mae": [
        ("windows", "model", "windows", 0),
        ("MAE", "model", "mae", 4),
        ("RMSE", "model", "rmse", 4),
        ("sMAPE%", "model", "smape", 3),
        ("MASE", "model", "mase", 3),
        ("naive MAE", "baseline", "mae", 4),
        ("naive RMSE", "baseline", "rmse", 4),
        ("rel MAE", "model", "rel_mae", 3),
    ],
    "macro_f1": [
        ("count", "model", "count", 0),
        ("accuracy", "model", "accuracy", 4),
        ("macro-F1", "model", "macro_f1", 4),
        ("majority acc", "baseline", "accuracy", 4),
        ("majority F1", "baseline", "macro_f1", 4),
    ],
    "perplexity": [
        ("tokens", "model", "tokens", 0),
        ("cross-entropy", "model", "cross_entropy", 4),
        ("perplexity", "model", "perplexity", 4),
        ("accuracy", "model", "accuracy", 4),
        ("unigram ppl", "baseline", "perplexity", 4),
    ],
}


def _metrics_table(results: dict) -> str:
    if not results:
        return "no validation or test data to score"
    first = next(iter(results.values()))["model"]
    kind = next(k for k in _TABLES if k in first)
    columns = _TABLES[kind]
    rows = [["split", *[c[0] for c in columns]]]
    notes = []
    for name, entry in results.items():
        parts = {"model": entry["model"], "baseline": entry.get("baseline") or {}}
        label = Path(name).name if os.sep in name else name
        rows.append(
            [
                label,
                *[
                    _fmt(parts[where].get(key), digits or 4) if digits else _fmt(parts[where].get(key))
                    for _, where, key, digits in columns
                ],
            ]
        )
        per_step = entry["model"].get("per_step", {}).get("mae", [])
        if len(per_step) > 1:
            notes.append(f"{label} MAE by step: " + " ".join(_fmt(v, 3) for v in per_step))
        matrix = entry["model"].get("confusion_matrix")
        if matrix is not None and len(matrix) <= 10:
            labels = entry["model"]["labels"]
            notes.append(f"{label} confusion (rows true, columns predicted; {', '.join(labels)}): {matrix}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    return "\n".join(lines + notes)
