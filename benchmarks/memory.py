"""Peak memory: training on a 5,000,000-row series, and ``rnnkit predict`` as its input grows 10x.

Training: ``rnnkit.training.train`` on a generated 5M-row x 8-feature Parquet file, window 64,
LSTM(128) -> LSTM(128) -> Dense(1), one epoch over every 1000th window (``data.stride``; the rows,
not the windows trained, set the memory), against the framework's own baseline: a process that
imports TensorFlow (as rnnkit does) and builds and compiles the same model, with and without one
``fit`` step. The rnnkit cases first cap glibc's malloc arenas, as the command line does
(``rnnkit.process.limit_malloc_arenas``). Peak RSS is the process's ``ru_maxrss``.
``rnnkit-5M-eval`` adds small validation and test splits (0.2% each, 10,000 windows apiece) so
that evaluation and plots run too.
``--stages`` prints, for one run of each rnnkit case, the peak RSS inside every stage of data
preparation and training (VmHWM reset at each stage boundary through /proc/self/clear_refs;
Linux only, and it resets ru_maxrss, so it runs in processes of its own).

Predict: ``/usr/bin/time -f %M rnnkit predict`` on CSV inputs of 200,000 and 2,000,000 rows, with
a run folder trained on the same columns (a small LSTM(16) so the 2M-row run takes seconds; the
streaming, not the model, sets the memory), alternating the two sizes.

Evaluate: ``/usr/bin/time -f %M rnnkit evaluate RUN --data X.csv`` on the same two files and run
(a copy per measurement: evaluate writes metrics.json and plots into it), alternating the sizes.

    python benchmarks/memory.py            # 3 repeats
    python benchmarks/memory.py --quick    # 2 repeats
    python benchmarks/memory.py --skip-predict --stages   # where the training peak comes from
    python benchmarks/memory.py --skip-train --skip-predict   # evaluate --data only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CACHE,
    FEATURES,
    WINDOW,
    data_file,
    fmt,
    header,
    med,
    quiet_env,
    reference_model,
    run_worker,
    table,
    write_config,
)

TRAIN_ROWS = 5_000_000
PREDICT_ROWS = (200_000, 2_000_000)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def _record_stages(log: list) -> None:
    """Wrap the stages of rnnkit train so each logs (depth, name, RSS before, peak inside, RSS after)."""
    import functools

    from rnnkit import loop, training
    from rnnkit.data import pipeline, prepare, readers, schema
    from rnnkit.tasks import forecast

    depth = [0]

    def wrap(owner, name, label):
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            before = _status_mib("VmRSS")
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # VmHWM := VmRSS
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1
                log.append((depth[0], label, before, _status_mib("VmHWM"), _status_mib("VmRSS")))

        setattr(owner, name, wrapped)

    for name in ("read_table", "clean_frame", "order_series", "_assign_splits", "_to_arrays", "window_origins"):
        wrap(prepare, name, name)
    wrap(readers, "_read_parquet_columns", "read Parquet columns")
    wrap(schema.Preprocessor, "fit", "Preprocessor.fit (scaler)")
    wrap(pipeline.WindowCutter, "__init__", "WindowCutter (rows to TF)")
    wrap(forecast.ForecastTask, "datasets", "task.datasets")
    wrap(loop.TrainingLoop, "evaluate", "TrainingLoop.evaluate (validation, each epoch)")
    wrap(forecast.ForecastTask, "evaluate", "task.evaluate")
    wrap(training, "_write_plots", "plots")
    wrap(training, "_fit", "training._fit (model, fit, evaluation, plots)")


def worker(name: str) -> dict:
    if name.startswith("rnnkit-5M"):
        from rnnkit.config import load_config
        from rnnkit.process import limit_malloc_arenas
        from rnnkit.training import train

        limit_malloc_arenas()  # as the command line does before any work
        stages: list = []
        if name.endswith("+stages"):
            _record_stages(stages)
        data = data_file(TRAIN_ROWS, ".parquet")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_config(Path(tmp) / "bench.yaml", data, epochs=1, stride=1000)
            if "-eval" in name:
                text = path.read_text(encoding="utf-8").replace("{val: 0.0, test: 0.0}", "{val: 0.002, test: 0.002}")
                path.write_text(text, encoding="utf-8")
            config = load_config(path)
            start = time.perf_counter()
            train(config, run_dir=Path(tmp) / "run")
            seconds = time.perf_counter() - start
        return {"peak_mib": _peak_mib(), "seconds": seconds, "stages": stages}
    import numpy as np

    from rnnkit import training

    _, keras = training._import_tensorflow(42)
    model = reference_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_squared_error", metrics=["mae"], jit_compile=False)
    if name == "baseline+step":
        x = np.zeros((64, WINDOW, FEATURES), np.float32)
        model.fit(x, np.zeros((64, 1, 1), np.float32), batch_size=64, epochs=1, verbose=0)
    return {"peak_mib": _peak_mib(), "seconds": 0.0}


def predict_run_folder() -> Path:
    """A small trained run (LSTM(16)) on the benchmark columns, made once and cached."""
    run = CACHE / "predict-run"
    if not (run / "checkpoints" / "best.keras").is_file():
        from rnnkit.config import load_config
        from rnnkit.training import train

        CACHE.mkdir(parents=True, exist_ok=True)
        config = load_config(write_config(CACHE / "predict-run.yaml", data_file(4096 + WINDOW), epochs=1, units=[16]))
        import shutil

        shutil.rmtree(run, ignore_errors=True)
        train(config, run_dir=run)
    return run


def time_predict(run: Path, rows: int) -> dict:
    data = data_file(rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.csv"
        cli = [sys.executable, str(Path(__file__).resolve().parent / "_rnnkit_cli.py")]
        cmd = ["/usr/bin/time", "-f", "%M %e", *cli, "predict", str(run), "--input", str(data), "--output", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=quiet_env())
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        kib, seconds = proc.stderr.strip().splitlines()[-1].split()
        with out.open() as handle:
            lines = sum(1 for _ in handle) - 1
    return {"peak_mib": int(kib) / 1024, "seconds": float(seconds), "forecasts": lines}


def time_evaluate(run: Path, rows: int) -> dict:
    import shutil

    data = data_file(rows)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(run, copy)
        cli = [sys.executable, str(Path(__file__).resolve().parent / "_rnnkit_cli.py")]
        cmd = ["/usr/bin/time", "-f", "%M %e", *cli, "evaluate", str(copy), "--data", str(data)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=quiet_env())
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        kib, seconds = proc.stderr.strip().splitlines()[-1].split()
        windows = json.loads((copy / "metrics.json").read_text())["files"][str(data.resolve())]["model"]["windows"]
    return {"peak_mib": int(kib) / 1024, "seconds": float(seconds), "windows": windows}


def _growth_table(results: dict[int, list[dict]], count: str) -> str:
    """Peak RSS and wall time of each input size, and the peak against the smallest."""
    rows = []
    small = med(r["peak_mib"] for r in results[PREDICT_ROWS[0]])[0]
    for rows_ in PREDICT_ROWS:
        peak = med(r["peak_mib"] for r in results[rows_])
        sec = med(r["seconds"] for r in results[rows_])
        rows.append(
            [
                f"{rows_:,} rows ({results[rows_][0][count]:,} {count})",
                fmt(peak[0]),
                fmt(peak[1]),
                fmt(peak[2]),
                f"{peak[0] / small:.2f}x",
                f"{sec[0]:.1f} ({sec[1]:.1f}-{sec[2]:.1f})",
            ]
        )
    return table(["input", "peak RSS MiB median", "min", "max", "vs 200k", "wall s median (min-max)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-predict", action="store_true")
    parser.add_argument("--skip-evaluate", action="store_true")
    parser.add_argument("--stages", action="store_true", help="also print peak RSS per stage of rnnkit train")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    if args.quick:
        args.repeats = 2
    if not args.skip_train:
        data_file(TRAIN_ROWS, ".parquet")  # generate once, outside the timings
        names = ["baseline", "baseline+step", "rnnkit-5M", "rnnkit-5M-eval"]
        results: dict[str, list[dict]] = {n: [] for n in names}
        for repeat in range(args.repeats):
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                results[name].append(run_worker([__file__, "--worker", name]))
                print(f"repeat {repeat + 1} {name}: {results[name][-1]['peak_mib']:,.0f} MiB", file=sys.stderr)
        base = med(r["peak_mib"] for r in results["baseline"])[0]
        rows_mib = TRAIN_ROWS * FEATURES * 4 / 2**20
        print(
            header(
                "Peak memory: training on 5,000,000 rows",
                f"{TRAIN_ROWS:,} rows x {FEATURES} features (float32 rows alone: {rows_mib:,.0f} MiB; every window "
                f"materialised, as a numpy script would: {TRAIN_ROWS * WINDOW * FEATURES * 4 / 2**30:,.1f} GiB), "
                f"window {WINDOW}, {args.repeats} alternating repeats, fresh process each; peak RSS (ru_maxrss).",
            )
        )
        labels = {
            "baseline": "TensorFlow imported, model built and compiled (framework baseline)",
            "baseline+step": "baseline + one fit step of 64 windows",
            "rnnkit-5M": "rnnkit train, 5M-row Parquet, 1 epoch, stride 1000",
            "rnnkit-5M-eval": "same, plus val/test splits of 0.2% (10,000 windows each): evaluation and plots",
        }
        rows = []
        for name in names:
            peak = med(r["peak_mib"] for r in results[name])
            rows.append([labels[name], fmt(peak[0]), fmt(peak[1]), fmt(peak[2]), f"+{fmt(peak[0] - base)}"])
        print(table(["process", "peak RSS MiB median", "min", "max", "over baseline MiB"], rows))
        seconds = med(r["seconds"] for r in results["rnnkit-5M"])
        print(f"\nrnnkit train on 5M rows took {seconds[0]:.0f} s (min {seconds[1]:.0f}, max {seconds[2]:.0f}) end to end.\n")
        if args.stages:
            for name in ("rnnkit-5M", "rnnkit-5M-eval"):
                stages = run_worker([__file__, "--worker", name + "+stages"])["stages"]
                print(f"\nStages of {labels[name]} (MiB; nested stages indented and listed before their parent,")
                print("whose peak then covers only the time after its last nested stage began):\n")
                rows = [["&nbsp;" * 4 * d + label, fmt(b), fmt(p), fmt(a), f"{p - base:+,.0f}"] for d, label, b, p, a in stages]
                print(table(["stage", "RSS before", "peak", "RSS after", "peak over baseline"], rows))
    if not args.skip_predict:
        run = predict_run_folder()
        for rows_ in PREDICT_ROWS:
            data_file(rows_)
        results = {n: [] for n in PREDICT_ROWS}
        for repeat in range(args.repeats):
            for rows_ in PREDICT_ROWS if repeat % 2 == 0 else PREDICT_ROWS[::-1]:
                results[rows_].append(time_predict(run, rows_))
                print(f"repeat {repeat + 1} predict {rows_:,}: {results[rows_][-1]}", file=sys.stderr)
        print(
            header(
                "Peak memory: rnnkit predict CLI as the input grows 10x",
                f"`/usr/bin/time -f %M rnnkit predict RUN --input X.csv --output out.csv` (default --chunk-rows "
                f"200000), model LSTM(16) on the same 8 columns, window {WINDOW}; {args.repeats} alternating repeats.",
            )
        )
        print(_growth_table(results, "forecasts"))
    if not args.skip_evaluate:
        run = predict_run_folder()
        for rows_ in PREDICT_ROWS:
            data_file(rows_)
        results = {n: [] for n in PREDICT_ROWS}
        for repeat in range(args.repeats):
            for rows_ in PREDICT_ROWS if repeat % 2 == 0 else PREDICT_ROWS[::-1]:
                results[rows_].append(time_evaluate(run, rows_))
                print(f"repeat {repeat + 1} evaluate {rows_:,}: {results[rows_][-1]}", file=sys.stderr)
        print(
            header(
                "Peak memory: rnnkit evaluate --data CLI as the input grows 10x",
                f"`/usr/bin/time -f %M rnnkit evaluate RUN --data X.csv` (chunks of 200,000 rows), the predict "
                f"run above (LSTM(16), window {WINDOW}, horizon 1); {args.repeats} alternating repeats.",
            )
        )
        print(_growth_table(results, "windows"))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
