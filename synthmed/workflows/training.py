"""`fit` and `sample` end to end: a table (or sequences) in, a saved generator out, and back to a table file.

The CLI's `fit` and `sample` are these two functions; a Python user gets the same checks (outputs before any work,
sequence options only for sequence models) and the same files.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.files import check_folder
from synthmed.data.io import check_table_output, write_table
from synthmed.data.timeseries import to_long
from synthmed.errors import ConfigError
from synthmed.models.artifact import check_output_path
from synthmed.models.base import Synthesizer
from synthmed.models.registry import configure
from synthmed.models.training import cpu_threads


@dataclass(frozen=True)
class Fitted:
    """A trained generator, where it was saved, and how long training took."""

    model: Synthesizer
    path: Path
    seconds: float


def fit_to_file(
    model: str | Synthesizer,
    data: Any,
    output: str | Path,
    *,
    settings: Mapping[str, Any] | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    sequence_id: str | None = None,
    time_column: str | None = None,
    window: int | None = None,
    **fit_options: Any,
) -> Fitted:
    """Train `model` on `data` and save it to `output` (.smg); `fit_options` are `Synthesizer.fit`'s.

    `model` is a model, or a registered model's name with its hyperparameter `settings` (models/registry.py:
    configure), built once the output paths are checked. `sequence_id`, `time_column` and `window` describe
    sequences and are refused for a model of tables.
    """
    check_output_path(output, overwrite=overwrite)
    if fit_options.get("checkpoint") is not None:
        check_folder(fit_options["checkpoint"])
    model = configure(model, settings or {}) if isinstance(model, str) else model
    described = {"sequence_id": sequence_id, "time": time_column, "window": window}
    sequence_options = {name: value for name, value in described.items() if value is not None}
    if sequence_options and model.data_kind() != "sequences":
        raise ConfigError(
            f"--sequence-id, --time and --window describe sequences, which {model.name} does not model",
            remedy="use --model tsgan for time series",
        )
    started = time.perf_counter()
    with cpu_threads(threads):
        model.fit(data, **fit_options, **sequence_options)
    seconds = time.perf_counter() - started
    return Fitted(model, model.save(output, overwrite=overwrite), seconds)


def describe_fit(fitted: Fitted) -> list[str]:
    """What `synthmed fit` prints: the data's shape, time, seed and threads, and any privacy spent."""
    model = fitted.model
    transformer = model.transformer_
    width = len(transformer.columns)
    shape = (
        f"{model.n_rows_} sequences x {transformer.steps_} steps x {width} channels"
        if model.data_kind() == "sequences"
        else f"{model.n_rows_} rows x {width} columns ({transformer.layout_.width} dimensions)"
    )
    lines = [
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
    output: str | Path,
    *,
    seed: int | None = None,
    conditions: dict[str, Any] | None = None,
    proportions: dict[str, dict[Any, float]] | None = None,
    threads: int | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Generate `rows` rows (sequences, in long format) from a saved generator into a CSV/Parquet `output`."""
    check_table_output(output, overwrite=overwrite)
    model = Synthesizer.load(generator)
    with cpu_threads(threads):
        table = model.sample(rows, seed=seed, conditions=conditions, proportions=proportions)
    if isinstance(table, np.ndarray) and model.data_kind() == "sequences":
        table = to_long(table, model.transformer_.columns)
    elif not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table, columns=model.transformer_.columns)
    write_table(table, output, overwrite=overwrite)
    return table
