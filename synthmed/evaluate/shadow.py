"""Shadow-model membership inference: how much a training *procedure* leaks, measured on many trained generators.

A holdout of a few dozen records cannot show that a release is safe: too few records are scored for the
interval of an attack to exclude a leak. The field's answer (Stadler et al. 2022, "Synthetic data - anonymisation
groundhog day"; the TAPAS toolbox; LiRA, Carlini et al. 2022) is to play the membership game many times:
train generators on random halves of the real records, so that every record is a member of half of them and a
non-member of the others, and see whether an attacker can tell which from each generator's synthetic data.
Every (record, generator) pair is one trial, so a table of 300 records and 8 generators gives 2,400 trials.

The attacker is LiRA's: for each record, its feature under the generators that trained on it and under those that
did not (leaving out the generator attacked) give two Gaussians; the score is the likelihood ratio. Features are
the record's log distance to its closest synthetic row and the log mean distance to its five closest. Intervals
resample records (a record's trials are not independent), so they are honest about the number of records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmed.evaluate.attacks import (
    ATYPICAL_NEIGHBOURS,
    ATYPICAL_SHARE,
    MembershipAttack,
    low_fpr_threshold,
    membership_advantage,
    nearest_distances,
    subsampled_roc,
)
from synthmed.evaluate.intervals import BOOTSTRAP_RESAMPLES, CONFIDENCE, Estimate, rank_auc, wilson_interval

NEIGHBOURHOOD = 5
# a distance of zero (an exact copy) must still have a finite logarithm, far below any real distance
DISTANCE_FLOOR = 1e-6
MIN_VARIANCE = 1e-12


@dataclass(frozen=True)
class ShadowMembership:
    """The membership game over `models` generators trained on random halves of `records` real records."""

    models: int
    records: int
    attacks: tuple[MembershipAttack, ...]
    empirical_epsilon: float  # lower bound at 95% confidence from the strongest attack at 1% false positives
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "records": self.records,
            "trials": self.models * self.records,
            "attacks": [attack.to_dict() for attack in self.attacks],
            "empirical_epsilon": self.empirical_epsilon,
            "seconds": self.seconds,
        }


def half_memberships(records: int, models: int, seed: int) -> np.ndarray:
    """(records, models) booleans: each record a member of exactly half of the generators, chosen at random."""
    if models < 4 or models % 2:
        raise ValueError("the shadow game needs an even number of generators, at least 4")
    order = np.argsort(np.random.default_rng(seed).random((records, models)), axis=1)
    return order < models // 2


def _features(population: np.ndarray, synthetic: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """(features, records, models): log distance to the closest synthetic row, log mean of the five closest."""
    found = np.empty((2, len(population), len(synthetic)))
    for model, sample in enumerate(synthetic):
        distances = nearest_distances(sample, population, weights, NEIGHBOURHOOD)
        found[0, :, model] = np.log(distances[:, 0] + DISTANCE_FLOOR)
        found[1, :, model] = np.log(distances.mean(axis=1) + DISTANCE_FLOOR)
    return found


def likelihood_ratios(feature: np.ndarray, member: np.ndarray, seed: int = 0) -> np.ndarray:
    """LiRA's score of every (record, model) trial: log N(x; mu_in, s_in) - log N(x; mu_out, s_out), the means
    from the record's other generators, the spreads pooled over all records.

    The generator attacked is left out of its own side, and one generator drawn at random is left out of the
    other, so that both means always rest on the same number of generators: with unequal numbers a record's
    score would lean towards non-membership even where nothing leaks.
    """
    rng = np.random.default_rng(seed)
    half = member.shape[1] // 2
    trials = np.arange(member.shape[0])[:, None]
    # each record's member generators, then its non-member generators, in a random order within each side
    by_side = np.argsort(np.where(member, 0.0, 1.0) + rng.random(member.shape) * 0.5, axis=1)
    drawn = rng.integers(0, half, member.shape)
    dropped_in = by_side[trials, drawn]
    dropped_out = by_side[trials, half + drawn]
    other = feature[trials, np.where(member, dropped_out, dropped_in)]
    total_in = (feature * member).sum(axis=1, keepdims=True)
    total_out = (feature * ~member).sum(axis=1, keepdims=True)
    mean_in = (total_in - np.where(member, feature, other)) / (half - 1)
    mean_out = (total_out - np.where(member, other, feature)) / (half - 1)
    residuals = feature - np.where(member, total_in, total_out) / half
    spread_in = float(np.var(residuals[member])) + MIN_VARIANCE
    spread_out = float(np.var(residuals[~member])) + MIN_VARIANCE
    return (
        ((feature - mean_out) ** 2) / (2 * spread_out)
        - ((feature - mean_in) ** 2) / (2 * spread_in)
        - 0.5 * math.log(spread_in / spread_out)
    )


def _tpr_at_fpr(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean(scores[labels == 1] > low_fpr_threshold(labels, scores)))


def _clustered(statistics: dict[str, Any], member: np.ndarray, scores: np.ndarray, seed: int) -> dict[str, Estimate]:
    """Each statistic of (labels, scores) over all trials, with an interval from resampling records."""
    records = member.shape[0]
    values = {name: statistic(member.ravel().astype(int), scores.ravel()) for name, statistic in statistics.items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(BOOTSTRAP_RESAMPLES):
        chosen = rng.integers(0, records, records)
        labels, picked = member[chosen].ravel().astype(int), scores[chosen].ravel()
        for name, statistic in statistics.items():
            draws[name].append(statistic(labels, picked))
    tail = 50 * (1 - CONFIDENCE)
    return {
        name: Estimate(float(values[name]), *map(float, np.nanpercentile(draws[name], [tail, 100 - tail])))
        for name in statistics
    }


def empirical_epsilon(labels: np.ndarray, scores: np.ndarray) -> float:
    """A 95%-confidence lower bound on the epsilon any DP guarantee of the procedure would need, from the attack's
    true and false positive rates at its 1% threshold (Jagielski et al. 2020): log(TPR_low / FPR_high), at least 0."""
    threshold = low_fpr_threshold(labels, scores)
    members, others = scores[labels == 1], scores[labels == 0]
    caught = wilson_interval(float(np.sum(members > threshold)), len(members))
    accused = wilson_interval(float(np.sum(others > threshold)), len(others))
    if caught.low <= 0 or accused.high <= 0:
        return 0.0
    return max(0.0, math.log(caught.low / accused.high))


def shadow_membership(
    population: np.ndarray,
    member: np.ndarray,
    synthetic: Sequence[np.ndarray],
    weights: np.ndarray,
    *,
    seed: int = 0,
    seconds: float = 0.0,
) -> ShadowMembership:
    """Score the game: `population` (records x dimensions, encoded), `member` (records x models) saying which
    generators trained on which records, and each generator's encoded `synthetic` sample."""
    if member.shape != (len(population), len(synthetic)):
        raise ValueError("the membership matrix must have one row per record and one column per generator")
    features = _features(population, synthetic, weights)
    atypicality = nearest_distances(population, population, weights, ATYPICAL_NEIGHBOURS + 1)[:, 1:].mean(axis=1)
    atypical = np.argsort(-atypicality, kind="stable")[: max(1, math.ceil(ATYPICAL_SHARE * len(population)))]
    statistics = {"auc": rank_auc, "tpr": _tpr_at_fpr, "advantage": membership_advantage}
    attacks, epsilons = [], []
    for name, feature in zip(("closest synthetic record", "synthetic neighbourhood"), features, strict=True):
        scores = likelihood_ratios(feature, member, seed)
        found = _clustered(statistics, member, scores, seed)
        outliers = _clustered({"auc": rank_auc}, member[atypical], scores[atypical], seed)["auc"]
        labels = member.ravel().astype(int)
        attacks.append(
            MembershipAttack(
                name=f"shadow models: {name}",
                auc=found["auc"],
                tpr_at_1pct_fpr=found["tpr"],
                advantage=found["advantage"],
                atypical_auc=outliers,
                roc=subsampled_roc(labels, scores.ravel()),
                scored_members=int(member.sum()),
                scored_non_members=int((~member).sum()),
            )
        )
        epsilons.append(empirical_epsilon(labels, scores.ravel()))
    return ShadowMembership(len(synthetic), len(population), tuple(attacks), max(epsilons), seconds)
