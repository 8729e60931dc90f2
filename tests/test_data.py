"""Data preparation: splits, leakage, window boundaries, cleaning errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_series, write_config

from rnnkit.config import load_config
from rnnkit.data.prepare import prepare_training_data
from rnnkit.errors import DataError


def prepared(tmp_path: Path, frame: pd.DataFrame, **sections):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return prepare_training_data(load_config(write_config(tmp_path, path, **sections)))


def test_validation_and_test_rows_never_reach_the_scaler(tmp_path):
    frame = make_series(n_series=2, length=50)
    poisoned = frame.copy()
    # Make every held-out row enormous: if any reached the scaler, its mean would explode.
    position = poisoned.groupby("id").cumcount()
    poisoned.loc[position >= 30, ["y", "x"]] = 1e9
    pre_clean, _ = prepared(tmp_path, frame)
    pre_poisoned, arrays = prepared(tmp_path, poisoned)
    assert pre_poisoned.center == pytest.approx(pre_clean.center)
    assert pre_poisoned.spread == pytest.approx(pre_clean.spread)
    train_rows = frame[position < 30]
    assert pre_poisoned.center["y"] == pytest.approx(train_rows["y"].mean())
    assert (arrays.row_split[position.to_numpy() >= 30] > 0).all()


def test_splits_are_chronological_per_series(tmp_path):
    _, arrays = prepared(tmp_path, make_series(n_series=3, length=50))
    for start, end in zip(arrays.starts, arrays.ends):
        codes = arrays.row_split[start:end]
        assert list(codes) == sorted(codes)
        assert (codes == 0).sum() == 30 and (codes == 1).sum() == 10 and (codes == 2).sum() == 10


def test_no_window_crosses_a_series_boundary(tmp_path):
    pre, arrays = prepared(tmp_path, make_series(n_series=4, length=40), data={"stride": 1})
    ids = np.repeat(np.arange(len(arrays.series)), arrays.ends - arrays.starts)
    for split, origins in arrays.origins.items():
        assert len(origins), split
        first = ids[origins - pre.window + 1]
        last = ids[origins + pre.horizon]
        assert (first == last).all(), split


def test_held_out_windows_take_targets_only_from_their_split(tmp_path):
    pre, arrays = prepared(tmp_path, make_series(n_series=2, length=50))
    for split, code in (("val", 1), ("test", 2)):
        origins = arrays.origins[split]
        targets = origins[:, None] + np.arange(1, pre.horizon + 1)
        assert (arrays.row_split[targets] == code).all()
    # The first test window reads inputs from before the split point (validation rows).
    first = arrays.origins["test"][0]
    assert arrays.row_split[first - pre.window + 1] < 2
    # Every target row of the test part is covered by some window.
    test_rows = np.flatnonzero(arrays.row_split == 2)
    covered = np.unique(arrays.origins["test"][:, None] + np.arange(1, pre.horizon + 1))
    assert set(test_rows) == set(covered)


def test_training_windows_use_training_rows_only(tmp_path):
    pre, arrays = prepared(tmp_path, make_series(n_series=2, length=50))
    origins = arrays.origins["train"]
    rows = origins[:, None] + np.arange(-pre.window + 1, pre.horizon + 1)
    assert (arrays.row_split[rows] == 0).all()


def test_stride_thins_training_windows_only(tmp_path):
    _, dense = prepared(tmp_path, make_series(n_series=1, length=60))
    _, strided = prepared(tmp_path, make_series(n_series=1, length=60), data={"stride": 3})
    assert len(strided.origins["train"]) == -(-len(dense.origins["train"]) // 3)
    assert len(strided.origins["test"]) == len(dense.origins["test"])


def test_explicit_val_and_test_files_continue_each_series(tmp_path):
    frame = make_series(n_series=2, length=60)
    position = frame.groupby("id").cumcount()
    frame[position < 40].to_csv(tmp_path / "train.csv", index=False)
    frame[(position >= 40) & (position < 50)].to_csv(tmp_path / "val.csv", index=False)
    frame[position >= 50].to_csv(tmp_path / "test.csv", index=False)
    config = load_config(
        write_config(
            tmp_path,
            tmp_path / "train.csv",
            data={"val_path": str(tmp_path / "val.csv"), "test_path": str(tmp_path / "test.csv")},
        )
    )
    pre, arrays = prepare_training_data(config)
    assert [(arrays.row_split == c).sum() for c in range(3)] == [80, 20, 20]
    assert pre.center["y"] == pytest.approx(frame[position < 40]["y"].mean())
    # Test windows may read inputs from the validation file of the same series.
    assert len(arrays.origins["test"]) == 2 * (10 - pre.horizon + 1)


def test_unsorted_rows_are_ordered_by_series_and_time(tmp_path):
    frame = make_series(n_series=2, length=40)
    _, ordered = prepared(tmp_path, frame)
    _, shuffled = prepared(tmp_path, frame.sample(frac=1.0, random_state=1))
    np.testing.assert_array_equal(ordered.x, shuffled.x)


def test_missing_policies(tmp_path):
    frame = make_series(n_series=1, length=40)
    frame.loc[5, "x"] = np.nan
    with pytest.raises(DataError, match=r"d\.csv: line 7, column 'x': missing value; set data.missing"):
        prepared(tmp_path, frame)
    _, dropped = prepared(tmp_path, frame, data={"missing": "drop"})
    assert len(dropped.x) == 39
    _, filled = prepared(tmp_path, frame, data={"missing": "ffill"})
    assert len(filled.x) == 40
    np.testing.assert_allclose(filled.x[5, 1], filled.x[4, 1])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(y=f["y"].astype(object).where(f.index != 3, "abc")), r"line 5, column 'y': 'abc' is not a number"),
        (lambda f: f.assign(x=f["x"].where(f.index != 2, np.inf)), r"line 4, column 'x': inf is not a finite number"),
        (
            lambda f: pd.concat([f, f.iloc[[4]]]),
            r"series 's0', column 'date': time 2024-01-05 00:00:00 appears more than once \(line 6 and line 42\)",
        ),
        (
            lambda f: f.assign(date=f["date"].where(f.index != 6, "soon")),
            r"line 8, column 'date': 'soon' is neither a number nor a date",
        ),
        (
            lambda f: f.assign(date=f["date"].where(f.index != 3, "2024-01-04T00:00:00+01:00")),
            r"line 2, column 'date': '2024-01-01' has no UTC offset, but other times in the column have one",
        ),
        (lambda f: f.drop(columns=["x"]), r"column 'x' not found"),
        (lambda f: f.rename(columns={"y": "Y"}), r"column 'y' not found; did you mean 'Y'\? Columns: id, date, Y, x"),
        (lambda f: f.iloc[:0], r"no data rows \(header only\)"),
        (lambda f: f.iloc[:12], r"no training windows: each series needs at least data.window \+ data.horizon = 10"),
    ],
)
def test_bad_data_is_named_by_file_line_and_column(tmp_path, mutate, message):
    with pytest.raises(DataError, match=message) as info:
        prepared(tmp_path, mutate(make_series(n_series=1, length=40)))
    assert "d.csv" in str(info.value)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "d.csv", "file is empty"),
        (b"id;date;y;x\ns0;2024-01-01;1;2\n", "d.csv", "header looks semicolon-separated"),
        (b"\x80\x04\x95\x00", "d.csv", "looks like a Python pickle"),
        (b"abcd", "d.parquet", "not a Parquet file"),
        (b"x", "d.pkl", "unsupported input format '.pkl'"),
        (b"id,date,y,x\n\xff\xfe,1,2,3\n", "d.csv", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        prepare_training_data(load_config(write_config(tmp_path, path)))


def test_urls_and_directories_are_refused(tmp_path):
    with pytest.raises(DataError, match="URLs are not read"):
        prepare_training_data(load_config(write_config(tmp_path, "https://example.com/d.csv")))
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        prepare_training_data(load_config(write_config(tmp_path, tmp_path / "dir.csv")))


def test_parquet_input_matches_csv(tmp_path):
    frame = make_series(n_series=2, length=40)
    _, from_csv = prepared(tmp_path, frame)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    _, from_parquet = prepare_training_data(load_config(write_config(tmp_path, tmp_path / "d.parquet")))
    np.testing.assert_allclose(from_csv.x, from_parquet.x)


def test_detrend_scales_targets_by_training_differences(tmp_path):
    frame = make_series(n_series=1, length=60, trend=1.0)
    pre, _ = prepared(tmp_path, frame, data={"detrend": "last_value"})
    train = frame["y"].iloc[:36].to_numpy()
    assert pre.center["y"] == 0.0
    assert pre.spread["y"] == pytest.approx(np.diff(train).std())
    assert pre.detrended_features == [True, False]


def test_a_labelled_stream_uses_the_fitted_preprocessor(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    pre, _ = prepared(tmp_path, make_series(n_series=2, length=40))
    other = tmp_path / "other.csv"
    make_series(n_series=1, length=20, seed=5).to_csv(other, index=False)
    blocks = list(ForecastStream(pre, other, labelled=True).blocks())
    assert sum(len(b.origins) for b in blocks) == 20 - pre.window - pre.horizon + 1
    raw = pd.read_csv(other)
    np.testing.assert_allclose(blocks[0].x[:, 0], (raw["y"] - pre.center["y"]) / pre.spread["y"], rtol=1e-5)


def test_parquet_columns_read_one_at_a_time_equal_pandas(tmp_path):
    from rnnkit.data.readers import read_table

    frame = pd.DataFrame(
        {
            "v": [1.5, np.nan, 2.0],
            "n": [1, 2, 3],
            "s": ["007", None, "x"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        },
        index=[5, 5, 7],  # a stored, repeating index comes back as written
    )
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    columns = ["t", "v", "s", "n"]
    pd.testing.assert_frame_equal(read_table(path, columns), pd.read_parquet(path, columns=columns))


def test_one_series_without_id_splits_like_one_series_with_id(tmp_path):
    frame = make_series(n_series=1, length=97)
    split = {"val": 0.4, "test": 0.35}
    _, with_id = prepared(tmp_path, frame, data={"split": split})
    _, without = prepared(tmp_path, frame.drop(columns=["id"]), data={"id": None, "split": split})
    np.testing.assert_array_equal(without.row_split, with_id.row_split)
    assert np.bincount(without.row_split).tolist() == [97 - 39 - 34, 39, 34]  # rint(97 * 0.4), rint(97 * 0.35)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(without.origins[name], with_id.origins[name])
    np.testing.assert_array_equal(without.x, with_id.x)


def test_prediction_stream_reads_interleaved_series_in_any_chunks_as_each_series_alone(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    pre, _ = prepared(tmp_path, make_series(n_series=2, length=40), data={"window": 5, "missing": "ffill"})
    rng = np.random.default_rng(3)
    parts = []
    for index, length in enumerate([30, 3, 12, 5, 21]):  # s1 is shorter than a window
        part = make_series(n_series=1, length=length, seed=index).assign(id=f"s{index}")
        part.loc[rng.random(length) < 0.15, "x"] = np.nan  # gaps, filled forward within the series
        parts.append(part.assign(order=np.arange(length) * 4 + rng.random(length) * 4))  # in time order
    parts[4].loc[:1, "y"] = np.nan  # leading gaps: those rows are dropped
    parts[4].loc[:1, "x"] = [0.25, 0.5]  # ... but their x fills the next rows' gap, in whichever chunk
    parts[4].loc[2:3, "x"] = np.nan
    frame = pd.concat(parts).sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)

    expected, kept = {}, {}  # (id, time) -> the window, from each series alone; rows kept per series
    for part in parts:
        rows = part.drop(columns="order").ffill().dropna().reset_index(drop=True)
        kept[rows["id"][0]] = len(rows)
        rows["date"] = pd.to_datetime(rows["date"])
        inputs = pre.transform_inputs(rows)
        for origin in range(pre.window - 1, len(rows)):
            expected[rows["id"][origin], rows["date"][origin]] = inputs[origin - pre.window + 1 : origin + 1]
    for chunk_rows in (1, 4, 9, 1_000):
        stream = ForecastStream(pre, path, chunk_rows=chunk_rows)
        found = {}
        for block in stream.blocks():
            for origin, key, time in zip(block.origins, block.ids, block.times, strict=True):
                assert (key, time) not in found
                found[key, pd.Timestamp(time)] = block.x[origin - pre.window + 1 : origin + 1]
        assert found.keys() == expected.keys()
        for key, window in expected.items():
            np.testing.assert_array_equal(found[key], window)
        assert (stream.series_seen, stream.short_series, stream.rows_read) == (5, 1, len(frame))
        last = list(ForecastStream(pre, path, chunk_rows=chunk_rows).blocks(last_only=True))
        appearing = [key for key in frame["id"].drop_duplicates() if key != "s1"]  # s1 has no window
        assert len(last) == 1 and list(last[0].ids) == appearing
        ends = [max(time for key_, time in expected if key_ == key) for key in last[0].ids]
        assert [pd.Timestamp(time) for time in last[0].times] == ends

    # Without a time column an origin is named by its row within its series, counted across chunks.
    path = tmp_path / "untimed.csv"
    frame.drop(columns="date").to_csv(path, index=False)
    untimed = dataclasses.replace(pre, time=None, time_kind=None)
    blocks = list(ForecastStream(untimed, path, chunk_rows=4).blocks())
    names = pd.DataFrame({"id": np.concatenate([b.ids for b in blocks]), "origin": np.concatenate([b.times for b in blocks])})
    origins = {key: list(range(pre.window - 1, rows)) for key, rows in kept.items() if rows >= pre.window}
    assert names.groupby("id")["origin"].agg(list).to_dict() == origins

    # A step back in time is named by series and time, wherever the chunks split the series.
    frame.loc[(frame["id"] == "s2").to_numpy().nonzero()[0][7], "date"] = "2024-01-02"
    frame.to_csv(path, index=False)
    for chunk_rows in (4, 1_000):
        with pytest.raises(DataError, match=r"series 's2', column 'date': time 2024-01-02 00:00:00 does not come after"):
            list(ForecastStream(pre, path, chunk_rows=chunk_rows).blocks())


def test_a_labelled_stream_yields_each_window_once_its_targets_have_arrived(tmp_path):
    """evaluate --data: every complete window (inputs and the horizon rows after it) of every
    series, once, whatever the chunks; each series carries window - 1 + horizon rows."""
    from rnnkit.data.predict_stream import ForecastStream

    pre, _ = prepared(tmp_path, make_series(n_series=2, length=40), data={"window": 5, "horizon": 3, "missing": "ffill"})
    rng = np.random.default_rng(4)
    parts = []
    for index, length in enumerate([30, 7, 8, 12, 21]):  # s1 is one row short of a complete window
        part = make_series(n_series=1, length=length, seed=index).assign(id=f"s{index}")
        part.loc[(rng.random(length) < 0.15) & (np.arange(length) > 2), "x"] = np.nan  # gaps after the leading ones
        parts.append(part.assign(order=np.arange(length) * 4 + rng.random(length) * 4))
    parts[4].loc[:1, "y"] = np.nan  # leading gaps: those rows are dropped
    parts[4].loc[:1, "x"] = [0.25, 0.5]  # ... but their x fills the next rows' gap, in whichever chunk
    parts[4].loc[2:3, "x"] = np.nan
    frame = pd.concat(parts).sort_values("order", kind="stable").drop(columns="order").reset_index(drop=True)
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)

    expected = {}  # (id, origin time) -> (window inputs, the targets after it, the row's position in its series)
    for part in parts:
        rows = part.drop(columns="order").ffill().dropna().reset_index(drop=True)
        rows["date"] = pd.to_datetime(rows["date"])
        inputs = pre.transform_inputs(rows)
        for origin in range(pre.window - 1, len(rows) - pre.horizon):
            after = rows["y"].to_numpy()[origin + 1 : origin + 1 + pre.horizon]
            expected[rows["id"][origin], rows["date"][origin]] = (inputs[origin - pre.window + 1 : origin + 1], after, origin)
    ranks = {key: rank for rank, key in enumerate(frame["id"].drop_duplicates())}
    for chunk_rows in (3, 10, 1_000):
        found = {}
        for block in ForecastStream(pre, path, chunk_rows=chunk_rows, labelled=True).blocks():
            known = block.known
            for origin, key, time in zip(block.origins, block.ids, block.times, strict=True):
                assert (key, pd.Timestamp(time)) not in found
                assert known.ranks[origin] == ranks[key] and pd.Timestamp(known.times[origin]) == pd.Timestamp(time)
                window = block.x[origin - pre.window + 1 : origin + 1]
                found[key, pd.Timestamp(time)] = (
                    window,
                    known.targets[origin + 1 : origin + 1 + pre.horizon, 0],
                    known.positions[origin],
                )
        assert found.keys() == expected.keys(), chunk_rows
        for key, (window, after, position) in expected.items():
            np.testing.assert_array_equal(found[key][0], window)
            np.testing.assert_array_equal(found[key][1], after)
            assert found[key][2] == position


def test_prediction_stream_reads_csv_ids_as_written(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    pre, _ = prepared(tmp_path, make_series(n_series=2, length=40), data={"window": 5})
    frame = pd.concat([make_series(n_series=1, length=20).assign(id=key) for key in ("007", "7", "A1")], ignore_index=True)
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    # Chunks of 15 rows: the first holds only "007" (numbers, were it parsed), the second "007" and "7".
    blocks = list(ForecastStream(pre, path, chunk_rows=15).blocks())
    ids = pd.Series(np.concatenate([block.ids for block in blocks]))
    assert ids.value_counts().to_dict() == {"007": 16, "7": 16, "A1": 16}  # 20 - 5 + 1 windows each
    assert ids.drop_duplicates().tolist() == ["007", "7", "A1"]
    numbered = frame.assign(id=frame["id"].map({"007": 1, "7": 2, "A1": 3}))  # a Parquet id keeps its stored type
    numbered.to_parquet(tmp_path / "numbered.parquet", index=False)
    [block] = ForecastStream(pre, tmp_path / "numbered.parquet").blocks()
    assert sorted(set(block.ids)) == [1, 2, 3]


def test_prediction_stream_names_origins_as_read_in_their_chunk_and_may_forecast_nothing(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    frame = make_series(n_series=1, length=40).assign(date=np.arange(40))  # numeric times
    pre, _ = prepared(tmp_path, frame, data={"window": 3, "missing": "ffill"})
    path = tmp_path / "new.csv"
    path.write_text("id,date,y,x\na,1.5,1,1\na,2.5,2,1\na,3,3,1\nb,1,1,1\nb,2,2,1\nb,3,3,1\nb,4,4,1\nb,5,5,1\n")
    # Chunks of 6 rows: pandas reads the first chunk's times as floats, the second's as integers.
    times = [block.times for block in ForecastStream(pre, path, chunk_rows=6).blocks()]
    assert [t.dtype.kind for t in times] == ["f", "i"] and times[1].tolist() == [4, 5]
    # Window 1, every row incomplete: nothing to forecast, and no error.
    window_one = dataclasses.replace(pre, window=1)
    path.write_text("id,date,y,x\na,1,,1\nb,1,,2\n")
    assert list(ForecastStream(window_one, path).blocks(last_only=True)) == []


def test_times_with_several_utc_offsets_are_read_as_utc_and_mixed_offsets_are_refused(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    frame = make_series(n_series=1, length=40)
    local = pd.date_range("2024-03-10", periods=40, freq="D", tz="Europe/Berlin")  # +0100, +0200 from 31 March
    frame["date"] = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    pre, arrays = prepared(tmp_path, frame, data={"window": 5})
    assert len(arrays.x) == 40
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    for chunk_rows in (7, 1_000):  # the offset changes inside a chunk, or between chunks
        times = np.concatenate([b.times for b in ForecastStream(pre, path, chunk_rows=chunk_rows).blocks()])
        assert str(pd.Series(times).dt.tz) == "UTC" and len(times) == 40 - 5 + 1
    # Times with an offset after times without one, in another chunk.
    naive = make_series(n_series=1, length=20)
    naive.loc[10:, "date"] = naive.loc[10:, "date"] + "T00:00:00+01:00"
    naive.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"line 12, column 'date': times with a UTC offset after times without one"):
        list(ForecastStream(pre, path, chunk_rows=10).blocks())


def test_window_one_fills_a_gap_at_the_start_of_a_chunk_from_the_chunk_before(tmp_path):
    from rnnkit.data.predict_stream import ForecastStream

    pre, _ = prepared(tmp_path, make_series(n_series=1, length=40), data={"window": 1, "horizon": 1, "missing": "ffill"})
    frame = make_series(n_series=1, length=12)
    frame.loc[[4, 5, 9], "x"] = np.nan
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    for chunk_rows in (1, 4, 5, 1_000):
        blocks = list(ForecastStream(pre, path, chunk_rows=chunk_rows).blocks())
        assert sum(len(b.origins) for b in blocks) == 12  # every row forecasts, its gap filled
        inputs = np.concatenate([b.x[b.origins] for b in blocks])
        np.testing.assert_array_equal(inputs[[4, 5, 9], 1], inputs[[3, 3, 8], 1])  # x


def test_rows_are_handed_over_aligned_for_tensorflow(tmp_path):
    from rnnkit.data.schema import ALIGN_BYTES, aligned_empty

    _, arrays = prepared(tmp_path, make_series(n_series=2, length=40))
    for array in (arrays.x, arrays.y, aligned_empty((3, 5)), aligned_empty((1001,), np.int32)):
        assert array.ctypes.data % ALIGN_BYTES == 0
        assert array.flags.c_contiguous and array.flags.writeable


# -- CSV output -------------------------------------------------------------------------------


def _awkward_floats(rng, n: int, dtype) -> np.ndarray:
    """Floats across every magnitude numpy writes positionally or with an exponent, and the edges."""
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-45, 45, n)
    values[: n // 4] = np.round(values[: n // 4])  # whole numbers: numpy writes "3.0", Arrow "3"
    edges = [0.0, -0.0, 1.0, -1.0, 1e-4, 9.999e-5, 1e-5, 1e15, 1e16, 9.999999e15, 123456789012.5, 2.5e-7, 0.1]
    edges += [999999.5, 1000000.5, 1e6, np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308, 1e-45]
    values = np.concatenate([values, edges])
    if dtype == np.float32:
        values = np.where(np.isfinite(values), np.clip(values, -3.4e38, 3.4e38), values)  # float32's range
    values = values.astype(dtype)
    rng.shuffle(values)
    return values


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csv_text_writes_exactly_what_pandas_writes(dtype):
    from rnnkit.data.predict_stream import csv_text

    rng = np.random.default_rng(0)
    n = 50_000
    stamps = pd.Series(pd.date_range("2023-01-01", periods=n, freq="D"))
    frame = pd.DataFrame(
        {
            "id": rng.choice(["S01", "a b", "", "ünï", " lead"], n),
            "date": stamps,
            "when": (stamps + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")).where(rng.random(n) > 0.1),
            "zoned": stamps.dt.tz_localize("Europe/Paris"),
            "step": rng.integers(-5, 10**12, n),
            "label": pd.Series(rng.choice(["up", "down", None], n), dtype=object),
            "y_h1": _awkward_floats(rng, n - 22, dtype),
            "y_h2": rng.normal(100, 20, n).astype(dtype),
        }
    )
    for header in (True, False):
        assert csv_text(frame, header=header) == frame.to_csv(index=False, header=header)
    assert csv_text(frame[["date", "y_h2"]]) == frame[["date", "y_h2"]].to_csv(index=False)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"id": ["a,b", "c"], "y": [1.5, 2.5]}),  # a value CSV must quote
        pd.DataFrame({"id": ['say "hi"', "c"], "y": [1.5, 2.5]}),
        pd.DataFrame({"id": ["line\nbreak", "c"], "y": [1.5, 2.5]}),
        pd.DataFrame({"a,b": ["x", "c"], "y": [1.5, 2.5]}),  # a name CSV must quote
        pd.DataFrame({"id": ["", "c"]}),  # one column: a lone empty field is written ""
        pd.DataFrame({"flag": [True, False], "y": [1.5, 2.5]}),  # a type the fast path does not know
        pd.DataFrame({"id": pd.Series([1, "x"], dtype=object), "y": [1.5, 2.5]}),  # not all strings
        pd.DataFrame({"kind": pd.Categorical(["a", "b"]), "y": [1.5, 2.5]}),
        pd.DataFrame({"id": pd.Series([b"ab", b"cd"], dtype=object), "y": [1.5, 2.5]}),  # bytes: pandas writes b'ab'
        pd.DataFrame({"id": ["a", "b"], "n": np.array([1, 2], dtype=">i8")}),  # an array Arrow does not take
        pd.DataFrame({"id": ["a", "b"], "d": pd.Series(pd.to_datetime(["2020-01-01", None])).astype("Sparse[datetime64[ns]]")}),
    ],
)
def test_csv_text_leaves_to_pandas_what_it_cannot_write_exactly(frame):
    from rnnkit.data.predict_stream import csv_text

    assert csv_text(frame) is None


def test_csv_text_lays_out_dates_block_by_block_as_pandas_does():
    from rnnkit.data.predict_stream import csv_text

    # to_csv decides a date column's layout for each block of 100,000 cells: date only when every
    # time in the block is midnight, fraction digits as the block needs.
    n = 11_112  # nine columns: blocks of 11,111 rows, the last row alone in the second
    dates = pd.Series(pd.date_range("2020-01-01", periods=n, freq="D"))
    dates.iloc[-1] += pd.Timedelta(hours=12)
    frame = pd.DataFrame({"store": "S1", "date": dates, **{f"y_h{k}": np.linspace(0, 1, n) for k in range(1, 8)}})
    assert csv_text(frame) == frame.to_csv(index=False)
    assert "S1,2020-01-01,0.0," in csv_text(frame)
    seconds = pd.Series(pd.date_range("2020-01-01", periods=50_001, freq="s"))
    seconds.iloc[-1] += pd.Timedelta(milliseconds=123)
    for column in (seconds, seconds.dt.tz_localize("UTC")):
        frame = pd.DataFrame({"a": "x", "d": column})
        assert csv_text(frame) == frame.to_csv(index=False)


def test_output_writer_csv_equals_one_pandas_write(tmp_path):
    from rnnkit.data.predict_stream import OutputWriter, csv_text

    rng = np.random.default_rng(1)
    pieces = [
        pd.DataFrame({"id": ["a", "b"], "y": _awkward_floats(rng, 2, np.float64)[:2]}),
        pd.DataFrame({"id": ["c,d", "e"], "y": [0.5, np.nan]}),  # written by pandas
        pd.DataFrame({"id": ["f", "g"], "y": [1.0, 1e-5]}),
    ]
    assert [csv_text(piece) is None for piece in pieces] == [False, True, False]  # both writers in turn
    with OutputWriter(tmp_path / "out.csv") as writer:
        for piece in pieces:
            writer.write(piece)
    assert (tmp_path / "out.csv").read_text() == pd.concat(pieces).to_csv(index=False)


def with_times(frame: pd.DataFrame, times_of) -> pd.DataFrame:
    """``frame`` with each series' time column replaced by ``times_of(series index, length)``."""
    parts = [part.assign(date=times_of(index, len(part))) for index, (_, part) in enumerate(frame.groupby("id", sort=False))]
    return pd.concat(parts, ignore_index=True)


