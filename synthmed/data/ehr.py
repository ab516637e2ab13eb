"""Patient x medical-code matrices from long event tables (one row per diagnosis, as in MIMIC-III).

Generative models for EHR codes (medGAN and its successors) learn from a wide matrix with one row per
patient and one column per code. Building it is where most silent mistakes happen: codes read as numbers
lose their leading zeros (`0389` becomes `389`, a different disease), quoting and dots differ between
exports, and a naive per-row loop takes minutes on real tables. This module does the reshaping once,
vectorised, and turns every such mistake into a `DataError` the user can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synthmed.data.io import read_table
from synthmed.data.sparse import MAX_DENSE_BYTES, SparseCodeMatrix
from synthmed.errors import ConfigError, DataError

ICD9_GRANULARITIES = ("3digit", "full")
UNITS = ("patient", "admission")

PATIENT_CANDIDATES = ("subject_id", "patient_id", "patient")
CODE_CANDIDATES = ("icd9_code", "icd_code", "code")
ADMISSION_CANDIDATES = ("hadm_id",)


_QUOTES = "\"'"
_INTEGER_PATTERN = r"[+-]?\d+"


def _check_granularity(granularity: str) -> None:
    if granularity not in ICD9_GRANULARITIES:
        raise ConfigError(
            f"unknown ICD-9 granularity {granularity!r}",
            values=[granularity],
            remedy=f"use one of {', '.join(ICD9_GRANULARITIES)}",
        )


def normalise_icd9(codes: pd.Series, granularity: str = "3digit") -> pd.Series:
    """Bring ICD-9 codes from any export style to one spelling, so the same disease is one column.

    Exports differ in quoting, whitespace, case and whether the decimal point is written; "3digit" is the
    category level medGAN trains on (E codes keep 4 characters because their category needs them), "full"
    keeps the whole code and writes the point where ICD-9 puts it. Empty codes become missing.
    """
    _check_granularity(granularity)
    if pd.api.types.is_numeric_dtype(codes.dtype) and not pd.api.types.is_bool_dtype(codes.dtype):
        raise DataError(
            "ICD-9 codes were read as numbers, so leading zeros are already lost (0389 would become 389)",
            column=None if codes.name is None else str(codes.name),
            values=codes.dropna().head(3).tolist(),
            remedy="read the file with synthmed.data.ehr.read_events (or pandas.read_csv(..., dtype=str))",
        )
    text = codes.astype("str")
    text = text.str.strip().str.strip(_QUOTES).str.strip()
    text = text.str.replace(".", "", regex=False).str.rstrip("-").str.upper()  # NHDS pads short codes with "-"
    text = text.mask(text == "")

    is_e = text.str.startswith("E").fillna(False).astype(bool)
    head = text.str[:3].mask(is_e, text.str[:4])
    if granularity == "3digit":
        return head.rename(codes.name)
    tail = text.str[3:].mask(is_e, text.str[4:])
    dotted = head + ("." + tail).where(tail != "", "")
    return dotted.rename(codes.name)


def read_events(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """Read an event table: a CSV (plain or compressed) with every column as text, so codes keep leading zeros,
    or a Parquet file with the types it was written with."""
    return read_table(path, encoding=encoding, as_text=True)


def find_column(frame: pd.DataFrame, candidates: Sequence[str], role: str) -> str:
    """Find the column playing `role` ignoring case: MIMIC exports spell it SUBJECT_ID or subject_id."""
    by_key: dict[str, list[str]] = {}
    for name in frame.columns:
        by_key.setdefault(str(name).strip().lower(), []).append(name)
    for candidate in candidates:
        matches = by_key.get(candidate.strip().lower(), [])
        if len(matches) > 1:
            raise DataError(
                f"several columns could be the {role} column: {', '.join(map(str, matches))}",
                values=matches,
                remedy=f"pass --{role}-column with the exact name (Python: {role}_column=)",
            )
        if matches:
            return matches[0]
    available = ", ".join(map(str, frame.columns)) or "none"
    raise DataError(
        f"no {role} column found (looked for {', '.join(candidates)}); available columns: {available}",
        remedy=f"pass --{role}-column naming the {role} column (Python: {role}_column=)",
    )


def _sorted_ids(ids: pd.Index) -> pd.Index:
    """Sort ids as numbers when they all are integers, so patient 9 comes before patient 10."""
    text = pd.Series(ids, dtype="str")
    if len(text) and bool(text.str.fullmatch(_INTEGER_PATTERN).all()):
        numbers = pd.to_numeric(text)
        if pd.api.types.is_integer_dtype(numbers.dtype):
            order = np.lexsort((text.to_numpy(), numbers.to_numpy()))
            return pd.Index(text.to_numpy()[order], dtype="str")
        # Ids longer than int64: rare enough that sorting the distinct ids in Python is fine.
        return pd.Index(sorted(text, key=lambda value: (int(value), value)), dtype="str")
    return pd.Index(text, dtype="str").sort_values()


def code_events(
    events: pd.DataFrame,
    *,
    patient_column: str | None = None,
    code_column: str | None = None,
    granularity: str = "3digit",
    unit: str = "patient",
    admission_column: str | None = None,
    require_codes: bool = True,
) -> tuple[pd.DataFrame, str]:
    """The (id, code, repeats) triples of an event table, and the name of its id column.

    What `code_matrix` pivots, in a form that adds up: the triples of several batches of one table, concatenated
    and summed by `combine_events`, are the table's. Events without a code are dropped (`require_codes`: an error
    when none has one).
    """
    _check_granularity(granularity)
    if unit not in UNITS:
        raise ConfigError(f"unknown unit {unit!r}", values=[unit], remedy=f"use one of {', '.join(UNITS)}")
    if len(events) == 0 and require_codes:
        raise DataError("the event table has no rows", remedy="check the export or the filter applied to it")

    code_col = find_column(events, (code_column,) if code_column else CODE_CANDIDATES, "code")
    if unit == "patient":
        id_col = find_column(events, (patient_column,) if patient_column else PATIENT_CANDIDATES, "patient")
    else:
        id_col = find_column(events, (admission_column,) if admission_column else ADMISSION_CANDIDATES, "admission")

    codes = normalise_icd9(events[code_col], granularity)
    present = codes.notna().to_numpy()
    if not present.any() and require_codes:
        raise DataError(
            "every code is missing, so there is nothing to build a matrix from",
            column=str(code_col),
            values=events[code_col].head(3).tolist(),
            remedy="check that --code-column (Python: code_column=) names the diagnosis-code column",
        )
    ids = events[id_col].astype("str")
    missing_ids = ids.isna().to_numpy() & present
    if missing_ids.any():
        raise DataError(
            f"{int(missing_ids.sum())} events with a code have no {unit} id, so they cannot be attributed",
            column=str(id_col),
            remedy=f"drop or fix those rows, or pass the right {unit} id column",
        )
    pairs = pd.DataFrame({"id": ids[present].to_numpy(), "code": codes[present].to_numpy()})
    return pairs.groupby(["id", "code"], sort=False).size().rename("repeats").reset_index(), str(id_col)


def combine_events(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Triples of several batches of one event table (`code_events`) as the whole table's."""
    if len(parts) == 1:
        return parts[0]
    together = pd.concat(parts, ignore_index=True)
    return together.groupby(["id", "code"], sort=False)["repeats"].sum().reset_index()


