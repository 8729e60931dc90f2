"""Window pipeline throughput: rnnkit's batched gather against Keras's timeseries_dataset_from_array.

Both cut (window, features) inputs and horizon targets from the same rows, batch 64, and are
timed side by side, alternating, over several repeats. Prints a markdown table with medians,
min and max, and the ratio.

    python benchmarks/window_pipeline.py --rows 5000000 --features 8 --window 64 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from rnnkit.data.pipeline import WindowCutter, num_batches, training_dataset
from rnnkit.data.schema import Preprocessor


def rnnkit_rate(x, y, window, batches, batch=64):
    pre = Preprocessor(None, None, None, ["f"] * x.shape[1], ["t"], window, 1, "none", "error", "none", {}, {})
    origins = np.arange(window - 1, len(x) - 1, dtype=np.int64)
    dataset = training_dataset(WindowCutter(x, y, pre), origins, batch, seed=0, shuffle=True, epochs=1)
    return _rate(dataset.take(batches), batches * batch, min(batches, num_batches(len(origins), batch)))


def keras_rate(x, y, window, batches, batch=64):
    targets = np.roll(y[:, 0], -window)
    dataset = keras.utils.timeseries_dataset_from_array(
        x, targets, sequence_length=window, batch_size=batch, shuffle=True, seed=0
    )
    return _rate(dataset.take(batches), batches * batch, batches)


def _rate(dataset, windows, _):
    iterator = iter(dataset)
    next(iterator)  # start-up (graph building) is not throughput
    start = time.perf_counter()
    for _ in iterator:
        pass
    return windows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=3000, help="batches timed per repeat for rnnkit")
    parser.add_argument("--keras-batches", type=int, default=300, help="batches timed per repeat for Keras (it is slower)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, args.features)).astype("float32")
    y = x[:, :1].copy()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(rnnkit_rate(x, y, args.window, args.batches))
        theirs.append(keras_rate(x, y, args.window, args.keras_batches))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows {args.rows:,} x {args.features} features, window {args.window}, batch 64, {args.repeats} alternating repeats")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs\n")
    print("| pipeline | windows/s median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in (("rnnkit gather by origin", ours), ("keras timeseries_dataset_from_array", theirs)):
        print(f"| {name} | {statistics.median(values):,.0f} | {min(values):,.0f} | {max(values):,.0f} |")
    print(f"\nratio (median): {statistics.median(ours) / statistics.median(theirs):.1f}x")
    print(f"peak RSS {peak_rss:,.0f} MiB; rows alone {x.nbytes / 2**20:,.0f} MiB; RSS after data {base_rss:,.0f} MiB")


if __name__ == "__main__":
    main()
