"""Declared rules (exclusive groups of binary columns): parsed, checked on the training rows, obeyed by samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data.schema import Schema
from synthmed.errors import DataError, SchemaError
from synthmed.models import MedGAN

AGE_BANDS = ["age_under_18", "age_over_65"]
RULED = {"columns": {}, "exclusive": [AGE_BANDS]}
# the tests train for a few updates on purpose: the GAN must break the rule for the rule to be tested
pytestmark = pytest.mark.filterwarnings("ignore:after 1 pretraining epochs")


@pytest.fixture(scope="module")
def bands() -> pd.DataFrame:
    """Two exclusive age bands (as in NHDS) and two codes that follow them, so a small GAN mixes the bands up."""
    rng = np.random.default_rng(0)
    n = 400
    band = rng.choice(3, n, p=[0.3, 0.4, 0.3])  # under 18, between, over 65
    return pd.DataFrame(
        {
            "age_under_18": (band == 0).astype(int),
            "age_over_65": (band == 2).astype(int),
            "asthma": ((band == 0) & (rng.random(n) < 0.6)).astype(int),
            "heart_failure": ((band == 2) & (rng.random(n) < 0.6)).astype(int),
        }
    )


def _breaking(table: pd.DataFrame) -> int:
    return int(((table["age_under_18"] == 1) & (table["age_over_65"] == 1)).sum())


def quick_medgan() -> MedGAN:
    return MedGAN(epochs=2, pretrain_epochs=1, batch_size=32, pretrain_batch_size=32, seed=0)


def test_exclusive_groups_round_trip_through_a_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    Schema.from_dict({"columns": {"age_under_18": "binary"}, "exclusive": [AGE_BANDS]}).save(path)
    assert Schema.load(path).exclusive == (tuple(AGE_BANDS),)
    assert "exclusive" not in Schema.from_dict({"columns": {}}).to_dict()


@pytest.mark.parametrize(
    "exclusive",
    [[["age_under_18"]], [["age_under_18", "age_under_18"]], ["age_under_18"], [[1, 2]]],
)
def test_malformed_exclusive_groups_are_refused(exclusive: object) -> None:
    with pytest.raises(SchemaError, match="two or more distinct column names"):
        Schema.from_dict({"columns": {}, "exclusive": exclusive})


def test_unknown_top_level_keys_are_refused() -> None:
    with pytest.raises(SchemaError, match="unknown schema keys"):
        Schema.from_dict({"columns": {}, "exclusiv": [AGE_BANDS]})


def test_samples_obey_the_rule_the_model_alone_breaks(bands: pd.DataFrame, tmp_path: Path) -> None:
    free = quick_medgan().fit(bands, progress=False).sample(2_000, seed=1)
    assert _breaking(free) > 0  # a barely trained GAN mixes the bands up: the rule has work to do

    model = quick_medgan().fit(bands, schema=Schema.from_dict(RULED), progress=False)
    ruled = model.sample(2_000, seed=1)
    assert len(ruled) == 2_000
    assert _breaking(ruled) == 0
    assert ruled["age_under_18"].sum() > 0 and ruled["age_over_65"].sum() > 0

    loaded = MedGAN.load(model.save(tmp_path / "model.smg"))  # the rule ships with the generator
    assert _breaking(loaded.sample(2_000, seed=2)) == 0
    assert _breaking(loaded.sample(500, seed=2, conditions={"asthma": 1})) == 0


def test_training_rows_that_break_the_rule_are_refused_before_training(bands: pd.DataFrame) -> None:
    broken = bands.copy()
    broken.loc[[3, 7], AGE_BANDS] = 1
    with pytest.raises(DataError, match=r"2 rows have more than one of the exclusive columns") as error:
        quick_medgan().fit(broken, schema=Schema.from_dict(RULED), progress=False)
    assert "Offending values: 3, 7." in str(error.value)


def test_rules_need_binary_columns_that_are_in_the_data(bands: pd.DataFrame) -> None:
    table = bands.assign(age_group=np.arange(len(bands)) % 3)
    ruled = Schema.from_dict({"columns": {}, "exclusive": [["age_group", "age_over_65"]]})
    with pytest.raises(SchemaError, match="may only hold binary columns") as error:
        quick_medgan().fit(table, schema=ruled, progress=False)
    assert error.value.column == "age_group"
    absent = Schema.from_dict({"columns": {}, "exclusive": [["age_over_90", "age_over_65"]]})
    with pytest.raises(SchemaError, match="not in the data"):
        quick_medgan().fit(bands, schema=absent, progress=False)
