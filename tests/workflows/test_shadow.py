"""The shadow-model game played with a recipe: it settles a small holdout's inconclusive verdict, and only that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.errors import ConfigError
from synthmed.evaluate.policy import Check, Verdict, settle_with_shadow_models
from synthmed.models import VAE
from synthmed.workflows.release import release
from synthmed.workflows.shadow import check_shadow_models, recipe_of, shadow_game
from tests.workflows.test_release import patients

SMALL = 150  # TRAIN rows: a holdout of this size scores too few records to decide membership


def copying(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A 'generator' that hands back its training rows."""
    return rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def ignoring(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A 'generator' whose rows owe nothing to its training rows: fresh draws from the population."""
    return patients(1000 + seed, len(rows))


def test_the_game_trains_one_generator_per_half_and_tells_copying_from_ignoring() -> None:
    train, holdout = patients(0, SMALL), patients(1, SMALL // 4)
    seen: list[int] = []

    def counting(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        seen.append(len(rows))
        return copying(rows, seed)

    leaky = shadow_game(counting, train, holdout, models=4, progress=False)
    assert len(seen) == 4 and sum(seen) == 2 * (SMALL + SMALL // 4)  # every record in two of the four
    assert leaky.records == SMALL + SMALL // 4 and leaky.models == 4
    closest, neighbourhood = leaky.attacks
    assert closest.auc.low > 0.99 and closest.tpr_at_1pct_fpr.low > 0.9 and neighbourhood.auc.low > 0.6
    safe = shadow_game(ignoring, train, holdout, models=4, progress=False)
    assert all(attack.auc.low < 0.5 < attack.auc.high for attack in safe.attacks)


def test_the_recipe_retrains_the_released_model_the_same_way() -> None:
    settings = {"epochs": 2, "batch_size": 50, "seed": 5}
    model = VAE(**settings).fit(patients(0, 100), progress=False)
    recipe = recipe_of(model)
    first, again = recipe(patients(3, 80), 11), recipe(patients(3, 80), 11)
    assert list(first.columns) == list(model.sample(2).columns) and len(first) == 80
    pd.testing.assert_frame_equal(first, again)  # seeded: the game is reproducible
    assert not first.equals(recipe(patients(3, 80), 12))


@pytest.mark.parametrize("models", [-2, 1, 2, 3, 5, True])
def test_an_impossible_number_of_shadow_models_is_refused(models: int) -> None:
    with pytest.raises(ConfigError, match="even number of generators"):
        check_shadow_models(models)


def test_settling_turns_only_inconclusive_into_pass_and_only_when_every_shadow_attack_passes() -> None:
    holdout = [Check("a", Verdict.INCONCLUSIVE, "too few"), Check("b", Verdict.WARN, "beats chance")]
    passing = [Check("s1", Verdict.PASS, ""), Check("s2", Verdict.PASS, "")]
    settled = settle_with_shadow_models(holdout, passing)
    assert [c.verdict for c in settled] == [Verdict.PASS, Verdict.WARN] and "settled" in settled[0].reason
    one_inconclusive = [passing[0], Check("s2", Verdict.INCONCLUSIVE, "")]
    assert settle_with_shadow_models(holdout, one_inconclusive) == holdout
    assert settle_with_shadow_models(holdout, []) == holdout


@pytest.fixture(scope="module")
def small_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return patients(0, SMALL), patients(1, SMALL // 4)


def test_a_small_holdout_is_inconclusive_without_the_game_and_released_with_it(
    small_tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = small_tables
    fresh = patients(2, SMALL)
    alone = release(fresh, train, holdout, tmp_path / "alone")
    assert alone.privacy_verdict is Verdict.INCONCLUSIVE and not alone.released
    outcome = release(fresh, train, holdout, tmp_path / "out", recipe=ignoring, shadow_models=4)
    assert outcome.released and outcome.privacy_verdict is Verdict.PASS
    privacy = json.loads((tmp_path / "out" / "evaluation.json").read_text())["privacy"]
    assert privacy["shadow_membership"]["models"] == 4 and len(privacy["shadow_membership"]["attacks"]) == 2
    names = [check["name"] for check in privacy["checks"]]
    assert "shadow models: closest synthetic record" in names
    assert "Membership inference on shadow models" in (tmp_path / "out" / "report.html").read_text()


def test_a_recipe_that_copies_fails_the_release(
    small_tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = small_tables
    outcome = release(patients(2, SMALL), train, holdout, tmp_path / "out", recipe=copying, shadow_models=4)
    assert not outcome.released and outcome.privacy_verdict is Verdict.FAIL
    assert any(check.name.startswith("shadow models") for check in outcome.blocking)


def test_planted_copies_fail_whatever_the_game_says(
    small_tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = small_tables
    planted = pd.concat([patients(2, SMALL - 30), train.iloc[:30]], ignore_index=True)
    rng = np.random.default_rng(0)
    planted = planted.iloc[rng.permutation(len(planted))].reset_index(drop=True)
    outcome = release(planted, train, holdout, tmp_path / "out", recipe=ignoring, shadow_models=4)
    assert not outcome.released and outcome.privacy_verdict is Verdict.FAIL
    assert "exact copies" in {check.name for check in outcome.blocking}
