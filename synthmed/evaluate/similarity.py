"""Similarity: does the synthetic table reproduce the real one's marginals, joint structure and predictive links?

Every function takes the `EvaluationTables` from `prepare_tables`, so all of them read TRAIN, HOLDOUT and
SYNTHETIC through one encoding. Results are frozen dataclasses whose `to_dict()` is plain JSON (NaN -> None),
and which keep the per-column figures a report needs for its scatter plots and heatmaps.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

from synthmed.data.layout import ColumnLayout, Span
from synthmed.data.schema import ColumnKind
from synthmed.errors import DataError
from synthmed.evaluate.encoding import EvaluationTables
from synthmed.evaluate.fidelity import NUMERIC_KINDS
from synthmed.evaluate.intervals import Estimate, bootstrap, finite_or_none, rank_auc

DETECTION_FOLDS = 5
DETECTION_TREES = 100


def _numbers_or_none(values: Any) -> list[Any]:
    return [_numbers_or_none(v) if isinstance(v, list | tuple | np.ndarray) else finite_or_none(v) for v in values]


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r, or None where it is undefined (fewer than two points, or a constant side)."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _spans_of(layout: ColumnLayout, name: str) -> list[Span]:
    return [span for span in layout.spans if span.column == name]


def _present_values(matrix: np.ndarray, layout: ColumnLayout, name: str) -> np.ndarray:
    """The column's value dimension, NaN where its missing flag is set (encoders write 0 there, not a value)."""
    spans = _spans_of(layout, name)
    value = next(span for span in spans if span.role == "value")
    values = matrix[:, value.start].astype(float)
    missing = [span for span in spans if span.role == "missing"]
    if missing:
        values = np.where(matrix[:, missing[0].start] > 0.5, np.nan, values)
    return values


def _share_of_ones(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    return float(present.mean()) if len(present) else float("nan")


def _binary_names(tables: EvaluationTables) -> list[str]:
    return [column.name for column in tables.schema.modelled if column.kind is ColumnKind.BINARY]


# ----------------------------------------------------------------------------------------------------
# dimension-wise probability


@dataclass(frozen=True)
class DimensionWiseProbability:
    """Per binary column, the share of 1s (the second category) in TRAIN and in SYNTHETIC.

    `r_squared` is 1 - SS_res / SS_tot with residuals taken from the identity line (synthetic = real), not
    from a fitted regression line, so a synthetic table that is off by a constant factor is penalised; it is
    the figure the NHDS white paper reports (R^2 = 0.994). It can be negative, and is 1 only when every
    share matches. Figures are None when there are no binary columns, or when they are undefined.
    """

    columns: tuple[str, ...]
    real: tuple[float, ...]
    synthetic: tuple[float, ...]
    r_squared: float | None  # 1 = every share on the identity line
    pearson_r: float | None  # 1 = shares perfectly linearly related

    @property
    def has_binary_columns(self) -> bool:
        return bool(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "has_binary_columns": self.has_binary_columns,
            "r_squared": finite_or_none(self.r_squared),
            "pearson_r": finite_or_none(self.pearson_r),
            "columns": list(self.columns),
            "real": _numbers_or_none(self.real),
            "synthetic": _numbers_or_none(self.synthetic),
        }


def dimension_wise_probability(tables: EvaluationTables) -> DimensionWiseProbability:
    """Share of 1s per binary column, real (TRAIN) against synthetic, with R^2 around the identity line.

    Shares are taken over present values; a column missing throughout one table is left out of the
    summary figures (its share is undefined).
    """
    names = _binary_names(tables)
    real = [_share_of_ones(_present_values(tables.train_matrix, tables.layout, n)) for n in names]
    synthetic = [_share_of_ones(_present_values(tables.synthetic_matrix, tables.layout, n)) for n in names]
    x, y = np.array(real, dtype=float), np.array(synthetic, dtype=float)
    defined = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[defined], y[defined]
    r_squared = None
    if len(x):
        residual = float(np.sum((y - x) ** 2))
        total = float(np.sum((x - x.mean()) ** 2))
        if total > 0:
            r_squared = 1.0 - residual / total
        elif residual == 0:
            r_squared = 1.0  # every real share equal and every synthetic share on it: nothing left to explain
    return DimensionWiseProbability(
        columns=tuple(names),
        real=tuple(real),
        synthetic=tuple(synthetic),
        r_squared=r_squared,
        pearson_r=_pearson(x, y),
    )


# ----------------------------------------------------------------------------------------------------
# correlation matrices


@dataclass(frozen=True)
class CorrelationMatrices:
    """Pearson correlations of numeric and binary (0/1) columns in TRAIN and SYNTHETIC, and their difference.

    NaN (a constant column) is kept in `real` and `synthetic` for the heatmap but counts as 0 in
    `difference` and its mean, as in `fidelity.correlation_difference`.
    """

    columns: tuple[str, ...]
    real: np.ndarray
    synthetic: np.ndarray
    difference: np.ndarray  # synthetic - real
    mean_absolute_difference: float  # over pairs, in [0, 2]; 0 = same structure

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "mean_absolute_difference": finite_or_none(self.mean_absolute_difference),
            "real": _numbers_or_none(self.real.tolist()),
            "synthetic": _numbers_or_none(self.synthetic.tolist()),
            "difference": _numbers_or_none(self.difference.tolist()),
        }


