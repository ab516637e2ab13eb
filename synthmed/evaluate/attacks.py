"""Privacy attacks on a synthetic release: copies, closeness, membership, re-identification, attribute inference.

Every attack reads one `EvaluationTables` (TRAIN, HOLDOUT and SYNTHETIC encoded alike) and compares what it
finds about TRAIN with what it finds about HOLDOUT: a fresh sample of the same population, never seen by the
generator, shows what any honest release would leak. A figure means something only next to its baseline.

All distances are the Gower-style distance of `EvaluationTables.distance_weights` (Hamming distance over the
number of codes for a binary code matrix), computed as a Manhattan distance on weighted features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_curve
from sklearn.neighbors import KernelDensity, NearestNeighbors

from synthmed.data.schema import ColumnKind
from synthmed.errors import ConfigError, DataError
from synthmed.evaluate.encoding import EvaluationTables
from synthmed.evaluate.intervals import Estimate, bootstrap, rank_auc, wilson_interval

DCR_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75)
# A synthetic row nearer to TRAIN than all but this share of HOLDOUT rows are is a near copy; fresh real rows
# show this share by construction.
NEAR_COPY_QUANTILE = 0.05
# medGAN (Choi et al. 2017) reports presence disclosure at these numbers of differing codes.
PRESENCE_HAMMING_THRESHOLDS = (0, 2, 4, 6, 8, 10)
# DOMIAS needs a reference sample of the population; below ~500 rows its density is mostly noise.
MIN_REFERENCE_ROWS = 500
MAX_DENSITY_DIMENSIONS = 64
SYNTHETIC_BANDWIDTH_NARROWING = 0.25
MAX_ROC_POINTS = 200
FALSE_POSITIVE_RATE = 0.01
ATYPICAL_SHARE = 0.10
ATYPICAL_NEIGHBOURS = 5
FOREST_TREES = 100
# caps the (records x synthetic rows x dimensions) block held at once by the attribute-inference attack
MAX_BLOCK_ELEMENTS = 20_000_000
TIE_TOLERANCE = 1e-12


# ---------------------------------------------------------------------------------------------- shared pieces


def nearest_distances(reference: np.ndarray, queries: np.ndarray, weights: np.ndarray, k: int = 1) -> np.ndarray:
    """Weighted L1 distance from each query to its k nearest reference rows, shape (queries, k)."""
    k = min(k, len(reference))
    index = NearestNeighbors(n_neighbors=k, metric="manhattan").fit(reference * weights)
    distances, _ = index.kneighbors(queries * weights)
    return distances


def membership_advantage(labels: np.ndarray, scores: np.ndarray) -> float:
    """Membership advantage max(TPR - FPR) over thresholds (Yeom et al. 2018): 0 = none, 1 = perfect."""
    false_positive, true_positive, _ = roc_curve(labels, scores)
    return float(np.max(true_positive - false_positive))


def _share_estimate(successes: float, trials: int) -> Estimate:
    # Wilson's interval only needs the rate; a half-counted tie gives a non-integer count, which is fine.
    return wilson_interval(successes, trials)


DCR_HISTOGRAM_BINS = 30


def _shared_histogram(
    to_train: np.ndarray, to_holdout: np.ndarray, holdout_to_train: np.ndarray
) -> dict[str, list[float]]:
    """Counts of the three distance samples over common bins, so the report can overlay them."""
    samples = {"to_train": to_train, "to_holdout": to_holdout, "holdout_to_train": holdout_to_train}
    every = np.concatenate(list(samples.values()))
    if every.size == 0:
        return {"edges": [], **{key: [] for key in samples}}
    edges = np.histogram_bin_edges(every, bins=DCR_HISTOGRAM_BINS)
    counts = {key: [int(c) for c in np.histogram(values, edges)[0]] for key, values in samples.items()}
    return {"edges": [float(e) for e in edges], **counts}


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {f"q{round(q * 100):02d}": float("nan") for q in DCR_QUANTILES}
    found = np.quantile(values, DCR_QUANTILES)
    return {f"q{round(q * 100):02d}": float(v) for q, v in zip(DCR_QUANTILES, found, strict=True)}


def column_dimensions(tables: EvaluationTables) -> dict[str, np.ndarray]:
    """Matrix dimensions of each column (value and missing spans together), in layout order."""
    dimensions: dict[str, list[int]] = {}
    for span in tables.layout.spans:
        dimensions.setdefault(span.column, []).extend(range(span.start, span.stop))
    return {column: np.array(dims) for column, dims in dimensions.items()}


# ---------------------------------------------------------------------------------------------- exact copies


@dataclass(frozen=True)
class ExactCopies:
    """Synthetic rows that reproduce a TRAIN row exactly, next to the rate a fresh sample shows."""

    synthetic_in_train: Estimate
    holdout_in_train: Estimate
    unique_exact_match: Estimate
    unique_exact_match_baseline: Estimate
    unique_train_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "synthetic_in_train": self.synthetic_in_train.to_dict(),
            "holdout_in_train": self.holdout_in_train.to_dict(),
            "unique_exact_match": self.unique_exact_match.to_dict(),
            "unique_exact_match_baseline": self.unique_exact_match_baseline.to_dict(),
            "unique_train_rows": self.unique_train_rows,
        }


def exact_copies(tables: EvaluationTables) -> ExactCopies:
    """Shares of exact copies (range 0-1, lower is safer; compare with the HOLDOUT baseline).

    `synthetic_in_train`: synthetic rows equal to some TRAIN row. `holdout_in_train`: the same for HOLDOUT rows,
    what a never-seen sample of the population shows by chance (common profiles recur). `unique_exact_match`:
    of the TRAIN rows unique within TRAIN, the share found in the synthetic data: reproducing a unique record
    is the copy that re-identifies; its baseline is the share found in HOLDOUT.
    """
    matrices = (tables.train_matrix, tables.holdout_matrix, tables.synthetic_matrix)
    # one id per distinct encoded row, shared by the three tables: comparing ids compares whole rows exactly
    _, row_ids = np.unique(np.vstack(matrices), axis=0, return_inverse=True)
    row_ids = row_ids.ravel()
    n_train, n_holdout = len(tables.train_matrix), len(tables.holdout_matrix)
    train_ids = row_ids[:n_train]
    holdout_ids = row_ids[n_train : n_train + n_holdout]
    synthetic_ids = row_ids[n_train + n_holdout :]

    synthetic_copies = int(np.isin(synthetic_ids, train_ids).sum())
    holdout_copies = int(np.isin(holdout_ids, train_ids).sum())
    distinct, counts = np.unique(train_ids, return_counts=True)
    unique_ids = distinct[counts == 1]
    return ExactCopies(
        synthetic_in_train=wilson_interval(synthetic_copies, len(synthetic_ids)),
        holdout_in_train=wilson_interval(holdout_copies, len(holdout_ids)),
        unique_exact_match=wilson_interval(int(np.isin(unique_ids, synthetic_ids).sum()), len(unique_ids)),
        unique_exact_match_baseline=wilson_interval(int(np.isin(unique_ids, holdout_ids).sum()), len(unique_ids)),
        unique_train_rows=len(unique_ids),
    )


# ---------------------------------------------------------------------------------------------- closeness


@dataclass(frozen=True)
class DistanceToClosestRecord:
    """How close synthetic rows lie to TRAIN, against two baselines (distance arrays kept for histograms).

    `closer_to_train_share`: share of synthetic rows nearer to TRAIN than to HOLDOUT (0.5 ideal, 1.0 = copies).
    It is strict: a generator that reproduces TRAIN's values at all, even column by column, sits above 0.5 on a
    table of a few hundred rows. `nearer_than_holdout`: the chance that a synthetic row lies nearer to TRAIN than
    a HOLDOUT row does (0.5 = as far from the training rows as fresh real rows; above = closer). `near_copy_share`:
    share of synthetic rows nearer to TRAIN than the 5% nearest HOLDOUT rows (0.05 expected for fresh rows).
    """

    metric: str
    closer_to_train_share: Estimate
    nearer_than_holdout: Estimate
    near_copy_share: Estimate
    to_train: np.ndarray = field(repr=False)
    to_holdout: np.ndarray = field(repr=False)
    holdout_to_train: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "closer_to_train_share": self.closer_to_train_share.to_dict(),
            "nearer_than_holdout": self.nearer_than_holdout.to_dict(),
            "near_copy_share": self.near_copy_share.to_dict(),
            "near_copy_quantile": NEAR_COPY_QUANTILE,
            "to_train_quantiles": _quantiles(self.to_train),
            "to_holdout_quantiles": _quantiles(self.to_holdout),
            "holdout_to_train_quantiles": _quantiles(self.holdout_to_train),
            "histogram": _shared_histogram(self.to_train, self.to_holdout, self.holdout_to_train),
        }


def distance_to_closest_record(tables: EvaluationTables, seed: int = 0) -> DistanceToClosestRecord:
    """Distances from synthetic rows to their closest TRAIN and HOLDOUT rows, and from HOLDOUT rows to TRAIN.

    TRAIN and HOLDOUT have the same size, so a generator that learned only the population puts each synthetic
    row nearer to either with equal chance, and its rows lie as far from TRAIN as HOLDOUT's rows do.
    """
    weights = tables.distance_weights()
    to_train = nearest_distances(tables.train_matrix, tables.synthetic_matrix, weights)[:, 0]
    to_holdout = nearest_distances(tables.holdout_matrix, tables.synthetic_matrix, weights)[:, 0]
    holdout_to_train = nearest_distances(tables.train_matrix, tables.holdout_matrix, weights)[:, 0]
    ties = np.isclose(to_train, to_holdout, rtol=0.0, atol=TIE_TOLERANCE)
    closer = float(np.sum((to_train < to_holdout) & ~ties) + 0.5 * np.sum(ties))
    # synthetic rows are the positives; a smaller distance ranks higher, ties count half
    labels = np.concatenate([np.ones(len(to_train)), np.zeros(len(holdout_to_train))])
    nearness = -np.round(np.concatenate([to_train, holdout_to_train]), 12)
    near_copy = np.quantile(holdout_to_train, NEAR_COPY_QUANTILE) if len(holdout_to_train) else 0.0
    return DistanceToClosestRecord(
        metric="hamming" if tables.is_binary else "gower",
        closer_to_train_share=_share_estimate(closer, len(to_train)),
        nearer_than_holdout=bootstrap(rank_auc, labels, nearness, seed=seed),
        near_copy_share=_share_estimate(float(np.sum(to_train < near_copy - TIE_TOLERANCE)), len(to_train)),
        to_train=to_train,
        to_holdout=to_holdout,
        holdout_to_train=holdout_to_train,
    )


# ---------------------------------------------------------------------------------------------- membership


@dataclass(frozen=True)
class PresenceDisclosure:
    """medGAN's presence disclosure: records claimed members when a synthetic row is within `hamming` codes."""

    hamming: int
    precision: Estimate
    sensitivity: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "hamming": self.hamming,
            "precision": self.precision.to_dict(),
            "sensitivity": self.sensitivity.to_dict(),
        }


