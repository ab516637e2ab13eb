"""Numbers written as text in a locale's convention: "1,5" and "1.234,5" (decimal comma), "1,234.5" (thousands).

A semicolon-separated export from a European hospital system writes decimal commas; read naively, every number
becomes a category and the column silently changes meaning. `locale_numbers` reads a column's distinct texts
under the one convention they can be in, or refuses when they could be read either way ("1,234").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from synthmed.errors import DataError

_SIGN = r"[+-]?"
# Only a decimal comma writes these: one or two (or four and more) digits after the comma, four or more before
# it, or dots grouping thousands before a comma.
_DECIMAL_COMMA = re.compile(
    rf"^{_SIGN}(\d+,\d{{1,2}}|\d+,\d{{4,}}|\d{{4,}},\d+|\d{{1,3}}(\.\d{{3}})+,\d+|\d{{1,3}}(\.\d{{3}}){{2,}})$"
)
# Only comma-grouped thousands write these: several groups, or a group then a decimal point.
_THOUSANDS_COMMA = re.compile(rf"^{_SIGN}(\d{{1,3}}(,\d{{3}}){{2,}}(\.\d+)?|\d{{1,3}}(,\d{{3}})+\.\d+)$")
# Either: "1,234" is 1.234 with a decimal comma and 1234 with a thousands comma.
_EITHER = re.compile(rf"^{_SIGN}\d{{1,3}},\d{{3}}$")
_PLAIN_DECIMAL = re.compile(rf"^{_SIGN}\d*\.\d+$")
_PLAIN = re.compile(rf"^{_SIGN}\d+$")


def _as_decimal_comma(texts: pd.Series) -> pd.Series:
    return texts.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)


def _comma_forms(texts: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Which texts only a decimal comma writes, which only thousands commas write, and which either could; the
    patterns run on the texts holding a comma only (a notes column has hundreds of thousands without one)."""
    forms = [pd.Series(False, index=texts.index) for _ in range(3)]
    with_comma = texts[texts.str.contains(",", regex=False)]
    for form, pattern in zip(forms, (_DECIMAL_COMMA, _THOUSANDS_COMMA, _EITHER), strict=True):
        form[with_comma.index] = with_comma.str.match(pattern)
    return forms[0], forms[1], forms[2]


def looks_numeric(texts: pd.Series) -> np.ndarray:
    """Which texts are numbers in some convention (plain, or with commas), before deciding which."""
    plain = pd.to_numeric(texts, errors="coerce").notna().to_numpy()
    decimal, thousands, either = _comma_forms(texts)
    return plain | (decimal | thousands | either).to_numpy(dtype=bool)


def locale_numbers(name: str, texts: pd.Series, mark: str | None = None) -> tuple[pd.Series, str] | None:
    """The numbers `texts` (a column's distinct values, stripped) hold when some use a comma, with the
    convention's name; NaN where a text is not a number. None when no value is a comma-written number.

    `mark` is the decimal mark the user declared ("," or "."), which settles values such as "1,234"."""
    decimal, thousands, either = _comma_forms(texts)
    if mark == ",":
        decimal = decimal | either
    elif mark == ".":
        thousands = thousands | either
    if not (decimal | thousands | either).any():
        return None
    plain_decimal = texts.str.match(_PLAIN_DECIMAL)
    if decimal.any() and (thousands.any() or plain_decimal.any()):
        mixed = pd.concat([texts[decimal].head(2), texts[thousands | plain_decimal].head(2)])
        raise DataError(
            "numbers are written in two conventions (a decimal comma in some values, a decimal point or "
            "thousands commas in others)",
            column=name,
            values=mixed,
            remedy="export the column in one convention, e.g. with '.' as the decimal mark and no thousands separator",
        )
    if decimal.any():
        readable = decimal | either | texts.str.match(_PLAIN)
        numbers = pd.to_numeric(_as_decimal_comma(texts.where(readable)), errors="coerce")
        return numbers, "decimal commas"
    if thousands.any():
        readable = thousands | either | texts.str.match(_PLAIN) | plain_decimal
        numbers = pd.to_numeric(texts.where(readable).str.replace(",", "", regex=False), errors="coerce")
        return numbers, "thousands separated by commas"
    raise DataError(
        "numbers such as these may have a decimal comma (1,234 = 1.234) or a thousands comma (1,234 = 1234)",
        column=name,
        values=texts[either],
        remedy='say which with --decimal "," or --decimal "." (Python: decimal=","), or export the column with '
        "'.' as the decimal mark and no thousands separator",
    )


def numeric_share(counts: np.ndarray, numeric: np.ndarray) -> float:
    """The share of rows (`counts`: each distinct value's frequency) whose value is `numeric` (booleans)."""
    total = counts.sum()
    return float(counts[numeric].sum() / total) if total else 0.0
