"""A sparse training matrix on the device, densified one batch at a time, and its transform.

A model that trains on minibatches never needs the whole dense matrix: `SparseRows` keeps the compressed sparse rows
(row offsets, column positions, values) as tensors on the model's device and answers `rows[index]` with the dense
float32 batch, built there by one scatter. It stands where a model's dense training tensor would: `len`, indexing
by a tensor of row numbers, `device`, and the column means a model starts from. The transform of a sparse code matrix
is learnt from its column statistics, and generated rows are decoded straight into sparse rows.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from synthmed.data.encoders import NumericEncoder
from synthmed.data.schema import ColumnKind
from synthmed.data.sparse import SparseCodeMatrix
from synthmed.data.transform import TableTransformer


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


def code_transformer(codes: SparseCodeMatrix, kind: ColumnKind, keep_shares: bool = False) -> TableTransformer:
    """The transform a model's matrix would have on the dense table, learnt from column statistics alone.

    Binary codes are 0/1 (with `keep_shares`, each keeps its share of rows, for calibrated rounding); count codes
    scale by their maximum, from 0, so that an absent code stays a zero the matrix need not store.
    """
    if kind is ColumnKind.BINARY:
        columns = [
            {"column": code, "kind": kind.value, "dtype": "uint8", "has_missing": False,
             "categories": [0, 1], "domain": "data"}
            | ({"rounding": {"share": float(share), "threshold": 0.5, "source": "data"}} if keep_shares else {})
            for code, share in zip(codes.codes, codes.column_means(), strict=True)
        ]  # fmt: skip
    else:
        columns = [
            {"column": code, "kind": kind.value, "dtype": "int32", "has_missing": False,
             "min": 0.0, "max": float(maximum), "domain": "data"}
            for code, maximum in zip(codes.codes, codes.column_maxima(), strict=True)
        ]  # fmt: skip
    return TableTransformer.from_dict({"columns": columns}, codes.schema(kind))


def scaled_values(codes: SparseCodeMatrix, transformer: TableTransformer) -> sparse.csr_array:
    """The float32 matrix a model trains on (`transformer`'s scale), still sparse."""
    values = codes.values.astype(np.float32)
    maxima = _count_maxima(transformer)
    if maxima is not None:
        values.data /= np.maximum(maxima, 1.0)[values.indices].astype(np.float32)
    elif codes.counts:
        values.data = np.ones(values.nnz, dtype=np.float32)  # a count matrix learnt as present or absent
    return values


def _count_maxima(transformer: TableTransformer) -> np.ndarray | None:
    """The maxima that scale count codes, or None for binary codes."""
    encoders = transformer.encoders_
    if encoders and isinstance(encoders[0], NumericEncoder):
        return np.array([encoder.maximum_ for encoder in encoders], dtype=np.float64)
    return None


def decode_codes(block: np.ndarray, transformer: TableTransformer, rng: np.random.Generator | None) -> sparse.csr_array:
    """Generated rows (a model's outputs for code columns) -> sparse 0/1 or counts, decoded as the dense table's
    encoders would: binary codes drawn (`rng`) or rounded at each one's threshold, counts rescaled and rounded."""
    maxima = _count_maxima(transformer)
    if maxima is not None:
        counts = np.rint(np.clip(block, 0.0, 1.0) * maxima).astype(np.int32)
        return sparse.csr_array(counts)
    if rng is not None:
        present = rng.random(block.shape) < block
    else:
        thresholds = np.array([encoder.threshold_ for encoder in transformer.encoders_])
        calibrated = any(encoder.share_ is not None for encoder in transformer.encoders_)
        present = block >= thresholds if calibrated else block > 0.5
    return sparse.csr_array(present.astype(np.uint8))
