"""Sparse code matrices: written and read back unchanged, refused where they cannot be what the user meant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.data import sparse as sparse_module
from synthmed.data.io import read_table
from synthmed.data.sparse import SparseCodeMatrix, is_sparse_file, read_sparse, write_sparse, write_sparse_blocks
from synthmed.errors import DataError


def _matrix(rows: int = 30, codes: int = 8, counts: bool = False, seed: int = 0) -> SparseCodeMatrix:
    rng = np.random.default_rng(seed)
    events = rows * 3
    return SparseCodeMatrix.from_cells(
        rng.integers(0, rows, events),
        rng.integers(0, codes, events),
        (rows, codes),
        [f"{i:03d}" for i in range(codes)],  # leading zeros must survive
        counts=counts,
        ids=np.array([f"p{i}" for i in range(rows)]),
        id_name="subject_id",
    )


@pytest.mark.parametrize("counts", [False, True])
def test_a_sparse_matrix_reads_back_as_written(tmp_path: Path, counts: bool) -> None:
    matrix = _matrix(counts=counts)
    path = write_sparse(matrix, tmp_path / "codes.parquet")
    back = read_sparse(path, batch_rows=7)  # several batches
    assert is_sparse_file(path) and back.counts == counts and back.codes == matrix.codes
    assert (back.values != matrix.values).nnz == 0 and back.values.dtype == matrix.values.dtype
    assert back.ids.tolist() == matrix.ids.tolist() and back.id_name == "subject_id"
    if counts:
        assert back.values.max() > 1  # repeated events were counted


def test_any_parquet_reader_sees_one_row_per_patient_with_its_codes(tmp_path: Path) -> None:
    matrix = _matrix()
    path = write_sparse(matrix, tmp_path / "codes.parquet")
    rows = pd.read_parquet(path)
    assert list(rows.columns) == ["subject_id", "codes"] and len(rows) == len(matrix)
    first = matrix.values[[0]].indices
    assert list(rows["codes"].iloc[0]) == [matrix.codes[i] for i in first]


def test_read_table_gives_the_dense_table_a_sparse_file_stands_for(tmp_path: Path) -> None:
    matrix = _matrix()
    table = read_table(write_sparse(matrix, tmp_path / "codes.parquet"))
    assert list(table.columns) == ["subject_id", *matrix.codes]
    assert (table[list(matrix.codes)].to_numpy() == matrix.values.toarray()).all()


def test_blocks_without_ids_keep_empty_rows(tmp_path: Path) -> None:
    empty = SparseCodeMatrix.from_cells(np.array([1]), np.array([2]), (3, 4), ["a", "b", "c", "d"])
    path = write_sparse_blocks([empty, empty], tmp_path / "sample.parquet")
    back = read_sparse(path)
    assert back.shape == (6, 4) and back.ids is None and back.values.nnz == 2
    assert back.values.toarray()[:, 2].tolist() == [0, 1, 0, 0, 1, 0]


def test_a_code_missing_from_the_metadata_is_a_damaged_file(tmp_path: Path) -> None:
    path = write_sparse(_matrix(), tmp_path / "codes.parquet")
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    metadata[sparse_module.METADATA_KEY] = metadata[sparse_module.METADATA_KEY].replace(b'"000", ', b"")
    pq.write_table(table.replace_schema_metadata(metadata), path)
    with pytest.raises(DataError, match="codes its metadata does not name") as raised:
        read_sparse(path)
    assert "000" in str(raised.value)


def test_a_dense_copy_too_big_for_memory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparse_module, "MAX_DENSE_BYTES", 100)
    with pytest.raises(DataError, match="keep it sparse"):
        _matrix().to_frame()


def test_a_plain_parquet_file_is_not_sparse(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "plain.parquet")
    assert not is_sparse_file(tmp_path / "plain.parquet") and not is_sparse_file(tmp_path / "absent.parquet")


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 5)), max_size=60),
    counts=st.booleans(),
    block=st.integers(1, 13),
)
def test_any_matrix_survives_the_round_trip(tmp_path_factory, cells: list[tuple[int, int]], counts: bool, block: int):
    rows = np.array([r for r, _ in cells], dtype=np.int64)
    columns = np.array([c for _, c in cells], dtype=np.int64)
    matrix = SparseCodeMatrix.from_cells(rows, columns, (12, 6), list("abcdef"), counts=counts)
    dense = np.zeros((12, 6), dtype=np.int64)
    np.add.at(dense, (rows, columns), 1)
    path = write_sparse(matrix, tmp_path_factory.mktemp("m") / "m.parquet")
    back = read_sparse(path, batch_rows=block)
    assert (back.values.toarray() == (dense if counts else (dense > 0))).all()
