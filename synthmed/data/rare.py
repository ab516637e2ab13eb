"""Rare categories: values held by fewer than k training records.

A category learned from the data ships in the generator's file and can appear in its samples; when only one
or two patients hold it (a rare occupation, an unusual ward), it points to them. Statistical disclosure
control suppresses such small cells; synthmed reports them (a note at fit, a privacy check in `evaluate` and
`release`) and lets the schema merge them into one category or suppress them (make them missing):
`ward: {kind: categorical, rare: merge, min_count: 5}`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import pandas as pd

from synthmed.data.schema import RARE_MIN_COUNT, ColumnKind, ColumnSchema, Schema
from synthmed.errors import SynthmedWarning

# The category that `rare: merge` puts rare values in; it names no real value.
MERGED = "(other)"


def rare_values(series: pd.Series, min_count: int = RARE_MIN_COUNT) -> pd.Index:
    """The non-missing values of `series` held by fewer than `min_count` rows."""
    counts = series.value_counts(dropna=True)
    return counts.index[counts < min_count]


def judged_for_rarity(column: ColumnSchema, series: pd.Series) -> bool:
    """Whether a column's categories come from the data and could name someone: categorical columns, and binary
    columns with text labels (a 0/1 or True/False column's values are the same for every patient)."""
    if not column.learns_values:
        return False
    if column.kind is ColumnKind.CATEGORICAL:
        return True
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def apply_rare_policy(table: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`table` with each declared `rare:` column's rare categories merged into MERGED or made missing."""
    columns = [c for c in schema.columns if c.rare is not None and c.name in table.columns]
    if not columns:
        return table
    table = table.copy()
    for column in columns:
        series = table[column.name]
        rare = series.isin(rare_values(series, column.min_count or RARE_MIN_COUNT))
        replacement = MERGED if column.rare == "merge" else None
        table[column.name] = series.astype(object).mask(rare, replacement)
    return table


def rare_categories(
    table: pd.DataFrame, columns: Iterable[ColumnSchema], min_count: int = RARE_MIN_COUNT
) -> dict[str, list[Any]]:
    """Per column judged for rarity, its values held by fewer than `min_count` rows of `table` (MERGED, which
    names no one, excepted); columns without any are left out."""
    found = {}
    for column in columns:
        if judged_for_rarity(column, table[column.name]):
            rare = [value for value in rare_values(table[column.name], min_count) if value != MERGED]
            if rare:
                found[column.name] = rare
    return found


def note_rare_categories(table: pd.DataFrame, schema: Schema) -> None:
    """Note each modelled column whose data-derived categories include rare ones (they ship in the generator)."""
    for name, rare in rare_categories(table, schema.modelled).items():
        warnings.warn(
            f"Column {name!r}: {len(rare)} of its {table[name].nunique()} categories are held by fewer than "
            f"{RARE_MIN_COUNT} training records. Learned from the data, they ship in the generator and can "
            "appear in samples, where each points to a few real patients (`evaluate` and `release` fail on "
            f"them). Declare `{name}: {{kind: {schema[name].kind.value}, rare: merge}}` (or `rare: suppress`, "
            "or public `categories`) in a schema.",
            SynthmedWarning,
            stacklevel=3,
        )
