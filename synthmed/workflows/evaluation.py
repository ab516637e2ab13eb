"""`evaluate` end to end: three table files in, the verdicts out, written as JSON and a self-contained report."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from synthmed.data.files import check_output, write_text
from synthmed.data.histories import HistoryRoles, read_events
from synthmed.data.io import PLAIN_READING, ReadOptions
from synthmed.data.schema import Schema
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.evaluate.evaluation import Evaluation, evaluate
from synthmed.evaluate.history_evaluation import evaluate_histories
from synthmed.evaluate.policy import Policy
from synthmed.evaluate.timeseries import evaluate_sequences
from synthmed.models.artifact import read_artifact
from synthmed.report import write_report


def evaluate_files(
    train: str | Path,
    holdout: str | Path,
    synthetic: str | Path,
    *,
    report: str | Path | None = None,
    json_output: str | Path | None = None,
    target: str | None = None,
    schema: Schema | str | Path | None = None,
    quasi_identifiers: list[str] | None = None,
    k: int = 5,
    policy: Policy | str | Path | None = None,
    seed: int = 0,
    sequence_id: str | None = None,
    time_column: str | None = None,
    window: int | None = None,
    generator: str | Path | None = None,
    histories: HistoryRoles | None = None,
    reading: ReadOptions = PLAIN_READING,
    overwrite: bool = False,
) -> Evaluation:
    """Judge SYNTHETIC against TRAIN with HOLDOUT as the reference, and write the `report` and/or `json_output`.

    Sequences in long format are judged when `sequence_id`, `time_column` or `window` is given, patient histories in
    long format (as `sample` writes them) when `histories` names their columns (`history_roles`). With
    `generator`, the report also plots the generator's training monitor curve. `schema` and `policy` may be
    files; `reading` says how to read the table files; every output path is checked before anything is read.
    """
    if report is None and json_output is None:
        raise ConfigError("nothing to write", remedy="give -o report.html and/or --json metrics.json")
    for path, example in ((report, "report.html"), (json_output, "metrics.json")):
        if path is not None:
            check_output(path, overwrite=overwrite, example=example)
    schema = Schema.load(schema) if isinstance(schema, str | Path) else schema
    policy = Policy.load(policy) if isinstance(policy, str | Path) else policy
    monitor = training_monitor(generator) if generator is not None else None
    codes = histories.codes if histories is not None else ()
    tables = [read_events(path, reading, codes) for path in (train, holdout, synthetic)]
    if histories is not None:
        refused = {
            "--sequence-id": sequence_id,
            "--window": window,
            "--schema": schema,
            "--quasi-identifiers": quasi_identifiers,
        }
        given = [option for option, value in refused.items() if value]
        if given:
            raise ConfigError("these options do not apply to histories", values=given, remedy="leave them out")
        result = evaluate_histories(*tables, histories, target=target, policy=policy, seed=seed)
    elif sequence_id is None and time_column is None and window is None:
        result = evaluate(
            *tables, target=target, schema=schema, quasi_identifiers=quasi_identifiers, k=k, policy=policy, seed=seed
        )
    else:
        tabular = {"--schema": schema, "--quasi-identifiers": quasi_identifiers}
        result = _evaluate_sequences(tables, sequence_id, time_column, target, window, policy, seed, tabular)
    document = result.to_dict()
    if monitor is not None:
        document["training_monitor"] = monitor
    if json_output is not None:
        write_text(json_output, json.dumps(document, indent=2, allow_nan=False))
    if report is not None:
        write_report(document, report)
    return result


def history_roles(
    patient_column: str | None,
    codes: list[str] | None,
    visit_column: str | None,
    time_column: str | None,
    exclude: list[str] | None = None,
) -> HistoryRoles | None:
    """The columns of histories to evaluate or audit, None when no history option is given (a table or sequences)."""
    if patient_column is None and not codes and visit_column is None:
        return None
    if patient_column is None or not codes:
        raise ConfigError(
            "histories are evaluated and audited with both --patient-column and --codes",
            remedy="e.g. --patient-column patient_nbr --codes diag_1,diag_2,diag_3 --visit-column encounter_id",
        )
    return HistoryRoles(patient_column, tuple(codes), visit_column, time_column, tuple(exclude or ()))


def describe_evaluation(document: Mapping[str, Any]) -> list[str]:
    """One line per area's verdict, then one per check, from an evaluation as `Evaluation.to_dict()` (or
    evaluation.json) holds it."""
    lines = []
    for name in ("fidelity", "utility", "privacy"):
        area = document[name]
        lines.append(f"{name:<9} {area['verdict'].upper()}")
        lines += [f"  {check['verdict']:<12} {check['name']}: {check['reason']}" for check in area["checks"]]
    return lines


def training_monitor(path: str | Path) -> dict[str, Any] | None:
    """A generator's monitor curve and settings for the report, or None (with a note) when it has none."""
    meta, _ = read_artifact(path)
    curve = (meta.get("history") or {}).get("monitor")
    if not curve:
        warnings.warn(
            f"{path} has no training monitor curve (fit it with --monitor-every K to get one)",
            SynthmedWarning,
            stacklevel=2,
        )
        return None
    return {"model": meta.get("model"), **(meta.get("monitor") or {}), "curve": curve}


def _evaluate_sequences(
    tables: list[pd.DataFrame],
    sequence_id: str | None,
    time_column: str | None,
    target: str | None,
    window: int | None,
    policy: Policy | None,
    seed: int,
    tabular_options: dict[str, object],
) -> Evaluation:
    """The three tables hold sequences in long format (`--sequence-id COL --time COL`)."""
    if sequence_id is None or time_column is None:
        raise ConfigError(
            "sequences need both --sequence-id and --time", remedy="e.g. --sequence-id sequence --time step"
        )
    given = [option for option, value in tabular_options.items() if value]
    if given:
        raise ConfigError("these options apply to tables, not sequences", values=given, remedy="leave them out")
    return evaluate_sequences(
        *tables,
        sequence_column=sequence_id,
        time_column=time_column,
        target=target,
        window_length=window,
        policy=policy,
        seed=seed,
    )
