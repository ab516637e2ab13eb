"""Dates written as text: ISO 8601 and the usual national forms ("03/15/2020", "15.03.2020", "15-Mar-2020").

A date column left as text would be modelled as a category, and every sampled date would be a real patient's.
`parse_dates` reads a column's distinct texts in the one form they can all be in; when two forms read them
differently (day-first or month-first: "03/04/2020") or the year has two digits, it refuses and names the
schema's `format` key as the remedy, so no date is ever read in a guessed order.
"""

from __future__ import annotations

import re

import pandas as pd

from synthmed.errors import DataError

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
# A cheap look before trying formats: a day, month and year with separators, or a month's name.
_DATE_SHAPE = re.compile(
    r"^(\d{1,4}[/.\- ][0-9A-Za-z]{1,9}\.?[/.\- ]+\d{2,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4})([ T]\d{1,2}:\d{2}.*)?$"
)
_DAYS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%Y.%m.%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%y",
    "%d-%b-%y",
)
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "T%H:%M", "T%H:%M:%S")
FORMATS = tuple(day + time for day in _DAYS for time in _TIMES)
# Distinct values tried against every format before the survivors read the whole column.
_SAMPLE = 200
# A column at least this much of whose values look like dates in one form holds dates, and the rest are stray
# markers (its real dates must not become categories).
DATE_MAJORITY = 0.5
_FORMAT_REMEDY = 'declare the column\'s form in the schema, e.g. `{name}: {{kind: datetime, format: "%d/%m/%Y"}}`'


def _parse(texts: pd.Series, form: str) -> pd.Series:
    return pd.to_datetime(texts, format=form, errors="coerce")


def _declared(name: str, texts: pd.Series, form: str) -> pd.Series:
    parsed = _parse(texts, "ISO8601" if form == "ISO8601" else form)
    if parsed.isna().any():
        raise DataError(
            f"values that do not match the declared date format {form!r}",
            column=name,
            values=texts[parsed.isna()],
            remedy="fix the values, declare them missing with --na-values, or declare the format they are in",
        )
    return parsed


def parse_dates(name: str, texts: pd.Series, form: str | None = None) -> pd.Series | None:
    """The datetimes that `texts` (a column's distinct values, stripped) hold, None when they are not dates.

    With `form` (the schema's `format`: a strftime pattern or "ISO8601") every text must match it. Refuses,
    naming the values and the remedy, dates that two forms read differently, dates with two-digit years,
    and a date column holding a few values that are not dates.
    """
    if form is not None:
        return _declared(name, texts, form)
    if texts.empty:
        return None
    if texts.str.match(_ISO).all():
        return _parse(texts, "ISO8601")
    sample = texts.head(_SAMPLE)
    shaped = sample.str.match(_DATE_SHAPE)
    if shaped.mean() < DATE_MAJORITY:
        return None
    readings = {}
    best_share, best_form = 0.0, ""
    for candidate in FORMATS:
        share = _parse(sample, candidate).notna().mean()
        if share == 1.0:
            parsed = _parse(texts, candidate)
            if parsed.notna().all():
                readings[candidate] = parsed
        if share > best_share:
            best_share, best_form = share, candidate
    if not readings:
        if best_share >= DATE_MAJORITY:
            stray = texts[_parse(texts, best_form).isna()]
            raise DataError(
                f"a date column (written like {best_form!r}) holds values that are not dates",
                column=name,
                values=stray,
                remedy="declare them missing with " + " ".join(f'--na-values "{v}"' for v in stray.head(3)),
            )
        return None
    return _one_reading(name, texts, readings)


def _one_reading(name: str, texts: pd.Series, readings: dict[str, pd.Series]) -> pd.Series:
    forms = list(readings)
    first = readings[forms[0]]
    differ = [form for form in forms[1:] if not readings[form].equals(first)]
    if differ:
        other = readings[differ[0]]
        ambiguous = texts[(first != other).to_numpy()]
        raise DataError(
            f"dates that read differently as {forms[0]!r} and {differ[0]!r} (day first or month first)",
            column=name,
            values=ambiguous,
            remedy=_FORMAT_REMEDY.format(name=name),
        )
    if "%y" in forms[0]:
        raise DataError(
            "dates with two-digit years, which could be in either century",
            column=name,
            values=texts,
            remedy="export four-digit years, or " + _FORMAT_REMEDY.format(name=name).replace("%Y", "%y"),
        )
    return first
