"""The canary audit for patient histories: workflows/audit.py's design with the patient as the unit.

A canary is a history no patient has: a real patient's skeleton (visit count, times, attributes) whose codes are
replaced by uniform draws among the codes at least k patients hold, each in its code column (so a visit keeps its
number of codes, and the rare-value treatment at fit cannot erase a canary's codes); of four such draws per canary,
the distinct code combinations that no real patient holds are kept, farthest from the real patients first.
Canaries are inserted once, 2, 4, 8 and 16 times (as that many patients), many more are drawn alike and never
inserted, and the model is trained on the real histories plus the inserted ones. A canary's distance to the
synthetic data is the Jaccard distance between its set of codes (over all its visits, each with its column) and the
closest synthetic patient's: 0 when some synthetic patient holds exactly its combination. Exposure and the
empirical epsilon are the table audit's. The trained model is discarded; the result holds aggregates only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.files import check_output, write_text
from synthmed.data.histories import Histories, HistoryRoles, joined, read_events, read_histories, to_long
from synthmed.data.history_rare import DEFAULT_MIN_PATIENTS, code_holders
from synthmed.data.io import PLAIN_READING, ReadOptions
from synthmed.data.schema import Schema
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.training import cpu_threads
from synthmed.workflows.audit import CANARY_POOL, AuditResult, audit_file, audit_result, canary_counts
from synthmed.workflows.training import select_model

# synthetic patients compared with all canaries at once (bounds the canaries x patients overlap matrix)
DISTANCE_CHUNK = 4096


def patient_codes(histories: Histories, vocabulary: dict[tuple[str, str], int]) -> sparse.csr_array:
    """Patients x `vocabulary` 0/1: the codes each patient's visits hold (codes outside `vocabulary` left out)."""
    coo = sparse.coo_array(histories.codes)
    index = np.array([vocabulary.get(tuple(pair), -1) for pair in histories.vocabulary], dtype=np.int64)
    known = index[coo.col] >= 0
    held = sparse.csr_array(
        (np.ones(int(known.sum())), (histories.visit_patient[coo.row[known]], index[coo.col[known]])),
        shape=(histories.n_patients, len(vocabulary)),
    )
    held.sum_duplicates()
    held.data[:] = 1
    return held


