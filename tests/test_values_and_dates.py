"""Dates read with one format per column, and values as people write them (BOM headers, numbers
too large to scale, values far outside the training range, nested Parquet columns).

Hostile cases follow tests/test_hostile_inputs.py: each builds its files, runs one command, and
checks the exit code, a single ``rnnkit: error:`` line naming the file and the column or line,
and that no file was created or changed. Cases refused before training are fast; cases run
against a trained run are marked slow, as are the positive end-to-end tests that train.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from conftest import assert_refused, make_sequences, make_series, write_config

from rnnkit.cli import cli
from rnnkit.config import load_config
from rnnkit.data.prepare import prepare_training_data
from rnnkit.data.schema import Preprocessor
from rnnkit.data.sequences import prepare_sequences
from rnnkit.errors import DataError

CONFIG, DATA = 2, 3


def series(length: int = 40, n_series: int = 2, time_format: str | None = None) -> pd.DataFrame:
    """make_series, its dates written with ``time_format`` (ISO dates when None)."""
    frame = make_series(n_series=n_series, length=length)
    if time_format is not None:
        frame["date"] = pd.to_datetime(frame["date"]).dt.strftime(time_format)
    return frame


def with_cell(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame


def nested(frame: pd.DataFrame, column: str, kind: str) -> pa.Table:
    """The frame as an Arrow table whose ``column`` holds each value inside a struct, list or map."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    values = frame[column].tolist()
    arrays = {
        "struct": lambda: pa.array([{"v": v} for v in values]),
        "list": lambda: pa.array([[v] for v in values]),
        "map": lambda: pa.array([[("v", v)] for v in values], type=pa.map_(pa.string(), pa.array(values).type)),
    }
    return table.set_column(table.schema.get_field_index(column), column, arrays[kind]())


def classify_config(folder: Path, path: Path) -> Path:
    config = {
        "task": "classify",
        "seed": 3,
        "data": {"path": str(path), "id": "seq", "time": "t", "features": ["a", "b"], "target": "label"},
        "model": {"cell": "gru", "units": [8]},
        "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.02},
        "output": {"dir": str(folder / "runs")},
    }
    target = folder / "classify.yaml"
    target.write_text(yaml.safe_dump(config))
    return target


# -- the harness ------------------------------------------------------------------------------


def train_case(write, name: str = "d.csv", **data):
    """``write(path)`` writes the data file; ``rnnkit train`` reads it with ``data`` merged in."""

    def setup(tmp: Path):
        path = tmp / name
        write(path)
        return ["train", write_config(tmp, path, data=data) if data else write_config(tmp, path)]

    return setup


def frame_case(frame: pd.DataFrame, **data):
    return train_case(lambda p: frame.to_csv(p, index=False), **data)


def classify_case(frame: pd.DataFrame, name: str = "seq.csv"):
    def setup(tmp: Path):
        path = tmp / name
        frame.to_parquet(path, index=False) if name.endswith(".parquet") else frame.to_csv(path, index=False)
        return ["train", classify_config(tmp, path)]

    return setup


def refused(args: list, code: int, fragments: list[str], *roots: Path) -> str:
    """Run the CLI; assert the exit code, one error line holding the fragments, and no file touched."""
    return assert_refused(args, code, fragments, *roots)


DAY_FIRST = series(time_format="%d/%m/%Y")
# Twelve days: every date reads day-first and month-first, with different results.
AMBIGUOUS = series(length=12, time_format="%d/%m/%Y")
# A Parquet file whose columns hold nested values.
PLAIN = series()

