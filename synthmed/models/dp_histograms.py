"""Numeric columns' histograms for release under differential privacy, and calibration to the released ones.

A private model may not read a numeric column's quantiles, so where it calibrates generated numbers (tabgan;
corGAN with `quantile_knots`) it releases a histogram of each column over its declared range by the Gaussian
mechanism instead, and maps generated values onto the released histogram's quantiles after training
(data/calibration.py). Each record adds one count to each numeric column's histogram (none when missing), so k
histograms move by at most sqrt(k) in L2 norm.
"""

from __future__ import annotations

import math

import numpy as np

from synthmed.data.calibration import histogram_quantiles
from synthmed.data.encoders import NumericEncoder
from synthmed.data.layout import Span
from synthmed.data.transform import TableTransformer
from synthmed.models.condition_vectors import ConditionSampler
from synthmed.models.dp import PrivateTraining

# Share of epsilon a private run spends on its released marginals (the rest trains the networks). Chosen for
# tabgan, which releases category counts there too: on the two heart tables at epsilon 1 and 3, 30% and 50% give
# better column shapes than 10%, where at epsilon 1 the 151-row table's noisy target counts leave one class in
# every synthetic table; TSTR AUC moves within its seed-to-seed spread (measured: benchmarks/studies/README.md,
# "Figures quoted from earlier runs"). corGAN (histograms only) uses the same share, not measured separately.
MARGINALS_SHARE = 0.3
# Equal bins of a numeric column's declared range in its released histogram.
HISTOGRAM_BINS = 20
SOURCE = "dp-histogram"


def numeric_spans(transformer: TableTransformer) -> list[Span]:
    """The value spans of the numeric columns: the ones a histogram is released for."""
    numeric = {encoder.name for encoder in transformer.encoders_ if isinstance(encoder, NumericEncoder)}
    return [span for span in transformer.layout_.spans if span.role == "value" and span.column in numeric]


def numeric_histograms(data: np.ndarray, transformer: TableTransformer) -> dict[str, np.ndarray]:
    """Each numeric column's counts in `HISTOGRAM_BINS` equal bins of its [0, 1] (declared range) scale."""
    spans = transformer.layout_.spans
    missing = {span.column: data[:, span.start] > 0.5 for span in spans if span.role == "missing"}
    histograms = {}
    for span in numeric_spans(transformer):
        present = data[:, span.start][~missing.get(span.column, np.zeros(len(data), dtype=bool))]
        bins = np.minimum((np.clip(present, 0, 1) * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
        histograms[span.column] = np.bincount(bins, minlength=HISTOGRAM_BINS)
    return histograms


def release_histograms(private: PrivateTraining, histograms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The histograms plus Gaussian noise, one mechanism for all of them (the "marginals" phase, one step)."""
    noisy = private.noisy_counts("marginals", np.concatenate(list(histograms.values())), math.sqrt(len(histograms)))
    return dict(zip(histograms, noisy.reshape(len(histograms), HISTOGRAM_BINS), strict=True))


def calibrate_to_histograms(transformer: TableTransformer, histograms: dict[str, np.ndarray], knots: int) -> None:
    """Calibrate each column to its (noisy) histogram's quantiles at `knots` even levels."""
    encoders = {encoder.name: encoder for encoder in transformer.encoders_}
    for column, counts in histograms.items():
        encoders[column].calibrate_to(histogram_quantiles(counts, knots), source=SOURCE)


def release_marginals(
    private: PrivateTraining,
    data: np.ndarray,
    codes: np.ndarray,
    transformer: TableTransformer,
    sampler: ConditionSampler,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each category's share of its column, and each number's histogram, released by one Gaussian mechanism.

    A record adds one count to each discrete column's histogram and at most one to each numeric column's
    (`numeric_histograms`), so the k histograms together move by at most sqrt(k) in L2 norm. Negative noisy
    counts become 0; a column whose counts all vanish gets uniform shares. `codes` holds each row's category
    (global number) in each discrete column.
    """
    histograms = numeric_histograms(data, transformer)
    counts = np.concatenate([np.bincount(codes.ravel(), minlength=sampler.width), *histograms.values()])
    sensitivity = math.sqrt(codes.shape[1] + len(histograms))
    noisy = np.clip(private.noisy_counts("marginals", counts.astype(float), sensitivity), 0, None)
    shares = np.empty(sampler.width)
    for offset, span in zip(sampler.offsets, sampler.spans, strict=True):
        block = noisy[offset : offset + span.width]
        shares[offset : offset + span.width] = block / block.sum() if block.sum() > 0 else 1 / span.width
    bins = noisy[sampler.width :].reshape(len(histograms), HISTOGRAM_BINS)
    return shares, dict(zip(histograms, bins, strict=True))
