"""Histories as token rows (synthmed.data.history_tokens): every encoded token obeys the grammar, and decoding the
encoding gives back the codes and the attributes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.data.history_tokens import BOS, PAD, HistoryTokenizer
from synthmed.errors import SynthmedWarning

DAY = pd.Timestamp("2020-01-01")


def events(seed: int = 0, patients: int = 12) -> pd.DataFrame:
    """One row per visit: a static sex, a visit ward and age, two code columns (some missing), distinct times."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        sex = rng.choice(["F", "M"])
        days = rng.choice(900, size=rng.integers(1, 4), replace=False)
        for number, day in enumerate(days):
            rows.append(
                {
                    "pid": f"p{patient}",
                    "vid": patient * 10 + number,
                    "when": DAY + pd.Timedelta(days=int(day)),
                    "dx1": rng.choice(["250", "401", "0389"]),
                    "dx2": rng.choice(["428", "401", None]),
                    "sex": sex,
                    "ward": rng.choice(["a", "b"]),
                    "age": int(rng.integers(20, 90)),
                }
            )
    return pd.DataFrame(rows)


def one_row_per_code(table: pd.DataFrame) -> pd.DataFrame:
    """The same visits with one row per code (a visit's codes in one column)."""
    long = table.melt(id_vars=[c for c in table.columns if c not in ("dx1", "dx2")], value_name="code")
    return long.drop(columns="variable").dropna(subset=["code"]).sort_values(["pid", "when"], ignore_index=True)


ROLES = {
    "visit id and time": (HistoryRoles("pid", ("dx1", "dx2"), "vid", "when"), lambda t: t),
    "visit id alone": (HistoryRoles("pid", ("dx1", "dx2"), visit="vid"), lambda t: t.drop(columns="when")),
    "time alone": (HistoryRoles("pid", ("dx1", "dx2"), time="when"), lambda t: t.drop(columns="vid")),
    "one row per code": (HistoryRoles("pid", ("code",), "vid", "when"), one_row_per_code),
}


def fitted(histories: Histories) -> tuple[HistoryTokenizer, pd.DataFrame, pd.DataFrame, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SynthmedWarning)  # notes about the tiny attribute tables
        tokenizer, _, static, visits = HistoryTokenizer().fit(histories)
    return tokenizer, static, visits, tokenizer.encode(histories, static, visits)


def assert_grammatical(tokenizer: HistoryTokenizer, rows: np.ndarray) -> None:
    slots = tokenizer.grammar(rows)
    outside = (rows < slots.low) | (rows >= slots.high)
    assert not outside.any(), np.argwhere(outside)[:5]
    assert (rows[:, 0] == BOS).all() and (slots.slot[rows == PAD] == -1).all()


def assert_round_trip(
    histories: Histories, tokenizer: HistoryTokenizer, static: pd.DataFrame, visits: pd.DataFrame, rows: np.ndarray
) -> None:
    decoded = tokenizer.decode(rows, np.random.default_rng(0))
    assert decoded.n_patients == histories.n_patients
    assert decoded.visit_patient.tolist() == histories.visit_patient.tolist()
    assert decoded.vocabulary == histories.vocabulary
    assert (decoded.codes != histories.codes).nnz == 0
    for name in static.columns:
        assert decoded.static[name].astype(object).tolist() == static[name].astype(object).tolist(), name
    for name in visits.columns:
        if visits[name].dtype.kind not in "fM":  # categories and exact numbers come back as they were
            assert decoded.visits[name].astype(object).tolist() == visits[name].astype(object).tolist(), name
    if histories.times is not None:
        np.testing.assert_allclose(decoded.times, histories.times, atol=1e-6)


@pytest.mark.parametrize("layout", list(ROLES))
def test_every_encoded_token_is_allowed_where_it_stands(layout: str) -> None:
    roles, shape = ROLES[layout]
    histories = read_histories(shape(events()), roles)
    tokenizer, _, _, rows = fitted(histories)
    assert len(rows) == histories.n_patients
    assert_grammatical(tokenizer, rows)