@dataclass(frozen=True)
class MembershipAttack:
    """How well one attacker tells TRAIN records (members) from HOLDOUT records using the synthetic data.

    `auc` and `atypical_auc`: 0.5 = no leak, 1.0 = every member found. `tpr_at_1pct_fpr`: share of members
    caught while wrongly accusing 1% of non-members (the regime that matters, Carlini et al. 2022).
    `advantage`: max TPR - FPR, 0 = none, 1 = perfect. `roc`: (false positive rates, true positive rates).
    """

    name: str
    auc: Estimate
    tpr_at_1pct_fpr: Estimate
    advantage: Estimate
    atypical_auc: Estimate
    roc: tuple[np.ndarray, np.ndarray] = field(repr=False)
    scored_members: int = 0
    scored_non_members: int = 0
    presence_disclosure: tuple[PresenceDisclosure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "auc": self.auc.to_dict(),
            "tpr_at_1pct_fpr": self.tpr_at_1pct_fpr.to_dict(),
            "advantage": self.advantage.to_dict(),
            "atypical_auc": self.atypical_auc.to_dict(),
            "roc": {"fpr": [float(v) for v in self.roc[0]], "tpr": [float(v) for v in self.roc[1]]},
            "scored_members": self.scored_members,
            "scored_non_members": self.scored_non_members,
            "presence_disclosure": [row.to_dict() for row in self.presence_disclosure],
        }


