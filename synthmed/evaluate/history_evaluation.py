"""`evaluate` for patient histories: fidelity, utility and privacy with the patient as the unit, judged by the policy.

Fidelity compares HALO's figures and the shape of histories (evaluate/histories.py) with the real holdout's, and
a real-vs-synthetic classifier tries to tell patients apart. Utility and privacy reuse the tabular checks on one
row per patient (`patient_table`): the static attributes, the number of visits and the mean gap, how many visits
hold each of the most frequent codes (and all others together), and the last visit's attributes. Utility predicts
a last-visit attribute (`target`: readmission in Diabetes 130-US) from the rest of the history, trained on
synthetic patients and on real ones, tested on the real holdout. The membership attacks and the distance checks
run on the same rows, so a whole history, not a visit, is what an attacker tries to recognise.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.data.history_rare import rare_values
from synthmed.errors import ConfigError, SynthmedError
from synthmed.evaluate.encoding import EvaluationTables, prepare_tables
from synthmed.evaluate.evaluation import (
    Area,
    Evaluation,
    RareUnit,
    rare_verdict,
    record_privacy_area,
    utility_area,
)
from synthmed.evaluate.histories import MIN_SUPPORT, history_figures
from synthmed.evaluate.policy import Check, Policy, Verdict, limit_check, worst
from synthmed.evaluate.similarity import detection

# codes that get a column of their own in the per-patient table (the most frequent in TRAIN); the rest are counted
PATIENT_CODES = 50
# history figures that are R^2 (higher is better) and distances (lower is better), with their report names
R2_FIGURES = {
    "code_probability_r2": "code probabilities",
    "cooccurrence_r2": "within-visit co-occurrence",
    "consecutive_r2": "consecutive-visit codes",
}
DISTANCE_FIGURES = {"visits_per_patient_tvd": "visits per patient", "codes_per_visit_tvd": "codes per visit"}
OTHER_CODES = "(other codes)"
# why an R^2 figure can be undefined
UNDEFINED = {
    "code_probability_r2": "every code has the same share of visits",
    "cooccurrence_r2": "no visit holds two codes",
    "consecutive_r2": f"no code is in {MIN_SUPPORT} training visits that have a next visit",
}


def _code_name(column: str, code: str) -> str:
    return f"{column}={code}"


def frequent_codes(histories: Histories, count: int = PATIENT_CODES) -> list[tuple[str, str]]:
    """The `count` codes found in most of these histories' visits, most frequent first."""
    held = np.asarray(sparse.csr_array(histories.codes).sum(0)).ravel()
    order = np.argsort(-held, kind="stable")[:count]
    return [tuple(histories.vocabulary[i]) for i in order if held[i] > 0]


