"""Columns whose values must never be learned: direct identifiers and free text.

A generator copies a categorical column's values into its file and its samples verbatim. For a category such
as "F" that is harmless; for a record number, a name, a free-text note or a rare label it publishes a real
patient's value. These columns are therefore recognised (by name, by how many distinct values they hold, by how
their values read) and left out of modelling, with a message that says why and what safe options exist. The
user can still model one by declaring its public categories, or by saying its values are public.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from synthmed.errors import SchemaError

# Above this many levels a column is free text or a key, not a category worth one-hot encoding.
MAX_CATEGORY_LEVELS = 1000
# Below this many rows "every value is unique" happens by chance and says nothing about identifiers.
MIN_ROWS_FOR_UNIQUENESS = 50
# Name tokens that mark direct identifiers (HIPAA-style: record numbers, names, contact details).
IDENTIFIER_TOKENS = frozenset(
    [
        "id",
        "ids",
        "mrn",
        "ssn",
        "name",
        "firstname",
        "lastname",
        "surname",
        "fullname",
        "email",
        "mail",
        "phone",
        "telephone",
        "mobile",
        "fax",
        "uuid",
        "guid",
        "nhs",
        "nin",
        "passport",
        "address",
    ]
)
# "admission_type_id", "discharge_disposition_id": keys into a lookup table of codes, not people.
LOOKUP_CODE_TOKENS = frozenset({"type", "source", "disposition", "class", "category", "group", "status", "kind"})
# Integer keys (patient numbers) repeat across a patient's rows, so they are not unique per row; what gives
# them away is many levels, most of them distinct. Counts and measurements rarely have both.
MIN_DISTINCT_SHARE_OF_INTEGER_KEYS = 0.5
_TOKEN_SPLIT = re.compile(r"[^0-9a-zA-Z]+|(?<=[a-z])(?=[A-Z])")
# A text column most of whose values are distinct (among at least this many) is free text or a key: as a
# category, each value would be one real record's.
MIN_ROWS_FOR_TEXT = 20
MAX_DISTINCT_SHARE = 0.5
# Values this long, or with this many words (median), read as prose, not as labels of a category...
MAX_LABEL_LENGTH = 200
PROSE_WORDS = 5
# ...once a column holds this many of them: a handful of long labels ("transfer from another health care
# facility") is a category.
MIN_PROSE_LEVELS = 20
_WHITESPACE = re.compile(r"\s")


def name_tokens(name: str) -> set[str]:
    """A column name's words, lower case: "patientId" and "patient_id" both give {"patient", "id"}."""
    return {token.lower() for token in _TOKEN_SPLIT.split(name) if token}


def _is_text(series: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(series)
        or pd.api.types.is_datetime64_any_dtype(series)
        or pd.api.types.is_bool_dtype(series)
    )


def identifier_reason(name: str, series: pd.Series) -> str | None:
    """Why a column looks like a direct identifier, or None.

    Unique floats with fractional parts are measurements, not keys, so only integer and one-word text columns
    can be identifiers by uniqueness (text with spaces is free text: `text_reason`). Datetimes are
    quasi-identifiers, judged by the privacy checks instead.
    """
    tokens = name_tokens(name)
    id_tokens = tokens & IDENTIFIER_TOKENS
    is_lookup_code = id_tokens <= {"id", "ids"} and bool(tokens & LOOKUP_CODE_TOKENS)
    if id_tokens and not is_lookup_code:
        return f"its name looks like an identifier ({name!r})"
    values = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_bool_dtype(series) or values.empty:
        return None
    is_integer = pd.api.types.is_integer_dtype(series) or (
        pd.api.types.is_float_dtype(series) and bool(np.all(np.mod(values.to_numpy(), 1) == 0))
    )
    n_unique = values.nunique()
    if not (is_integer or _is_text(series)) or n_unique < MIN_ROWS_FOR_UNIQUENESS:
        return None
    one_word = _is_text(series) and not values.drop_duplicates().astype(str).str.contains(_WHITESPACE).any()
    if (one_word or is_integer) and n_unique == len(values):
        return "every value is unique"
    if is_integer and n_unique > MAX_CATEGORY_LEVELS and n_unique >= MIN_DISTINCT_SHARE_OF_INTEGER_KEYS * len(values):
        return f"it has {n_unique} distinct values (more than {MAX_CATEGORY_LEVELS})"
    return None


def _median_words(texts: pd.Index, counts: np.ndarray) -> float:
    """The median number of words per row, from the distinct texts and how many rows hold each."""
    words = texts.str.count(r"\S+").to_numpy(dtype=float)
    order = np.argsort(words, kind="stable")
    cumulative = np.cumsum(counts[order])
    return float(words[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def text_reason(series: pd.Series) -> str | None:
    """Why a text column is free text (or a key) rather than a category, or None. Works on the distinct
    values and their counts, so a 100,000-row column with a few hundred levels takes milliseconds."""
    if not _is_text(series):
        return None
    counts = series.value_counts(dropna=True)
    if counts.empty:
        return None
    rows, distinct = int(counts.sum()), len(counts)
    if distinct > MAX_CATEGORY_LEVELS:
        return f"it has {distinct} distinct values (more than {MAX_CATEGORY_LEVELS})"
    if rows >= MIN_ROWS_FOR_TEXT and distinct > MAX_DISTINCT_SHARE * rows:
        return f"most of its values are distinct ({distinct} in {rows} rows)"
    texts = counts.index.astype(str)
    if int(texts.str.len().max()) > MAX_LABEL_LENGTH:
        return f"some values are longer than {MAX_LABEL_LENGTH} characters"
    words = _median_words(texts, counts.to_numpy())
    if words >= PROSE_WORDS and distinct >= MIN_PROSE_LEVELS:
        return f"its values read as prose ({words:.0f} words each, {distinct} different ones)"
    return None


def excluded_note(name: str, reason: str, kind: str) -> str:
    """The note that says why a column is left out, and what the user can do instead."""
    if kind == "identifier":
        what = f"Column {name!r} left out as an identifier: {reason}."
        alternatives = (
            f"If it is a measurement, declare `{name}: {{kind: continuous}}` in a schema; if its values are public "
            f"categories, list them: `{name}: {{kind: categorical, categories: [...]}}`."
        )
    else:
        what = f"Column {name!r} left out as free text: {reason}."
        alternatives = (
            f"To model it, list its public categories in a schema (`{name}: {{kind: categorical, categories: "
            "[...]}`), mark them public if they are (`public: true`, e.g. a national code list), or code the "
            "text into categorical columns first."
        )
    return (
        f"{what} Learned as categories, its values would be copied verbatim into the generator and its samples, "
        f"so none of them reaches either. {alternatives}"
    )


def refuse_learned_text(name: str, series: pd.Series) -> None:
    """Refuse a column declared categorical (or binary) without public categories whose values are free text
    or keys: its real values would become the generator's categories."""
    reason = identifier_reason("", series) or text_reason(series)
    if reason is None:
        return
    raise SchemaError(
        f"is declared categorical without categories, but {reason}: its real values would be learned and copied "
        "verbatim into the generator and its samples",
        column=name,
        remedy=f"list its public categories (`{name}: {{kind: categorical, categories: [...]}}`), add `public: "
        "true` if its values are public (a national code list), or declare `kind: text` to leave it out",
    )