@pytest.mark.parametrize("layout", list(ROLES))
def test_decode_of_encode_gives_back_codes_and_attributes(layout: str) -> None:
    roles, shape = ROLES[layout]
    histories = read_histories(shape(events()), roles)
    tokenizer, static, visits, rows = fitted(histories)
    assert static.columns.tolist() == ["sex"] and "ward" in visits.columns
    assert_round_trip(histories, tokenizer, static, visits, rows)


def test_patients_of_one_visit_each_have_no_gap_and_decode_back() -> None:
    first = events().drop_duplicates("pid", ignore_index=True)
    histories = read_histories(first, ROLES["visit id and time"][0])
    assert np.isnan(histories.gaps()).all()
    tokenizer, static, visits, rows = fitted(histories)
    assert_grammatical(tokenizer, rows)
    assert_round_trip(histories, tokenizer, static, visits, rows)


def test_a_saved_tokenizer_encodes_alike() -> None:
    histories = read_histories(events(), ROLES["visit id and time"][0])
    tokenizer, static, visits, rows = fitted(histories)
    loaded = HistoryTokenizer.from_dict(tokenizer.to_dict(), tokenizer.schema_)
    np.testing.assert_array_equal(loaded.encode(histories, static, visits), rows)
    assert loaded.size_ == tokenizer.size_ and loaded.slots == tokenizer.slots


def test_one_row_per_visit_allows_one_code_per_column_in_a_visit() -> None:
    histories = read_histories(events(), ROLES["visit id and time"][0])
    tokenizer, _, _, rows = fitted(histories)
    slots = tokenizer.grammar(rows)
    first_codes = (rows >= tokenizer.code_start_) & (rows < tokenizer.code_start_ + 3)  # the three dx1 codes
    after = np.roll(first_codes, 1, axis=1)
    # after a dx1 code, the next code must be a dx2 code (or the visit ends)
    assert (slots.low[after & (slots.slot == tokenizer.code_slot_)] >= tokenizer.code_start_ + 3).all()


# ---- random small histories -------------------------------------------------------------------------------
CODES = ["250", "401", "0389", "428", "V45"]


@st.composite
def random_histories(draw: st.DrawFn) -> tuple[pd.DataFrame, HistoryRoles]:
    """10 to 14 patients of 1 to 3 visits, each with 0 to 3 codes (one row per code) or a code per column (one row
    per visit), a static and a visit category."""
    wide = draw(st.booleans())
    rows = []
    for patient in range(draw(st.integers(10, 14))):
        sex = draw(st.sampled_from(["F", "M", "X"]))
        days = draw(st.lists(st.integers(0, 400), min_size=1, max_size=3, unique=True))
        for number, day in enumerate(days):
            visit = {"pid": patient, "vid": patient * 10 + number, "when": DAY + pd.Timedelta(days=day), "sex": sex}
            visit["ward"] = draw(st.sampled_from(["a", "b", "c"]))
            if wide:
                pair = draw(st.tuples(st.sampled_from([*CODES, None]), st.sampled_from([*CODES, None])))
                rows.append({**visit, "dx1": pair[0], "dx2": pair[1]})
            else:
                codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=3))
                rows += [{**visit, "code": code} for code in codes]
    roles = HistoryRoles("pid", ("dx1", "dx2") if wide else ("code",), "vid", "when")
    return pd.DataFrame(rows), roles


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_histories())
def test_random_histories_encode_grammatically_and_decode_back(drawn: tuple[pd.DataFrame, HistoryRoles]) -> None:
    table, roles = drawn
    histories = read_histories(table, roles)
    tokenizer, static, visits, rows = fitted(histories)
    assert_grammatical(tokenizer, rows)
    assert_round_trip(histories, tokenizer, static, visits, rows)
