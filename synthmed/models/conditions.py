"""Conditional sampling and rebalancing: rows with chosen categories, or a column in chosen proportions.

`sample(n, conditions={"sex": "F"})` returns only rows whose decoded values match; `sample(n, proportions=
{"sex": {"F": 0.5, "M": 0.5}})` splits n into per-value quotas (largest remainder) and fills each by
conditioned sampling. Rows must also obey the schema's rules (data/rules.py). Any model gets this by
rejection: rows are generated in growing batches and those that match are kept, within a bounded number of
draws. A model with a conditional generator overrides `Synthesizer._generate_given` to condition exactly; rows
are still checked, so a condition always holds.

Only binary and categorical columns can be conditioned (and a categorical's missing value, which is one of
its categories). Everything is checked before any row is generated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.encoders import CategoricalEncoder, ColumnEncoder, holding
from synthmed.data.rules import obeying_rows
from synthmed.data.schema import ColumnKind
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError, format_values

# Rejection sampling gives up after drawing this many rows per requested row (at least MIN_DRAWS rows).
DRAWS_PER_ROW = 100
MIN_DRAWS = 10_000
# Rows generated at once, so a rare condition never holds a huge matrix in memory.
MAX_BATCH = 50_000
PROPORTION_TOLERANCE = 1e-6
# Valid values are listed in error messages when there are at most this many.
MAX_LISTED = 12

Given = dict[str, int]  # column -> index in its encoder's categories_ (a categorical's missing slot: len)
DrawTable = Callable[[int, Given], pd.DataFrame]  # (rows, given) -> decoded generated rows


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    """A value read as a number ("1", 1, 1.0 -> 1.0), or None for text that is not one."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same_number(category: Any, value: Any) -> bool:
    number = _number(category)
    return number is not None and number == _number(value)


def _same(category: Any, value: Any) -> bool:
    try:
        return bool(category == value)
    except (TypeError, ValueError):
        return False


def _listing(values: list[Any]) -> str:
    """The first MAX_LISTED values, and how many more there are (all of them are in the model's schema)."""
    shown = format_values(values, limit=MAX_LISTED)
    more = len(values) - min(len(values), MAX_LISTED)
    return f"{shown} and {more} more (see the model's schema)" if more else shown


class ConditionResolver:
    """Maps user-given column values to category indices, with errors that name the column and value."""

    def __init__(self, transformer: Any) -> None:
        if not isinstance(transformer, TableTransformer):
            raise ConfigError("conditions and proportions need a model of a flat table")
        self.transformer = transformer
        self.encoders: dict[str, ColumnEncoder] = {encoder.name: encoder for encoder in transformer.encoders_}

    def encoder(self, column: Any) -> CategoricalEncoder:
        encoder = self.encoders.get(column)
        if encoder is None:
            raise ConfigError(
                "is not a column the model generates",
                column=str(column),
                remedy=f"condition on one of: {_listing(list(self.encoders))}",
            )
        if not isinstance(encoder, CategoricalEncoder):
            discrete = [name for name, e in self.encoders.items() if isinstance(e, CategoricalEncoder)]
            raise ConfigError(
                f"only binary and categorical columns can be conditioned on, and this one is {encoder.column.kind}",
                column=str(column),
                remedy=f"condition on one of: {_listing(discrete)}" if discrete else "the model has no such column",
            )
        return encoder

    def index(self, column: Any, value: Any) -> int:
        """The category index of `value`; text matches a category's string form ("1" matches 1), then its
        number (a column stored as floats: "1" matches 1.0)."""
        encoder = self.encoder(column)
        categories = self.categories(column)
        can_be_missing = encoder.has_missing_ and encoder.column.kind is ColumnKind.CATEGORICAL
        if _is_missing(value) and can_be_missing:
            return len(categories)
        if not _is_missing(value):
            for matches in (_same, lambda category, text: str(category) == str(text), _same_number):
                found = [i for i, category in enumerate(categories) if matches(category, value)]
                if found:
                    return found[0]
        valid = [*categories, *([None] if can_be_missing else [])]
        raise ConfigError(
            "the value is not one of the column's categories",
            column=str(column),
            values=[value],
            remedy=f"use one of: {_listing(valid)}" + (" (None = missing)" if can_be_missing else ""),
        )

    def categories(self, column: Any) -> list[Any]:
        """The categories as decoded rows show them (a True/False column's are stored as 0 and 1)."""
        encoder = self.encoder(column)
        if encoder.dtype_ == "bool":
            return [bool(category) for category in encoder.categories_]
        return list(encoder.categories_)

    def category(self, column: str, index: int) -> Any:
        categories = self.categories(column)
        return categories[index] if index < len(categories) else None

    def matching(self, table: pd.DataFrame, given: Given) -> np.ndarray:
        """Which decoded rows hold every given category (vectorised per column)."""
        keep = np.ones(len(table), dtype=bool)
        for column, index in given.items():
            values = table[column]
            if index == len(self.encoder(column).categories_):
                keep &= values.isna().to_numpy()
            else:
                keep &= holding(values, self.category(column, index))
        return keep


