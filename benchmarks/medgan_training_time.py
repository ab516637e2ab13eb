"""Training time of medGAN with the paper's defaults, on the two references of the foundation issue.

1. The MIMIC-III demo code matrix (100 patients x 275 3-digit ICD-9 codes), 1,000 GAN epochs + 100 pretraining.
2. One epoch on a 46,520 x 1,071 random binary matrix with 11.27 codes per row (medGAN's MIMIC-III shape).

Run one benchmark process at a time (two trainings sharing 2 cores slow each other many-fold):

    .venv/bin/python benchmarks/medgan_training_time.py [--skip-mimic] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from synthmed.data.ehr import code_matrix, read_events
from synthmed.models import MedGAN

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MIMIC_SHAPE = (46_520, 1_071)
CODES_PER_ROW = 11.27


def phase_seconds(model: MedGAN, phase: str) -> float:
    return sum(record["seconds"] for record in model.history_.get(phase, []))


def timed_fit(model: MedGAN, data: object) -> tuple[MedGAN, float]:
    started = time.perf_counter()
    model.fit(data, progress=False)
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mimic", action="store_true", help="skip the MIMIC-III demo run")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    table = Table(title=f"medGAN training time (paper defaults, CPU, {args.threads} threads)")
    for column in ("data", "shape", "pretrain", "GAN", "fit total (incl. data prep)", "per GAN epoch"):
        table.add_column(column, justify="right" if column != "data" else "left")

    events = SHARED / "mimic3-demo" / "DIAGNOSES_ICD.csv"
    if not args.skip_mimic and events.exists():
        matrix = code_matrix(read_events(events))
        model, total = timed_fit(MedGAN(seed=0), matrix)
        gan = phase_seconds(model, "gan")
        table.add_row(
            "MIMIC-III demo, 100 pretrain + 1,000 GAN epochs",
            f"{matrix.shape[0]} x {matrix.shape[1]}",
            f"{phase_seconds(model, 'pretrain'):.1f} s",
            f"{gan:.1f} s",
            f"{total:.1f} s",
            f"{gan / model.epochs * 1000:.1f} ms",
        )

    rng = np.random.default_rng(0)
    codes = (rng.random(MIMIC_SHAPE, dtype=np.float32) < CODES_PER_ROW / MIMIC_SHAPE[1]).astype(np.uint8)
    model, total = timed_fit(MedGAN(epochs=1, pretrain_epochs=1, seed=0), codes)
    table.add_row(
        f"random binary, {codes.sum(1).mean():.2f} codes/row, 1 pretrain + 1 GAN epoch",
        f"{MIMIC_SHAPE[0]:,} x {MIMIC_SHAPE[1]:,}",
        f"{phase_seconds(model, 'pretrain'):.1f} s",
        f"{phase_seconds(model, 'gan'):.1f} s",
        f"{total:.1f} s",
        f"{phase_seconds(model, 'gan') * 1000:.0f} ms",
    )
    console = Console(width=150)
    console.print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak resident memory: {peak:,.0f} MiB; torch {torch.__version__}")


if __name__ == "__main__":
    main()