def dates(freq: str, start: str = "2021-01-01"):
    return lambda index, n: pd.date_range(start, periods=n, freq=freq).strftime("%Y-%m-%d %H:%M")


def skip_one(index: int, n: int):  # a day missing from series 1's training rows
    days = pd.date_range("2021-01-01", periods=n + 1, freq="D")
    return days.delete(5 if index == 1 else n).strftime("%Y-%m-%d")


def late_gap(index: int, n: int):  # a day missing among the held-out (test) rows only
    return pd.date_range("2021-01-01", periods=n + 1, freq="D").delete(n - 2).strftime("%Y-%m-%d")


@pytest.mark.parametrize(
    ("times_of", "expected"),
    [
        (lambda index, n: np.arange(n), 1),
        (lambda index, n: 100 + 5 * np.arange(n), 5),
        (lambda index, n: 0.5 * np.arange(n) + index, 0.5),
        (dates("D"), "D"),
        (dates("h"), "h"),
        (dates("MS"), "MS"),
        (dates("W-SUN"), "W-SUN"),
        (lambda index, n: np.arange(n) ** 2, None),  # numbers, irregular
        (skip_one, None),
        (late_gap, "D"),  # the step is inferred from training rows
        (lambda index, n: dates("W-SUN" if index == 0 else "W-MON")(index, n), None),  # series disagree
    ],
    ids=[
        "step-1",
        "step-5",
        "step-0.5",
        "daily",
        "hourly",
        "month-start",
        "weekly",
        "numbers-irregular",
        "a-day-missing",
        "gap-in-held-out-rows",
        "weeks-on-two-anchors",
    ],
)
def test_the_regular_time_step_is_inferred_from_training_rows(tmp_path, times_of, expected):
    pre, _ = prepared(tmp_path, with_times(make_series(n_series=2, length=40), times_of))
    assert pre.time_step == expected and type(pre.time_step) is type(expected)


