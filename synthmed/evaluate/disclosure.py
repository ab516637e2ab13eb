"""Singling out, linkability and attribute inference: the three risks of anonymisation the EU's Article 29 Working
Party names, measured as Giomi et al. 2023 define them ("A unified framework for quantifying privacy risk in
synthetic data", PoPETs; the method of the `anonymeter` package, reviewed by France's CNIL).

Each attack uses the synthetic data alone to guess something about real records; it is run on TRAIN records
(what the release could leak) and, identically, on HOLDOUT records (what anyone learns about the population from
any good synthetic data). A naive baseline attacker guesses at random. The risk is the attack's success beyond
the control's, as a share of what the control left to gain: (attack - control) / (1 - control), 0 = none.
TRAIN and HOLDOUT are the same size (evaluate/encoding.py), so their success rates compare directly.

- singling out: predicates read off the synthetic data that match exactly one synthetic row ("age >= 88 and
  sex = F and smoker = 1") are tried on the real data: a success matches exactly one real record. Univariate
  predicates use one rare value or extreme; multivariate ones three columns of one synthetic row (an extreme
  side for numbers). The baseline draws values and sides at random.
- linkability: the columns are split in two halves, as if held by two parties; a record is linked when its
  closest synthetic row on the first half is also its closest on the second. Baseline: two random rows.
- attribute inference: knowing every other column of a record, guess one column's value from the closest
  synthetic row; a number counts as guessed within 5% of the truth. Baseline: a random synthetic value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from synthmed.data.schema import ColumnKind
from synthmed.evaluate.attacks import column_dimensions
from synthmed.evaluate.encoding import EvaluationTables
from synthmed.evaluate.intervals import Estimate, wilson_interval

ATTACKS = 500
PREDICATE_COLUMNS = 3  # Giomi et al.'s multivariate default
RELATIVE_TOLERANCE = 0.05
MAX_INFERRED_COLUMNS = 30
# caps the (predicates x rows) block of booleans held at once
MAX_BLOCK_ELEMENTS = 20_000_000
ORDERED_KINDS = (ColumnKind.CONTINUOUS, ColumnKind.COUNT, ColumnKind.DATETIME)
EQUAL, AT_MOST, AT_LEAST, MISSING = 0, 1, 2, 3


@dataclass(frozen=True)
class DisclosureRisk:
    """One attack's success on TRAIN records, on HOLDOUT records (control) and by chance (baseline), and the
    risk it shows (0 = none, 1 = every record disclosed)."""

    name: str
    attacks: int
    attack_rate: Estimate
    control_rate: Estimate
    baseline_rate: Estimate
    risk: Estimate

    @property
    def beats_baseline(self) -> bool:
        """Whether the attack did better than chance: otherwise its risk says nothing about the data."""
        return self.attack_rate.value > self.baseline_rate.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attacks": self.attacks,
            "attack_rate": self.attack_rate.to_dict(),
            "control_rate": self.control_rate.to_dict(),
            "baseline_rate": self.baseline_rate.to_dict(),
            "risk": self.risk.to_dict(),
            "beats_baseline": self.beats_baseline,
        }


def disclosure_risk(attack: Estimate, control: Estimate) -> Estimate:
    """(attack - control) / (1 - control), its interval from both rates' intervals by error propagation (as
    Giomi et al.), held within [0, 1]."""
    room = max(1.0 - control.value, 1e-12)
    value = (attack.value - control.value) / room
    attack_error, control_error = (attack.high - attack.low) / 2, (control.high - control.low) / 2
    error = float(np.hypot(attack_error / room, control_error * (attack.value - 1) / room**2))
    return Estimate(
        float(np.clip(value, 0, 1)), float(np.clip(value - error, 0, 1)), float(np.clip(value + error, 0, 1))
    )


def _risk(name: str, successes: tuple[int, int, int], attacks: tuple[int, int, int]) -> DisclosureRisk:
    attack, control, baseline = (wilson_interval(s, n) for s, n in zip(successes, attacks, strict=True))
    return DisclosureRisk(name, attacks[0], attack, control, baseline, disclosure_risk(attack, control))


# ---------------------------------------------------------------------------------------------- singling out


@dataclass(frozen=True)
class _Numeric:
    """The three tables as floats (categories as codes shared by all three, missing as NaN), one column each."""

    train: np.ndarray
    holdout: np.ndarray
    synthetic: np.ndarray
    ordered: np.ndarray  # per column: whether "at most"/"at least" predicates make sense


def _numeric(tables: EvaluationTables) -> _Numeric:
    names = [column.name for column in tables.schema.modelled]
    kinds = {column.name: column.kind for column in tables.schema.modelled}
    frames = (tables.train, tables.holdout, tables.synthetic)
    arrays = [np.empty((len(frame), len(names))) for frame in frames]
    for position, name in enumerate(names):
        together = pd.concat([frame[name] for frame in frames], ignore_index=True)
        if kinds[name] in ORDERED_KINDS:
            if pd.api.types.is_datetime64_any_dtype(together):
                values = together.astype("int64").astype(float).where(together.notna())
            else:
                values = pd.to_numeric(together, errors="coerce")
            values = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            codes = pd.factorize(together.astype("string"), use_na_sentinel=True)[0]
            values = np.where(codes < 0, np.nan, codes).astype(float)
        starts = np.cumsum([0] + [len(frame) for frame in frames])
        for index, array in enumerate(arrays):
            array[:, position] = values[starts[index] : starts[index + 1]]
    ordered = np.array([kinds[name] in ORDERED_KINDS for name in names])
    return _Numeric(*arrays, ordered)


@dataclass(frozen=True)
class Predicates:
    """Conjunctions of up to k conditions, one predicate per row: column index, operator and value per slot
    (column -1: an empty slot, always true)."""

    columns: np.ndarray
    operators: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.columns)

    def subset(self, keep: np.ndarray) -> Predicates:
        return Predicates(self.columns[keep], self.operators[keep], self.values[keep])


def matches(predicates: Predicates, data: np.ndarray) -> np.ndarray:
    """How many rows of `data` each predicate matches."""
    counts = np.zeros(len(predicates), dtype=np.int64)
    block = max(1, MAX_BLOCK_ELEMENTS // max(len(data), 1))
    for start in range(0, len(predicates), block):
        chunk = slice(start, start + block)
        hold = np.ones((len(data), len(predicates.columns[chunk])), dtype=bool)
        for slot in range(predicates.columns.shape[1]):
            columns, operators = predicates.columns[chunk, slot], predicates.operators[chunk, slot]
            cells = data[:, np.maximum(columns, 0)]
            values = predicates.values[chunk, slot]
            with np.errstate(invalid="ignore"):
                condition = np.select(
                    [operators == EQUAL, operators == AT_MOST, operators == AT_LEAST],
                    [cells == values, cells <= values, cells >= values],
                    default=np.isnan(cells),
                )
            hold &= condition | (columns < 0)
        counts[chunk] = hold.sum(axis=0)
    return counts


def _univariate_predicates(synthetic: np.ndarray, ordered: np.ndarray) -> Predicates:
    """Each value held by one synthetic row, each column's extremes, and "missing" where one row lacks it."""
    found: list[tuple[int, int, float]] = []
    for column in range(synthetic.shape[1]):
        values = synthetic[:, column]
        present = values[~np.isnan(values)]
        if np.isnan(values).sum() == 1:
            found.append((column, MISSING, np.nan))
        if ordered[column] and len(present):
            found += [(column, AT_MOST, present.min()), (column, AT_LEAST, present.max())]
        unique, counts = np.unique(present, return_counts=True)
        found += [(column, EQUAL, value) for value in unique[counts == 1]]
    if not found:
        return Predicates(np.empty((0, 1), int), np.empty((0, 1), int), np.empty((0, 1)))
    columns, operators, values = (np.array(part)[:, None] for part in zip(*found, strict=True))
    return Predicates(columns.astype(int), operators.astype(int), values.astype(float))


