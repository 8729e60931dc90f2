"""Shared helpers of the benchmarks: generated data, rnnkit configs, subprocess workers, tables.

Every benchmark times its contenders side by side in one run, alternating them repeat by repeat
(the machine is shared and noisy), and prints medians with min and max.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = Path(os.environ.get("RNNKIT_BENCH_DIR", "/tmp/rnnkit-bench"))

# rnnkit is edited while benchmarks run: RNNKIT_BENCH_SOURCE=<folder holding rnnkit/> pins every
# process of a benchmark run to one snapshot (run_all.py --rev makes one with git archive).
SOURCE = os.environ.get("RNNKIT_BENCH_SOURCE")
if SOURCE:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]  # the -e install's finder
    sys.path.insert(0, SOURCE)
FEATURES = 8
WINDOW = 64
BATCH = 64
UNITS = 128


def quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def fast_series(rows: int, features: int = FEATURES, seed: int = 0) -> np.ndarray:
    """Sine seasons plus noise, f0 a noisy mean of the others (the target); vectorised for millions of rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)[:, None]
    periods = np.array([7, 24, 30, 52, 90, 120, 365, 12][:features], dtype=np.float64)
    x = np.sin(2 * np.pi * t / periods) + 0.3 * rng.normal(size=(rows, features))
    x[:, 0] = x[:, 1:].mean(axis=1) + 0.1 * rng.normal(size=rows)
    return x.astype(np.float32)


def data_file(rows: int, suffix: str = ".csv") -> Path:
    """Generated one-series file with columns t, f0..f7 (cached under $RNNKIT_BENCH_DIR)."""
    import pandas as pd

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"series-{rows}{suffix}"
    if not path.exists():
        x = fast_series(rows)
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
        frame.insert(0, "t", np.arange(rows, dtype=np.int64))
        tmp = path.with_name(path.name + ".tmp")
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, float_format="%.5f")
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return path


def write_config(
    path: Path,
    data: Path,
    *,
    epochs: int,
    units: list[int] | None = None,
    window: int = WINDOW,
    batch: int = BATCH,
    stride: int = 1,
    shuffle: bool = True,
) -> Path:
    """An rnnkit config for the benchmark job: LSTM(128)->LSTM(128)->Dense(1), no val/test split."""
    units = units or [UNITS, UNITS]
    text = f"""name: bench
seed: 42
data:
  path: {data}
  time: t
  features: [{", ".join(f"f{i}" for i in range(FEATURES))}]
  target: f0
  window: {window}
  horizon: 1
  stride: {stride}
  split: {{val: 0.0, test: 0.0}}
  scale: standard
model: {{cell: lstm, units: {units}, dense: []}}
train:
  epochs: {epochs}
  batch_size: {batch}
  learning_rate: 0.001
  shuffle: {str(shuffle).lower()}
  early_stopping: {{monitor: loss, patience: null}}
"""
    path.write_text(text, encoding="utf-8")
    return path


def reference_model():
    """rnnkit's RecurrentModel for the reference job: LSTM(128) -> LSTM(128) -> Dense(1), built."""
    from rnnkit.config import ModelConfig
    from rnnkit.models import build_model

    config = ModelConfig(cell="lstm", units=[UNITS, UNITS], dense=[])
    return build_model(config, input_features=FEATURES, output_steps=1, output_dim=1, window=WINDOW)


def forward_flops(features: int = FEATURES, units: int = UNITS, window: int = WINDOW, layers: int = 2) -> int:
    """Forward FLOPs per window of stacked LSTMs: per layer 2 * T * 4H * (F_in + H) (the gate matmuls)."""
    inputs = [features] + [units] * (layers - 1)
    return sum(2 * window * 4 * units * (f_in + units) for f_in in inputs)


