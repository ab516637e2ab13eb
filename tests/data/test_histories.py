"""Patient histories (synthmed.data.histories): long events regrouped into patients and ordered visits, written back
by `to_long`, and every ambiguous input refused by the rows a user can find."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from synthmed.data.histories import Histories, HistoryRoles, read_histories, to_long
from synthmed.errors import DataError, SynthmedWarning

WIDE = HistoryRoles("pid", ("dx1", "dx2"), "vid", "when")
LONG = HistoryRoles("pid", ("code",), "vid", "admit", exclude=("row_id",))


def wide_events() -> pd.DataFrame:
    """One row per visit, rows out of time order: two code columns (401 in both), a patient and a visit attribute."""
    return pd.DataFrame(
        {
            "pid": ["p2", "p1", "p1", "p2", "p1"],
            "vid": [21, 12, 11, 22, 13],
            "when": ["2020-03-01", "2020-02-01", "2020-01-01", "2020-01-15", "2020-03-05"],
            "dx1": ["250", "401", "250", "428", None],
            "dx2": ["401", None, "0389", "250", "401"],
            "sex": ["F", "M", "M", "F", "M"],
            "ward": ["a", "b", "a", "c", "a"],
        }
    )


def long_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """MIMIC's layout: one row per code, a visits table (with a visit that has no codes) and a patients table."""
    events = pd.DataFrame(
        {
            "row_id": [1, 2, 3, 4, 5, 6, 7],
            "pid": [1, 1, 1, 2, 2, 2, 1],
            "vid": [11, 11, 12, 21, 21, 22, 13],
            "code": ["250", "401", "250", "428", "0389", "250", "401"],
        }
    )
    visits = pd.DataFrame(
        {
            "row_id": [9, 8, 7, 6, 5, 4],
            "pid": [2, 1, 1, 2, 1, 2],
            "vid": [22, 11, 12, 21, 13, 23],
            "admit": ["2021-05-01", "2020-01-01", "2020-06-01", "2021-01-01", "2019-01-01", "2022-01-01"],
            "kind": ["E", "U", "E", "E", "U", "U"],
        }
    )
    patients = pd.DataFrame({"row_id": [1, 2, 3], "pid": [1, 2, 3], "sex": ["F", "M", "F"]})
    return events, visits, patients


def read_long() -> Histories:
    events, visits, patients = long_tables()
    with pytest.warns(SynthmedWarning, match="1 patients of the patients table have no visits"):
        return read_histories(events, LONG, visits=visits, patients=patients)


def visit_codes(histories: Histories) -> list[set[tuple[str, str]]]:
    """Each visit's codes as (column, code) pairs, visits in order."""
    codes = histories.codes.tocsr()
    return [{histories.vocabulary[j] for j in codes[[row]].indices} for row in range(codes.shape[0])]


def patient_visits(histories: Histories) -> list[list[int]]:
    """Each patient's visit rows."""
    offsets = histories.visit_offsets
    return [list(range(offsets[i], offsets[i + 1])) for i in range(histories.n_patients)]


# ---- reading -------------------------------------------------------------------------------------------------
def test_one_row_per_visit_is_grouped_sorted_and_split_into_static_and_visit_attributes() -> None:
    histories = read_histories(wide_events(), WIDE)
    assert histories.one_row_per_visit and histories.n_patients == 2
    assert histories.static.columns.tolist() == ["sex"] and histories.visits.columns.tolist() == ["ward"]
    assert histories.static["sex"].tolist() == ["F", "M"]  # patients in order of first appearance: p2, p1
    assert histories.visit_patient.tolist() == [0, 0, 1, 1, 1]
    days = histories.times - histories.times[0]
    assert np.all(np.diff(histories.times[:2]) > 0) and np.all(np.diff(histories.times[2:]) > 0)
    assert days[:2].tolist() == [0.0, 46.0]  # p2: 2020-01-15, then 2020-03-01
    assert histories.visits["ward"].tolist() == ["c", "a", "a", "b", "a"]
    # the vocabulary is (column, code): 401 as a first diagnosis stays apart from 401 as a second one
    assert histories.vocabulary == (
        ("dx1", "250"),
        ("dx1", "401"),
        ("dx1", "428"),
        ("dx2", "0389"),
        ("dx2", "250"),
        ("dx2", "401"),
    )
    assert visit_codes(histories) == [
        {("dx1", "428"), ("dx2", "250")},
        {("dx1", "250"), ("dx2", "401")},
        {("dx1", "250"), ("dx2", "0389")},
        {("dx1", "401")},
        {("dx2", "401")},
    ]
    gaps = histories.gaps()
    assert np.isnan(gaps[[0, 2]]).all() and gaps[[1, 3, 4]].tolist() == [46.0, 31.0, 33.0]


