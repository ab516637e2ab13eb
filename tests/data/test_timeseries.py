"""Sequence readers, windowing, validation and the [-1, 1] channel scaler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data.io import ReadOptions
from synthmed.data.timeseries import (
    MIN_SEQUENCES,
    SequenceScaler,
    from_long,
    from_recording,
    read_ts,
    to_long,
    to_sequences,
)
from synthmed.errors import ConfigError, DataError, SynthmedWarning
from tests.conftest import shared_file


def _values(n: int = 12, steps: int = 5, channels: int = 2) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, steps, channels))


def _write_ts(path: Path, rows: list[str], header: str = "@classLabel true a b") -> Path:
    path.write_text("# comment\n@problemName toy\n@timeStamps false\n" + header + "\n@data\n" + "\n".join(rows) + "\n")
    return path


# ---- .ts files ---------------------------------------------------------------------------------------------
def test_ts_file_is_read_as_series_by_channel_with_labels(tmp_path: Path) -> None:
    path = _write_ts(tmp_path / "toy.ts", ["1,2,3:4,5,6:a", "7,8,9:1.5,?,0:b"])
    sequences = read_ts(path)
    assert sequences.channels == ("dim_0", "dim_1")
    assert sequences.values.shape == (2, 3, 2)
    np.testing.assert_array_equal(sequences.values[0], [[1, 4], [2, 5], [3, 6]])
    assert np.isnan(sequences.values[1, 1, 1])  # '?' is the format's missing marker
    assert list(sequences.labels) == ["a", "b"]
    unlabelled = read_ts(_write_ts(tmp_path / "plain.ts", ["1,2:3,4"], header="@classLabel false"))
    assert unlabelled.labels is None and unlabelled.values.shape == (1, 2, 2)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["1,2,3:4,5,6:a", "1,2:3,4:b"], "@classLabel true a b", "series 1 has 2 steps, series 0 has 3"),
        (["1,2:3,4:a", "1,2:a"], "@classLabel true a", "series 1 has 1 channels, series 0 has 2"),
        (["1,x:3,4"], "@classLabel false", "series 0 .* holds non-numeric values. Offending values: 'x'"),
        (["1,2:3,4"], "@timeStamps true", "time-stamped series"),
        ([], "@classLabel false", "no series"),
    ],
)
def test_malformed_ts_files_are_refused(tmp_path: Path, rows: list[str], header: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_ts(_write_ts(tmp_path / "bad.ts", rows, header))


def test_basicmotions_ts_file() -> None:
    sequences = read_ts(shared_file("timeseries-basicmotions", "BasicMotions_TRAIN.ts"))
    assert sequences.values.shape == (40, 100, 6)
    assert np.isfinite(sequences.values).all()
    assert pd.Series(sequences.labels).value_counts().to_dict() == {
        "Standing": 10,
        "Running": 10,
        "Walking": 10,
        "Badminton": 10,
    }


# ---- long tables -------------------------------------------------------------------------------------------
def test_long_table_round_trips_in_any_row_order() -> None:
    values = _values()
    table = to_long(values, ["hr", "sbp"])
    assert list(table.columns) == ["sequence", "step", "hr", "sbp"]
    assert len(table) == 12 * 5
    shuffled = table.sample(frac=1.0, random_state=0)
    sequences = from_long(shuffled, "sequence", "step")
    order = np.argsort(sequences.ids)  # sequences come in order of first appearance
    np.testing.assert_array_equal(sequences.values[order], values)
    assert sequences.channels == ("hr", "sbp")


def test_long_table_without_time_keeps_row_order() -> None:
    table = pd.DataFrame({"id": ["b", "a", "b", "a"] * 3, "x": np.arange(12.0)})
    sequences = from_long(table, "id")
    assert list(sequences.ids) == ["b", "a"]
    np.testing.assert_array_equal(sequences.values[0, :, 0], [0, 2, 4, 6, 8, 10])


def test_unequal_sequences_name_the_sequence() -> None:
    table = to_long(_values(), ["hr", "sbp"])
    table = table[~((table["sequence"] == 7) & (table["step"] == 4))]
    with pytest.raises(DataError, match=r"sequence 7 has 4 steps, most have 5.*Offending values: 7"):
        from_long(table, "sequence", "step")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda t: t.assign(hr=t["hr"].astype(object).where(t.index != 3, "high")), DataError, "'hr'.*'high'"),
        (lambda t: t.assign(when=pd.Timestamp("2024-01-01")), DataError, "'when'.*date/time column"),
        (lambda t: pd.concat([t, t.iloc[:1]]), DataError, "two rows for the same time.*sequence 0 at 0"),
        (lambda t: t.assign(sequence=t["sequence"].where(t.index != 0)), DataError, "rows without a sequence id"),
        (lambda t: t.rename(columns={"step": "t"}), DataError, "time column is not in the table"),
        (lambda t: t[["sequence", "step"]], DataError, "no channel columns"),
    ],
)
def test_bad_long_tables_are_refused(change, error: type[Exception], message: str) -> None:
    table = change(to_long(_values(), ["hr", "sbp"]))
    with pytest.raises(error, match=message):
        from_long(table, "sequence", "step")


# ---- recordings --------------------------------------------------------------------------------------------
def test_recording_is_cut_into_windows_and_the_partial_one_dropped() -> None:
    recording = np.arange(2 * 53, dtype=float).reshape(53, 2)
    with pytest.warns(SynthmedWarning, match="dropped the last 3 steps"):
        sequences = from_recording(recording, window=5)
    assert sequences.values.shape == (10, 5, 2)
    np.testing.assert_array_equal(sequences.values.reshape(50, 2), recording[:50])
    single = from_recording(np.arange(20.0), window=4)  # a 1-D array is one channel
    assert single.values.shape == (5, 4, 1) and single.channels == ("x0",)


@pytest.mark.parametrize(
    ("window", "error", "message"),
    [(101, DataError, "window of 101 steps is longer than the recording \\(100 steps\\)"), (0, ConfigError, "posi")],
)
def test_bad_windows_are_refused(window: int, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        from_recording(pd.DataFrame({"ecg": np.zeros(100)}), window=window)


def test_channel_names_may_not_clash_with_the_output_columns() -> None:
    with pytest.raises(DataError, match="'step'.*clashes"):
        from_recording(pd.DataFrame({"step": np.zeros(100)}), window=10)


# ---- checks common to every format -------------------------------------------------------------------------
def test_missing_and_infinite_values_name_channel_and_position() -> None:
    values = _values()
    values[4, 2, 1] = np.nan
    with pytest.raises(DataError, match=r"'x1'.*1 missing values, the first in sequence 4 at step 2.*ffill"):
        to_sequences(values)
    values[4, 2, 1] = np.inf
    with pytest.raises(DataError, match="'x1'.*infinite values"):
        to_sequences(values)


def test_too_few_sequences_are_refused() -> None:
    with pytest.raises(DataError, match=f"only 9 sequences of 5 steps.*at least {MIN_SEQUENCES}"):
        to_sequences(_values(n=9))
    with pytest.raises(DataError, match="shorter window"):
        to_sequences(np.zeros((90, 1)), window=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "cannot tell how the table holds its sequences.*--window"),
        ({"time": "t"}, "time column needs a sequence id"),
        ({"sequence_id": "id", "window": 5}, "either long .* or a recording"),
    ],
)
def test_the_table_format_must_be_stated(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_sequences(pd.DataFrame({"x": np.zeros(100)}), **options)


def test_paths_and_missing_markers(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    to_long(_values(), ["hr", "sbp"]).to_csv(path, index=False)
    assert to_sequences(path, sequence_id="sequence", time="step").values.shape == (12, 5, 2)
    with pytest.raises(ConfigError, match="holds its own sequences"):
        to_sequences(tmp_path / "series.ts", window=5)
    recording = pd.DataFrame({"x": ["1.0", "?"] * 50})
    with pytest.raises(DataError, match="missing values"):
        to_sequences(recording, window=10, reading=ReadOptions(na_values=["?"]))


@pytest.mark.e2e
def test_mitdb_excerpt_is_a_recording() -> None:
    with pytest.warns(SynthmedWarning, match="dropped the last 20 steps"):
        sequences = to_sequences(shared_file("ecg-mitdb-sample", "mitdb.csv"), window=187)
    assert sequences.values.shape == (40, 187, 2)
    assert sequences.channels == ("data", "label")


# ---- scaler ------------------------------------------------------------------------------------------------
def test_scaler_maps_each_channel_to_minus_one_one_and_back() -> None:
    values = _values() * [1.0, 100.0] + [0.0, 50.0]
    values[:, :, 1] = 7.0  # a constant channel
    scaler = SequenceScaler().fit(values, ["hr", "flat"])
    scaled = scaler.transform(values)
    assert scaled[:, :, 0].min() == -1.0 and scaled[:, :, 0].max() == 1.0
    assert (scaled[:, :, 1] == 0.0).all()
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values)
    assert scaler.inverse_transform(np.full((1, 5, 2), 3.0))[0, 0, 0] == values[:, :, 0].max()  # clipped to range
    restored = SequenceScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform(values), scaled)
    assert restored.steps_ == 5 and restored.columns == ["hr", "flat"]
    assert [c["domain"] for c in scaler.to_dict()["channels"]] == ["data", "data"]


def test_declared_ranges_replace_the_data_and_are_checked() -> None:
    values = np.linspace(10.0, 20.0, 60).reshape(12, 5, 1)
    scaler = SequenceScaler({"hr": (0.0, 40.0)}).fit(values, ["hr"])
    state = scaler.to_dict()["channels"][0]
    assert state == {"name": "hr", "min": 0.0, "max": 40.0, "domain": "schema"}
    assert SequenceScaler.from_dict(scaler.to_dict()).to_dict() == scaler.to_dict()
    with pytest.raises(DataError, match="'hr'.*outside the declared range \\[None, 15.0\\]"):
        SequenceScaler({"hr": (None, 15.0)}).fit(values, ["hr"])
    with pytest.raises(DataError, match="'sbp'.*not a channel"):
        SequenceScaler({"sbp": (0.0, 1.0)}).fit(values, ["hr"])
    with pytest.raises(DataError, match="expected sequences of shape \\(n, 5, 1\\)"):
        scaler.transform(np.zeros((3, 4, 1)))
