"""The embedded demo behind `make demo`: the main job, a raw table to a vetted release, on real diagnostic data.

It uses scikit-learn's Wisconsin breast-cancer table (569 patients x 30 measurements + diagnosis), which ships with
scikit-learn, so it runs on a fresh machine with nothing downloaded. `release_table` splits off a stratified
holdout, trains the model `auto` picks, evaluates and gates; the demo's folder holds the table it read and the
release.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sklearn.datasets import load_breast_cancer

from synthmed.data.files import check_folder
from synthmed.data.io import write_table
from synthmed.workflows.evaluation import describe_evaluation
from synthmed.workflows.release import EVALUATION_FILE, REPORT_FILE, ReleaseOutcome, release_table

TABLE_FILE = "breast_cancer.csv"
RELEASE_FOLDER = "release"


@dataclass(frozen=True)
class DemoResult:
    outcome: ReleaseOutcome
    table_path: Path
    report_path: Path
    seconds: float
    summary: list[str]  # each area's verdict, then its checks with the real holdout's figures beside


def run_demo(output_dir: str | Path, *, epochs: int | None = None, seed: int = 0, progress: bool = True) -> DemoResult:
    """Release the breast-cancer table into `output_dir`/release (a previous demo's release there is replaced)."""
    output_dir = Path(output_dir)
    check_folder(output_dir)
    table = load_breast_cancer(as_frame=True).frame
    table["diagnosis"] = table.pop("target").map({0: "malignant", 1: "benign"})
    table_path = write_table(table, output_dir / TABLE_FILE)
    folder = output_dir / RELEASE_FOLDER
    if (folder / EVALUATION_FILE).is_file():  # a previous demo's release, never anything else
        shutil.rmtree(folder)
    started = time.perf_counter()
    outcome = release_table(
        table,
        folder,
        target="diagnosis",
        settings={"epochs": epochs} if epochs is not None else None,
        seed=seed,
        progress=progress,
    )
    seconds = time.perf_counter() - started
    summary = describe_evaluation(json.loads((folder / EVALUATION_FILE).read_text()))
    return DemoResult(outcome, table_path, folder / REPORT_FILE, seconds, summary)
