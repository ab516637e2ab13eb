"""`--model auto`: the model and settings synthmed chooses from what the data is, and why.

The rule (docs/choosing-a-model.md has the figures behind it, each with the command that measured it):
- sequences (a long table with `--sequence-id`/`--time`, a recording cut with `--window`, an (n, T, C) array):
  tsgan with DCGAN's Adam (`tsgan-adam`), the setting that met study 3's bar where the paper's SGD missed it;
- a table of codes or flags, at least `CODE_MATRIX_COLUMNS` modelled columns all binary or counts: medGAN with its
  extensions (`medgan-extended`), which alone met every bar of the NHDS discharge study (19 flags) and is the
  best-balanced of synthmed's models on the code matrices at a fraction of corGAN's time;
- any other table (a mixed clinical table): tabgan at its defaults, first on every shared clinical table;
- patient histories (events named by `--patient-column` and `--codes`): visitgpt, synthmed's one model of them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.inference import infer_schema
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.sparse import SparseCodeMatrix
from synthmed.data.validate import validate_table

# A table of at least this many modelled columns, every one binary or a count, is a table of codes or flags. The
# ones measured have 19 (NHDS discharges) to 1,116 columns; narrower all-binary tables were not measured, and go
# to tabgan, which learns any table.
CODE_MATRIX_COLUMNS = 10


@dataclass(frozen=True)
class Choice:
    """The model `auto` picked, the preset it applies (or None for the model's defaults), and the reason."""

    model: str
    preset: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_model(
    data: pd.DataFrame | np.ndarray | SparseCodeMatrix | None,
    *,
    schema: Schema | None = None,
    sequences: bool = False,
    histories: bool = False,
) -> Choice:
    """Pick the model for `data` (a table, an array or a sparse code matrix); `sequences` says it holds sequences,
    `histories` that it holds patient histories (then `data` is not read and may be None)."""
    if histories:
        return Choice("visitgpt", None, "patient histories: visitgpt, synthmed's model of whole histories")
    if sequences or (isinstance(data, np.ndarray) and data.ndim == 3):
        return Choice("tsgan", "tsgan-adam", "sequences: tsgan with DCGAN's Adam optimiser (study 3)")
    if isinstance(data, SparseCodeMatrix):
        return Choice(
            "medgan",
            "medgan-extended",
            f"a sparse code matrix ({data.shape[1]} codes): medGAN with its extensions, trained batch by batch",
        )
    table = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data).rename(columns=lambda i: f"x{i}")
    with warnings.catch_warnings():  # fit notes the same columns again, where the user sees them once
        warnings.simplefilter("ignore")
        kinds = Counter(column.kind.value for column in infer_schema(validate_table(table, schema), schema).modelled)
    columns = sum(kinds.values())
    if columns >= CODE_MATRIX_COLUMNS and set(kinds) <= {ColumnKind.BINARY.value, ColumnKind.COUNT.value}:
        return Choice(
            "medgan",
            "medgan-extended",
            f"codes or flags ({columns} columns, all binary or counts): medGAN with its extensions (studies 1, 2a)",
        )
    described = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return Choice("tabgan", None, f"a mixed table ({described}): tabgan, first on every shared clinical table")
