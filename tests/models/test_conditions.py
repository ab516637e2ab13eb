"""Conditional sampling and rebalancing: conditions hold exactly, quotas are exact, mistakes are named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from synthmed.errors import ConfigError
from synthmed.models import MODELS, Synthesizer
from synthmed.models.conditions import Given, largest_remainder
from synthmed.models.registry import ENTRIES
from synthmed.models.training import TrainingRun
from tests.models.test_synthesizers import make_model

NOT_TABULAR = frozenset(name for name, entry in ENTRIES.items() if entry.data != "table")


def patients(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    ward = rng.choice(["icu", "er", "gp"], n).astype(object)
    ward[::10] = None  # a categorical's missing value is one of its categories
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "ward": ward,
            "smoker": rng.random(n) < 0.4,
            "stage": rng.integers(1, 3, n),  # 1 or 2: binary with integer categories
            "bmi": rng.normal(27, 4, n),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> dict[str, Synthesizer]:
    return {}


# corGAN's two tiny epochs round every binary column to one value at 0.5; calibrated rounding gives each its share
OVERRIDES: dict[str, dict[str, Any]] = {"corgan": {"binary_rounding": "calibrated"}}


def model_for(name: str, cache: dict[str, Synthesizer]) -> Synthesizer:
    if name not in cache:
        cache[name] = make_model(name, **OVERRIDES.get(name, {})).fit(patients(), progress=False)
    return cache[name]


@pytest.fixture(params=sorted(set(MODELS) - NOT_TABULAR))
def model(request: pytest.FixtureRequest, fitted: dict[str, Synthesizer]) -> Synthesizer:
    return model_for(request.param, fitted)


@pytest.fixture
def medgan(fitted: dict[str, Synthesizer]) -> Synthesizer:
    return model_for("medgan", fitted)


def common_values(model: Synthesizer) -> dict[str, pd.Series]:
    """How often this (barely trained) model generates each value of each discrete column, most common first."""
    plain = model.sample(300, seed=0)
    return {column: plain[column].value_counts() for column in ("sex", "ward", "smoker", "stage")}


def test_conditions_hold_on_every_row(model: Synthesizer) -> None:
    values = common_values(model)
    conditions = {column: values[column].index[0] for column in ("sex", "ward", "stage")}
    rows = model.sample(40, seed=0, conditions=conditions)
    assert len(rows) == 40
    for column, value in conditions.items():
        assert (rows[column] == value).all()
    assert rows.dtypes.to_dict() == model.sample(5, seed=0).dtypes.to_dict()


def test_text_matches_a_category_by_its_string_form(medgan: Synthesizer) -> None:
    rows = medgan.sample(20, seed=0, conditions={"stage": "2", "sex": "M"})  # "2" matches the integer 2
    assert (rows["stage"] == 2).all() and (rows["sex"] == "M").all()


def test_text_matches_a_float_coded_category_by_its_number() -> None:
    table = patients().assign(stage=lambda t: t["stage"].astype(float))  # codes stored as 1.0 / 2.0 (CSV with gaps)
    model = make_model("medgan").fit(table, progress=False)
    rows = model.sample(20, seed=0, conditions={"stage": "2"})
    assert (rows["stage"] == 2.0).all()
    with pytest.raises(ConfigError, match="not one of the column's categories"):
        model.sample(5, conditions={"stage": "3"})


def test_a_categoricals_missing_value_can_be_asked_for(medgan: Synthesizer) -> None:
    rows = medgan.sample(20, seed=0, conditions={"ward": None, "smoker": "True"})
    assert rows["ward"].isna().all() and rows["smoker"].all()


def test_same_seed_and_conditions_give_the_same_rows(medgan: Synthesizer) -> None:
    first = medgan.sample(30, seed=5, conditions={"sex": "M"})
    pd.testing.assert_frame_equal(first, medgan.sample(30, seed=5, conditions={"sex": "M"}))
    assert not first.equals(medgan.sample(30, seed=6, conditions={"sex": "M"}))
    assert not first.equals(medgan.sample(30, seed=5, conditions={"sex": "M", "smoker": False}))


def test_proportions_give_exact_counts_in_shuffled_order(model: Synthesizer) -> None:
    column, counts = max(common_values(model).items(), key=lambda item: item[1].iloc[1] if len(item[1]) > 1 else 0)
    if len(counts) < 2:
        pytest.skip(f"{model.name} generates one value per column after tiny training")
    first, second = counts.index[:2]
    rows = model.sample(101, seed=1, proportions={column: {first: 0.6, second: 0.4}})
    assert rows[column].value_counts().to_dict() == {first: 61, second: 40}  # 60.6 and 40.4: the remainder to 60.6
    assert rows[column].iloc[:61].nunique() == 2  # shuffled, not one block per value


def test_proportions_may_include_the_missing_value(medgan: Synthesizer) -> None:
    rows = medgan.sample(101, seed=1, proportions={"ward": {"icu": 0.5, "er": 0.25, None: 0.25}})
    assert rows["ward"].value_counts(dropna=False).to_dict() == {"icu": 51, "er": 25, np.nan: 25}


def test_proportions_combine_with_conditions(medgan: Synthesizer) -> None:
    rows = medgan.sample(20, seed=1, conditions={"smoker": False}, proportions={"sex": {"F": 0.3, "M": 0.7}})
    assert rows["sex"].value_counts().to_dict() == {"M": 14, "F": 6}
    assert not rows["smoker"].any()


def test_largest_remainder_quotas_add_up() -> None:
    assert largest_remainder(101, [0.5, 0.25, 0.25]) == [51, 25, 25]
    assert largest_remainder(3, [0.2, 0.2, 0.6]) == [1, 0, 2]
    assert largest_remainder(5, [1.0, 0.0]) == [5, 0]
    assert sum(largest_remainder(10**7, [0.5000005, 0.4999999])) == 10**7  # shares off 1 by rounding


def test_a_conditional_generator_is_used_when_a_model_has_one(
    medgan: Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Given] = []

    def generate_given(n: int, run: TrainingRun, given: Given) -> torch.Tensor:
        calls.append(given)
        rows = medgan._generate(n, run)
        span = next(s for s in medgan.transformer_.layout_.spans if s.column == "ward")
        rows[:, span.start : span.stop] = torch.nn.functional.one_hot(torch.tensor(given["ward"]), span.width)
        return rows

    monkeypatch.setattr(medgan, "_generate_given", generate_given)
    rows = medgan.sample(25, seed=0, conditions={"ward": "gp"})
    assert (rows["ward"] == "gp").all()
    categories = next(e for e in medgan.transformer_.encoders_ if e.name == "ward").categories_
    assert calls == [{"ward": categories.index("gp")}]  # one batch: every row matched
    medgan.sample(5, seed=0, conditions={"ward": None})
    assert calls[-1] == {"ward": len(categories)}  # the missing slot


def test_a_condition_too_rare_to_fill_names_column_value_and_rate(
    medgan: Synthesizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = medgan._generate
    sex = next(s for s in medgan.transformer_.layout_.spans if s.column == "sex")

    def only_women(n: int, run: TrainingRun) -> torch.Tensor:
        rows = original(n, run)
        rows[:, sex.start] = 0.0  # P(second category, "M") = 0
        return rows

    monkeypatch.setattr(medgan, "_generate", only_women)
    with pytest.raises(ConfigError, match=r"sex = 'M' in only 0\.000% of 10,000 draws \(0 of the 20 rows asked for\)"):
        medgan.sample(20, seed=0, conditions={"sex": "M"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"conditions": {"bmi": 27}}, r"Column 'bmi': only binary and categorical .* this one is continuous"),
        ({"conditions": {"weight": 1}}, r"Column 'weight': is not a column .* one of: 'age', 'sex', 'ward'"),
        ({"conditions": {"ward": "ward 9"}}, r"Column 'ward'.*'ward 9'.*use one of: 'er', 'gp', 'icu', None"),
        ({"conditions": {"sex": None}}, r"Column 'sex'.*None.*use one of: 'F', 'M'"),
        ({"conditions": {"stage": 3}}, r"Column 'stage'.*Offending values: 3.*use one of: 1, 2"),
        ({"proportions": {"sex": {"F": 0.5, "M": 0.4}}}, r"Column 'sex': proportions sum to 0\.9, not 1"),
        ({"proportions": {"sex": {"F": 1.5, "M": -0.5}}}, r"Column 'sex': a proportion must be a number from 0 to 1"),
        ({"proportions": {"sex": {"F": 1}, "ward": {"icu": 1}}}, "proportions must name exactly one column"),
        ({"proportions": {"sex": {"X": 1.0}}}, r"Column 'sex'.*'X'.*use one of: 'F', 'M'"),
        ({"conditions": {"sex": "F"}, "proportions": {"sex": {"F": 1.0}}}, "both a condition and proportions"),
    ],
)
def test_bad_conditions_fail_before_any_generation(
    medgan: Synthesizer, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], message: str
) -> None:
    def refuse(*_: Any) -> None:
        raise AssertionError("generated before checking the conditions")

    monkeypatch.setattr(medgan, "_generate", refuse)
    drawn = medgan.samples_drawn_
    with pytest.raises(ConfigError, match=message):
        medgan.sample(10, **options)
    assert medgan.samples_drawn_ == drawn  # a refused call does not use up a derived seed


def test_a_model_fitted_on_an_array_is_conditioned_by_column_position() -> None:
    codes = (np.random.default_rng(0).random((60, 6)) < 0.4).astype(np.int64)
    model = make_model("medgan").fit(codes, progress=False)
    rows = model.sample(15, seed=0, conditions={"x2": 1})
    assert isinstance(rows, np.ndarray) and (rows[:, 2] == 1).all()


def test_an_unknown_column_names_the_columns_even_when_there_are_many() -> None:
    codes = pd.DataFrame((np.random.default_rng(0).random((60, 14)) < 0.4).astype(np.int64))
    codes.columns = [f"code_{i}" for i in range(14)]
    model = make_model("medgan").fit(codes, progress=False)
    with pytest.raises(ConfigError, match=r"'nosuchcol'.*'code_0', 'code_1'.*'code_11' and 2 more"):
        model.sample(5, conditions={"nosuchcol": 1})
