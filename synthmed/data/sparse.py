"""Patient x code matrices kept sparse: millions of patients and tens of thousands of codes in a few hundred MB.

A patient has a handful of codes out of thousands, so a dense matrix is almost all zeros: 1,000,000 patients x
20,000 codes take 20 GB as bytes and 80 GB as the floats a model trains on, against 50 MB for the positions of
their 10 million codes. `SparseCodeMatrix` holds those positions (compressed sparse rows), `ehr-matrix --sparse`
and `omop-matrix --sparse` write it, models that train on batches (medGAN) densify one batch at a time, and a model
fitted on it samples back into it.

On disk it is a Parquet file with one row per patient: the patient's id (when the matrix has ids), `codes`, the
list of its codes, and with counts `counts`, how often each occurred. The code vocabulary, in column order, is in
the file's metadata (`synthmed.sparse`), so codes nobody has in a sample are still columns. Any Parquet reader
sees the lists; synthmed reads it back as this matrix, or as a dense table where a dense one is needed and fits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse

from synthmed.data.files import atomic_output, check_output
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.errors import DataError

METADATA_KEY = b"synthmed.sparse"
CODES_FIELD = "codes"
COUNTS_FIELD = "counts"
# A dense table beyond this is almost certainly a mistake (a wrong granularity, a wide cohort meant to stay sparse);
# failing early beats the operating system killing the process half-way through.
MAX_DENSE_BYTES = 8 * 1024**3
SPARSE_REMEDY = "keep it sparse: train medGAN on the sparse Parquet file (ehr-matrix/omop-matrix --sparse)"


@dataclass(frozen=True)
class SparseCodeMatrix:
    """Rows (patients) x codes as compressed sparse rows: 0/1 (uint8) or counts (int32).

    `ids` label the rows (None for a synthetic sample, whose rows have no identity); `id_name` names their column.
    """

    values: sparse.csr_array
    codes: tuple[str, ...]
    ids: np.ndarray | None = None
    id_name: str = "patient_id"

    def __post_init__(self) -> None:
        if self.values.shape[1] != len(self.codes):
            raise DataError(
                f"a sparse matrix with {self.values.shape[1]} columns cannot have {len(self.codes)} codes",
                remedy="give one code per column",
            )
        if self.ids is not None and len(self.ids) != self.values.shape[0]:
            raise DataError(f"{len(self.ids)} ids for {self.values.shape[0]} rows", remedy="give one id per row")

    @classmethod
    def from_cells(
        cls,
        rows: np.ndarray,
        columns: np.ndarray,
        shape: tuple[int, int],
        codes: Iterable[str],
        *,
        counts: bool = False,
        weights: np.ndarray | None = None,
        ids: np.ndarray | None = None,
        id_name: str = "patient_id",
    ) -> SparseCodeMatrix:
        """The matrix of (row, column) events, each `weights` times (once by default); an event repeated counts
        twice (`counts`) or once."""
        repeats = np.ones(len(rows), dtype=np.int32) if weights is None else np.asarray(weights, dtype=np.int32)
        values = sparse.csr_array((repeats, (rows, columns)), shape=shape)  # duplicates are summed
        values.sum_duplicates()
        values.data = values.data.astype(np.int32) if counts else np.ones(values.nnz, dtype=np.uint8)
        return cls(values, tuple(codes), ids, id_name)

    @property
    def counts(self) -> bool:
        return self.values.dtype != np.uint8

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return self.values.shape[0]

    def column_means(self) -> np.ndarray:
        """Each code's mean over the rows (its share of patients for a 0/1 matrix)."""
        return np.asarray(self.values.sum(axis=0), dtype=np.float64) / max(len(self), 1)

    def column_maxima(self) -> np.ndarray:
        return self.values.max(axis=0).toarray().astype(np.float64).ravel()

    def schema(self, kind: ColumnKind) -> Schema:
        """Every code a column of this kind (binary, or count), as a model learns them."""
        return Schema(tuple(ColumnSchema(code, kind) for code in self.codes))

    def to_frame(self) -> pd.DataFrame:
        """The dense table (ids first, one column per code), refused beyond `MAX_DENSE_BYTES`."""
        rows, columns = self.shape
        size = rows * columns * self.values.dtype.itemsize
        if size > MAX_DENSE_BYTES:
            raise DataError(
                f"a dense {rows:,} x {columns:,} table would need {size / 1024**3:.1f} GiB",
                remedy=SPARSE_REMEDY,
            )
        table = pd.DataFrame(self.values.toarray(), columns=list(self.codes), copy=False)
        if self.ids is not None:
            table.insert(0, self.id_name, pd.array(self.ids, dtype="str"))
        return table

    def to_arrow(self) -> pa.Table:
        """One row per patient: its id, the list of its codes and, with counts, their counts."""
        values = self.values
        offsets = pa.array(values.indptr.astype(np.int64), type=pa.int64())
        # plain text in memory (pyarrow reads lists of dictionaries back in one piece only); Parquet stores it
        # dictionary-encoded, a few bits per code
        positions = pc.take(pa.array(self.codes, type=pa.string()), pa.array(values.indices.astype(np.int32)))
        fields: dict[str, pa.Array] = {}
        if self.ids is not None:
            fields[self.id_name] = pa.array(np.asarray(self.ids, dtype=str), type=pa.string())
        fields[CODES_FIELD] = pa.LargeListArray.from_arrays(offsets, positions)
        if self.counts:
            fields[COUNTS_FIELD] = pa.LargeListArray.from_arrays(offsets, pa.array(values.data.astype(np.int32)))
        return pa.table(fields)

    def metadata(self) -> dict[bytes, bytes]:
        described = {
            "codes": list(self.codes),
            "counts": self.counts,
            "id": self.id_name if self.ids is not None else None,
        }
        return {METADATA_KEY: json.dumps(described).encode()}


