"""Records as one-visit histories: a table of 0/1 code columns (a code matrix, with or without patient attributes)
read as patients with one visit each, and generated histories written back as such a table.

A code matrix is a history of one visit: each record is a patient, the 0/1 columns that hold 1 are the codes of its
one visit, and its other modelled columns are the patient's attributes. visitgpt learns it as it learns histories
(its code decoder costs a step per code a record holds, not a pass over the matrix's width) and `as_records` gives
back the table's columns, in their order and with their types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.histories import Histories, HistoryRoles
from synthmed.data.inference import infer_schema
from synthmed.data.schema import EXCLUDED_KINDS
from synthmed.errors import DataError

# the roles one-visit histories are read with: these names never reach a sample (`as_records` drops them)
RECORD, VISIT, CODE = "(record)", "(visit)", "(code)"


def is_code_column(series: pd.Series) -> bool:
    """A column of codes: booleans or the numbers 0 and 1, none missing (a missing flag stays an attribute)."""
    if series.isna().any():
        return False
    if pd.api.types.is_bool_dtype(series):
        return True
    return pd.api.types.is_numeric_dtype(series) and set(pd.unique(series).tolist()) <= {0, 1}


@dataclass(frozen=True)
class RecordLayout:
    """The table a one-visit history model writes: its modelled columns in order, which of them are codes, and each
    code column's type (int64, bool, float64, ...)."""

    columns: tuple[str, ...]
    codes: tuple[str, ...]
    code_types: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "codes": list(self.codes), "code_types": list(self.code_types)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> RecordLayout:
        return cls(tuple(state["columns"]), tuple(state["codes"]), tuple(state["code_types"]))


def _refuse_without_codes(columns: list[str]) -> None:
    raise DataError(
        "a table read as records of codes needs 0/1 code columns, and this one has none",
        values=columns[:5],
        remedy="give a code matrix (synthmed ehr-matrix), or name --patient-column and --codes for histories",
    )


def records_as_histories(table: pd.DataFrame) -> tuple[Histories, RecordLayout]:
    """A validated table -> one-visit histories (record i is patient i) and the layout to write samples in.
    Identifiers and free text are left out with a note, as for any table; a table without 0/1 columns is refused."""
    code_columns = {name for name in table.columns if is_code_column(table[name])}
    if not code_columns:  # refused before any note on the columns
        _refuse_without_codes(list(table.columns))
    schema = infer_schema(table)
    modelled = [column.name for column in schema.columns if column.kind not in EXCLUDED_KINDS]
    codes = [name for name in modelled if name in code_columns]
    if not codes:  # its only 0/1 columns were left out as identifiers
        _refuse_without_codes(modelled)
    ordered = sorted(codes)  # the vocabulary's order, as for codes read from events
    matrix = sparse.csr_array(table[ordered].to_numpy(dtype=np.int8))
    matrix.eliminate_zeros()
    n = len(table)
    attributes = [name for name in modelled if name not in codes]
    histories = Histories(
        roles=HistoryRoles(RECORD, (CODE,), VISIT),
        static=table[attributes].reset_index(drop=True),
        visits=pd.DataFrame(index=range(n)),
        visit_patient=np.arange(n, dtype=np.int64),
        codes=matrix,
        vocabulary=tuple((CODE, name) for name in ordered),
        one_row_per_visit=False,
    )
    types = tuple(str(table[name].dtype) for name in codes)
    layout = RecordLayout(tuple(modelled), tuple(codes), types)
    return histories, layout


def as_records(histories: Histories, layout: RecordLayout) -> pd.DataFrame:
    """Generated one-visit histories -> the table's layout: a code column holds 1 where the patient's visit holds its
    code (a merged rare code, which names no column, is dropped), attributes as generated."""
    n = histories.n_patients
    position = {name: j for j, name in enumerate(layout.codes)}
    column_of = np.array([position.get(code, -1) for _, code in histories.vocabulary], dtype=np.int64)
    coo = sparse.coo_array(histories.codes)
    kept = column_of[coo.col] >= 0 if len(column_of) else np.zeros(0, dtype=bool)
    flags = np.zeros((n, len(layout.codes)), dtype=np.int8)
    flags[histories.visit_patient[coo.row[kept]], column_of[coo.col[kept]]] = 1
    names = np.array(layout.codes, dtype=object)
    types = np.array(layout.code_types, dtype=object)
    parts = [
        pd.DataFrame(flags[:, types == kind].astype(kind), columns=names[types == kind]) for kind in np.unique(types)
    ]
    frame = pd.concat([*parts, histories.static.reset_index(drop=True)], axis=1)
    return frame[[name for name in layout.columns if name in frame.columns]]
