"""The canary audit of patient histories: canaries built from common codes and far from every patient, the Jaccard
distance, and full audits of a generator that copies patients and of one that makes up their codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from synthmed.data.histories import HistoryRoles, read_histories
from synthmed.data.history_rare import code_holders
from synthmed.errors import ConfigError
from synthmed.workflows.history_audit import audit_histories, draw_history_canaries, nearest_jaccard, patient_codes

ROLES = HistoryRoles("patient", ("diag_1", "diag_2"), visit="encounter", time="day")


def events(patients: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per visit, 1-4 visits per patient, two code columns over 30 codes each (diag_2 sometimes missing)."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        for number in range(rng.integers(1, 5)):
            rows.append(
                {
                    "patient": patient,
                    "encounter": 10 * patient + number,
                    "day": 100 * number,
                    "diag_1": f"A{rng.integers(30)}",
                    "diag_2": f"B{rng.integers(30)}" if rng.random() < 0.7 else None,
                    "sex": "F" if patient % 2 else "M",
                }
            )
    return pd.DataFrame(rows)


def test_jaccard_distance_to_the_closest_patient() -> None:
    canaries = sparse.csr_array(np.array([[1, 1, 0, 0], [0, 0, 1, 1]]))
    others = sparse.csr_array(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]))
    nearest = nearest_jaccard(canaries, others, np.asarray(others.sum(1)).ravel())
    np.testing.assert_allclose(nearest, [0.0, 0.5])  # {c, d} against {c}: 1 shared of 2


def test_canaries_hold_common_codes_in_the_templates_shape_and_no_patient_has_them() -> None:
    real = read_histories(events(), ROLES)
    rare = events()
    rare.loc[0, "diag_1"] = "RARE"
    with_rare = read_histories(rare, ROLES)
    canaries = draw_history_canaries(with_rare, 40, 5, np.random.default_rng(0))
    assert canaries.n_patients == 40 and canaries.vocabulary == with_rare.vocabulary
    held = code_holders(with_rare)
    used = np.unique(sparse.coo_array(canaries.codes).col)
    assert (held[used] >= 5).all()  # RARE never stands in a canary
    columns = np.array([column for column, _ in canaries.vocabulary])
    per_visit = sparse.csr_array(canaries.codes)[:, np.flatnonzero(columns == "diag_1")].sum(1)
    assert (np.asarray(per_visit).ravel() == 1).all()  # every visit keeps its one primary diagnosis
    vocabulary = {pair: i for i, pair in enumerate(real.vocabulary)}
    sizes = np.asarray(patient_codes(real, vocabulary).sum(1)).ravel()
    assert (nearest_jaccard(patient_codes(canaries, vocabulary), patient_codes(real, vocabulary), sizes) > 0).all()


class Copier:
    """The worst generator of histories: it releases training patients as they are."""

    name = "copier"

    def fit(self, table: pd.DataFrame, **_: object) -> Copier:
        self.table = table
        return self

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return self.table


class Shuffler(Copier):
    """A generator that keeps every patient's visits but gives each visit another patient's codes."""

    name = "shuffler"

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        order = np.random.default_rng(seed).permutation(len(self.table))
        shuffled = self.table.copy()
        shuffled[["diag_1", "diag_2"]] = self.table[["diag_1", "diag_2"]].to_numpy()[order]
        return shuffled


def test_a_copier_reproduces_every_inserted_canary_and_a_shuffler_none() -> None:
    copied = audit_histories(events(), ROLES, Copier(), once=16, per_repetition=2, reference=64, progress=False)
    assert copied.unit == "patients" and copied.rows == 200 and copied.inserted_rows == 16 + 2 * (2 + 4 + 8 + 16)
    once = next(group for group in copied.groups if group.repetitions == 1)
    never = next(group for group in copied.groups if group.repetitions == 0)
    assert once.exact_share == 1.0 and never.exact_share == 0.0
    assert copied.membership.auc == 1.0 and copied.membership.epsilon_lower_bound > 0
    shuffled = audit_histories(events(), ROLES, Shuffler(), once=16, per_repetition=2, reference=64, progress=False)
    groups = {group.repetitions: group for group in shuffled.groups}
    assert groups[1].exact_share <= 0.1 and groups[16].exact_share <= 0.1  # chance matches of short histories
    assert shuffled.membership.epsilon_lower_bound == 0.0


def test_too_few_common_codes_are_refused() -> None:
    few = events(patients=3)
    with pytest.raises(ConfigError, match="fewer than 2 codes"):
        audit_histories(few, ROLES, Copier(), once=1, per_repetition=1, reference=10, progress=False)