def sparse_source(data: Any) -> SparseCodeMatrix | None:
    """`data` as a sparse code matrix when it is one (or a file of one), else None."""
    if isinstance(data, SparseCodeMatrix):
        return data
    if isinstance(data, str | os.PathLike) and Path(data).suffix.lower() in (".parquet", ".pq"):
        return read_sparse(data) if is_sparse_file(data) else None
    return None


def check_sparse_output(path: str | os.PathLike[str]) -> None:
    """A sparse matrix is written as Parquet: refuse another suffix before any work."""
    if Path(path).suffix.lower() not in (".parquet", ".pq"):
        raise DataError("a sparse matrix is written as Parquet", values=[str(path)], remedy="name the output .parquet")


def content_bytes(values: sparse.csr_array) -> Iterator[bytes]:
    """The bytes that identify a sparse matrix's content (shape, positions, values), for checkpoints and artifacts."""
    yield np.asarray(values.shape, dtype=np.int64).tobytes()
    for array in (values.indptr.astype(np.int64), values.indices.astype(np.int32), values.data):
        yield array.tobytes()


def is_sparse_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a Parquet file written as a sparse code matrix."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return False
    return METADATA_KEY in metadata


def write_sparse_blocks(
    blocks: Iterable[SparseCodeMatrix], path: str | os.PathLike[str], *, overwrite: bool = True
) -> Path:
    """Write the matrices `blocks` yields (same codes) one after another as one sparse Parquet file, holding one
    block in memory; the file appears complete or not at all."""
    path = check_output(Path(path), overwrite=overwrite, example="codes.parquet")
    with atomic_output(path) as temporary:
        writer: pq.ParquetWriter | None = None
        try:
            for block in blocks:
                table = block.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(temporary, table.schema.with_metadata(block.metadata()))
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    return path


def write_sparse(matrix: SparseCodeMatrix, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    return write_sparse_blocks([matrix], path, overwrite=overwrite)


def _described(path: Path) -> dict[str, Any]:
    described = json.loads((pq.read_schema(path).metadata or {})[METADATA_KEY])
    if not isinstance(described.get("codes"), list):
        raise DataError(f"{str(path)!r} is damaged: its code list is missing", remedy="write the matrix again")
    return described


def _positions(codes: pa.Array, vocabulary: pa.Array, path: Path) -> np.ndarray:
    """Column positions of a batch's codes (a list's flattened values, dictionary-encoded or plain text)."""
    if pa.types.is_dictionary(codes.type):
        lookup = pc.index_in(codes.dictionary.cast(pa.string()), value_set=vocabulary)
        positions = pc.take(lookup, codes.indices)
    else:
        positions = pc.index_in(codes.cast(pa.string()), value_set=vocabulary)
    if positions.null_count:
        unknown = pc.filter(codes, pc.is_null(positions)).to_pylist()[:3]
        raise DataError(
            f"{str(path)!r} lists codes its metadata does not name",
            column=CODES_FIELD,
            values=unknown,
            remedy="write the matrix again with synthmed (the code list must hold every code)",
        )
    return positions.to_numpy(zero_copy_only=False).astype(np.int32)


def read_sparse(path: str | os.PathLike[str], batch_rows: int = 65_536) -> SparseCodeMatrix:
    """Read a sparse code matrix file batch by batch: memory follows the codes present, never rows x codes."""
    path = Path(path)
    described = _described(path)
    vocabulary = pa.array(described["codes"], type=pa.string())
    id_name = described.get("id")
    counts = bool(described.get("counts"))
    columns = [name for name in (id_name, CODES_FIELD, COUNTS_FIELD if counts else None) if name]
    lengths: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    values: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_rows, columns=columns):
        lists = batch.column(CODES_FIELD)
        lengths.append(pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False))
        positions.append(_positions(pc.list_flatten(lists), vocabulary, path))
        if counts:
            values.append(pc.list_flatten(batch.column(COUNTS_FIELD)).to_numpy(zero_copy_only=False))
        if id_name:
            ids.append(batch.column(id_name).cast(pa.string()).to_numpy(zero_copy_only=False))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths or [np.zeros(0, np.int64)]))]).astype(np.int64)
    indices = np.concatenate(positions or [np.zeros(0, np.int32)])
    data = np.concatenate(values).astype(np.int32) if counts and values else np.ones(len(indices), np.uint8)
    if counts and (data < 0).any():
        raise DataError(f"{str(path)!r} holds negative counts", column=COUNTS_FIELD, values=data[data < 0][:3].tolist())
    matrix = sparse.csr_array((data, indices, indptr), shape=(len(indptr) - 1, len(vocabulary)))
    matrix.sum_duplicates()  # a code listed twice in a row: counted twice, or present once
    if not counts:
        matrix.data = np.ones(matrix.nnz, dtype=np.uint8)
    labels = np.concatenate(ids) if id_name and ids else (np.zeros(0, dtype=str) if id_name else None)
    return SparseCodeMatrix(matrix, tuple(described["codes"]), labels, id_name or "patient_id")
