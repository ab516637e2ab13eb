"""Fidelity of synthetic patient histories, with HALO's figures (Theodorou et al. 2023) and the shape of histories.

Each figure compares a set of histories with the training histories; the real holdout gets the same figures, so a
reader sees how close a second real sample of the population comes (the reference a synthetic set is judged by).

- Code probabilities: the share of visits holding each code; R^2 of the compared set's shares against the
  training set's over the codes either holds.
- Within-visit co-occurrence: the share of visits holding both codes of a pair, over the pairs either set holds.
- Consecutive visits: P(code j in the next visit | code i in this one), over the pairs either set holds, among the
  codes i found in at least `MIN_SUPPORT` training visits that have a next visit (a rarer code's conditional
  shares are too noisy to compare, even between two real samples).
- Shapes: visits per patient and codes per visit (total variation distance between their distributions, and the
  means), and the gap between visits when visits have times (Kolmogorov-Smirnov distance, medians).

Codes are matched by (column, code), so two sets need not share a vocabulary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse, stats

from synthmed.data.histories import Histories

# visits with a next visit a code must be found in before its consecutive-visit shares are compared
MIN_SUPPORT = 100


def _aligned(histories: Histories, index: dict[tuple[str, str], int]) -> sparse.csr_array:
    """The visits x codes matrix in the columns of `index` (a union vocabulary)."""
    columns = np.array([index[tuple(v)] for v in histories.vocabulary], dtype=np.int64)
    coo = sparse.csr_array(histories.codes).tocoo()
    matrix = sparse.csr_array(
        (np.ones(coo.nnz, np.float64), (coo.row, columns[coo.col])), shape=(histories.codes.shape[0], len(index))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def r_squared(truth: np.ndarray, estimate: np.ndarray) -> float:
    """Coefficient of determination of `estimate` against `truth` (1 is perfect; can be negative)."""
    if len(truth) == 0:
        return float("nan")
    spread = float(((truth - truth.mean()) ** 2).sum())
    residual = float(((truth - estimate) ** 2).sum())
    return 1.0 - residual / spread if spread > 0 else float("nan")


def _on_union(a: sparse.spmatrix, b: sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """The entries of two sparse matrices over the positions where either is non-zero."""
    pattern = sparse.coo_array((abs(a) + abs(b)) != 0)
    rows, cols = pattern.row, pattern.col
    if len(rows) == 0:
        return np.zeros(0), np.zeros(0)
    a, b = sparse.csr_array(a), sparse.csr_array(b)
    return np.asarray(a[rows, cols]).ravel(), np.asarray(b[rows, cols]).ravel()


def _cooccurrence(codes: sparse.csr_array) -> sparse.spmatrix:
    pairs = sparse.triu(codes.T @ codes, k=1)
    return pairs / max(codes.shape[0], 1)


def _consecutive(histories: Histories, codes: sparse.csr_array) -> tuple[sparse.spmatrix, np.ndarray]:
    """Counts of (code in a visit, code in the patient's next visit) and how often each code has a next visit."""
    offsets = histories.visit_offsets
    has_next = np.ones(codes.shape[0], bool)
    has_next[offsets[1:][np.diff(offsets) > 0] - 1] = False
    now = np.flatnonzero(has_next)
    before, after = codes[now], codes[now + 1]
    return before.T @ after, np.asarray(before.sum(0)).ravel()


def _conditional(counts: sparse.spmatrix, totals: np.ndarray, keep: np.ndarray) -> sparse.spmatrix:
    scale = np.where(keep & (totals > 0), 1.0 / np.maximum(totals, 1), 0.0)
    return sparse.diags_array(scale) @ counts


def _total_variation(a: np.ndarray, b: np.ndarray) -> float:
    top = int(max(a.max(initial=0), b.max(initial=0))) + 1
    p, q = np.bincount(a, minlength=top) / max(len(a), 1), np.bincount(b, minlength=top) / max(len(b), 1)
    return float(0.5 * np.abs(p - q).sum())


def history_figures(training: Histories, compared: Histories, min_support: int = MIN_SUPPORT) -> dict[str, Any]:
    """HALO's R^2 figures and the shape distances of `compared` against `training` (`min_support`: see
    MIN_SUPPORT); a figure with nothing to compare (no code with enough support) is None."""
    vocabulary = sorted({tuple(v) for v in training.vocabulary} | {tuple(v) for v in compared.vocabulary})
    index = {code: i for i, code in enumerate(vocabulary)}
    real, other = _aligned(training, index), _aligned(compared, index)
    shares_real = np.asarray(real.mean(0)).ravel()
    shares_other = np.asarray(other.mean(0)).ravel()
    held = (shares_real > 0) | (shares_other > 0)
    pairs_real, pairs_other = _on_union(_cooccurrence(real), _cooccurrence(other))
    counts_real, totals_real = _consecutive(training, real)
    counts_other, totals_other = _consecutive(compared, other)
    starts = totals_real >= min_support
    next_real, next_other = _on_union(
        _conditional(counts_real, totals_real, starts), _conditional(counts_other, totals_other, starts)
    )
    visits_real, visits_other = np.diff(training.visit_offsets), np.diff(compared.visit_offsets)
    codes_real, codes_other = np.diff(real.indptr), np.diff(other.indptr)
    figures: dict[str, Any] = {
        "code_probability_r2": r_squared(shares_real[held], shares_other[held]),
        "cooccurrence_r2": r_squared(pairs_real, pairs_other),
        "consecutive_r2": r_squared(next_real, next_other),
        "visits_per_patient_tvd": _total_variation(visits_real, visits_other),
        "visits_per_patient_mean": float(visits_other.mean()) if len(visits_other) else float("nan"),
        "codes_per_visit_tvd": _total_variation(codes_real, codes_other),
        "codes_per_visit_mean": float(codes_other.mean()) if len(codes_other) else float("nan"),
    }
    gaps_real, gaps_other = training.gaps(), compared.gaps()
    if gaps_real is not None and gaps_other is not None:
        a, b = gaps_real[~np.isnan(gaps_real)], gaps_other[~np.isnan(gaps_other)]
        if len(a) and len(b):
            figures["gap_ks"] = float(stats.ks_2samp(a, b).statistic)
            figures["gap_median_days"] = float(np.median(b))
    return {name: None if isinstance(value, float) and np.isnan(value) else value for name, value in figures.items()}