TRAIN_CASES = {
    # -- A: one format per time column -----------------------------------------------------------
    "ambiguous-day-month": (
        frame_case(AMBIGUOUS),
        DATA,
        ["d.csv", "column 'date'", "ambiguous", "'02/01/2024' and '03/01/2024'", "data.time_format"],
    ),
    "iso-with-one-day-first-cell": (
        frame_case(with_cell(series(), "date", 5, "06/01/2024")),
        DATA,
        ["d.csv", "line 7, column 'date'", "'06/01/2024' is a date in another format", "ISO 8601"],
    ),
    "day-first-with-one-iso-cell": (
        frame_case(with_cell(DAY_FIRST, "date", 20, "2024-01-21")),
        DATA,
        ["d.csv", "line 22, column 'date'", "'2024-01-21'", "'%d/%m/%Y'"],
    ),
    "day-first-and-month-first-series": (
        frame_case(pd.concat([series(n_series=1, time_format="%d/%m/%Y"), series(n_series=1, time_format="%m/%d/%Y")])),
        DATA,
        ["d.csv", "column 'date'", "another format", "data.time_format"],
    ),
    "word-in-day-first-column": (
        frame_case(with_cell(DAY_FIRST, "date", 30, "soon")),
        DATA,
        ["d.csv", "line 32, column 'date'", "'soon' is neither a number nor a date", "'%d/%m/%Y'"],
    ),
    "numbers-and-a-word": (
        frame_case(with_cell(series().assign(date=list(range(40)) * 2), "date", 7, "later")),
        DATA,
        ["d.csv", "line 9, column 'date'", "'later' is neither a number nor a date", "other times are numbers"],
    ),
    "no-format-inferred": (
        frame_case(series(time_format="%d/%m/%y").assign(date=lambda f: f["date"].str.replace("/0", "/").str.lstrip("0"))),
        DATA,
        ["d.csv", "column 'date'", "no date format could be inferred", "'1/1/24'", "data.time_format"],
    ),
    "offset-and-no-offset": (
        frame_case(with_cell(series(), "date", 3, "2024-01-04T00:00:00+01:00")),
        DATA,
        ["d.csv", "line 2, column 'date'", "has no UTC offset"],
    ),
    "time-format-bad-directive": (
        frame_case(DAY_FIRST, time_format="%d/%Q/%Y"),
        CONFIG,
        ["cfg.yaml", "data.time_format", "'%d/%Q/%Y'"],
    ),
    "time-format-without-directives": (
        frame_case(DAY_FIRST, time_format="dd/mm/yyyy"),
        CONFIG,
        ["cfg.yaml", "data.time_format", "strftime", "'dd/mm/yyyy'"],
    ),
    "time-format-repeated-directive": (
        frame_case(DAY_FIRST, time_format="%d/%d/%Y"),
        CONFIG,
        ["cfg.yaml", "data.time_format", "directive repeats"],
    ),
    "time-format-not-the-files": (
        frame_case(series(), time_format="%d/%m/%Y"),
        DATA,
        ["d.csv", "line 2, column 'date'", "'2024-01-01'", "'%d/%m/%Y'"],
    ),
    "time-format-month-first-on-day-first-file": (
        frame_case(DAY_FIRST, time_format="%m/%d/%Y"),
        DATA,
        ["d.csv", "line 14, column 'date'", "'13/01/2024'", "'%m/%d/%Y'"],
    ),
    "val-file-in-another-format": (
        lambda tmp: [
            series(length=30, time_format="%d/%m/%Y").to_csv(tmp / "d.csv", index=False),
            series(length=40).iloc[30:].to_csv(tmp / "v.csv", index=False),
            "train",
            write_config(tmp, tmp / "d.csv", data={"val_path": str(tmp / "v.csv"), "split": {"val": 0.0, "test": 0.2}}),
        ][2:],
        DATA,
        ["v.csv", "line 2, column 'date'", "'2024-01-31'", "'%d/%m/%Y'"],
    ),
    # -- B: values too large to scale --------------------------------------------------------------
    "forecast-1e308-standard": (
        frame_case(with_cell(series(), "x", 5, 1e308)),
        DATA,
        ["d.csv", "line 7, column 'x'", "1e+308 is too large to scale"],
    ),
    "forecast-1e308-scale-none": (
        frame_case(with_cell(series(), "x", 5, 1e308), scale="none"),
        DATA,
        ["d.csv", "line 7, column 'x'", "too large to scale", "float32"],
    ),
    "forecast-1e308-minmax": (
        frame_case(with_cell(with_cell(series(), "x", 5, 1e308), "x", 9, -1e308), scale="minmax"),
        DATA,
        ["d.csv", "line 7, column 'x'", "too large to scale"],
    ),
    "forecast-1e308-detrended-target": (
        frame_case(with_cell(series(), "y", 5, 1e308), detrend="last_value"),
        DATA,
        ["d.csv", "line 7, column 'y'", "too large to scale"],
    ),
    "forecast-1e300-in-test-rows": (
        frame_case(with_cell(series(), "x", 38, 1e300)),
        DATA,
        ["d.csv", "line 40, column 'x'", "1e+300 is too large to scale", "float32"],
    ),
    "forecast-1e308-in-parquet": (
        train_case(lambda p: with_cell(series(), "x", 5, 1e308).astype({"x": float}).to_parquet(p), name="d.parquet"),
        DATA,
        ["d.parquet", "row 6, column 'x'", "too large to scale"],
    ),
    "classify-1e308-channel": (
        classify_case(with_cell(make_sequences(), "b", 4, 1e308)),
        DATA,
        ["seq.csv", "line 6, column 'b'", "too large to scale"],
    ),
    # -- B: nested Parquet columns ---------------------------------------------------------------
    "parquet-struct-id": (
        train_case(lambda p: pq.write_table(nested(PLAIN, "id", "struct"), p), name="d.parquet"),
        DATA,
        ["d.parquet", "column 'id'", "nested Parquet type struct<v: string>"],
    ),
    "parquet-list-time": (
        train_case(lambda p: pq.write_table(nested(PLAIN, "date", "list"), p), name="d.parquet"),
        DATA,
        ["d.parquet", "column 'date'", "nested Parquet type list<"],
    ),
    "parquet-map-feature": (
        train_case(lambda p: pq.write_table(nested(PLAIN, "x", "map"), p), name="d.parquet"),
        DATA,
        ["d.parquet", "column 'x'", "nested Parquet type map<string, double"],
    ),
    "parquet-struct-sequence-id": (
        classify_case(make_sequences().assign(seq=lambda f: [{"name": s} for s in f["seq"]]), name="seq.parquet"),
        DATA,
        ["seq.parquet", "column 'seq'", "nested Parquet type struct<name: string>"],
    ),
}


