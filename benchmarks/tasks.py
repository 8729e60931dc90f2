"""Training throughput of the other tasks: rnnkit train against plain Keras on the bundled examples.

For each example config of a task other than forecasting (configs/activity.yaml: sequence
classification, machine.yaml: tagging, reviews.yaml: text classification, stories.yaml:
character-level generation), ``rnnkit.training.train`` runs the config as written except for a
fixed number of epochs and no early stopping, and a hand-written Keras script trains the model a
user would write for the same job: ``Sequential`` with ``Masking`` (numeric channels, padding
masked) or ``Embedding(mask_zero=True)`` (tokens), the config's recurrent layer (bidirectional
for tagging), its dense head and a logits layer, Adam at the config's learning rate, sparse
categorical cross-entropy, ``fit`` with the config's batch size, shuffled. Both train on the
same training examples and validate on the same validation split every epoch: the Keras script
gets them as padded numpy arrays cut by rnnkit's data preparation beforehand (untimed), so the
comparison is of the training machinery, not of reading files.

Examples/s per epoch exclude the first epoch (tracing, start-up); rnnkit's epoch time excludes
its per-epoch checkpointing, as in train_throughput.py. One fresh process per contender and
repeat, contenders alternating.

    python benchmarks/tasks.py                # 6 epochs, 3 repeats
    python benchmarks/tasks.py --quick        # 4 epochs, 2 repeats
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fmt, header, keras_epoch_timer, med, run_worker, table, time_epochs

TASKS = {
    "classify": "activity.yaml",
    "tag": "machine.yaml",
    "text": "reviews.yaml",
    "generate": "stories.yaml",
}


def bench_config(name: str, epochs: int):
    """The example config with ``epochs`` epochs and no early stopping."""
    from rnnkit.config import load_config

    config = load_config(ROOT / "configs" / TASKS[name])
    stopping = config.train.early_stopping.model_copy(update={"patience": epochs + 1})
    train = config.train.model_copy(update={"epochs": epochs, "early_stopping": stopping})
    return config.model_copy(update={"train": train})


def worker_rnnkit(name: str, epochs: int) -> dict:
    from rnnkit.tasks import get_task
    from rnnkit.training import train

    config = bench_config(name, epochs)
    begins, ends, _ = time_epochs()
    task, prepared = get_task(config.task), []
    prepare = task.prepare
    task.prepare = lambda *args, **kwargs: prepared.append(prepare(*args, **kwargs)) or prepared[-1]  # to count examples
    with tempfile.TemporaryDirectory() as tmp:
        config = config.model_copy(update={"output": config.output.model_copy(update={"dir": tmp})})
        train(config, run_dir=Path(tmp) / "run")
    examples = len(examples_of(config.task, prepared[0][1], "train"))
    return {"epoch_s": [e - b for b, e in zip(begins, ends, strict=True)], "examples": examples}


def examples_of(task: str, data, split: str):
    """The example indices of a split: window origins (generate) or sequence numbers."""
    return data.origins[split] if task == "generate" else data.indices(split)


def split_arrays(name: str, epochs: int):
    """``(config, preprocessor, {split: (inputs, labels, weights or None)})`` for the train and val
    examples, as padded numpy arrays a Keras script would hold (cut by rnnkit's preparation)."""
    import tensorflow as tf

    from rnnkit.data.seq_pipeline import TokenWindows
    from rnnkit.tasks import get_task

    config = bench_config(name, epochs)
    task = get_task(config.task)
    pre, data = task.prepare(config)
    arrays = {}
    for split in ("train", "val"):
        index = examples_of(config.task, data, split)
        if config.task == "generate":
            x, y = TokenWindows(data.ids, pre.window).cut(tf.constant(index, tf.int64))
            arrays[split] = (x.numpy(), y.numpy(), None)
        else:
            x, y, w = task._cutter(pre, data, index).cut(tf.constant(index, tf.int64))
            arrays[split] = (x.numpy(), y.numpy(), w.numpy() if config.task == "tag" else None)
    return config, pre, arrays


def keras_model(config, pre, vocab: int | None, classes: int, per_step: bool, features: int):
    import keras

    from rnnkit.models.rnn import PAD_VALUE

    model = config.model
    layers = [keras.Input((None,) if vocab else (None, features))]
    layers.append(
        keras.layers.Embedding(vocab, model.embedding_dim, mask_zero=True) if vocab else keras.layers.Masking(PAD_VALUE)
    )
    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}[model.cell]
    for i, units in enumerate(model.layer_units):
        recurrent = cell(units, return_sequences=per_step or i < len(model.layer_units) - 1, dropout=model.dropout)
        layers.append(keras.layers.Bidirectional(recurrent) if model.bidirectional else recurrent)
    layers += [keras.layers.Dense(size, activation=model.dense_activation) for size in model.dense]
    layers.append(keras.layers.Dense(classes))
    return keras.Sequential(layers)