@dataclass(frozen=True)
class _AttackSetup:
    """Who is scored and what the attacker holds: members, non-members and a HOLDOUT reference, disjoint."""

    members: np.ndarray
    non_members: np.ndarray
    reference: np.ndarray
    weights: np.ndarray

    @property
    def records(self) -> np.ndarray:
        return np.vstack([self.members, self.non_members])

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([np.ones(len(self.members), dtype=int), np.zeros(len(self.non_members), dtype=int)])


def _reference_size(n_holdout: int) -> int:
    """Half of HOLDOUT, raised towards 500 rows while at least a third of HOLDOUT is left to score."""
    return max(n_holdout // 2, min(MIN_REFERENCE_ROWS, n_holdout - n_holdout // 3))


def _attack_setup(tables: EvaluationTables, seed: int) -> _AttackSetup:
    # A record scored against a reference that contains it looks typical of the population by construction,
    # so the reference rows and the scored non-members are disjoint halves of HOLDOUT (DOMIAS does the same).
    rng = np.random.default_rng(seed)
    n_holdout = len(tables.holdout_matrix)
    if n_holdout < 4 or len(tables.train_matrix) < 2:
        raise DataError(
            f"membership attacks need at least 4 HOLDOUT rows and 2 TRAIN rows, got {n_holdout} and "
            f"{len(tables.train_matrix)}",
            remedy="keep a larger HOLDOUT sample back from training",
        )
    order = rng.permutation(n_holdout)
    reference_size = _reference_size(n_holdout)
    reference, non_members = order[:reference_size], order[reference_size:]
    scored = min(len(non_members), len(tables.train_matrix))
    members = rng.choice(len(tables.train_matrix), scored, replace=False)
    return _AttackSetup(
        members=tables.train_matrix[np.sort(members)],
        non_members=tables.holdout_matrix[np.sort(non_members[:scored])],
        reference=tables.holdout_matrix[np.sort(reference)],
        weights=tables.distance_weights(),
    )


def subsampled_roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    false_positive, true_positive, _ = roc_curve(labels, scores)
    if len(false_positive) > MAX_ROC_POINTS:
        keep = np.unique(np.linspace(0, len(false_positive) - 1, MAX_ROC_POINTS).round().astype(int))
        false_positive, true_positive = false_positive[keep], true_positive[keep]
    return false_positive, true_positive


def low_fpr_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The 99th percentile of non-member scores: at most 1% of non-members score strictly above it."""
    return float(np.quantile(scores[labels == 0], 1 - FALSE_POSITIVE_RATE))


def _tpr_at_low_fpr(labels: np.ndarray, scores: np.ndarray) -> Estimate:
    threshold = low_fpr_threshold(labels, scores)
    members = scores[labels == 1]
    return wilson_interval(int(np.sum(members > threshold)), len(members))


def _atypical_auc(setup: _AttackSetup, scores: np.ndarray, seed: int) -> Estimate:
    """AUC on the 10% of members and of non-members farthest from the population (the outliers at most risk)."""
    records, labels = setup.records, setup.labels
    atypicality = nearest_distances(setup.reference, records, setup.weights, ATYPICAL_NEIGHBOURS).mean(axis=1)
    picked = []
    for label in (1, 0):
        index = np.flatnonzero(labels == label)
        count = max(1, math.ceil(ATYPICAL_SHARE * len(index)))
        picked.append(index[np.argsort(-atypicality[index], kind="stable")[:count]])
    chosen = np.concatenate(picked)
    return bootstrap(rank_auc, labels[chosen], scores[chosen], seed)


def _evaluate_attack(
    name: str,
    setup: _AttackSetup,
    scores: np.ndarray,
    seed: int,
    presence: tuple[PresenceDisclosure, ...] = (),
) -> MembershipAttack:
    labels = setup.labels
    return MembershipAttack(
        name=name,
        auc=bootstrap(rank_auc, labels, scores, seed),
        tpr_at_1pct_fpr=_tpr_at_low_fpr(labels, scores),
        advantage=bootstrap(membership_advantage, labels, scores, seed),
        atypical_auc=_atypical_auc(setup, scores, seed),
        roc=subsampled_roc(labels, scores),
        scored_members=len(setup.members),
        scored_non_members=len(setup.non_members),
        presence_disclosure=presence,
    )


def _presence_disclosure(labels: np.ndarray, differing_codes: np.ndarray) -> tuple[PresenceDisclosure, ...]:
    members = labels == 1
    rows = []
    for hamming in PRESENCE_HAMMING_THRESHOLDS:
        claimed = differing_codes <= hamming + 0.5
        caught = int(np.sum(claimed & members))
        rows.append(
            PresenceDisclosure(
                hamming=hamming,
                precision=wilson_interval(caught, int(claimed.sum())),
                sensitivity=wilson_interval(caught, int(members.sum())),
            )
        )
    return tuple(rows)


def _distance_attack(tables: EvaluationTables, setup: _AttackSetup, seed: int) -> MembershipAttack:
    records = setup.records
    scores = -nearest_distances(tables.synthetic_matrix, records, setup.weights)[:, 0]
    presence: tuple[PresenceDisclosure, ...] = ()
    if tables.is_binary:
        # unweighted L1 on a 0/1 matrix is the number of differing codes, exact in floating point
        codes = nearest_distances(tables.synthetic_matrix, records, np.ones(records.shape[1]))[:, 0]
        presence = _presence_disclosure(setup.labels, codes)
    return _evaluate_attack("distance", setup, scores, seed, presence)


def _density_features(setup: _AttackSetup, synthetic: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Synthetic, reference and scored rows as weighted features (Gower geometry), projected if very wide."""
    weighted = [matrix * setup.weights for matrix in (synthetic, setup.reference, setup.records)]
    if weighted[0].shape[1] <= MAX_DENSITY_DIMENSIONS:
        return tuple(weighted)
    # no whitening: it would blow up rare directions and drown the distances the weights define
    pool = np.vstack(weighted[:2])  # only what the attacker holds
    dimensions = min(MAX_DENSITY_DIMENSIONS, len(pool) - 1)
    projection = PCA(n_components=dimensions, random_state=seed).fit(pool)
    return tuple(projection.transform(matrix) for matrix in weighted)


def _log_density(sample: np.ndarray, queries: np.ndarray, spread: float, narrowing: float = 1.0) -> np.ndarray:
    # Scott's rule: spread * n^(-1 / (d + 4)), the spread being the root mean variance of the features
    bandwidth = narrowing * max(spread, TIE_TOLERANCE) * len(sample) ** (-1.0 / (sample.shape[1] + 4))
    return KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(sample).score_samples(queries)


def _density_ratio_attack(tables: EvaluationTables, setup: _AttackSetup, seed: int) -> MembershipAttack:
    synthetic, reference, records = _density_features(setup, tables.synthetic_matrix, seed)
    spread = float(np.sqrt(np.vstack([synthetic, reference]).var(axis=0).mean()))
    # The population density gets Scott's bandwidth (a smooth baseline); the synthetic density a quarter of it,
    # narrow enough to show the spike a memorised record leaves (Scott's width hides many exact copies of the
    # heart data; measured: benchmarks/studies/README.md, "Figures quoted from earlier runs"). Members and
    # non-members stay exchangeable when the generator learned nothing about members, so any fixed pair of
    # bandwidths keeps an honest generator at AUC 0.5.
    scores = _log_density(synthetic, records, spread, SYNTHETIC_BANDWIDTH_NARROWING) - _log_density(
        reference, records, spread
    )
    return _evaluate_attack("density_ratio", setup, scores, seed)


def _classifier_attack(tables: EvaluationTables, setup: _AttackSetup, seed: int) -> MembershipAttack:
    # Fully grown trees memorise their training rows: where the generator copied a member, the member itself
    # is a "synthetic" training row and gets a probability near 1, a fresh record does not.
    features = np.vstack([tables.synthetic_matrix, setup.reference])
    labels = np.concatenate([np.ones(len(tables.synthetic_matrix)), np.zeros(len(setup.reference))])
    forest = RandomForestClassifier(
        n_estimators=FOREST_TREES, class_weight="balanced", random_state=seed, n_jobs=1
    ).fit(features, labels)
    scores = forest.predict_proba(setup.records)[:, 1]
    return _evaluate_attack("classifier", setup, scores, seed)


def distance_attack(tables: EvaluationTables, seed: int = 0) -> MembershipAttack:
    """Score = minus the distance to the nearest synthetic row (medGAN's presence disclosure).

    For a binary code matrix also reports precision and sensitivity when a record is claimed a member because a
    synthetic row differs from it in at most 0, 2, ..., 10 codes.
    """
    return _distance_attack(tables, _attack_setup(tables, seed), seed)


def density_ratio_attack(tables: EvaluationTables, seed: int = 0) -> MembershipAttack:
    """Score = log density of the synthetic data minus log density of a HOLDOUT reference at the record.

    In the spirit of DOMIAS (van Breugel et al. 2023): overfitting shows as synthetic density that the
    population does not explain. Gaussian kernels on the weighted features (a PCA to 64 axes when wider);
    Scott's bandwidth for the reference, a quarter of it for the synthetic data.
    """
    return _density_ratio_attack(tables, _attack_setup(tables, seed), seed)


def classifier_attack(tables: EvaluationTables, seed: int = 0) -> MembershipAttack:
    """Score = probability that a random forest trained on synthetic (1) vs HOLDOUT reference (0) says synthetic."""
    return _classifier_attack(tables, _attack_setup(tables, seed), seed)


def membership_inference(tables: EvaluationTables, seed: int = 0) -> list[MembershipAttack]:
    """The distance, density-ratio and classifier attacks, all scoring the same members and non-members."""
    setup = _attack_setup(tables, seed)
    return [
        _distance_attack(tables, setup, seed),
        _density_ratio_attack(tables, setup, seed),
        _classifier_attack(tables, setup, seed),
    ]


# ---------------------------------------------------------------------------------------------- k-anonymity


@dataclass(frozen=True)
class KAnonymity:
    """Equivalence classes of the synthetic data on the quasi-identifiers.

    Rare classes (smaller than k) single a person out if the combination is real: `rare_classes_in_train`
    counts those that also exist in TRAIN.
    """

    quasi_identifiers: tuple[str, ...]
    k: int
    classes: int
    smallest_class: int
    rare_row_share: float
    rare_classes: int
    rare_classes_in_train: int
    rare_classes_in_train_share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "k": self.k,
            "classes": self.classes,
            "smallest_class": self.smallest_class,
            "rare_row_share": self.rare_row_share,
            "rare_classes": self.rare_classes,
            "rare_classes_in_train": self.rare_classes_in_train,
            "rare_classes_in_train_share": self.rare_classes_in_train_share,
        }


