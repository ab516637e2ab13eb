"""Training throughput of medGAN and corGAN on a MIMIC-III-sized code matrix, against the machine's matmul ceiling.

A binary matrix of 46,520 patients x 1,071 codes with 11.27 codes per patient on average (MIMIC-III's shape, drawn
at random with a fixed seed) trains one epoch of each phase at batch 1,000. Achieved GFLOP/s divides the floating
point operations of the matrix products and convolutions a phase executes, forward and backward, by its epoch's
seconds. They are counted by torch.utils.flop_counter in two more fits that are not timed (pretraining alone, then
both phases, without the batch-norm burn-in that follows; the GAN phase is the difference), so they count what runs:
both discriminator steps of each generator step, the generator's forward pass in each, and no gradient a step does
not ask for. The ceiling is a dense float32 matrix product of the same width timed in the same run.
Usage: python benchmarks/throughput.py [--rows 46520] [--codes 1071] [--threads N] [--models medgan,corgan]
(corGAN's GAN epoch takes about 13 minutes on 2 CPU cores, and its count as long again; `--models medgan` leaves it
out)
"""

from __future__ import annotations

import argparse
import time
from unittest.mock import patch

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from synthmed.models import CorGAN, MedGAN

CODES_PER_ROW = 11.27
BATCH = 1_000
PHASES = ("pretrain", "gan")
MODEL_CLASSES = {"medgan": MedGAN, "corgan": CorGAN}


def matmul_ceiling(width: int, repeats: int = 20) -> float:
    """GFLOP/s of a (BATCH x width) @ (width x width) float32 product, the best of `repeats`."""
    left, right = torch.randn(BATCH, width), torch.randn(width, width)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(left, right)
        best = min(best, time.perf_counter() - started)
    return 2 * BATCH * width * width / best / 1e9


def counted_flops(model: type, settings: dict, matrix: np.ndarray) -> dict[str, int]:
    """The floating point operations of one epoch of each phase: pretraining alone, then the GAN phase as what a fit
    of both adds to it (same seed and data, so the same steps)."""

    def fit_flops(epochs: int) -> int:
        # the batch-norm burn-in after the GAN phase follows only a GAN phase, and its time is not the epoch's
        with FlopCounterMode(display=False) as counter, patch.object(model, "_burn_in"):
            model(epochs=epochs, pretrain_epochs=1, batch_size=BATCH, seed=0, **settings).fit(matrix, progress=False)
        return counter.get_total_flops()

    pretrain = fit_flops(epochs=0)
    return {"pretrain": pretrain, "gan": fit_flops(epochs=1) - pretrain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=46_520)
    parser.add_argument("--codes", type=int, default=1_071)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", default="medgan,corgan", help="of medgan, corgan")
    args = parser.parse_args()
    chosen = args.models.split(",")
    if unknown := sorted(set(chosen) - set(MODEL_CLASSES)):
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODEL_CLASSES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    matrix = (rng.random((args.rows, args.codes)) < CODES_PER_ROW / args.codes).astype(np.float32)
    ceiling = matmul_ceiling(args.codes)
    table = Table(title=f"{args.rows:,} x {args.codes:,} binary, batch {BATCH}, {torch.get_num_threads()} threads")
    for heading in ("model", "phase", "epoch s", "rows/s", "GFLOP per epoch", "GFLOP/s", "share of matmul ceiling"):
        table.add_column(heading)
    settings = {"medgan": {"pretrain_batch_size": BATCH}, "corgan": {}}
    for name in chosen:
        fitted = MODEL_CLASSES[name](epochs=1, pretrain_epochs=1, batch_size=BATCH, seed=0, **settings[name])
        fitted.fit(matrix, progress=False)
        flops = counted_flops(MODEL_CLASSES[name], settings[name], matrix)
        for phase in PHASES:
            seconds = fitted.history_[phase][-1]["seconds"]
            achieved = flops[phase] / seconds / 1e9
            table.add_row(
                name,
                phase,
                f"{seconds:.2f}",
                f"{args.rows / seconds:,.0f}",
                f"{flops[phase] / 1e9:.1f}",
                f"{achieved:.1f}",
                f"{achieved / ceiling:.0%}",
            )
    Console().print(table)
    Console().print(
        f"matmul ceiling ({BATCH} x {args.codes} @ {args.codes} x {args.codes}, float32): {ceiling:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
