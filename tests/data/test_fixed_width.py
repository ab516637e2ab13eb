"""Fixed-width files through a layout: positions, types, compression, and refusals that name the field."""

from __future__ import annotations

import bz2
from pathlib import Path

import pandas as pd
import pytest

from synthmed.data.fixed_width import load_layout, read_fixed_width
from synthmed.errors import DataError, SchemaError
from tests.conftest import shared_file

LAYOUT = """
fields:
  - {name: year, start: 1, width: 2, type: integer}
  - {name: sex, start: 3, width: 1, type: integer}
  - {name: diagnosis, start: 4, width: 5}
  - {name: weight, start: 9, width: 4, type: number}
"""


def write(tmp_path: Path, lines: list[str], layout: str = LAYOUT, name: str = "records.txt.bz2") -> tuple[Path, Path]:
    data = tmp_path / name
    data.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    layout_path = tmp_path / "layout.yaml"
    layout_path.write_text(layout)
    return data, layout_path


def test_fields_are_cut_at_their_positions_and_typed(tmp_path: Path) -> None:
    data, layout = write(tmp_path, ["1012809-12.5", "102     0.25", "101V3000  7 "])
    table = read_fixed_width(data, load_layout(layout))
    assert list(table.columns) == ["year", "sex", "diagnosis", "weight"]
    assert table["year"].tolist() == [10, 10, 10] and str(table["year"].dtype) == "Int64"
    assert table["diagnosis"].tolist()[::2] == ["2809-", "V3000"]  # codes keep their letters and padding
    assert pd.isna(table["diagnosis"][1])  # a blank field is missing
    assert table["weight"].tolist() == [12.5, 0.25, 7.0]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("fields: []", "non-empty list under 'fields'"),
        ("fields:\n  - {name: a, start: 0, width: 2}", "1-based"),
        ("fields:\n  - {name: a, start: 1, width: 2, type: date}", "unknown field type"),
        ("fields:\n  - {name: a, start: 1, width: 2}\n  - {name: a, start: 3, width: 1}", "names repeat"),
        ("fields:\n  - {name: a, start: 1, width: 3}\n  - {name: b, start: 3, width: 1}", "'a' and 'b' overlap"),
    ],
)
def test_a_bad_layout_is_refused_with_the_field_named(tmp_path: Path, layout: str, message: str) -> None:
    _, path = write(tmp_path, ["x"], layout=layout)
    with pytest.raises(SchemaError, match=message):
        load_layout(path)


def test_text_in_a_numeric_field_is_refused_naming_it(tmp_path: Path) -> None:
    data, layout = write(tmp_path, ["1012809-12.5", "1X2809-12.5"])
    with pytest.raises(DataError, match=r"'year'.*non-numeric.*'1X'"):
        read_fixed_width(data, load_layout(layout))


@pytest.mark.e2e
def test_the_nhds_layout_reads_every_discharge() -> None:
    path = shared_file("nhds-2010", "NHDS10.PU.txt.bz2")
    layout = Path(__file__).resolve().parents[2] / "examples" / "nhds-2010.layout.yaml"
    table = read_fixed_width(path, load_layout(layout))
    assert table.shape == (151_551, 45)
    assert (table["survey_year"] == 10).all() and set(table["sex"].unique()) == {1, 2}
    assert table["age_unit"].isin([1, 2, 3]).all() and table["diagnosis_1"].notna().all()
