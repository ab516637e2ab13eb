"""Dates written as text are read in the one form they can be in, or refused; generated dates keep their resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data import Schema, TableTransformer, infer_schema, validate_table
from synthmed.data.schema import ColumnKind
from synthmed.errors import DataError

DAYS = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.random.default_rng(0).integers(0, 900, 60), unit="D")


def table(dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"visit": dates, "age": np.linspace(20, 80, len(dates))})


@pytest.mark.parametrize("form", ["%m/%d/%Y", "%d.%m.%Y", "%d-%b-%Y", "%B %d, %Y", "%Y/%m/%d", "%d/%m/%Y %H:%M"])
def test_national_forms_are_read_as_dates(form: str) -> None:
    cleaned = validate_table(table(list(DAYS.strftime(form))))
    assert pd.api.types.is_datetime64_any_dtype(cleaned["visit"])
    assert (cleaned["visit"].dt.normalize() == pd.Series(DAYS)).all()
    assert infer_schema(cleaned)["visit"].kind is ColumnKind.DATETIME


def test_dates_two_forms_read_differently_are_refused_with_the_format_remedy() -> None:
    early = pd.date_range("2020-01-01", periods=30, freq="D")
    ambiguous = [d.strftime("%m/%d/%Y") for d in early if d.day <= 12] * 3
    with pytest.raises(DataError, match=r"'visit'.*day first or month first.*format: \"%d/%m/%Y\""):
        validate_table(table(ambiguous))
    declared = Schema.from_dict({"columns": {"visit": {"kind": "datetime", "format": "%d/%m/%Y"}}})
    cleaned = validate_table(table(ambiguous), declared)
    assert cleaned["visit"].iloc[1] == pd.Timestamp("2020-02-01")  # "01/02/2020" read day first, as declared


def test_two_digit_years_and_stray_markers_are_refused() -> None:
    with pytest.raises(DataError, match="two-digit years"):
        validate_table(table(list(DAYS.strftime("%m/%d/%y"))))
    with_marker = list(DAYS.strftime("%m/%d/%Y"))
    with_marker[5] = "unknown"
    with pytest.raises(DataError, match=r"holds values that are not dates.*'unknown'.*--na-values \"unknown\""):
        validate_table(table(with_marker))
    declared = Schema.from_dict({"columns": {"visit": {"kind": "datetime", "format": "%Y-%m-%d"}}})
    with pytest.raises(DataError, match="do not match the declared date format"):
        validate_table(table(list(DAYS.strftime("%m/%d/%Y"))), declared)


@pytest.mark.parametrize(
    ("stamps", "unit"),
    [
        (DAYS, "day"),
        (DAYS + pd.to_timedelta(np.arange(60) % 24, unit="h"), "hour"),
        (DAYS + pd.to_timedelta(np.arange(60) * 7, unit="min"), "minute"),
    ],
)
def test_generated_dates_keep_the_resolution_of_the_training_dates(stamps: pd.DatetimeIndex, unit: str) -> None:
    frame = pd.DataFrame({"visit": stamps})
    transformer = TableTransformer(infer_schema(frame)).fit(frame)
    generated = np.random.default_rng(1).random((500, transformer.layout_.width))
    decoded = transformer.inverse_transform(generated)["visit"]
    step = pd.Timedelta(1, unit={"day": "D", "hour": "h", "minute": "min"}[unit])
    assert (decoded == decoded.dt.floor(step)).all()  # no invented time of day, hour or minute
    assert decoded.nunique() > 50  # still new dates, not a handful of training ones
    reloaded = TableTransformer.from_dict(transformer.to_dict(), transformer.schema)
    pd.testing.assert_series_equal(reloaded.inverse_transform(generated)["visit"], decoded)
