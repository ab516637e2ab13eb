"""Schema inference: each column's kind read from its values, with identifiers and free text set aside.

It reads and validates a table given by path first (data/io.py, data/validate.py), so it sits above both; the
schema itself (data/schema.py) knows nothing of files.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from synthmed.data.files import check_output
from synthmed.data.io import is_table_source, read_table
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.data.sensitive import excluded_note, identifier_reason, refuse_learned_text, text_reason
from synthmed.data.validate import validate_table
from synthmed.errors import SchemaError, SynthmedWarning


def infer_kind(series: pd.Series) -> ColumnKind:
    """Kind of a non-identifier column from its dtype and values.

    Non-negative integer columns are counts, not categories: a patient x code count matrix must keep one
    dimension per code. Integer codes that are really categories (chest-pain type 1-4) should be declared
    `categorical` in a schema.
    """
    values = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind.DATETIME
    if pd.api.types.is_bool_dtype(series):
        return ColumnKind.BINARY
    if pd.api.types.is_numeric_dtype(series):
        unique = pd.unique(values)
        if len(unique) == 2 or set(unique.tolist()) <= {0, 1}:
            return ColumnKind.BINARY
        numbers = values.to_numpy(dtype=float)
        if np.all(np.mod(numbers, 1) == 0) and numbers.min() >= 0:
            return ColumnKind.COUNT
        return ColumnKind.CONTINUOUS
    if values.nunique() == 2:
        return ColumnKind.BINARY
    return ColumnKind.CATEGORICAL


def infer_schema(
    table: pd.DataFrame | str | Path,
    declared: Schema | None = None,
    *,
    na_values: list[str] | None = None,
    encoding: str | None = None,
    decimal: Literal[",", "."] | None = None,
) -> Schema:
    """Infer every column's kind; columns named in `declared` keep the user's spec unchanged.

    `table` is a DataFrame, a CSV/Parquet path or a `DatabaseTable` (read and validated first). Identifier-like
    columns get kind `identifier` and free text kind `text` (both excluded from modelling: data/sensitive.py), each
    with a note that says why and what the user can do instead. A column declared categorical without public
    categories whose values are free text or keys is refused.
    """
    if is_table_source(table):
        table = validate_table(
            read_table(table, na_values=na_values, encoding=encoding, decimal=decimal), declared, decimal
        )
    declared = declared or Schema()
    ruled = [name for group in declared.exclusive for name in group]
    missing = [name for name in (*declared.names, *ruled) if name not in table.columns]
    if missing:
        raise SchemaError(
            "the schema names columns that are not in the data",
            column=missing[0],
            values=missing,
            remedy=f"fix the schema; the data has columns {list(table.columns)[:10]}",
        )
    columns = []
    for name in table.columns:
        series = table[name]
        if name in declared:
            column = declared[name]
            if column.learns_values and column.kind is ColumnKind.CATEGORICAL:
                refuse_learned_text(str(name), series)
            columns.append(column)
            continue
        for kind, reason in (
            (ColumnKind.IDENTIFIER, identifier_reason(str(name), series)),
            (ColumnKind.TEXT, text_reason(series)),
        ):
            if reason is not None:
                warnings.warn(excluded_note(str(name), reason, kind.value), SynthmedWarning, stacklevel=2)
                columns.append(ColumnSchema(str(name), kind))
                break
        else:
            columns.append(ColumnSchema(str(name), infer_kind(series)))
    return Schema(tuple(columns), declared.exclusive)


def infer_schema_file(
    data: str | Path,
    output: str | Path | None = None,
    *,
    na_values: list[str] | None = None,
    encoding: str | None = None,
    decimal: Literal[",", "."] | None = None,
    overwrite: bool = False,
) -> Schema:
    """`synthmed schema`: infer the schema of the table file `data` and, given `output` (checked before the table
    is read), write it there as YAML or JSON for review before `fit --schema`."""
    if output is not None:
        check_output(output, overwrite=overwrite, example="schema.yaml")
    inferred = infer_schema(data, na_values=na_values, encoding=encoding, decimal=decimal)
    if output is not None:
        inferred.save(output)
    return inferred
