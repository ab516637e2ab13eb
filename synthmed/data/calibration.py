"""Marginal calibration: a monotone map from a generator's marginal of a numeric column to a target marginal.

A generator places values only roughly where the data has them. After training, a model shows the encoder a large
generated sample; every decoded value then goes through the map: its level (rank) among generated values, then
the target's quantile at that level. The map keeps each row's rank order, so the dependence between columns is
untouched, and it is fixed once fitted, so conditional sampling goes through the same map.

The target quantiles come from the data (tabgan's `quantile_knots`) or, under differential privacy, from a
histogram released with noise (`histogram_quantiles`).

A binary column is calibrated through its rounding: instead of 0.5, the threshold at which the generated sample
has the data's share of ones (`share_threshold`; corGAN's `binary_rounding="calibrated"`). The likeliest rows
get the value, so its dependence on other columns is kept.
"""

from __future__ import annotations

import numpy as np

# The generator's own marginal is summarised at this many quantiles for calibration (it describes no data).
GENERATED_KNOTS = 201


def quantile_levels(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Each value's level in [0, 1] in the distribution whose quantiles at evenly spaced levels are `quantiles`.

    Between knots the level is interpolated linearly; a value equal to several knots (a point mass, such as an
    ST depression of exactly 0) takes the middle of their levels, so a mass point maps onto a mass point. One
    search places every value; only values equal to a knot are searched again for the last knot they equal.
    """
    last = len(quantiles) - 1
    levels = np.linspace(0.0, 1.0, len(quantiles))
    left = np.searchsorted(quantiles, values, side="left")
    low, high = np.clip(left - 1, 0, last), np.clip(left, 0, last)
    width = quantiles[high] - quantiles[low]
    share = np.divide(values - quantiles[low], width, out=np.zeros_like(values), where=width > 0)
    placed = levels[low] + share * (levels[high] - levels[low])
    at_knot = np.flatnonzero(quantiles[high] == values)
    if at_knot.size:
        right = np.searchsorted(quantiles, values[at_knot], side="right")
        placed[at_knot] = (levels[high[at_knot]] + levels[right - 1]) / 2
    return placed


def values_at_levels(levels: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The value at each level in [0, 1] of the distribution whose quantiles at evenly spaced levels are
    `quantiles`, linear between knots (`np.interp` over those levels): the knots being evenly spaced, a level's
    segment is found by one division instead of a search."""
    if len(quantiles) == 1:
        return np.full(np.shape(levels), float(quantiles[0]))
    position = np.clip(levels, 0.0, 1.0) * (len(quantiles) - 1)
    segment = np.minimum(np.nan_to_num(position).astype(np.int64), len(quantiles) - 2)
    start = quantiles[segment]
    return start + (position - segment) * (quantiles[segment + 1] - start)


def histogram_quantiles(counts: np.ndarray, knots: int) -> np.ndarray:
    """Quantiles at `knots` evenly spaced levels of a histogram over equal bins of [0, 1], uniform within a bin.

    Counts may be noisy: negative ones count as empty, and an all-empty histogram gives the uniform distribution.
    """
    weights = np.clip(np.asarray(counts, dtype=float), 0, None)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    shares = weights / weights.sum()
    ends = np.cumsum(shares)
    levels = np.linspace(0.0, 1.0, knots)
    # each level's bin: the first whose cumulative share passes it (so never an empty one)
    bins = np.minimum(np.searchsorted(ends, levels, side="right"), len(shares) - 1)
    last = np.flatnonzero(shares)[-1]
    bins = np.where(levels >= ends[last], last, bins)
    within = np.clip((levels - (ends[bins] - shares[bins])) / shares[bins], 0.0, 1.0)
    return (bins + within) / len(shares)


# A rounding threshold above every probability: the column is never 1.
NEVER = 2.0


def share_threshold(probabilities: np.ndarray, share: float) -> float:
    """The threshold t for which the fraction of `probabilities` >= t comes closest to `share`.

    Rounding at t instead of 0.5 gives a binary column the target share of ones while keeping which rows are
    the likeliest ones. Tied probabilities (a saturated sigmoid) stay together: t either takes in or leaves out
    all of a tie, whichever lands nearer the share.
    """
    values = np.sort(np.asarray(probabilities, dtype=np.float64))[::-1]
    wanted = round(share * len(values))
    if wanted == 0 or not len(values):
        return NEVER
    threshold = values[wanted - 1]
    with_ties = int(np.count_nonzero(values >= threshold))
    above = values[values > threshold]
    if abs(len(above) - wanted) < abs(with_ties - wanted):
        return float(above.min()) if len(above) else NEVER
    return float(threshold)
