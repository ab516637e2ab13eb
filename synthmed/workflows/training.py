"""`fit` and `sample` end to end: a table (sequences, patient histories) in, a saved generator out, and back to a
table file.

The CLI's `fit` and `sample` are these two functions; a Python user gets the same checks (outputs before any work,
sequence options only for sequence models, history options only for history models) and the same files.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.database import DatabaseDestination
from synthmed.data.files import check_folder
from synthmed.data.io import PLAIN_READING, ReadOptions, check_table_output, is_table_source, write_table_blocks
from synthmed.data.schema import Schema
from synthmed.data.sparse import check_sparse_output, sparse_source, write_sparse_blocks
from synthmed.data.timeseries import to_long
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.models.artifact import check_output_path
from synthmed.models.auto import choose_model
from synthmed.models.base import Synthesizer
from synthmed.models.distributed import writes_outputs
from synthmed.models.presets import get_preset
from synthmed.models.registry import configure, model_entry
from synthmed.models.training import cpu_threads


@dataclass(frozen=True)
class Selection:
    """The model to train, the data to train it on (the table read to choose it, or the data as given), and the
    record of the choice that model.json keeps: the model asked for, the model and preset used, and why."""

    model: Synthesizer
    data: Any
    record: dict[str, Any] | None


def select_model(
    model: str | Synthesizer,
    data: Any,
    *,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    sequences: bool = False,
    histories: bool = False,
    schema: Schema | str | Path | None = None,
    reading: ReadOptions = PLAIN_READING,
) -> Selection:
    """The model a command trains: `model` itself, a registered model by name, or `auto`, chosen from the data
    (models/auto.py; `sequences` and `histories` say what the data holds, and `data` is then not read); a named
    `preset` (models/presets.py) sets its hyperparameters, and `settings` override them."""
    if isinstance(model, Synthesizer):
        if preset is not None or settings:
            raise ConfigError("a preset or settings apply to a model name, not to a model object")
        return Selection(model, data, None)
    chosen = get_preset(preset) if preset is not None else None
    table = None
    reason = None
    if model == "auto" and chosen is None:
        table = None if sequences or histories else _as_data(data, reading)
        declared = Schema.load(schema) if isinstance(schema, str | Path) else schema
        with warnings.catch_warnings():  # the notes about the data come once, when the chosen model reads it
            warnings.simplefilter("ignore", SynthmedWarning)
            choice = choose_model(table, schema=declared, sequences=sequences, histories=histories)
        name, preset, reason = choice.model, choice.preset, choice.reason
        chosen = get_preset(preset) if preset is not None else None
    elif model == "auto":
        name, reason = chosen.model, f"preset {chosen.name}"
    else:
        name = model_entry(model).name
        if chosen is not None and chosen.model != name:
            raise ConfigError(
                f"preset {chosen.name!r} is for {chosen.model}, not {name}",
                remedy=f"use --model {chosen.model} (or auto) with this preset",
            )
    params: dict[str, Any] = {}
    if chosen is not None:
        if chosen.budgets and table is None:
            table = _as_data(data, reading)
        params = chosen.hyperparameters(len(table) if table is not None else 0)
    params.update(settings or {})
    record = {"requested": model, "model": name, "preset": preset, "reason": reason}
    return Selection(configure(name, params), table if table is not None else data, record)


def _as_data(data: Any, reading: ReadOptions) -> Any:
    """A table file read (once: the model is then trained on what was read; a sparse code matrix stays sparse), or
    the data as given."""
    codes = sparse_source(data)
    if codes is not None:
        return codes
    return reading.read(data) if is_table_source(data) else data


def describe_selection(record: dict[str, Any] | None) -> str | None:
    """One line: the model trained and why (None when the caller built the model itself)."""
    if record is None:
        return None
    preset = f" (preset {record['preset']})" if record["preset"] else ""
    reason = f": {record['reason']}" if record["reason"] and record["requested"] == "auto" else ""
    return f"model {record['model']}{preset}, {record['requested']}{reason}"


@dataclass(frozen=True)
class Fitted:
    """A trained generator, where it was saved (None on the ranks of a torchrun that do not write), and how long
    training took."""

    model: Synthesizer
    path: Path | None
    seconds: float


def fit(
    data: Any,
    model: str | Synthesizer = "auto",
    *,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    sequence_id: str | None = None,
    time_column: str | None = None,
    window: int | None = None,
    patient_column: str | None = None,
    codes: Sequence[str] | None = None,
    visit_column: str | None = None,
    visits: Any = None,
    patients: Any = None,
    exclude: Sequence[str] | None = None,
    rare_values: str | None = None,
    min_patients: int | None = None,
    groups: Any = None,
    **fit_options: Any,
) -> Synthesizer:
    """Choose, configure and train a model on `data`: `synthmed.fit("heart.csv")` trains what `auto` picks.

    `model` is a model, a registered model's name, or "auto" (chosen from the data, see `select_model`), with a
    named `preset` and hyperparameter `settings`. `sequence_id`, `time_column` and `window` describe sequences;
    `patient_column`, `codes`, `visit_column` and/or `time_column`, the `visits` and `patients` tables and the
    `exclude`d columns describe patient histories (`data` then holds their events), with what becomes of values
    fewer than `min_patients` patients hold (`rare_values`, data/history_rare.py) and code `groups`. Each set is
    refused for a model of another kind, before any data is read; `fit_options` are `Synthesizer.fit`'s. The
    choice and its reason are kept in `selection_` (and model.json).
    """
    described = {
        "patient_column": patient_column,
        "codes": _listed(codes),
        "visit_column": visit_column,
        "visits": visits,
        "patients": patients,
        "exclude": _listed(exclude),
        "rare_values": rare_values,
        "min_patients": min_patients,
        "groups": groups,
    }
    history_options = {name: value for name, value in described.items() if value is not None}
    described = {"sequence_id": sequence_id, "window": window}
    sequence_options = {name: value for name, value in described.items() if value is not None}
    # --time orders a sequence's steps or a patient's visits: with history options (or for visitgpt), the visits
    sequence_time = time_column is not None and not history_options
    reading = ReadOptions(fit_options.get("na_values"), fit_options.get("encoding"), fit_options.get("decimal"))
    selection = select_model(
        model,
        data,
        preset=preset,
        settings=settings,
        sequences=bool(sequence_options) or sequence_time,
        histories=bool(history_options),
        schema=fit_options.get("schema"),
        reading=reading,
    )
    chosen = selection.model
    kind = chosen.data_kind()
    if kind != "sequences" and (sequence_options or (sequence_time and kind == "table")):
        raise ConfigError(
            f"--sequence-id, --time and --window describe sequences, which {chosen.name} does not model",
            remedy="use --model tsgan for time series"
            + (" (patient histories take --time, not --sequence-id or --window)" if kind == "histories" else ""),
        )
    if history_options and not chosen.learns("histories"):
        raise ConfigError(
            "--patient-column, --codes, --visit-column, --visits, --patients, --exclude, --rare-values, "
            f"--min-patients and --groups describe patient histories, which {chosen.name} does not model",
            values=[f"--{name.replace('_', '-')}" for name in history_options],
            remedy="use --model visitgpt (or auto) for patient histories",
        )
    if kind == "histories" and (history_options or time_column is not None):
        options = _history_options(chosen.name, history_options, time_column)
    elif kind == "histories":  # a table of records, which the model reads as one-visit histories
        options = {}
    else:
        options = sequence_options | ({"time": time_column} if time_column is not None else {})
    chosen.selection_ = selection.record
    return chosen.fit(selection.data, **fit_options, **options)


def _listed(names: str | Sequence[str] | None) -> list[str] | None:
    """Column names as a list (one name given as text is one name); None when there are none."""
    listed = [names] if isinstance(names, str) else list(names or [])
    return listed or None


def _history_options(model: str, options: dict[str, Any], time_column: str | None) -> dict[str, Any]:
    """The options a model of histories is fitted with; the patient and the code columns must be named."""
    absent = [f"--{name.replace('_', '-')}" for name in ("patient_column", "codes") if name not in options]
    if absent:
        raise ConfigError(
            f"{model} learns patient histories from events: name the patient column and the code columns",
            values=absent,
            remedy="e.g. --patient-column subject_id --codes icd9_code --visit-column hadm_id --time admittime",
        )
    return {**options, "time": time_column}


def fit_to_file(
    data: Any,
    output: str | Path,
    model: str | Synthesizer = "auto",
    *,
    threads: int | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Fitted:
    """`fit` on `threads` CPU threads, the trained model saved to `output` (.smg); the output paths (and a
    checkpoint folder) are checked before the model is chosen or any data read. Under torchrun, rank 0 alone
    writes the file (the other ranks return their identical model with no path)."""
    check_output_path(output, overwrite=overwrite)
    if options.get("checkpoint") is not None:
        check_folder(options["checkpoint"])
    started = time.perf_counter()
    with cpu_threads(threads):
        trained = fit(data, model, **options)
    seconds = time.perf_counter() - started
    path = trained.save(output, overwrite=overwrite) if writes_outputs() else None
    return Fitted(trained, path, seconds)


def describe_fit(fitted: Fitted) -> list[str]:
    """What `synthmed fit` prints: the data's shape, time, seed and threads, and any privacy spent."""
    model = fitted.model
    chosen = describe_selection(model.selection_)
    transformer = model.transformer_
    kind = model.data_kind()
    if kind == "histories" and model.generates() == "table":
        columns, codes = len(transformer.records_.columns), len(transformer.vocabulary_)
        shape = f"{model.n_rows_} records x {columns} columns as one-visit histories ({codes} codes)"
    elif kind == "histories":
        attributes = len(model.schema_.columns)
        shape = f"{model.n_rows_} patients' histories ({len(transformer.vocabulary_)} codes, {attributes} attributes)"
    elif kind == "sequences":
        shape = f"{model.n_rows_} sequences x {transformer.steps_} steps x {len(transformer.columns)} channels"
    else:
        width = len(transformer.columns)
        shape = f"{model.n_rows_} rows x {width} columns ({transformer.layout_.width} dimensions)"
    lines = [chosen] if chosen is not None else []
    lines += [
        f"{model.name} trained on {shape} in {fitted.seconds:.1f} s; seed {model.seed_}, {model.threads_} CPU "
        f"threads; saved to {fitted.path}"
    ]
    if model.privacy_ is not None:
        spent = model.privacy_
        steps = ", ".join(f"{phase['steps']} {name} steps" for name, phase in spent["phases"].items())
        lines.append(
            f"differential privacy: epsilon {spent['epsilon']:.3f} spent of {spent['target_epsilon']:g}, "
            f"delta {spent['delta']:.2g} (noise multiplier {spent['noise_multiplier']:.3f}; {steps})"
        )
    return lines


