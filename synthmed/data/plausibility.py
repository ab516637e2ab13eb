"""Numbers no patient can have: implausible magnitudes (refused) and values outside a column's domain (noted).

Both are found before training. A value like 1e300 among cholesterol levels is refused: min-max scaling would
squash every other value into one point (and float32 training cannot even hold it), so the generator would learn
nothing of the column. A negative age, or a few negatives in a column that is otherwise never negative, is
noted: it may be a typo the generator will faithfully reproduce, or it may be real, which only the user knows.
A range declared in the schema (`min`/`max`) says the values are real and silences both.
"""

from __future__ import annotations

import warnings

import numpy as np

from synthmed.data.schema import ColumnSchema
from synthmed.data.sensitive import name_tokens
from synthmed.errors import DataError, SynthmedWarning

# A value this many times the column's typical magnitude (the 90th percentile of its non-zero |values|, at
# least 1) is implausible: heavy-tailed clinical quantities (charges, viral loads, lengths of stay) reach ~100x.
MAGNITUDE_FACTOR = 1e4
# float32, in which every model trains, holds nothing larger.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# A column whose values are otherwise all >= 0 holds at most this share of negatives before they stop
# looking like typos (a base excess is negative often; an age never).
STRAY_NEGATIVE_SHARE = 0.01
MIN_ROWS_FOR_SIGN = 20
# Name tokens of quantities that are never negative, and the oldest age recorded in years.
NON_NEGATIVE_TOKENS = frozenset(
    {"age", "weight", "height", "bmi", "count", "los", "days", "duration", "length", "visits", "admissions", "dose"}
)
AGE_UNIT_TOKENS = frozenset({"days", "weeks", "months", "hours", "minutes", "day", "week", "month", "hour"})
MAX_AGE_YEARS = 125
SHOWN = 3


def _declared_range(column: ColumnSchema | None) -> bool:
    return column is not None and column.minimum is not None and column.maximum is not None


def check_magnitudes(name: str, numbers: np.ndarray, column: ColumnSchema | None = None) -> None:
    """Refuse values too large for float32 or implausibly far beyond the column's typical magnitude."""
    if _declared_range(column):
        return  # the declared range is checked against the data when the model is fitted
    magnitudes = np.abs(numbers[np.isfinite(numbers)])
    if magnitudes.size == 0 or magnitudes.max() <= MAGNITUDE_FACTOR:  # the typical magnitude is at least 1
        return
    nonzero = magnitudes[magnitudes > 0]
    typical = max(float(np.quantile(nonzero, 0.9)), 1.0) if nonzero.size else 1.0
    implausible = (magnitudes > MAGNITUDE_FACTOR * typical) | (magnitudes > FLOAT32_MAX)
    if implausible.any():
        values = numbers[np.isfinite(numbers)][implausible]
        raise DataError(
            f"{int(implausible.sum())} implausibly large values (more than {MAGNITUDE_FACTOR:,.0f} times the "
            f"column's typical magnitude, {typical:.4g}): scaled together with them, every other value would "
            "collapse into one point",
            column=name,
            values=values,
            remedy="fix or remove them, declare them missing with --na-values, or declare the column's real range "
            "in a schema (its `min` and `max`)",
        )


def note_out_of_domain(name: str, numbers: np.ndarray, column: ColumnSchema | None = None) -> None:
    """Note negative values where the name or the rest of the column says there are none, and ages over 125."""
    if _declared_range(column):
        return
    values = numbers[np.isfinite(numbers)]
    if values.size == 0:
        return
    tokens = name_tokens(name)
    negative = values[values < 0]
    by_name = bool(tokens & NON_NEGATIVE_TOKENS)
    stray = values.size >= MIN_ROWS_FOR_SIGN and 0 < negative.size <= STRAY_NEGATIVE_SHARE * values.size
    if negative.size and (by_name or stray):
        why = "its name says it is never negative" if by_name else "its other values are never negative"
        _note(name, negative, f"{negative.size} negative values, but {why}")
    if "age" in tokens and not tokens & AGE_UNIT_TOKENS and (values > MAX_AGE_YEARS).any():
        _note(name, values[values > MAX_AGE_YEARS], f"ages above {MAX_AGE_YEARS} years")


def _note(name: str, values: np.ndarray, problem: str) -> None:
    shown = ", ".join(f"{value:g}" for value in np.unique(values)[:SHOWN])
    warnings.warn(
        f"Column {name!r}: {problem} ({shown}). The generator will learn and reproduce them. If they are errors, "
        "fix them or declare them missing (--na-values); if they are real, declare the column's range in a schema "
        "(its `min` and `max`) to silence this note.",
        SynthmedWarning,
        stacklevel=4,
    )
