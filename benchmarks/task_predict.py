"""Prediction of the other tasks: rnnkit's predict path against model.predict, and generation.

Goal d of the performance issue asks for rnnkit's prediction against raw ``model.predict`` on the
same inputs; inference.py measures it for forecasting, this script for the other tasks.

classify (configs/activity.yaml), tag (machine.yaml) and text (reviews.yaml): the example's data
file with its sequences repeated ``--copies`` times under new ids, read by rnnkit's prediction
stream beforehand (untimed, as file reading is not what is compared). Contenders, on the same
sequences, batch 1,024 (``rnnkit predict``'s default):

- ``rnnkit``: ``task.write_predictions`` over those blocks, what ``rnnkit predict`` runs after
  reading: sequences sorted by length, each batch padded to its own longest, the compiled
  forward pass, softmax, and the output frames (handed to a writer that drops them); each
  TensorFlow op on one thread and one batch in flight per CPU, as ``rnnkit predict`` sets it up
  (``rnnkit.tasks.base.one_thread_per_op``, ``cpu_streams``).
- ``rnnkit+shared``: the same with TensorFlow's intra-op threads shared by two batches in
  flight, as before that (and as evaluation and a library call run).
- ``keras-predict``: the plain Keras model a user would write for the job (tasks.py's
  ``keras_model``: Masking or Embedding(mask_zero), the config's recurrent layers and head)
  ``.predict`` on every sequence padded to the longest, as a numpy script would hold them
  (padded beforehand, untimed; logits only, no softmax or frames).
- ``predict``: ``model.predict`` on rnnkit's own model, the same padded array.
- ``rnnkit+1stream``: the shared path with one batch at a time (``rnnkit.tasks.base.STREAMS``).

generate (stories.yaml): tokens per second generating ``--tokens`` characters after a 64-character
prompt (the config's window), each contender from a fresh model in a fresh process, its tracing
included (a user pays it once per ``rnnkit generate``):

- ``rnnkit``: ``rnnkit.tasks.generate.sample``: the prompt fed once, then each new token fed
  alone with the states of the previous step.
- ``keras-predict``: the loop of Keras's character-level text generation example: for every new
  token, ``model.predict`` on the last ``window`` tokens of the plain Keras model.
- ``keras-function``: the same loop through a ``tf.function`` of the plain Keras model instead of
  ``model.predict`` (the whole window still runs for every token).

Models are untrained (speed does not depend on the weights). rnnkit contenders run under rnnkit's
TensorFlow set-up (seeded, op determinism), the others in a plain seeded Keras process. One fresh
process per contender and repeat, contenders alternating. Sequences: a first pass over the input,
tracing included (its own column: what one ``rnnkit predict`` of that input pays), then the median
of three timed passes. Generation: one timed run, as said.

    python benchmarks/task_predict.py            # 50 copies, 400 tokens, 3 repeats
    python benchmarks/task_predict.py --quick    # 20 copies, 200 tokens, 2 repeats
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, ROOT, fmt, header, med, predict_threads, run_worker, table
from tasks import TASKS, keras_model  # the example config of each task; tasks.py's plain Keras model

CONTENDERS = ("rnnkit", "keras-predict", "predict", "rnnkit+shared", "rnnkit+1stream", "keras-function")
GENERATING = ("rnnkit", "keras-predict", "keras-function")  # the contenders of generation
BATCH = 1024  # rnnkit predict's default --batch-size
PASSES = 3  # timed passes per process over the sequences; their median counts


def load(name: str):
    """``(config, task, fitted preprocessor)`` of the example config (paths resolved)."""
    from rnnkit.config import load_config
    from rnnkit.tasks import get_task

    config = load_config(ROOT / "configs" / TASKS[name])
    task = get_task(config.task)
    pre, _ = task.prepare(config)
    return config, task, pre


def input_file(config, copies: int) -> Path:
    """The example's data file with its sequences repeated ``copies`` times under new ids (cached)."""
    import pandas as pd

    source = Path(config.data.path)
    path = CACHE / f"{source.stem}-x{copies}{source.suffix}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        frame = pd.read_csv(source, dtype={config.data.id: str})
        key = config.data.id
        parts = [frame.assign(**{key: frame[key] + f"-{k}"}) for k in range(copies)]
        tmp = path.with_name(path.name + ".tmp")
        pd.concat(parts, ignore_index=True).to_csv(tmp, index=False)
        tmp.replace(path)
    return path


class _Replay:
    """A prediction stream whose blocks were read beforehand."""

    def __init__(self, stream, blocks) -> None:
        self.blocks = lambda: iter(blocks)
        self.sequences, self.rows_read = stream.sequences, stream.rows_read