def test_one_row_per_code_joins_the_visits_and_patients_tables() -> None:
    histories = read_long()
    assert not histories.one_row_per_visit
    assert histories.static.columns.tolist() == ["sex"]  # row_id of all three tables is excluded
    assert histories.visits.columns.tolist() == ["kind"]
    # patients in the visits table's order (2 first), each patient's visits by admission time
    assert histories.static["sex"].tolist() == ["M", "F"]
    assert histories.visit_patient.tolist() == [0, 0, 0, 1, 1, 1]
    for rows in patient_visits(histories):
        assert np.all(np.diff(histories.times[rows]) > 0)
    assert histories.vocabulary == (("code", "0389"), ("code", "250"), ("code", "401"), ("code", "428"))
    code = lambda *codes: {("code", c) for c in codes}  # noqa: E731
    # patient 2: 21 (2021-01-01), 22 (2021-05-01), 23 (2022-01-01: listed, no codes); patient 1: 13, 11, 12
    assert visit_codes(histories) == [
        code("0389", "428"),
        code("250"),
        set(),
        code("401"),
        code("250", "401"),
        code("250"),
    ]
    assert histories.visits["kind"].tolist() == ["E", "E", "U", "U", "U", "E"]


def test_visits_without_times_are_ordered_by_numeric_visit_id() -> None:
    events = wide_events().drop(columns="when")
    histories = read_histories(events, HistoryRoles("pid", ("dx1", "dx2"), visit="vid"))
    assert histories.times is None and histories.gaps() is None
    assert visit_codes(histories)[2:] == [{("dx1", "250"), ("dx2", "0389")}, {("dx1", "401")}, {("dx2", "401")}]


def test_visits_named_by_time_alone() -> None:
    events = wide_events().drop(columns="vid")
    histories = read_histories(events, HistoryRoles("pid", ("dx1", "dx2"), time="when"))
    assert histories.visit_patient.tolist() == [0, 0, 1, 1, 1]
    assert visit_codes(histories) == visit_codes(read_histories(wide_events(), WIDE))


def test_roles_need_visits_and_codes() -> None:
    with pytest.raises(DataError, match="--visit-column"):
        HistoryRoles("pid", ("dx",))
    with pytest.raises(DataError, match="--codes"):
        HistoryRoles("pid", (), visit="vid")


# ---- writing back --------------------------------------------------------------------------------------------
def _renumbered(frame: pd.DataFrame, roles: HistoryRoles) -> pd.Series:
    """1, 2, ... for patients in order of first appearance, as `to_long` numbers them."""
    return pd.Series(pd.factorize(frame[roles.patient])[0] + 1)


