"""Named code groups as 0/1 indicators, from event tables and wide tables; the NHDS groups' published shares."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthmed.data.code_groups import clean_codes, flag_matrix, group_matrix, load_flags, load_groups, wide_to_long
from synthmed.data.ehr import code_matrix
from synthmed.data.fixed_width import load_layout, read_fixed_width
from synthmed.errors import SchemaError
from tests.conftest import shared_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GROUPS = {"opioid_use": ("3040", "3055"), "hepatitis": ("070", "V053")}


def test_codes_compare_without_dots_padding_quotes_or_case() -> None:
    cleaned = clean_codes(pd.Series(['"304.00"', "3040-", " v053 ", "", None]))
    assert cleaned.tolist()[:3] == ["30400", "3040", "V053"] and cleaned[3:].isna().all()


def test_an_event_table_gives_one_row_per_record_and_a_column_per_group() -> None:
    events = pd.DataFrame({"subject_id": ["7", "7", "9", "12"], "code": ["304.00", "401.9", "070.1", None]})
    matrix = group_matrix(events["subject_id"], events["code"], GROUPS)
    assert matrix.index.tolist() == ["7", "9", "12"]  # a record with no code keeps its row of zeros
    assert matrix.to_dict("list") == {"opioid_use": [1, 0, 0], "hepatitis": [0, 1, 0]}


def test_a_wide_table_is_read_slot_by_slot() -> None:
    wide = pd.DataFrame({"dx1": ["3055-", "V0530", "4019-"], "dx2": [None, "0700-", "30550"], "age": [30, 1, 70]})
    records, codes = wide_to_long(wide, ["dx1", "dx2"], None)
    matrix = group_matrix(records, codes, GROUPS)
    assert matrix.index.tolist() == [0, 1, 2]
    assert matrix.to_dict("list") == {"opioid_use": [1, 0, 1], "hepatitis": [0, 1, 0]}


def test_flags_are_conditions_on_fields_met_by_any_of_a_records_rows(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text('groups: {opioid_use: ["3040"]}\nflags:\n  child: "age_unit != 1 or age < 18"\n  old: "age > 65"\n')
    flags = load_flags(path)
    events = pd.DataFrame({"stay": [1, 1, 2, 3], "age_unit": [1, 1, 2, 1], "age": [70, 70, 0, None]})
    matrix = flag_matrix(events["stay"], events, flags)
    assert matrix.index.tolist() == [1, 2, 3]
    assert matrix.to_dict("list") == {"child": [0, 1, 0], "old": [1, 0, 0]}  # a missing age meets neither


def test_a_bad_flag_names_itself_and_the_columns(tmp_path: Path) -> None:
    table = pd.DataFrame({"age": [3, 70]})
    with pytest.raises(SchemaError, match="'child'.*cannot evaluate.*age"):
        flag_matrix(pd.Series([0, 1]), table, {"child": "agee < 18"})
    with pytest.raises(SchemaError, match="not true/false"):
        flag_matrix(pd.Series([0, 1]), table, {"child": "age * 2"})
    path = tmp_path / "groups.yaml"
    path.write_text('groups: {opioid_use: ["3040"]}\nflags: {child: ""}\n')
    with pytest.raises(SchemaError, match="'child'.*condition"):
        load_flags(path)
    path.write_text('groups: {opioid_use: ["3040"]}\n')
    assert load_flags(path) == {}


def test_a_bad_groups_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text("groups:\n  opioid_use: []\n")
    with pytest.raises(SchemaError, match="'opioid_use'.*non-empty list"):
        load_groups(path)
    path.write_text("opioid_use: [3040]\n")
    with pytest.raises(SchemaError, match="mapping under 'groups'"):
        load_groups(path)


@pytest.mark.e2e
def test_the_nhds_groups_and_code_matrix_match_the_documented_figures() -> None:
    table = read_fixed_width(
        shared_file("nhds-2010", "NHDS10.PU.txt.bz2"), load_layout(EXAMPLES / "nhds-2010.layout.yaml")
    )
    records, codes = wide_to_long(table, [f"diagnosis_{i}" for i in range(1, 16)], None)
    groups_file = EXAMPLES / "nhds-2010.groups.yaml"
    variables = flag_matrix(records.iloc[: len(table)], table, load_flags(groups_file)).join(
        group_matrix(records, codes, load_groups(groups_file))
    )
    shares = variables.mean().round(4)
    # SOURCES.md's table: all 19 variables, and no discharge both under 18 and over 65
    assert variables.shape == (151_551, 19)
    assert shares[["age_under_18", "age_over_65", "female"]].tolist() == [0.1472, 0.35, 0.5803]
    assert shares[["opioid_use", "hepatitis", "depression", "tobacco_use"]].tolist() == [0.0108, 0.0628, 0.0938, 0.1456]
    assert not (variables["age_under_18"] & variables["age_over_65"]).any()
    # and the whole diagnosis matrix at medGAN's 3-digit granularity: 1,116 codes, 6.86 per discharge
    long = pd.DataFrame({"record": records.astype("string"), "code": codes})
    matrix = code_matrix(long, patient_column="record", code_column="code")
    assert matrix.shape == (151_551, 1_116) and round(float(matrix.sum(axis=1).mean()), 2) == 6.86
