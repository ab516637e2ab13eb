"""Named groups of diagnosis codes as binary indicators: "opioid use" is any code starting 3040, 3047 or 3055.

Studies rarely model single ICD codes: they define conditions as lists of code prefixes (a codebook table such as
NHDS's 19 variables, Elixhauser or Charlson comorbidities). A groups file writes such a table down once:

    groups:
      opioid_use: ["3040", "3047", "3055"]
      hepatitis: ["070", "V053"]

A record (a patient, a stay, a discharge) is 1 in a group when any of its codes starts with one of the group's
prefixes. Variables that come from other fields (an age band, sex) are flags: conditions on the table's columns,
written as pandas query expressions, true for a record when any of its rows meets them:

    flags:
      age_under_18: "age_unit != 1 or age < 18"
      female: "sex == 2"

Codes are compared without quotes, spaces, the decimal point or NHDS's padding dash, in upper case, so
"304.00", "30400" and "3040-" all start with "3040". Records come from an event table (one code per row, several
rows per record) or from a wide table (one row per record, one column per code slot, as NHDS's 15 diagnoses).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.io import read_spec_section
from synthmed.errors import DataError, SchemaError


def load_groups(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Group name -> code prefixes, from a YAML/JSON file with a `groups` mapping; prefixes cleaned like codes."""
    return cleaned_groups(read_spec_section(path, "groups", dict, "groups file"))


def cleaned_groups(groups: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Group name -> code prefixes cleaned like codes; each group needs a non-empty list of prefixes."""
    cleaned = {}
    for name, prefixes in groups.items():
        if not isinstance(prefixes, list | tuple) or not prefixes:
            raise SchemaError("each group needs a non-empty list of code prefixes", column=str(name), values=[prefixes])
        cleaned[str(name)] = tuple(clean_codes(pd.Series([str(p) for p in prefixes])).dropna())
    return cleaned


def load_flags(path: str | Path) -> dict[str, str]:
    """Flag name -> condition, from the optional `flags` mapping of a groups file (empty when there is none)."""
    flags = read_spec_section(path, "flags", dict, "groups file", required=False) or {}
    for name, condition in flags.items():
        if not isinstance(condition, str) or not condition.strip():
            raise SchemaError(
                "each flag needs a condition on the table's columns", column=str(name), values=[condition]
            )
    return {str(name): condition for name, condition in flags.items()}


def flag_matrix(records: pd.Series, table: pd.DataFrame, flags: dict[str, str]) -> pd.DataFrame:
    """One row per distinct record of `records` (aligned with `table`'s rows), one 0/1 column per flag."""
    labels, rows = _in_order(records)
    table = _numbers_as_numbers(table)
    values = np.zeros((len(labels), len(flags)), dtype=np.uint8)
    for j, (name, condition) in enumerate(flags.items()):
        try:
            met = table.eval(condition, engine="python")
        except Exception as error:  # pandas raises many kinds for a bad expression; the user needs only which
            raise SchemaError(
                f"cannot evaluate the flag's condition {condition!r}: {error}",
                column=name,
                remedy=f"write a pandas query over the columns {list(table.columns)[:12]}",
            ) from None
        if not isinstance(met, pd.Series) or not (pd.api.types.is_bool_dtype(met) or met.isin([0, 1]).all()):
            raise SchemaError(f"the flag's condition {condition!r} is not true/false per row", column=name)
        values[rows[met.fillna(False).to_numpy(dtype=bool)], j] = 1
    return pd.DataFrame(values, index=pd.Index(labels, name=records.name), columns=list(flags))


def _numbers_as_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every value is a number, as numbers: event CSVs are read as text so that codes keep their
    leading zeros, but a flag such as `age < 18` compares numbers."""
    converted = {}
    for column in table.columns:
        if pd.api.types.is_object_dtype(table[column]) or pd.api.types.is_string_dtype(table[column]):
            numbers = pd.to_numeric(table[column], errors="coerce")
            if numbers.notna().sum() == table[column].notna().sum():
                converted[column] = numbers
    return table.assign(**converted) if converted else table


def clean_codes(codes: pd.Series) -> pd.Series:
    """Codes as text without quotes, spaces, dots or padding dashes, in upper case; empty ones missing."""
    text = codes.astype("string").str.strip().str.strip("\"'").str.replace(".", "", regex=False)
    text = text.str.rstrip("-").str.strip().str.upper()
    return text.mask(text == "")


def group_matrix(records: pd.Series, codes: pd.Series, groups: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per distinct record (in order of appearance), one 0/1 column per group.

    `records` and `codes` are aligned: the record each code belongs to. A record with no code in any group is a
    row of zeros; a record whose codes are all missing still has its row.
    """
    if len(records) != len(codes):
        raise DataError("records and codes must be aligned", values=[len(records), len(codes)])
    labels, rows = _in_order(records)
    cleaned = clean_codes(codes)
    present = cleaned.notna().to_numpy()
    values = np.zeros((len(labels), len(groups)), dtype=np.uint8)
    for j, prefixes in enumerate(groups.values()):
        hit = present & cleaned.str.startswith(prefixes).fillna(False).to_numpy(dtype=bool)
        values[rows[hit], j] = 1
    return pd.DataFrame(values, index=pd.Index(labels, name=records.name), columns=list(groups))


def _in_order(records: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Distinct record labels in order of first appearance, and each entry's row among them."""
    codes, labels = pd.factorize(records, sort=False)
    if (codes < 0).any():
        raise DataError("some codes have no record id", column=str(records.name), remedy="drop or fix those rows")
    return np.asarray(labels), codes


def wide_to_long(table: pd.DataFrame, code_columns: list[str], id_column: str | None) -> tuple[pd.Series, pd.Series]:
    """A wide table's code slots as aligned (record, code) series; without an id column, records are row numbers."""
    missing = [c for c in code_columns if c not in table.columns]
    if missing:
        raise DataError(
            "code columns not in the table",
            values=missing,
            remedy=f"the table has columns {list(table.columns)[:10]}",
        )
    ids = table[id_column] if id_column else pd.Series(np.arange(len(table)), name="record")
    records = pd.Series(np.tile(ids.to_numpy(), len(code_columns)), name=ids.name)
    codes = pd.Series(np.concatenate([table[c].astype("string").to_numpy() for c in code_columns]), dtype="string")
    return records, codes
