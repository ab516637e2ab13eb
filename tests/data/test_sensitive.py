"""Identifiers and free text are recognised and never learned; declaring them categorical needs public values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthmed.data.inference import infer_schema
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.sensitive import identifier_reason, text_reason
from synthmed.errors import SchemaError, SynthmedWarning

RNG = np.random.default_rng(0)
WORDS = [
    "patient",
    "reports",
    "chest",
    "pain",
    "shortness",
    "of",
    "breath",
    "since",
    "yesterday",
    "no",
    "fever",
    "denies",
    "nausea",
]


def notes(count: int, distinct: int, seed: int = 0) -> pd.Series:
    """`count` free-text notes drawn from `distinct` different ones of 4-11 words."""
    rng = np.random.default_rng(seed)
    pool = [" ".join(rng.choice(WORDS, rng.integers(4, 12))) + f" day {i}" for i in range(distinct)]
    return pd.Series(rng.choice(pool, count))


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("id", pd.Series(range(40))),
        ("MRN", pd.Series([5] * 40)),
        ("patient_ssn", pd.Series(["x"] * 40)),
        ("SUBJECT_ID", pd.Series([1, 2] * 20)),
        ("firstName", pd.Series(["a"] * 40)),
        ("email", pd.Series(["a@b"] * 40)),
        ("phone number", pd.Series(["1"] * 40)),
        ("record", pd.Series([f"r{i}" for i in range(60)])),  # unique one-word text
        ("visit", pd.Series(RNG.permutation(60))),  # unique integers
        ("patient_nbr", pd.Series(np.arange(3000) // 2 * 7 + 100_000)),  # a key repeated per encounter
    ],
)
def test_identifier_like_columns_are_detected(name: str, values: pd.Series) -> None:
    assert identifier_reason(name, values) is not None


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("dataset", pd.Series(["a", "b"] * 20)),
        ("paid", pd.Series([1, 2] * 20)),
        ("mean radius", pd.Series(RNG.normal(size=40))),  # unique measurements are not keys
        ("admit_time", pd.Series(pd.date_range("2020-01-01", periods=40, freq="h"))),
        ("age", pd.Series(RNG.permutation(12))),  # unique by chance in a tiny table
        ("admission_type_id", pd.Series([1, 2, 3, 5] * 30)),  # a lookup code
        ("discharge_disposition_id", pd.Series([1, 6, 25] * 30)),
        ("charges", pd.Series(RNG.integers(0, 2000, 5000))),  # many levels, but mostly repeated values
        ("note", notes(60, 60)),  # unique, but prose: free text (text_reason), not a key
    ],
)
def test_ordinary_columns_are_not_identifiers(name: str, values: pd.Series) -> None:
    assert identifier_reason(name, values) is None


@pytest.mark.parametrize(
    "values",
    [
        notes(297, 250),  # most values distinct
        notes(3000, 1500),  # more than 1,000 levels
        notes(2000, 40),  # repeated, but prose
        pd.Series(["x" * 300, "y"] * 20),  # longer than any label
        pd.Series([f"ward {i}" for i in range(30)] * 1),  # 30 distinct in 30 rows
    ],
)
def test_free_text_is_recognised(values: pd.Series) -> None:
    assert text_reason(values) is not None


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["F", "M"] * 30),
        pd.Series(["typical angina", "atypical angina", "non-anginal", "asymptomatic"] * 20),
        pd.Series(["transfer from another health care facility", "emergency room", "physician referral"] * 30),
        pd.Series([f"code {i}" for i in range(12)]),  # a small table: distinctness says little
        pd.Series(RNG.integers(0, 500, 300)),  # numbers are never free text
    ],
)
def test_categories_are_not_free_text(values: pd.Series) -> None:
    assert text_reason(values) is None


def test_identifiers_and_free_text_are_left_out_with_the_safe_options() -> None:
    table = pd.DataFrame({"patient_id": range(297), "note": notes(297, 250), "age": RNG.normal(60, 10, 297)})
    with pytest.warns(SynthmedWarning) as noted:
        schema = infer_schema(table)
    messages = [str(w.message) for w in noted]
    assert any("'patient_id' left out as an identifier" in m for m in messages)
    (text,) = [m for m in messages if "'note' left out as free text" in m]
    assert "copied verbatim" in text and "categories: [...]" in text and "public: true" in text
    assert "{kind: categorical}" not in " ".join(messages)  # never suggest learning the values from the data
    assert schema["patient_id"].kind is ColumnKind.IDENTIFIER and schema["note"].kind is ColumnKind.TEXT
    assert [c.name for c in schema.modelled] == ["age"]


def test_declaring_free_text_categorical_needs_public_values() -> None:
    table = pd.DataFrame({"note": notes(297, 250), "visit": RNG.permutation(297)})
    for column in ("note", "visit"):
        declared = Schema.from_dict({"columns": {column: {"kind": "categorical"}}})
        with pytest.raises(SchemaError, match=f"'{column}'.*learned and copied verbatim.*public: true"):
            infer_schema(table, declared)
    public = Schema.from_dict({"columns": {"note": {"kind": "categorical", "public": True}, "visit": "continuous"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # declared columns get no note
        schema = infer_schema(table, public)
    assert schema["note"].kind is ColumnKind.CATEGORICAL and schema["visit"].kind is ColumnKind.CONTINUOUS
    listed = Schema.from_dict({"columns": {"note": {"kind": "categorical", "categories": sorted(set(table["note"]))}}})
    assert infer_schema(table, listed)["note"].categories is not None
    assert infer_schema(table, Schema.from_dict({"columns": {"note": "text"}}))["note"].kind is ColumnKind.TEXT