def _distinct_codes(histories: Histories) -> np.ndarray:
    """How many distinct codes each patient holds (any code, also ones outside a compared vocabulary)."""
    coo = sparse.coo_array(histories.codes)
    pairs = np.unique(histories.visit_patient[coo.row].astype(np.int64) * len(histories.vocabulary) + coo.col)
    return np.bincount(pairs // len(histories.vocabulary), minlength=histories.n_patients)


def nearest_jaccard(canaries: sparse.csr_array, others: sparse.csr_array, other_sizes: np.ndarray) -> np.ndarray:
    """Each canary's Jaccard distance to the closest of `others` (their code sets; `other_sizes` their sizes)."""
    sizes = np.asarray(canaries.sum(1)).ravel()
    nearest = np.ones(canaries.shape[0])
    for start in range(0, others.shape[0], DISTANCE_CHUNK):
        block = others[start : start + DISTANCE_CHUNK]
        shared = (canaries @ block.T).toarray()
        union = sizes[:, None] + other_sizes[None, start : start + DISTANCE_CHUNK] - shared
        distance = 1.0 - shared / np.maximum(union, 1)
        nearest = np.minimum(nearest, distance.min(1, initial=1.0))
    return nearest


def draw_history_canaries(histories: Histories, count: int, min_patients: int, rng: np.random.Generator) -> Histories:
    """`count` histories no patient has, each with a code set of its own (see the module's docstring): of 4 draws
    per canary, the distinct ones farthest from the real patients."""
    h = histories
    common = code_holders(h) >= min_patients
    columns = np.array([column for column, _ in h.vocabulary], dtype=object)
    choices = {column: np.flatnonzero(common & (columns == column)) for column in h.roles.codes}
    if sum(len(c) for c in choices.values()) < 2:
        raise ConfigError(
            f"fewer than 2 codes are held by {min_patients} patients: no canary could be told from another",
            remedy="audit more patients",
        )
    templates = h.take(rng.integers(h.n_patients, size=count * CANARY_POOL))
    coo = sparse.coo_array(templates.codes)
    drawn = np.full(len(coo.col), -1, dtype=np.int64)
    for column, pool in choices.items():
        mine = columns[coo.col] == column
        if len(pool):
            drawn[mine] = pool[rng.integers(len(pool), size=int(mine.sum()))]
    kept = drawn >= 0
    codes = sparse.csr_array(
        (np.ones(int(kept.sum()), np.int8), (coo.row[kept], drawn[kept])), shape=templates.codes.shape
    )
    codes.sum_duplicates()
    codes.data[:] = 1
    pool = replace(templates, codes=codes)
    vocabulary = {tuple(pair): i for i, pair in enumerate(h.vocabulary)}
    sets = patient_codes(pool, vocabulary)
    distance = nearest_jaccard(sets, patient_codes(h, vocabulary), _distinct_codes(h))
    _, first = np.unique(sets.toarray().astype(bool), axis=0, return_index=True)  # one canary per code set
    usable = first[distance[first] > 0]  # and none that a real patient holds
    if len(usable) < count:
        raise ConfigError(
            f"these histories hold too few distinct code combinations for {count} canaries ({len(usable)} drawn)",
            remedy="audit with fewer canaries (--once, --repeated, --reference)",
        )
    farthest = np.sort(usable[np.argsort(-distance[usable], kind="stable")[:count]])
    return pool.take(farthest)


def audit_histories(
    events: pd.DataFrame,
    roles: HistoryRoles,
    model: Synthesizer,
    *,
    once: int = 32,
    per_repetition: int = 4,
    reference: int = 256,
    patients: int | None = None,
    seed: int = 0,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
    progress: bool = True,
    **fit_options: Any,
) -> AuditResult:
    """Insert canary histories among the real ones in `events`, fit the history `model` on them (privately with
    `dp_epsilon`; `fit_options`: the model's history options, e.g. rare_values), generate `patients` histories
    (default: as many as trained on) and measure how the canaries' code combinations were reproduced."""
    counts = canary_counts(once, per_repetition, reference)
    real = read_histories(events, roles)
    rng = np.random.default_rng(seed)
    min_patients = int(fit_options.get("min_patients", DEFAULT_MIN_PATIENTS))
    canaries = draw_history_canaries(real, len(counts), min_patients, rng)
    inserted = canaries.take(np.repeat(np.arange(len(counts)), counts))
    augmented = to_long(joined(real, inserted))
    model.fit(
        augmented,
        patient_column=roles.patient,
        codes=list(roles.codes),
        visit_column=roles.visit,
        time=roles.time,
        progress=progress,
        dp_epsilon=dp_epsilon,
        dp_delta=dp_delta,
        **fit_options,
    )
    synthetic = read_histories(model.sample(patients or real.n_patients + inserted.n_patients, seed=seed), roles)
    vocabulary = {tuple(pair): i for i, pair in enumerate(real.vocabulary)}
    distances = nearest_jaccard(
        patient_codes(canaries, vocabulary), patient_codes(synthetic, vocabulary), _distinct_codes(synthetic)
    )
    sizes = (real.n_patients, inserted.n_patients, synthetic.n_patients)
    return audit_result(model, distances, counts, sizes, unit="patients")


def audit_histories_file(
    data: Any,
    roles: HistoryRoles,
    model: str | Synthesizer = "auto",
    *,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    threads: int | None = None,
    output: str | Path | None = None,
    reading: ReadOptions = PLAIN_READING,
    overwrite: bool = False,
    fit_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> AuditResult:
    """`audit_histories` of the events in `data` (a file, a frame or a database table, in the long layout `sample`
    writes), the result written as JSON to `output`; `options` are `audit_histories`'s, `fit_options` the model's
    history options (rare_values, min_patients)."""
    if output is not None:
        check_output(output, overwrite=overwrite, example="audit.json")
    selection = select_model(model, None, preset=preset, settings=settings, histories=True)
    if selection.model.data_kind() != "histories":
        raise ConfigError(
            f"the history options describe patient histories; {selection.model.name} learns "
            f"{selection.model.data_kind()}",
            remedy="audit with --model visitgpt (or auto)",
        )
    selection.model.selection_ = selection.record
    events = read_events(data, reading, roles.codes)
    with cpu_threads(threads):
        result = audit_histories(events, roles, selection.model, **options, **(fit_options or {}))
    if output is not None:
        write_text(output, json.dumps(result.to_dict(), indent=2))
    return result


def audit_data(
    data: Any,
    model: str | Synthesizer = "auto",
    *,
    roles: HistoryRoles | None,
    schema: Schema | str | Path | None = None,
    rows: int | None = None,
    history_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> AuditResult:
    """What `synthmed audit` runs: `audit_histories_file` for events when `roles` names their columns, else
    `audit_file` for a table. `history_options` are the history flags given (--time, --exclude, --rare-values,
    --min-patients: their values, None when absent), refused without `roles`; a schema is refused with them."""
    given = {flag: value for flag, value in (history_options or {}).items() if value is not None}
    if roles is None:
        if given:
            raise ConfigError(
                "these options describe patient histories",
                values=list(given),
                remedy="name the patient and the code columns too (--patient-column, --codes)",
            )
        return audit_file(data, model, schema=schema, rows=rows, **options)
    if schema is not None:
        raise ConfigError("a history audit takes no --schema: visitgpt infers each attribute", remedy="leave it out")
    fit_options = {
        name: given[flag]
        for name, flag in (("rare_values", "--rare-values"), ("min_patients", "--min-patients"))
        if flag in given
    }
    return audit_histories_file(data, roles, model, patients=rows, fit_options=fit_options, **options)
