"""classify, tag, text classification and generate: data, masking, state, labels, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_documents, make_sequences, run_cli

from rnnkit.config import load_config
from rnnkit.data.sequences import prepare_sequences
from rnnkit.errors import DataError


def config_file(folder: Path, task: str, data: dict, model: dict | None = None, train: dict | None = None) -> Path:
    config = {
        "task": task,
        "seed": 3,
        "data": data,
        "model": {"cell": "gru", "units": [12], **(model or {})},
        "train": {"epochs": 8, "batch_size": 16, "learning_rate": 0.02, **(train or {})},
        "output": {"dir": str(folder / "runs")},
    }
    path = folder / f"{task}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def sequences_csv(tmp_path) -> Path:
    path = tmp_path / "seq.csv"
    make_sequences().to_csv(path, index=False)
    return path


def classify_data(path: Path, **extra) -> dict:
    return {"path": str(path), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label", **extra}


# -- data ------------------------------------------------------------------------------------


def test_splits_are_by_sequence_and_stratified(tmp_path):
    path = tmp_path / "seq.csv"
    make_sequences(n=90, labels=("a", "b", "c")).to_csv(path, index=False)
    config = load_config(config_file(tmp_path, "classify", classify_data(path, split={"val": 0.2, "test": 0.2})))
    pre, arrays = prepare_sequences(config)
    for split in ("train", "val", "test"):
        counts = np.bincount(arrays.labels[arrays.indices(split)], minlength=3)
        assert len(set(counts)) == 1, (split, counts)  # each class equally represented
    assert [len(arrays.indices(s)) for s in ("train", "val", "test")] == [54, 18, 18]
    # The scaler saw training sequences only.
    frame = pd.read_csv(path)
    train_ids = {arrays.ids[i] for i in arrays.indices("train")}
    assert pre.center["b"] == pytest.approx(frame[frame["seq"].isin(train_ids)]["b"].mean())


def test_labels_are_kept_as_written_and_must_be_constant(tmp_path, sequences_csv):
    config = load_config(config_file(tmp_path, "classify", classify_data(sequences_csv)))
    pre, _ = prepare_sequences(config)
    assert pre.labels == ["1", "Standing"]
    frame = make_sequences()
    frame.loc[3, "label"] = "1" if frame.loc[3, "label"] == "Standing" else "Standing"
    frame.to_csv(sequences_csv, index=False)
    with pytest.raises(DataError, match=r"sequence 'q000', column 'label': label changes within the sequence"):
        prepare_sequences(config)


def test_wide_layout_with_variable_lengths(tmp_path):
    rows = []
    for index in range(40):
        length = 6 + index % 5
        values = list(np.sin(np.arange(length) * (0.3 + index % 2))) + [np.nan] * (10 - length)
        rows.append({"label": "AB"[index % 2], **{f"s{k}": v for k, v in enumerate(values)}})
    path = tmp_path / "wide.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    pre, arrays = prepare_sequences(
        load_config(config_file(tmp_path, "classify", {"path": str(path), "layout": "wide", "target": "label"}))
    )
    assert sorted(set(arrays.lengths)) == [6, 7, 8, 9, 10]
    assert pre.wide_columns == [f"s{k}" for k in range(10)] and pre.max_length == 10


# -- model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [False, True])
def test_padding_never_changes_a_prediction(tokens):
    from rnnkit.data.seq_pipeline import pad_batch
    from rnnkit.models import RecurrentModel

    model = RecurrentModel(
        input_features=2,
        output_dim=3,
        output_mode="vector",
        units=[5, 4],
        vocab_size=20 if tokens else None,
        mask_inputs=not tokens,
    )
    rng = np.random.default_rng(0)
    short = rng.integers(2, 20, 5).astype("int32") if tokens else rng.normal(size=(5, 2)).astype("float32")
    long = rng.integers(2, 20, 12).astype("int32") if tokens else rng.normal(size=(12, 2)).astype("float32")
    alone = np.asarray(model(pad_batch([short])))
    padded = np.asarray(model(pad_batch([short, long])))[0]  # padded to 12 steps
    np.testing.assert_allclose(alone[0], padded, atol=1e-6)


def test_sequence_predictions_run_one_compiled_pass_for_every_batch_shape(tmp_path, sequences_csv):
    from rnnkit.data.seq_pipeline import pad_batch
    from rnnkit.models import build_model
    from rnnkit.tasks import get_task

    config = load_config(config_file(tmp_path, "classify", classify_data(sequences_csv)))
    task = get_task("classify")
    pre, _ = task.prepare(config)
    model = build_model(config.model, **task.model_kwargs(pre))
    infer = task._inference(model, pre)
    rng = np.random.default_rng(0)
    for lengths in ([5], [5, 12], [3, 3, 40]):  # batch sizes and padded lengths vary, as in predict
        batch = pad_batch([rng.normal(size=(n, pre.input_width)).astype("float32") for n in lengths])
        np.testing.assert_allclose(np.asarray(infer(batch)), np.asarray(model(batch, training=False)), atol=1e-5)
    assert infer.experimental_get_tracing_count() == 1  # traced once, not per shape
    assert task._inference(model, pre) is infer  # reused for the same model (val, test, predict)
    assert task._inference(build_model(config.model, **task.model_kwargs(pre)), pre) is not infer


@pytest.mark.parametrize("task_name", ["classify", "tag"])
def test_sequence_prediction_and_evaluation_run_two_streams_with_unchanged_results(
    tmp_path, sequences_csv, monkeypatch, task_name
):
    import threading

    import tensorflow as tf

    from rnnkit.data.seq_pipeline import pad_batch
    from rnnkit.models import build_model
    from rnnkit.tasks import base, get_task, sequence
    from rnnkit.tasks.base import softmax

    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [])  # a CPU even where a GPU is
    monkeypatch.setattr(sequence, "EVAL_BATCH", 4)  # evaluation in several batches
    if task_name == "tag":  # one label per step: the label column, per row
        frame = pd.read_csv(sequences_csv)
        frame["label"] = np.where(frame["a"] > 0, "up", "down")
        frame.to_csv(sequences_csv, index=False)
    config = load_config(config_file(tmp_path, task_name, classify_data(sequences_csv), model={"units": [6, 5]}))
    task = get_task(task_name)
    pre, data = task.prepare(config)
    model = build_model(config.model, **task.model_kwargs(pre))
    compiled, threads = task._inference(model, pre), set()

    def recording(x):
        threads.add(threading.get_ident())
        return compiled(x)

    monkeypatch.setattr(task, "_inference", lambda model, pre: recording)

    class Frames:
        def __init__(self):
            self.columns, self.frames = [], []

        def write(self, frame):
            self.frames.append(frame)

    def predict_and_evaluate(streams):
        monkeypatch.setattr(base, "STREAMS", streams)
        threads.clear()
        writer = Frames()
        stream = task.checked_stream(pre, sequences_csv, chunk_rows=150)  # blocks of several batches
        task.write_predictions(model, pre, stream, writer, batch_size=4, last_only=False)
        return pd.concat(writer.frames, ignore_index=True), task.evaluate(model, pre, data, "test"), set(threads)

    one, one_metrics, one_threads = predict_and_evaluate(1)
    two, two_metrics, two_threads = predict_and_evaluate(2)
    assert one_threads == {threading.get_ident()}
    assert len(two_threads - one_threads) >= 2  # worker threads (a block of one batch runs in the caller's)
    pd.testing.assert_frame_equal(two, one)  # bit for bit, rows in input order
    assert two_metrics == one_metrics
    # Each probability is the softmax of the model on that sequence alone.
    sequences = [s for block in task.checked_stream(pre, sequences_csv, chunk_rows=150).blocks() for s in block.sequences]
    expected = np.concatenate([softmax(np.asarray(compiled(pad_batch([s])))[0]).reshape(-1, len(pre.labels)) for s in sequences])
    np.testing.assert_allclose(one[[f"p_{label}" for label in pre.labels]].to_numpy(), expected, atol=1e-5)
    assert len(one) == (len(pd.read_csv(sequences_csv)) if task_name == "tag" else len(sequences))


def test_each_op_on_one_thread_only_on_a_cpu_and_only_where_the_user_did_not_choose(monkeypatch):
    from rnnkit import process
    from rnnkit.tasks import base

    class FakeTF:
        """The parts of ``tf.config`` one_thread_per_op uses; ``started``: TensorFlow refuses."""

        def __init__(self, gpus=(), started=False):
            self.set, self.gpus, self.started = [], list(gpus), started
            self.config = self
            self.threading = self

        def list_physical_devices(self, kind):
            return self.gpus if kind == "GPU" else []

        def set_intra_op_parallelism_threads(self, n):
            if self.started:
                raise RuntimeError("Intra op parallelism cannot be modified after initialization.")
            self.set.append(n)

    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(process, "usable_cpus", lambda: base.ONE_THREAD_MAX_CPUS)
    cpu, gpu, started = FakeTF(), FakeTF(gpus=["GPU:0"]), FakeTF(started=True)
    for tf in (cpu, gpu, started):
        base.one_thread_per_op(tf)
    monkeypatch.setattr(process, "usable_cpus", lambda: base.ONE_THREAD_MAX_CPUS + 1)
    large = FakeTF()  # more CPUs than measured: TensorFlow's shared threads
    base.one_thread_per_op(large)
    monkeypatch.setattr(process, "usable_cpus", lambda: 2)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "4")
    users = FakeTF()
    base.one_thread_per_op(users)
    assert [cpu.set, gpu.set, started.set, large.set, users.set] == [[1], [], [], [], []]
    for usable, streams in ((1, base.STREAMS), (6, 6), (base.ONE_THREAD_MAX_CPUS + 1, base.ONE_THREAD_MAX_CPUS)):
        monkeypatch.setattr(process, "usable_cpus", lambda usable=usable: usable)
        assert base.cpu_streams() == streams


@pytest.mark.parametrize("task_name", ["classify", "tag"])
def test_output_frames_hold_the_types_pandas_infers_from_the_values(tmp_path, sequences_csv, task_name):
    from rnnkit.tasks import get_task

    frame = pd.read_csv(sequences_csv)
    frame["seq"] = frame["seq"].str[1:].astype(int)  # numeric ids (kept as written: strings)
    if task_name == "tag":
        frame["label"] = np.where(frame["a"] > 0, "10", "2")  # numeric-looking labels
    frame.to_csv(sequences_csv, index=False)
    task = get_task(task_name)
    pre, _ = task.prepare(load_config(config_file(tmp_path, task_name, classify_data(sequences_csv))))
    ids, sequences, times, _ = next(task.checked_stream(pre, sequences_csv, chunk_rows=10**6).blocks())
    rng = np.random.default_rng(0)
    probabilities = [rng.random((len(s), 2) if task.per_step else 2, dtype=np.float32) for s in sequences]
    built = task._output_frame(pre, "seq", ids, times, probabilities)
    stacked = np.concatenate(probabilities) if task.per_step else np.stack(probabilities)
    plain = {"seq": [i for i, p in zip(ids, probabilities, strict=True) for _ in range(len(p) if task.per_step else 1)]}
    if task.per_step:
        plain["t"] = list(np.concatenate(times))
    plain["label"] = [pre.labels[k] for k in stacked.argmax(axis=-1)]
    plain.update({f"p_{label}": stacked[:, k] for k, label in enumerate(pre.labels)})
    pd.testing.assert_frame_equal(built, pd.DataFrame(plain))  # values and dtypes (Parquet schemas follow them)


def test_stepping_through_the_state_equals_running_the_whole_prefix():
    from rnnkit.models import RecurrentModel

    model = RecurrentModel(input_features=1, output_dim=30, output_mode="sequence", units=[8, 6], cell="lstm", vocab_size=30)
    ids = np.random.default_rng(1).integers(2, 30, (1, 9)).astype("int32")
    whole = np.asarray(model(ids))[0, -1]
    logits, states = model(ids[:, :4], return_state=True)
    for position in range(4, 9):
        logits, states = model(ids[:, position : position + 1], initial_state=states, return_state=True)
    np.testing.assert_allclose(np.asarray(logits)[0, -1], whole, atol=1e-5)


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_classify_end_to_end_beats_the_majority_class(tmp_path, sequences_csv):
    config = config_file(tmp_path, "classify", classify_data(sequences_csv), train={"class_weight": "balanced"})
    result = run_cli("train", config, "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "majority acc" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9 > metrics["baseline"]["test"]["accuracy"]
    assert {"macro_f1", "per_class", "confusion_matrix"} <= set(metrics["test"])
    assert set(metrics["test"]["per_class"]) == {"1", "Standing"}
    assert (tmp_path / "run" / "plots" / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"
    # Predict: one row per sequence, the label as written, a probability column per class;
    # sequences longer than any seen in training are fine.
    longer = make_sequences(n=4, seed=5, min_len=40, max_len=50)
    new = tmp_path / "new.csv"
    longer.to_csv(new, index=False)
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", new, "--output", out).exit_code == 0
    predictions = pd.read_csv(out, dtype={"label": str})
    assert list(predictions.columns) == ["seq", "label", "p_1", "p_Standing"]
    assert len(predictions) == 4 and set(predictions["label"]) <= {"1", "Standing"}
    np.testing.assert_allclose(predictions[["p_1", "p_Standing"]].sum(axis=1), 1.0, rtol=1e-5)
    # An unseen label at evaluate time is a clear data error.
    longer.loc[longer["seq"] == "q001", "label"] = "Sitting"
    longer.to_csv(new, index=False)
    result = run_cli("evaluate", tmp_path / "run", "--data", new)
    assert result.exit_code == 3
    assert "sequence 'q001', column 'label': label 'Sitting' was not seen in training (known: '1', 'Standing')" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["classify", "tag"])
def test_evaluate_data_streams_sequences_and_equals_evaluation_in_memory(tmp_path, task_name):
    """evaluate --data reads the file in chunks (sequences cut to max_length as in training) and
    scores what evaluation in memory scores; the baseline predicts the training majority."""
    from rnnkit.config import validate_config
    from rnnkit.models import load_model
    from rnnkit.tasks import load_preprocessor
    from rnnkit.training import evaluate

    def labelled(frame):
        return frame.assign(label=np.where(frame["a"] > 0, "up", "down")) if task_name == "tag" else frame

    train_file, new = tmp_path / "seq.csv", tmp_path / "new.csv"
    labelled(make_sequences()).to_csv(train_file, index=False)
    labelled(make_sequences(n=15, seed=6, labels=("Standing", "1", "Standing"))).to_csv(new, index=False)
    config = config_file(tmp_path, task_name, classify_data(train_file, max_length=15), train={"epochs": 2})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    run = tmp_path / "run"
    task, pre = load_preprocessor(run / "schema.json")
    raw = yaml.safe_load((run / "config.yaml").read_text())
    raw["data"].update(path=str(new), split={"val": 0.0, "test": 0.0})
    raw["train"]["early_stopping"]["monitor"] = "loss"
    _, data = task.prepare(validate_config(raw), pre)
    expected, _ = task.evaluate(load_model(run / "checkpoints" / "best.keras"), pre, data, "train")
    truth = pd.read_csv(new, dtype={"label": str}).groupby("seq")
    truth = truth.tail(15) if task_name == "tag" else truth.first()  # tags of a sequence's last 15 steps
    assert expected["count"] == len(truth) < (len(pd.read_csv(new)) if task_name == "tag" else 16)
    if task_name == "classify":  # training's majority (a tie, so the first label), not the file's
        assert (pre.majority_label, truth["label"].mode()[0]) == ("1", "Standing")
    for chunk_rows in (7, 100, 10**6):
        found = evaluate(run, data=new, chunk_rows=chunk_rows)[str(new.resolve())]
        assert found["model"] == expected, chunk_rows
        assert found["baseline"]["predicts"] == pre.majority_label
        assert found["baseline"]["accuracy"] == pytest.approx((truth["label"] == pre.majority_label).mean())
    assert (run / "plots" / "files" / "new" / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_text_classification_saves_and_reuses_its_vocabulary(tmp_path):
    path = tmp_path / "docs.csv"
    make_documents().to_csv(path, index=False)
    data = {"path": str(path), "id": "doc", "features": ["text"], "target": "sentiment", "tokenize": "word", "vocab_size": 12}
    config = config_file(tmp_path, "classify", data, model={"embedding_dim": 8})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    schema = json.loads((tmp_path / "run" / "schema.json").read_text())
    assert len(schema["vocab"]) == 10 and schema["labels"] == ["neg", "pos"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    new = tmp_path / "new.csv"
    pd.DataFrame({"doc": ["x", "y"], "text": ["great great zebra", "awful dull unknownword"]}).to_csv(new, index=False)
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", new, "--output", out).exit_code == 0
    assert pd.read_csv(out)["sentiment"].tolist() == ["pos", "neg"]


@pytest.mark.slow
def test_tagging_masks_padding_out_of_loss_and_metrics(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for index in range(50):
        for step in range(int(rng.integers(5, 15))):
            value = rng.normal()
            rows.append({"seq": index, "t": step, "v": value, "tag": "hi" if value > 0 else "lo"})
    path = tmp_path / "tags.csv"
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    data = {"path": str(path), "id": "seq", "time": "t", "features": ["v"], "target": "tag"}
    config = config_file(tmp_path, "tag", data, model={"bidirectional": True})
    assert run_cli("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    _, arrays = prepare_sequences(load_config(config))
    assert metrics["test"]["count"] == int(arrays.lengths[arrays.indices("test")].sum())  # no padded step counted
    assert metrics["test"]["accuracy"] > 0.9
    out = tmp_path / "out.csv"
    assert run_cli("predict", tmp_path / "run", "--input", path, "--output", out, "--chunk-rows", 37).exit_code == 0
    tagged = pd.read_csv(out)
    assert len(tagged) == len(frame) and list(tagged.columns[:3]) == ["seq", "t", "tag"]
    assert (tagged["tag"] == frame["tag"]).mean() > 0.9


@pytest.mark.slow
def test_generate_trains_evaluates_and_samples_reproducibly(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 120)
    data = {"path": str(corpus), "tokenize": "char", "window": 16, "stride": 3}
    config = config_file(
        tmp_path, "generate", data, model={"units": [32], "embedding_dim": 8}, train={"epochs": 4, "batch_size": 32}
    )
    result = run_cli("train", config, "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["perplexity"] < metrics["baseline"]["test"]["perplexity"] / 2
    assert metrics["test"]["perplexity"] == pytest.approx(np.exp(metrics["test"]["cross_entropy"]))
    first = run_cli("generate", tmp_path / "run", "--prompt", "the c", "--length", 30, "--seed", 4)
    again = run_cli("generate", tmp_path / "run", "--prompt", "the c", "--length", 30, "--seed", 4)
    assert first.exit_code == 0 and first.stdout == again.stdout
    assert first.stdout.startswith("the c") and len(first.stdout.strip()) == 35
    other = run_cli("generate", tmp_path / "run", "--prompt", "the c", "--length", 30, "--seed", 5, "--temperature", 2.0)
    assert other.stdout != first.stdout
    result = run_cli("predict", tmp_path / "run", "--input", corpus, "--output", tmp_path / "o.csv")
    assert result.exit_code == 2 and "rnnkit generate" in result.stderr


@pytest.mark.parametrize("model", [{"cell": "gru", "units": [8]}, {"cell": "lstm", "units": [8, 6]}])
def test_sample_equals_feeding_the_prompt_then_each_token_with_the_states(tmp_path, model):
    from rnnkit.data.text import join_tokens, tokenize
    from rnnkit.models import build_model
    from rnnkit.tasks import get_task
    from rnnkit.tasks.generate import _draw, sample

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 40)
    data = {"path": str(corpus), "tokenize": "char", "window": 16}
    config = load_config(config_file(tmp_path, "generate", data, model={**model, "embedding_dim": 4}))
    task = get_task("generate")
    pre, _ = task.prepare(config)
    lm = build_model(config.model, **task.model_kwargs(pre))
    # The reference: the prompt through the model eagerly, then each drawn token with the states.
    rng, vocab = np.random.default_rng(4), pre.vocabulary()
    logits, states = lm(np.asarray([vocab.encode(tokenize("the mat", "char", pre.lowercase))]), return_state=True)
    drawn = []
    for _ in range(25):
        drawn.append(_draw(np.asarray(logits)[0, -1], 0.8, 5, rng))
        logits, states = lm(np.asarray([drawn[-1:]]), initial_state=states, return_state=True)
    assert sample(lm, pre, "the mat", 25, 0.8, 5, seed=4) == "the mat" + join_tokens(vocab.decode(drawn), "char")
    # Without a prompt the text starts from a drawn token, which it keeps.
    start = sample(lm, pre, "", 0, 1.0, None, seed=4)
    assert len(start) == 1 and start in vocab.decode(range(2, len(pre.vocab) + 2))
    text = sample(lm, pre, "", 25, 1.0, None, seed=4)
    assert text.startswith(start) and len(text) == 26


def test_numeric_looking_labels_and_ids_stay_as_written(tmp_path):
    path = tmp_path / "seq.csv"
    frame = make_sequences(n=20, labels=("01", "10"))
    frame["seq"] = frame["seq"].str.replace("q", "00")
    frame.to_csv(path, index=False)
    pre, arrays = prepare_sequences(load_config(config_file(tmp_path, "classify", classify_data(path))))
    assert pre.labels == ["01", "10"]
    assert arrays.ids[0] == "00000"


def test_wide_layout_with_an_id_column_and_explicit_test_file(tmp_path):
    def wide(n, seed):
        rng = np.random.default_rng(seed)
        rows = []
        for index in range(n):
            values = np.sin(np.arange(8) * (0.3 + index % 2) + rng.normal())
            rows.append({"sid": f"s{index:03d}", "label": "AB"[index % 2], **{f"t{k}": v for k, v in enumerate(values)}})
        return pd.DataFrame(rows)

    wide(30, 0).to_csv(tmp_path / "train.csv", index=False)
    wide(10, 1).to_csv(tmp_path / "test.csv", index=False)  # same ids as training: still other sequences
    data = {
        "path": str(tmp_path / "train.csv"),
        "test_path": str(tmp_path / "test.csv"),
        "layout": "wide",
        "id": "sid",
        "target": "label",
    }
    pre, arrays = prepare_sequences(load_config(config_file(tmp_path, "classify", data)))
    assert len(arrays.indices("test")) == 10 and arrays.ids[:2] == ["s000", "s001"]
    assert pre.wide_columns == [f"t{k}" for k in range(8)]


def test_label_errors_name_the_file_that_holds_them(tmp_path, sequences_csv):
    test = tmp_path / "test.csv"
    frame = make_sequences(n=6, seed=2)
    frame.loc[frame["seq"] == "q002", "label"] = "Sitting"
    frame.to_csv(test, index=False)
    config = load_config(config_file(tmp_path, "classify", classify_data(sequences_csv, test_path=str(test))))
    with pytest.raises(DataError, match=r"test\.csv: sequence 'q002', column 'label': label 'Sitting' was not seen in training"):
        prepare_sequences(config)
    frame.loc[frame.index[frame["seq"] == "q003"][1], "label"] = "Other"
    frame.loc[frame["seq"] == "q002", "label"] = "1"
    frame.to_csv(test, index=False)
    with pytest.raises(DataError, match=r"test\.csv: sequence 'q003', column 'label': label changes within the sequence"):
        prepare_sequences(config)
