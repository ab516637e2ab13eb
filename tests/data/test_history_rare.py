"""Rare values in histories (synthmed.data.history_rare and the tokenizer's use of it): with `merge` or `suppress`
nothing fewer than k patients hold ships in the vocabulary, the categories or the numbers' values and edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.data.history_rare import (
    code_holders,
    coding_bounds,
    generalise_codes,
    patients_holding,
    rare_values,
)
from synthmed.data.history_tokens import HistoryTokenizer
from synthmed.data.rare import MERGED
from synthmed.errors import DataError

ROLES = HistoryRoles("pid", ("dx",), "vid", "day")


def events(patients: int = 40, seed: int = 0) -> pd.DataFrame:
    """One row per code. Every patient has code A at each of two visits; patient 0 alone also has R1 and R2 at its
    first visit and patient 1 R3 (rare); `ward` is rare ("icu") for patient 0; `age` tops out with patient 2 (120)."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        for visit in range(2):
            ward = "icu" if patient == 0 else rng.choice(["a", "b"])
            age = 120 if patient == 2 else int(rng.integers(20, 80)) + visit
            codes = ["A"] + (["R1", "R2"] if patient == 0 and visit == 0 else []) + (["R3"] if patient == 1 else [])
            for code in codes:
                rows.append(
                    {"pid": patient, "vid": 10 * patient + visit, "day": 1000 * patient + 30 * visit, "dx": code}
                    | {"ward": ward, "age": age}
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def histories() -> Histories:
    return read_histories(events(), ROLES)


def test_patients_holding_counts_each_patient_once() -> None:
    assert patients_holding(np.array([0, 0, 0, 1, 2]), np.array([7, 7, 8, 7, 9]), 4).tolist() == [2, 1, 1, 0]


def test_codes_are_counted_by_patient_not_by_visit(histories: Histories) -> None:
    held = dict(zip((code for _, code in histories.vocabulary), code_holders(histories), strict=True))
    assert held == {"A": 40, "R1": 1, "R2": 1, "R3": 1}  # R3 is at two visits of one patient


def test_merge_puts_rare_codes_into_one_other_code_per_visit(histories: Histories) -> None:
    merged, counted = generalise_codes(histories, "merge", 5)
    assert counted == {"dx": 3}
    assert merged.vocabulary == (("dx", MERGED), ("dx", "A"))
    per_visit = np.asarray(merged.codes.sum(1)).ravel()
    assert per_visit[0] == 2  # patient 0's first visit: A and one "(other)" for R1 and R2
    assert merged.codes.max() == 1 and int(merged.codes[:, [0]].sum()) == 3  # p0 visit 1, p1 visits 1 and 2


def test_suppress_drops_rare_codes_and_keep_changes_nothing(histories: Histories) -> None:
    suppressed, _ = generalise_codes(histories, "suppress", 5)
    assert suppressed.vocabulary == (("dx", "A"),) and suppressed.codes.sum() == len(histories.visits)
    kept, counted = generalise_codes(histories, "keep", 5)
    assert kept is histories and counted == {"dx": 3}


def test_coding_bounds_are_values_k_patients_reach() -> None:
    numbers = np.array([1.0, 2, 3, 4, 5, 6, 100, np.nan])
    patients = np.array([0, 1, 2, 3, 4, 5, 5, 6])
    assert coding_bounds(numbers, patients, 2) == (2.0, 5.0)  # patient 5's max is 100, the next highest 5
    assert coding_bounds(numbers, patients, 7) is None


def tokenized(histories: Histories, rare: str) -> HistoryTokenizer:
    tokenizer, _, _, _ = HistoryTokenizer().fit(histories, rare, 5)  # type: ignore[arg-type]
    return tokenizer


def test_the_tokenizer_ships_no_rare_code_category_or_extreme(histories: Histories) -> None:
    tokenizer = tokenized(histories, "merge")
    assert [code for _, code in tokenizer.vocabulary_] == [MERGED, "A"]
    ward, age = tokenizer.visit_  # ward varies within patients: a visit attribute
    assert ward.values == ["a", "b", MERGED] and "merged" in ward.rare_note
    assert 120 not in (age.values or age.edges) and max(age.values or age.edges) < 90
    assert set(tokenizer.rare_notes_) >= {"dx", "ward", "age"}
    kept = tokenized(histories, "keep")
    assert "R1" in [code for _, code in kept.vocabulary_] and "icu" in kept.visit_[0].values
    assert 120 in (kept.visit_[1].values or kept.visit_[1].edges)


def test_suppressed_categories_become_missing(histories: Histories) -> None:
    ward = tokenized(histories, "suppress").visit_[0]
    assert ward.values == ["a", "b"] and ward.missing


def test_a_gap_too_few_patients_have_is_refused() -> None:
    few = events(patients=40)
    few = few[(few["vid"] % 10 == 0) | (few["pid"] < 3)]  # only 3 patients have a second visit
    with pytest.raises(DataError, match="second visit"):
        tokenized(read_histories(few, ROLES), "merge")


def test_rare_values_lists_codes_and_text_attributes(histories: Histories) -> None:
    assert rare_values(histories, 5) == {"dx": {"R1", "R2", "R3"}, "ward": {"icu"}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(1, 3), min_size=6, max_size=25),
    codes=st.lists(st.sampled_from(list("ABCDEFGH")), min_size=6, max_size=75),
    values=st.lists(st.integers(0, 200), min_size=6, max_size=75),
    k=st.integers(1, 6),
)
def test_nothing_fewer_than_k_patients_hold_ships(counts: list[int], codes: list[str], values: list[int], k: int):
    rows = [
        {"pid": patient, "vid": 10 * patient + visit, "day": 100 * patient + visit}
        for patient, visits in enumerate(counts)
        for visit in range(visits)
    ]
    table = pd.DataFrame(rows)
    table["dx"] = [codes[i % len(codes)] for i in range(len(table))]
    table["ward"] = [codes[(i + 3) % len(codes)].lower() for i in range(len(table))]
    table["dose"] = [values[i % len(values)] for i in range(len(table))]
    try:
        tokenizer, _, _, _ = HistoryTokenizer().fit(read_histories(table, ROLES), "merge", k)
    except DataError:  # too few patients with a second visit to ship a gap
        return
    holders = table.groupby("dx")["pid"].nunique()
    assert all(code == MERGED or holders[code] >= k for _, code in tokenizer.vocabulary_)
    for attribute in [a for a in tokenizer.static_ + tokenizer.visit_ if a.name in table.columns]:
        column = table[attribute.name]
        if set(column.dropna().unique()) <= {0, 1}:  # a 0/1 flag's values name no one (as for tables)
            continue
        if attribute.coding == "category":
            held = table.groupby(attribute.name)["pid"].nunique()
            assert all(value == MERGED or held[value] >= k for value in attribute.values), attribute.name
            continue
        shipped = attribute.values if attribute.values is not None else attribute.edges
        if not shipped:
            continue
        low, high = min(shipped), max(shipped)
        assert (table.groupby("pid")[attribute.name].min() <= low).sum() >= k
        assert (table.groupby("pid")[attribute.name].max() >= high).sum() >= k
        if attribute.values is not None:  # each exact value, once coded, is some k patients'
            coded = table.assign(value=column.clip(low, high))
            held = coded.groupby("value")["pid"].nunique()
            assert all(held.get(value, 0) >= k for value in attribute.values), attribute.name


def test_the_longest_history_is_top_coded_and_too_few_patients_are_refused() -> None:
    table = events(patients=12)
    extra = table[table["pid"] == 3].iloc[[0]]
    longer = [extra.assign(vid=900 + i, day=3000 + 40 * (i + 1)) for i in range(6)]  # patient 3: 8 visits
    histories = read_histories(pd.concat([table, *longer], ignore_index=True), ROLES)
    assert tokenized(histories, "keep").max_visits_ == 8
    assert tokenized(histories, "merge").max_visits_ == 2  # what 5 patients reach
    with pytest.raises(DataError, match="only 3 patients"):
        tokenized(read_histories(events(patients=3), ROLES), "merge")
