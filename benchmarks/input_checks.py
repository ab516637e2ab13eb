"""Time of the checks before training (reading, validation, schema inference) on real and generated tables.

Dates written as text, decimal commas, free-text and identifier detection and the plausibility checks all run on
every `fit`, `schema`, `evaluate` and `release`; this prints how long they take as tables grow. The generated
table mixes what hospital exports hold: numbers with decimal commas, US-style dates, categories, free-text notes
and a record number. Run one benchmark process at a time:

    .venv/bin/python benchmarks/input_checks.py [--rows 100000,1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from synthmed.data import infer_schema, read_table, validate_table

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL = {
    "diabetes-130-us-hospitals": ("diabetes-130-us-hospitals/diabetic_data.csv", ["?"]),
    "heart-uci-920": ("heart-uci-920/heart_disease_uci.csv", None),
}


def export(rows: int, seed: int = 0) -> pd.DataFrame:
    """A semicolon export's worth of columns, as text where the export writes text."""
    rng = np.random.default_rng(seed)
    words = np.array(
        ["patient", "reports", "chest", "pain", "since", "yesterday", "no", "fever", "denies", "nausea", "stable"]
    )
    notes = [" ".join(rng.choice(words, 6)) + f" {i}" for i in range(rows // 3)]
    days = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, rows), unit="D")
    return pd.DataFrame(
        {
            "record_no": rng.permutation(rows) + 10_000_000,
            "chol": [f"{value:.1f}".replace(".", ",") for value in rng.normal(220, 40, rows)],
            "age": rng.integers(18, 95, rows),
            "ward": rng.choice(["icu", "cardiology", "emergency", "general"], rows),
            "admitted": days.strftime("%m/%d/%Y"),
            "note": rng.choice(notes, rows),
        }
    )


def timed(path: Path, na_values: list[str] | None) -> tuple[int, int, float, float]:
    started = time.perf_counter()
    table = read_table(path, na_values=na_values)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infer_schema(validate_table(table))
    return len(table), table.shape[1], read_seconds, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="sizes of the generated export")
    args = parser.parse_args()
    report = Table(title="Checks before training: read, then validate + infer the schema (one process, 2 cores)")
    for column in ("table", "rows", "columns", "read s", "validate + infer s"):
        report.add_column(column, justify="left" if column == "table" else "right")
    for name, (relative, na_values) in REAL.items():
        if (SHARED / relative).exists():
            rows, columns, read_seconds, seconds = timed(SHARED / relative, na_values)
            report.add_row(name, f"{rows:,}", str(columns), f"{read_seconds:.2f}", f"{seconds:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in (int(text) for text in args.rows.split(",")):
            path = Path(folder) / f"export_{rows}.csv"
            export(rows).to_csv(path, sep=";", index=False)
            rows, columns, read_seconds, seconds = timed(path, None)
            report.add_row("generated ';' export", f"{rows:,}", str(columns), f"{read_seconds:.2f}", f"{seconds:.2f}")
    Console(width=120).print(report)


if __name__ == "__main__":
    main()
