"""`ehr-matrix` end to end: an event table (or a wide table of code columns) in, a patient x code matrix out.

One row per patient (or admission) and one column per diagnosis code (3-digit or full ICD-9; 0/1 or counts), or,
with named code-prefix groups, one 0/1 column per group (plus any flags the groups file defines).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pandas as pd
import pyarrow as pa

from synthmed.data.code_groups import flag_matrix, group_matrix, load_flags, load_groups, wide_to_long
from synthmed.data.database import BATCH_ROWS, DatabaseTable, arrow_to_frame, record_batches
from synthmed.data.ehr import CODE_CANDIDATES, PATIENT_CANDIDATES, code_matrix, find_column, matrix_summary, read_events
from synthmed.data.io import check_table_output, write_table
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
    overwrite: bool = False,
) -> str:
    """Write the matrix of `events` to `output` (CSV/Parquet); return a one-line description of it.

    `code_columns` are a wide table's code columns (shell patterns such as "diagnosis_*"): one row per record,
    its codes in several columns. `groups` is a YAML file of named code-prefix groups.
    """
    check_table_output(output, overwrite=overwrite)
    if isinstance(events, DatabaseTable) and groups is None and code_columns is None:
        matrix = _streamed_matrix(events, patient_column, code_column, granularity, counts, unit)
        return _written(matrix, output, overwrite, unit)
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
    matrix = code_matrix(
        table, patient_column=patient_column, code_column=code_column, granularity=granularity, counts=counts, unit=unit
    )
    return _written(matrix, output, overwrite, "record" if code_columns is not None else unit)


def _written(matrix: pd.DataFrame, output: str | Path, overwrite: bool, rows: str) -> str:
    path = write_table(matrix.reset_index(), output, overwrite=overwrite)
    stats = matrix_summary(matrix)
    return (
        f"wrote {stats['patients']:,} {rows}s x {stats['codes']:,} codes "
        f"({stats['codes_per_patient_mean']:.2f} codes per {rows} on average) to {path}"
    )


def _streamed_matrix(
    events: DatabaseTable,
    patient_column: str | None,
    code_column: str | None,
    granularity: str,
    counts: bool,
    unit: str,
    batch_rows: int = BATCH_ROWS,
) -> pd.DataFrame:
    """The matrix of events read from a database batch by batch: each batch's counts are added to the total, so
    memory follows the matrix (patients x codes), never the number of events."""
    total: pd.DataFrame | None = None
    for batch in record_batches(events, batch_rows):
        chunk = arrow_to_frame(pa.Table.from_batches([batch]))
        codes_at = find_column(chunk, (code_column,) if code_column else CODE_CANDIDATES, "code")
        if chunk[codes_at].isna().all():
            continue
        found = code_matrix(
            chunk, patient_column=patient_column, code_column=code_column, granularity=granularity, counts=True,
            unit=unit,
        )  # fmt: skip
        total = found if total is None else total.add(found, fill_value=0)
    if total is None:
        raise DataError(f"{events} holds no event with a code", remedy="check the table, or --code-column")
    total = total.fillna(0).sort_index().sort_index(axis=1)
    return total.astype("int32") if counts else (total > 0).astype("uint8")