def worker_keras(name: str, epochs: int) -> dict:
    import keras

    config, pre, arrays = split_arrays(name, epochs)
    x, y, w = arrays["train"]
    keras.utils.set_random_seed(config.seed)
    generate = config.task == "generate"
    vocab = len(pre.vocab) + 2 if generate or pre.is_text else None
    classes = vocab if generate else len(pre.labels)
    model = keras_model(config, pre, vocab, classes, generate or config.task == "tag", x.shape[-1] if x.ndim == 3 else 1)
    model.compile(
        optimizer=keras.optimizers.Adam(config.train.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    timer, times = keras_epoch_timer()
    batch = config.train.batch_size
    val = tuple(part for part in arrays["val"] if part is not None)  # rnnkit validates every epoch too
    model.fit(
        x, y, sample_weight=w, batch_size=batch, epochs=epochs, shuffle=True, validation_data=val, verbose=0, callbacks=[timer]
    )
    return {"epoch_s": times, "examples": len(x)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (the first is not timed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 epochs, 2 repeats")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma list from {list(TASKS)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = worker_rnnkit if args.worker == "rnnkit" else worker_keras
        print(json.dumps(work(args.task, args.epochs)))
        return
    if args.quick:
        args.epochs, args.repeats = 4, 2
    names = args.tasks.split(",")
    contenders = ["rnnkit", "keras"]
    rates: dict[tuple[str, str], list[float]] = {(t, c): [] for t in names for c in contenders}
    examples: dict[str, int] = {}
    for repeat in range(args.repeats):
        for name in names:
            for contender in contenders if repeat % 2 == 0 else contenders[::-1]:
                argv = [__file__, "--worker", contender, "--task", name, "--epochs", str(args.epochs)]
                result = run_worker(argv)
                steady = result["epoch_s"][1:]
                examples[name] = result["examples"]
                rates[name, contender].append(result["examples"] * len(steady) / sum(steady))
                print(f"repeat {repeat + 1} {name} {contender}: {rates[name, contender][-1]:,.0f} examples/s", file=sys.stderr)
    print(
        header(
            "Training throughput of the other tasks",
            f"bundled example configs, {args.epochs} epochs (the first not timed), no early stopping; "
            f"{args.repeats} alternating repeats, one fresh process each.",
        )
    )
    rows = []
    for name in names:
        ours, theirs = med(rates[name, "rnnkit"]), med(rates[name, "keras"])
        rows.append(
            [
                f"{name} ({TASKS[name]})",
                f"{examples[name]:,}",
                *(f"{fmt(r[0])} ({fmt(r[1])}-{fmt(r[2])})" for r in (ours, theirs)),
                f"{ours[0] / theirs[0]:.2f}x",
            ]
        )
    print(table(["task (config)", "training examples", "rnnkit examples/s", "plain Keras examples/s", "rnnkit / Keras"], rows))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
