"""Rare values in histories: codes, categories and numbers held by fewer than k patients.

A code or category a history model learns ships in its file and can appear in its samples; held by one or two
patients, it points to them, and so does a number's extreme (the oldest patient's age, the longest stay). Histories
count patients, not visits: a code one patient got at ten visits is still one patient's. By default (`merge`) a
history model ships only what at least `min_patients` patients hold: rare codes become their column's "(other)" code,
rare text categories "(other)", rare categories of other types missing, and numbers are top- and bottom-coded to
values that many patients reach, the usual treatment of statistical disclosure control. `suppress` drops rare codes
and makes rare categories missing (numbers as with `merge`); `keep` declares every value public and ships them all,
with a note at fit, and `evaluate` fails on rare values that reach the synthetic histories.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.histories import Histories
from synthmed.data.rare import MERGED
from synthmed.data.schema import RARE_MIN_COUNT
from synthmed.errors import ConfigError

RarePolicy = Literal["merge", "suppress", "keep"]
RARE_POLICIES: tuple[str, ...] = get_args(RarePolicy)
DEFAULT_MIN_PATIENTS = RARE_MIN_COUNT


def check_rare_policy(policy: str, min_patients: int) -> None:
    """Refuse an unknown policy or a count below 1, before any data is read."""
    if policy not in RARE_POLICIES:
        raise ConfigError(
            "unknown treatment of rare values", values=[policy], remedy=f"choose one of {', '.join(RARE_POLICIES)}"
        )
    if not isinstance(min_patients, int) or isinstance(min_patients, bool) or min_patients < 1:
        raise ConfigError("min_patients must be a positive whole number", values=[min_patients], remedy="e.g. 5 or 11")


def patients_holding(values: np.ndarray, patients: np.ndarray, size: int) -> np.ndarray:
    """How many distinct patients hold each of the values 0..size-1 (`values[i]` is held by `patients[i]`)."""
    values, patients = np.asarray(values, dtype=np.int64), np.asarray(patients, dtype=np.int64)
    if not len(values):
        return np.zeros(size, dtype=np.int64)
    pairs = np.unique(values * (int(patients.max()) + 1) + patients)
    return np.bincount(pairs // (int(patients.max()) + 1), minlength=size)


def code_holders(histories: Histories) -> np.ndarray:
    """How many patients hold each code of the vocabulary (at any visit)."""
    coo = sparse.coo_array(histories.codes)
    return patients_holding(coo.col, histories.visit_patient[coo.row], len(histories.vocabulary))


def rare_codes(histories: Histories, min_patients: int) -> np.ndarray:
    """Which codes of the vocabulary fewer than `min_patients` patients hold ("(other)" names no one)."""
    merged = np.array([code == MERGED for _, code in histories.vocabulary], dtype=bool)
    return (code_holders(histories) < min_patients) & ~merged


def generalise_codes(histories: Histories, policy: str, min_patients: int) -> tuple[Histories, dict[str, int]]:
    """Histories whose rare codes are merged into their column's "(other)" code or dropped (a visit holds "(other)"
    once however many rare codes it had), and the number of rare codes per code column. `keep` changes nothing."""
    rare = rare_codes(histories, min_patients)
    counted = Counter(column for (column, _), is_rare in zip(histories.vocabulary, rare, strict=True) if is_rare)
    if policy == "keep" or not rare.any():
        return histories, dict(counted)
    vocabulary = [pair for pair, is_rare in zip(histories.vocabulary, rare, strict=True) if not is_rare]
    if policy == "merge":
        vocabulary += [(column, MERGED) for column in counted if (column, MERGED) not in vocabulary]
    columns = histories.roles.codes
    vocabulary.sort(key=lambda pair: (columns.index(pair[0]), pair[1]))
    index = {pair: i for i, pair in enumerate(vocabulary)}
    target = [
        index.get((column, MERGED) if is_rare else (column, code), -1)
        for (column, code), is_rare in zip(histories.vocabulary, rare, strict=True)
    ]
    coo = sparse.coo_array(histories.codes)
    new_column = np.asarray(target, dtype=np.int64)[coo.col]
    kept = new_column >= 0
    codes = sparse.csr_array(
        (np.ones(int(kept.sum()), np.int8), (coo.row[kept], new_column[kept])),
        shape=(histories.codes.shape[0], len(vocabulary)),
    )
    codes.sum_duplicates()
    codes.data[:] = 1
    return replace(histories, codes=codes, vocabulary=tuple(vocabulary)), dict(counted)


def top_code(numbers: np.ndarray, patients: np.ndarray, min_patients: int) -> float | None:
    """The highest value at or above which `min_patients` patients have a value; None when fewer have one."""
    highest = pd.Series(numbers).groupby(patients).max().dropna().to_numpy()
    return float(np.sort(highest)[-min_patients]) if len(highest) >= min_patients else None


def coding_bounds(numbers: np.ndarray, patients: np.ndarray, min_patients: int) -> tuple[float, float] | None:
    """The bottom and top codes of a number: the lowest value at or below which `min_patients` patients have a value,
    and the highest at or above which as many do; None when fewer patients have any value at all, or when the two
    cross (no value has `min_patients` patients at or below it and as many at or above it)."""
    high = top_code(numbers, patients, min_patients)
    if high is None:
        return None
    low = -top_code(-numbers, patients, min_patients)  # the bottom code is the top code of the negated values
    return (low, high) if low <= high else None


def rare_categories_of(series: pd.Series, holders: np.ndarray, min_patients: int) -> set[str]:
    """The values of a category column (as text) that fewer than `min_patients` patients hold (`holders[i]` is row
    i's patient); "(other)" and the values of a 0/1 or True/False column name no one (as for tables, data/rare.py)."""
    present = series.notna().to_numpy()
    values = series[present]
    if set(values.unique()) <= {0, 1}:
        return set()
    known, index = np.unique(values.astype(str).to_numpy(dtype=str), return_inverse=True)
    held = patients_holding(index, holders[present], len(known))
    return {text for text, count in zip(known, held, strict=True) if count < min_patients} - {MERGED}


def rare_values(histories: Histories, min_patients: int) -> dict[str, set[str]]:
    """Per code column and per text attribute, the values (as text) fewer than `min_patients` patients hold; columns
    without any are left out. What `evaluate` looks for in synthetic histories."""
    found: dict[str, set[str]] = {}
    for (column, code), is_rare in zip(histories.vocabulary, rare_codes(histories, min_patients), strict=True):
        if is_rare:
            found.setdefault(column, set()).add(code)
    for frame, holders in (
        (histories.static, np.arange(histories.n_patients)),
        (histories.visits, histories.visit_patient),
    ):
        for name in frame.columns:
            series = frame[name]
            if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
                continue
            if rare := rare_categories_of(series, holders, min_patients):
                found[name] = rare
    return found