def _record_predicates(synthetic: np.ndarray, ordered: np.ndarray, count: int, rng: np.random.Generator) -> Predicates:
    """Predicates on `PREDICATE_COLUMNS` random columns of random synthetic rows: equal to a category, missing
    where the row lacks the value, and on the far side of the value from the column's median for a number."""
    width = min(PREDICATE_COLUMNS, synthetic.shape[1])
    rows = rng.integers(0, len(synthetic), count)
    columns = np.argsort(rng.random((count, synthetic.shape[1])), axis=1)[:, :width]
    values = synthetic[rows[:, None], columns]
    with np.errstate(invalid="ignore"):
        above = values > np.nanmedian(synthetic, axis=0)[columns]
    operators = np.where(ordered[columns], np.where(above, AT_LEAST, AT_MOST), EQUAL)
    operators = np.where(np.isnan(values), MISSING, operators)
    return Predicates(columns, operators, values)


def _random_predicates(synthetic: np.ndarray, ordered: np.ndarray, width: int, count: int, rng: np.random.Generator):
    """The baseline: columns, values (among the synthetic column's) and sides drawn at random."""
    columns = np.argsort(rng.random((count, synthetic.shape[1])), axis=1)[:, :width]
    values = synthetic[rng.integers(0, len(synthetic), (count, width)), columns]
    sides = rng.choice([AT_MOST, AT_LEAST], (count, width))
    operators = np.where(np.isnan(values), MISSING, np.where(ordered[columns], sides, EQUAL))
    return Predicates(columns, operators, values)


