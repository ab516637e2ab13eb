"""One numeric view of TRAIN, HOLDOUT and SYNTHETIC, shared by every distance, classifier and attack.

The transformer is fitted on the three tables together, so a synthetic value never seen in TRAIN still
has a slot (and a generator that invents categories is measured, not rejected). TRAIN and HOLDOUT are
cut to the same size: a comparison between them is only fair on equal samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.inference import infer_schema
from synthmed.data.layout import ColumnLayout
from synthmed.data.rare import apply_rare_policy, rare_categories
from synthmed.data.schema import RARE_MIN_COUNT, ColumnKind, Schema
from synthmed.data.transform import TableTransformer
from synthmed.data.validate import require_columns, validate_table
from synthmed.errors import DataError, SynthmedError, SynthmedWarning


@dataclass(frozen=True)
class EvaluationTables:
    """The three tables (modelled columns only) and their encoded matrices, TRAIN and HOLDOUT of equal size."""

    schema: Schema
    layout: ColumnLayout
    train: pd.DataFrame
    holdout: pd.DataFrame
    synthetic: pd.DataFrame
    train_matrix: np.ndarray
    holdout_matrix: np.ndarray
    synthetic_matrix: np.ndarray
    # per column whose categories come from the data: its values held by fewer than k rows of the whole TRAIN
    # table (data/rare.py), which the privacy checks look for in the synthetic data
    rare_in_train: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        """A binary code matrix: distances are Hamming distances."""
        return self.layout.all_spans(ColumnKind.BINARY)

    def distance_weights(self) -> np.ndarray:
        return gower_weights(self.layout)


def gower_weights(layout: ColumnLayout) -> np.ndarray:
    """Per-dimension weights that turn an L1 distance into a Gower-style distance in [0, 1].

    Each column's dimensions are scaled by the largest L1 distance they can show (2 for a one-hot
    mismatch, 1 per value or missingness dimension), so every column counts once, whatever its
    encoding, and the sum is divided by the number of columns.
    """
    largest: dict[str, float] = {}
    for span in layout.spans:
        largest[span.column] = largest.get(span.column, 0.0) + (2.0 if span.activation == "softmax" else span.width)
    weights = np.empty(layout.width)
    for span in layout.spans:
        weights[span.start : span.stop] = 1.0 / largest[span.column]
    return weights / len(largest)


def _widen_binaries(schema: Schema, tables: list[pd.DataFrame]) -> Schema:
    """A column with two values in TRAIN but more across the three tables is categorical, not binary."""
    widened = []
    for column in schema.columns:
        if column.kind is ColumnKind.BINARY and not column.declared:
            values = pd.concat([table[column.name] for table in tables]).dropna().astype(str).nunique()
            column = replace(column, kind=ColumnKind.CATEGORICAL) if values > 2 else column
        widened.append(column)
    return Schema(tuple(widened))


def _validated(table: pd.DataFrame, role: str, schema: Schema | None, quiet: bool = True) -> pd.DataFrame:
    """`validate_table`, its errors naming the table; notes about HOLDOUT and SYNTHETIC are TRAIN's business."""
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore", SynthmedWarning)
            return validate_table(table, schema)
    except SynthmedError as error:
        raise error.located(f"the {role} table") from None


def _with_empty_columns(validated: pd.DataFrame, given: pd.DataFrame) -> pd.DataFrame:
    """A validated HOLDOUT or SYNTHETIC table with the columns validation dropped for being entirely missing put
    back (a small holdout can lack every value of a column TRAIN has; that is not a missing column)."""
    return validated.reindex(columns=[name for name in given.columns if isinstance(name, str)])


def _refuse_unknown_columns(synthetic: pd.DataFrame, train: pd.DataFrame, schema: Schema) -> None:
    """Anything in SYNTHETIC that TRAIN's modelled columns do not hold is refused: a column the generator never
    learned can only have come from somewhere else, real identifiers and notes included."""
    modelled = {column.name for column in schema.modelled}
    unknown = [name for name in synthetic.columns if name not in modelled]
    if not unknown:
        return
    excluded = [name for name in unknown if name in train.columns]
    why = (
        f"{len(excluded)} of them are identifier or free-text columns of TRAIN, which are never modelled or released"
        if excluded
        else "TRAIN has none of them"
    )
    raise DataError(
        f"the synthetic table holds {len(unknown)} column{'s' * (len(unknown) > 1)} that no generator trained on "
        f"TRAIN makes ({why})",
        column=str(unknown[0]),
        values=unknown,
        remedy="drop them from the synthetic table: only TRAIN's modelled columns may be released",
    )