def test_no_time_column_has_no_step_and_step_times_follow_the_calendar(tmp_path):
    pre, _ = prepared(tmp_path, make_series(n_series=2, length=40).drop(columns="date"), data={"time": None})
    assert pre.time_step is None and pre.step_times(np.arange(3)) is None
    monthly, _ = prepared(tmp_path, with_times(make_series(n_series=2, length=40), dates("MS", "2019-01-01")))
    origins = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-12-01"]).to_numpy()
    steps = monthly.step_times(origins)
    assert [list(step.strftime("%Y-%m-%d")) for step in steps] == [
        ["2024-02-01", "2024-03-01", "2025-01-01"],
        ["2024-03-01", "2024-04-01", "2025-02-01"],
    ]
    numeric, _ = prepared(tmp_path, with_times(make_series(n_series=2, length=40), lambda index, n: 5 * np.arange(n)))
    assert [list(step) for step in numeric.step_times(np.array([10, 35]))] == [[15, 40], [20, 45]]


def test_an_output_column_named_twice_is_refused_before_any_work(tmp_path):
    from rnnkit.data.predict_stream import TABLES
    from rnnkit.errors import ConfigError

    frame = make_series(n_series=2, length=40).rename(columns={"y": "step"})
    pre, _ = prepared(tmp_path, frame, data={"features": ["step", "x"], "target": "step"})
    assert TABLES["wide"](pre).columns == ["id", "origin_date", "date_h1", "date_h2", "step_h1", "step_h2"]
    with pytest.raises(ConfigError, match=r"--format long: the output would have two columns named 'step'"):
        TABLES["long"](pre)
