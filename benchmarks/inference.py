"""Inference throughput: rnnkit's prediction path against raw model.predict, PyTorch, and XLA.

rnnkit's path is what ``rnnkit predict`` runs per block: ``rnnkit.tasks.forecast.forecast``
gathering each batch of windows from the rows (``WindowCutter``) and feeding it to
``rnnkit.tasks.base.inference_function`` (an XLA-compiled ``tf.function``), a fixed batch (the
task's choice, ``predict_batch``) with the short last batch padded, under the op determinism
rnnkit turns on, and with each TensorFlow op on one thread and one batch in flight per CPU, as
``rnnkit predict`` sets it up (``rnnkit.tasks.base.one_thread_per_op``, ``cpu_streams``).
"rnnkit+shared" is the path before that (and what evaluation and a library call run):
TensorFlow's intra-op pool shared by two batches in flight, batch 1024; the "+1stream",
"+3streams" and "+nodeterm" variants change that path. The "+jit" variants were the
experiments that chose the XLA path; "rnnkit+nojit" is the plain-graph path rnnkit used before;
"xla-bare" is the bare XLA function on prebuilt, padded windows (no gathering: the compiled
model alone). "predict" runs ``model.predict`` on rnnkit's own model (which takes rnnkit's
wavefront loop over the stacked layers); "keras-predict" on the plain Keras model a user would
write, the issue's reference.

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

rnnkit runs two batches at once on these 2 cores (``forecast``'s streams); "torch+2streams"
gives PyTorch the same: two Python threads, one intra-op thread each ("torch" runs one batch on
2 threads).

After each repeat a process times float32 matmul chains (2048^3, and the model's own step
shape through TensorFlow's and XLA's matmul). The report's last lines turn them into windows/s
(a forward pass that was nothing but its gate matmuls, each at the chain's rate) and give each
contender's share of that. A reference, not a bound: two chains at once can run faster than one.

The bounds are measured like contenders, set up as ``rnnkit predict`` runs (one thread per op,
one batch per CPU, the same batch) on prebuilt windows: "bound:matmuls" is the model's forward
pass cut to its gate matmuls, "bound:lstm" the same hand-written loop with the gate arithmetic
(``bound_pass``), both under XLA. With either, the report ends with goal d's targets as shares
of them. Like rnnkit, they pad the last batch, and with an odd number of batches one CPU waits
for the last: at the default window count that costs them (and rnnkit) 8% at batch 512, where
``rnnkit predict``'s 200,000-row chunks pay under 1%. ``--windows 65836`` makes it about 1%.

    python benchmarks/inference.py              # 8,492 windows, 3 repeats
    python benchmarks/inference.py --quick      # 4,396 windows
    python benchmarks/inference.py --windows 65836 --no-gemm --repeats 5 \\
        --contenders rnnkit,keras-predict,torch,bound:matmuls,bound:lstm
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import FEATURES, UNITS, WINDOW, fast_series, fmt, header, layer_by_layer, med, reference_model, run_worker, table

FLOPS = _common.forward_flops()
# GEMM timings after each repeat: (m, k, n), XLA or not, label. The step shape is the second
# layer's gate matmul at batch 1024: (1024, H + H) by (H + H, 4H), chained with its transpose.
STEP = (1024, 2 * UNITS, 4 * UNITS)
GEMMS = {
    "2048": ((2048, 2048, 2048), False, "2048^3 chain (TensorFlow's matmul)"),
    "step": (STEP, False, "the LSTM step's shape, 1024 x 256 by 256 x 512, TensorFlow's matmul"),
    "step-xla": (STEP, True, "the same shape, XLA's matmul"),
}

CONTENDERS = {
    "rnnkit": "rnnkit predict's path: inference_function(jit) + forecast, one thread per batch, task's batch (512) padded",
    "rnnkit+shared": "the same, TensorFlow's intra-op threads shared by two batches, batch 1024 (before)",
    "rnnkit+1stream": "the shared path, one batch at a time (forecast(streams=1))",
    "rnnkit+3streams": "the shared path, three batches at a time (forecast(streams=3))",
    "rnnkit+nojit": "plain tf.function (no XLA), batch 1024",
    "rnnkit+layers": "rnnkit path, stacked layers run one after another by Keras (no wavefront loop)",
    "rnnkit+nojit+layers": "plain tf.function (no XLA), Keras layers one after another",
    "predict": "raw model.predict(numpy windows, batch_size=1024) on rnnkit's model",
    "keras-predict": "raw model.predict, batch_size=1024, on a plain Keras Sequential(LSTM, LSTM, Dense)",
    "torch": "PyTorch nn.LSTM(2 layers) no_grad, batch 1024, 2 threads",
    "torch+2streams": "the same, two batches at once from two Python threads, 1 intra-op thread each",
    "xla-bare": "tf.function(jit_compile=True) on prebuilt windows, batch 1024, last batch padded as in rnnkit",
    "rnnkit+jit-pad": "tf.function(jit_compile=True), fixed batch 1024, last batch padded",
    "rnnkit+jit": "tf.function(jit_compile=True), unpadded (recompiles for the short last batch)",
    "rnnkit+jit-bucket": "XLA, short last batch padded to the next power of two (>= 64)",
    "rnnkit+nodeterm": "the shared path without enable_op_determinism()",
    "rnnkit@256": "rnnkit path, batch 256",
    "rnnkit@1024": "rnnkit path, batch 1024",
    "rnnkit@4096": "rnnkit path, batch 4096",
    "rnnkit+shared@512": "the shared path, batch 512",
    "rnnkit+jit-pad@256": "XLA, fixed batch 256, padded",
    "bound:matmuls": "the forward pass cut to its gate matmuls, set up as rnnkit (see bound_pass)",
    "bound:lstm": "the same loop with the LSTM gate arithmetic: the bare two-layer forward pass",
}
# Issue #5's goal d: rnnkit predict at least these multiples of these references.
GOALS = {"keras-predict": 2.5, "torch": 1.3}
MAIN = [
    "rnnkit",
    "rnnkit+shared",
    "predict",
    "keras-predict",
    "torch",
    "torch+2streams",
    "xla-bare",
    "rnnkit+nojit",
    "rnnkit+jit-pad",
    "rnnkit+jit",
    "rnnkit+jit-bucket",
    "rnnkit+nodeterm",
    "rnnkit@256",
    "rnnkit@1024",
    "rnnkit+jit-pad@256",
]


def bound_pass(gates: bool):
    """A hand-written forward pass of the reference model's two LSTM layers (no Dense head) for
    prebuilt windows, XLA-compiled: the same wavefront loop and the same four matmuls per step as
    rnnkit's (layer 0 at step t and layer 1 at step t - 1 per iteration; each layer's input and
    recurrent product summed). ``gates`` False leaves out all gate arithmetic: a layer's new
    state is its summed product's first H columns, so every matmul still waits for the last.
    That pass, set up as ``rnnkit predict`` runs (one thread per op, one batch per CPU, the same
    batch), is what XLA's float32 matmuls at the model's shapes reach here; with ``gates`` it is
    the whole recurrent arithmetic without rnnkit's window gathering, biases, head or
    bookkeeping. Random weights scaled so that states neither grow nor vanish into denormals."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def weights(rows):  # each of a step's two products gets half the variance of a unit input
        return tf.constant(rng.normal(scale=(2 * rows) ** -0.5, size=(rows, 4 * UNITS)).astype(np.float32))

    kernels = [(weights(FEATURES), weights(UNITS)), (weights(UNITS), weights(UNITS))]

    def step(z, c):
        if not gates:
            return z[:, :UNITS], c
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def layer(k, below, h, c):
        return step(tf.matmul(below, kernels[k][0]) + tf.matmul(h, kernels[k][1]), c)

    def run(x):
        steps = tf.transpose(x, [1, 0, 2])
        zeros = tf.zeros([tf.shape(x)[0], UNITS])
        h0, c0 = layer(0, steps[0], zeros, zeros)

        def body(t, h0, c0, h1, c1):
            h1, c1 = layer(1, h0, h1, c1)
            h0, c0 = layer(0, steps[t], h0, c0)
            return t + 1, h0, c0, h1, c1

        _, h0, c0, h1, c1 = tf.while_loop(lambda t, *_: t < WINDOW, body, (tf.constant(1), h0, c0, zeros, zeros))
        return layer(1, h0, h1, c1)[0]

    return tf.function(run, jit_compile=True)


