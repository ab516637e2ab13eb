"""Records as one-visit histories: visitgpt against medGAN with its extensions on the NHDS 2010 code matrix.

    .venv/bin/python benchmarks/single_visit.py [--train 20000] [--min-count 20] [--seed 0] [--json PATH]

The matrix is NHDS 2010's 3-digit ICD-9 diagnoses (`synthmed ehr-matrix` on the 15 diagnosis fields, cached with the
studies' data in studies-output/). `--train` random discharges (seed) train both models, as many others are the
holdout; the codes seen at least `--min-count` times in the training records are kept. visitgpt is what `auto` picks
for this matrix (each record read as a patient with one visit, data/history_records.py); medGAN with its extensions
(preset medgan-extended) is what `auto` picked for code matrices before, and still picks for counts and narrower
tables of flags. Each generates as many records as the holdout has. Scores, the real holdout's beside them:
- dimension-wise prediction: mean F1 over the 20 most frequent codes of a logistic regression per code trained on
  generated (or real training) records, tested on the holdout (evaluate/similarity.py);
- correlation difference: mean |Pearson r difference| with the training records over the 50 most frequent codes.
Fits run one after another in this process on the threads torch is given (`--threads`, default 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "studies"))
from common import nhds_discharges, output_folder, synthmed_cli

from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.fidelity import correlation_difference
from synthmed.evaluate.similarity import dimension_wise_prediction
from synthmed.workflows.training import fit

TOP_PREDICTED = 20
TOP_CORRELATED = 50


def code_matrix() -> pd.DataFrame:
    """NHDS 2010 discharges x 3-digit diagnosis codes (0/1), built once and cached."""
    matrix = output_folder("nhds-2010") / "codes-3digit.parquet"
    if not matrix.exists():
        print(synthmed_cli("ehr-matrix", nhds_discharges(), "--code-columns", "diagnosis_*", "-o", matrix))
    table = pd.read_parquet(matrix)
    return table[[c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]]  # the codes, not the id


def scores(train: pd.DataFrame, holdout: pd.DataFrame, generated: pd.DataFrame, seed: int) -> dict[str, float]:
    schema = Schema(tuple(ColumnSchema(str(c), ColumnKind.BINARY, declared=True) for c in train.columns))
    tables = prepare_tables(train, holdout, generated, schema, seed=seed)
    prediction = dimension_wise_prediction(tables, top_k=TOP_PREDICTED, seed=seed).to_dict()
    top = train.mean().sort_values(ascending=False).index[:TOP_CORRELATED]
    top_schema = Schema(tuple(ColumnSchema(str(c), ColumnKind.BINARY, declared=True) for c in top))
    return {
        "f1_generated": float(np.mean(prediction["f1_synthetic"])),
        "f1_real": float(np.mean(prediction["f1_real"])),
        "correlation_difference": correlation_difference(train[top], generated[top], top_schema),
        "codes_per_record": float(generated.sum(1).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--min-count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="visitgpt,medgan-extended")
    parser.add_argument("--set", action="append", default=[], help="visitgpt hyperparameter NAME=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    matrix = code_matrix()
    order = np.random.default_rng(args.seed).permutation(len(matrix))
    train = matrix.iloc[order[: args.train]].reset_index(drop=True)
    holdout = matrix.iloc[order[args.train : 2 * args.train]].reset_index(drop=True)
    kept = train.columns[(train.sum() >= args.min_count).to_numpy()]
    train, holdout = train[kept].astype(np.int64), holdout[kept].astype(np.int64)
    print(
        f"{len(train):,} training and {len(holdout):,} holdout records x {len(kept)} codes "
        f"({train.sum(1).mean():.2f} per record)"
    )
    results = {"real holdout": {**scores(train, holdout, holdout, args.seed), "fit_s": None}}
    settings = dict(item.split("=", 1) for item in args.set)
    for name in args.models.split(","):
        started = time.perf_counter()
        if name == "visitgpt":  # what `auto` picks for a matrix this wide: records read as one-visit histories
            model = fit(train, "auto", settings={"seed": args.seed, **settings}, progress=False)
            assert model.name == "visitgpt", model.selection_
        else:
            model = fit(train, "medgan", preset="medgan-extended", settings={"seed": args.seed}, progress=False)
        fitted = time.perf_counter()
        generated = model.sample(len(holdout))[kept].astype(np.int64)
        sampled = time.perf_counter()
        results[name] = {
            **scores(train, holdout, generated, args.seed),
            "fit_s": fitted - started,
            "sample_s": sampled - fitted,
        }
        print(name, json.dumps(results[name]))
    print("\n| model | fit s | F1 (top 20), generated / real | correlation difference (top 50) | codes per record |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        fit_s = "-" if row["fit_s"] is None else f"{row['fit_s']:.0f}"
        print(
            f"| {name} | {fit_s} | {row['f1_generated']:.3f} / {row['f1_real']:.3f} | "
            f"{row['correlation_difference']:.4f} | {row['codes_per_record']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