def _cells(triples: pd.DataFrame) -> tuple[pd.Index, pd.Index, np.ndarray, np.ndarray]:
    """Sorted row and column labels of the triples, and each triple's row and column."""
    row_labels = _sorted_ids(pd.Index(triples["id"].unique(), dtype="str"))
    col_labels = pd.Index(triples["code"].unique(), dtype="str").sort_values()
    return row_labels, col_labels, row_labels.get_indexer(triples["id"]), col_labels.get_indexer(triples["code"])


def dense_matrix(triples: pd.DataFrame, id_name: str, counts: bool = False) -> pd.DataFrame:
    """The dense rows x codes table of `code_events` triples: 0/1 (uint8) or counts (int32)."""
    row_labels, col_labels, rows, cols = _cells(triples)
    dtype = np.dtype(np.int32) if counts else np.dtype(np.uint8)
    n_rows, n_cols = len(row_labels), len(col_labels)
    size = n_rows * n_cols * dtype.itemsize
    if size > MAX_DENSE_BYTES:
        raise DataError(
            f"a dense {n_rows:,} x {n_cols:,} {dtype} matrix would need {size / 1024**3:.1f} GiB",
            remedy='write it sparse (--sparse; Python: sparse_code_matrix), or use granularity="3digit"',
        )
    values = np.zeros((n_rows, n_cols), dtype=dtype)
    values[rows, cols] = triples["repeats"].to_numpy() if counts else 1
    return pd.DataFrame(values, index=row_labels.rename(id_name), columns=col_labels.rename(None), copy=False)


