"""Schema inference, identifier detection and user overrides."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthmed.data.schema import ColumnKind, Schema, identifier_reason, infer_kind, infer_schema
from synthmed.errors import SchemaError, SynthmedWarning

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([0, 1, 1, 0] * 10), ColumnKind.BINARY),
        (pd.Series([0] * 40), ColumnKind.BINARY),  # a code absent from this sample is still 0/1
        (pd.Series([True, False] * 20), ColumnKind.BINARY),
        (pd.Series(["F", "M", None, "F"] * 10), ColumnKind.BINARY),
        (pd.Series([1, 2, 2, 1] * 10), ColumnKind.BINARY),
        (pd.Series(["a", "b", "c"] * 10), ColumnKind.CATEGORICAL),
        (pd.Series(["only"] * 30), ColumnKind.CATEGORICAL),
        (pd.Series([0, 3, 7, 2] * 10), ColumnKind.COUNT),
        (pd.Series([0.0, 3.0, np.nan, 2.0] * 10), ColumnKind.COUNT),
        (pd.Series([-2, 5, 3, 1] * 10), ColumnKind.CONTINUOUS),
        (pd.Series(RNG.normal(size=40)), ColumnKind.CONTINUOUS),
        (pd.Series(pd.date_range("2020-01-01", periods=40)), ColumnKind.DATETIME),
    ],
)
def test_infer_kind(values: pd.Series, kind: ColumnKind) -> None:
    assert infer_kind(values) is kind


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
        ("record", pd.Series([f"r{i}" for i in range(60)])),  # unique text
        ("visit", pd.Series(RNG.permutation(60))),  # unique integers
        ("free_text", pd.Series([f"note {i % 1500}" for i in range(3000)])),  # > 1,000 levels
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
    ],
)
def test_ordinary_columns_are_not_identifiers(name: str, values: pd.Series) -> None:
    assert identifier_reason(name, values) is None


def test_identifiers_are_excluded_with_a_message_saying_how_to_keep_them() -> None:
    table = pd.DataFrame({"patient_id": range(40), "age": RNG.normal(60, 10, 40)})
    with pytest.warns(SynthmedWarning, match=r"'patient_id' excluded as an identifier.*declare its kind"):
        schema = infer_schema(table)
    assert schema["patient_id"].kind is ColumnKind.IDENTIFIER
    assert [c.name for c in schema.modelled] == ["age"]


def test_declared_schema_overrides_inference_and_opts_identifiers_in() -> None:
    table = pd.DataFrame({"id": range(40), "cp": [1, 2, 3, 4] * 10})
    declared = Schema.from_dict({"columns": {"id": "categorical", "cp": {"kind": "categorical"}}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no identifier warning for a declared column
        schema = infer_schema(table, declared)
    assert [(c.name, c.kind) for c in schema.columns] == [
        ("id", ColumnKind.CATEGORICAL),
        ("cp", ColumnKind.CATEGORICAL),
    ]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_schema_file_round_trip(tmp_path, suffix: str) -> None:
    schema = Schema.from_dict(
        {
            "columns": {
                "sex": {"kind": "binary", "categories": ["F", "M"], "share": 0.48},
                "age": {"kind": "continuous", "min": 0, "max": 120},
                "mrn": "identifier",
            }
        }
    )
    path = tmp_path / f"schema{suffix}"
    schema.save(path)
    loaded = Schema.load(path)
    assert loaded.to_dict() == schema.to_dict()
    assert loaded["sex"].categories == ("F", "M")
    assert loaded["age"].maximum == 120
    assert loaded["sex"].share == 0.48


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"columns": {"age": {"kind": "number"}}}, "unknown column kind"),
        ({"columns": {"age": {"kind": "count", "range": 3}}}, "unknown schema keys"),
        ({"columns": {"age": {"categories": ["a"]}}}, "needs a mapping with a 'kind'"),
        ({"columns": {"sex": {"kind": "binary", "categories": []}}}, "non-empty list"),
        ({"age": "count"}, "'columns' mapping"),
        ({"columns": {"flag": {"kind": "binary", "share": 1.5}}}, "a number from 0 to 1"),
        ({"columns": {"flag": {"kind": "binary", "share": "20%"}}}, "a number from 0 to 1"),
        ({"columns": {"ward": {"kind": "categorical", "share": 0.2}}}, "binary column's second category"),
    ],
)
def test_malformed_schemas_are_refused(spec: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(spec)


def test_schema_naming_absent_columns_is_refused() -> None:
    declared = Schema.from_dict({"columns": {"weight": "continuous"}})
    with pytest.raises(SchemaError, match=r"Column 'weight'.*not in the data"):
        infer_schema(pd.DataFrame({"age": [1.5] * 20}), declared)


def test_unreadable_schema_file(tmp_path) -> None:
    path = tmp_path / "schema.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid"):
        Schema.load(path)
    with pytest.raises(SchemaError, match="does not exist"):
        Schema.load(tmp_path / "absent.yaml")


def test_schema_is_inferred_from_a_csv_path(tmp_path) -> None:
    path = tmp_path / "heart.csv"
    path.write_text("age,sex,ca\n" + "".join(f"{40 + i},{'MF'[i % 2]},{i % 4 if i % 5 else '?'}\n" for i in range(30)))
    schema = infer_schema(path, na_values=["?"])
    assert [(c.name, c.kind) for c in schema.columns] == [
        ("age", ColumnKind.COUNT),
        ("sex", ColumnKind.BINARY),
        ("ca", ColumnKind.COUNT),
    ]
