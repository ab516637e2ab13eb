"""Singling out, linkability and attribute inference behave as Giomi et al. 2023 define them: a release that
copies TRAIN discloses nearly everything, an independent sample of the population nothing beyond the control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.evaluate.disclosure import (
    AT_LEAST,
    AT_MOST,
    EQUAL,
    MISSING,
    Predicates,
    disclosure_risk,
    disclosure_risks,
    matches,
)
from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.intervals import Estimate
from tests.workflows.test_release import patients

ROWS = 400


def _risks(synthetic: pd.DataFrame) -> dict[str, object]:
    tables = prepare_tables(patients(0, ROWS), patients(1, ROWS), synthetic)
    return {risk.name: risk for risk in disclosure_risks(tables, attacks=300)}


def test_the_risk_is_the_attacks_gain_over_the_control_as_a_share_of_what_was_left() -> None:
    risk = disclosure_risk(Estimate(0.6, 0.55, 0.65), Estimate(0.2, 0.15, 0.25))
    assert risk.value == pytest.approx(0.5)
    assert risk.low < 0.5 < risk.high and risk.high - risk.low < 0.2
    assert disclosure_risk(Estimate(0.1, 0.05, 0.15), Estimate(0.3, 0.25, 0.35)).value == 0.0  # never negative


def test_a_copy_of_train_discloses_its_records() -> None:
    risks = _risks(patients(0, ROWS))
    assert set(risks) == {
        "singling out (univariate)",
        "singling out (multivariate)",
        "linkability",
        "attribute inference: age",
        "attribute inference: sbp",
        "attribute inference: sex",
        "attribute inference: smoker",
    }
    for name in ("singling out (multivariate)", "linkability", "attribute inference: age"):
        risk = risks[name]
        assert risk.attack_rate.value > 0.95 and risk.risk.low > 0.5, name
        assert risk.beats_baseline and risk.attack_rate.value > risk.control_rate.high
    assert risks["singling out (univariate)"].attack_rate.value == 1.0  # every rare value is a real one


def test_an_independent_sample_discloses_nothing_beyond_the_control() -> None:
    risks = _risks(patients(2, ROWS))
    for name, risk in risks.items():
        assert risk.risk.low == 0.0 and risk.risk.value < 0.1, (name, risk)
    record = risks["linkability"].to_dict()
    assert set(record) == {"name", "attacks", "attack_rate", "control_rate", "baseline_rate", "risk", "beats_baseline"}


def _brute_force(columns: np.ndarray, operators: np.ndarray, values: np.ndarray, data: np.ndarray) -> int:
    hold = np.ones(len(data), dtype=bool)
    for column, operator, value in zip(columns, operators, values, strict=True):
        if column < 0:
            continue
        cells = data[:, column]
        with np.errstate(invalid="ignore"):
            hold &= {
                EQUAL: cells == value,
                AT_MOST: cells <= value,
                AT_LEAST: cells >= value,
                MISSING: np.isnan(cells),
            }[operator]
    return int(hold.sum())


cell = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.5]), st.just(float("nan")))


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=12),
    slots=st.lists(
        st.lists(
            st.tuples(st.integers(-1, 2), st.sampled_from([EQUAL, AT_MOST, AT_LEAST, MISSING]), cell),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_predicate_counts_match_a_row_by_row_reading(data: list[list[float]], slots: list) -> None:
    table = np.array(data)
    columns = np.array([[c for c, _, _ in row] for row in slots])
    operators = np.array([[o for _, o, _ in row] for row in slots])
    values = np.array([[v for _, _, v in row] for row in slots])
    found = matches(Predicates(columns, operators, values), table)
    expected = [_brute_force(columns[i], operators[i], values[i], table) for i in range(len(slots))]
    assert found.tolist() == expected
