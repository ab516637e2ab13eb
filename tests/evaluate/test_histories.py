"""History fidelity figures: perfect for the training histories themselves, worse for histories that lose what
the figure measures, and computed as defined on a hand-made example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.evaluate.histories import history_figures, r_squared

ROLES = HistoryRoles("patient", ("code",), visit="visit", time="day")


def histories(rows: list[tuple[int, int, int, str]]) -> Histories:
    """(patient, visit, day, code) rows, one per code."""
    table = pd.DataFrame(rows, columns=["patient", "visit", "day", "code"])
    return read_histories(table, ROLES)


def population(seed: int, shuffle_codes: bool = False, patients: int = 300) -> Histories:
    """Patients with 1-4 visits; codes come in pairs (a with b, c with d) and a visit with a is followed by one with
    c. `shuffle_codes` draws every code independently at the same rates, breaking pairs and sequences."""
    rng = np.random.default_rng(seed)
    rows, visit = [], 0
    for patient in range(patients):
        previous_a = False
        for number in range(rng.integers(1, 5)):
            first = "c" if previous_a else rng.choice(["a", "c", "e"])
            codes = {first, {"a": "b", "c": "d", "e": "f"}[first]}
            if shuffle_codes:
                codes = set(rng.choice(list("abcdef"), size=2, replace=False))
            previous_a = "a" in codes
            rows += [(patient, visit, 10 * number, code) for code in sorted(codes)]
            visit += 1
    return histories(rows)


def test_a_set_against_itself_scores_perfectly() -> None:
    real = population(0)
    figures = history_figures(real, real)
    for name in ("code_probability_r2", "cooccurrence_r2", "consecutive_r2"):
        assert figures[name] == pytest.approx(1.0)
    assert figures["visits_per_patient_tvd"] == figures["codes_per_visit_tvd"] == 0.0
    assert figures["gap_ks"] == 0.0


def test_a_second_sample_scores_well_and_broken_structure_scores_badly() -> None:
    real, again, broken = population(0), population(1), population(2, shuffle_codes=True)
    good, bad = history_figures(real, again), history_figures(real, broken)
    assert good["cooccurrence_r2"] > 0.9 and good["consecutive_r2"] > 0.8
    assert bad["cooccurrence_r2"] < 0.5 and bad["consecutive_r2"] < good["consecutive_r2"] - 0.3


def test_consecutive_shares_follow_the_definition() -> None:
    # patient 0: {x} then {y}; patient 1: {x} then {x}; 10 more patients {x} then {y} give x enough support
    rows = [(0, 0, 0, "x"), (0, 1, 5, "y"), (1, 2, 0, "x"), (1, 3, 5, "x")]
    rows += [(p, 10 + 2 * p, 0, "x") for p in range(2, 12)] + [(p, 11 + 2 * p, 5, "y") for p in range(2, 12)]
    real = histories(rows)
    # the compared set: every x is followed by x, so P(y | x) = 0 and P(x | x) = 1 where the truth is 11/12, 1/12
    other = histories([(p, 2 * p, 0, "x") for p in range(12)] + [(p, 2 * p + 1, 5, "x") for p in range(12)])
    truth, estimate = np.array([1 / 12, 11 / 12]), np.array([1.0, 0.0])
    figures = history_figures(real, other, min_support=10)
    assert figures["consecutive_r2"] == pytest.approx(r_squared(truth, estimate))
    assert history_figures(real, other, min_support=13)["consecutive_r2"] is None  # x is in 12 visits
    assert figures["visits_per_patient_tvd"] == 0.0