def sparse_matrix(triples: pd.DataFrame, id_name: str, counts: bool = False) -> SparseCodeMatrix:
    """The sparse rows x codes matrix of `code_events` triples (data/sparse.py)."""
    row_labels, col_labels, rows, cols = _cells(triples)
    return SparseCodeMatrix.from_cells(
        rows,
        cols,
        (len(row_labels), len(col_labels)),
        col_labels,
        counts=counts,
        weights=triples["repeats"].to_numpy(),
        ids=row_labels.to_numpy(dtype=str),
        id_name=id_name,
    )


def code_matrix(
    events: pd.DataFrame,
    *,
    patient_column: str | None = None,
    code_column: str | None = None,
    granularity: str = "3digit",
    counts: bool = False,
    unit: str = "patient",
    admission_column: str | None = None,
) -> pd.DataFrame:
    """Pivot an event table into the dense patient x code matrix that medGAN-style models train on.

    `unit="patient"` pools all admissions of a patient (medGAN's design); `unit="admission"` gives one row per
    stay. Binary values (uint8) are what medGAN models; `counts=True` (int32) keeps how often a code recurs.
    Events without a code are dropped, so a patient whose codes are all missing has no row. `sparse_code_matrix`
    gives the same matrix kept sparse.
    """
    _check_counts(counts)
    where = {"patient_column": patient_column, "code_column": code_column, "unit": unit}
    triples, id_name = code_events(events, granularity=granularity, admission_column=admission_column, **where)
    return dense_matrix(triples, id_name, counts)


def sparse_code_matrix(events: pd.DataFrame, *, counts: bool = False, **where: str | None) -> SparseCodeMatrix:
    """`code_matrix` kept sparse (data/sparse.py), for cohorts whose dense matrix would not fit in memory; `where`
    holds `code_matrix`'s other options (patient_column, code_column, granularity, unit, admission_column)."""
    _check_counts(counts)
    return sparse_matrix(*code_events(events, **where), counts)  # type: ignore[arg-type]


def _check_counts(counts: object) -> None:
    if not isinstance(counts, bool | np.bool_):
        raise ConfigError(f"counts must be True or False, got {counts!r}", remedy="pass counts=True or False")


def matrix_summary(matrix: pd.DataFrame) -> dict[str, float]:
    """Headline numbers to compare a matrix with published cohort statistics or with a synthetic sample."""
    values = matrix.to_numpy()
    per_row = np.count_nonzero(values, axis=1) if values.size else np.zeros(len(matrix), dtype=np.int64)
    empty = len(per_row) == 0
    return {
        "patients": len(matrix),
        "codes": matrix.shape[1],
        "codes_per_patient_mean": float("nan") if empty else float(per_row.mean()),
        "codes_per_patient_median": float("nan") if empty else float(np.median(per_row)),
        "codes_per_patient_max": float("nan") if empty else float(per_row.max()),
        "events": int(values.sum(dtype=np.int64)) if values.size else 0,
    }
