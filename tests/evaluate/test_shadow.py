"""The shadow-model game's scoring: honest under no leak, decisive against a generator that copies its records."""

from __future__ import annotations

import numpy as np
import pytest

from synthmed.evaluate.intervals import rank_auc
from synthmed.evaluate.policy import PrivacyPolicy, Verdict, membership_check
from synthmed.evaluate.shadow import half_memberships, likelihood_ratios, shadow_membership

RECORDS, MODELS, DIMENSIONS = 300, 8, 5


def test_every_record_is_a_member_of_exactly_half_the_generators() -> None:
    member = half_memberships(101, 6, seed=3)
    assert member.shape == (101, 6)
    assert (member.sum(axis=1) == 3).all()
    assert len({tuple(row) for row in member}) > 10  # which half differs from record to record
    with pytest.raises(ValueError):
        half_memberships(10, 5, seed=0)


@pytest.mark.parametrize("seed", range(4))
def test_the_likelihood_ratio_has_no_lean_when_nothing_leaks(seed: int) -> None:
    # unequal numbers of generators behind the two means once made non-members look likelier (AUC ~0.45)
    member = half_memberships(2000, MODELS, seed)
    rng = np.random.default_rng(seed + 50)
    feature = rng.normal(size=member.shape) + 3 * rng.normal(size=(2000, 1))  # records differ, models do not
    auc = rank_auc(member.ravel().astype(int), likelihood_ratios(feature, member, seed).ravel())
    assert abs(auc - 0.5) < 0.02


def test_a_small_shift_in_members_features_is_found() -> None:
    member = half_memberships(2000, MODELS, 0)
    rng = np.random.default_rng(1)
    feature = rng.normal(size=member.shape) + 3 * rng.normal(size=(2000, 1)) - 0.5 * member
    assert rank_auc(member.ravel().astype(int), likelihood_ratios(feature, member).ravel()) > 0.55


def _game(copying: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    population = rng.normal(size=(RECORDS, DIMENSIONS))
    member = half_memberships(RECORDS, MODELS, seed)
    samples = [
        population[member[:, model]] if copying else rng.normal(size=(RECORDS // 2, DIMENSIONS))
        for model in range(MODELS)
    ]
    return shadow_membership(population, member, samples, np.ones(DIMENSIONS), seed=seed)


def test_a_generator_that_copies_its_records_fails_decisively() -> None:
    game = _game(copying=True)
    assert game.models == MODELS and game.records == RECORDS
    for attack in game.attacks:
        assert attack.auc.low > 0.95 and attack.tpr_at_1pct_fpr.low > 0.5
        assert attack.scored_non_members == RECORDS * MODELS // 2
        verdict = membership_check(attack.name, attack.auc, attack.tpr_at_1pct_fpr, PrivacyPolicy(), 1200).verdict
        assert verdict is Verdict.FAIL
    assert game.empirical_epsilon > 2


def test_a_generator_that_ignores_its_records_passes_where_a_small_holdout_cannot() -> None:
    game = _game(copying=False)
    for attack in game.attacks:
        assert attack.auc.low < 0.5 < attack.auc.high and attack.auc.high < 0.56
        check = membership_check(
            attack.name, attack.auc, attack.tpr_at_1pct_fpr, PrivacyPolicy(), attack.scored_non_members
        )
        assert check.verdict is Verdict.PASS, check.reason
    assert game.empirical_epsilon == 0.0
    assert set(game.to_dict()) >= {"models", "records", "trials", "attacks", "empirical_epsilon", "seconds"}


def test_the_membership_matrix_must_match_the_samples() -> None:
    with pytest.raises(ValueError):
        shadow_membership(np.zeros((10, 2)), half_memberships(10, 4, 0), [np.zeros((5, 2))] * 6, np.ones(2))