def k_anonymity(tables: EvaluationTables, quasi_identifiers: Sequence[str], k: int = 5) -> KAnonymity:
    """k-anonymity of the synthetic table: `smallest_class` >= k is k-anonymous; shares in 0-1, lower is safer.

    Values are compared as they are (a continuous quasi-identifier makes nearly every class a singleton,
    which is the honest answer); a missing value is a value of its own.
    """
    names = list(quasi_identifiers)
    if not names:
        raise ConfigError("k-anonymity needs at least one quasi-identifier", remedy="name the columns to group by")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a whole number of at least 1, got {k!r}", values=[k], remedy="pass k=5")
    unknown = [name for name in names if name not in tables.synthetic.columns]
    if unknown:
        raise DataError(
            f"unknown quasi-identifier columns: {', '.join(map(repr, unknown))}",
            column=unknown[0],
            values=unknown,
            remedy=f"choose among the modelled columns: {', '.join(map(str, tables.synthetic.columns))}",
        )
    synthetic, train = tables.synthetic[names], tables.train[names]
    # one group id for a combination, whichever table it comes from
    group_ids = pd.concat([synthetic, train], ignore_index=True).groupby(names, dropna=False, sort=False).ngroup()
    group_ids = group_ids.to_numpy()
    synthetic_ids, train_ids = group_ids[: len(synthetic)], group_ids[len(synthetic) :]
    if len(synthetic_ids) == 0:
        raise DataError("the synthetic table has no rows", remedy="sample at least one synthetic row")
    distinct, sizes = np.unique(synthetic_ids, return_counts=True)
    rare = sizes < k
    rare_in_train = int(np.isin(distinct[rare], train_ids).sum())
    n_rare = int(rare.sum())
    return KAnonymity(
        quasi_identifiers=tuple(names),
        k=int(k),
        classes=len(distinct),
        smallest_class=int(sizes.min()),
        rare_row_share=float(sizes[rare].sum() / len(synthetic_ids)),
        rare_classes=n_rare,
        rare_classes_in_train=rare_in_train,
        rare_classes_in_train_share=float(rare_in_train / n_rare) if n_rare else 0.0,
    )


