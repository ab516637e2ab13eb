"""Differentially private tabgan: released marginals, one-row critic packs, what ships; fixed-share phases."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthmed
from synthmed.data import Schema
from synthmed.errors import ConfigError, SchemaError
from synthmed.models import TabGAN, dp
from synthmed.models.dp import Phase, PrivacyBudget, PrivateTraining, epsilon_of, stored_composition

SCHEMA = {
    "columns": {
        "age": {"kind": "continuous", "min": 0, "max": 120},
        "ward": {"kind": "categorical", "categories": ["cardiology", "oncology", "surgery"]},
        "sex": {"kind": "categorical", "categories": ["F", "M"]},
    }
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    sex = rng.choice(["F", "M"], 600)
    return pd.DataFrame(
        {
            "age": np.where(sex == "F", rng.normal(35, 4, 600), rng.normal(75, 4, 600)).round(1),
            "ward": rng.choice(["cardiology", "oncology"], 600, p=[0.7, 0.3]),
            "sex": sex,
        }
    )


def test_a_fixed_share_phase_spends_its_share_and_the_training_phases_the_rest() -> None:
    phases = {"counts": Phase(500, 1, share=0.2), "train": Phase(50, 100)}
    private = PrivateTraining(PrivacyBudget(2.0), rows=500, phases=phases, seed=0)
    counts_alone = epsilon_of([(private.fixed_noise["counts"], 1.0, 1)], private.delta)
    assert 0.39 <= counts_alone <= 0.4 + dp.STORED_EPSILON_ERROR  # PRV bounds the exact 0.4 from above
    assert 1.98 <= private.planned_epsilon <= 2.0
    noisy = private.noisy_counts("counts", np.full(4, 100.0), sensitivity=2.0)
    assert not np.allclose(noisy, 100.0) and np.abs(noisy - 100).max() < 10 * private.fixed_noise["counts"] * 2
    summary = private.summary()
    fixed = private.fixed_noise["counts"]
    assert summary["phases"]["counts"] == {"sample_rate": 1.0, "steps": 1, "noise_multiplier": fixed}
    assert epsilon_of(stored_composition(summary), private.delta) == pytest.approx(counts_alone)
    with pytest.raises(ConfigError, match="budget shares"):
        PrivateTraining(PrivacyBudget(2.0), rows=500, phases={"counts": Phase(500, 1, share=1.5)}, seed=0)


def test_private_tabgan_releases_noisy_marginals_and_ships_nothing_undeclared(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(SchemaError, match="public metadata"):
        TabGAN(epochs=2, seed=0).fit(table, progress=False, dp_epsilon=5.0)
    model = TabGAN(epochs=3, seed=0).fit(table, schema=Schema.from_dict(SCHEMA), progress=False, dp_epsilon=5.0)
    privacy = model.privacy_
    assert set(privacy["phases"]) == {"marginals", "critic"}
    assert privacy["phases"]["marginals"]["steps"] == 1 and privacy["phases"]["critic"]["steps"] == 3 * 20
    assert 4.95 <= privacy["epsilon"] <= 5.0
    assert epsilon_of(stored_composition(privacy), privacy["delta"]) == privacy["epsilon"]
    assert {"critic", "conditions", "marginals", "distribution_matching", "numeric_columns"} <= set(
        privacy["adaptations"]
    )
    assert model.networks_["critic"].pac == 1  # packs of several records would break per-record clipping
    assert set(model.history_["train"][0]) == {"epoch", "generator", "epsilon", "seconds"}
    with zipfile.ZipFile(model.save(tmp_path / "dp.smg")) as archive:
        meta = json.loads(archive.read("model.json"))
    age = next(c for c in meta["transformer"]["columns"] if c["column"] == "age")
    assert (age["min"], age["max"], age["calibration"]["source"]) == (0, 120, "dp-histogram")
    assert "modes" not in age  # a mixture would be fitted on the data
    loaded = synthmed.load(tmp_path / "dp.smg")
    pd.testing.assert_frame_equal(loaded.sample(50, seed=1), model.sample(50, seed=1))


def test_at_a_loose_budget_the_released_marginals_carry_the_data(table: pd.DataFrame) -> None:
    """With little noise the calibration and conditions follow the data: the two age groups and the ward mix."""
    model = TabGAN(seed=0).fit(table, schema=Schema.from_dict(SCHEMA), progress=False, dp_epsilon=20.0)
    synthetic = model.sample(2_000, seed=0)
    between_groups = synthetic["age"].between(50, 60).mean()
    assert between_groups < 0.08  # the data has none; an uncalibrated generator spreads over the range
    assert abs((synthetic["ward"] == "cardiology").mean() - 0.7) < 0.1
    assert (synthetic["ward"] == "surgery").mean() < 0.05  # declared but absent: its noisy count is tiny
    assert abs(synthetic["age"].median() - table["age"].median()) < 12