@dataclass(frozen=True)
class SamplingPlan:
    """Resolved conditions and proportions, ready to fill; built (and checked) before any generation."""

    resolver: ConditionResolver
    given: Given
    proportion_column: str | None
    shares: tuple[tuple[int, float], ...]

    @classmethod
    def resolve(
        cls,
        transformer: Any,
        conditions: Mapping[str, Any] | None,
        proportions: Mapping[str, Mapping[Any, float]] | None,
    ) -> SamplingPlan | None:
        """None when there is nothing to condition on and no rule to obey (plain sampling)."""
        ruled = isinstance(transformer, TableTransformer) and bool(transformer.schema.exclusive)
        if not conditions and not proportions and not ruled:
            return None
        resolver = ConditionResolver(transformer)
        if conditions is not None and not isinstance(conditions, Mapping):
            raise ConfigError("conditions must map column names to values", remedy='e.g. conditions={"sex": "F"}')
        given = {str(column): resolver.index(column, value) for column, value in (conditions or {}).items()}
        column, shares = None, ()
        if proportions:
            column, shares = cls._shares(resolver, proportions, given)
        return cls(resolver, given, column, shares)

    @staticmethod
    def _shares(
        resolver: ConditionResolver, proportions: Mapping[str, Mapping[Any, float]], given: Given
    ) -> tuple[str, tuple[tuple[int, float], ...]]:
        example = 'e.g. proportions={"sex": {"F": 0.5, "M": 0.5}}'
        if not isinstance(proportions, Mapping) or len(proportions) != 1:
            raise ConfigError("proportions must name exactly one column", values=list(proportions), remedy=example)
        ((column, wanted),) = proportions.items()
        if not isinstance(wanted, Mapping) or not wanted:
            raise ConfigError("proportions must map values to shares", column=str(column), remedy=example)
        if str(column) in given:
            raise ConfigError(
                "is given both a condition and proportions", column=str(column), remedy="give it only one of them"
            )
        shares: dict[int, float] = {}
        for value, share in wanted.items():
            index = resolver.index(column, value)
            number = share if isinstance(share, int | float) and not isinstance(share, bool) else math.nan
            if not 0 <= number <= 1:
                raise ConfigError("a proportion must be a number from 0 to 1", column=str(column), values=[share])
            if index in shares:
                raise ConfigError("the same value is given twice in proportions", column=str(column), values=[value])
            shares[index] = float(number)
        total = sum(shares.values())
        if abs(total - 1.0) > PROPORTION_TOLERANCE:
            raise ConfigError(
                f"proportions sum to {total:.6g}, not 1",
                column=str(column),
                remedy="give shares that add up to 1 (within 1e-6), e.g. 0.5 and 0.5",
            )
        return str(column), tuple(shares.items())

    def describe(self, given: Given) -> str:
        parts = [f"{column} = {self.resolver.category(column, i)!r}" for column, i in given.items()]
        groups = self.resolver.transformer.schema.exclusive
        parts += [f"at most one of {list(group)} positive" for group in groups]
        return ", ".join(parts)

    def sample(self, n: int, draw: DrawTable, rng: np.random.Generator) -> pd.DataFrame:
        """`n` rows meeting the conditions (and proportions, shuffled with `rng`)."""
        if self.proportion_column is None:
            return self._fill(n, self.given, draw)
        quotas = largest_remainder(n, [share for _, share in self.shares])
        parts = [
            self._fill(quota, {**self.given, self.proportion_column: index}, draw)
            for (index, _), quota in zip(self.shares, quotas, strict=True)
            if quota
        ]
        table = pd.concat(parts, ignore_index=True)
        return table.iloc[rng.permutation(len(table))].reset_index(drop=True)

    def _fill(self, n: int, given: Given, draw: DrawTable) -> pd.DataFrame:
        """Generate in growing batches, keep matching rows, stop at n; give up after a bounded number of draws."""
        limit = max(MIN_DRAWS, DRAWS_PER_ROW * n)
        kept: list[pd.DataFrame] = []
        drawn = accepted = 0
        while accepted < n and drawn < limit:
            rate = accepted / drawn if drawn else 1.0
            wanted = math.ceil(1.2 * (n - accepted) / rate) if rate > 0 else 2 * drawn
            batch = min(MAX_BATCH, limit - drawn, max(wanted, 64))
            table = draw(batch, given)
            matches = self.resolver.matching(table, given) & obeying_rows(table, self.resolver.transformer)
            kept.append(table[matches])
            drawn += batch
            accepted += int(matches.sum())
        if accepted < n:
            raise ConfigError(
                f"the model generated rows with {self.describe(given)} in only {accepted / drawn:.3%} of "
                f"{drawn:,} draws ({accepted:,} of the {n:,} rows asked for)",
                remedy="ask for fewer rows, a more common value, or use a model that generates conditionally",
            )
        return pd.concat(kept, ignore_index=True).iloc[:n]


def largest_remainder(n: int, shares: list[float]) -> list[int]:
    """Split n into integer quotas proportional to `shares` (which sum to 1); remainders go to the largest
    fractional parts, ties to the earlier share.

    >>> largest_remainder(10, [0.55, 0.45])
    [6, 4]
    >>> largest_remainder(7, [1 / 3, 1 / 3, 1 / 3])
    [3, 2, 2]
    """
    weights = np.asarray(shares, dtype=float)
    exact = weights / weights.sum() * n  # shares may miss 1 by rounding: quotas must still add up to n
    quotas = np.floor(exact).astype(int)
    left = n - int(quotas.sum())
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:left]] += 1
    return quotas.tolist()