@pytest.mark.parametrize("layout", ["one row per visit", "one row per code"])
def test_to_long_round_trips(layout: str) -> None:
    if layout == "one row per visit":
        roles, histories = WIDE, read_histories(wide_events(), WIDE)
        columns = wide_events().columns.tolist()
    else:
        roles, histories = LONG, read_long()
        columns = ["pid", "vid", "code", "admit", "kind", "sex"]
    long = to_long(histories)
    assert long.columns.tolist() == columns
    again = read_histories(long, roles)
    assert again.one_row_per_visit == histories.one_row_per_visit
    assert again.vocabulary == histories.vocabulary
    assert visit_codes(again) == visit_codes(histories)
    assert again.visit_patient.tolist() == histories.visit_patient.tolist()
    np.testing.assert_allclose(again.times, histories.times)
    pd.testing.assert_frame_equal(again.static, histories.static, check_dtype=False)
    pd.testing.assert_frame_equal(again.visits, histories.visits, check_dtype=False)
    # patients and visits are numbered 1, 2, ... in order
    assert sorted(long[roles.patient].unique()) == list(range(1, histories.n_patients + 1))
    assert long[roles.patient].tolist() == _renumbered(long, roles).tolist()
    assert sorted(long[roles.visit].unique()) == list(range(1, len(histories.visits) + 1))


def test_to_long_keeps_a_visit_without_codes_as_one_row() -> None:
    long = to_long(read_long())
    empty = long[long["code"].isna()]
    assert len(empty) == 1 and empty["admit"].iloc[0] == pd.Timestamp("2022-01-01")


def test_take_keeps_the_chosen_patients_histories() -> None:
    histories = read_histories(wide_events(), WIDE)
    taken = histories.take(np.array([1]))
    assert taken.n_patients == 1 and taken.static["sex"].tolist() == ["M"]
    assert visit_codes(taken) == visit_codes(histories)[2:]


# ---- refused inputs ------------------------------------------------------------------------------------------
def _refused(events: pd.DataFrame, roles: HistoryRoles = WIDE, **tables: pd.DataFrame) -> str:
    with pytest.raises(DataError) as caught:
        read_histories(events, roles, **tables)
    return str(caught.value)


def _rows_named(message: str) -> list[int]:
    return [int(n) for n in re.findall(r"'row (\d+)'", message)]


def test_a_visit_without_a_patient_names_its_row() -> None:
    events = wide_events()
    events.loc[3, "pid"] = None
    message = _refused(events)
    assert "the patient id is missing" in message and "Column 'pid'" in message
    assert _rows_named(message) == [4]


def test_a_visit_id_shared_by_two_patients_names_its_rows() -> None:
    events = wide_events()
    events.loc[1, "vid"] = 21  # p1's visit given p2's id
    message = _refused(events)
    assert "a visit id shared by several patients" in message and _rows_named(message) == [1, 2]


def test_a_visit_with_two_times_names_its_rows() -> None:
    events = pd.DataFrame(
        {"pid": [1, 1, 1], "vid": [5, 5, 6], "when": ["2020-01-01", "2020-01-02", "2020-02-01"], "dx1": ["1", "2", "3"]}
    )
    message = _refused(events, HistoryRoles("pid", ("dx1",), "vid", "when"))
    assert "a visit with several times" in message and _rows_named(message) == [1, 2]


def test_two_visits_of_a_patient_at_one_time_are_duplicated_times() -> None:
    events = wide_events()
    events.loc[4, "when"] = "2020-01-01"  # p1's third visit at the time of its first
    message = _refused(events)
    assert "duplicated times" in message and "Column 'when'" in message
    assert _rows_named(message) == [3, 5]


def test_two_patients_may_share_a_time() -> None:
    events = wide_events()
    events.loc[0, "when"] = "2020-01-01"
    assert read_histories(events, WIDE).n_patients == 2


def test_a_code_column_of_numbers_is_refused_naming_the_column() -> None:
    events = wide_events().assign(dx2=[401.0, np.nan, 389.0, 250.0, 401.0])
    message = _refused(events)
    assert "Column 'dx2'" in message and "a code column holds numbers" in message and "as text" in message


@pytest.mark.parametrize(
    ("times", "rows"),
    [
        (["2020-03-01", "2020-02-01", "2020-01-01", "unknown", "2020-03-05"], [4]),
        (["soon", "later", "never", "now", "then"], [1, 2, 3]),
    ],
)
def test_unreadable_times_name_their_rows(times: list[str], rows: list[int]) -> None:
    message = _refused(wide_events().assign(when=times))
    assert "Column 'when'" in message and "times that are neither dates nor numbers" in message
    assert _rows_named(message) == rows


