"""How visitgpt's defaults were chosen: fits on a development split that never touches histories.py's holdout.

    .venv/bin/python benchmarks/histories_development.py --set epochs=30 --set learning_rate=3e-3

The split: benchmarks/histories.py's TRAIN patients (Diabetes 130-US, patients with at least 2 encounters, seed 0,
its 20% holdout left out entirely) cut again into 75% to fit on and 25% to compare with. Prints fit and sample
seconds, the training and held-out losses every few epochs and the epoch whose weights were kept. Then, averaged
over `--draws` samples of the comparison patients' count: HALO's figures (evaluate/histories.py) against the fitted
patients (beside the comparison patients' own), the utility (readmission at each patient's last visit predicted by
models trained on the synthetic (TSTR) or the fitted patients (TRTR), tested on the comparison patients) and the
AUC of each membership attack with the fitted patients as members (evaluate/history_evaluation.py's areas).
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

from synthmed.data.histories import Histories, HistoryRoles, read_histories
from synthmed.evaluate.attacks import membership_inference
from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.histories import history_figures
from synthmed.evaluate.history_evaluation import frequent_codes, patient_table
from synthmed.evaluate.utility import utility
from synthmed.models.registry import configure
from synthmed.models.training import KEPT_SUFFIX

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
    parser.add_argument("--draws", type=int, default=5, help="synthetic samples judged (figures: their mean)")
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
    size = compared["patient_nbr"].nunique()
    synthetic = [model.sample(size, seed=args.seed + draw) for draw in range(args.draws)]
    sample_s = (time.perf_counter() - started - fit_s) / args.draws
    roles = HistoryRoles("patient_nbr", CODES, visit="encounter_id")
    histories = {name: read_histories(t, roles) for name, t in (("fit", fitted), ("compared", compared))}
    records = model.history_["train"]
    kept = model.history_.get("train" + KEPT_SUFFIX, [{"epoch": len(records)}])[0]["epoch"]
    print(json.dumps({"settings": settings, "fit_s": round(fit_s, 1), "sample_s": round(sample_s, 1)}))
    for name in ("nll", "validation_nll"):
        losses = [round(record[name], 1) for record in records if name in record]
        if losses:
            print(f"{name} per patient every 10 epochs:", losses[::10], "last", losses[-1])
    print(f"epochs run {len(records)}, weights kept from epoch {kept}")
    judged = pd.DataFrame(
        [judge(histories, read_histories(table, roles), draw) for draw, table in enumerate(synthetic)]
    )
    reference = history_figures(histories["fit"], histories["compared"])
    print(f"means over {args.draws} draws of {size:,} patients (sd in brackets); real: the compared patients")
    for name, value in judged.mean().items():
        real = f"   real {reference[name]:.3f}" if reference.get(name) is not None else ""
        print(f"  {name:26s} synthetic {value:.3f} ({judged[name].std():.3f}){real}")
    counts = np.diff(histories["compared"].visit_offsets)
    print("  visits per patient 1..7, compared:", np.round(np.bincount(counts, minlength=8)[1:8] / len(counts), 3))


def judge(histories: dict[str, Histories], synthetic: Histories, draw: int) -> dict[str, float]:
    """One draw's HALO figures, utility (TSTR / TRTR of the best model) and membership AUC of each attack, with
    the fitted patients as members and the compared ones as non-members (as the evaluation's privacy area)."""
    figures = history_figures(histories["fit"], synthetic)
    codes = frequent_codes(histories["fit"])
    frames = [patient_table(h, codes) for h in (histories["fit"], histories["compared"], synthetic)]
    tables = prepare_tables(*frames, seed=draw)
    summary = utility(tables, TARGET, seed=draw).summary
    attacks = {f"membership_{attack.name}": attack.auc.value for attack in membership_inference(tables, seed=draw)}
    return {**figures, "tstr_to_trtr": summary.tstr_to_trtr[summary.best_model], **attacks}


if __name__ == "__main__":
    main()