def prepare_tables(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema | None = None,
    seed: int = 0,
    rare_min_count: int = RARE_MIN_COUNT,
) -> EvaluationTables:
    """Validate, align columns, equalise TRAIN and HOLDOUT sizes and encode all three tables.

    A declared `rare:` policy is applied to all three (data/rare.py), and the categories held by fewer than
    `rare_min_count` TRAIN rows are kept for the privacy checks; SYNTHETIC may hold no column that TRAIN's
    modelled columns do not."""
    train = _validated(train, "training", schema, quiet=False)
    holdout, synthetic = (
        _with_empty_columns(_validated(table, role, schema), table)
        for table, role in ((holdout, "holdout"), (synthetic, "synthetic"))
    )
    full_schema = infer_schema(train, schema)
    train, holdout, synthetic = (apply_rare_policy(table, full_schema) for table in (train, holdout, synthetic))
    names = [column.name for column in full_schema.modelled]
    for role, table in (("holdout", holdout), ("synthetic", synthetic)):
        require_columns(
            table.columns,
            names,
            f"the {role} table lacks columns of the training table",
            remedy=f"give the {role} table the same columns as TRAIN",
        )
    _refuse_unknown_columns(synthetic, train, full_schema)
    rare_in_train = rare_categories(train, full_schema.modelled, rare_min_count)
    full_schema = _widen_binaries(full_schema, [train, holdout, synthetic])
    rng = np.random.default_rng(seed)
    size = min(len(train), len(holdout))
    train = train.iloc[np.sort(rng.choice(len(train), size, replace=False))][names].reset_index(drop=True)
    holdout = holdout.iloc[np.sort(rng.choice(len(holdout), size, replace=False))][names].reset_index(drop=True)
    train, holdout, synthetic = _typed_like_first([train, holdout, synthetic[names].reset_index(drop=True)])
    layout, (train_matrix, holdout_matrix, synthetic_matrix) = _encoded_together(
        full_schema, [train, holdout, synthetic]
    )
    return EvaluationTables(
        schema=full_schema,
        layout=layout,
        train=train,
        holdout=holdout,
        synthetic=synthetic,
        train_matrix=train_matrix,
        holdout_matrix=holdout_matrix,
        synthetic_matrix=synthetic_matrix,
        rare_in_train=rare_in_train,
    )


def at_most(count: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """The positions of at most `limit` of `count` rows, in order: all of them, or a subsample drawn from `rng`."""
    if count <= limit:
        return np.arange(count)
    return np.sort(rng.choice(count, limit, replace=False))


def _typed_like_first(tables: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Every table with the first's dtypes, so that values compare equal (a CSV may read 1 where Parquet had 1.0)."""
    dtypes = tables[0].dtypes.to_dict()
    return [tables[0], *(table.astype(dtypes, errors="ignore") for table in tables[1:])]


def _encoded_together(schema: Schema, tables: list[pd.DataFrame]) -> tuple[ColumnLayout, list[np.ndarray]]:
    """One transformer fitted on all `tables` (a value any of them holds has a slot), and each table encoded by it."""
    transformer = TableTransformer(schema).fit(pd.concat(tables, ignore_index=True))
    return transformer.layout_, [transformer.transform(table) for table in tables]


def encode_population(
    population: pd.DataFrame, samples: list[pd.DataFrame], schema: Schema | None = None
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(population matrix, one matrix per synthetic sample, distance weights), all encoded by one transformer:
    the shadow-model game (evaluate/shadow.py) compares real records with many generators' samples."""
    population = _validated(population, "real", schema)
    full_schema = infer_schema(population, schema)
    names = [column.name for column in full_schema.modelled]
    tables = [apply_rare_policy(table, full_schema)[names].reset_index(drop=True) for table in [population, *samples]]
    tables = _typed_like_first(tables)
    layout, matrices = _encoded_together(_widen_binaries(full_schema, tables), tables)
    return matrices[0], matrices[1:], gower_weights(layout)