def _distinct(predicates: Predicates) -> Predicates:
    keys = np.column_stack([predicates.columns, predicates.operators, np.nan_to_num(predicates.values, nan=-1e300)])
    _, first = np.unique(keys, axis=0, return_index=True)
    return predicates.subset(np.sort(first))


def _singling_out(
    name: str, numeric: _Numeric, candidates: Predicates, width: int, attacks: int, rng: np.random.Generator
) -> DisclosureRisk:
    singling = _distinct(candidates.subset(matches(candidates, numeric.synthetic) == 1))
    chosen = singling.subset(rng.permutation(len(singling))[:attacks])
    baseline = _random_predicates(numeric.synthetic, numeric.ordered, width, max(len(chosen), 1), rng)
    successes = (
        int((matches(chosen, numeric.train) == 1).sum()),
        int((matches(chosen, numeric.holdout) == 1).sum()),
        int((matches(baseline, numeric.train) == 1).sum()),
    )
    return _risk(name, successes, (len(chosen), len(chosen), len(baseline)))


def singling_out(tables: EvaluationTables, attacks: int = ATTACKS, seed: int = 0) -> list[DisclosureRisk]:
    """Univariate and multivariate singling out (Giomi et al. 2023, section 4.1)."""
    rng = np.random.default_rng(seed)
    numeric = _numeric(tables)
    univariate = _univariate_predicates(numeric.synthetic, numeric.ordered)
    found = [_singling_out("singling out (univariate)", numeric, univariate, 1, attacks, rng)]
    if numeric.synthetic.shape[1] >= PREDICATE_COLUMNS:
        # several draws per wanted predicate: most conjunctions of three columns match more than one row
        records = _record_predicates(numeric.synthetic, numeric.ordered, 10 * attacks, rng)
        found.append(_singling_out("singling out (multivariate)", numeric, records, PREDICATE_COLUMNS, attacks, rng))
    return found


# ---------------------------------------------------------------------------------------------- linkability


def _dimensions(tables: EvaluationTables, names: list[str]) -> np.ndarray:
    """The matrix dimensions of the columns `names`, in layout order."""
    dimensions = column_dimensions(tables)
    return np.concatenate([dimensions[name] for name in dimensions if name in names])


