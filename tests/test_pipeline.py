"""Lazy windows: gathered batches equal hand-cut windows; epochs are seeded and complete."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_series, write_config

from rnnkit.config import load_config
from rnnkit.data.pipeline import WindowCutter, num_batches, ordered_dataset, training_dataset
from rnnkit.data.prepare import prepare_training_data
from rnnkit.tasks.forecast import ForecastTask


def prepared(tmp_path, **data):
    path = tmp_path / "d.csv"
    make_series(n_series=3, length=50, trend=0.5).to_csv(path, index=False)
    return prepare_training_data(load_config(write_config(tmp_path, path, data=data)))


def training_windows(tmp_path, **data):
    """``(preprocessor, cutter, training origins)`` of three generated series."""
    pre, arrays = prepared(tmp_path, **data)
    return pre, WindowCutter(arrays.x, arrays.y, pre), arrays.origins["train"]


def test_gathered_windows_equal_hand_cut_windows(tmp_path):
    pre, arrays = prepared(tmp_path)
    origins = arrays.origins["val"]
    x, y = next(iter(ordered_dataset(WindowCutter(arrays.x, arrays.y, pre), origins, 1000)))
    for i, origin in enumerate(origins):
        np.testing.assert_array_equal(x[i], arrays.x[origin - pre.window + 1 : origin + 1])
        np.testing.assert_array_equal(y[i], arrays.y[origin + 1 : origin + 1 + pre.horizon])


def test_detrended_windows_are_relative_to_the_last_value(tmp_path):
    pre, arrays = prepared(tmp_path, detrend="last_value")
    origin = arrays.origins["train"][5]
    x, y = WindowCutter(arrays.x, arrays.y, pre).cut(np.array([origin]))
    raw = arrays.x[origin - pre.window + 1 : origin + 1]
    np.testing.assert_allclose(x[0, :, 0], raw[:, 0] - raw[-1, 0], atol=1e-6)  # y: shifted
    np.testing.assert_allclose(x[0, :, 1], raw[:, 1], atol=1e-6)  # x (exogenous): not shifted
    np.testing.assert_allclose(y[0, :, 0], arrays.y[origin + 1 : origin + 3, 0] - arrays.y[origin, 0], atol=1e-6)
    # Mapping a perfect change forecast back gives the true values in original units.
    back = pre.to_original(y.numpy(), arrays.y_raw[[origin]])
    np.testing.assert_allclose(back[0], arrays.y_raw[origin + 1 : origin + 3], rtol=1e-5)


def test_each_epoch_visits_every_window_once_in_a_seeded_order(tmp_path):
    _, cutter, origins = training_windows(tmp_path)
    steps = num_batches(len(origins), 16)

    def epochs(seed, initial=0):
        dataset = training_dataset(cutter, origins, 16, seed=seed, shuffle=True, epochs=3, initial_epoch=initial)
        batches = [x.numpy() for x, _ in dataset]
        return [np.concatenate(batches[i * steps : (i + 1) * steps]) for i in range(3 - initial)]

    first = epochs(1)
    assert len(first) == 3
    for epoch in first:
        assert epoch.shape[0] == len(origins)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], epochs(1)[0])
    assert not np.array_equal(first[0], epochs(2)[0])
    # Starting at epoch 1 (a resumed run) sees exactly the batches of epochs 1 and 2.
    resumed = epochs(1, initial=1)
    np.testing.assert_array_equal(resumed[0], first[1])
    np.testing.assert_array_equal(resumed[1], first[2])


def _cut_one_by_one(cutter, order, batch_size):
    return [cutter.cut(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def test_batches_cut_in_groups_equal_batches_cut_one_at_a_time(tmp_path, monkeypatch):
    from rnnkit.data import pipeline

    _, cutter, origins = training_windows(tmp_path)
    monkeypatch.setattr(pipeline, "GROUP_BATCHES", 3)  # several groups, the last one partial
    for group_windows in (4096, 12):  # 12: groups capped by windows (2 batches of 5, 1 of 7)
        monkeypatch.setattr(pipeline, "GROUP_WINDOWS", group_windows)
        for batch_size in (5, 7, len(origins), len(origins) + 3):  # with and without a short last batch
            got = list(ordered_dataset(cutter, origins, batch_size))
            expected = _cut_one_by_one(cutter, origins, batch_size)
            assert len(got) == len(expected) == num_batches(len(origins), batch_size)
            for (x, y), (ex, ey) in zip(got, expected, strict=True):
                np.testing.assert_array_equal(x, ex)
                np.testing.assert_array_equal(y, ey)
    shuffled = list(training_dataset(cutter, origins, 7, seed=3, shuffle=True, epochs=1))
    monkeypatch.setattr(pipeline, "GROUP_BATCHES", 1)
    one_by_one = list(training_dataset(cutter, origins, 7, seed=3, shuffle=True, epochs=1))
    for (x, y), (ex, ey) in zip(shuffled, one_by_one, strict=True):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    assert list(ordered_dataset(cutter, origins[:0], 7)) == []


def test_compiled_cut_equals_the_eager_gather(tmp_path):
    # WindowCutter.cut (XLA, used by the datasets) against inputs()/targets() (TensorFlow ops).
    for detrend in ("none", "last_value"):
        pre, arrays = prepared(tmp_path, detrend=detrend)
        cutter = WindowCutter(arrays.x, arrays.y, pre)
        origins = arrays.origins["train"]
        x, y = cutter.cut(origins)
        assert x.shape == (len(origins), pre.window, len(pre.features)) and y.shape == (len(origins), pre.horizon, 1)
        np.testing.assert_allclose(x, cutter.inputs(origins), rtol=0, atol=1e-6)
        np.testing.assert_allclose(y, cutter.targets(origins), rtol=0, atol=1e-6)
        if detrend == "none":  # a pure copy: bit for bit
            np.testing.assert_array_equal(x, arrays.x[origins[:, None] + np.arange(-pre.window + 1, 1)])
        inputs_only = list(ordered_dataset(cutter, origins, 7, with_targets=False))  # one tensor per element
        assert [len(b) for b in inputs_only] == [7] * (len(origins) // 7) + ([len(origins) % 7] if len(origins) % 7 else [])
        np.testing.assert_array_equal(np.concatenate(inputs_only), cutter.inputs(origins))


def test_rows_reach_tensorflow_without_a_copy_when_aligned():
    from rnnkit.data.pipeline import rows_variable
    from rnnkit.data.schema import aligned_empty

    rows = aligned_empty((10, 3))
    rows[:] = np.arange(30, dtype=np.float32).reshape(10, 3)
    variable = rows_variable(rows)
    rows[4, 1] = -1.0  # the variable reads the array's own memory
    assert variable.read_value().numpy()[4, 1] == -1.0
    frozen = np.arange(30, dtype=np.float32).reshape(10, 3)
    frozen.flags.writeable = False  # not exportable: copied once, same values
    np.testing.assert_array_equal(rows_variable(frozen).read_value().numpy(), frozen)
    np.testing.assert_array_equal(rows_variable(frozen[:, ::2]).read_value().numpy(), frozen[:, ::2])


def test_forecast_in_padded_batches_equals_the_plain_model(tmp_path):
    from rnnkit.config import ModelConfig
    from rnnkit.models import build_model
    from rnnkit.tasks.forecast import forecast

    # several series, not a multiple of the batch
    pre, cutter, origins = training_windows(tmp_path, detrend="last_value", horizon=2)
    model = build_model(ModelConfig(cell="lstm", units=[6], dense=[]), **ForecastTask().model_kwargs(pre))
    infer = ForecastTask()._inference(model, pre)  # what evaluation and predict run: XLA, any batch size
    expected = model(cutter.inputs(origins), training=False).numpy()
    for batch in (7, len(origins), 4 * len(origins)):  # short last batch, exact fit, one padded batch
        got = forecast(infer, cutter, origins, batch)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(forecast(infer, cutter, origins[-1:], 16), expected[-1:], atol=1e-6)  # one window


def test_forecast_streams_do_not_change_the_outputs(tmp_path):
    from rnnkit.config import ModelConfig
    from rnnkit.models import build_model
    from rnnkit.tasks.forecast import forecast

    pre, cutter, origins = training_windows(tmp_path, horizon=2)
    model = build_model(ModelConfig(cell="gru", units=[5, 4], dense=[]), **ForecastTask().model_kwargs(pre))
    infer = ForecastTask()._inference(model, pre)
    results = {streams: forecast(infer, cutter, origins, 5, streams=streams) for streams in (1, 2, 3)}  # many short batches
    assert results[1].shape == (len(origins), 2, 1)
    np.testing.assert_array_equal(results[2], results[1])  # bit for bit, in order: each batch is computed alone
    np.testing.assert_array_equal(results[3], results[1])
    np.testing.assert_allclose(results[1], model(cutter.inputs(origins), training=False).numpy(), atol=1e-6)


def _recording_infer(fail_on=None, action=None):
    # An infer that records which thread ran each batch and runs action() on the batch of windows
    # whose first input equals fail_on (chosen by content, so which thread gets it does not matter).
    import threading

    lock, calls = threading.Lock(), []

    def infer(x):
        with lock:
            calls.append(threading.get_ident())
        if fail_on is not None and np.array_equal(x.numpy()[0], fail_on):
            action()
        return x[:, -1:, :1]

    return infer, calls


def test_forecast_runs_two_streams_on_a_cpu_and_one_on_a_gpu(tmp_path, monkeypatch):
    import threading

    import tensorflow as tf

    from rnnkit.tasks.forecast import forecast

    _, cutter, origins = training_windows(tmp_path)
    infer, calls = _recording_infer()
    expected = cutter.inputs(origins).numpy()[:, -1:, :1]
    np.testing.assert_array_equal(forecast(infer, cutter, origins, 4), expected)
    assert len(set(calls)) == 2 and threading.get_ident() not in calls  # two worker threads
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["/GPU:0"] if kind == "GPU" else [])
    calls.clear()
    np.testing.assert_array_equal(forecast(infer, cutter, origins, 4), expected)
    assert set(calls) == {threading.get_ident()}  # a GPU: one batch at a time, as before the streams


@pytest.mark.parametrize("interrupt", ["error", "ctrl-c"])
def test_forecast_stops_soon_after_a_failing_batch(tmp_path, interrupt, python_sigint):
    import _thread

    from rnnkit.tasks.forecast import forecast

    _, cutter, origins = training_windows(tmp_path)
    batches = num_batches(len(origins), 2)
    third = cutter.inputs(origins[4:5]).numpy()[0]  # the first window of the third batch

    def error():
        raise ValueError("bad batch")

    # ctrl-c: SIGINT as Python delivers it, to the main thread while it waits for a batch.
    action = error if interrupt == "error" else _thread.interrupt_main
    infer, calls = _recording_infer(fail_on=third, action=action)
    with pytest.raises(ValueError if interrupt == "error" else KeyboardInterrupt):
        forecast(infer, cutter, origins, 2, streams=2)
    assert batches > 30
    assert len(calls) < 12  # the running batches finish and a few more; the rest are never queued


def test_forecast_threads_run_at_most_a_batch_ahead_of_the_caller():
    import threading
    import time

    from rnnkit.tasks.base import in_order

    lock, started, taken = threading.Lock(), [0], [0]
    ahead = []

    def work(item):
        with lock:
            started[0] += 1
            ahead.append(started[0] - taken[0])
        return item * item

    results = []
    for value in in_order(work, range(40), 2):  # a slow caller: the threads must wait for it
        with lock:
            taken[0] += 1
        results.append(value)
        time.sleep(0.002)
    assert results == [i * i for i in range(40)]
    assert max(ahead) <= 3  # two running and one waiting, not the whole list queued up front
