"""The one-command release on small clinical tables: verdicts, the membership evidence behind them, and the time.

Each shared table goes through `synthmed release DATA -o DIR [--target T]` exactly as a user runs it (auto model,
20% holdout, default policy, 8 shadow models when the holdout cannot decide membership). Two controls on
Cleveland show the gate still refuses what it must: the release's own rows with 10% of TRAIN planted among them,
and a fresh real sample (records the generator never saw) vetted with --synthetic, which must not fail.
Usage: python benchmarks/small_tables.py [--tables cleveland,heart920,pima,mimic-codes] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from synthmed.data.io import read_table
from synthmed.workflows.ehr_matrix import build_ehr_matrix
from synthmed.workflows.release import release_files, release_table, split_holdout
from synthmed.workflows.training import fit

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TABLES = {
    "cleveland": ("heart-cleveland/processed.cleveland.csv", "num"),
    "heart920": ("heart-uci-920/heart_disease_uci.csv", "num"),
    "pima": ("pima-diabetes/diabetes.csv", "Outcome"),
    "mimic-codes": ("mimic3-demo/DIAGNOSES_ICD.csv", None),
}
PLANTED_SHARE = 0.10


def _evidence(folder: Path) -> dict:
    document = json.loads((folder / "evaluation.json").read_text())
    privacy = document["privacy"]
    shadow = privacy.get("shadow_membership") or {}
    return {
        "verdicts": {area: document[area]["verdict"] for area in ("fidelity", "utility", "privacy")},
        "holdout_records_scored": min(a["scored_non_members"] for a in privacy["membership_inference"]),
        "shadow": {
            "models": shadow.get("models"),
            "trials": shadow.get("trials"),
            "seconds": shadow.get("seconds"),
            "empirical_epsilon": shadow.get("empirical_epsilon"),
            "attacks": {
                a["name"]: {"auc": a["auc"], "tpr_at_1pct_fpr": a["tpr_at_1pct_fpr"]} for a in shadow.get("attacks", [])
            },
        }
        if shadow
        else None,
        "failing": [c["name"] for c in privacy["checks"] if c["verdict"] == "fail"],
    }


def _source(name: str, scratch: Path) -> Path:
    path, _ = TABLES[name]
    if name == "mimic-codes":
        build_ehr_matrix(SHARED / path, scratch / "codes.parquet")
        return scratch / "codes.parquet"
    return SHARED / path


def release_one(name: str, scratch: Path) -> dict:
    target = TABLES[name][1]
    started = time.perf_counter()
    release_table(_source(name, scratch), scratch / name, target=target, progress=False)
    return {"table": name, "seconds": time.perf_counter() - started, **_evidence(scratch / name)}


def controls(scratch: Path) -> list[dict]:
    """Planted copies and a fresh real sample, on Cleveland split three ways (train, holdout, fresh)."""
    path, target = TABLES["cleveland"]
    table = read_table(SHARED / path)
    rest, fresh = split_holdout(table.dropna(), 0.3, target=target, seed=1)
    train, holdout = split_holdout(rest, 0.25, target=target, seed=2)
    for frame, file in ((train, "train.csv"), (holdout, "holdout.csv"), (fresh, "fresh.csv")):
        frame.to_csv(scratch / file, index=False)
    synthetic = fit(train, "auto", settings={"seed": 0}, progress=False).sample(len(train), seed=1)
    planted = pd.concat(
        [synthetic.iloc[round(PLANTED_SHARE * len(synthetic)) :], train.sample(frac=PLANTED_SHARE, random_state=0)]
    )
    planted.to_csv(scratch / "planted.csv", index=False)
    found = []
    for label, source in (("planted copies", "planted.csv"), ("fresh real sample", "fresh.csv")):
        started = time.perf_counter()
        folder = scratch / label.replace(" ", "-")
        release_files(scratch / "train.csv", scratch / "holdout.csv", folder, synthetic=scratch / source, target=target)
        found.append({"table": f"cleveland: {label}", "seconds": time.perf_counter() - started, **_evidence(folder)})
    return found


def _row(result: dict) -> list[str]:
    shadow = result["shadow"] or {}
    attacks = shadow.get("attacks", {})
    aucs = ", ".join(
        f"{a['auc']['value']:.3f} [{a['auc']['ci_low']:.3f}, {a['auc']['ci_high']:.3f}]" for a in attacks.values()
    )
    tprs = ", ".join(f"{a['tpr_at_1pct_fpr']['value']:.3f}" for a in attacks.values())
    v = result["verdicts"]
    return [
        result["table"],
        f"{v['fidelity']} / {v['utility']} / {v['privacy']}",
        str(result["holdout_records_scored"]),
        f"{shadow.get('models')} x {shadow.get('trials') // shadow.get('models')}" if shadow else "-",
        aucs or "-",
        tprs or "-",
        f"{shadow['empirical_epsilon']:.2f}" if shadow else "-",
        ", ".join(result["failing"]) or "-",
        f"{shadow['seconds']:.0f}" if shadow else "-",
        f"{result['seconds']:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--no-controls", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in filter(None, args.tables.split(",")):
            results.append(release_one(name, Path(scratch)))
            print(json.dumps(results[-1]), flush=True)
        if not args.no_controls:
            results += controls(Path(scratch))
    table = Table(title="synthmed release DATA -o DIR (auto, 20% holdout, 8 shadow models)")
    for heading in (
        "table",
        "fidelity / utility / privacy",
        "holdout scored",
        "shadow models x records",
        "shadow AUC (closest, neighbourhood)",
        "TPR@1%FPR",
        "empirical eps",
        "failing checks",
        "game s",
        "total s",
    ):
        table.add_column(heading)
    for result in results:
        table.add_row(*_row(result))
    Console(width=200).print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
