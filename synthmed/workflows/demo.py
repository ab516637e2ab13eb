"""The embedded demo behind `make demo`: real diagnostic data in, medGAN, synthetic rows and fidelity out.

It uses scikit-learn's Wisconsin breast-cancer table (569 patients x 30 measurements + diagnosis), which
ships with scikit-learn, so it runs on a fresh machine with nothing downloaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from synthmed.data.files import check_folder
from synthmed.data.io import write_table
from synthmed.evaluate.fidelity import column_shape_similarity, correlation_difference
from synthmed.models.medgan import MedGAN

# medGAN's paper batch (1,000) is larger than this 455-row training split: with one generator update
# per epoch it barely trains. 100 rows per batch gives 5 updates per epoch.
DEMO_BATCH_SIZE = 100


@dataclass(frozen=True)
class DemoResult:
    synthetic_path: Path
    model_path: Path
    train_rows: int
    seconds: float
    fidelity: pd.DataFrame  # rows: metrics; columns: synthetic vs train, holdout vs train (the reference)


def run_demo(output_dir: str | Path, *, epochs: int = 1000, seed: int = 0, progress: bool = True) -> DemoResult:
    output_dir = Path(output_dir)
    check_folder(output_dir)
    table = load_breast_cancer(as_frame=True).frame
    table["diagnosis"] = table.pop("target").map({0: "malignant", 1: "benign"})
    train, holdout = train_test_split(table, test_size=0.2, random_state=seed, stratify=table["diagnosis"])
    started = time.perf_counter()
    model = MedGAN(epochs=epochs, batch_size=DEMO_BATCH_SIZE, seed=seed).fit(train, progress=progress)
    seconds = time.perf_counter() - started
    synthetic = model.sample(len(train))
    schema = model.schema_

    def summary(candidate: pd.DataFrame) -> dict[str, float]:
        return {
            "column shape similarity (mean, 1 = same)": column_shape_similarity(train, candidate, schema).mean(),
            "correlation difference (mean |diff|, 0 = same)": correlation_difference(train, candidate, schema),
        }

    fidelity = pd.DataFrame({"synthetic vs train": summary(synthetic), "real holdout vs train": summary(holdout)})
    synthetic_path = write_table(synthetic, output_dir / "synthetic_breast_cancer.csv")
    model_path = model.save(output_dir / "medgan_breast_cancer.smg")
    return DemoResult(synthetic_path, model_path, len(train), seconds, fidelity)
