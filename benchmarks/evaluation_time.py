"""Time of a full evaluation (fidelity, utility, privacy) of 10,000 synthetic rows of the 920-row UCI heart data.

The synthetic rows come from medGAN trained on a seeded half of the table; the other half is HOLDOUT.
Run one benchmark process at a time:

    .venv/bin/python benchmarks/evaluation_time.py [--epochs 300] [--rows 10000]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from synthmed.data import read_table
from synthmed.evaluate.evaluation import evaluate
from synthmed.models import MedGAN

HEART = Path(__file__).resolve().parents[2] / "shared" / "data" / "heart-uci-920" / "heart_disease_uci.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    table = read_table(HEART).drop(columns="id")
    train = table.sample(frac=0.5, random_state=0)
    holdout = table.drop(index=train.index)
    started = time.perf_counter()
    model = MedGAN(epochs=args.epochs, batch_size=100, seed=0).fit(train, progress=False)
    fit_seconds = time.perf_counter() - started
    synthetic = model.sample(args.rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        result = evaluate(train, holdout, synthetic, target="num", quasi_identifiers=["age", "sex"])
        seconds = time.perf_counter() - started

    report = Table(
        title=f"Evaluation of {args.rows:,} synthetic rows (UCI heart, {len(train)} train / {len(holdout)} holdout)"
    )
    for column in ("area", "verdict", "checks"):
        report.add_column(column)
    for name in ("fidelity", "utility", "privacy"):
        area = getattr(result, name)
        report.add_row(name, area.verdict.value, "; ".join(f"{c.name}: {c.verdict.value}" for c in area.checks))
    console = Console(width=160)
    console.print(report)
    for check in (*result.fidelity.checks, *result.utility.checks, *result.privacy.checks):
        console.print(f"  {check.name}: {check.reason}")
    console.print(f"evaluation: {seconds:.1f} s  (medGAN fit, {args.epochs} epochs: {fit_seconds:.1f} s)")


if __name__ == "__main__":
    main()
