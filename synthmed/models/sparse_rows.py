"""A sparse training matrix on the device, densified one batch at a time.

A model that trains on minibatches never needs the whole dense matrix: `SparseRows` keeps the compressed sparse rows
(row offsets, column positions, values) as tensors on the model's device and answers `rows[index]` with the dense
float32 batch, built there by one scatter. It stands where a model's dense training tensor would: `len`, indexing
by a tensor of row numbers, `device`, and the column means a model starts from.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse


class SparseRows:
    """Rows of a sparse float matrix, densified on demand on `device`."""

    def __init__(self, matrix: sparse.csr_array, device: torch.device) -> None:
        matrix = matrix.tocsr()
        matrix.sort_indices()
        self.device = device
        self.width = int(matrix.shape[1])
        self.offsets = torch.as_tensor(matrix.indptr.astype(np.int64), device=device)
        self.columns = torch.as_tensor(matrix.indices.astype(np.int64), device=device)
        self.values = torch.as_tensor(matrix.data.astype(np.float32), device=device)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), self.width

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        """The dense rows `index` names, in its order (a batch: `index` is a 1-D tensor of row numbers)."""
        index = torch.as_tensor(index, device=self.device).reshape(-1)
        starts = self.offsets[index]
        lengths = self.offsets[index + 1] - starts
        total = int(lengths.sum())
        batch = torch.zeros(len(index), self.width, device=self.device)
        if total == 0:
            return batch
        row = torch.repeat_interleave(torch.arange(len(index), device=self.device), lengths)
        # the k-th stored value of each row: its position in the row plus where the row starts
        first = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        position = torch.repeat_interleave(starts, lengths) + torch.arange(total, device=self.device) - first
        batch[row, self.columns[position]] = self.values[position]
        return batch

    def _column_sums(self, values: torch.Tensor, dim: int) -> torch.Tensor:
        if dim != 0:
            raise ValueError("sparse training rows reduce over rows only (dim=0)")
        return torch.zeros(self.width, device=self.device).index_add_(0, self.columns, values)

    def mean(self, dim: int = 0) -> torch.Tensor:
        """Column means (models reduce their training matrix over rows only)."""
        return self._column_sums(self.values, dim) / max(len(self), 1)

    def var(self, dim: int = 0, unbiased: bool = False) -> torch.Tensor:
        """Column variances over the rows (population variance unless `unbiased`)."""
        n = len(self)
        mean = self.mean(dim)
        population = (self._column_sums(self.values.square(), dim) / max(n, 1) - mean.square()).clamp_min(0.0)
        return population * n / (n - 1) if unbiased and n > 1 else population