def sample_to_file(
    generator: str | Path,
    rows: int,
    output: str | Path | DatabaseDestination,
    *,
    seed: int | None = None,
    conditions: dict[str, Any] | None = None,
    proportions: dict[str, dict[Any, float]] | None = None,
    threads: int | None = None,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Generate `rows` rows (sequences, in long format; for a model of histories, `rows` patients' histories in their
    events' layout) from a saved generator into a CSV/Parquet `output`, or into a database table (a
    `DatabaseDestination`, written in one transaction). Table rows (and histories) are generated and
    written block by block (`Synthesizer.sample_blocks`), so memory does not grow with `rows`; a generator fitted on
    a sparse code matrix writes a sparse Parquet file (data/sparse.py). Returns the rows and columns written."""
    if isinstance(output, DatabaseDestination):
        output.check()
    else:
        check_table_output(output, overwrite=overwrite)
    model = Synthesizer.load(generator)
    if model.input_format_ == "sparse":
        if isinstance(output, DatabaseDestination):
            raise ConfigError(
                "a generator of sparse code matrices writes a sparse Parquet file, not a database table",
                remedy="sample into a .parquet file (-o synthetic.parquet)",
            )
        check_sparse_output(output)
    with cpu_threads(threads):
        if model.input_format_ == "sparse":
            counted = _RowCounter(model.sample_blocks(rows, seed=seed, conditions=conditions, proportions=proportions))
            write_sparse_blocks(counted, output, overwrite=overwrite)
            return counted.rows, counted.columns
        if model.generates() == "sequences":
            sequences = model.sample(rows, seed=seed, conditions=conditions, proportions=proportions)
            long = to_long(sequences, model.transformer_.columns) if isinstance(sequences, np.ndarray) else sequences
            blocks: Any = [long]
        else:
            blocks = (
                block if isinstance(block, pd.DataFrame) else pd.DataFrame(block, columns=model.transformer_.columns)
                for block in model.sample_blocks(rows, seed=seed, conditions=conditions, proportions=proportions)
            )
        counted = _RowCounter(blocks)
        if isinstance(output, DatabaseDestination):
            output.write(counted)
        else:
            write_table_blocks(counted, output, overwrite=overwrite)
        return counted.rows, counted.columns


class _RowCounter:
    """The blocks passed through, their rows and columns counted."""

    def __init__(self, blocks: Any) -> None:
        self.blocks, self.rows, self.columns = blocks, 0, 0

    def __iter__(self) -> Iterator[Any]:
        for block in self.blocks:
            self.rows, self.columns = self.rows + len(block), block.shape[1]
            yield block
