"""The privacy checks of history evaluation that are its own: rare codes and categories, counted by patient."""

from __future__ import annotations

import pandas as pd

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.evaluate.history_evaluation import rare_value_check
from synthmed.evaluate.policy import Verdict

ROLES = HistoryRoles("patient", ("code",), visit="visit")


def histories(rows: list[tuple[int, int, str, str]]) -> Histories:
    """(patient, visit, code, ward) rows, one per code."""
    return read_histories(pd.DataFrame(rows, columns=["patient", "visit", "code", "ward"]), ROLES)


# ten patients with code a at two visits in wards x or y; patient 0 alone also has code r, and ward z once
TRAIN = histories(
    [(p, 2 * p + v, "a", "x" if v else "y") for p in range(10) for v in range(2)]
    + [(0, 0, "r", "y"), (0, 20, "a", "z")]
)


def test_a_synthetic_patient_with_a_rare_code_or_category_fails() -> None:
    leaking = histories([(0, 0, "a", "x"), (1, 1, "r", "x"), (1, 2, "r", "y"), (2, 3, "a", "z")])
    check, figures = rare_value_check(TRAIN, leaking, 5)
    assert check.verdict is Verdict.FAIL and "2 synthetic patients" in check.reason
    assert figures == {
        "code": {"rare_values": 1, "synthetic_patients": 1},  # patient 1 holds r at two visits: one patient
        "ward": {"rare_values": 1, "synthetic_patients": 1},
    }
    assert "'z'" not in check.reason  # counts, never values


def test_synthetic_patients_without_rare_values_pass() -> None:
    clean = histories([(0, 0, "a", "x"), (1, 1, "(other)", "(other)")])
    check, figures = rare_value_check(TRAIN, clean, 5)
    assert check.verdict is Verdict.PASS
    assert figures["code"]["synthetic_patients"] == 0