def _closest(tables: EvaluationTables, records: np.ndarray, dimensions: np.ndarray) -> np.ndarray:
    """Index of the closest synthetic row to each record, on the given dimensions only."""
    weights = tables.distance_weights()[dimensions]
    index = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(tables.synthetic_matrix[:, dimensions] * weights)
    return index.kneighbors(records[:, dimensions] * weights, return_distance=False)[:, 0]


def _targets(tables: EvaluationTables, attacks: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    count = min(attacks, len(tables.train_matrix))
    return rng.choice(len(tables.train_matrix), count, replace=False), rng.choice(
        len(tables.holdout_matrix), count, replace=False
    )


def linkability(tables: EvaluationTables, attacks: int = ATTACKS, seed: int = 0) -> DisclosureRisk | None:
    """Linkability (Giomi et al. 2023, section 4.2) between two halves of the columns, split at random; None for a
    table of fewer than two columns."""
    names = [column.name for column in tables.schema.modelled]
    if len(names) < 2:
        return None
    rng = np.random.default_rng(seed)
    shuffled = list(rng.permutation(names))
    halves = [_dimensions(tables, shuffled[: len(names) // 2]), _dimensions(tables, shuffled[len(names) // 2 :])]
    targets, controls = _targets(tables, attacks, rng)
    linked = []
    for records in (tables.train_matrix[targets], tables.holdout_matrix[controls]):
        first, second = (_closest(tables, records, half) for half in halves)
        linked.append(int((first == second).sum()))
    synthetic_rows = len(tables.synthetic_matrix)
    chance = int((rng.integers(0, synthetic_rows, len(targets)) == rng.integers(0, synthetic_rows, len(targets))).sum())
    return _risk("linkability", (*linked, chance), (len(targets),) * 3)


# ---------------------------------------------------------------------------------------------- inference


def _guessed(kind: ColumnKind) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if kind in ORDERED_KINDS:
        return lambda guess, truth: np.abs(guess - truth) <= RELATIVE_TOLERANCE * np.abs(truth)
    return lambda guess, truth: (guess == truth) | (np.isnan(guess) & np.isnan(truth))


def attribute_inference(tables: EvaluationTables, attacks: int = ATTACKS, seed: int = 0) -> list[DisclosureRisk]:
    """Attribute inference (Giomi et al. 2023, section 4.3) of each column (the first 30) from all the others."""
    columns = tables.schema.modelled[:MAX_INFERRED_COLUMNS]
    if len(tables.schema.modelled) < 2:
        return []
    rng = np.random.default_rng(seed)
    numeric = _numeric(tables)
    targets, controls = _targets(tables, attacks, rng)
    found = []
    for position, column in enumerate(columns):
        others = _dimensions(tables, [c.name for c in tables.schema.modelled if c.name != column.name])
        guessed = _guessed(column.kind)
        secret = numeric.synthetic[:, position]
        successes = [
            int(guessed(secret[_closest(tables, matrix[rows], others)], truth[rows, position]).sum())
            for matrix, truth, rows in (
                (tables.train_matrix, numeric.train, targets),
                (tables.holdout_matrix, numeric.holdout, controls),
            )
        ]
        naive = secret[rng.integers(0, len(secret), len(targets))]
        successes.append(int(guessed(naive, numeric.train[targets, position]).sum()))
        found.append(_risk(f"attribute inference: {column.name}", tuple(successes), (len(targets),) * 3))
    return found


def disclosure_risks(tables: EvaluationTables, attacks: int = ATTACKS, seed: int = 0) -> list[DisclosureRisk]:
    """Every risk: singling out (univariate, multivariate), linkability, attribute inference of each column."""
    linked = linkability(tables, attacks, seed)
    return [
        *singling_out(tables, attacks, seed),
        *([linked] if linked is not None else []),
        *attribute_inference(tables, attacks, seed),
    ]
