"""One numeric view of TRAIN, HOLDOUT and SYNTHETIC, shared by every distance, classifier and attack.

The transformer is fitted on the three tables together, so a synthetic value never seen in TRAIN still
has a slot (and a generator that invents categories is measured, not rejected). TRAIN and HOLDOUT are
cut to the same size: a comparison between them is only fair on equal samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import ColumnKind, Schema, infer_schema
from synthmed.data.transform import TableTransformer
from synthmed.data.validate import validate_table
from synthmed.errors import DataError


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

    @property
    def is_binary(self) -> bool:
        """A binary code matrix: distances are Hamming distances."""
        return self.layout.all_spans(ColumnKind.BINARY)

    def distance_weights(self) -> np.ndarray:
        """Per-dimension weights that turn an L1 distance into a Gower-style distance in [0, 1].

        A one-hot mismatch costs 2 in L1, so its dimensions weigh 1/2; every column then counts once,
        whatever its encoding, and the sum is divided by the number of columns.
        """
        weights = np.ones(self.layout.width)
        for span in self.layout.spans:
            if span.activation == "softmax":
                weights[span.start : span.stop] = 0.5
        columns = len({span.column for span in self.layout.spans})
        return weights / columns


def prepare_tables(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema | None = None,
    seed: int = 0,
) -> EvaluationTables:
    """Validate, align columns, equalise TRAIN and HOLDOUT sizes and encode all three tables."""
    train = validate_table(train, schema)
    full_schema = infer_schema(train, schema)
    names = [column.name for column in full_schema.modelled]
    for role, table in (("holdout", holdout), ("synthetic", synthetic)):
        absent = [name for name in names if name not in table.columns]
        if absent:
            raise DataError(
                f"the {role} table lacks columns of the training table",
                column=absent[0],
                values=absent,
                remedy=f"give the {role} table the same columns as TRAIN",
            )
    rng = np.random.default_rng(seed)
    size = min(len(train), len(holdout))
    train = train.iloc[np.sort(rng.choice(len(train), size, replace=False))][names].reset_index(drop=True)
    holdout = holdout.iloc[np.sort(rng.choice(len(holdout), size, replace=False))][names].reset_index(drop=True)
    synthetic = synthetic[names].reset_index(drop=True)
    # the same dtypes in all three, so that values compare equal (a CSV may read 1 where Parquet had 1.0)
    holdout = holdout.astype(train.dtypes.to_dict(), errors="ignore")
    synthetic = synthetic.astype(train.dtypes.to_dict(), errors="ignore")
    transformer = TableTransformer(full_schema).fit(pd.concat([train, holdout, synthetic], ignore_index=True))
    return EvaluationTables(
        schema=full_schema,
        layout=transformer.layout_,
        train=train,
        holdout=holdout,
        synthetic=synthetic,
        train_matrix=transformer.transform(train),
        holdout_matrix=transformer.transform(holdout),
        synthetic_matrix=transformer.transform(synthetic),
    )
