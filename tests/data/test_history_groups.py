"""Code groups in histories (synthmed.data.history_groups): codes become the groups they fall in, per column, and
groups that would give one visit's column two codes are refused where the input had one row per visit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data.histories import HistoryRoles, read_histories
from synthmed.data.history_groups import grouped_histories
from synthmed.errors import DataError

ROLES = HistoryRoles("patient", ("diag_1", "diag_2"), visit="visit")
GROUPS = {"heart_failure": ("428",), "diabetes": ("250",), "hypertension": ("401", "402")}


def visits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient": [1, 1, 2, 3],
            "visit": [1, 2, 3, 4],
            "diag_1": ["428.0", "250.01", "V45", "401.9"],
            "diag_2": ["250.4", None, "402", "428"],
        }
    )


def held(histories, visit: int) -> set[tuple[str, str]]:
    row = histories.codes[[visit]].toarray().ravel()
    return {histories.vocabulary[i] for i in np.flatnonzero(row)}


def test_codes_become_their_groups_within_their_column() -> None:
    grouped = grouped_histories(read_histories(visits(), ROLES), GROUPS)
    assert held(grouped, 0) == {("diag_1", "heart_failure"), ("diag_2", "diabetes")}
    assert held(grouped, 2) == {("diag_2", "hypertension")}  # V45 is in no group: dropped
    assert held(grouped, 3) == {("diag_1", "hypertension"), ("diag_2", "heart_failure")}
    assert ("diag_2", "diabetes") in grouped.vocabulary and ("diag_1", "V45") not in grouped.vocabulary


def test_a_visit_holds_a_group_once() -> None:
    codes = pd.DataFrame({"patient": [1, 1, 1], "visit": [1, 1, 1], "code": ["4280", "4281", "25000"]})
    grouped = grouped_histories(read_histories(codes, HistoryRoles("patient", ("code",), visit="visit")), GROUPS)
    assert held(grouped, 0) == {("code", "heart_failure"), ("code", "diabetes")}
    assert grouped.codes.max() == 1


def test_overlapping_groups_are_refused_with_one_row_per_visit() -> None:
    overlapping = {**GROUPS, "cardiac": ("4",)}
    with pytest.raises(DataError, match="several groups") as caught:
        grouped_histories(read_histories(visits(), ROLES), overlapping)
    assert "428.0 (heart_failure, cardiac)" in str(caught.value)