def _correlations(matrix: np.ndarray, tables: EvaluationTables, names: list[str]) -> np.ndarray:
    frame = pd.DataFrame({name: _present_values(matrix, tables.layout, name) for name in names})
    # min-max scaled values give the same Pearson r as raw ones; pairwise-complete rows where values are missing
    return frame.corr().to_numpy(dtype=float)


def correlation_matrices(tables: EvaluationTables) -> CorrelationMatrices:
    """Correlation matrices of real and synthetic numeric + binary columns (datetimes as timestamps)."""
    names = [
        column.name
        for column in tables.schema.modelled
        if column.kind in NUMERIC_KINDS or column.kind is ColumnKind.BINARY
    ]
    real = _correlations(tables.train_matrix, tables, names)
    synthetic = _correlations(tables.synthetic_matrix, tables, names)
    difference = np.nan_to_num(synthetic) - np.nan_to_num(real)
    upper = np.triu_indices(len(names), k=1)
    mean_absolute = float(np.abs(difference[upper]).mean()) if len(names) >= 2 else 0.0
    return CorrelationMatrices(tuple(names), real, synthetic, difference, mean_absolute)


# ----------------------------------------------------------------------------------------------------
# contingency similarity


@dataclass(frozen=True)
class ContingencySimilarity:
    """1 - total variation distance between real and synthetic joint frequencies of categorical column pairs."""

    pairs: tuple[tuple[str, str], ...]
    scores: tuple[float, ...]
    mean: float | None  # in [0, 1]; 1 = identical joint tables; None when fewer than two such columns
    pairs_total: int  # pairs available before sampling

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": finite_or_none(self.mean),
            "pairs_total": self.pairs_total,
            "pairs_scored": len(self.pairs),
            "pairs": [
                {"columns": [a, b], "score": finite_or_none(score)}
                for (a, b), score in zip(self.pairs, self.scores, strict=True)
            ],
        }


