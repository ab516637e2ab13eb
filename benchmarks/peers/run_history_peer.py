"""Fit one peer's sequential synthesizer on long-form patient histories and write its patients; run with the peer's
own virtualenv (benchmarks/histories.py starts it, one process per model).

    .venvs/mostly/bin/python run_history_peer.py tabularargn train.csv 3355 out.csv --patient patient_nbr \
        --visit encounter_id --codes diag_1 diag_2 diag_3 --context examide --context citoglipton --threads 2
    .venvs/sdv/bin/python run_history_peer.py par train.csv 3355 out.csv ... --epochs 16

The training table has one row per visit: the patient id, the visit id (whose order within a patient is the visits'
order; there is no time column), the code columns (read as text) and attributes. `--context` names the patient-level
attributes (constant within every patient; the caller works them out); every other attribute belongs to a visit.
- tabularargn (mostlyai-engine): two TabularARGN models, as MOSTLY AI's SDK builds a subject table with a linked
  sequence table: a flat one on the subject table (one row per patient, the context columns) and a sequential one on
  the visits (visit attributes and codes, in visit order) with that subject table as its context (tgt_context_key =
  ctx_primary_key = the patient column). Sampling draws the subjects from the flat model, then their visits from the
  sequential one. (`TabularARGN.sample(n)` alone would reuse n real training subjects as the context.)
- par (SDV PARSynthesizer): one table with sequence_key = the patient column, no sequence index (the rows' order
  within a patient is the order PAR learns), context_columns = the context columns (PAR draws them from its own
  GaussianCopula).
The visit id is not modelled by either; the sampled table gets the training table's columns back, patients numbered
1..n in generated order and visit ids 1.. in generated order (increasing within each patient).

Prints one JSON line: fit and sample seconds, the epochs trained, the peer's version, the torch threads and the
process's peak resident memory (`peak_mib`, as run_peer.py). Peers keep their own defaults except what the options
set: --epochs (TabularARGN's max_epochs for both of its models: it stops early when its validation loss stops
improving; PAR's epochs, default 128), --threads (torch's CPU threads).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from run_peer import parsed, report

Sampler = Callable[[int], pd.DataFrame]
# a fit: the visits table in (ordered by patient, then visit); a sampler of n patients' visits and the epochs out
Fit = Callable[[pd.DataFrame], tuple[Sampler, dict[str, int | None] | int | None]]


def argn_epochs(workspace: str) -> int | None:
    """The last epoch of the engine's progress log in its workspace: how far training went before it stopped."""
    messages = Path(workspace) / "ModelStore" / "model-data" / "progress-messages.csv"
    return int(pd.read_csv(messages)["epoch"].max()) if messages.exists() else None


def tabularargn_fit(patient: str, context: list[str], epochs: int | None, seed: int) -> Fit:
    """mostlyai-engine's TabularARGN in its two-table (subject and sequence) setting, imported before the clock."""
    from mostlyai.engine import TabularARGN

    options = {"max_epochs": epochs} if epochs else {}

    def fit(table: pd.DataFrame) -> tuple[Sampler, dict[str, int | None]]:
        subjects = table.groupby(patient, sort=False)[context].first().reset_index()
        visits = table.drop(columns=context)
        flat = None
        if context:  # without patient-level columns there is nothing to learn about a subject but its id
            flat = TabularARGN(random_state=seed, **options)
            flat.fit(subjects.drop(columns=[patient]))
        sequential = TabularARGN(
            tgt_context_key=patient, ctx_data=subjects, ctx_primary_key=patient, random_state=seed, **options
        )
        sequential.fit(visits)
        trained = {"visits": argn_epochs(sequential.workspace_path_)}
        if flat is not None:
            trained = {"subjects": argn_epochs(flat.workspace_path_)} | trained

        def sample(n: int) -> pd.DataFrame:
            drawn = flat.sample(n_samples=n) if flat is not None else pd.DataFrame(index=range(n))
            drawn.insert(0, patient, np.arange(1, n + 1))
            sequential.sample(ctx_data=drawn)
            # sample() returns its rows sorted by the context key with an unstable sort, which shuffles the visits
            # within a patient; the engine writes them in generation order (step by step), so a stable sort of
            # its output files keeps each patient's visits in the order they were generated
            parts = sorted((Path(sequential.workspace_path_) / "SyntheticData").glob("*.parquet"))
            generated = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
            generated = generated.sort_values(patient, kind="stable", ignore_index=True)
            return generated.merge(drawn, on=patient, how="left")

        return sample, trained

    return fit


def par_fit(patient: str, context: list[str], codes: list[str], epochs: int | None) -> Fit:
    """SDV's PARSynthesizer, imported here so that its import is not timed as part of the fit."""
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    def fit(table: pd.DataFrame) -> tuple[Sampler, int | None]:
        metadata = Metadata.detect_from_dataframes({"table": table})
        metadata.update_column(patient, table_name="table", sdtype="id")
        metadata.set_sequence_key(patient, table_name="table")
        # the codes are categories; detection would take a high-cardinality text column for an id or for free text
        for column in codes:
            metadata.update_column(column, table_name="table", sdtype="categorical")
        synthesizer = PARSynthesizer(metadata, context_columns=context, **({"epochs": epochs} if epochs else {}))
        synthesizer.fit({"table": table})  # SDV 2 takes (and returns) a mapping of table name to rows
        return lambda n: synthesizer.sample_sequences(n)["table"], synthesizer.get_parameters()["epochs"]

    return fit


def to_long(generated: pd.DataFrame, columns: list[str], patient: str, visit: str) -> pd.DataFrame:
    """The peer's visits in the training table's columns: patients 1..n and visit ids 1.. in generated order."""
    table = generated.reset_index(drop=True)
    table[patient] = pd.factorize(table[patient])[0] + 1
    table[visit] = np.arange(1, len(table) + 1)
    return table[columns]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["tabularargn", "par"])
    parser.add_argument("train")
    parser.add_argument("patients", type=int)
    parser.add_argument("output")
    parser.add_argument("--patient", required=True, help="the patient id column")
    parser.add_argument("--visit", required=True, help="the visit id column, in time order within a patient")
    parser.add_argument("--codes", nargs="+", required=True, help="the code columns")
    parser.add_argument("--context", action="append", default=[], help="a patient-level column (repeat)")
    parser.add_argument("--epochs", type=int, default=None)
    args = parsed(parser)
    table = pd.read_csv(args.train, dtype={column: str for column in args.codes})
    columns = list(table.columns)
    visits = table.sort_values([args.patient, args.visit], kind="stable", ignore_index=True).drop(columns=args.visit)
    if args.peer == "tabularargn":
        fit = tabularargn_fit(args.patient, args.context, args.epochs, args.seed)
    else:
        fit = par_fit(args.patient, args.context, args.codes, args.epochs)
    started = time.perf_counter()
    sample, epochs = fit(visits)
    fitted = time.perf_counter()
    generated = sample(args.patients)
    sampled = time.perf_counter()
    to_long(generated, columns, args.patient, args.visit).to_csv(args.output, index=False)
    report(args.peer, (started, fitted, sampled), epochs)


if __name__ == "__main__":
    main()
