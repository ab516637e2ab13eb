"""corGAN's membership-inference curves for binary code matrices (Torfi et al. 2020, after medGAN's).

The adversary holds the synthetic records and some real records, a random share of all of them (the training
records and the others alike), and claims a real record was in the training data when some synthetic record
lies within a Hamming distance of it. Precision and recall of those claims are traced as the number of
synthetic records released and the share of real records known vary. With TRAIN and HOLDOUT of equal size a
release that leaks nothing gives precision 0.5 whatever its recall: a record and its near copies are as likely
to come from the population as from the training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmed.errors import ConfigError, DataError
from synthmed.evaluate.intervals import Estimate, wilson_interval

SYNTHETIC_SIZES = (1_000, 2_000, 5_000, 10_000)
KNOWN_SHARES = (0.01, 0.05, 0.1, 0.2)
# A claim at Hamming distance <= 2: the record is matched by a synthetic one up to two codes.
HAMMING_THRESHOLD = 2
# caps the (known records x synthetic records) distance block held at once
MAX_BLOCK_ELEMENTS = 20_000_000


@dataclass(frozen=True)
class CurvePoint:
    synthetic_records: int
    known_share: float
    known_records: int
    known_members: int
    precision: Estimate
    recall: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "synthetic_records": self.synthetic_records,
            "known_share": self.known_share,
            "known_records": self.known_records,
            "known_members": self.known_members,
            "precision": self.precision.to_dict(),
            "recall": self.recall.to_dict(),
        }


@dataclass(frozen=True)
class MembershipCurves:
    """Points over synthetic sizes (at the largest known share) and over known shares (at the largest size)."""

    hamming: int
    member_share: float  # precision of claiming every known record: the baseline
    by_synthetic_records: tuple[CurvePoint, ...]
    by_known_share: tuple[CurvePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hamming": self.hamming,
            "member_share": self.member_share,
            "by_synthetic_records": [point.to_dict() for point in self.by_synthetic_records],
            "by_known_share": [point.to_dict() for point in self.by_known_share],
        }


def _binary(matrix: np.ndarray, role: str) -> np.ndarray:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or not np.isin(matrix, (0, 1)).all():
        raise DataError(
            f"membership curves need a 0/1 code matrix; the {role} matrix is not one",
            remedy="pass binary patient x code matrices (e.g. from `synthmed ehr-matrix` without --counts)",
        )
    return matrix.astype(np.float32)


def _nearest_by_prefix(known: np.ndarray, synthetic: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Hamming distance from each known record to its nearest among the first `size` synthetic records, per size.

    On 0/1 rows |a - b| summed is |a| + |b| - 2 a.b, one matrix product per block instead of a Python loop.
    """
    nearest = np.empty((len(known), len(sizes)), dtype=np.float32)
    synthetic_counts = synthetic.sum(axis=1)
    rows = max(1, MAX_BLOCK_ELEMENTS // max(1, len(synthetic)))
    for start in range(0, len(known), rows):
        block = known[start : start + rows]
        distances = block.sum(axis=1, keepdims=True) + synthetic_counts - 2.0 * (block @ synthetic.T)
        running = np.minimum.accumulate(distances, axis=1)
        nearest[start : start + rows] = running[:, np.asarray(sizes) - 1]
    return np.rint(nearest)


def _point(nearest: np.ndarray, members: np.ndarray, hamming: int, synthetic_records: int, share: float) -> CurvePoint:
    claimed = nearest <= hamming
    caught = int(np.sum(claimed & members))
    return CurvePoint(
        synthetic_records=synthetic_records,
        known_share=share,
        known_records=len(members),
        known_members=int(members.sum()),
        precision=wilson_interval(caught, int(claimed.sum())),
        recall=wilson_interval(caught, int(members.sum())),
    )


def membership_curves(
    train: np.ndarray,
    holdout: np.ndarray,
    synthetic: np.ndarray,
    synthetic_sizes: Sequence[int] = SYNTHETIC_SIZES,
    known_shares: Sequence[float] = KNOWN_SHARES,
    hamming: int = HAMMING_THRESHOLD,
    seed: int = 0,
) -> MembershipCurves:
    """Precision and recall of the Hamming-distance membership claim, over release sizes and known shares.

    The real records are TRAIN and HOLDOUT together; a known share draws from them at random, so members are
    known in proportion to TRAIN's size. Smaller releases and smaller known sets are prefixes of larger ones
    (one random order each), so the curves move only with what is varied.
    """
    train, holdout, synthetic = (
        _binary(m, role) for m, role in ((train, "TRAIN"), (holdout, "HOLDOUT"), (synthetic, "SYNTHETIC"))
    )
    if not (train.shape[1] == holdout.shape[1] == synthetic.shape[1]):
        raise DataError(
            f"TRAIN, HOLDOUT and SYNTHETIC have {train.shape[1]}, {holdout.shape[1]} and {synthetic.shape[1]} codes",
            remedy="build the three matrices over the same code columns",
        )
    sizes = sorted({min(int(size), len(synthetic)) for size in synthetic_sizes})
    shares = sorted({float(share) for share in known_shares})
    if not sizes or sizes[0] < 1 or not shares or shares[0] <= 0 or shares[-1] > 1:
        raise ConfigError(
            f"synthetic sizes {list(synthetic_sizes)} and known shares {list(known_shares)} do not describe a curve",
            remedy="give positive synthetic sizes and known shares in (0, 1]",
        )
    rng = np.random.default_rng(seed)
    real = np.vstack([train, holdout])
    is_member = np.concatenate([np.ones(len(train), dtype=bool), np.zeros(len(holdout), dtype=bool)])
    known_order = rng.permutation(len(real))[: max(1, round(shares[-1] * len(real)))]
    released = synthetic[rng.permutation(len(synthetic))[: sizes[-1]]]
    nearest = _nearest_by_prefix(real[known_order], released, sizes)
    members = is_member[known_order]
    by_size = tuple(_point(nearest[:, index], members, hamming, size, shares[-1]) for index, size in enumerate(sizes))
    by_share = []
    for share in shares:
        count = max(1, round(share * len(real)))
        by_share.append(_point(nearest[:count, -1], members[:count], hamming, sizes[-1], share))
    return MembershipCurves(
        hamming=hamming,
        member_share=len(train) / len(real),
        by_synthetic_records=by_size,
        by_known_share=tuple(by_share),
    )
