"""The canary audit: canaries, exposure, the empirical epsilon, and a full audit of a leaky and a private model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data import Schema, infer_schema
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.models import VAE
from synthmed.workflows.audit import REPETITIONS, audit, draw_canaries, empirical_epsilon, exposure

SCHEMA = Schema.from_dict(
    {
        "columns": {
            "age": {"kind": "continuous", "min": 0, "max": 120},
            "ward": {"kind": "categorical", "categories": ["cardiology", "oncology", "surgery", "icu"]},
            "smoker": {"kind": "categorical", "categories": [0, 1]},
        }
    }
)


def patients(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(60, 5, rows).round(),
            "ward": rng.choice(["cardiology", "oncology"], rows),
            "smoker": rng.integers(0, 2, rows),
        }
    )


class Copier:
    """The worst generator there is: it releases training rows drawn with replacement."""

    name = "copier"
    privacy_ = None

    def fit(self, table: pd.DataFrame, **_: object) -> Copier:
        self.rows = table
        return self

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return self.rows.sample(n, replace=True, random_state=seed).reset_index(drop=True)


def test_canaries_come_from_the_domain_and_lie_far_from_the_data() -> None:
    table = patients()
    canaries = draw_canaries(table, infer_schema(table, SCHEMA), 50, np.random.default_rng(0))
    assert len(canaries) == 50 and list(canaries.columns) == list(table.columns)
    assert canaries["age"].between(0, 120).all() and canaries["ward"].isin(SCHEMA["ward"].categories).all()
    assert (canaries.dtypes == table.dtypes).all()
    # the data sits at 45-75 in two wards; most canaries are elsewhere on at least one column
    outside = ~canaries["age"].between(45, 75) | canaries["ward"].isin(["surgery", "icu"])
    assert outside.mean() > 0.9


def test_canaries_leave_identifier_and_free_text_columns_empty() -> None:
    table = patients().assign(mrn=[f"MRN{i:05d}" for i in range(300)], note=[f"seen on day {i}" for i in range(300)])
    with pytest.warns(SynthmedWarning):
        schema = infer_schema(table, SCHEMA)
    canaries = draw_canaries(table, schema, 20, np.random.default_rng(0))
    assert canaries["mrn"].isna().all() and canaries["note"].isna().all()


def test_exposure_ranks_a_distance_among_the_reference() -> None:
    reference = np.arange(1.0, 256.0)  # 255 never-inserted canaries
    np.testing.assert_allclose(exposure(np.array([0.0, 1000.0]), reference), [8.0, 8.0 - np.log2(256)])


def test_the_empirical_epsilon_needs_members_to_stand_out() -> None:
    rng = np.random.default_rng(0)
    copied = empirical_epsilon(np.zeros(64), rng.uniform(0.2, 1.0, 512), delta=1e-4)
    assert copied.true_positive_rate == 1.0 and copied.false_positive_rate == 0.0
    assert copied.epsilon_lower_bound == pytest.approx(copied.largest_provable) and copied.epsilon_lower_bound > 3
    alike = empirical_epsilon(rng.uniform(0, 1, 64), rng.uniform(0, 1, 512), delta=1e-4)
    assert alike.epsilon_lower_bound == 0.0 and 0.35 < alike.auc < 0.65


def test_an_audit_catches_a_copying_generator_and_keeps_no_canary() -> None:
    table = patients()
    result = audit(table, Copier(), schema=SCHEMA, once=32, per_repetition=4, reference=128, seed=0)
    groups = {group.repetitions: group for group in result.groups}
    assert set(groups) == {0, *REPETITIONS}
    assert result.inserted_rows == 32 + 4 * (2 + 4 + 8 + 16)
    assert groups[16].exact_share == 1.0 and groups[16].mean_exposure == pytest.approx(np.log2(129), abs=0.01)
    assert groups[0].exact_share == 0.0 and groups[0].mean_exposure < 2
    assert result.membership.epsilon_lower_bound > 1.0  # a third of once-inserted canaries copied, none else
    assert result.consistent  # no DP claimed, nothing to contradict
    text = json.dumps(result.to_dict())
    assert "cardiology" not in text and "surgery" not in text  # aggregates only


def test_a_private_audit_reports_the_accounted_epsilon_beside_the_empirical_one(tmp_path: Path) -> None:
    model = VAE(epochs=2, batch_size=64, hidden_dims=(16,), latent_dim=4, seed=0)
    result = audit(patients(), model, schema=SCHEMA, once=16, per_repetition=2, reference=64, dp_epsilon=2.0, seed=1)
    assert result.accounted_epsilon is not None and 1.98 <= result.accounted_epsilon <= 2.0
    assert result.membership.epsilon_lower_bound <= result.accounted_epsilon and result.consistent
    with pytest.raises(ConfigError, match="at least 10 never inserted"):
        audit(patients(), Copier(), reference=5)
