"""`ehr-matrix` end to end: an event table (or a wide table of code columns) in, a patient x code matrix out.

One row per patient (or admission) and one column per diagnosis code (3-digit or full ICD-9; 0/1 or counts), or,
with named code-prefix groups, one 0/1 column per group (plus any flags the groups file defines).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from synthmed.data.code_groups import flag_matrix, group_matrix, load_flags, load_groups, wide_to_long
from synthmed.data.database import BATCH_ROWS, DatabaseTable, arrow_to_frame, record_batches
from synthmed.data.ehr import (
    CODE_CANDIDATES,
    PATIENT_CANDIDATES,
    code_events,
    combine_events,
    dense_matrix,
    find_column,
    matrix_summary,
    read_events,
    sparse_matrix,
)
from synthmed.data.io import PARQUET_SUFFIXES, check_table_output, parquet_batches, write_table
from synthmed.data.sparse import check_sparse_output, write_sparse
from synthmed.errors import ConfigError, DataError


def build_ehr_matrix(
    events: str | Path | DatabaseTable,
    output: str | Path,
    *,
    granularity: str = "3digit",
    counts: bool = False,
    unit: str = "patient",
    patient_column: str | None = None,
    code_column: str | None = None,
    groups: str | Path | None = None,
    code_columns: list[str] | None = None,
    encoding: str | None = None,
    sparse: bool = False,
    overwrite: bool = False,
) -> str:
    """Write the matrix of `events` to `output` (CSV/Parquet); return a one-line description of it.

    `code_columns` are a wide table's code columns (shell patterns such as "diagnosis_*"): one row per record,
    its codes in several columns. `groups` is a YAML file of named code-prefix groups. `sparse` writes the matrix
    as a sparse Parquet file (data/sparse.py). A database table or a Parquet file of events is read batch by batch.
    """
    if sparse:
        _check_sparse_options(output, groups)
    check_table_output(output, overwrite=overwrite)
    if _streamable(events) and groups is None and code_columns is None:
        triples, id_name = _streamed_events(events, patient_column, code_column, granularity, unit)
        return _written(triples, id_name, counts, sparse, output, overwrite, unit)
    # codes must stay text: a CSV is read as such; Parquet keeps the types it was written with
    table = read_events(events, encoding=encoding)
    flags = load_flags(groups) if groups is not None else {}
    fields = table  # what flags read: one row per event, or per record of a wide table
    if code_columns is not None:
        chosen = [c for c in table.columns if any(fnmatch.fnmatchcase(str(c), p) for p in code_columns)]
        if not chosen:
            raise ConfigError("no column matches --code-columns", values=code_columns, remedy="check the column names")
        records, codes = wide_to_long(table, chosen, patient_column)
        patient_column, code_column = str(records.name), "code"
        table = pd.DataFrame({patient_column: records.astype("string"), code_column: codes})
    if groups is not None:
        ids = find_column(table, (patient_column,) if patient_column else PATIENT_CANDIDATES, "patient")
        codes_at = find_column(table, (code_column,) if code_column else CODE_CANDIDATES, "code")
        matrix = group_matrix(table[ids], table[codes_at], load_groups(groups))
        if flags:  # a wide table's i-th row is its long form's i-th (the first code slot)
            matrix = flag_matrix(table[ids].iloc[: len(fields)], fields, flags).join(matrix)
        path = write_table(matrix.reset_index(), output, overwrite=overwrite)
        shares = ", ".join(f"{name} {share:.2%}" for name, share in matrix.mean().items())
        return f"wrote {len(matrix):,} records x {matrix.shape[1]} variables to {path}; shares: {shares}"
    triples, id_name = code_events(
        table, patient_column=patient_column, code_column=code_column, granularity=granularity, unit=unit
    )
    return _written(triples, id_name, counts, sparse, output, overwrite, "record" if code_columns is not None else unit)


def _check_sparse_options(output: str | Path, groups: str | Path | None) -> None:
    check_sparse_output(output)
    if groups is not None:
        raise ConfigError(
            "code groups make a few dense columns, not a sparse matrix", remedy="leave out --sparse with --groups"
        )


def _written(
    triples: pd.DataFrame, id_name: str, counts: bool, sparse: bool, output: str | Path, overwrite: bool, rows: str
) -> str:
    if sparse:
        matrix = sparse_matrix(triples, id_name, counts)
        path = write_sparse(matrix, output, overwrite=overwrite)
        patients, codes = matrix.shape
        per_row = matrix.values.nnz / max(patients, 1)
    else:
        dense = dense_matrix(triples, id_name, counts)
        path = write_table(dense.reset_index(), output, overwrite=overwrite)
        stats = matrix_summary(dense)
        patients, codes, per_row = stats["patients"], stats["codes"], stats["codes_per_patient_mean"]
    kept = " sparse" if sparse else ""
    return f"wrote {patients:,} {rows}s x {codes:,} codes ({per_row:.2f} codes per {rows} on average){kept} to {path}"


def _streamable(events: str | Path | DatabaseTable) -> bool:
    """Whether the events can be read batch by batch: a database table or a Parquet file."""
    return isinstance(events, DatabaseTable) or Path(events).suffix.lower() in PARQUET_SUFFIXES


def _batches(events: str | Path | DatabaseTable, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if isinstance(events, DatabaseTable):
        yield from record_batches(events, batch_rows)
        return
    yield from parquet_batches(events, batch_rows)


def _streamed_events(
    events: str | Path | DatabaseTable,
    patient_column: str | None,
    code_column: str | None,
    granularity: str,
    unit: str,
    batch_rows: int = BATCH_ROWS,
) -> tuple[pd.DataFrame, str]:
    """The (id, code, repeats) triples of events read batch by batch: memory follows the distinct (patient, code)
    pairs, never the number of events."""
    parts: list[pd.DataFrame] = []
    id_name = ""
    for batch in _batches(events, batch_rows):
        triples, id_name = code_events(
            arrow_to_frame(pa.Table.from_batches([batch])),
            patient_column=patient_column,
            code_column=code_column,
            granularity=granularity,
            unit=unit,
            require_codes=False,
        )
        parts.append(triples)
    triples = combine_events(parts) if parts else pd.DataFrame()
    if triples.empty:
        raise DataError(f"{events} holds no event with a code", remedy="check the table, or --code-column")
    return triples, id_name
