"""Memorisation audit with canaries: the "secret sharer" design of Carlini et al. (2019) for a tabular generator.

A membership attack on ordinary records measures the typical leak; an audit plants the worst case. Canaries are
records no patient has: each column's value drawn on its own, uniformly from the column's domain, and of those
the draws farthest from every real row kept, so a generator can reproduce one only by memorising it. Some are
inserted into a copy of the training data once and some 2, 4, 8 and 16 times; many more are drawn alike and never
inserted (the reference). The model trains on the copy and generates; then for each canary:

- distance to the closest synthetic record (the Gower-style distance of the evaluation);
- reproduced exactly (distance 0) or nearly (closer than all but 1% of the never-inserted canaries);
- exposure: log2(R + 1) - log2(rank), its rank by that distance among itself and the R never-inserted canaries
  (Carlini et al.: about log2(e) = 1.44 bits on average for a canary the model never saw; log2(R + 1) at most).

Inserted-once against never-inserted canaries is a membership game whose true- and false-positive rates bound the
epsilon of any (epsilon, delta)-DP training from below: TPR <= e^epsilon FPR + delta (Jagielski et al. 2020; Nasr
et al. 2021). The bound uses a one-sided Clopper-Pearson interval for each rate (95% overall, Bonferroni over the
thresholds tried), so it holds at that confidence. Under DP it must stay below the accounted epsilon.

The audit keeps no canary: the model trained on them is discarded, and the result holds only aggregates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from synthmed.data.files import check_output, write_text
from synthmed.data.inference import infer_schema
from synthmed.data.io import PLAIN_READING, ReadOptions
from synthmed.data.schema import EXCLUDED_KINDS, ColumnKind, Schema
from synthmed.data.transform import TableTransformer
from synthmed.data.validate import validate_table
from synthmed.errors import ConfigError
from synthmed.evaluate.attacks import nearest_distances
from synthmed.evaluate.encoding import gower_weights
from synthmed.evaluate.intervals import rank_auc
from synthmed.models.base import Synthesizer
from synthmed.models.training import cpu_threads
from synthmed.workflows.training import describe_selection, select_model

REPETITIONS = (1, 2, 4, 8, 16)
# Canaries drawn per kept one: the kept ones are the draws farthest from the real rows.
CANARY_POOL = 4
# "Nearly reproduced": closer to a synthetic record than all but this share of never-inserted canaries.
NEAR_SHARE = 0.01
CONFIDENCE = 0.95
# Thresholds tried for the empirical epsilon (the Bonferroni correction grows with them).
MAX_THRESHOLDS = 20
EXACT = 1e-9


@dataclass(frozen=True)
class CanaryGroup:
    """How the canaries inserted `repetitions` times fared (repetitions 0: the never-inserted reference)."""

    repetitions: int
    canaries: int
    exact_share: float
    near_share: float
    mean_exposure: float
    max_exposure: float


@dataclass(frozen=True)
class EmpiricalEpsilon:
    """The membership game of inserted-once against never-inserted canaries, and the epsilon it proves."""

    auc: float
    threshold: float  # distance to the closest synthetic record at or below which a canary is called a member
    true_positive_rate: float
    false_positive_rate: float
    epsilon_lower_bound: float  # at CONFIDENCE; 0 when no threshold proves anything
    largest_provable: float  # what this many canaries could prove at best (all hits, no false alarm)
    delta: float


@dataclass(frozen=True)
class AuditResult:
    model: str
    rows: int
    inserted_rows: int
    synthetic_rows: int
    groups: tuple[CanaryGroup, ...]
    membership: EmpiricalEpsilon
    accounted_epsilon: float | None  # None: trained without DP
    selection: dict[str, Any] | None = None  # how the model was chosen (auto, a preset), as model.json records it
    unit: str = "rows"  # what a canary is: a row, or a patient's history (workflows/history_audit.py)

    @property
    def consistent(self) -> bool:
        """Under DP, the empirical lower bound must not exceed what the accountant says was spent."""
        return self.accounted_epsilon is None or self.membership.epsilon_lower_bound <= self.accounted_epsilon

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "consistent": self.consistent}


def draw_canaries(table: pd.DataFrame, schema: Schema, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """`count` distinct out-of-distribution records: uniform draws from each column's domain, farthest from the data.

    A declared domain (categories, min/max) is used as declared; otherwise the data's categories and range.
    Identifier and free-text columns stay empty (no model reads them).
    """
    pool = count * CANARY_POOL
    columns: dict[str, Any] = {}
    for column in schema.columns:
        values = table[column.name].dropna()
        if column.kind in EXCLUDED_KINDS:
            columns[column.name] = pd.Series([None] * pool, dtype=object)
        elif column.kind in (ColumnKind.BINARY, ColumnKind.CATEGORICAL):
            categories = list(column.categories) if column.categories is not None else list(pd.unique(values))
            drawn = np.asarray(categories, dtype=object)[rng.integers(len(categories), size=pool)]
            columns[column.name] = pd.Series(drawn).astype(table[column.name].dtype)
        else:
            datetime = column.kind is ColumnKind.DATETIME
            numbers = values.astype("int64") if datetime else values.astype(float)
            low = float(column.minimum) if column.minimum is not None else float(numbers.min())
            high = float(column.maximum) if column.maximum is not None else float(numbers.max())
            drawn = rng.uniform(low, high, pool)
            if column.kind is not ColumnKind.CONTINUOUS or bool(np.all(numbers == np.round(numbers))):
                drawn = np.round(drawn).astype(np.int64) if datetime else np.round(drawn)
            columns[column.name] = pd.Series(drawn).astype(table[column.name].dtype)
    names = [column.name for column in schema.modelled]
    candidates = pd.DataFrame(columns)[list(table.columns)].drop_duplicates(subset=names, ignore_index=True)
    if len(candidates) < count:
        raise ConfigError(
            f"the columns' domains hold too few distinct records for {count} canaries",
            values=[len(candidates)],
            remedy="audit with fewer canaries (--once, --repeated, --reference)",
        )
    space = _DistanceSpace(schema, [table, candidates])
    distance = nearest_distances(space.encode(table), space.encode(candidates), space.weights)[:, 0]
    farthest = np.sort(np.argsort(-distance, kind="stable")[:count])
    return candidates.iloc[farthest].reset_index(drop=True)


class _DistanceSpace:
    """The evaluation's Gower-style distance over the modelled columns of several tables."""

    def __init__(self, schema: Schema, tables: list[pd.DataFrame]) -> None:
        self.names = [column.name for column in schema.modelled]
        self.transformer = TableTransformer(schema).fit(pd.concat([t[self.names] for t in tables], ignore_index=True))
        self.weights = gower_weights(self.transformer.layout_)

    def encode(self, table: pd.DataFrame) -> np.ndarray:
        return self.transformer.transform(table[self.names].reset_index(drop=True))