# ---------------------------------------------------------------------------------------------- attribute disclosure


@dataclass(frozen=True)
class AttributeDisclosure:
    """medGAN's attribute disclosure: attributes inferred from nearest released rows, against a HOLDOUT release.

    Precision and sensitivity pool the positive attributes (a present code, or the category a categorical
    column takes) over all attacked records; the baseline is the same attack on HOLDOUT, which any release of
    the population's statistics permits. The leak is the excess over the baseline. Intervals treat pooled
    attributes as independent, so they are narrower than they should be.
    """

    known_attributes: int
    attacked_records: int
    precision: Estimate
    sensitivity: Estimate
    baseline_precision: Estimate
    baseline_sensitivity: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "known_attributes": self.known_attributes,
            "attacked_records": self.attacked_records,
            "precision": self.precision.to_dict(),
            "sensitivity": self.sensitivity.to_dict(),
            "baseline_precision": self.baseline_precision.to_dict(),
            "baseline_sensitivity": self.baseline_sensitivity.to_dict(),
        }


def has_inferable_attributes(tables: EvaluationTables) -> bool:
    """Whether attribute disclosure applies: it guesses binary and categorical values, not numbers."""
    return bool(_inferable_spans(tables))


def _inferable_spans(tables: EvaluationTables) -> list[tuple[str, int, int, bool]]:
    """(column, start, stop, is_softmax) for the value spans whose attribute can be guessed: codes and categories."""
    spans = []
    for span in tables.layout.spans:
        if span.role != "value":
            continue
        if span.activation == "softmax":
            spans.append((span.column, span.start, span.stop, True))
        elif span.kind is ColumnKind.BINARY and span.activation == "sigmoid":
            spans.append((span.column, span.start, span.stop, False))
    return spans


