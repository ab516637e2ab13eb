"""Differential privacy's price: utility and fit time at several epsilons against non-private training.

Each model is fitted on one half of a heart table with the table's public schema (examples/*.schema.yaml, as DP
requires) and scored on the other half by `synthmed evaluate`'s figures, exactly as benchmarks/models.py does.
Usage: python benchmarks/privacy.py [--datasets cleveland,heart920] [--models vae,medgan,wgangp]
       [--epsilons none,10,3,1] [--seeds 0] [--set NAME=INT ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import yaml
from models import DATASETS, halves, score
from rich.console import Console
from rich.table import Table

from synthmed.data.schema import Schema
from synthmed.models import MODELS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCHEMAS = {"cleveland": "heart-cleveland.schema.yaml", "heart920": "heart-uci-920.schema.yaml"}


def public_schema(dataset: str) -> Schema:
    """The table's declared domains; the benchmark's target `num` is disease yes/no, so 0/1."""
    spec = yaml.safe_load((EXAMPLES / SCHEMAS[dataset]).read_text())
    spec["columns"]["num"] = {"kind": "binary", "categories": [0, 1]}
    return Schema.from_dict(spec)


def run_one(dataset: str, model: str, epsilon: float | None, seed: int, settings: dict | None = None) -> dict:
    train, holdout = halves(DATASETS[dataset].load(), seed)
    synthesizer = MODELS[model](seed=seed, **(settings or {}))
    started = time.perf_counter()
    synthesizer.fit(train, schema=public_schema(dataset), progress=False, dp_epsilon=epsilon)
    fit_seconds = time.perf_counter() - started
    synthetic = synthesizer.sample(len(train))
    spent = synthesizer.privacy_["epsilon"] if synthesizer.privacy_ else None
    row = {"dataset": dataset, "model": model, "epsilon": epsilon, "spent": spent, "seed": seed, "fit_s": fit_seconds}
    return row | score(train, holdout, synthetic, DATASETS[dataset].target)


FIGURES = ["spent", "fit_s", "tstr_auc", "trtr_auc", "shape", "corr_diff", "closer_to_train"]


def _mean_cell(values: pd.Series) -> str:
    """Mean over the seeds where the figure exists; "(k/n)" when it exists for only k of n (TSTR needs two classes)."""
    known = values.dropna()
    if known.empty:
        return "-"
    return f"{known.mean():.3f}" + ("" if len(known) == len(values) else f" ({len(known)}/{len(values)})")


def summary_table(rows: list[dict]) -> Table:
    frame = pd.DataFrame(rows)
    frame["epsilon"] = frame["epsilon"].map(lambda e: "none" if e is None or pd.isna(e) else f"{e:g}")
    table = Table(title="Differentially private training: mean over split seeds (epsilon none = non-private)")
    for column in ("dataset", "model", "epsilon", *FIGURES, "slowdown"):
        table.add_column(column, justify="left" if column in ("dataset", "model", "epsilon") else "right")
    for (dataset, model), group in frame.groupby(["dataset", "model"], sort=False):
        plain = group.loc[group["epsilon"] == "none", "fit_s"].mean()
        for epsilon, rows_at in group.groupby("epsilon", sort=False):
            cells = [_mean_cell(rows_at[f].astype(float)) for f in FIGURES]
            slowdown = rows_at["fit_s"].mean() / plain if plain > 0 else float("nan")
            table.add_row(dataset, model, epsilon, *cells, f"{slowdown:.1f}x")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cleveland,heart920")
    parser.add_argument("--models", default="vae,medgan,wgangp")
    parser.add_argument("--epsilons", default="none,10,3,1")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", action="append", default=[], help="integer hyperparameter NAME=VALUE (slow models)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    epsilons = [None if e == "none" else float(e) for e in args.epsilons.split(",")]
    settings = {name: int(value) for name, _, value in (text.partition("=") for text in args.set)}
    console = Console(width=200)
    rows = []
    for dataset in args.datasets.split(","):
        for model in args.models.split(","):
            for epsilon in epsilons:
                for seed in (int(s) for s in args.seeds.split(",")):
                    rows.append(run_one(dataset, model, epsilon, seed, settings))
                    console.print(json.dumps(rows[-1], default=float), soft_wrap=True)
    console.print(summary_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