def test_a_visit_without_a_time_names_its_row() -> None:
    message = _refused(wide_events().assign(when=["2020-03-01", None, "2020-01-01", "2020-01-15", "2020-03-05"]))
    assert "visits without a time" in message and _rows_named(message) == [2]


def test_events_of_a_visit_the_visits_table_lacks_name_their_rows() -> None:
    events, visits, patients = long_tables()
    message = _refused(events, LONG, visits=visits[visits["vid"] != 12], patients=patients)
    assert "events of a visit the visits table does not list" in message
    assert "of the events table" in message and _rows_named(message) == [3]


def test_events_whose_patient_differs_from_their_visits_name_their_rows() -> None:
    events, visits, patients = long_tables()
    events.loc[2, "pid"] = 2  # visit 12 is patient 1's
    message = _refused(events, LONG, visits=visits, patients=patients)
    assert "events whose patient differs from their visit's" in message and _rows_named(message) == [3]
    assert read_histories(events.drop(columns="pid"), LONG, visits=visits).n_patients == 2


def test_errors_after_the_join_name_rows_of_the_table_the_column_came_from() -> None:
    events, visits, patients = long_tables()
    visits.loc[4, "pid"] = None  # visit 13 has no patient
    message = _refused(events, LONG, visits=visits, patients=patients)
    assert "the patient id is missing" in message and "of the visits table" in message
    assert _rows_named(message) == [5]
    events, visits, patients = long_tables()
    visits.loc[4, "admit"] = "2020-01-01"  # patient 1's visits 11 and 13 at one time
    message = _refused(events, LONG, visits=visits, patients=patients)
    assert "duplicated times" in message and "of the visits table" in message and _rows_named(message) == [2, 5]


def test_a_visit_attribute_changing_within_a_visit_suggests_exclude() -> None:
    events, visits, _ = long_tables()
    events["seq_num"] = [1, 2, 1, 1, 2, 1, 1]
    message = _refused(events, LONG, visits=visits)
    assert "a visit attribute that changes within one visit" in message and "--exclude seq_num" in message
    assert "of the events table" in message and _rows_named(message) == [1, 2, 4]
    roles = HistoryRoles("pid", ("code",), "vid", "admit", exclude=("row_id", "seq_num"))
    assert read_histories(events, roles, visits=visits).visits.columns.tolist() == ["kind"]


def test_text_visit_ids_without_a_time_cannot_be_ordered() -> None:
    events = wide_events().drop(columns="when").assign(vid=["x", "y", "z", "u", "v"])
    message = _refused(events, HistoryRoles("pid", ("dx1", "dx2"), visit="vid"))
    assert "Column 'vid'" in message and "visit ids are not numbers" in message and "--time" in message


def test_visit_ids_listed_twice_and_patients_listed_twice_name_their_rows() -> None:
    events, visits, patients = long_tables()
    twice = pd.concat([visits, visits.iloc[[1]]], ignore_index=True)
    message = _refused(events, LONG, visits=twice)
    assert "listed twice in the visits table" in message and _rows_named(message) == [2, 7]
    message = _refused(events, LONG, visits=visits, patients=pd.concat([patients, patients.iloc[[0]]]))
    assert "patients listed twice" in message and _rows_named(message) == [1, 4]


def test_missing_role_columns_are_named() -> None:
    message = _refused(wide_events().drop(columns="dx2"))
    assert "Column 'dx2'" in message and "--codes" in message


def test_a_patients_table_whose_ids_match_no_event_is_refused() -> None:
    events = pd.DataFrame({"patient": [1, 1, 2], "visit": [1, 2, 3], "code": ["a", "b", "c"]})
    patients = pd.DataFrame({"patient": ["1", "2"], "sex": ["F", "M"]})
    with pytest.raises(DataError, match="match none of the events"):
        read_histories(events, HistoryRoles("patient", ("code",), visit="visit"), patients=patients)
