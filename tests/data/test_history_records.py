"""Records as one-visit histories (synthmed.data.history_records): a table of 0/1 code columns and patient
attributes goes to histories and comes back unchanged, column by column and type by type; a merged rare code, which
names no column, is dropped on the way back; a table without codes is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.data.history_rare import generalise_codes
from synthmed.data.history_records import CODE, RecordLayout, as_records, is_code_column, records_as_histories
from synthmed.errors import DataError


def records(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "subject_id": [f"S{i:04d}" for i in range(rows)],
            "z_code": (rng.random(rows) < 0.3).astype(np.int64),
            "age": rng.integers(20, 90, rows),
            "a_code": rng.random(rows) < 0.5,
            "m_code": (rng.random(rows) < 0.2).astype(np.float64),
            "sex": rng.choice(["F", "M"], rows),
        }
    )


def test_records_go_to_one_visit_histories_and_back_unchanged() -> None:
    table = records()
    with pytest.warns(UserWarning, match="subject_id"):  # an identifier is left out, as for any table
        histories, layout = records_as_histories(table)
    assert histories.n_patients == len(table) and len(histories.visits) == len(table)
    assert [code for _, code in histories.vocabulary] == ["a_code", "m_code", "z_code"]  # sorted, as from events
    assert histories.codes.toarray()[:, 2].tolist() == table["z_code"].tolist()
    assert list(histories.static.columns) == ["age", "sex"]
    back = as_records(histories, layout)
    expected = table.drop(columns="subject_id")
    pd.testing.assert_frame_equal(back, expected)  # the order, the values and each column's type
    assert RecordLayout.from_dict(layout.to_dict()) == layout


def test_a_merged_rare_code_names_no_column_and_is_dropped() -> None:
    table = records().drop(columns="subject_id")
    table["once"] = 0
    table.loc[3, "once"] = 1  # one patient holds it
    histories, layout = records_as_histories(table)
    merged, counted = generalise_codes(histories, "merge", 5)
    assert counted == {CODE: 1} and (CODE, "(other)") in merged.vocabulary
    back = as_records(merged, layout)
    assert back["once"].sum() == 0 and back["z_code"].tolist() == table["z_code"].tolist()


def test_a_flag_with_missing_values_stays_an_attribute() -> None:
    table = records().drop(columns="subject_id").assign(flag=[1.0, np.nan] * 20)
    histories, layout = records_as_histories(table)
    assert "flag" in histories.static.columns and "flag" not in layout.codes
    assert not is_code_column(table["flag"]) and is_code_column(table["a_code"])


def test_a_table_without_code_columns_is_refused_with_the_remedy() -> None:
    with pytest.raises(DataError, match="0/1 code columns") as refused:
        records_as_histories(pd.DataFrame({"age": [30, 40, 50], "weight": [60.5, 70.1, 80.2]}))
    assert "--patient-column" in str(refused.value)


@settings(max_examples=40, deadline=None)
@given(
    flags=st.lists(st.lists(st.booleans(), min_size=1, max_size=8), min_size=1, max_size=30).filter(
        lambda rows: len({len(row) for row in rows}) == 1
    ),
    as_bool=st.booleans(),
)
def test_any_matrix_of_codes_comes_back_as_it_went(flags: list[list[bool]], as_bool: bool) -> None:
    matrix = np.array(flags)
    table = pd.DataFrame(
        matrix if as_bool else matrix.astype(np.int64), columns=[f"c{j}" for j in range(matrix.shape[1])]
    )
    histories, layout = records_as_histories(table)
    assert histories.codes.sum() == matrix.sum()
    pd.testing.assert_frame_equal(as_records(histories, layout), table)
