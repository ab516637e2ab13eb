"""95% confidence intervals for the rates and AUCs every verdict rests on."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 200


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% confidence interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "value": finite_or_none(self.value),
            "ci_low": finite_or_none(self.low),
            "ci_high": finite_or_none(self.high),
        }


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: an undefined figure (a precision with nothing claimed, say) is null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def wilson_interval(successes: float, trials: int) -> Estimate:
    """Rate with Wilson's score interval: honest near 0 and 1, where privacy rates live (ties may count half)."""
    if trials == 0:
        return Estimate(float("nan"), 0.0, 1.0)
    z = norm.ppf(0.5 + CONFIDENCE / 2)
    rate = successes / trials
    centre = (rate + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return Estimate(rate, float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic (ties count half), equal to sklearn's `roc_auc_score`.

    0.5 = no better than chance, 1 = every positive ranked first. Written out because bootstraps call it
    hundreds of times and sklearn's input checks dominate the cost.
    """
    positive = np.asarray(labels) == 1
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # average rank of each run of tied scores
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    scores: np.ndarray,
    seed: int = 0,
) -> Estimate:
    """Statistic of (labels, scores) with a percentile bootstrap interval, resampling within each class."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    value = float(statistic(labels, scores))
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)
    draws = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        index = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        draws.append(statistic(labels[index], scores[index]))
    low, high = np.percentile(draws, [50 * (1 - CONFIDENCE), 100 - 50 * (1 - CONFIDENCE)])
    return Estimate(value, float(low), float(high))
