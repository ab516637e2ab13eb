"""Co-occurrence matching: a generator loss term pulling generated code pairs towards their real rates.

A GAN generating 0/1 records keeps a few combinations of the rare codes and ties those codes together (medGAN's
paper: "variable correlations present in the real data appear to be amplified"). The discriminator judges one
record at a time (medGAN adds the batch mean); no term in its loss sees how often two codes occur together.
This term does, in the spirit of feature matching (Salimans et al. 2016): for every pair of binary columns (the
diagonal: each column alone) it measures the squared Hellinger distance between the generated and the real
Bernoulli "both occur" rates. Unlike a squared difference of rates it weighs a rare pair's relative error as much as
a common pair's, and a generated rate where the real one is zero (a man's pregnancy, an infant over 65) costs in
proportion to that rate rather than to its square, so structural zeros are kept. It is summed over the pairs and
divided by the real rates' total, so that the weight means the same on any data.
"""

from __future__ import annotations

import numpy as np
import torch

# Wider matrices are matched on this many randomly chosen columns per step (an unbiased sample of the pairs):
# 256 x 256 pairs on a 1,000-record batch cost about as much as one of medGAN's dense layers.
COLUMNS_PER_STEP = 256
# The real rates are kept for at most this many binary columns, the most frequent (a 2,048 x 2,048 float
# matrix is 16 MiB); rarer codes co-occur too seldom to weigh in the loss.
MAX_MATCHED_COLUMNS = 2048
_CHUNK_ROWS = 8192
_CHUNK_VALUES = 2**24  # a chunk of a wide matrix holds at most this many values (64 MiB of float32)


class CooccurrenceMatch:
    """The real co-occurrence rates of the binary columns, computed once, and the loss against them."""

    def __init__(self, records: torch.Tensor, binary_columns: torch.Tensor) -> None:
        if len(binary_columns) > MAX_MATCHED_COLUMNS:
            rates = records.mean(dim=0)[binary_columns]
            binary_columns = binary_columns[rates.argsort(descending=True)[:MAX_MATCHED_COLUMNS].sort().values]
        self.columns = binary_columns
        target = torch.zeros(len(binary_columns), len(binary_columns), device=records.device)
        chunk_rows = min(_CHUNK_ROWS, max(1, _CHUNK_VALUES // records.shape[1]))
        for start in range(0, len(records), chunk_rows):  # rows by number: dense tensors and SparseRows alike
            rows = torch.arange(start, min(start + chunk_rows, len(records)), device=records.device)
            chunk = records[rows][:, binary_columns]
            target += chunk.T @ chunk
        self.target = target / len(records)
        # one record's share, added to both rates: the distance's gradient stays finite at a zero rate
        self.smoothing = 1.0 / len(records)

    def loss(self, probabilities: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Hellinger distance of the co-occurrence rates expected from the generated 0/1 probabilities to the real.

        Drawn independently, two columns of a generated record co-occur with probability p_i * p_j and a column
        occurs with p_i, so the expectation is exact and has none of the noise of drawing the records.
        """
        columns, target = self.columns, self.target
        if len(columns) > COLUMNS_PER_STEP:
            picked = torch.as_tensor(np.sort(rng.choice(len(columns), COLUMNS_PER_STEP, replace=False)))
            picked = picked.to(probabilities.device)
            columns, target = columns[picked], target[picked][:, picked]
        p = probabilities[:, columns]
        expected = (p.T @ p) / len(p)
        expected = expected - torch.diag(expected.diagonal()) + torch.diag(p.mean(dim=0))
        return _bernoulli_hellinger(expected, target, self.smoothing).sum() / target.sum().clamp_min(self.smoothing)


def _bernoulli_hellinger(rate: torch.Tensor, other: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Squared Hellinger distance between Bernoulli distributions, elementwise (smoothed away from 0 and 1)."""
    rate, other = rate.clamp(0.0, 1.0), other.clamp(0.0, 1.0)
    occurs = ((rate + smoothing).sqrt() - (other + smoothing).sqrt()).pow(2)
    absent = ((1 - rate + smoothing).sqrt() - (1 - other + smoothing).sqrt()).pow(2)
    return occurs + absent