def _joint_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Level codes shared by both tables, missing as one more level."""
    codes, levels = pd.factorize(pd.concat([real, synthetic], ignore_index=True), use_na_sentinel=False)
    return codes[: len(real)], codes[len(real) :], len(levels)


def contingency_score(real: pd.DataFrame, synthetic: pd.DataFrame, first: str, second: str) -> float:
    """1 - TV distance of the normalised crosstabs of two columns, in [0, 1] (1 = identical).

    >>> real = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"]})
    >>> synthetic = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", None, "u", "v"]})
    >>> contingency_score(real, synthetic, "a", "b")  # a quarter of the mass moved from (x, v) to (x, missing)
    0.75
    """
    a_real, a_synthetic, a_levels = _joint_codes(real[first], synthetic[first])
    b_real, b_synthetic, b_levels = _joint_codes(real[second], synthetic[second])
    cells = a_levels * b_levels
    p = np.bincount(a_real * b_levels + b_real, minlength=cells) / max(len(real), 1)
    q = np.bincount(a_synthetic * b_levels + b_synthetic, minlength=cells) / max(len(synthetic), 1)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def contingency_similarity(tables: EvaluationTables, max_pairs: int = 200, seed: int = 0) -> ContingencySimilarity:
    """Mean over pairs of categorical/binary columns of 1 - TV(real crosstab, synthetic crosstab); 1 = identical.

    Wide tables (a code matrix has ~10^5 pairs) are scored on `max_pairs` pairs drawn with `seed`.
    """
    names = [
        column.name for column in tables.schema.modelled if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BINARY)
    ]
    pairs = list(itertools.combinations(names, 2))
    total = len(pairs)
    if total > max_pairs:
        chosen = np.sort(np.random.default_rng(seed).choice(total, max_pairs, replace=False))
        pairs = [pairs[i] for i in chosen]
    scores = tuple(contingency_score(tables.train, tables.synthetic, a, b) for a, b in pairs)
    mean = float(np.mean(scores)) if scores else None
    return ContingencySimilarity(tuple(pairs), scores, mean, total)


# ----------------------------------------------------------------------------------------------------
# dimension-wise prediction


@dataclass(frozen=True)
class DimensionWisePrediction:
    """medGAN's dimension-wise prediction: F1 on HOLDOUT of a model trained on TRAIN vs one trained on SYNTHETIC.

    A synthetic table that keeps how each binary column depends on the others gives F1 pairs on the
    diagonal of the scatter plot.
    """

    columns: tuple[str, ...]
    f1_real: tuple[float, ...]
    f1_synthetic: tuple[float, ...]
    skipped: dict[str, str]  # column -> why it was not scored
    mean_f1_real: float | None  # in [0, 1]
    mean_f1_synthetic: float | None  # in [0, 1]; close to mean_f1_real = links kept
    pearson_r: float | None  # of the F1 pairs; 1 = same ranking of columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean_f1_real": finite_or_none(self.mean_f1_real),
            "mean_f1_synthetic": finite_or_none(self.mean_f1_synthetic),
            "pearson_r": finite_or_none(self.pearson_r),
            "columns": list(self.columns),
            "f1_real": _numbers_or_none(self.f1_real),
            "f1_synthetic": _numbers_or_none(self.f1_synthetic),
            "skipped": dict(self.skipped),
        }


def _holdout_f1(
    train_matrix: np.ndarray, target: np.ndarray, test_matrix: np.ndarray, test_target: np.ndarray, seed: int
) -> float:
    model = LogisticRegression(max_iter=1000, random_state=seed)
    model.fit(train_matrix, target)
    return float(f1_score(test_target, model.predict(test_matrix), zero_division=0.0))


def dimension_wise_prediction(tables: EvaluationTables, top_k: int = 20, seed: int = 0) -> DimensionWisePrediction:
    """For the `top_k` most frequent binary columns of TRAIN, F1 of predicting each from all other columns.

    Logistic regressions on the encoded matrix (the column's own dimensions removed), one trained on TRAIN and
    one on SYNTHETIC, both tested on HOLDOUT (F1 of the positive class). Rows where the target is missing
    are left out. Columns constant in TRAIN or SYNTHETIC cannot train a classifier and are skipped, so
    fewer than `top_k` columns may be scored.
    """
    layout = tables.layout
    names = _binary_names(tables)
    shares = [_share_of_ones(_present_values(tables.train_matrix, layout, name)) for name in names]
    by_share = sorted(
        ((share, name) for name, share in zip(names, shares, strict=True) if not math.isnan(share)),
        key=lambda pair: -pair[0],
    )
    ranked = [name for _, name in by_share[:top_k]]
    columns, f1_real, f1_synthetic, skipped = [], [], [], {}
    for name in ranked:
        own = np.concatenate([np.arange(span.start, span.stop) for span in _spans_of(layout, name)])
        features = np.setdiff1d(np.arange(layout.width), own)
        data = {}
        for role, matrix in (("train", tables.train_matrix), ("synthetic", tables.synthetic_matrix)):
            target = _present_values(matrix, layout, name)
            present = ~np.isnan(target)
            data[role] = (matrix[present][:, features], target[present].astype(int))
        constant = [role for role, (_, target) in data.items() if len(np.unique(target)) < 2]
        if constant:
            skipped[name] = f"constant in {' and '.join(r.upper() for r in constant)}"
            continue
        test_target = _present_values(tables.holdout_matrix, layout, name)
        present = ~np.isnan(test_target)
        test_matrix, test_target = tables.holdout_matrix[present][:, features], test_target[present].astype(int)
        columns.append(name)
        f1_real.append(_holdout_f1(*data["train"], test_matrix, test_target, seed))
        f1_synthetic.append(_holdout_f1(*data["synthetic"], test_matrix, test_target, seed))
    real, synthetic = np.array(f1_real), np.array(f1_synthetic)
    return DimensionWisePrediction(
        columns=tuple(columns),
        f1_real=tuple(f1_real),
        f1_synthetic=tuple(f1_synthetic),
        skipped=skipped,
        mean_f1_real=float(real.mean()) if len(real) else None,
        mean_f1_synthetic=float(synthetic.mean()) if len(synthetic) else None,
        pearson_r=_pearson(real, synthetic),
    )


# ----------------------------------------------------------------------------------------------------
# detection


@dataclass(frozen=True)
class Detection:
    """How well a classifier tells real (TRAIN) rows from synthetic ones, out of fold."""

    auc: Estimate  # ROC AUC with 95% CI; 0.5 = indistinguishable, 1 = trivially separable
    rows_per_class: int
    folds: int
    classifier: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": {key: finite_or_none(value) for key, value in self.auc.to_dict().items()},
            "rows_per_class": self.rows_per_class,
            "folds": self.folds,
            "classifier": self.classifier,
        }


def detection(tables: EvaluationTables, seed: int = 0) -> Detection:
    """Out-of-fold ROC AUC of a random forest separating TRAIN (0) from SYNTHETIC (1) rows; 0.5 = indistinguishable.

    Classes are made equal by downsampling the larger one (seeded), so the AUC is not driven by class
    balance; the one AUC over all out-of-fold scores gets a bootstrap interval. Identical rows are kept in
    one fold, so a synthetic copy of TRAIN scores 0.5 (indistinguishable); that it is a copy is for the
    privacy checks to say.
    """
    rng = np.random.default_rng(seed)
    size = min(len(tables.train_matrix), len(tables.synthetic_matrix))
    if size < DETECTION_FOLDS:
        raise DataError(
            f"detection needs at least {DETECTION_FOLDS} real and {DETECTION_FOLDS} synthetic rows, got {size}",
            remedy="sample more synthetic rows",
        )
    real = tables.train_matrix[np.sort(rng.choice(len(tables.train_matrix), size, replace=False))]
    synthetic = tables.synthetic_matrix[np.sort(rng.choice(len(tables.synthetic_matrix), size, replace=False))]
    features = np.vstack([real, synthetic])
    labels = np.repeat([0, 1], size)
    classifier = RandomForestClassifier(n_estimators=DETECTION_TREES, random_state=seed, n_jobs=1)
    # Identical rows share a fold: otherwise a copied row's twin, with the other label, sits in the training
    # folds and pulls its score the wrong way, so copying TRAIN would score far below 0.5 instead of 0.5.
    duplicates = np.unique(features, axis=0, return_inverse=True)[1].ravel()
    folds = StratifiedGroupKFold(n_splits=DETECTION_FOLDS, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, features, labels, groups=duplicates, cv=folds, method="predict_proba")[:, 1]
    auc = bootstrap(rank_auc, labels, scores, seed=seed)
    return Detection(auc=auc, rows_per_class=size, folds=DETECTION_FOLDS, classifier="random_forest")