def patient_table(histories: Histories, codes: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per patient: static attributes, visits, mean gap (with times), visits holding each of `codes`, other
    codes, and the last visit's attributes (named as the visit columns)."""
    h = histories
    offsets = h.visit_offsets
    counts = np.diff(offsets)
    table = h.static.reset_index(drop=True).copy()
    table["visits"] = counts
    gaps = h.gaps()
    if gaps is not None:
        per_patient = pd.Series(gaps).groupby(h.visit_patient).mean()
        table["mean_gap_days"] = per_patient.reindex(range(h.n_patients)).to_numpy()
    index = {tuple(code): i for i, code in enumerate(h.vocabulary)}
    per_patient_codes = sparse.csr_array(
        sparse.csr_array(
            (np.ones(len(h.visit_patient)), (h.visit_patient, np.arange(len(h.visit_patient)))),
            shape=(h.n_patients, len(h.visit_patient)),
        )
        @ sparse.csr_array(h.codes, dtype=np.float64)
    )
    totals = np.asarray(per_patient_codes.sum(1)).ravel()
    named = np.zeros(h.n_patients)
    for column, code in codes:
        position = index.get((column, code))
        values = per_patient_codes[:, [position]].toarray().ravel() if position is not None else np.zeros(h.n_patients)
        table[_code_name(column, code)] = values
        named += values
    table[OTHER_CODES] = totals - named
    last = offsets[1:][counts > 0] - 1
    visits = h.visits.iloc[last].reset_index(drop=True)
    visits.index = np.flatnonzero(counts > 0)
    return pd.concat([table, visits.reindex(range(h.n_patients))], axis=1)


def _margin_check(name: str, gap: float, detail: str, policy: Policy) -> Check:
    """How far a figure falls behind the real holdout's, judged by the column-shape margins."""
    rules = policy.fidelity
    warn, fail = rules.column_shape_margin_warn, rules.column_shape_margin_fail
    return limit_check(name, gap, warn, fail, higher_is_worse=True, detail=detail)


def _fidelity(figures: dict[str, Any], reference: dict[str, Any], detected: Any, policy: Policy) -> Area:
    rules = policy.fidelity
    checks = [
        _margin_check(
            name,
            float(reference[key] - figures[key]),
            f"R^2 {figures[key]:.3f} (real holdout {reference[key]:.3f})",
            policy,
        )
        if figures[key] is not None and reference[key] is not None
        else Check(name, Verdict.INCONCLUSIVE, UNDEFINED[key])
        for key, name in R2_FIGURES.items()
    ]
    checks += [
        _margin_check(
            name,
            float(figures[key] - reference[key]),
            f"total variation distance {figures[key]:.3f} (real holdout {reference[key]:.3f})",
            policy,
        )
        for key, name in DISTANCE_FIGURES.items()
    ]
    checks.append(
        limit_check(
            "patient detection",
            detected.auc.value,
            rules.detection_auc_warn,
            rules.detection_auc_fail,
            higher_is_worse=True,
            detail=f"real-vs-synthetic patient classifier AUC {detected.auc.value:.3f}",
        )
    )
    document = {"histories": figures, "holdout_histories": reference, "detection": detected.to_dict()}
    return Area(worst([c.verdict for c in checks]), tuple(checks), document)


def _patients_with(histories: Histories, column: str, values: set[str]) -> np.ndarray:
    """The patients (positions) whose history holds one of `values` in `column` (a code column or an attribute)."""
    h = histories
    if column in h.roles.codes:
        coo = sparse.coo_array(h.codes)
        wanted = np.array([c == column and code in values for c, code in h.vocabulary], dtype=bool)
        return np.unique(h.visit_patient[coo.row[wanted[coo.col]]])
    if column in h.static.columns:
        return np.flatnonzero(h.static[column].astype("string").isin(values).to_numpy(dtype=bool, na_value=False))
    if column in h.visits.columns:
        held = h.visits[column].astype("string").isin(values).to_numpy(dtype=bool, na_value=False)
        return np.unique(h.visit_patient[held])
    return np.zeros(0, dtype=np.int64)


def _privacy(tables: EvaluationTables, train: Histories, synthetic: Histories, policy: Policy, seed: int) -> Area:
    """The attacks and distances on whole histories, and the rare values of any code column or attribute."""
    records = record_privacy_area(tables, policy, seed)
    check, figures = rare_value_check(train, synthetic, int(policy.privacy.rare_category_min_count))
    checks = (*records.checks, check)
    return Area(worst([c.verdict for c in checks]), checks, {**records.figures, "rare_values": figures})


def rare_value_check(train: Histories, synthetic: Histories, min_patients: int) -> tuple[Check, dict[str, Any]]:
    """Whether any synthetic patient holds a code or category that fewer than `min_patients` training patients hold,
    and the counts per column (never the values: the report is shared)."""
    per_column = {}
    for column, values in rare_values(train, min_patients).items():
        holders = _patients_with(synthetic, column, values)
        per_column[column] = {"rare_values": len(values), "synthetic_patients": len(holders)}
    remedy = "fit with rare_values='merge' (--rare-values merge, the default) or 'suppress'"
    unit = RareUnit("patient", "a code or category", "training patients", "the training histories have no")
    return rare_verdict("rare values", per_column, unit, min_patients, remedy), per_column


ROLES = ("train", "holdout", "synthetic")


def _histories(table: pd.DataFrame, roles: HistoryRoles, role: str) -> Histories:
    try:
        return read_histories(table, roles)
    except SynthmedError as error:
        raise error.located(f"the {role} table") from None


def read_compared(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, roles: HistoryRoles
) -> dict[str, Histories]:
    """TRAIN, HOLDOUT and the synthetic long tables read as histories, by role (an error names the table)."""
    tables = (train, holdout, synthetic)
    return {role: _histories(table, roles, role) for role, table in zip(ROLES, tables, strict=True)}


def evaluate_histories(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    roles: HistoryRoles,
    *,
    target: str | None = None,
    policy: Policy | None = None,
    seed: int = 0,
) -> Evaluation:
    """Judge synthetic histories (long tables in TRAIN's layout) against TRAIN, with HOLDOUT as the reference."""
    started = time.perf_counter()
    histories = read_compared(train, holdout, synthetic, roles)
    return judge_histories(histories, roles, target=target, policy=policy, seed=seed, started=started)


def judge_histories(
    histories: dict[str, Histories],
    roles: HistoryRoles,
    *,
    target: str | None = None,
    policy: Policy | None = None,
    seed: int = 0,
    started: float | None = None,
) -> Evaluation:
    """`evaluate_histories` on histories already read (`read_compared`); `started`: when reading began, for the
    time the evaluation reports."""
    started = time.perf_counter() if started is None else started
    policy = policy or Policy()
    if target is not None and target not in histories["train"].visits.columns:
        raise ConfigError(
            "the target must be a visit attribute of the histories (its last visit's value is predicted)",
            column=target,
            remedy=f"choose one of {', '.join(map(str, histories['train'].visits.columns))}",
        )
    figures = history_figures(histories["train"], histories["synthetic"])
    reference = history_figures(histories["train"], histories["holdout"])
    codes = frequent_codes(histories["train"])
    frames = [patient_table(histories[role], codes) for role in ROLES]
    tables = prepare_tables(*frames, seed=seed)
    fidelity = _fidelity(figures, reference, detection(tables, seed=seed), policy)
    usefulness = utility_area(tables, target, policy, seed)
    privacy = _privacy(tables, histories["train"], histories["synthetic"], policy, seed)
    about = {
        "data": "histories",
        "rows": {role: histories[role].n_patients for role in histories},
        "visits": {role: len(histories[role].visits) for role in histories},
        "columns": list(frames[0].columns),
        "roles": {"patient": roles.patient, "visit": roles.visit, "time": roles.time, "codes": list(roles.codes)},
        "target": target,
        "seed": seed,
        "policy": policy.to_dict(),
        "seconds": time.perf_counter() - started,
    }
    return Evaluation(fidelity, usefulness, privacy, about)