@pytest.mark.parametrize("name", list(TRAIN_CASES))
def test_hostile_training_input(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup, code, fragments = TRAIN_CASES[name]
    refused(setup(tmp_path), code, fragments, tmp_path)


# -- against trained runs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def day_first_run(tmp_path_factory) -> Path:
    """A forecast run trained on day-first dates ('%d/%m/%Y' inferred: days above 12 decide)."""
    from rnnkit.training import train

    folder = tmp_path_factory.mktemp("day_first")
    data = folder / "series.csv"
    series(n_series=3, length=60, time_format="%d/%m/%Y").to_csv(data, index=False)
    return train(load_config(write_config(folder, data)), run_dir=folder / "run").run_dir


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory) -> Path:
    from rnnkit.training import train

    folder = tmp_path_factory.mktemp("classify")
    data = folder / "seq.csv"
    make_sequences().to_csv(data, index=False)
    return train(load_config(classify_config(folder, data)), run_dir=folder / "run").run_dir


def without_time_format(run: Path, tmp: Path) -> Path:
    """A copy of ``run`` whose schema.json is as an older rnnkit wrote it: no time_format, no time_step."""
    copy = tmp / "old-run"
    shutil.copytree(run, copy)
    schema = json.loads((copy / "schema.json").read_text())
    del schema["time_format"], schema["time_step"]
    (copy / "schema.json").write_text(json.dumps(schema))
    return copy


def predict_case(run: str, frame=None, write=None, old_schema: bool = False, command: str = "predict"):
    """``rnnkit predict`` (or ``evaluate --data``) of run ``run`` on new.csv (``frame``, or ``write(path)``)."""

    def setup(tmp: Path, runs: dict[str, Path]):
        path = tmp / ("new.parquet" if write is not None else "new.csv")
        frame.to_csv(path, index=False) if write is None else write(path)
        folder = without_time_format(runs[run], tmp) if old_schema else runs[run]
        if command == "evaluate":
            return ["evaluate", folder, "--data", path]
        return ["predict", folder, "--input", path, "--output", tmp / "out.csv"]

    return setup


FAR = with_cell(series(), "x", 12, 1e7)  # x is about sin(t): 1e7 is some 1.4e7 training standard deviations away

