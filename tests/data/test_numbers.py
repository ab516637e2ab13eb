"""Numbers written in a locale's convention are read as numbers, or refused when they could mean two things."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data import infer_schema, read_table, validate_table
from synthmed.data.schema import ColumnKind
from synthmed.errors import DataError, SynthmedWarning

VALUES = np.round(np.random.default_rng(0).normal(150, 30, 40), 1)


def test_a_semicolon_export_with_decimal_commas_keeps_its_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    frame = pd.DataFrame({"chol": VALUES, "sex": ["F", "M"] * 20, "weight": VALUES * 1000})
    frame.to_csv(path, sep=";", decimal=",", index=False)
    with pytest.warns(SynthmedWarning, match=r"decimal commas read as numbers in 2 columns \('chol', 'weight'\)"):
        cleaned = validate_table(read_table(path))
    np.testing.assert_allclose(cleaned["chol"], VALUES)
    assert infer_schema(cleaned)["chol"].kind is ColumnKind.CONTINUOUS
    european = pd.DataFrame({"x": ["1.234,5", "12,25", "3"] * 10})
    np.testing.assert_allclose(validate_table(european)["x"].iloc[:3], [1234.5, 12.25, 3.0])


def test_thousands_commas_are_read_when_unambiguous() -> None:
    cleaned = validate_table(pd.DataFrame({"charges": ["1,234.50", "12,345,678", "17"] * 10}))
    np.testing.assert_allclose(cleaned["charges"].iloc[:3], [1234.5, 12345678, 17])


def test_numbers_that_could_mean_two_things_are_refused_until_the_mark_is_given(tmp_path: Path) -> None:
    frame = pd.DataFrame({"dose": ["1,250", "2,500", "12"] * 10})
    with pytest.raises(DataError, match=r"'dose'.*decimal comma.*thousands comma.*--decimal"):
        validate_table(frame)
    np.testing.assert_allclose(validate_table(frame, decimal=",")["dose"].iloc[:2], [1.25, 2.5])
    np.testing.assert_allclose(validate_table(frame, decimal=".")["dose"].iloc[:2], [1250, 2500])
    path = tmp_path / "dose.csv"
    frame.assign(age=range(30)).to_csv(path, sep=";", index=False)
    np.testing.assert_allclose(read_table(path, decimal=",")["dose"].iloc[:2], [1.25, 2.5])
    with pytest.raises(DataError, match="two conventions"):
        validate_table(pd.DataFrame({"x": ["1,5", "2.5", "3"] * 10}))


def test_commas_in_words_are_not_numbers() -> None:
    frame = pd.DataFrame({"site": ["ward 1,2", "ward 3", "icu"] * 10})
    assert validate_table(frame)["site"].tolist()[:2] == ["ward 1,2", "ward 3"]