class _Discard:
    """A predictions writer that counts the rows it is handed."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows = 0

    def write(self, frame) -> None:
        self.rows += len(frame)


def setup(contender: str, seed: int) -> None:
    """rnnkit's TensorFlow set-up for rnnkit (seeded, op determinism, as ``rnnkit predict``), a
    plain seeded Keras for the references."""
    if contender.startswith("rnnkit"):
        from rnnkit import training

        training._import_tensorflow(seed)
    else:
        import keras

        keras.utils.set_random_seed(seed)


def worker_sequences(name: str, contender: str, copies: int) -> dict:
    from rnnkit.data.seq_pipeline import pad_batch
    from rnnkit.models import build_model
    from rnnkit.tasks import base

    cpu_streams = predict_threads() if contender == "rnnkit" else None  # before TensorFlow's first op
    config, task, pre = load(name)
    setup(contender, config.seed)
    stream = task.checked_stream(pre, input_file(config, copies), chunk_rows=200_000)
    blocks = list(stream.blocks())
    sequences = [s for block in blocks for s in block.sequences]
    if contender.startswith("rnnkit"):
        if contender == "rnnkit+1stream":
            base.STREAMS = 1
        model = build_model(config.model, **task.model_kwargs(pre))
        replay = _Replay(stream, blocks)

        def run():
            writer = _Discard()
            options = {"streams": cpu_streams} if cpu_streams else {}
            task.write_predictions(model, pre, replay, writer, batch_size=BATCH, last_only=False, **options)
            return writer.rows

    else:
        inputs = pad_batch(sequences)
        if contender == "predict":
            model = build_model(config.model, **task.model_kwargs(pre))
        else:
            vocab = len(pre.vocab) + 2 if pre.is_text else None
            model = keras_model(config, pre, vocab, len(pre.labels), task.per_step, pre.input_width)

        def run():
            return len(model.predict(inputs, batch_size=BATCH, verbose=0))

    start = time.perf_counter()
    run()  # tracing
    first = time.perf_counter() - start
    seconds = []
    for _ in range(PASSES):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return {"rate": len(sequences) / statistics.median(seconds), "first": len(sequences) / first, "items": len(sequences)}


def worker_generate(contender: str, tokens: int) -> dict:
    import numpy as np

    from rnnkit.data.text import tokenize
    from rnnkit.models import build_model
    from rnnkit.tasks.generate import _draw, sample

    config, task, pre = load("generate")
    setup(contender, config.seed)
    prompt = Path(config.data.path).read_text(encoding="utf-8")[: pre.window]
    start = time.perf_counter()
    if contender == "rnnkit":
        model = build_model(config.model, **task.model_kwargs(pre))
        sample(model, pre, prompt, tokens, temperature=1.0, top_k=None, seed=0)
    else:
        import tensorflow as tf

        vocab = len(pre.vocab) + 2
        model = keras_model(config, pre, vocab, vocab, True, 1)
        call = tf.function(lambda x: model(x, training=False))

        def forward(window):
            return call(window).numpy() if contender == "keras-function" else model.predict(window, verbose=0)

        ids = pre.vocabulary().encode(tokenize(prompt, pre.tokenize, pre.lowercase))
        rng = np.random.default_rng(0)
        for _ in range(tokens):
            window = np.asarray([ids[-pre.window :]], dtype=np.int32)
            ids.append(_draw(forward(window)[0, -1], 1.0, None, rng))
    return {"rate": tokens / (time.perf_counter() - start), "items": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50, help="times each example file's sequences are repeated")
    parser.add_argument("--tokens", type=int, default=400, help="tokens generated per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 copies, 200 tokens, 2 repeats")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma list from {list(TASKS)}")
    parser.add_argument(
        "--contenders",
        default="rnnkit,rnnkit+shared,keras-predict,predict,keras-function",
        help=f"comma list from {list(CONTENDERS)} (keras-function: generation only)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.task == "generate":
            print(json.dumps(worker_generate(args.worker, args.tokens)))
        else:
            print(json.dumps(worker_sequences(args.task, args.worker, args.copies)))
        return
    if args.quick:
        args.copies, args.tokens, args.repeats = 20, 200, 2
    names = args.tasks.split(",")
    chosen = tuple(args.contenders.split(","))
    if "rnnkit" not in chosen or not set(chosen) <= set(CONTENDERS):
        parser.error(f"--contenders: rnnkit and any of {list(CONTENDERS)}")
    generating = tuple(c for c in chosen if c in GENERATING)
    sequences = tuple(c for c in chosen if c != "keras-function")
    contenders = {name: generating if name == "generate" else sequences for name in names}
    rates: dict[tuple[str, str], list[float]] = {(n, c): [] for n in names for c in contenders[n]}
    firsts: dict[tuple[str, str], list[float]] = {(n, c): [] for n in names for c in contenders[n]}
    items: dict[str, int] = {}
    for repeat in range(args.repeats):
        for name in names:
            order = contenders[name][repeat % len(contenders[name]) :] + contenders[name][: repeat % len(contenders[name])]
            for contender in order:
                argv = [__file__, "--worker", contender, "--task", name]
                argv += ["--copies", str(args.copies), "--tokens", str(args.tokens)]
                result = run_worker(argv)
                items[name] = result["items"]
                rates[name, contender].append(result["rate"])
                firsts[name, contender].append(result.get("first", result["rate"]))
                print(f"repeat {repeat + 1} {name} {contender}: {result['rate']:,.1f}/s", file=sys.stderr)
    print(
        header(
            "Prediction of the other tasks",
            f"example files repeated {args.copies} times (sequences/s, batch {BATCH}); generation of "
            f"{args.tokens} tokens after a prompt (tokens/s, tracing included); {args.repeats} alternating "
            "repeats, one fresh process each.",
        )
    )
    rows = []
    for name in names:
        unit = "tokens" if name == "generate" else "sequences"
        ours, our_first = med(rates[name, "rnnkit"]), med(firsts[name, "rnnkit"])
        for contender in contenders[name]:
            theirs, their_first = med(rates[name, contender]), med(firsts[name, contender])
            rows.append(
                [
                    f"{name} ({TASKS[name]})",
                    f"{items[name]:,} {unit}",
                    contender,
                    f"{fmt(theirs[0], 1)} ({fmt(theirs[1], 1)}-{fmt(theirs[2], 1)})",
                    f"{ours[0] / theirs[0]:.2f}x",
                    "" if name == "generate" else f"{fmt(their_first[0], 1)} ({our_first[0] / their_first[0]:.2f}x)",
                ]
            )
    headers = ["task (config)", "input", "contender", "per second, median (min-max)", "rnnkit / it"]
    print(table([*headers, "first pass per second (rnnkit / it)"], rows))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