def gemm_rates(m: int = 2048, k: int = 2048, n: int = 2048, loops: int = 5, repeats: int = 5, jit_compile: bool = False) -> dict:
    """float32 matmul FLOP/s of a dependent chain ``x @ a @ b @ a @ b ...`` in a tf.function loop,
    with ``x`` (m, k), ``a`` (k, n), ``b`` (n, k): nothing can be hoisted out of the loop, and every
    product has the shape asked for (or its transpose). The default is the 2048^3 peak; an LSTM
    step's gate matmul at batch B is (B, F_in + H) by (F_in + H, 4H). ``jit_compile``: XLA's matmul."""
    import tensorflow as tf

    x = tf.random.normal((m, k))
    a = tf.random.normal((k, n)) / k**0.5  # keeps the chained product bounded
    b = tf.random.normal((n, k)) / n**0.5

    @tf.function(jit_compile=jit_compile)
    def chain(x, a, b):
        for _ in tf.range(loops):
            x = tf.matmul(tf.matmul(x, a), b)
        return x

    chain(x, a, b).numpy()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        chain(x, a, b).numpy()
        rates.append(2 * m * k * n * 2 * loops / (time.perf_counter() - start))
    return {"flops": rates}


def time_epochs() -> tuple[list[float], list[float], list[float]]:
    """Patch rnnkit's RunRecorder in this process to record, per epoch, when it began, when it ended
    (after validation) and when its end-of-epoch work (checkpointing) was done; returns those lists."""
    from rnnkit.callbacks import RunRecorder

    begins: list[float] = []
    ends: list[float] = []
    saved: list[float] = []
    on_begin, on_end = RunRecorder.on_epoch_begin, RunRecorder.on_epoch_end

    def epoch_begin(self, epoch, logs=None):
        begins.append(time.perf_counter())
        return on_begin(self, epoch, logs)

    def epoch_end(self, epoch, logs=None):
        ends.append(time.perf_counter())
        result = on_end(self, epoch, logs)
        saved.append(time.perf_counter())
        return result

    RunRecorder.on_epoch_begin, RunRecorder.on_epoch_end = epoch_begin, epoch_end
    return begins, ends, saved


def keras_epoch_timer():
    """``(callback, times)``: a Keras callback that appends each epoch's seconds (validation
    included) to ``times``."""
    import keras

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    return Timer(), times


def layer_by_layer() -> None:
    """Switch rnnkit's wavefront loop off in this process: stacked layers run one after another,
    as Keras runs them (the "+layers" contenders)."""
    from rnnkit.models import stacked

    stacked.eligible = lambda *args, **kwargs: False


def predict_threads() -> int | None:
    """Set TensorFlow's threads up as ``rnnkit predict`` does (call it before TensorFlow's first
    op) and return the batches rnnkit predict then keeps in flight: ``cpu_streams()`` where each
    op runs on one thread, else None (TensorFlow's shared threads, or a commit before
    ``one_thread_per_op``, when predict ran the shared path)."""
    import tensorflow as tf

    from rnnkit.tasks import base

    if not hasattr(base, "ops_on_one_thread"):
        return None
    base.one_thread_per_op(tf)
    return base.cpu_streams() if base.ops_on_one_thread() else None


def snapshot(rev: str) -> Path:
    """A folder holding ``rnnkit/`` as of commit ``rev`` (a ``git archive``, cached), for
    ``RNNKIT_BENCH_SOURCE``."""
    source = CACHE / f"src-{rev}"
    if not (source / "rnnkit").is_dir():
        source.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", rev, "rnnkit"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return source


def run_worker(argv: list[str], timeout: float = 1800) -> dict:
    """Run ``python argv...`` in a fresh process; its last stdout line is a JSON result."""
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=quiet_env(), timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {argv} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def med(values) -> tuple[float, float, float]:
    values = list(values)
    return statistics.median(values), min(values), max(values)


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def versions(rnnkit: str | None = None) -> str:
    """Versions of the frameworks and of rnnkit (``rnnkit`` names it where a benchmark compares
    commits; otherwise the snapshot or commit this process runs)."""
    import importlib.metadata as md

    parts = []
    for name in ("tensorflow", "tensorflow-cpu", "keras", "torch", "numpy", "rnnkit"):
        try:
            parts.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "rnnkit"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        if rnnkit:
            parts.append(rnnkit)
        elif SOURCE:
            parts.append(f"rnnkit snapshot {SOURCE}")
        else:
            parts.append(f"rnnkit commit {head}{' + uncommitted rnnkit/ edits' if dirty else ''}")
    except OSError:
        pass
    return ", ".join(parts)


def header(title: str, detail: str, rnnkit: str | None = None) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"### {title}\n\n{detail}\n\n{machine()}; {versions(rnnkit)}; load average at report {load}\n"