def exposure(distances: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """log2(R + 1) - log2(rank) of each distance among itself and the R reference distances (ties share ranks)."""
    ordered = np.sort(reference)
    closer = np.searchsorted(ordered, distances, side="left")
    tied = np.searchsorted(ordered, distances, side="right") - closer
    rank = 1 + closer + tied / 2
    return np.log2(len(reference) + 1) - np.log2(rank)


def _one_sided(successes: np.ndarray, trials: int, alpha: float, upper: bool) -> np.ndarray:
    """Clopper-Pearson bound on a rate at confidence 1 - alpha (one-sided)."""
    successes = np.asarray(successes, dtype=float)
    if upper:
        bound = beta.ppf(1 - alpha, successes + 1, trials - successes)
        return np.where(successes >= trials, 1.0, bound)
    bound = beta.ppf(alpha, successes, trials - successes + 1)
    return np.where(successes <= 0, 0.0, bound)


def empirical_epsilon(members: np.ndarray, outsiders: np.ndarray, delta: float) -> EmpiricalEpsilon:
    """The largest epsilon that TPR <= e^epsilon FPR + delta proves from the canaries' distances, at CONFIDENCE.

    A canary is called a member when its distance to the closest synthetic record is at or below a threshold;
    the thresholds tried are the members' own distances (at most MAX_THRESHOLDS, evenly spread among them).
    """
    candidates = np.unique(members)
    if len(candidates) > MAX_THRESHOLDS:
        candidates = np.unique(np.quantile(members, np.linspace(0, 1, MAX_THRESHOLDS), method="lower"))
    alpha = (1 - CONFIDENCE) / (2 * len(candidates))  # two rates per threshold
    hits = (members[None, :] <= candidates[:, None]).sum(1)
    false = (outsiders[None, :] <= candidates[:, None]).sum(1)
    tpr_low = _one_sided(hits, len(members), alpha, upper=False)
    fpr_high = _one_sided(false, len(outsiders), alpha, upper=True)
    bounds = np.log(np.clip(tpr_low - delta, 1e-300, None) / fpr_high)
    # the threshold that proves most; when none proves anything, the one with the largest advantage TPR - FPR
    best = int(np.argmax(bounds)) if bounds.max() > 0 else int(np.argmax(hits / len(members) - false / len(outsiders)))
    largest = math.log(max(_one_sided(len(members), len(members), alpha, upper=False) - delta, 1e-300))
    largest -= math.log(float(_one_sided(0, len(outsiders), alpha, upper=True)))
    labels = np.r_[np.ones(len(members)), np.zeros(len(outsiders))]
    return EmpiricalEpsilon(
        auc=float(rank_auc(labels, -np.r_[members, outsiders])),
        threshold=float(candidates[best]),
        true_positive_rate=float(hits[best] / len(members)),
        false_positive_rate=float(false[best] / len(outsiders)),
        epsilon_lower_bound=max(0.0, float(bounds[best])),
        largest_provable=max(0.0, largest),
        delta=delta,
    )


def canary_group(repetitions: int, distances: np.ndarray, reference: np.ndarray, exposures: np.ndarray) -> CanaryGroup:
    near = np.quantile(reference, NEAR_SHARE)
    return CanaryGroup(
        repetitions=repetitions,
        canaries=len(distances),
        exact_share=float(np.mean(distances <= EXACT)),
        near_share=float(np.mean(distances <= near)),
        mean_exposure=float(exposures.mean()),
        max_exposure=float(exposures.max()),
    )


def audit(
    table: pd.DataFrame,
    model: Synthesizer,
    *,
    schema: Schema | None = None,
    once: int = 32,
    per_repetition: int = 4,
    reference: int = 256,
    rows: int | None = None,
    seed: int = 0,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
    progress: bool = True,
) -> AuditResult:
    """Insert canaries into a copy of `table`, fit `model` on it (privately with `dp_epsilon`), generate `rows`
    (default: as many as the copy) and measure how the canaries were reproduced."""
    counts = canary_counts(once, per_repetition, reference)
    table = validate_table(table, schema)
    full_schema = infer_schema(table, schema)
    rng = np.random.default_rng(seed)
    canaries = draw_canaries(table, full_schema, len(counts), rng)
    inserted = canaries.loc[canaries.index.repeat(counts)]
    augmented = pd.concat([table, inserted], ignore_index=True)
    augmented = augmented.iloc[rng.permutation(len(augmented))].reset_index(drop=True)
    model.fit(augmented, schema=schema, progress=progress, dp_epsilon=dp_epsilon, dp_delta=dp_delta)
    synthetic = model.sample(rows or len(augmented), seed=seed)
    if not isinstance(synthetic, pd.DataFrame):
        synthetic = pd.DataFrame(synthetic, columns=table.columns)
    space = _DistanceSpace(full_schema, [table, canaries, synthetic])
    distances = nearest_distances(space.encode(synthetic), space.encode(canaries), space.weights)[:, 0]
    return audit_result(model, distances, counts, (len(table), len(inserted), len(synthetic)))


def canary_counts(once: int, per_repetition: int, reference: int) -> np.ndarray:
    """How many times each canary is inserted: `once` canaries 1 time, `per_repetition` each 2, 4, 8 and 16 times,
    `reference` never (0); refused before anything is read when the game could not be played."""
    if min(once, per_repetition) < 1 or reference < 10:
        raise ConfigError(
            "an audit needs canaries inserted once, some repeated, and at least 10 never inserted",
            values=[once, per_repetition, reference],
        )
    return np.r_[np.full(once, 1), np.repeat(REPETITIONS[1:], per_repetition), np.zeros(reference, dtype=int)]


def audit_result(
    model: Synthesizer, distances: np.ndarray, counts: np.ndarray, sizes: tuple[int, int, int], unit: str = "rows"
) -> AuditResult:
    """The audit of canaries inserted `counts` times, from each one's distance to the closest synthetic record;
    `sizes`: the real, inserted and synthetic records (rows or patients, as `unit` says)."""
    never = distances[counts == 0]
    groups = [canary_group(0, never, never, leave_one_out_exposure(never))]
    for repetitions in REPETITIONS:
        chosen = distances[counts == repetitions]
        groups.append(canary_group(repetitions, chosen, never, exposure(chosen, never)))
    privacy = getattr(model, "privacy_", None)
    real, inserted, synthetic = sizes
    delta = privacy["delta"] if privacy else 1.0 / (10 * (real + inserted))
    return AuditResult(
        model=model.name,
        rows=real,
        inserted_rows=inserted,
        synthetic_rows=synthetic,
        groups=tuple(groups),
        membership=empirical_epsilon(distances[counts == 1], never, delta),
        accounted_epsilon=privacy["epsilon"] if privacy else None,
        selection=getattr(model, "selection_", None),
        unit=unit,
    )


def audit_file(
    data: str | Path,
    model: str | Synthesizer = "auto",
    *,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    threads: int | None = None,
    output: str | Path | None = None,
    schema: Schema | str | Path | None = None,
    reading: ReadOptions = PLAIN_READING,
    overwrite: bool = False,
    **options: Any,
) -> AuditResult:
    """`audit` of the table in `data` (`options` are `audit`'s), the result written as JSON to `output`.

    `model` is a model, a registered model's name or "auto", with a named `preset` and hyperparameter `settings`
    (workflows/training.py: select_model), built once the output path is checked and the table read."""
    if output is not None:
        check_output(output, overwrite=overwrite, example="audit.json")
    table = reading.read(data)
    declared = Schema.load(schema) if isinstance(schema, str | Path) else schema
    selection = select_model(model, table, preset=preset, settings=settings, schema=declared)
    if not selection.model.learns("table"):
        raise ConfigError(
            f"the canary audit plants records in a table; {selection.model.name} learns {selection.model.data_kind()}",
            remedy="audit patient histories with --patient-column and --codes (the history audit)",
        )
    selection.model.selection_ = selection.record
    with cpu_threads(threads):
        result = audit(table, selection.model, schema=declared, **options)
    if output is not None:
        write_text(output, json.dumps(result.to_dict(), indent=2))
    return result


def leave_one_out_exposure(reference: np.ndarray) -> np.ndarray:
    """Each never-inserted canary's exposure among the others: what a canary the model never saw scores."""
    ordered = np.sort(reference)
    closer = np.searchsorted(ordered, reference, side="left")
    tied_others = np.searchsorted(ordered, reference, side="right") - closer - 1
    return np.log2(len(reference)) - np.log2(1 + closer + tied_others / 2)


def describe_audit(result: AuditResult) -> list[str]:
    """The audit as a short table and verdict lines, for the CLI."""
    chosen = describe_selection(result.selection)
    lines = [chosen] if chosen is not None else []
    lines += [
        f"{result.model} trained on {result.rows} {result.unit} + {result.inserted_rows} canary {result.unit}; "
        f"{result.synthetic_rows} {result.unit} generated",
        f"{'inserted':>9} {'canaries':>9} {'exact':>7} {'near':>7} {'exposure':>9} {'max':>6}",
    ]
    for group in result.groups:
        label = "never" if group.repetitions == 0 else f"{group.repetitions}x"
        lines.append(
            f"{label:>9} {group.canaries:>9} {group.exact_share:>7.1%} {group.near_share:>7.1%} "
            f"{group.mean_exposure:>9.2f} {group.max_exposure:>6.2f}"
        )
    game = result.membership
    lines.append(
        f"membership (inserted once vs never): AUC {game.auc:.3f}; at distance <= {game.threshold:.3f} "
        f"TPR {game.true_positive_rate:.1%}, FPR {game.false_positive_rate:.1%}"
    )
    proved = (
        f"empirical epsilon >= {game.epsilon_lower_bound:.2f} ({CONFIDENCE:.0%} confidence, delta {game.delta:.2g}; "
        f"these canaries can prove at most {game.largest_provable:.2f})"
    )
    if result.accounted_epsilon is None:
        lines.append(f"{proved}; trained without differential privacy")
    else:
        verdict = "consistent" if result.consistent else "INCONSISTENT: the training leaks more than accounted"
        lines.append(f"{proved}; accounted epsilon {result.accounted_epsilon:.2f}: {verdict}")
    return lines
