"""Rules every generated row obeys, declared in the schema: `exclusive` groups of binary columns.

A group such as [age_under_18, age_over_65] says that at most one of its columns is positive in any row. The
training rows must obey it (checked before training); generated rows that break it are redrawn by `sample`
(models/conditions.py), so a declared structural zero holds exactly instead of to one row in a few thousand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthmed.data.encoders import BinaryEncoder, holding
from synthmed.data.transform import TableTransformer
from synthmed.errors import DataError, SchemaError

# Row numbers named in the error for training rows that break a rule.
SHOWN_ROWS = 5


def _positives(table: pd.DataFrame, transformer: TableTransformer, group: tuple[str, ...]) -> np.ndarray:
    """(rows, columns) booleans: which of the group's columns hold their positive (second) category."""
    encoders = {encoder.name: encoder for encoder in transformer.encoders_}
    flags = np.zeros((len(table), len(group)), dtype=bool)
    for i, name in enumerate(group):
        encoder = encoders.get(name)
        if not isinstance(encoder, BinaryEncoder):
            kind = "not modelled" if encoder is None else f"{encoder.column.kind}"
            raise SchemaError(
                f"an exclusive group may only hold binary columns, and this one is {kind}",
                column=name,
                values=[list(group)],
                remedy="declare the column binary (two values) or remove it from the group",
            )
        if len(encoder.categories_) < 2:  # a column seen with one value only is never positive
            continue
        # a binary encoder's dimension is the second category's probability
        flags[:, i] = holding(table[name], encoder.categories_[1])
    return flags


def obeying_rows(table: pd.DataFrame, transformer: TableTransformer) -> np.ndarray:
    """Which decoded rows obey every exclusive group of the transformer's schema."""
    keep = np.ones(len(table), dtype=bool)
    for group in transformer.schema.exclusive:
        keep &= _positives(table, transformer, group).sum(axis=1) <= 1
    return keep


def check_training_rows(table: pd.DataFrame, transformer: TableTransformer) -> None:
    """Refuse data that breaks a declared rule: the rule would be wrong, or the data."""
    for group in transformer.schema.exclusive:
        breaking = np.flatnonzero(_positives(table, transformer, group).sum(axis=1) > 1)
        if len(breaking):
            raise DataError(
                f"{len(breaking):,} {'row has' if len(breaking) == 1 else 'rows have'} more than one of the "
                f"exclusive columns {list(group)} positive "
                "(the values are their row numbers, from 0)",
                column=group[0],
                values=breaking[:SHOWN_ROWS].tolist(),
                remedy="fix those rows, or remove the group from the schema's exclusive list if it is not a rule",
            )
