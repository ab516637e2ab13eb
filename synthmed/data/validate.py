"""Checks run on a table before any training, so mistakes surface in seconds, not after an hour of GPU time."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from synthmed.data.schema import ColumnKind, Schema
from synthmed.errors import DataError, SynthmedWarning

# Generative models need enough rows to estimate anything; below this a "synthetic" table is a copy risk.
MIN_ROWS = 10
# pandas read_csv's default missing-value markers: they mean "missing" in a DataFrame too.
PANDAS_NA_MARKERS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
# A column is "numeric with stray markers" when at least this share of its values are numbers...
NUMERIC_MAJORITY = 0.5
# ...and the rest are this few distinct strings ("?", "unknown"), not a genuine set of categories.
MAX_STRAY_MARKERS = 3
# Letters then a digit ("V57", "E878", "M54.5"): a code of a coding system, so the column holds codes, never markers.
_CODE = re.compile(r"^[A-Za-z]{1,3}\d[\w.]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def require_columns(columns: pd.Index, names: list[str], problem: str, remedy: str) -> None:
    """Refuse a table lacking any of `names`, naming the first and listing all."""
    absent = [name for name in names if name not in columns]
    if absent:
        raise DataError(problem, column=absent[0], values=absent, remedy=remedy)


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def refuse_duplicated_names(names: pd.Index) -> None:
    duplicated = names[names.duplicated()].tolist()
    if duplicated:
        raise DataError(
            "duplicated column names",
            column=str(duplicated[0]),
            values=duplicated,
            remedy="rename the columns so that each name appears once",
        )


def _check_shape(table: pd.DataFrame) -> None:
    if table.shape[1] == 0 or table.shape[0] == 0:
        raise DataError(
            f"the table is empty ({table.shape[0]} rows x {table.shape[1]} columns)",
            remedy="check the input file and its separator",
        )
    refuse_duplicated_names(table.columns)
    if table.shape[0] < MIN_ROWS:
        raise DataError(
            f"the table has {table.shape[0]} rows; synthmed needs at least {MIN_ROWS} to learn a distribution "
            "(and a generator fitted on a handful of patients can only copy them)",
            remedy="use a larger table",
        )


def _stray_markers(counts: pd.Series) -> list[str]:
    """Non-numeric strings in an otherwise numeric text column (empty when it is genuinely textual).

    `counts` maps each distinct value to its frequency: parsing distinct values only keeps this fast on
    100k-row tables whose text columns have a handful of levels.
    """
    values = counts.index.astype(str).str.strip()
    numeric = pd.to_numeric(values, errors="coerce").notna()
    if numeric.all() or counts[numeric].sum() < NUMERIC_MAJORITY * counts.sum():
        return []
    if values[~numeric].str.match(_CODE).any():  # ICD-9 diagnoses: mostly "250.83", some "V57"
        return []
    markers = [str(marker).strip() for marker in counts.index[~numeric]]
    return markers if len(markers) <= MAX_STRAY_MARKERS else []


def _parse_iso_dates(series: pd.Series, distinct: pd.Index) -> pd.Series | None:
    if distinct.empty or not distinct.astype(str).str.match(_ISO_DATE).all():
        return None
    return pd.to_datetime(series, format="ISO8601")


def _check_column(name: str, series: pd.Series, declared: Schema) -> pd.Series:
    if _is_text(series):
        series = series.mask(series.isin(PANDAS_NA_MARKERS))
        kind = declared[name].kind if name in declared else None
        counts = series.value_counts(sort=False)
        if kind in (None, ColumnKind.COUNT, ColumnKind.CONTINUOUS):
            markers = _stray_markers(counts)
            if markers:
                flags = " ".join(f'--na-values "{m}"' for m in markers)
                raise DataError(
                    "a numeric column holds stray non-numeric markers",
                    column=name,
                    values=markers,
                    remedy=f"declare them missing with {flags} (Python: na_values={markers!r}), or declare "
                    "the column categorical in a schema if they are real categories",
                )
        if kind in (None, ColumnKind.DATETIME):
            parsed = _parse_iso_dates(series, counts.index)
            if parsed is not None:
                return parsed
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(numbers)
        if infinite.any():
            raise DataError(
                f"{int(infinite.sum())} infinite values",
                column=name,
                values=numbers[infinite],
                remedy="replace them with a finite value, or with NaN if they mean missing",
            )
    return series


def validate_table(table: pd.DataFrame, declared: Schema | None = None) -> pd.DataFrame:
    """Check a table and return the cleaned copy a model trains on.

    All-null columns are dropped with a warning (an error when the user's schema asked for them); ISO
    date strings become datetimes; pandas' usual missing markers become missing.
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(table).__name__}")
    declared = declared or Schema()
    _check_shape(table)
    columns: dict[str, pd.Series] = {}
    for name in table.columns:
        if not isinstance(name, str):
            raise DataError(
                "column names must be strings",
                column=str(name),
                values=[name],
                remedy="rename the columns, e.g. table.columns = table.columns.astype(str)",
            )
        series = table[name]
        if series.isna().all():
            if name in declared:
                raise DataError(
                    "every value is missing, but the schema asks for this column",
                    column=name,
                    remedy="remove it from the schema or check the input",
                )
            warnings.warn(f"Column {name!r} dropped: every value is missing.", SynthmedWarning, stacklevel=2)
            continue
        columns[name] = _check_column(name, series, declared)
    if not columns:
        raise DataError("every column is entirely missing", remedy="check the input file and its separator")
    return pd.DataFrame(columns, index=table.index)
