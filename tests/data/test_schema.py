"""Schema inference, schema files and user overrides (identifiers and free text: test_sensitive.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data.inference import infer_kind, infer_schema
from synthmed.data.schema import ColumnKind, Schema
from synthmed.errors import SchemaError

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
