"""Window pipeline throughput: rnnkit's grouped gather against Keras's timeseries_dataset_from_array.

Every contender cuts (window, features) inputs and horizon targets from the same rows, batch 64,
in a fresh process per repeat, contenders alternating and the order rotating between repeats.

Consumption is measured the way ``model.fit`` consumes a dataset: a ``tf.function`` that calls
``next(iterator)`` once per step inside a graph loop (``graph``), so what is timed is the pipeline
and its hand-off, not Python. ``python`` iterates the same dataset from a Python ``for`` loop,
which adds a per-batch eager call (about as costly as cutting a batch) and is shown for
comparison only. The first batch (tracing, XLA compilation, the epoch's 5M-origin shuffle) is
timed separately. ``floor`` consumes a bare ``Dataset.range`` (scalars, nothing cut) the same way,
counting 64 windows per element: the cost of one ``next(iterator)`` hand-off, which bounds every
pipeline that yields one batch per step.

rnnkit contenders run under rnnkit's own TensorFlow set-up (op determinism, as in training);
the Keras reference runs in a plain TensorFlow process.

    python benchmarks/window_pipeline.py                  # 5M rows x 8 features, window 64, 3 repeats
    python benchmarks/window_pipeline.py --repeats 5 --batches 40000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, header, med, run_worker, table

BATCH = 64
CONTENDERS = {
    "rnnkit-graph": "rnnkit training_dataset, graph loop (as fit consumes it)",
    "rnnkit-python": "rnnkit training_dataset, Python for loop",
    "rnnkit-tfgather-graph": "rnnkit, groups cut by TensorFlow's gather instead of XLA, graph loop",
    "rnnkit-group1-graph": "rnnkit, GROUP_BATCHES=1 (one gather per batch), graph loop",
    "keras-graph": "keras timeseries_dataset_from_array, graph loop",
    "floor-graph": "floor: a bare Dataset.range (no data), graph loop",
}


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(name: str, rows: int, features: int, window: int, batches: int) -> dict:
    import numpy as np

    if name.startswith(("rnnkit", "floor")):
        from rnnkit import training

        tf, _ = training._import_tensorflow(0)  # op determinism and the rest, as in rnnkit train
    else:
        import tensorflow as tf
    from rnnkit.data.schema import aligned_empty

    rng = np.random.default_rng(0)
    x = aligned_empty((rows, features), np.float32)  # what data preparation hands over
    rng.standard_normal(out=x, dtype=np.float32)  # no float64 temporary to inflate the peak
    y = aligned_empty((rows, 1), np.float32)
    y[:] = x[:, :1]
    rss_data = _rss_mib()
    if name.startswith("floor"):
        dataset = tf.data.Dataset.range(2**62)
    elif name.startswith("rnnkit"):
        from rnnkit.data import pipeline
        from rnnkit.data.schema import Preprocessor

        if "group1" in name:
            pipeline.GROUP_BATCHES = 1
        pre = Preprocessor(None, None, None, ["f"] * features, ["t"], window, 1, "none", "error", "none", {}, {})
        origins = np.arange(window - 1, rows - 1, dtype=np.int64)
        cutter = pipeline.WindowCutter(x, y, pre)
        if "tfgather" in name:
            cutter.cut = lambda origins: (cutter.inputs(origins), cutter.targets(origins))
        dataset = pipeline.training_dataset(cutter, origins, BATCH, seed=0, shuffle=True, epochs=1)
    else:
        import keras

        targets = np.roll(y[:, 0], -window)
        dataset = keras.utils.timeseries_dataset_from_array(
            x, targets, sequence_length=window, batch_size=BATCH, shuffle=True, seed=0
        )
    iterator = iter(dataset)
    start = time.perf_counter()
    next(iterator)
    first = time.perf_counter() - start
    if name.endswith("python"):
        start = time.perf_counter()
        windows = 0
        for _ in range(batches):
            windows += int(next(iterator)[0].shape[0])
        seconds = time.perf_counter() - start
    else:

        @tf.function
        def drain(iterator, steps):
            total = tf.constant(0, tf.int64)
            for _ in tf.range(steps):
                element = next(iterator)
                if name.startswith("floor"):
                    total += BATCH
                else:
                    total += tf.shape(element[0], out_type=tf.int64)[0]
            return total

        drain(iterator, tf.constant(2, tf.int64))  # tracing is start-up, not throughput
        start = time.perf_counter()
        windows = int(drain(iterator, tf.constant(batches, tf.int64)))
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rate": windows / seconds, "first_s": first, "peak_mib": peak, "rss_data_mib": rss_data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20000, help="batches timed per repeat (rnnkit, floor)")
    parser.add_argument("--keras-batches", type=int, default=300, help="batches timed per repeat for Keras (it is slower)")
    parser.add_argument("--only", nargs="*", choices=list(CONTENDERS), help="run only these contenders")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        batches = args.keras_batches if args.worker.startswith("keras") else args.batches
        print(json.dumps(worker(args.worker, args.rows, args.features, args.window, batches)))
        return
    names = args.only or list(CONTENDERS)
    results: dict[str, list[dict]] = {n: [] for n in names}
    common = ["--rows", str(args.rows), "--features", str(args.features), "--window", str(args.window)]
    common += ["--batches", str(args.batches), "--keras-batches", str(args.keras_batches)]
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(run_worker([__file__, "--worker", name, *common]))
            print(f"repeat {repeat + 1} {name}: {results[name][-1]['rate']:,.0f} windows/s", file=sys.stderr)
    rows_mib = args.rows * args.features * 4 / 2**20
    print(
        header(
            "Window pipeline throughput",
            f"{args.rows:,} rows x {args.features} features (float32 rows: {rows_mib:,.0f} MiB), window {args.window}, "
            f"batch {BATCH}, shuffled; {args.batches:,} batches timed (Keras {args.keras_batches:,}) after the first; "
            f"{args.repeats} repeats, fresh process each, contenders alternating.",
        )
    )
    rows = []
    for name in names:
        rate = med(r["rate"] for r in results[name])
        first = med(r["first_s"] for r in results[name])
        over = med(r["peak_mib"] - r["rss_data_mib"] for r in results[name])
        rows.append([CONTENDERS[name], fmt(rate[0]), fmt(rate[1]), fmt(rate[2]), f"{first[0]:.2f}", f"+{fmt(over[0])}"])
    print(table(["pipeline", "windows/s median", "min", "max", "first batch s", "peak RSS over data MiB"], rows))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