RUN_CASES = {
    "predict-1e7-std-away": (
        predict_case("iso", FAR),
        DATA,
        ["new.csv", "line 14, column 'x'", "1e+07 is", "training standard deviations from the training mean"],
    ),
    "predict-far-in-a-later-chunk": (
        lambda tmp, runs: [*predict_case("iso", with_cell(series(), "x", 70, -3e8))(tmp, runs), "--chunk-rows", "16"],
        DATA,
        ["new.csv", "line 72, column 'x'", "-3e+08 is"],
    ),
    "evaluate-data-1e7-std-away": (
        predict_case("iso", FAR, command="evaluate"),
        DATA,
        ["new.csv", "line 14, column 'x'", "training standard deviations"],
    ),
    "evaluate-data-unsorted": (
        predict_case("iso", series().iloc[::-1], command="evaluate"),
        DATA,
        ["new.csv", "series 's1', column 'date'", "evaluate --data reads each series in time order (sort by id and time)"],
    ),
    "evaluate-data-no-complete-window": (
        predict_case("iso", series(length=9), command="evaluate"),
        DATA,
        ["new.csv: no complete window: each series needs at least 10 rows"],
    ),
    "predict-sequence-channel-far": (
        predict_case("classify", with_cell(make_sequences(n=6), "b", 9, 1e9)),
        DATA,
        ["new.csv", "line 11, column 'b'", "training standard deviations"],
    ),
    "predict-nested-struct-id": (
        predict_case("iso", write=lambda p: pq.write_table(nested(PLAIN, "id", "struct"), p)),
        DATA,
        ["new.parquet", "column 'id'", "nested Parquet type struct"],
    ),
    "predict-nested-list-time": (
        predict_case("iso", write=lambda p: pq.write_table(nested(PLAIN, "date", "list"), p)),
        DATA,
        ["new.parquet", "column 'date'", "nested Parquet type list"],
    ),
    "predict-not-in-the-runs-format": (
        predict_case("day_first", series(time_format="%Y/%m/%d")),
        DATA,
        ["new.csv", "line 2, column 'date'", "'2024/01/01'", "'%d/%m/%Y'"],
    ),
    "predict-long-format-of-a-classify-run": (
        lambda tmp, runs: [*predict_case("classify", make_sequences(n=6))(tmp, runs), "--format", "long"],
        CONFIG,
        ["--format must be one of wide for a classify run", "'long'"],
    ),
    "evaluate-data-sequence-not-contiguous": (
        predict_case("classify", make_sequences(n=6).sort_values("t", kind="stable"), command="evaluate"),
        DATA,
        ["new.csv", "rows of sequence 'q000' are not contiguous", "evaluate --data reads one sequence at a time"],
    ),
    "evaluate-data-sequence-label-changes": (
        predict_case("classify", with_cell(make_sequences(n=6), "label", 30, "Standing"), command="evaluate"),
        DATA,
        ["new.csv: sequence 'q001', column 'label': label changes within the sequence ('1', then 'Standing')"],
    ),
    "predict-ambiguous-with-an-older-schema": (
        predict_case("day_first", AMBIGUOUS, old_schema=True),
        DATA,
        ["new.csv", "column 'date'", "ambiguous", "data.time_format"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUN_CASES))
def test_hostile_input_to_a_trained_run(name, tmp_path, monkeypatch, trained_run, day_first_run, classify_run):
    monkeypatch.chdir(tmp_path)
    runs = {"iso": trained_run, "day_first": day_first_run, "classify": classify_run}
    setup, code, fragments = RUN_CASES[name]
    refused(setup(tmp_path, runs), code, fragments, tmp_path, *runs.values())


def test_there_are_at_least_twenty_hostile_cases():
    assert len(TRAIN_CASES) + len(RUN_CASES) >= 20


# -- dates: what is read ---------------------------------------------------------------------------


def prepared(tmp_path: Path, frame: pd.DataFrame, name: str = "d.csv", **data):
    path = tmp_path / name
    frame.to_csv(path, index=False, encoding="utf-8-sig" if "bom" in name else "utf-8")
    return prepare_training_data(load_config(write_config(tmp_path, path, data=data)))


@pytest.mark.parametrize("time_format", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d %b %Y"])
def test_a_column_with_one_reading_is_read_by_its_true_dates_in_order(tmp_path, time_format):
    iso_pre, iso = prepared(tmp_path, series())
    # Shuffled, so that the order comes from the parsed dates alone.
    pre, arrays = prepared(tmp_path, series(time_format=time_format).sample(frac=1.0, random_state=3))
    assert pre.time_format == time_format and iso_pre.time_format == "ISO8601"
    np.testing.assert_array_equal(arrays.times.astype("datetime64[s]"), iso.times.astype("datetime64[s]"))
    np.testing.assert_array_equal(arrays.x, iso.x)
    assert pd.Timestamp(arrays.times[12]) == pd.Timestamp("2024-01-13")  # 13/01, after 12/01 and before 14/01


def test_given_time_format_decides_an_ambiguous_column(tmp_path):
    frame = series(length=12, n_series=1, time_format="%d/%m/%Y")  # 01/01/2024 ... 12/01/2024
    _, by_day = prepared(tmp_path, frame, time_format="%d/%m/%Y", window=3, horizon=1)
    pre, by_month = prepared(tmp_path, frame, time_format="%m/%d/%Y", window=3, horizon=1)
    assert pre.time_format == "%m/%d/%Y"
    assert [str(pd.Timestamp(t).date()) for t in by_day.times[:3]] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert [str(pd.Timestamp(t).date()) for t in by_month.times[:3]] == ["2024-01-01", "2024-02-01", "2024-03-01"]


def test_a_given_time_format_is_used_without_inferring(tmp_path, monkeypatch):
    def guessing(*args, **kwargs):
        raise AssertionError("inferred a format although data.time_format was given")

    monkeypatch.setattr("rnnkit.data.prepare.infer_time_format", guessing)
    pre, arrays = prepared(tmp_path, series(time_format="%d/%m/%Y"), time_format="%d/%m/%Y")
    assert pre.time_format == "%d/%m/%Y" and len(arrays.x) == 80


def test_iso_times_with_offsets_fractions_and_z_are_utc_instants(tmp_path):
    frame = series(n_series=1)
    local = pd.date_range("2024-03-20 10:30:00.250", periods=40, freq="D", tz="Europe/Berlin")  # +01:00, then +02:00
    frame["date"] = local.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    frame.loc[0, "date"] = local[0].tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pre, arrays = prepared(tmp_path, frame, window=5)
    assert pre.time_format == "ISO8601" and pre.time_kind == "datetime"
    assert list(pd.DatetimeIndex(arrays.times)) == list(local.tz_convert("UTC"))


def test_spaces_around_times_are_no_part_of_their_format(tmp_path):
    pre, arrays = prepared(tmp_path, series().assign(date=lambda f: " " + f["date"] + " "))
    assert pre.time_format == "ISO8601" and pd.Timestamp(arrays.times[0]) == pd.Timestamp("2024-01-01")


def test_parquet_dates_and_timestamps_need_no_format(tmp_path):
    frame = series()
    dates = pd.to_datetime(frame["date"])
    for column, expected_format in ((dates.dt.date, "ISO8601"), (dates.dt.tz_localize("UTC"), None)):
        frame.assign(date=column).to_parquet(tmp_path / "d.parquet", index=False)
        pre, arrays = prepare_training_data(load_config(write_config(tmp_path, tmp_path / "d.parquet")))
        assert pre.time_format == expected_format and pre.time_kind == "datetime"
        assert pd.Timestamp(arrays.times[0]).tz_localize(None) == pd.Timestamp("2024-01-01")


def test_sequence_time_columns_are_read_with_one_format_too(tmp_path):
    frame = make_sequences()
    frame["t"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["t"], unit="D")).dt.strftime("%d/%m/%Y")
    path = tmp_path / "seq.csv"
    frame.to_csv(path, index=False)
    pre, arrays = prepare_sequences(load_config(classify_config(tmp_path, path)))
    assert pre.time_format == "%d/%m/%Y"
    first = arrays.times[arrays.starts[0] : arrays.starts[0] + arrays.lengths[0]]
    assert pd.Timestamp(first[0]) == pd.Timestamp("2024-01-01") and (np.diff(first) > np.timedelta64(0)).all()


def test_a_schema_without_time_format_still_loads():
    pre = Preprocessor(
        **{"id": "id", "time": "date", "time_kind": "datetime", "features": ["y"], "target_columns": ["y"], "window": 4},
        **{"horizon": 1, "scale": "standard", "missing": "error", "detrend": "none", "center": {"y": 0.0}, "spread": {"y": 1.0}},
    )
    data = pre.to_dict()
    del data["time_format"]
    assert Preprocessor.from_dict(data).time_format is None


def test_validate_prints_the_format_it_uses(tmp_path):
    path = tmp_path / "d.csv"
    DAY_FIRST.to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["validate", str(write_config(tmp_path, path))], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "time_format: '%d/%m/%Y'" in result.stdout


# -- B: files as people write them -----------------------------------------------------------------


def test_a_byte_order_mark_before_the_header_is_dropped(tmp_path):
    from rnnkit.data.readers import iter_table, read_columns, read_table

    _, plain = prepared(tmp_path, series())
    _, marked = prepared(tmp_path, series(), name="bom.csv")
    assert (tmp_path / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    np.testing.assert_array_equal(marked.x, plain.x)
    assert read_columns(tmp_path / "bom.csv")[0] == "id"
    assert list(read_table(tmp_path / "bom.csv", ["id"]).columns) == ["id"]
    assert next(iter_table(tmp_path / "bom.csv", ["id", "x"], 10))["id"].iloc[0] == "s0"


def test_large_values_that_scale_are_accepted(tmp_path):
    # 1e150 squares to 1e300: the statistics stay finite, and so does every scaled value.
    pre, arrays = prepared(tmp_path, with_cell(series(), "x", 5, 1e150))
    assert np.isfinite(pre.spread["x"]) and np.isfinite(arrays.x).all()


def test_training_range_check_measures_in_training_spreads():
    from rnnkit.data.schema import check_in_range

    def where(i: int) -> str:
        return f"f.csv: line {i + 2}"

    # Exactly 1e6 standard deviations (2.0) from the mean (5.0) is still accepted; NaN is no value.
    check_in_range("x", np.array([1.0, np.nan, 2e6 + 5]), center=5.0, spread=2.0, scale="standard", where=where)
    with pytest.raises(DataError, match=r"f\.csv: line 4, column 'x': 2\.00001e\+06 is 1e\+06 training standard deviations"):
        check_in_range("x", np.array([1.0, np.nan, 2e6 + 7]), center=5.0, spread=2.0, scale="standard", where=where)
    with pytest.raises(
        DataError, match=r"line 3, column 'x': -2\.00001e\+06 is 1e\+06 training ranges \(max - min\) from the training minimum"
    ):
        check_in_range("x", np.array([1.0, -2e6 - 7]), center=5.0, spread=2.0, scale="minmax", where=where)
    # Without a training spread to measure by, only what float32 cannot hold is refused.
    check_in_range("x", np.array([1e30, -1e30]), center=0.0, spread=1.0, scale="none", where=where)
    with pytest.raises(DataError, match=r"line 2, column 'x': 1e\+39 is too large to scale .*beyond float32"):
        check_in_range("x", np.array([1e39]), center=0.0, spread=1.0, scale="none", where=where)


@pytest.mark.slow
def test_day_first_run_records_its_format_and_predict_reads_ambiguous_looking_files_with_it(tmp_path, day_first_run):
    assert json.loads((day_first_run / "schema.json").read_text())["time_format"] == "%d/%m/%Y"
    path = tmp_path / "new.csv"
    AMBIGUOUS.to_csv(path, index=False)  # every date reads both ways: the run's format decides
    result = CliRunner().invoke(cli, ["predict", str(day_first_run), "--input", str(path), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.stderr
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["origin_date"].tolist() == [f"2024-01-{d:02d}" for d in range(8, 13)] * 2  # origins in January, in order
    assert out["date_h1"].tolist() == [f"2024-01-{d:02d}" for d in range(9, 14)] * 2  # written in ISO 8601
    # A run whose schema.json predates time_format still predicts, inferring with the one-format rule.
    old = without_time_format(day_first_run, tmp_path)
    DAY_FIRST.to_csv(path, index=False)
    again = CliRunner().invoke(cli, ["predict", str(old), "--input", str(path), "--output", str(tmp_path / "p.csv")])
    assert again.exit_code == 0, again.stderr
    older = pd.read_csv(tmp_path / "p.csv")
    assert older["origin_date"].iloc[5] == "2024-01-13"
    assert list(older.columns) == ["id", "origin_date", "y_h1", "y_h2"]  # no time_step recorded: no step times


@pytest.mark.slow
def test_predict_and_evaluate_read_files_with_a_byte_order_mark(tmp_path, trained_run):
    path = tmp_path / "new.csv"
    series().to_csv(path, index=False, encoding="utf-8-sig")
    result = CliRunner().invoke(cli, ["predict", str(trained_run), "--input", str(path), "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) == 2 * (40 - 8 + 1)
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    evaluated = CliRunner().invoke(cli, ["evaluate", str(run), "--data", str(path)])
    assert evaluated.exit_code == 0, evaluated.stderr
