"""Code groups in histories: each visit's codes replaced by the named groups they fall in (data/code_groups.py).

Studies model conditions, not single ICD codes; a groups file names them by code prefixes. In a history a code
becomes, within its column, every group one of whose prefixes it starts with (compared as code_groups.py cleans
codes), and a code in no group is dropped: `diag_1=42731` becomes `diag_1=atrial_fibrillation`. A visit holds each
group once. Where the input had one row per visit, a column holds one code per visit, so groups that would give one
visit's code two groups are refused.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.code_groups import clean_codes
from synthmed.data.histories import SHOWN_ROWS, Histories
from synthmed.errors import DataError


def grouped_histories(histories: Histories, groups: dict[str, tuple[str, ...]]) -> Histories:
    """`histories` with codes replaced by their groups, per code column (see the module's docstring)."""
    h = histories
    columns = np.array([column for column, _ in h.vocabulary], dtype=object)
    cleaned = clean_codes(pd.Series([code for _, code in h.vocabulary], dtype="string"))
    vocabulary = [(column, group) for column in h.roles.codes for group in groups]
    index = {pair: i for i, pair in enumerate(vocabulary)}
    old, new = [], []
    for group, prefixes in groups.items():
        hit = np.flatnonzero(cleaned.str.startswith(prefixes).fillna(False).to_numpy(dtype=bool))
        old.append(hit)
        new.append(np.array([index[(column, group)] for column in columns[hit]], dtype=np.int64))
    mapping = sparse.csr_array(
        (np.ones(sum(len(o) for o in old)), (np.concatenate(old), np.concatenate(new))),
        shape=(len(h.vocabulary), len(vocabulary)),
    )
    if h.one_row_per_visit:
        _refuse_overlaps(h, mapping, groups)
    codes = sparse.csr_array(sparse.csr_array(h.codes, dtype=np.float64) @ mapping)
    codes.data[:] = 1
    kept = np.flatnonzero(np.asarray(codes.sum(0)).ravel() > 0)  # groups no visit holds stay out of the vocabulary
    return replace(
        h,
        codes=sparse.csr_array(codes[:, kept].astype(np.int8)),
        vocabulary=tuple(vocabulary[i] for i in kept),
    )


def _refuse_overlaps(h: Histories, mapping: sparse.csr_array, groups: dict[str, tuple[str, ...]]) -> None:
    """With one row per visit, a code must fall in at most one group (its column holds one code per visit)."""
    per_code = np.asarray(mapping.sum(1)).ravel()
    doubled = np.flatnonzero(per_code > 1)
    if not len(doubled):
        return
    held = np.flatnonzero(np.asarray(sparse.csr_array(h.codes)[:, doubled].sum(0)).ravel() > 0)
    if not len(held):
        return
    names = list(groups)
    shown = [
        f"{h.vocabulary[code][1]} ({', '.join(names[j % len(names)] for j in mapping[[code]].indices)})"
        for code in doubled[held][:SHOWN_ROWS]
    ]
    raise DataError(
        "with one row per visit a code column holds one code per visit, but these codes fall in several groups",
        column=h.vocabulary[doubled[held][0]][0],
        values=shown,
        remedy="make the groups' prefixes disjoint",
    )