def padded_windows(x, batch: int):
    """Every window of the rows ``x``, prebuilt, padded with zero windows to whole batches."""
    import numpy as np

    built = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0).transpose(0, 2, 1)
    inputs = np.zeros((-(-len(built) // batch) * batch, WINDOW, FEATURES), np.float32)
    inputs[: len(built)] = built
    return inputs


def worker(name: str, windows: int) -> dict:
    import numpy as np

    x = fast_series(windows + WINDOW - 1)
    chosen = int(name.split("@")[1]) if "@" in name else None
    batch = chosen or 1024
    variant = name.split("@")[0]
    if variant.endswith("+layers"):
        layer_by_layer()
        variant = variant.removesuffix("+layers")
    if variant.startswith("torch"):
        import torch

        streams = 2 if variant == "torch+2streams" else 1
        torch.set_num_threads(2 // streams)
        lstm = torch.nn.LSTM(FEATURES, UNITS, num_layers=2, batch_first=True).eval()
        head = torch.nn.Linear(UNITS, 1).eval()
        inputs = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0).transpose(0, 2, 1).copy())

        def one(i):
            with torch.inference_mode():  # per thread: torch's grad modes are thread-local
                return head(lstm(inputs[i : i + batch])[0][:, -1]).numpy()

        def run(count):
            if streams == 1:
                return np.concatenate([one(i) for i in range(0, count, batch)])
            with ThreadPoolExecutor(streams) as pool:
                return np.concatenate(list(pool.map(one, range(0, count, batch))))

    else:
        import tensorflow as tf

        from rnnkit import training
        from rnnkit.data.pipeline import WindowCutter, ordered_dataset
        from rnnkit.data.schema import Preprocessor
        from rnnkit.tasks import get_task

        # rnnkit and the bounds: threads as rnnkit predict sets them up, before TensorFlow's first op
        as_predict = variant == "rnnkit" or variant.startswith("bound:")
        cpu_streams = _common.predict_threads() if as_predict else None
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

        def task_batch() -> int:
            """rnnkit predict's batch for this model and these threads, unless chosen (or 1,024
            on a snapshot from before ``Task.predict_batch``)."""
            task = get_task("forecast")
            if chosen is not None or not hasattr(task, "predict_batch"):
                return batch
            return task.predict_batch(model, one_thread=True) if cpu_streams else task.predict_batch(model)

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
            inputs = padded_windows(x, batch)
            spec = tf.TensorSpec((batch, WINDOW, FEATURES), tf.float32)
            infer = tf.function(lambda v: model(v, training=False), input_signature=[spec], jit_compile=True)

            def run(count):
                out = [infer(inputs[i : i + batch]).numpy() for i in range(0, count, batch)]
                return np.concatenate(out)[:count]

        elif variant.startswith("bound:"):
            batch = task_batch()
            inputs = padded_windows(x, batch)
            infer = bound_pass(gates=variant == "bound:lstm")

            def one(i):
                return infer(inputs[i : i + batch]).numpy()

            def run(count):
                with ThreadPoolExecutor(cpu_streams or 2) as pool:  # two on the shared pool, as rnnkit
                    return np.concatenate(list(pool.map(one, range(0, count, batch))))[:count]

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
            from rnnkit.tasks.base import inference_function
            from rnnkit.tasks.forecast import forecast

            batch = task_batch()
            streams = cpu_streams or {"rnnkit+1stream": 1, "rnnkit+3streams": 3}.get(variant)
            spec = tf.TensorSpec((None, WINDOW, FEATURES), tf.float32)
            infer = inference_function(model, spec, jit_compile=True)

            def run(count):
                return forecast(infer, cutter, origins[:count], batch, streams=streams)

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
    parser.add_argument("--no-gemm", action="store_true", help="skip the float32 matmul reference timings")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "gemm":
        rates = {key: _common.gemm_rates(*shape, jit_compile=jit)["flops"] for key, (shape, jit, _) in GEMMS.items()}
        print(json.dumps(rates))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.windows)))
        return
    if args.quick:
        args.windows = 4096 + 300
    names = args.contenders.split(",")
    results: dict[str, list[dict]] = {n: [] for n in names}
    gemm: dict[str, list[float]] = {key: [] for key in GEMMS}
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
    references = [n for n in ("predict", "keras-predict", "torch", "torch+2streams") if n in results and n != names[0]]
    peak = max(gemm["2048"], default=float("nan"))
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
                f"{name}: {CONTENDERS.get(name, name)}",
                fmt(rate[0]),
                fmt(rate[1]),
                fmt(rate[2]),
                f"{rate[0] / base:.2f}x",
                *(f"{rate[0] / med(r['rate'] for r in results[ref])[0]:.2f}x" for ref in references),
                f"{rate[0] * FLOPS / 1e9:.0f}" + (f" ({100 * rate[0] * FLOPS / peak:.0f}%)" if gemm["2048"] else ""),
                f"{med(r['cpu_per_1k'] for r in results[name])[0]:.2f}",
                f"{med(r['warm_s'] for r in results[name])[0]:.2f}",
            ]
        )
    ratios = [f"vs {n}" for n in [names[0], *references]]
    columns = ["contender", "windows/s median", "min", "max", *ratios, "GFLOP/s (of GEMM peak)", "cpu s/1k", "first batch s"]
    print(table(columns, rows))
    if gemm["2048"]:
        print(matmul_reference(gemm, {n: med(r["rate"] for r in results[n])[0] for n in [names[0], *references]}))
    medians = {n: med(r["rate"] for r in results[n])[0] for n in names}
    if any(n.startswith("bound:") for n in names) and (shares := goal_shares(medians)):
        print(shares)