def _nearest_on_known(released: np.ndarray, records: np.ndarray, known_weights: np.ndarray, k: int) -> np.ndarray:
    """Indices (records, k) of the nearest released rows, each record weighing only its own known dimensions."""
    per_record = max(1, released.size)
    chunk = max(1, MAX_BLOCK_ELEMENTS // per_record)
    neighbours = []
    for start in range(0, len(records), chunk):
        block = np.abs(released[None, :, :] - records[start : start + chunk, None, :])
        distances = np.einsum("rmd,rd->rm", block, known_weights[start : start + chunk])
        neighbours.append(np.argsort(distances, axis=1, kind="stable")[:, :k])
    return np.vstack(neighbours)


def _infer_and_score(
    released: np.ndarray,
    records: np.ndarray,
    known_weights: np.ndarray,
    unknown_mask: np.ndarray,
    spans: list[tuple[str, int, int, bool]],
    k: int,
) -> tuple[Estimate, Estimate]:
    """Majority vote of the k nearest released rows on the unknown codes/categories; pooled precision, sensitivity."""
    neighbours = _nearest_on_known(released, records, known_weights, k)
    votes = released[neighbours].mean(axis=1)  # (records, width): share of neighbours with each value
    guessed = np.zeros_like(votes, dtype=bool)
    truth = np.zeros_like(votes, dtype=bool)
    for _, start, stop, is_softmax in spans:
        if is_softmax:
            rows = np.arange(len(records))
            guessed[rows, start + np.argmax(votes[:, start:stop], axis=1)] = True
            truth[rows, start + np.argmax(records[:, start:stop], axis=1)] = True
        else:
            guessed[:, start:stop] = votes[:, start:stop] > 0.5
            truth[:, start:stop] = records[:, start:stop] > 0.5
    guessed &= unknown_mask
    truth &= unknown_mask
    hits = int(np.sum(guessed & truth))
    return wilson_interval(hits, int(guessed.sum())), wilson_interval(hits, int(truth.sum()))


def attribute_disclosure(
    tables: EvaluationTables,
    known_share: float = 0.01,
    known_attributes: Sequence[int] = (8, 16),
    k: int = 1,
    seed: int = 0,
) -> list[AttributeDisclosure]:
    """medGAN's attribute disclosure: precision/sensitivity in 0-1, higher = more leaked; compare with baseline.

    The attacker holds `known_share` of TRAIN (at least 10 records) and knows s random attributes (columns) of
    each; for each record the k released rows nearest on those s attributes vote on the rest. Numeric columns
    help find neighbours but are not guessed. s is capped at the number of columns minus one.
    """
    if not 0 < known_share <= 1:
        raise ConfigError(f"known_share must be in (0, 1], got {known_share!r}", values=[known_share])
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a whole number of at least 1, got {k!r}", values=[k], remedy="pass k=1")
    spans = _inferable_spans(tables)
    if not spans:
        raise DataError(
            "attribute disclosure needs binary or categorical columns to infer; every column is numeric",
            remedy="skip this attack for purely numeric tables",
        )
    columns = column_dimensions(tables)
    names = list(columns)
    n_train = len(tables.train_matrix)
    rng = np.random.default_rng(seed)
    attacked = min(n_train, max(10, math.ceil(known_share * n_train)))
    records = tables.train_matrix[np.sort(rng.choice(n_train, attacked, replace=False))]
    weights = tables.distance_weights()

    results = []
    for requested in dict.fromkeys(min(int(s), len(names) - 1) for s in known_attributes):
        if requested < 1:
            continue
        # s known columns per record, drawn independently: rank random keys within each row
        known_columns = np.argsort(rng.random((attacked, len(names))), axis=1)[:, :requested]
        known_column_mask = np.zeros((attacked, len(names)), dtype=bool)
        np.put_along_axis(known_column_mask, known_columns, True, axis=1)
        known_dims = np.zeros((attacked, tables.layout.width), dtype=bool)
        for position, name in enumerate(names):
            known_dims[:, columns[name]] = known_column_mask[:, [position]]
        known_weights = known_dims * weights
        unknown = ~known_dims
        precision, sensitivity = _infer_and_score(tables.synthetic_matrix, records, known_weights, unknown, spans, k)
        baseline_precision, baseline_sensitivity = _infer_and_score(
            tables.holdout_matrix, records, known_weights, unknown, spans, k
        )
        results.append(
            AttributeDisclosure(
                known_attributes=requested,
                attacked_records=attacked,
                precision=precision,
                sensitivity=sensitivity,
                baseline_precision=baseline_precision,
                baseline_sensitivity=baseline_sensitivity,
            )
        )
    return results
