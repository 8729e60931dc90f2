"""Training throughput: rnnkit.training.train against plain Keras and PyTorch, and as a share of GEMM peak.

Same job for every contender: a generated 8-feature series, windows of 64 steps, horizon 1,
LSTM(128) -> LSTM(128) -> Dense(1), Adam (lr 1e-3), MSE, batch 64, shuffled, same epochs.
Each contender runs in a fresh process per repeat (so rnnkit's global TensorFlow settings, e.g.
op determinism, cannot leak into the others), contenders alternate repeat by repeat, and the
first epoch (tracing, start-up) is excluded from windows/s. Also times candidate rnnkit
settings (threads, determinism, XLA, steps_per_execution, tf.data threads) the same way, by
patching rnnkit from the outside, never by editing it.

    python benchmarks/train_throughput.py                  # default: 2048 windows/epoch, 4 epochs, 3 repeats
    python benchmarks/train_throughput.py --quick          # smaller, about 3 minutes on 2 cores
    python benchmarks/train_throughput.py --contenders rnnkit,keras,torch --no-gemm
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import BATCH, FEATURES, UNITS, WINDOW, data_file, fmt, header, layer_by_layer, med, run_worker, table, write_config

# Training FLOPs per window: 3 x forward; forward = sum over layers 2 * T * 4H * (F_in + H).
TRAIN_FLOPS = 3 * _common.forward_flops()

MAIN = ["rnnkit", "keras", "torch"]
TUNING = ["rnnkit", "rnnkit+layers", "rnnkit+threads", "rnnkit+nodeterm", "rnnkit+tfdata1", "rnnkit+jit", "rnnkit+bf16"]
DESCRIPTIONS = {
    "rnnkit": "rnnkit.training.train, defaults",
    "keras": "plain Keras script (numpy windows, model.fit)",
    "torch": "PyTorch nn.LSTM(2 layers), 2 threads",
    "rnnkit+layers": "stacked layers run one after another by Keras (no wavefront loop, as before)",
    "rnnkit+threads": "tf.config.threading intra_op=2, inter_op=1",
    "rnnkit+nodeterm": "without tf.config.experimental.enable_op_determinism()",
    "rnnkit+tfdata1": "tf.data Options: private_threadpool_size=1",
    "rnnkit+jit": "train.jit_compile: true (XLA forward and backward pass)",
    "rnnkit+bf16": "train.mixed_precision: bfloat16",
}


# ------------------------------------------------------------------------------------------------
# workers (one contender, one fresh process)


def worker_rnnkit(variant: str, data: Path, epochs: int) -> dict:
    import tensorflow as tf

    from rnnkit.config import load_config
    from rnnkit.training import train

    flags = set(variant.split("+")[1:])
    if "threads" in flags:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if "layers" in flags:
        layer_by_layer()
    if "nodeterm" in flags:
        tf.config.experimental.enable_op_determinism = lambda: None
    train_keys = {}  # config options, set as a user would
    if "jit" in flags:
        train_keys["jit_compile"] = True
    if "bf16" in flags:
        train_keys["mixed_precision"] = "bfloat16"
    if "tfdata1" in flags:
        import rnnkit.data.pipeline as pipeline

        original_dataset = pipeline.training_dataset

        def training_dataset(*args, **kwargs):
            options = tf.data.Options()
            options.threading.private_threadpool_size = 1
            return original_dataset(*args, **kwargs).with_options(options)

        pipeline.training_dataset = training_dataset

    begins, ends, saved = _common.time_epochs()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_config(Path(tmp) / "bench.yaml", data, epochs=epochs))
        config = config.model_copy(update={"train": config.train.model_copy(update=train_keys)})
        started = time.perf_counter()
        train(config, run_dir=Path(tmp) / "run")
    fit = [e - b for b, e in zip(begins, ends, strict=True)]
    wall = [s - b for b, s in zip(begins, saved, strict=True)]
    return {"epoch_s": fit, "epoch_wall_s": wall, "first_epoch_from_start_s": ends[0] - started}


def _windows(data: Path):
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(data)
    x = frame[[f"f{i}" for i in range(FEATURES)]].to_numpy(np.float64)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    inputs = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0)[:-1].transpose(0, 2, 1).copy()
    targets = x[WINDOW:, :1].copy()
    return inputs, targets


def worker_keras(data: Path, epochs: int) -> dict:
    import keras

    keras.utils.set_random_seed(42)
    inputs, targets = _windows(data)
    model = keras.Sequential(
        [
            keras.Input((WINDOW, FEATURES)),
            keras.layers.LSTM(UNITS, return_sequences=True),
            keras.layers.LSTM(UNITS),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_squared_error", metrics=["mae"])
    timer, times = _common.keras_epoch_timer()
    model.fit(inputs, targets, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    return {"epoch_s": times, "windows": len(inputs)}


def worker_torch(data: Path, epochs: int) -> dict:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(42)
    inputs, targets = _windows(data)
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, UNITS, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(UNITS, 1)

        def forward(self, batch):
            out, _ = self.lstm(batch)
            return self.head(out[:, -1])

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i : i + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return {"epoch_s": times, "windows": len(inputs)}


# ------------------------------------------------------------------------------------------------
# driver


def summarize(result: dict, windows: int) -> dict:
    steady = result["epoch_s"][1:]  # epoch 1 holds tracing and start-up
    per_epoch = [windows / s for s in steady]
    summary = {"rate": windows * len(steady) / sum(steady), "per_epoch": per_epoch}
    if "epoch_wall_s" in result:
        wall = result["epoch_wall_s"][1:]
        summary["wall_rate"] = windows * len(wall) / sum(wall)
        summary["first"] = result["first_epoch_from_start_s"]
    summary["first_epoch_s"] = result["epoch_s"][0]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2048, help="training windows per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first is not timed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1024 windows, 3 epochs, 3 repeats")
    parser.add_argument("--contenders", default=",".join(MAIN), help=f"comma list from {sorted(DESCRIPTIONS)}")
    parser.add_argument("--tuning", action="store_true", help=f"time the candidate settings: {','.join(TUNING)}")
    parser.add_argument("--no-gemm", action="store_true")
    parser.add_argument("--json", help="also write raw results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "gemm":
            result = _common.gemm_rates()
        elif args.worker == "keras":
            result = worker_keras(Path(args.data), args.epochs)
        elif args.worker == "torch":
            result = worker_torch(Path(args.data), args.epochs)
        else:
            result = worker_rnnkit(args.worker, Path(args.data), args.epochs)
        print(json.dumps(result))
        return

    if args.quick:
        args.windows, args.epochs = 1024, 3
    contenders = TUNING if args.tuning else args.contenders.split(",")
    data = data_file(args.windows + WINDOW)  # rows - window = training windows (horizon 1)
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    gemm: list[float] = []
    for repeat in range(args.repeats):
        order = contenders[repeat % len(contenders) :] + contenders[: repeat % len(contenders)]  # rotate
        for name in order:
            raw = run_worker([__file__, "--worker", name, "--data", str(data), "--epochs", str(args.epochs)])
            results[name].append(summarize(raw, args.windows))
            print(f"repeat {repeat + 1} {name}: {results[name][-1]['rate']:,.0f} windows/s", file=sys.stderr)
        if not args.no_gemm:
            gemm += run_worker([__file__, "--worker", "gemm"])["flops"]

    peak = max(gemm) if gemm else float("nan")
    base = med(r["rate"] for r in results[contenders[0]])[0]
    print(
        header(
            "Training throughput" + (" (candidate settings)" if args.tuning else ""),
            f"{args.windows:,} windows/epoch x {args.epochs} epochs (first not timed), window {WINDOW}, "
            f"{FEATURES} features, LSTM({UNITS})->LSTM({UNITS})->Dense(1), batch {BATCH}; "
            f"{args.repeats} alternating repeats, one fresh process each. Training FLOPs/window "
            f"{TRAIN_FLOPS / 1e6:.1f} M (3 x forward).",
        )
    )
    rows = []
    for name in contenders:
        rates = med(r["rate"] for r in results[name])
        spreads = [
            (max(r["per_epoch"]) - min(r["per_epoch"])) / (sum(r["per_epoch"]) / len(r["per_epoch"])) for r in results[name]
        ]
        firsts = med(r["first_epoch_s"] for r in results[name])
        rows.append(
            [
                f"{name}: {DESCRIPTIONS.get(name, name)}",
                fmt(rates[0]),
                fmt(rates[1]),
                fmt(rates[2]),
                f"{rates[0] / base:.2f}x",
                f"{100 * med(spreads)[0]:.0f}% (max {100 * max(spreads):.0f}%)",
                f"{firsts[0]:.1f}",
                f"{rates[0] * TRAIN_FLOPS / 1e9:.1f} ({100 * rates[0] * TRAIN_FLOPS / peak:.0f}%)" if gemm else "n/a",
            ]
        )
    print(
        table(
            [
                "contender",
                "windows/s median",
                "min",
                "max",
                f"vs {contenders[0]}",
                "epoch spread (max-min)/mean",
                "1st epoch s",
                "GFLOP/s (of GEMM peak)",
            ],
            rows,
        )
    )
    rnnkit_runs = results.get("rnnkit", [])
    if rnnkit_runs:
        wall = med(r["wall_rate"] for r in rnnkit_runs)
        print(
            f"\nrnnkit windows/s including its per-epoch checkpointing (last.keras, best.keras, history.csv): "
            f"median {fmt(wall[0])} (min {fmt(wall[1])}, max {fmt(wall[2])}); first epoch ends "
            f"{med(r['first'] for r in rnnkit_runs)[0]:.1f} s after train() is called."
        )
    if gemm:
        g = med(gemm)
        print(
            f"\nfloat32 GEMM (2048^3 chained matmul in a tf.function loop, {len(gemm)} timings across the run): "
            f"peak {peak / 1e9:,.0f} GFLOP/s, median {g[0] / 1e9:,.0f}, min {g[1] / 1e9:,.0f}."
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "gemm": gemm}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