def goal_shares(medians: dict[str, float]) -> str:
    """What goal d needs, in windows/s and as a share of each bound that ran, beside rnnkit's."""
    bounds = {n: rate for n, rate in medians.items() if n.startswith("bound:")}
    wanted = {f"{factor}x {ref}": factor * medians[ref] for ref, factor in GOALS.items() if ref in medians}
    if "rnnkit" in medians:
        wanted = {"rnnkit reached": medians["rnnkit"], **wanted}
    if not wanted:
        return ""
    lines = ["\nGoal d against the bounds (medians; a bound's share above 100% is beyond what it reached):"]
    for what, rate in wanted.items():
        shares = ", ".join(f"{rate / bound:.0%} of {name}" for name, bound in bounds.items())
        lines.append(f"- {what}: {rate:,.0f} windows/s = {shares}")
    return "\n".join(lines)


def matmul_reference(gemm: dict[str, list[float]], contenders: dict[str, float]) -> str:
    """The GEMM timings as windows/s: how fast a forward pass would run if it were nothing but its
    gate matmuls, each at the rate one chain of such matmuls reached. A reference, not a bound:
    two chains at once, or other shapes, can run faster than one chain."""
    lines = [f"\nForward FLOPs per window: {FLOPS / 1e6:.1f} M (the gate matmuls). float32 matmul reference rates:"]
    for key, (_, _, label) in GEMMS.items():
        parts = []
        for which, rate in (("best", max(gemm[key])), ("median", med(gemm[key])[0])):
            windows = rate / FLOPS
            vs = ", ".join(f"{name} at {ref / windows:.0%}" for name, ref in contenders.items())
            parts.append(f"{which} {rate / 1e9:,.0f} GFLOP/s = {windows:,.0f} windows/s ({vs})")
        lines.append(f"- {label}: {'; '.join(parts)}")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
