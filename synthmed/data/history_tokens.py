"""Histories as token sequences: the padded rows the history model (models/visitgpt.py) is fitted on and returns,
taken apart into patients' attribute tokens, visits' field tokens and codes (`split`, `HistoryParts`) and put back
together (`join`).

A patient is one sequence: BOS, one token per static attribute, then for each visit VISIT, the gap since the previous
visit (when visits have times), one token per visit attribute and the visit's codes in vocabulary order; EOS ends it.
Every position has a *slot* that fixes which tokens may stand there, found from the tokens alone (`grammar`, the
definition of a well-formed row): a static or visit attribute's values, the gap's bins, or in a visit's code run the
codes after the previous one (codes are a set, so they come in increasing order; where the input had one row per
visit, at most one code per code column) and the VISIT or EOS that ends the run.

Attributes become tokens by kind: a category or a number with few distinct values one token per value; other
numbers one token per quantile bin, decoded uniformly within the bin at the data's precision; dates (and the time of
the first visit) as days from the visit's time (the first visit's for static dates), binned likewise. A missing value
is a token of its own. What ships in a saved generator: the categories, the numbers' distinct values or bin edges,
and the code vocabulary; by default only values that at least k patients hold (data/history_rare.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.histories import SECONDS_PER_DAY, Histories, HistoryRoles, concatenated_ranges
from synthmed.data.history_rare import (
    DEFAULT_MIN_PATIENTS,
    RarePolicy,
    coding_bounds,
    generalise_codes,
    patients_holding,
    rare_categories_of,
    top_code,
)
from synthmed.data.history_records import RecordLayout
from synthmed.data.inference import infer_schema
from synthmed.data.layout import ColumnLayout
from synthmed.data.rare import MERGED
from synthmed.data.schema import EXCLUDED_KINDS, ColumnKind, ColumnSchema, Schema
from synthmed.data.validate import validate_table
from synthmed.errors import DataError

PAD, BOS = 0, 1
# a number with at most this many distinct values keeps each value as a token; others are binned
EXACT_VALUES = 64
# quantile bins of a binned number (fewer when values repeat)
NUMBER_BINS = 48
# digits after the point kept when decoding a binned number: the data's own precision, at most this
MAX_DECIMALS = 6
TEXT_DTYPES = ("object", "str", "string")
# the pandas type that holds a category's values and a missing value, for types that cannot hold one
NULLABLE = {"int64": "Int64", "int32": "Int32", "int16": "Int16", "int8": "Int8", "bool": "boolean"}
GAP = "(gap)"
FIRST_TIME = "(first visit time)"
Coding = Literal["category", "number"]


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _decimals(values: np.ndarray) -> int:
    """The fewest digits after the point that write every value exactly (at most MAX_DECIMALS)."""
    for digits in range(MAX_DECIMALS + 1):
        scaled = values * 10**digits
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6):
            return digits
    return MAX_DECIMALS


@dataclass
class AttributeTokens:
    """The tokens of one attribute: `values` (category or number kept exactly) or `edges` (binned number), then
    one for a missing value when the data had one. Dates are coded as days from a reference time."""

    name: str
    coding: Coding
    values: list[Any] | None = None
    edges: list[float] | None = None
    decimals: int = 0
    missing: bool = False
    date: bool = False
    dtype: str = "object"
    rare_note: str = ""  # what the rare-value treatment found or changed, without any value

    @classmethod
    def learn(
        cls,
        name: str,
        series: pd.Series,
        kind: ColumnKind,
        reference: np.ndarray | None,
        holders: np.ndarray,
        rare: RarePolicy = "keep",
        min_patients: int = DEFAULT_MIN_PATIENTS,
    ) -> AttributeTokens:
        """The tokens of `series` (each row's patient in `holders`); unless `rare` is `keep`, only values that at least
        `min_patients` patients hold ship (data/history_rare.py), and `rare_note` says what changed."""
        date = kind is ColumnKind.DATETIME
        numbers = _days(series, reference) if date else None
        missing = bool(series.isna().any())
        dtype = "datetime" if date else str(series.dtype)
        if kind in (ColumnKind.CATEGORICAL, ColumnKind.BINARY) or (
            numbers is None and not pd.api.types.is_numeric_dtype(series)
        ):
            return cls._categories(name, series, holders, rare, min_patients, missing, dtype)
        numbers = numbers if numbers is not None else series.to_numpy(dtype=np.float64, na_value=np.nan)
        notes = []
        if rare != "keep":
            bounds = coding_bounds(numbers, holders, min_patients)
            if bounds is None:
                every = "" if np.isnan(numbers).all() else "no value is reached by enough patients: none kept"
                return cls(name, "number", values=[], missing=True, date=date, dtype=dtype, rare_note=every)
            clipped = np.clip(numbers, *bounds)
            if np.nanmin(numbers) < bounds[0] or np.nanmax(numbers) > bounds[1]:
                notes.append("top- and bottom-coded")
            numbers = clipped
        present = ~np.isnan(numbers)
        distinct, index = np.unique(numbers[present], return_inverse=True)
        if len(distinct) <= EXACT_VALUES:
            held = patients_holding(index, holders[present], len(distinct))
            if rare != "keep" and (held < min_patients).any():
                distinct = distinct[held >= min_patients]  # the coded extremes are held by enough patients
                notes.append("rare values coded as the nearest kept one")
            return cls(
                name,
                "number",
                values=distinct.tolist(),
                missing=missing,
                date=date,
                dtype=dtype,
                rare_note=", ".join(notes),
            )
        edges = np.unique(np.quantile(numbers[present], np.linspace(0, 1, NUMBER_BINS + 1)))
        return cls(
            name,
            "number",
            edges=edges.tolist(),
            decimals=_decimals(numbers[present]),
            missing=missing,
            date=date,
            dtype=dtype,
            rare_note=", ".join(notes),
        )

    @classmethod
    def _categories(
        cls,
        name: str,
        series: pd.Series,
        holders: np.ndarray,
        rare: RarePolicy,
        min_patients: int,
        missing: bool,
        dtype: str,
    ) -> AttributeTokens:
        """A category's tokens: rare values merged into "(other)" (text only) or made missing, unless kept."""
        few = rare_categories_of(series, holders, min_patients)
        values = {str(v): _python(v) for v in series.dropna().unique()}
        kept = [value for text, value in values.items() if rare == "keep" or text not in few]
        kept.sort(key=lambda v: (str(type(v)), v))
        if not few:
            return cls(name, "category", values=kept, missing=missing, dtype=dtype)
        if rare == "keep":
            found = f"{len(few)} rare categories"
            return cls(name, "category", values=kept, missing=missing, dtype=dtype, rare_note=found)
        if rare == "merge" and dtype in TEXT_DTYPES:
            if MERGED not in kept:
                kept.append(MERGED)
            how = f"merged into {MERGED}"
        else:  # a missing value keeps the column's type: integers become nullable ones
            missing, how = True, "made missing"
            dtype = NULLABLE.get(dtype, dtype)
        note = f"{len(few)} rare categories {how}"
        return cls(name, "category", values=kept, missing=missing, dtype=dtype, rare_note=note)

    @property
    def size(self) -> int:
        kept = len(self.values) if self.values is not None else len(self.edges or []) - 1
        return kept + int(self.missing)

    def encode(self, series: pd.Series, reference: np.ndarray | None) -> np.ndarray:
        """Each value's token (0-based within this attribute)."""
        missing_token = self.size - 1
        if self.coding == "category":
            index = pd.Index(self.values, dtype=object).get_indexer(series.to_numpy(dtype=object))
            other = self.values.index(MERGED) if MERGED in self.values else missing_token  # a value not kept
            return np.where(series.isna().to_numpy(), missing_token, np.where(index < 0, other, index))
        numbers = _days(series, reference) if self.date else series.to_numpy(dtype=np.float64, na_value=np.nan)
        if self.values is not None:  # the nearest kept value (the value itself unless it was rare)
            known = np.asarray(self.values, dtype=np.float64)
            index = np.searchsorted((known[1:] + known[:-1]) / 2, numbers) if len(known) else np.full(len(numbers), -1)
            numbers = numbers if len(known) else np.full(len(numbers), np.nan)
        else:
            index = np.searchsorted(np.asarray(self.edges)[1:-1], numbers, side="right")
        return np.where(np.isnan(numbers), missing_token, index)

    def decode(self, tokens: np.ndarray, rng: np.random.Generator, reference: np.ndarray | None) -> pd.Series:
        """Values for tokens; a binned number is drawn uniformly within its bin, at the data's precision."""
        missing = tokens == self.size - 1 if self.missing else np.zeros(len(tokens), bool)
        kept = np.where(missing, 0, tokens)
        if self.coding == "category":
            values = np.asarray([*self.values, None], dtype=object)[np.where(missing, len(self.values), kept)]
            series = pd.Series(values, dtype=object)
            return series.astype(self.dtype) if self.dtype not in TEXT_DTYPES else series
        if self.values is not None:
            known = np.asarray(self.values, dtype=np.float64)
            # no value at all: every patient's gap is missing when each has one visit
            numbers = known[kept] if len(known) else np.full(len(kept), np.nan)
        else:
            edges = np.asarray(self.edges)
            low, high = edges[kept], edges[kept + 1]
            numbers = np.round(low + rng.random(len(kept)) * (high - low), self.decimals)
        numbers[missing] = np.nan
        if self.date:
            return _dates(numbers, reference)
        if self.dtype.lower().startswith(("int", "uint")) and not missing.any():
            return pd.Series(numbers.astype(self.dtype))
        return pd.Series(numbers)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _days(series: pd.Series, reference: np.ndarray | None) -> np.ndarray:
    """Dates as days (from `reference`, each row's own, when given; from 1970 otherwise)."""
    parsed = pd.to_datetime(series)
    seconds = parsed.astype("datetime64[s]").astype("int64").to_numpy(dtype=np.float64)
    seconds[parsed.isna().to_numpy()] = np.nan
    days = seconds / SECONDS_PER_DAY
    return days - reference if reference is not None else days


def _dates(days: np.ndarray, reference: np.ndarray | None) -> pd.Series:
    absolute = days + reference if reference is not None else days
    return pd.Series(pd.to_datetime(np.round(absolute * SECONDS_PER_DAY), unit="s"))


def _modelled(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[ColumnSchema]]:
    """The attribute columns a model learns (validated; identifiers and free text left out, with a note)."""
    if frame.shape[1] == 0:
        return frame, []
    clean = validate_table(frame.reset_index(drop=True)) if len(frame) else frame
    schema = infer_schema(clean)
    kept = [c for c in schema.columns if c.kind not in EXCLUDED_KINDS]
    return clean[[c.name for c in kept]], kept


@dataclass
class HistoryParts:
    """Token rows taken apart: each patient's static tokens, each visit's field tokens (gap first) and its code
    tokens (`code_tokens[code_indptr[v]:code_indptr[v + 1]]`, increasing); patient i's visits are
    `visit_offsets[i]:visit_offsets[i + 1]`. All are token ids of the tokenizer's vocabulary."""

    statics: np.ndarray
    fields: np.ndarray
    code_indptr: np.ndarray
    code_tokens: np.ndarray
    visit_offsets: np.ndarray


@dataclass
class Slots:
    """Per position of padded token rows: the slot, and the allowed token range [low, high) for that position."""

    slot: np.ndarray
    low: np.ndarray
    high: np.ndarray


class HistoryTokenizer:
    """Learns the token vocabulary of histories (`fit`), turns them into padded token rows (`encode`) and back
    (`decode`), and says which tokens each position allows (`grammar`)."""

    def __init__(self) -> None:
        self.layout_ = ColumnLayout(())  # a history is no flat matrix; saved generators still list a layout
        self.records_: RecordLayout | None = None  # the table to write, for records read as one-visit histories

    # ---- learning ------------------------------------------------------------------------------------
    def fit(
        self, histories: Histories, rare: RarePolicy = "keep", min_patients: int = DEFAULT_MIN_PATIENTS
    ) -> tuple[HistoryTokenizer, Histories, pd.DataFrame, pd.DataFrame]:
        """Learn the vocabulary, shipping only values at least `min_patients` patients hold unless `rare` is `keep`
        (data/history_rare.py); returns itself, the histories with rare codes generalised, and the static and visit
        attributes it models (what `encode` takes)."""
        if rare != "keep" and histories.n_patients < min_patients:
            raise DataError(
                f"only {histories.n_patients} patients: no value could be shipped that {min_patients} patients hold",
                remedy="train on more patients, or declare the values public (rare_values='keep', --rare-values keep)",
            )
        h, rare_codes = generalise_codes(histories, rare, min_patients)
        self.roles_ = h.roles
        self.one_row_per_visit_ = h.one_row_per_visit
        self.time_unit_ = h.time_unit
        self.column_order_ = list(h.column_order)
        static, static_columns = _modelled(h.static)
        visits, visit_columns = _modelled(h.visits)
        first_times, visit_times = self._references(h)
        patients = np.arange(h.n_patients)

        def learn(
            name: str, series: pd.Series, kind: ColumnKind, reference: np.ndarray | None, holders: np.ndarray
        ) -> AttributeTokens:
            return AttributeTokens.learn(name, series, kind, reference, holders, rare, min_patients)

        self.static_ = [learn(c.name, static[c.name], c.kind, first_times, patients) for c in static_columns]
        self.visit_ = [learn(c.name, visits[c.name], c.kind, visit_times, h.visit_patient) for c in visit_columns]
        if h.times is not None:
            first = pd.Series(first_times)
            self.static_.append(learn(FIRST_TIME, first, ColumnKind.CONTINUOUS, None, patients))
            self.gap_ = learn(GAP, pd.Series(h.gaps()), ColumnKind.CONTINUOUS, None, h.visit_patient)
            self._check_gap(h, min_patients)
        else:
            self.gap_ = None
        self.vocabulary_ = list(h.vocabulary)
        self.schema_ = Schema(tuple(static_columns + visit_columns))
        self.rare_notes_ = {
            **{column: f"{count} rare codes" for column, count in rare_codes.items()},
            **{a.name: a.rare_note for a in [*self.static_, *self.visit_, self.gap_] if a and a.rare_note},
        }
        self.rare_ = {"policy": rare, "min_patients": min_patients}
        self._place()
        visit_counts = np.bincount(h.visit_patient, minlength=h.n_patients).astype(np.float64)
        code_counts = np.diff(sparse.csr_array(h.codes).indptr).astype(np.float64)
        self.max_visits_ = self._longest(visit_counts, patients, rare, min_patients)
        self.max_codes_ = self._longest(code_counts, h.visit_patient, rare, min_patients)
        return self, h, static, visits

    @staticmethod
    def _longest(counts: np.ndarray, holders: np.ndarray, rare: RarePolicy, min_patients: int) -> int:
        """The most visits (codes in a visit) generation allows: the training maximum, top-coded like a number
        unless rare values are kept (one patient's 40 visits would otherwise ship)."""
        if rare == "keep":
            return int(counts.max(initial=0))
        top = top_code(counts, holders, min_patients)
        return 0 if top is None else int(top)  # fit has refused too few patients before

    def _check_gap(self, h: Histories, min_patients: int) -> None:
        """Later visits need a gap; refuse when too few patients have one to ship any without naming them."""
        if self.gap_ is not None and self.gap_.values == [] and len(h.visits) > h.n_patients:
            raise DataError(
                f"fewer than {min_patients} patients have a second visit, so no time between visits can be learned "
                "without publishing single patients' gaps",
                column=h.roles.time,
                remedy="train on more patients, or declare the values public (rare='keep', --rare-values keep)",
            )

    def _references(self, h: Histories) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Each patient's first visit time and each visit's time (days), the references dates are coded from."""
        if h.times is None:
            return None, None
        return h.times[h.visit_offsets[:-1]], h.times

    def _place(self) -> None:
        """Token ranges: PAD, BOS, static attributes, gap, visit attributes, codes, VISIT, EOS."""
        sizes = [a.size for a in self.static_] + ([self.gap_.size] if self.gap_ else []) + [a.size for a in self.visit_]
        starts = 2 + np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.attribute_starts_ = starts[:-1].tolist()
        self.code_start_ = int(starts[-1])
        self.visit_token_ = self.code_start_ + len(self.vocabulary_)
        self.eos_ = self.visit_token_ + 1
        self.size_ = self.eos_ + 1
        # slots: 0..S-1 static, S the forced first VISIT, then one per visit attribute (gap first), then codes
        self.statics_ = len(self.static_)
        self.visit_fields_ = len(sizes) - self.statics_
        self.code_slot_ = self.statics_ + 1 + self.visit_fields_
        columns = [c for c, _ in self.vocabulary_]
        boundaries = np.flatnonzero(np.r_[True, np.array(columns[1:]) != np.array(columns[:-1])]) if columns else []
        ends = np.r_[np.asarray(boundaries)[1:], len(columns)] if columns else np.zeros(0, np.int64)
        self.code_end_ = np.repeat(ends, np.diff(np.r_[boundaries, len(columns)])).astype(np.int64) + self.code_start_

    @property
    def columns(self) -> list[str]:
        """The columns of the table samples are written in: a records layout's (an array's x0, x1, ...), none for
        histories, whose layout is the events'."""
        return [] if self.records_ is None else list(self.records_.columns)

    @property
    def slots(self) -> int:
        return self.code_slot_ + 1

    def slot_ranges(self) -> np.ndarray:
        """(slots x 2): each slot's token range; the code slot's range holds the codes, VISIT and EOS."""
        sizes = [a.size for a in self.static_] + ([self.gap_.size] if self.gap_ else []) + [a.size for a in self.visit_]
        starts = self.attribute_starts_
        static = [(starts[i], starts[i] + sizes[i]) for i in range(self.statics_)]
        fields = [(starts[i], starts[i] + sizes[i]) for i in range(self.statics_, len(sizes))]
        return np.array([*static, (self.visit_token_, self.visit_token_ + 1), *fields, (self.code_start_, self.size_)])

    def field_ranges(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Token ranges of the static attributes and of a visit's fields (gap first, then visit attributes)."""
        ranges = [tuple(int(v) for v in pair) for pair in self.slot_ranges()]
        return ranges[: self.statics_], ranges[self.statics_ + 1 : self.code_slot_]

    def split(self, rows: np.ndarray) -> HistoryParts:
        """Padded token rows -> `HistoryParts`, without a loop over patients."""
        visit_mark = rows == self.visit_token_
        patient_of, position_of = np.nonzero(visit_mark)
        offsets = np.concatenate([[0], np.cumsum(visit_mark.sum(1))]).astype(np.int64)
        fields = rows[patient_of[:, None], position_of[:, None] + 1 + np.arange(self.visit_fields_)]
        is_code = (rows >= self.code_start_) & (rows < self.visit_token_)  # code tokens stand nowhere else
        visit_index = np.cumsum(visit_mark.ravel()).reshape(rows.shape) - 1
        code_patient, code_position = np.nonzero(is_code)
        per_visit = np.bincount(visit_index[code_patient, code_position], minlength=len(patient_of))
        return HistoryParts(
            statics=rows[:, 1 : 1 + self.statics_].astype(np.int64),
            fields=fields.astype(np.int64),
            code_indptr=np.concatenate([[0], np.cumsum(per_visit)]).astype(np.int64),
            code_tokens=rows[code_patient, code_position].astype(np.int64),
            visit_offsets=offsets,
        )

    def join(self, parts: HistoryParts) -> np.ndarray:
        """`HistoryParts` -> padded token rows (the inverse of `split`)."""
        head = np.concatenate([np.full((len(parts.statics), 1), BOS), parts.statics], 1)
        fields = np.concatenate([np.full((len(parts.fields), 1), self.visit_token_), parts.fields], 1)
        return self._assemble(head, fields, parts.code_indptr, parts.code_tokens, parts.visit_offsets)

    # ---- tokens ------------------------------------------------------------------------------------------
    def encode(self, histories: Histories, static: pd.DataFrame, visits: pd.DataFrame) -> np.ndarray:
        """Padded token rows (patients x longest history), PAD after EOS."""
        h = histories
        first_times, visit_times = self._references(h)
        head = [np.full(h.n_patients, BOS)]
        head += [
            a.encode(static[a.name] if a.name != FIRST_TIME else pd.Series(first_times), first_times) + s
            for a, s in zip(self.static_, self.attribute_starts_, strict=False)
        ]
        fields = [np.full(len(h.visits), self.visit_token_)]
        field_starts = self.attribute_starts_[self.statics_ :]
        attributes = ([self.gap_] if self.gap_ else []) + self.visit_
        for a, start in zip(attributes, field_starts, strict=True):
            series = pd.Series(h.gaps()) if a is self.gap_ else visits[a.name]
            fields.append(a.encode(series, None if a is self.gap_ else visit_times) + start)
        codes = sparse.csr_array(h.codes)
        codes.sort_indices()
        return self._assemble(
            np.stack(head, 1), np.stack(fields, 1), codes.indptr, codes.indices + self.code_start_, h.visit_offsets
        )

    def _assemble(
        self, head: np.ndarray, fields: np.ndarray, indptr: np.ndarray, code_tokens: np.ndarray, offsets: np.ndarray
    ) -> np.ndarray:
        """Lay out each patient's head, visits (fields then codes) and EOS in one padded row, without a loop."""
        n, visits = len(head), len(fields)
        per_visit = fields.shape[1] + np.diff(indptr)
        visit_patient = np.repeat(np.arange(n), np.diff(offsets))
        lengths = head.shape[1] + np.bincount(visit_patient, per_visit, minlength=n).astype(np.int64) + 1
        rows = np.full((n, int(lengths.max())), PAD, dtype=np.int32)
        rows[:, : head.shape[1]] = head
        before = np.cumsum(per_visit) - per_visit  # visits' starts in one long run of all visits
        start = head.shape[1] + before - before[offsets[:-1]][visit_patient] if visits else before
        width = fields.shape[1]
        rows[visit_patient[:, None], start[:, None] + np.arange(width)] = fields
        code_visit = np.repeat(np.arange(visits), np.diff(indptr))
        rank = concatenated_ranges(np.zeros(visits), np.diff(indptr))
        rows[visit_patient[code_visit], start[code_visit] + width + rank] = code_tokens
        rows[np.arange(n), lengths - 1] = self.eos_
        return rows

    def grammar(self, rows: np.ndarray) -> Slots:
        """The slot of every position of padded token rows, and the tokens it allows (PAD positions: PAD only; the
        opening BOS, slot -1 like PAD: BOS only)."""
        n, length = rows.shape
        positions = np.broadcast_to(np.arange(length), rows.shape)
        marks = np.where(rows == self.visit_token_, positions, -1)
        # the last VISIT strictly before each position: a VISIT itself ends the previous visit's code run
        last_visit = np.maximum.accumulate(np.concatenate([np.full((n, 1), -1), marks[:, :-1]], 1), axis=1)
        into_visit = positions - last_visit  # 1.. at a visit's fields, then its codes
        slot = np.where(
            last_visit < 0,
            positions - 1,  # BOS -1, static attribute j slot j, the first VISIT (forced) slot S
            np.where(into_visit <= self.visit_fields_, self.statics_ + into_visit, self.code_slot_),
        )
        ranges = self.slot_ranges()
        safe = np.clip(slot, 0, None)
        low, high = ranges[safe, 0].copy(), ranges[safe, 1].copy()
        in_codes = slot == self.code_slot_
        previous = np.concatenate([np.full((n, 1), PAD), rows[:, :-1]], 1)
        after_code = in_codes & (previous >= self.code_start_) & (previous < self.visit_token_)
        following = previous + 1 if not self.one_row_per_visit_ else self._column_end(previous)
        low = np.where(after_code, following, low)
        padding = (rows == PAD) | (slot < 0)
        low[padding], high[padding] = PAD, PAD + 1
        slot[padding] = -1
        opening = rows == BOS  # position 0 (slot -1: never predicted) allows BOS alone
        low[opening], high[opening] = BOS, BOS + 1
        return Slots(slot, low, high)

    def _column_end(self, tokens: np.ndarray) -> np.ndarray:
        """The first token after a code's column (codes of one column run together in the vocabulary)."""
        index = np.clip(tokens - self.code_start_, 0, max(len(self.code_end_) - 1, 0))
        return self.code_end_[index] if len(self.code_end_) else tokens + 1

    def decode(self, rows: np.ndarray, rng: np.random.Generator) -> Histories:
        """Padded token rows (each a well-formed history, as generated) -> `Histories`."""
        parts = self.split(rows)
        n, visits = len(rows), len(parts.fields)
        counts = np.diff(parts.visit_offsets)
        local = parts.fields - np.asarray(self.attribute_starts_[self.statics_ :], dtype=np.int64)
        statics = {a.name: parts.statics[:, j] - self.attribute_starts_[j] for j, a in enumerate(self.static_)}
        times = first_times = None
        if self.gap_ is not None:
            first_times = self.static_[-1].decode(statics[FIRST_TIME], rng, None).to_numpy(dtype=np.float64)
            gaps = np.array(self.gap_.decode(local[:, 0], rng, None), np.float64)
            gaps[parts.visit_offsets[:-1][counts > 0]] = 0.0
            cumulative = np.cumsum(np.nan_to_num(gaps))
            starts = np.repeat(first_times, counts)
            times = starts + cumulative - np.repeat(cumulative[parts.visit_offsets[:-1]] if visits else [], counts)
        static = pd.DataFrame(
            {a.name: a.decode(statics[a.name], rng, first_times) for a in self.static_ if a.name != FIRST_TIME}
        )
        shift = 1 if self.gap_ is not None else 0
        visit_frame = pd.DataFrame(
            {a.name: a.decode(local[:, shift + k], rng, times) for k, a in enumerate(self.visit_)}
        )
        codes = sparse.csr_array(
            (np.ones(len(parts.code_tokens), np.int8), parts.code_tokens - self.code_start_, parts.code_indptr),
            shape=(visits, len(self.vocabulary_)),
        )
        return Histories(
            roles=self.roles_,
            static=static if len(static.columns) else pd.DataFrame(index=range(n)),
            visits=visit_frame if len(visit_frame.columns) else pd.DataFrame(index=range(visits)),
            visit_patient=np.repeat(np.arange(n), counts),
            codes=codes,
            vocabulary=tuple(tuple(v) for v in self.vocabulary_),
            times=times,
            time_unit=self.time_unit_,
            one_row_per_visit=self.one_row_per_visit_,
            column_order=tuple(self.column_order_),
        )

    # ---- saving ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        records = {} if self.records_ is None else {"records": self.records_.to_dict()}
        return records | {
            "roles": {**self.roles_.__dict__, "codes": list(self.roles_.codes), "exclude": list(self.roles_.exclude)},
            "one_row_per_visit": self.one_row_per_visit_,
            "time_unit": self.time_unit_,
            "column_order": self.column_order_,
            "static": [a.to_dict() for a in self.static_],
            "visit": [a.to_dict() for a in self.visit_],
            "gap": self.gap_.to_dict() if self.gap_ else None,
            "vocabulary": [list(v) for v in self.vocabulary_],
            "max_visits": self.max_visits_,
            "max_codes": self.max_codes_,
            "rare": self.rare_,
            "rare_notes": self.rare_notes_,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], schema: Schema) -> HistoryTokenizer:
        tokenizer = cls()
        roles = state["roles"]
        tokenizer.roles_ = HistoryRoles(**{**roles, "codes": tuple(roles["codes"]), "exclude": tuple(roles["exclude"])})
        tokenizer.one_row_per_visit_ = bool(state["one_row_per_visit"])
        tokenizer.time_unit_ = state["time_unit"]
        tokenizer.column_order_ = list(state["column_order"])
        tokenizer.static_ = [AttributeTokens(**a) for a in state["static"]]
        tokenizer.visit_ = [AttributeTokens(**a) for a in state["visit"]]
        tokenizer.gap_ = AttributeTokens(**state["gap"]) if state["gap"] else None
        tokenizer.vocabulary_ = [tuple(v) for v in state["vocabulary"]]
        tokenizer.schema_ = schema
        tokenizer.max_visits_ = int(state["max_visits"])
        tokenizer.max_codes_ = int(state["max_codes"])
        tokenizer.rare_ = dict(state["rare"])
        tokenizer.rare_notes_ = dict(state["rare_notes"])
        tokenizer.records_ = RecordLayout.from_dict(state["records"]) if "records" in state else None
        tokenizer._place()
        return tokenizer
