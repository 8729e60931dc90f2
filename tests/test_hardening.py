"""Hostile and careless situations at the edges: bounded resources, regular files only, clean exits.

Each hostile case runs one command and checks the documented answer: its exit code, exactly one
``rnnkit: error:`` line naming the culprit, and nothing created, changed or left behind
(``conftest.assert_refused``). The cases are grouped by the class of trouble they belong to; the
guard for each class sits where the class enters rnnkit (the YAML loader, ``rnnkit.files``,
``rnnkit.resources``, the CLI's handling of signals and standard output).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import assert_refused, make_series, run_cli, snapshot, write_config

from rnnkit import resources
from rnnkit.config import ModelConfig, load_config
from rnnkit.errors import ConfigError
from rnnkit.files import NAME_MAX, remove_dead_temporaries, temporary_sibling, writer_pid

CONFIG, DATA, RUN, IO = 2, 3, 4, 5
BASE = (
    "data:\n  path: d.csv\n  id: id\n  time: date\n  features: [y, x]\n  target: y\n"
    "  window: 8\n  horizon: 2\noutput: {dir: runs}\n"
)


def billion_laughs() -> str:
    text = "lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in range(1, 10):
        text += f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]\n"
    return BASE + text


def deep_by_aliases() -> str:
    # Each anchor is 20 levels deep and holds the previous one: 60 levels once expanded, in a
    # document whose text never nests past 22.
    text = BASE + "a0: &a0 1\n"
    for level in range(1, 4):
        text += f"a{level}: &a{level} " + "[" * 20 + f"*a{level - 1}" + "]" * 20 + "\n"
    return text


def yaml_file(tmp: Path, text: str, name: str = "c.yaml") -> Path:
    make_series(n_series=2, length=40).to_csv(tmp / "d.csv", index=False)
    (tmp / name).write_text(text)
    return tmp / name


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link(path: Path, target) -> Path:
    path.symlink_to(target)
    return path


def copy_run(run: Path, tmp: Path) -> Path:
    copy = tmp / "run"
    shutil.copytree(run, copy)
    return copy


# -- 1. bounded resources: the YAML loader -----------------------------------------------------------

YAML_CASES = {
    "billion-laughs": (billion_laughs(), ["c.yaml", "more than 10,000 values once aliases are expanded"]),
    "deep-nesting": (BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n", ["c.yaml", "nested deeper than 32 levels"]),
    "deep-mapping": (BASE + "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)), ["nested deeper than 32"]),
    "deep-by-aliases": (deep_by_aliases(), ["c.yaml", "nested deeper than 32 levels once aliases are expanded"]),
    "recursive-alias": (BASE + "x: &x [1, *x]\n", ["c.yaml", "an alias refers to a value that contains it"]),
    "huge-integer": (BASE + "seed: " + "9" * 5000 + "\n", ["c.yaml", "line 10", "a whole number of 5,000 digits"]),
    "huge-hex-integer": (BASE + "seed: 0x" + "f" * 40 + "\n", ["c.yaml", "a whole number of 42 digits"]),
    "too-large": (BASE + "# " + "x" * (1 << 20) + "\n", ["c.yaml", "at most 1,048,576 are read"]),
}


@pytest.mark.parametrize("name", list(YAML_CASES))
def test_yaml_past_the_limits_is_refused_fast(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, fragments = YAML_CASES[name]
    config = yaml_file(tmp_path, text)
    started = time.perf_counter()
    assert_refused(["train", config], CONFIG, fragments, tmp_path)
    assert time.perf_counter() - started < 30  # a bound against a hang, not a speed claim


def test_yaml_limits_hold_for_set_values_and_run_folders(tmp_path, trained_run):
    config = yaml_file(tmp_path, BASE)
    assert_refused(["validate", config, "--set", "seed=" + "9" * 100], CONFIG, ["--set seed", "a whole number of 100 digits"])
    assert_refused(["validate", config, "--set", "model.units=" + "[" * 40 + "]" * 40], CONFIG, ["nested deeper than 32"])
    run = copy_run(trained_run, tmp_path)
    (run / "config.yaml").write_text(billion_laughs())
    assert_refused(["evaluate", run], RUN, ["config.yaml", "more than 10,000 values"], tmp_path)
    result = run_cli("runs", tmp_path)  # the listing names the damage instead of expanding it
    assert result.exit_code == 0, result.stderr
    assert "damaged" in result.stdout and "10,000 values" in result.stdout


def test_yaml_anchors_and_merge_keys_within_the_limits_still_work(tmp_path):
    text = BASE.replace("output: {dir: runs}\n", "") + "common: &common {dir: runs}\noutput:\n  <<: *common\n"
    with pytest.raises(ConfigError, match="unknown key 'common'"):
        load_config(yaml_file(tmp_path, text))  # the anchor itself is read; only the extra key is refused
    text = BASE + "model: &m {cell: gru, units: [8]}\n"
    assert load_config(yaml_file(tmp_path, text)).model.cell == "gru"


# -- 1. bounded resources: keys and options with no natural bound ----------------------------------

BOUND_CASES = {
    "units": ("model.units=100000", ["model.units must be at most 65536"]),
    "units-in-a-list": ("model.units=[8, 70000]", ["model.units[1] must be at most 65536"]),
    "layers": ("model.units=[" + ", ".join(["4"] * 33) + "]", ["model.units must be a list with at most 32 item(s)"]),
    "dense": ("model.dense=[100000]", ["model.dense[0] must be at most 65536"]),
    "embedding": ("model.embedding_dim=70000", ["model.embedding_dim must be at most 65536"]),
    "window": ("data.window=100001", ["data.window must be at most 100000"]),
    "horizon": ("data.horizon=10001", ["data.horizon must be at most 10000"]),
    "stride": ("data.stride=100001", ["data.stride must be at most 100000"]),
    "batch-size": ("train.batch_size=1000001", ["train.batch_size must be at most 1000000"]),
    "epochs": ("train.epochs=100001", ["train.epochs must be at most 100000"]),
    "patience": ("train.early_stopping.patience=100001", ["train.early_stopping.patience must be at most 100000"]),
    "vocab-size": ("data.vocab_size=10000001", ["data.vocab_size must be at most 10000000"]),
    "worker-timeout": ("train.worker_timeout=0", ["train.worker_timeout must be at least 1"]),
}


@pytest.mark.parametrize("name", list(BOUND_CASES))
def test_keys_without_a_natural_bound_have_one(name, tmp_path):
    override, fragments = BOUND_CASES[name]
    config = yaml_file(tmp_path, BASE)
    assert_refused(["train", config, "--set", override], CONFIG, ["--set", *fragments], tmp_path)


def test_the_bounds_are_in_the_json_schema():
    from rnnkit.config import json_schema

    definitions = json_schema()["$defs"]
    units = definitions["ModelConfig"]["properties"]["units"]["anyOf"]
    assert units[0]["maximum"] == 65536 and units[1]["maxItems"] == 32 and units[1]["items"]["maximum"] == 65536
    assert definitions["DataConfig"]["properties"]["stride"]["maximum"] == 100_000
    assert definitions["TrainConfig"]["properties"]["worker_timeout"]["default"] == 300


OPTION_CASES = {
    "predict-batch-size": (["predict", "RUN", "--input", "x.csv", "--output", "o.csv", "--batch-size", "65537"], "--batch-size"),
    "predict-chunk-rows": (
        ["predict", "RUN", "--input", "x.csv", "--output", "o.csv", "--chunk-rows", "10000001"],
        "--chunk-rows",
    ),
    "generate-length": (["generate", "RUN", "--length", "1000001"], "--length"),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_options_without_a_natural_bound_have_one(name, tmp_path, trained_run):
    args, option = OPTION_CASES[name]
    args = [str(trained_run) if a == "RUN" else a for a in args]
    assert_refused(args, CONFIG, [f"Invalid value for '{option}'", "is not in the range"], tmp_path, trained_run)


# -- 1. bounded resources: what the machine can hold ---------------------------------------------------


def test_a_model_too_large_for_the_machine_is_refused_before_its_run_folder(tmp_path):
    config = write_config(tmp_path, yaml_file(tmp_path, BASE).parent / "d.csv", model={"cell": "lstm", "units": [65536]})
    line = assert_refused(
        ["train", config], IO, ["the model needs about", "GiB for its", "weights", "this machine has"], tmp_path
    )
    assert "Lower model.units" in line
    assert not (tmp_path / "runs").exists()


def test_activations_too_large_for_the_machine_are_refused(monkeypatch):
    monkeypatch.setattr(resources, "machine_memory", lambda: 64 << 20)  # a 64 MiB machine
    model, shape = ModelConfig(cell="gru", units=[64]), resources.ModelShape(2, 2, 1, steps=1000)
    resources.check_training_fits(model, shape, batch_size=16, optimizer="adam")  # about 25 MiB: fits
    with pytest.raises(resources.ResourceError) as refused:
        resources.check_training_fits(model, shape, batch_size=1000, optimizer="adam")
    message = str(refused.value)
    assert message.startswith("training needs about 1.4 GiB (1.4 GiB for a batch of 1000 examples of 1000 steps")
    assert message.endswith("this machine has 64 MiB. Lower train.batch_size, data.window (or data.max_length) or model.units")


def test_a_prediction_batch_too_large_for_the_machine_is_refused(tmp_path, trained_run, monkeypatch):
    make_series().to_csv(tmp_path / "new.csv", index=False)
    monkeypatch.setattr(resources, "machine_memory", lambda: 1 << 20)
    args = ["predict", trained_run, "--input", tmp_path / "new.csv", "--output", tmp_path / "o.csv", "--batch-size", "65536"]
    assert_refused(args, IO, ["predicting in batches of 65536 needs about", "Lower --batch-size"], tmp_path, trained_run)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        ({"cell": "lstm", "units": [8, 4], "dense": [5]}, resources.ModelShape(3, 2, 1, 10)),
        ({"cell": "gru", "units": [6], "bidirectional": True}, resources.ModelShape(2, 1, 4, 10, sequence_output=True)),
        ({"cell": "simple", "units": [5, 5]}, resources.ModelShape(1, 3, 2, 10)),
        (
            {"cell": "gru", "units": [7], "embedding_dim": 6},
            resources.ModelShape(1, 1, 30, 10, sequence_output=True, vocab_size=30),
        ),
    ],
)
def test_the_parameter_count_is_what_keras_counts(model, shape):
    from rnnkit.models import build_model

    config = ModelConfig.model_validate(model)
    mode = "sequence" if shape.sequence_output else "steps"
    network = build_model(
        config,
        input_features=shape.input_features,
        output_steps=shape.output_steps,
        output_dim=shape.output_dim,
        window=shape.steps,
        output_mode=mode,
        vocab_size=shape.vocab_size,
    )
    assert resources.parameter_count(config, shape) == network.count_params()


def test_a_few_windows_are_never_padded_up_to_a_large_batch():
    import tensorflow as tf

    from rnnkit.tasks.forecast import forecast

    seen = []

    class Cutter:
        def inputs(self, origins):
            return origins

    def infer(batch):
        seen.append(int(batch.shape[0]))
        return tf.zeros((int(batch.shape[0]), 2, 1))

    out = forecast(infer, Cutter(), np.array([4, 5, 6]), batch_size=65536, streams=1)
    assert out.shape == (3, 2, 1) and seen == [3]


# -- 2. only regular files are read ----------------------------------------------------------------


def config_pointing_at(make):
    def setup(tmp: Path) -> list:
        path = make(tmp / "d.csv")
        return ["train", write_config(tmp, path)]

    return setup


FILE_CASES = {
    "config-fifo": (lambda tmp: ["train", fifo(tmp / "c.yaml")], CONFIG, ["c.yaml", "is a FIFO (named pipe)"]),
    "config-device": (lambda tmp: ["train", link(tmp / "c.yaml", "/dev/zero")], CONFIG, ["c.yaml", "is a character device"]),
    "config-link-loop": (
        lambda tmp: ["train", link(tmp / "c.yaml", tmp / "c.yaml")],
        CONFIG,
        ["c.yaml", "symbolic link loop"],
    ),
    "config-name-too-long": (lambda tmp: ["train", tmp / ("c" * 300 + ".yaml")], CONFIG, ["file name too long"]),
    "data-fifo": (config_pointing_at(fifo), DATA, ["d.csv", "is a FIFO (named pipe); expected a data file"]),
    "data-device": (config_pointing_at(lambda p: link(p, "/dev/zero")), DATA, ["d.csv", "is a character device"]),
    "data-link-loop": (config_pointing_at(lambda p: link(p, p)), DATA, ["d.csv", "symbolic link loop"]),
    "data-dangling-link": (config_pointing_at(lambda p: link(p, p.parent / "gone.csv")), DATA, ["d.csv", "not found"]),
    "text-fifo": (lambda tmp: ["train", generate_config(tmp, fifo(tmp / "t.txt"))], DATA, ["t.txt", "is a FIFO"]),
}


def generate_config(tmp: Path, text: Path) -> Path:
    config = {"task": "generate", "data": {"path": str(text), "tokenize": "char", "window": 8}, "output": {"dir": "runs"}}
    (tmp / "g.yaml").write_text(yaml.safe_dump(config))
    return tmp / "g.yaml"


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_only_regular_files_are_read(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup, code, fragments = FILE_CASES[name]
    assert_refused(setup(tmp_path), code, fragments, tmp_path)
    assert not (tmp_path / "runs").exists()


PREDICT_FILE_CASES = {
    "input-fifo": (lambda tmp: (fifo(tmp / "new.csv"), tmp / "o.csv"), DATA, ["new.csv", "is a FIFO"]),
    "input-device": (lambda tmp: (link(tmp / "new.csv", "/dev/zero"), tmp / "o.csv"), DATA, ["new.csv", "character device"]),
    "output-fifo": (lambda tmp: (good_input(tmp), fifo(tmp / "o.csv")), IO, ["o.csv", "is a FIFO", "expected an output file"]),
    "output-device": (lambda tmp: (good_input(tmp), link(tmp / "o.csv", "/dev/null")), IO, ["o.csv", "is a character device"]),
    "output-under-a-file": (lambda tmp: (good_input(tmp), under_a_file(tmp)), IO, ["o.csv", "Not a directory"]),
}


def under_a_file(tmp: Path) -> Path:
    (tmp / "plain.txt").write_text("x")
    return tmp / "plain.txt" / "o.csv"


def good_input(tmp: Path) -> Path:
    make_series().to_csv(tmp / "new.csv", index=False)
    return tmp / "new.csv"


@pytest.mark.parametrize("name", list(PREDICT_FILE_CASES))
def test_predict_reads_and_writes_regular_files_only(name, tmp_path, trained_run):
    make, code, fragments = PREDICT_FILE_CASES[name]
    source, target = make(tmp_path)
    assert_refused(["predict", trained_run, "--input", source, "--output", target], code, fragments, tmp_path, trained_run)


def test_evaluate_reads_a_regular_data_file_only(tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    assert_refused(["evaluate", run, "--data", fifo(tmp_path / "new.csv")], DATA, ["new.csv", "is a FIFO"], tmp_path)


RUN_FILE_CASES = {
    "schema-fifo": (lambda run: (run / "schema.json").unlink() or fifo(run / "schema.json"), "evaluate", ["schema.json", "FIFO"]),
    "config-device": (
        lambda run: (run / "config.yaml").unlink() or link(run / "config.yaml", "/dev/zero"),
        "evaluate",
        ["config.yaml", "character device"],
    ),
    "checkpoint-device": (
        lambda run: (run / "checkpoints" / "best.keras").unlink() or link(run / "checkpoints" / "best.keras", "/dev/zero"),
        "predict",
        ["best.keras", "is a character device; expected a checkpoint file"],
    ),
    "checkpoint-link-loop": (
        lambda run: (run / "checkpoints" / "best.keras").unlink() or link(run / "checkpoints" / "best.keras", "best.keras"),
        "export",
        ["best.keras"],
    ),
    "metrics-fifo": (
        lambda run: (run / "metrics.json").unlink() or fifo(run / "metrics.json"),
        "evaluate",
        ["metrics.json", "FIFO"],
    ),
}


@pytest.mark.parametrize("name", list(RUN_FILE_CASES))
def test_run_folder_files_must_be_regular(name, tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    mutate, command, fragments = RUN_FILE_CASES[name]
    mutate(run)
    args = {"evaluate": ["evaluate", run], "export": ["export", run]}.get(command)
    if args is None:
        args = ["predict", run, "--input", good_input(tmp_path), "--output", tmp_path / "o.csv"]
    assert_refused(args, RUN, fragments, tmp_path)


def test_names_near_the_file_system_limit_still_work(tmp_path):
    from rnnkit.runs import atomic_write

    longest = "n" * (NAME_MAX - len(".csv")) + ".csv"
    temporary = temporary_sibling(tmp_path / longest)
    assert len(temporary.name.encode()) <= NAME_MAX and temporary.suffix == ".csv" and writer_pid(temporary) == os.getpid()
    assert temporary_sibling(tmp_path / ("m" + longest[1:])) != temporary  # shortened names stay apart
    unicode = "é" * 125 + ".json"  # 254 bytes
    assert len(temporary_sibling(tmp_path / unicode).name.encode()) <= NAME_MAX
    atomic_write(tmp_path / longest, "x")
    atomic_write(tmp_path / unicode, "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([longest, unicode])


@pytest.mark.slow
def test_predict_writes_an_output_whose_name_is_near_the_limit(tmp_path, trained_run):
    output = tmp_path / ("p" * (NAME_MAX - len(".parquet")) + ".parquet")
    result = run_cli("predict", trained_run, "--input", good_input(tmp_path), "--output", output)
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_parquet(output)) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["new.csv", output.name])


# -- 6. every exit path is clean -----------------------------------------------------------------------


def test_evaluate_refuses_a_folder_locked_by_training_before_any_work(tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    with open(run / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("pid 4242 on trainer")
        handle.flush()
        assert_refused(["evaluate", run], IO, [str(run), "in use by pid 4242 on trainer"], tmp_path)


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_links_inside_a_run_folder_never_lead_writes_outside(command, tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    name = "plots" if command == "evaluate" else "export"
    if (run / name).exists():
        shutil.rmtree(run / name)
    link(run / name, outside)
    assert_refused([command, run], RUN, [name, "is a symbolic link", "writes only inside the run folder"], tmp_path)
    assert list(outside.iterdir()) == []


def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (run / ".lock").unlink(missing_ok=True)
    link(run / ".lock", precious)
    assert_refused(["evaluate", run], RUN, [".lock", "is a symbolic link"], tmp_path)
    assert precious.read_text() == "keep me"


def test_predict_creates_a_missing_output_folder_only_once_it_succeeds(tmp_path, trained_run):
    target = tmp_path / "new" / "deeper" / "o.csv"
    bad = tmp_path / "bad.csv"
    make_series().drop(columns=["x"]).to_csv(bad, index=False)
    assert run_cli("predict", trained_run, "--input", bad, "--output", target).exit_code == DATA
    assert not (tmp_path / "new").exists()
    result = run_cli("predict", trained_run, "--input", good_input(tmp_path), "--output", target)
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_csv(target)) > 0


def test_temporary_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".o.tmp-{dead.pid}.csv"
    stale_folder = tmp_path / f".savedmodel.tmp-{dead.pid}"
    live = tmp_path / f".o.tmp-{os.getppid()}.csv"
    mine = temporary_sibling(tmp_path / "o.csv")
    for path in (stale, live, mine, tmp_path / "o.csv"):
        path.write_text("x")
    stale_folder.mkdir()
    assert sorted(remove_dead_temporaries(tmp_path)) == sorted([stale, stale_folder])
    assert live.exists() and mine.exists() and (tmp_path / "o.csv").exists()


def test_runs_filter_mistakes_are_usage_errors(tmp_path, trained_run):
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copytree(trained_run, folder / "a")
    assert_refused(["runs", folder, "--filter", "test.mae<abc"], CONFIG, ["--filter 'test.mae<abc'", "compares numbers"])
    assert_refused(["runs", folder, "--filter", "status"], CONFIG, ["--filter 'status'", "expected KEY=VALUE"])
    assert_refused(["runs", folder, "--filter", "nope=1"], CONFIG, ["unknown column 'nope'"])


def test_debug_after_the_command_says_where_it_goes(tmp_path):
    line = assert_refused(["train", "--debug", "x.yaml"], CONFIG, ["No such option '--debug' for 'train'"])
    assert "rnnkit --debug train" in line


def cli(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *map(str, args)], env=env, text=True, **kwargs)


def test_a_closed_standard_output_ends_quietly(tmp_path, trained_run):
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in "abc":
        shutil.copytree(trained_run, folder / name)
    reader, writer = os.pipe()
    os.close(reader)  # `rnnkit runs | head -0`: nobody reads
    process = cli("runs", folder, stdout=writer, stderr=subprocess.PIPE)
    os.close(writer)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and stderr == ""


def test_a_full_standard_output_is_one_line(tmp_path, trained_run):
    with open("/dev/full", "w") as full:
        process = cli("runs", trained_run.parent, stdout=full, stderr=subprocess.PIPE)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == IO
    assert stderr.strip().splitlines() == ["rnnkit: error: standard output: cannot write: disk full"]


@pytest.mark.slow
def test_sigterm_during_predict_leaves_no_output_and_no_temporary(tmp_path, trained_run):
    rows = make_series(n_series=400, length=400)
    rows.to_csv(tmp_path / "big.csv", index=False)
    target = tmp_path / "out" / "o.csv"
    process = cli(
        "predict", trained_run, "--input", tmp_path / "big.csv", "--output", target, "--chunk-rows", "2000",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob(".o.tmp-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "predict ended before it was writing"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "rnnkit: terminated (SIGTERM)"
    assert not (tmp_path / "out").exists()  # no output, no temporary, and the folder it made is gone


@pytest.mark.slow
def test_sigkilled_predict_leaves_a_temporary_that_the_next_predict_removes(tmp_path, trained_run):
    rows = make_series(n_series=400, length=400)
    rows.to_csv(tmp_path / "big.csv", index=False)
    target = tmp_path / "o.csv"
    args = ["predict", trained_run, "--input", tmp_path / "big.csv", "--output", target, "--chunk-rows", "2000"]
    process = cli(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".o.tmp-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert [writer_pid(p) for p in tmp_path.glob(".o.tmp-*")] == [process.pid]
    result = run_cli("predict", trained_run, "--input", good_input(tmp_path), "--output", target)
    assert result.exit_code == 0, result.stderr
    assert not list(tmp_path.glob(".o.tmp-*"))


@pytest.mark.slow
def test_a_multi_worker_peer_that_never_answers_is_a_bounded_wait(tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    config = yaml_file(tmp_path, BASE)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})}
    before = snapshot(tmp_path)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", config, "--set", "train.distribute=multi_worker",
         "--set", "train.worker_timeout=3"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == IO, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error: TF_CONFIG: worker 1 at 127.0.0.1:")
    assert "did not answer within 3 s (train.worker_timeout)" in lines[0]
    assert time.monotonic() - started < 120
    assert snapshot(tmp_path) == before and not (tmp_path / "runs").exists()
