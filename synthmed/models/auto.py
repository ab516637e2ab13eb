"""`--model auto`: the model and settings synthmed chooses from what the data is, and why.

The rule (docs/choosing-a-model.md has the figures behind it, each with the command that measured it):
- sequences (a long table with `--sequence-id`/`--time`, a recording cut with `--window`, an (n, T, C) array):
  tsgan with DCGAN's Adam (`tsgan-adam`), the setting that met study 3's bar where the paper's SGD missed it;
- a code matrix, at least `WIDE_CODE_MATRIX` modelled columns all 0/1 with none missing: visitgpt, reading each
  record as a one-visit history; on the NHDS 2010 matrix (470 codes) it came within 0.01 of real records' prediction
  F1 where medGAN with its extensions trailed by 0.09, in less time (benchmarks/single_visit.py);
- a table of codes or flags, at least `CODE_MATRIX_COLUMNS` modelled columns all binary or counts: medGAN with its
  extensions (`medgan-extended`), which alone met every bar of the NHDS discharge study (19 flags) and is the
  best-balanced of synthmed's models on count matrices and sparse ones (trained batch by batch in bounded memory);
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

from synthmed.data.history_records import is_code_column
from synthmed.data.inference import infer_schema
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.sparse import SparseCodeMatrix
from synthmed.data.validate import validate_table

# A table of at least this many modelled columns, every one binary or a count, is a table of codes or flags. The
# ones measured have 19 (NHDS discharges) to 1,116 columns; narrower all-binary tables were not measured, and go
# to tabgan, which learns any table.
CODE_MATRIX_COLUMNS = 10
# A dense table of at least this many columns, every one 0/1 with none missing, is a code matrix that visitgpt learns
# as one-visit histories. Measured at 19 flags (NHDS discharges: medGAN met study 1's bars there) and 470 codes
# (NHDS diagnoses: visitgpt met issue 28's bar, medGAN did not); 100 lies between them, not tuned on either.
WIDE_CODE_MATRIX = 100


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
        modelled = infer_schema(validate_table(table, schema), schema).modelled
    kinds = Counter(column.kind.value for column in modelled)
    columns = sum(kinds.values())
    if columns >= WIDE_CODE_MATRIX and schema is None and all(is_code_column(table[c.name]) for c in modelled):
        return Choice(
            "visitgpt",
            None,
            f"a code matrix ({columns} columns of 0/1): visitgpt, each record a one-visit history",
        )
    if columns >= CODE_MATRIX_COLUMNS and set(kinds) <= {ColumnKind.BINARY.value, ColumnKind.COUNT.value}:
        return Choice(
            "medgan",
            "medgan-extended",
            f"codes or flags ({columns} columns, all binary or counts): medGAN with its extensions (studies 1, 2a)",
        )
    described = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return Choice("tabgan", None, f"a mixed table ({described}): tabgan, first on every shared clinical table")
