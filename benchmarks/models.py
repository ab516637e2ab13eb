"""Every model, and the peers a user would pick instead, on the shared medical tables: one table of figures.

    bash benchmarks/peers/setup.sh          # once: SDV (CTGAN, TVAE) and mostlyai-engine (TabularARGN) venvs
    .venv/bin/python benchmarks/models.py [--datasets cleveland,pima] [--models tabgan,ctgan] [--seeds 0,1,2]

Each dataset is split in halves (per seed): TRAIN fits the model, HOLDOUT is the real reference. Each model
generates as many rows as TRAIN, and synthmed's own evaluation scores them: column-shape similarity, pair
trends (contingency similarity of column pairs), correlation difference, TSTR ROC AUC of a random forest
(trained on synthetic, tested on HOLDOUT; TRTR beside it), the strongest membership attack's AUC (0.5 = no
signal), the share of synthetic rows closer to TRAIN than to HOLDOUT (0.5 = as far as fresh real rows), the chance
that a synthetic row lies nearer to TRAIN than a HOLDOUT row does (0.5 = as far from TRAIN as fresh real rows), the
share of synthetic rows nearer to TRAIN than the 5% nearest HOLDOUT rows (0.05 for fresh rows) and the
privacy verdict of the default policy (how often each verdict came up over the seeds).
Peers run in their own virtualenvs with their own defaults, one process at a time, so timings are fair. The row
"marginals" is a reference, not a model: each column's training values drawn independently.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from synthmed.evaluate.evaluation import evaluate
from synthmed.models import MODELS

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"
PEERS = {"ctgan": "sdv", "tvae": "sdv", "tabularargn": "mostly"}
SAMPLE_TIMING_ROWS = 10_000


@dataclass(frozen=True)
class Dataset:
    name: str
    load: Callable[[], pd.DataFrame]
    target: str | None
    models: tuple[str, ...]


def _heart(path: Path, **read: object) -> pd.DataFrame:
    table = pd.read_csv(path, **read)
    table["num"] = (table["num"] > 0).astype(int)  # diagnosis 0-4 -> disease yes/no, the usual task
    return table.drop(columns=[c for c in ("id",) if c in table])


def _diabetes() -> pd.DataFrame:
    """A fixed 4,000-encounter extract of the diabetes 130-US table (50 columns, three ~700-code diagnosis columns,
    heavy missingness), without its two identifiers (which synthmed would drop and the peers would model)."""
    table = pd.read_csv(DATA / "diabetes-130-us-hospitals" / "diabetic_data.csv", na_values=["?"])
    table = table.drop(columns=["encounter_id", "patient_nbr"]).sample(4000, random_state=0).reset_index(drop=True)
    table["readmitted"] = (table["readmitted"] != "NO").astype(int)  # any readmission, the usual binary task
    return table


def _physionet() -> pd.DataFrame:
    """PhysioNet 2012 set A as one row per ICU stay: ~110 summaries of the first 48 hours (first, last, lowest,
    highest per variable; a quarter missing), in-hospital death as the target; the stay's id and the two figures
    known only afterwards (survival days, length of stay) are left out."""
    table = pd.read_csv(DATA / "physionet2012-icu" / "PhysionetChallenge2012-set-a.csv.gz")
    return table.drop(columns=["recordid", "Survival", "Length_of_stay"])


def _codes() -> pd.DataFrame:
    from synthmed.data.ehr import code_matrix, read_events

    events = read_events(DATA / "mimic3-demo" / "DIAGNOSES_ICD.csv")
    return code_matrix(events).reset_index(drop=True)


# corGAN is left to the code matrices it was designed for: its 1,000 convolutional WGAN epochs take minutes even on
# a 150-row table.
TABULAR = ("tabgan", "medgan", "vae", "wgangp", "ctgan", "tvae", "tabularargn", "marginals")
DATASETS = {
    "cleveland": Dataset(
        "cleveland",
        lambda: _heart(DATA / "heart-cleveland" / "processed.cleveland.csv", na_values=["?"]),
        "num",
        TABULAR,
    ),
    "heart920": Dataset("heart920", lambda: _heart(DATA / "heart-uci-920" / "heart_disease_uci.csv"), "num", TABULAR),
    "pima": Dataset("pima", lambda: pd.read_csv(DATA / "pima-diabetes" / "diabetes.csv"), "Outcome", TABULAR),
    "diabetes": Dataset("diabetes", _diabetes, "readmitted", ("tabgan", "ctgan", "tvae", "tabularargn", "marginals")),
    "physionet": Dataset(
        "physionet", _physionet, "In-hospital_death", ("tabgan", "ctgan", "tvae", "tabularargn", "marginals")
    ),
    "mimic-codes": Dataset("mimic-codes", _codes, None, ("medgan", "corgan", "vae", "wgangp", "tabgan")),
}


def fit_synthmed(name: str, train: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, float, float]:
    model = MODELS[name](seed=seed)
    started = time.perf_counter()
    model.fit(train, progress=False)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.sample(SAMPLE_TIMING_ROWS)
    rate = SAMPLE_TIMING_ROWS / (time.perf_counter() - started)
    return model.sample(rows), fit_seconds, rate


def fit_peer(name: str, train: pd.DataFrame, rows: int, seed: int, work: Path) -> tuple[pd.DataFrame, float, float]:
    python = ROOT / "peers" / ".venvs" / PEERS[name] / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `bash benchmarks/peers/setup.sh` first")
    train_path, out_path = work / "train.csv", work / f"{name}.csv"
    train.to_csv(train_path, index=False)
    command = [str(python), str(ROOT / "peers" / "run_peer.py"), name, str(train_path), str(rows), str(out_path)]
    done = subprocess.run([*command, "--seed", str(seed)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-2000:]}")
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    synthetic = pd.read_csv(out_path)[train.columns]
    return synthetic, timing["fit_seconds"], rows / timing["sample_seconds"]


def independent_marginals(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """The reference row "marginals": each column's training values drawn on their own, so no row is copied and no
    dependence is kept. What it scores on privacy is what any generator that reproduces the training values scores."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: train[c].to_numpy()[rng.integers(len(train), size=rows)] for c in train.columns})


