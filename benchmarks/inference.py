"""Inference throughput: rnnkit's prediction path against raw model.predict, PyTorch, and XLA.

rnnkit's path is what ``rnnkit predict`` and evaluation run per block:
``rnnkit.tasks.forecast.forecast`` gathering each batch of windows from the rows
(``WindowCutter``) and feeding it to ``rnnkit.tasks.base.inference_function`` (an XLA-compiled
``tf.function``), fixed batch 1024 with the short last batch padded, under the op determinism
rnnkit turns on. The "+jit" variants were the experiments that chose this path; "rnnkit+nojit"
is the plain-graph path rnnkit used before; "xla-bare" is the bare XLA function on prebuilt,
padded windows (no gathering: the compiled model alone). "predict" runs ``model.predict`` on
rnnkit's own model (which takes rnnkit's wavefront loop over the stacked layers);
"keras-predict" on the plain Keras model a user would write, the issue's reference.

Fairness: every contender computes the same windows and returns them as one numpy array.
rnnkit gathers its windows from the rows inside the timed part; the predicts, "torch" and
"xla-bare" get them materialised beforehand (as a numpy script would hold them), so the
comparison is, if anything, unfavourable to rnnkit. rnnkit also computes the padded rows of its
last batch. "cpu s/1k" is the process CPU time per 1,000 windows: less sensitive than
windows/s to other processes on a shared machine (it counts spin-waiting threads too).

Same model (LSTM(128) -> LSTM(128) -> Dense(1), untrained weights: speed does not depend on
them), same windows, one fresh process per contender and repeat, contenders alternating. The
first batch (tracing/compiling) is excluded; the window count is deliberately not a multiple of
the batch, so a short last batch occurs, as in real files.

After each repeat a process times float32 matmul chains (2048^3, and the model's own step
shape through TensorFlow's and XLA's matmul). A forward pass costs at least its gate matmuls, so
the best of those rates bounds how fast any float32 implementation can run: the report's last
lines turn it into windows/s and into ratios against the references.

    python benchmarks/inference.py              # 8,492 windows, 3 repeats
    python benchmarks/inference.py --quick      # 4,396 windows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    FEATURES,
    UNITS,
    WINDOW,
    fast_series,
    fmt,
    forward_flops,
    gemm_rates,
    header,
    layer_by_layer,
    med,
    reference_model,
    run_worker,
    table,
)

FLOPS = forward_flops()
# The second layer's gate matmul at batch 1024: (1024, H + H) by (H + H, 4H), chained with its transpose.
STEP_GEMM = (1024, 2 * UNITS, 4 * UNITS)

CONTENDERS = {
    "rnnkit": "rnnkit inference_function(jit) + forecast, batch 1024 padded",
    "rnnkit+1stream": "rnnkit path, one batch at a time (forecast.STREAMS = 1)",
    "rnnkit+3streams": "rnnkit path, three batches at a time (forecast.STREAMS = 3)",
    "rnnkit+nojit": "plain tf.function (no XLA), batch 1024",
    "rnnkit+layers": "rnnkit path, stacked layers run one after another by Keras (no wavefront loop)",
    "rnnkit+nojit+layers": "plain tf.function (no XLA), Keras layers one after another",
    "predict": "raw model.predict(numpy windows, batch_size=1024) on rnnkit's model",
    "keras-predict": "raw model.predict, batch_size=1024, on a plain Keras Sequential(LSTM, LSTM, Dense)",
    "torch": "PyTorch nn.LSTM(2 layers) no_grad, batch 1024, 2 threads",
    "xla-bare": "tf.function(jit_compile=True) on prebuilt windows, batch 1024, last batch padded as in rnnkit",
    "rnnkit+jit-pad": "tf.function(jit_compile=True), fixed batch 1024, last batch padded",
    "rnnkit+jit": "tf.function(jit_compile=True), unpadded (recompiles for the short last batch)",
    "rnnkit+jit-bucket": "XLA, short last batch padded to the next power of two (>= 64)",
    "rnnkit+nodeterm": "rnnkit path without enable_op_determinism()",
    "rnnkit@256": "rnnkit path, batch 256",
    "rnnkit@512": "rnnkit path, batch 512",
    "rnnkit@2048": "rnnkit path, batch 2048",
    "rnnkit@4096": "rnnkit path, batch 4096",
    "rnnkit+jit-pad@256": "XLA, fixed batch 256, padded",
}
MAIN = [
    "rnnkit",
    "predict",
    "keras-predict",
    "torch",
    "xla-bare",
    "rnnkit+nojit",
    "rnnkit+jit-pad",
    "rnnkit+jit",
    "rnnkit+jit-bucket",
    "rnnkit+nodeterm",
    "rnnkit@256",
    "rnnkit@4096",
    "rnnkit+jit-pad@256",
]


def worker(name: str, windows: int) -> dict:
    import numpy as np

    x = fast_series(windows + WINDOW - 1)
    batch = int(name.split("@")[1]) if "@" in name else 1024
    variant = name.split("@")[0]
    if variant.endswith("+layers"):
        layer_by_layer()
        variant = variant.removesuffix("+layers")
    if variant == "torch":
        import torch

        torch.set_num_threads(2)
        lstm = torch.nn.LSTM(FEATURES, UNITS, num_layers=2, batch_first=True).eval()
        head = torch.nn.Linear(UNITS, 1).eval()
        inputs = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0).transpose(0, 2, 1).copy())

        def run(count):
            with torch.inference_mode():
                return np.concatenate([head(lstm(inputs[i : i + batch])[0][:, -1]).numpy() for i in range(0, count, batch)])

    else:
        import tensorflow as tf

        from rnnkit import training
        from rnnkit.data.pipeline import WindowCutter, ordered_dataset
        from rnnkit.data.schema import Preprocessor

        if variant == "rnnkit+nodeterm":
            tf.config.experimental.enable_op_determinism = lambda: None
        if not variant.endswith("predict"):
            training._import_tensorflow(42)  # as rnnkit predict does: seed and op determinism
        pre = Preprocessor(
            None, None, None, [f"f{i}" for i in range(FEATURES)], ["f0"], WINDOW, 1, "none", "error", "none", {}, {}
        )
        model = reference_model()
        cutter = WindowCutter(x, x[:, :1], pre)
        origins = np.arange(WINDOW - 1, len(x), dtype=np.int64)
        if variant == "keras-predict":
            import keras

            model = keras.Sequential(
                [
                    keras.Input((WINDOW, FEATURES)),
                    keras.layers.LSTM(UNITS, return_sequences=True),
                    keras.layers.LSTM(UNITS),
                    keras.layers.Dense(1),
                ]
            )
        if variant.endswith("predict"):
            inputs = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0).transpose(0, 2, 1).copy()

            def run(count):
                return model.predict(inputs[:count], batch_size=batch, verbose=0)

        elif variant == "xla-bare":
            built = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0).transpose(0, 2, 1)
            full = -(-len(built) // batch) * batch
            inputs = np.zeros((full, WINDOW, FEATURES), np.float32)
            inputs[: len(built)] = built
            spec = tf.TensorSpec((batch, WINDOW, FEATURES), tf.float32)
            infer = tf.function(lambda v: model(v, training=False), input_signature=[spec], jit_compile=True)

            def run(count):
                out = [infer(inputs[i : i + batch]).numpy() for i in range(0, count, batch)]
                return np.concatenate(out)[:count]

        elif variant.startswith("rnnkit+jit"):
            padded, bucket = variant.endswith("-pad"), variant.endswith("-bucket")
            spec = tf.TensorSpec((batch if padded else None, WINDOW, FEATURES), tf.float32)
            infer = tf.function(lambda v: model(v, training=False), input_signature=[spec], jit_compile=True)

            def run(count):
                out = []
                for v in ordered_dataset(cutter, origins[:count], batch, with_targets=False):
                    n = v.shape[0]
                    size = batch if padded else max(64, 1 << (n - 1).bit_length()) if bucket else n
                    if size > n:
                        v = tf.pad(v, [[0, size - n], [0, 0], [0, 0]])
                    out.append(infer(v).numpy()[:n])
                return np.concatenate(out)

        elif variant == "rnnkit+nojit":
            spec = tf.TensorSpec((None, WINDOW, FEATURES), tf.float32)
            infer = tf.function(lambda v: model(v, training=False), input_signature=[spec])

            def run(count):
                return np.concatenate(
                    [infer(v).numpy() for v in ordered_dataset(cutter, origins[:count], batch, with_targets=False)]
                )

        else:
            from rnnkit.tasks import forecast as forecast_module
            from rnnkit.tasks.base import inference_function
            from rnnkit.tasks.forecast import forecast

            if variant.endswith(("stream", "streams")):
                forecast_module.STREAMS = int(variant.split("+")[1][0])

            spec = tf.TensorSpec((None, WINDOW, FEATURES), tf.float32)
            infer = inference_function(model, spec, jit_compile=True)

            def run(count):
                return forecast(infer, cutter, origins[:count], batch)

    start = time.perf_counter()
    run(batch)  # tracing / compiling the first (full) batch shape
    warm = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    out = run(windows)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert out.shape[0] == windows, out.shape
    return {"rate": windows / seconds, "warm_s": warm, "cpu_per_1k": 1000 * cpu / windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8192 + 300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--contenders", default=",".join(MAIN), help=f"comma list from {list(CONTENDERS)}")
    parser.add_argument("--no-gemm", action="store_true", help="skip the float32 GEMM ceiling")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "gemm":
        step = [gemm_rates(*STEP_GEMM, jit_compile=jit)["flops"] for jit in (False, True)]
        print(json.dumps({"peak": gemm_rates()["flops"], "step": step[0] + step[1]}))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.windows)))
        return
    if args.quick:
        args.windows = 4096 + 300
    names = args.contenders.split(",")
    results: dict[str, list[dict]] = {n: [] for n in names}
    gemm: dict[str, list[float]] = {"peak": [], "step": []}
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            results[name].append(run_worker([__file__, "--worker", name, "--windows", str(args.windows)]))
            print(f"repeat {repeat + 1} {name}: {results[name][-1]['rate']:,.0f} windows/s", file=sys.stderr)
        if not args.no_gemm:
            for key, rates in run_worker([__file__, "--worker", "gemm"]).items():
                gemm[key] += rates
    base = med(r["rate"] for r in results[names[0]])[0]
    # Ratios against the references too, when they ran: these are the goals.
    references = [n for n in ("predict", "keras-predict", "torch") if n in results and n != names[0]]
    peak = max(gemm["peak"], default=float("nan"))
    print(
        header(
            "Inference throughput",
            f"{args.windows:,} windows of {WINDOW} x {FEATURES}, LSTM({UNITS})->LSTM({UNITS})->Dense(1); "
            f"{args.repeats} alternating repeats, one fresh process each; first batch (trace/compile) excluded "
            "and shown separately.",
        )
    )
    rows = []
    for name in names:
        rate = med(r["rate"] for r in results[name])
        rows.append(
            [
                f"{name}: {CONTENDERS[name]}",
                fmt(rate[0]),
                fmt(rate[1]),
                fmt(rate[2]),
                f"{rate[0] / base:.2f}x",
                *(f"{rate[0] / med(r['rate'] for r in results[ref])[0]:.2f}x" for ref in references),
                f"{rate[0] * FLOPS / 1e9:.0f}" + (f" ({100 * rate[0] * FLOPS / peak:.0f}%)" if gemm["peak"] else ""),
                f"{med(r['cpu_per_1k'] for r in results[name])[0]:.2f}",
                f"{med(r['warm_s'] for r in results[name])[0]:.2f}",
            ]
        )
    ratios = [f"vs {n}" for n in [names[0], *references]]
    columns = ["contender", "windows/s median", "min", "max", *ratios, "GFLOP/s (of GEMM peak)", "cpu s/1k", "first batch s"]
    print(table(columns, rows))
    if gemm["peak"]:
        print(ceiling(gemm, {n: med(r["rate"] for r in results[n])[0] for n in references}))


def ceiling(gemm: dict[str, list[float]], references: dict[str, float]) -> str:
    """What the float32 GEMM rates allow: a forward pass is at least its gate matmuls, so no float32
    implementation runs faster than FLOPS per window at the GEMM rate (shown at the best and at the
    median timing: the machine is shared, and the best is the rarest)."""
    lines = [f"\nForward FLOPs per window: {FLOPS / 1e6:.1f} M (the gate matmuls). float32 GEMM ceilings:"]
    m, k, n = STEP_GEMM
    step = f"the LSTM step's shape, {m} x {k} by {k} x {n} (TensorFlow's and XLA's matmul)"
    for key, label in (("peak", "2048^3 chain"), ("step", step)):
        parts = []
        for which, rate in (("best", max(gemm[key])), ("median", med(gemm[key])[0])):
            windows = rate / FLOPS
            vs = ", ".join(f"{windows / ref:.2f}x {name}" for name, ref in references.items())
            parts.append(f"{which} {rate / 1e9:,.0f} GFLOP/s = {windows:,.0f} windows/s ({vs})")
        lines.append(f"- {label}: {'; '.join(parts)}")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
