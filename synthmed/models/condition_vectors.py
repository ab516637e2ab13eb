"""Condition vectors over a table's discrete columns, and training-by-sampling (Xu et al. 2019).

A GAN trained on uniformly drawn rows sees rare categories (a rare diagnosis, a small hospital) so seldom
that it learns to skip them. Training-by-sampling instead picks a discrete column uniformly, a category of
it with probability proportional to the log of its frequency, and then a real row holding that category;
the generator receives the same choice as a one-hot *condition vector* and is penalised when its output
for that column disagrees. At generation time conditions are drawn with the real frequencies, so the
marginals stay faithful, or fixed by the user for exact conditional generation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from synthmed.data.layout import ColumnLayout, Span


def discrete_spans(layout: ColumnLayout) -> list[Span]:
    """The one-hot value spans (categorical columns, including their missing slot)."""
    return [s for s in layout.spans if s.role == "value" and s.activation == "softmax"]


def category_codes(matrix: np.ndarray, spans: list[Span]) -> np.ndarray:
    """(rows x spans) each row's category in each one-hot span, numbered globally (span i's first category is
    the total width of the spans before it), as condition vectors number them."""
    widths = np.array([s.width for s in spans], dtype=np.int64)
    if not spans:
        return np.zeros((len(matrix), 0), dtype=np.int64)
    local = np.stack([matrix[:, s.start : s.stop].argmax(axis=1) for s in spans], axis=1)
    return local + (np.cumsum(widths) - widths)


class ConditionSampler:
    """Draws condition vectors from the one-hot spans of a layout, given each category's share of the rows.

    Categories are numbered globally: category j of discrete column i is dimension `offsets[i] + j` of the
    condition vector. The shares (one number per category) ship with a generator, as its marginals.
    """

    def __init__(self, layout: ColumnLayout, shares: np.ndarray) -> None:
        self.spans = discrete_spans(layout)
        widths = np.array([s.width for s in self.spans], dtype=np.int64)
        self.offsets = np.cumsum(widths) - widths
        self.width = int(widths.sum())
        self.shares = np.asarray(shares, dtype=float)
        self._real_cdf = self._cdf(self.shares)

    def _cdf(self, weights: np.ndarray) -> np.ndarray:
        """Per column, its categories' cumulative probabilities shifted by the column's index (one sorted array)."""
        parts = []
        for i, (offset, span) in enumerate(zip(self.offsets, self.spans, strict=True)):
            w = weights[offset : offset + span.width]
            cumulative = np.cumsum(w / w.sum())
            cumulative[-1] = 1.0
            parts.append(i + cumulative)
        return np.concatenate(parts) if parts else np.zeros(0)

    def _draw(self, rng: np.random.Generator, n: int, cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        column = rng.integers(len(self.spans), size=n)
        category = np.searchsorted(cdf, column + rng.random(n), side="right")
        return column, category

    def one_hot(self, categories: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
        return F.one_hot(torch.as_tensor(categories, device=device), self.width).float()

    def generation_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(column, category) pairs drawn with the real data's frequencies."""
        return self._draw(rng, n, self._real_cdf)


class TrainingSampler(ConditionSampler):
    """Adds training-by-sampling: log-frequency conditions, each paired with a real row that satisfies it."""

    def __init__(self, matrix: np.ndarray, layout: ColumnLayout) -> None:
        spans = discrete_spans(layout)
        global_codes = category_codes(matrix, spans)
        widths = [s.width for s in spans]
        counts = np.bincount(global_codes.ravel(), minlength=sum(widths))
        super().__init__(layout, counts / len(matrix))
        if not spans:
            return
        self.counts = counts.astype(np.int64)
        # rows grouped by category: rows_by_category[first[g] : first[g] + counts[g]] hold category g
        self.rows_by_category = np.argsort(global_codes, axis=0, kind="stable").T.ravel()
        within = np.concatenate(
            [
                np.concatenate([[0], np.cumsum(self.counts[o : o + w])[:-1]])
                for o, w in zip(self.offsets, widths, strict=True)
            ]
        )
        self.first = np.repeat(np.arange(len(spans)) * len(matrix), widths) + within
        self._training_cdf = self._cdf(np.log1p(self.counts))

    def training_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(column, category, real row) triples by training-by-sampling."""
        column, category = self._draw(rng, n, self._training_cdf)
        within = (rng.random(n) * self.counts[category]).astype(np.int64)
        return column, category, self.rows_by_category[self.first[category] + within]