def _rf_auc(utility: dict, scenario: str) -> float:
    for result in utility.get("results", []):
        if result["model"] == "random_forest" and result["scenario"] == scenario and result["figures"]:
            return result["figures"]["roc_auc"]["value"]
    return float("nan")


def score(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, target: str | None) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = evaluate(train, holdout, synthetic, target=target, seed=0).to_dict()
    fidelity, privacy = figures["fidelity"], figures["privacy"]
    return {
        "shape": fidelity["column_shapes"]["mean"],
        "pairs": fidelity["contingency"]["mean"],
        "corr_diff": fidelity["correlation"]["mean_absolute_difference"],
        "tstr_auc": _rf_auc(figures["utility"], "tstr") if target else float("nan"),
        "trtr_auc": _rf_auc(figures["utility"], "trtr") if target else float("nan"),
        "membership_auc": max(a["auc"]["value"] for a in privacy["membership_inference"]),
        "closer_to_train": privacy["distance_to_closest_record"]["closer_to_train_share"]["value"],
        "nearer_than_holdout": privacy["distance_to_closest_record"]["nearer_than_holdout"]["value"],
        "near_copies": privacy["distance_to_closest_record"]["near_copy_share"]["value"],
        "privacy_verdict": privacy["verdict"],
        "holdout_shape": fidelity["column_shapes"]["holdout_mean"],
        "holdout_corr_diff": fidelity["correlation"]["holdout_mean_absolute_difference"],
    }


def halves(table: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TRAIN and HOLDOUT: a random half of the rows each (seeded)."""
    order = np.random.default_rng(seed).permutation(len(table))
    half = len(table) // 2
    return table.iloc[order[:half]].reset_index(drop=True), table.iloc[order[half:]].reset_index(drop=True)


def run_one(dataset: Dataset, model: str, seed: int, folder: Path) -> dict:
    """Split (seed), fit, generate as many rows as TRAIN, score."""
    train, holdout = halves(dataset.load(), seed)
    if model in PEERS:
        synthetic, fit_seconds, rate = fit_peer(model, train, len(train), seed, folder)
    elif model == "marginals":
        synthetic, fit_seconds, rate = independent_marginals(train, len(train), seed), 0.0, float("nan")
    else:
        synthetic, fit_seconds, rate = fit_synthmed(model, train, len(train), seed)
    row = {"dataset": dataset.name, "model": model, "seed": seed, "fit_s": fit_seconds, "sample_rows_s": rate}
    return row | score(train, holdout, synthetic, dataset.target)


FIGURES = [
    "fit_s",
    "sample_rows_s",
    "shape",
    "pairs",
    "corr_diff",
    "tstr_auc",
    "trtr_auc",
    "membership_auc",
    "closer_to_train",
    "nearer_than_holdout",
    "near_copies",
    "privacy_verdict",
]


def summary_table(rows: list[dict], seeds: int) -> Table:
    """Mean over split seeds per dataset and model (with the standard deviation when there are several)."""
    frame = pd.DataFrame(rows)
    title = f"synthmed models and peers: fit on half of each table, scored on the other half ({seeds} split seed(s))"
    table = Table(title=title)
    for column in ("dataset", "model", *FIGURES):
        table.add_column(column, justify="left" if column in ("dataset", "model") else "right")
    for (dataset, model), group in frame.groupby(["dataset", "model"], sort=False):
        cells = []
        for figure in FIGURES:
            if figure == "privacy_verdict":  # how often each verdict came up over the seeds
                counts = group[figure].value_counts()
                cells.append(", ".join(f"{count} {verdict}" for verdict, count in counts.items()))
                continue
            values = group[figure].astype(float)
            if values.isna().all():
                cells.append("-")
            elif figure == "sample_rows_s":
                cells.append(f"{values.mean():,.0f}")
            else:
                spread = f" ±{values.std():.3f}" if len(values) > 1 else ""
                cells.append(f"{values.mean():.3f}{spread}")
        table.add_row(dataset, model, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(dict.fromkeys([*TABULAR, "corgan"])))
    parser.add_argument("--seeds", default="0", help="comma-separated split/model seeds, e.g. 0,1,2")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    wanted, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    console = Console(width=200)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for dataset in (DATASETS[name] for name in args.datasets.split(",")):
            for model in (m for m in wanted if m in dataset.models):
                for seed in seeds:
                    rows.append(run_one(dataset, model, seed, Path(folder)))
                    console.print(json.dumps(rows[-1], default=float), soft_wrap=True)
    console.print(summary_table(rows, len(seeds)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
