"""Checks run on a table before any training, so mistakes surface in seconds, not after an hour of GPU time."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from synthmed.data.dates import parse_dates
from synthmed.data.io import refuse_duplicated_names
from synthmed.data.numbers import locale_numbers, looks_numeric, numeric_share
from synthmed.data.plausibility import check_magnitudes, note_out_of_domain
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
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
# A column is "numeric with stray markers" when at least this share of its values are numbers, however many
# kinds of markers ("?", "unknown", "n.a.") the rest hold: read as text, the whole column would become categories.
NUMERIC_MAJORITY = 0.5
# Below the majority, a text column this much of which is numbers is still noted: its numbers become labels.
NUMERIC_MINORITY = 0.1
# Markers spelled out as --na-values flags in the remedy (the message counts the rest).
MAX_FLAGGED_MARKERS = 10
NUMERIC_KINDS = (ColumnKind.COUNT, ColumnKind.CONTINUOUS)
# Declared kinds whose text is taken as it is (no date or number reading).
TEXT_KINDS = (ColumnKind.TEXT, ColumnKind.IDENTIFIER, ColumnKind.CATEGORICAL, ColumnKind.BINARY)
# The UCI repository's missing value, so common in clinical tables that a numeric column whose only non-number
# it is reads it as missing (with a note) instead of being refused.
UNKNOWN_MARKER = "?"
# Letters then a digit ("V57", "E878", "M54.5"): a code of a coding system, so the column holds codes, never markers.
_CODE = re.compile(r"^[A-Za-z]{1,3}\d[\w.]*$")


def require_columns(columns: pd.Index, names: list[str], problem: str, remedy: str) -> None:
    """Refuse a table lacking any of `names`, naming the first and listing all."""
    absent = [name for name in names if name not in columns]
    if absent:
        raise DataError(problem, column=absent[0], values=absent, remedy=remedy)


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


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


def _markers_error(name: str, markers: list[str]) -> DataError:
    shown = markers[:MAX_FLAGGED_MARKERS]
    flags = " ".join(f'--na-values "{m}"' for m in shown)
    more = f" (and {len(markers) - len(shown)} more)" if len(markers) > len(shown) else ""
    return DataError(
        "a numeric column holds stray non-numeric markers" + (f" ({len(markers)} kinds)" if len(markers) > 1 else ""),
        column=name,
        values=markers,
        remedy=f"declare them missing with {flags}{more} (Python: na_values={shown!r}), or declare the column "
        "categorical in a schema if they are real categories",
    )


def _numbers(name: str, texts: pd.Series, counts: np.ndarray, mark: str | None) -> tuple[np.ndarray, str | None]:
    """Each distinct text's number (NaN if it is not one), and the locale convention read if any (numbers.py).
    Commas are read only in a column mostly of numbers: in words they say nothing about a convention."""
    plain = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=float)
    if numeric_share(counts, looks_numeric(texts)) < NUMERIC_MAJORITY:
        return plain, None
    localised = locale_numbers(name, texts, mark)
    if localised is None:
        return plain, None
    numbers, convention = localised
    return np.where(np.isnan(plain), numbers.to_numpy(dtype=float), plain), convention


def _check_text(
    name: str, series: pd.Series, column: ColumnSchema | None, mark: str | None
) -> tuple[pd.Series, str | None]:
    """A text column as a model should see it (dates parsed, locale numbers read, stray markers refused), and
    the locale convention its numbers were read in, if any."""
    series = series.mask(series.isin(PANDAS_NA_MARKERS))
    kind = column.kind if column is not None else None
    if kind in TEXT_KINDS:
        return series, None
    counts = series.value_counts(sort=False)
    texts = pd.Series(counts.index.astype(str), dtype=object).str.strip()
    if kind in (None, ColumnKind.DATETIME):
        dates = parse_dates(name, texts, column.format if column is not None else None)
        if dates is not None:
            return series.map(dict(zip(counts.index, dates, strict=True))).astype(dates.dtype), None
        if kind is ColumnKind.DATETIME:
            raise DataError(
                "is declared datetime, but its values are not dates in a form synthmed knows",
                column=name,
                values=texts,
                remedy=f'declare how they are written, e.g. `{name}: {{kind: datetime, format: "%d/%m/%Y"}}`',
            )
    numbers, convention = _numbers(name, texts, counts.to_numpy(), mark)
    share = numeric_share(counts.to_numpy(), ~np.isnan(numbers))
    if share == 1.0 and convention is not None:
        return series.map(dict(zip(counts.index, numbers, strict=True))).astype(float), convention
    markers = texts[np.isnan(numbers)].tolist()
    if markers == [UNKNOWN_MARKER] and (kind in NUMERIC_KINDS or share >= NUMERIC_MAJORITY):
        missing = int(counts.to_numpy()[np.isnan(numbers)].sum())
        warnings.warn(
            f"Column {name!r}: {missing} values {UNKNOWN_MARKER!r} read as missing (the UCI repository's "
            f"convention). If {UNKNOWN_MARKER!r} is a category, declare the column categorical in a schema.",
            SynthmedWarning,
            stacklevel=5,
        )
        return series.map(dict(zip(counts.index, numbers, strict=True))).astype(float), convention
    codes = bool(texts[np.isnan(numbers)].str.match(_CODE).any())  # ICD-9: mostly "250.83", some "V57"
    if markers and share > 0 and (kind in NUMERIC_KINDS or (share >= NUMERIC_MAJORITY and not codes)):
        raise _markers_error(name, markers)
    if markers and share >= NUMERIC_MINORITY and not codes:
        warnings.warn(
            f"Column {name!r}: {share:.0%} of its values are numbers and the rest words (such as {markers[0]!r}); "
            "it is modelled as categories, each number a label. If it is a measurement, declare the words missing "
            "with --na-values.",
            SynthmedWarning,
            stacklevel=5,
        )
    return series, None


def _check_numbers(name: str, series: pd.Series, column: ColumnSchema | None) -> None:
    numbers = series.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(numbers)
    if infinite.any():
        raise DataError(
            f"{int(infinite.sum())} infinite values",
            column=name,
            values=numbers[infinite],
            remedy="replace them with a finite value, or with NaN if they mean missing",
        )
    check_magnitudes(name, numbers, column)
    note_out_of_domain(name, numbers, column)


def _check_column(name: str, series: pd.Series, declared: Schema, mark: str | None) -> tuple[pd.Series, str | None]:
    column = declared.get(name)
    convention = None
    if _is_text(series):
        series, convention = _check_text(name, series, column, mark)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        _check_numbers(name, series, column)
    return series, convention


def _note_conventions(conventions: dict[str, str]) -> None:
    """One note for every column whose numbers were written in a locale's convention."""
    for convention in sorted(set(conventions.values())):
        names = [name for name, used in conventions.items() if used == convention]
        shown = ", ".join(map(repr, names[:5])) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        warnings.warn(
            f"Numbers written with {convention} read as numbers in {len(names)} columns ({shown}).",
            SynthmedWarning,
            stacklevel=3,
        )


def validate_table(table: pd.DataFrame, declared: Schema | None = None, decimal: str | None = None) -> pd.DataFrame:
    """Check a table and return the cleaned copy a model trains on.

    All-null columns are dropped with a warning (an error when the user's schema asked for them); date
    strings become datetimes (data/dates.py); numbers written with decimal commas become numbers
    (data/numbers.py; `decimal`, "," or ".", settles values such as "1,234"); pandas' usual missing markers
    become missing. Numeric columns with a few stray markers, implausible magnitudes or infinities are refused;
    values outside a column's likely domain are noted (data/plausibility.py).
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(table).__name__}")
    declared = declared or Schema()
    _check_shape(table)
    columns: dict[str, pd.Series] = {}
    conventions: dict[str, str] = {}
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
        columns[name], convention = _check_column(name, series, declared, decimal)
        if convention is not None:
            conventions[name] = convention
    _note_conventions(conventions)
    if not columns:
        raise DataError("every column is entirely missing", remedy="check the input file and its separator")
    return pd.DataFrame(columns, index=table.index)
