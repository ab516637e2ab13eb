"""How visitgpt's defaults were chosen: fits on a development split that never touches histories.py's holdout.

    .venv/bin/python benchmarks/histories_development.py --set epochs=30 --set learning_rate=3e-3

The split: benchmarks/histories.py's TRAIN patients (Diabetes 130-US, patients with at least 2 encounters, seed 0,
its 20% holdout left out entirely) cut again into 75% to fit on and 25% to compare with. Prints fit and sample
seconds, the training loss every few epochs, and HALO's figures (evaluate/histories.py) of the synthetic patients
and of the comparison patients, both against the fitted ones, then the visits-per-patient shares of each, and the
utility: readmission at each patient's last visit predicted by models trained on the synthetic (TSTR) or the fitted
patients (TRTR), tested on the comparison patients (the evaluation's utility, evaluate/history_evaluation.py).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from synthmed.data.histories import HistoryRoles, read_histories
from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.histories import history_figures
from synthmed.evaluate.history_evaluation import frequent_codes, patient_table
from synthmed.evaluate.utility import utility
from synthmed.models.registry import configure

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "diabetes-130-us-hospitals" / "diabetic_data.csv"
CODES = ("diag_1", "diag_2", "diag_3")
HOLDOUT_SHARE = 0.2  # as benchmarks/histories.py
FIT_SHARE = 0.75
TARGET = "readmitted"


def development_split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.read_csv(DATA, na_values=["?"], dtype=dict.fromkeys(CODES, str))
    counts = table["patient_nbr"].value_counts()
    table = table[table["patient_nbr"].isin(counts.index[counts >= 2])]
    ids = np.random.default_rng(seed).permutation(np.sort(table["patient_nbr"].unique()))
    train = ids[round(len(ids) * HOLDOUT_SHARE) :]  # histories.py's holdout is ids[:held]: never read here
    cut = int(FIT_SHARE * len(train))
    return table[table["patient_nbr"].isin(train[:cut])], table[table["patient_nbr"].isin(train[cut:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], help="visitgpt hyperparameter NAME=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    fitted, compared = development_split(args.seed)
    settings = {"seed": args.seed} | dict(item.split("=", 1) for item in args.set)
    started = time.perf_counter()
    model = configure("visitgpt", settings).fit(
        fitted, patient_column="patient_nbr", codes=list(CODES), visit_column="encounter_id", progress=False
    )
    fit_s = time.perf_counter() - started
    synthetic = model.sample(compared["patient_nbr"].nunique())
    sample_s = time.perf_counter() - started - fit_s
    roles = HistoryRoles("patient_nbr", CODES, visit="encounter_id")
    histories = {name: read_histories(t, roles) for name, t in (("fit", fitted), ("compared", compared))}
    histories["synthetic"] = read_histories(synthetic, roles)
    ours, reference = (history_figures(histories["fit"], histories[k]) for k in ("synthetic", "compared"))
    losses = [round(r["nll"], 1) for r in model.history_["train"]]
    print(json.dumps({"settings": settings, "fit_s": round(fit_s, 1), "sample_s": round(sample_s, 1)}))
    print("loss per patient every 10 epochs:", losses[::10], "last", losses[-1])
    shown = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
    for name, value in ours.items():
        print(f"  {name:26s} synthetic {shown(value)}   real {shown(reference[name])}")
    for name in ("compared", "synthetic"):
        counts = np.diff(histories[name].visit_offsets)
        print(f"  visits per patient 1..7, {name}:", np.round(np.bincount(counts, minlength=8)[1:8] / len(counts), 3))
    codes = frequent_codes(histories["fit"])
    frames = [patient_table(histories[name], codes) for name in ("fit", "compared", "synthetic")]
    summary = utility(prepare_tables(*frames, seed=args.seed), TARGET, seed=args.seed).summary
    best = summary.best_model
    print(f"  utility ({TARGET}): TSTR/TRTR {summary.tstr_to_trtr[best]:.3f} (best model {best})")


if __name__ == "__main__":
    main()
