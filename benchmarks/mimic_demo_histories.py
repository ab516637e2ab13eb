"""The MIMIC-III demo's histories end to end through the CLI: fit, sample, evaluate, release.

    .venv/bin/python benchmarks/mimic_demo_histories.py [--seed 0] [--output DIR]

DIAGNOSES_ICD joined with ADMISSIONS and PATIENTS (the layout `synthmed sample` writes for them) is split by patient
(seed): TRAIN (`--train-share`, 80% by default: in 50 patients fewer than 5 have a second admission, and visitgpt then
refuses to learn gaps between visits) fits visitgpt at its defaults, HOLDOUT is the evaluation's reference. 20
holdout patients cannot decide membership, so the release tries the shadow-model game (8 copies of the generator).
Each step is the command a user types; the script prints each command, its output's last lines and the verdicts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimic3-demo"
ROLES = ["--patient-column", "subject_id", "--visit-column", "hadm_id", "--time", "admittime", "--codes", "icd9_code"]


def joined_histories() -> pd.DataFrame:
    """One row per diagnosis with its admission's and its patient's columns (row ids and seq_num left out)."""
    read = {
        name: pd.read_csv(SHARED / f"{name}.csv", dtype={"icd9_code": str})
        for name in ("DIAGNOSES_ICD", "ADMISSIONS", "PATIENTS")
    }
    diagnoses = read["DIAGNOSES_ICD"].drop(columns=["row_id", "seq_num"])
    admissions = read["ADMISSIONS"].drop(columns=["row_id", "subject_id"])
    patients = read["PATIENTS"].drop(columns=["row_id"])
    return diagnoses.merge(admissions, on="hadm_id").merge(patients, on="subject_id")


def synthmed(*arguments: object) -> tuple[float, str]:
    """Run one CLI command, printing it; returns its seconds and its output."""
    command = [sys.executable, "-m", "synthmed", *map(str, arguments)]
    print("$ synthmed " + " ".join(map(str, arguments)))
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    output = (done.stdout + done.stderr).strip()
    print("\n".join(line for line in output.splitlines()[-6:] if not line.startswith("note:")), f"[{seconds:.1f} s]\n")
    if done.returncode not in (0, 3):
        raise SystemExit(f"exit status {done.returncode}")
    return seconds, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-share", type=float, default=0.8)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    folder = args.output or Path(tempfile.mkdtemp(prefix="mimic-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    table = joined_histories()
    ids = table["subject_id"].unique()
    train_ids = np.random.default_rng(args.seed).permutation(ids)[: round(len(ids) * args.train_share)]
    train, holdout = folder / "train.csv", folder / "holdout.csv"
    table[table["subject_id"].isin(train_ids)].to_csv(train, index=False)
    table[~table["subject_id"].isin(train_ids)].to_csv(holdout, index=False)
    visits = table["hadm_id"].nunique()
    print(f"{len(ids)} patients, {visits} admissions, {len(table)} diagnoses; {len(train_ids)} train\n")
    model, sample, release = folder / "mimic.smg", folder / "synthetic.csv", folder / "release"
    fit_s, _ = synthmed("fit", train, "--model", "visitgpt", *ROLES, "--seed", args.seed, "-o", model, "-q")
    synthmed("sample", model, "-n", len(train_ids), "-o", sample, "--seed", args.seed)
    evaluation = folder / "evaluation.json"
    synthmed("evaluate", "--train", train, "--holdout", holdout, "--synthetic", sample, *ROLES, "--json", evaluation)
    release_s, output = synthmed("release", model, "--train", train, "--holdout", holdout, "-o", release)
    judged = json.loads(evaluation.read_text())
    print(f"fit {fit_s:.1f} s, release {release_s:.1f} s")
    for area in ("fidelity", "utility", "privacy"):
        checks = ", ".join(f"{check['name']} {check['verdict']}" for check in judged[area]["checks"])
        print(f"evaluate {area}: {judged[area]['verdict']} ({checks})")
    print("release:", next(line for line in output.splitlines() if line.startswith(("release", "released"))))


if __name__ == "__main__":
    main()
