"""Training throughput of medGAN and corGAN on a MIMIC-III-sized code matrix, against the machine's matmul ceiling.

A binary matrix of 46,520 patients x 1,071 codes with 11.27 codes per patient on average (MIMIC-III's shape,
drawn at random with a fixed seed) trains one epoch of each phase at batch 1,000. Achieved GFLOP/s counts 6 floating
point operations per weight per row and network a phase trains (forward 2, backward 4), an estimate that holds for
medGAN's dense layers; corGAN's convolutions reuse each weight many times per row, so no estimate is printed for it.
The ceiling is a dense float32 matrix product of the same width timed in the same run.
Usage: python benchmarks/throughput.py [--rows 46520] [--codes 1071] [--threads N] [--models medgan,corgan]
(corGAN's GAN epoch takes about 13 minutes on 2 CPU cores; `--models medgan` leaves it out)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from synthmed.models import CorGAN, MedGAN

CODES_PER_ROW = 11.27
BATCH = 1_000
# the networks each phase trains, per model (parameter_counts() names)
PHASES = {
    "medgan": {"pretrain": ["autoencoder"], "gan": ["generator", "autoencoder", "discriminator"]},
    "corgan": {"pretrain": ["autoencoder"], "gan": ["generator", "autoencoder", "critic"]},
}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=46_520)
    parser.add_argument("--codes", type=int, default=1_071)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", default="medgan,corgan", help="of medgan, corgan")
    args = parser.parse_args()
    chosen = args.models.split(",")
    if unknown := sorted(set(chosen) - set(PHASES)):
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(PHASES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    matrix = (rng.random((args.rows, args.codes)) < CODES_PER_ROW / args.codes).astype(np.float32)
    ceiling = matmul_ceiling(args.codes)
    table = Table(title=f"{args.rows:,} x {args.codes:,} binary, batch {BATCH}, {torch.get_num_threads()} threads")
    for heading in ("model", "phase", "epoch s", "rows/s", "GFLOP/s (est.)", "share of matmul ceiling"):
        table.add_column(heading)
    settings = {"medgan": {"pretrain_batch_size": BATCH}, "corgan": {}}
    for name in chosen:
        fitted = MODEL_CLASSES[name](epochs=1, pretrain_epochs=1, batch_size=BATCH, seed=0, **settings[name])
        fitted.fit(matrix, progress=False)
        weights = fitted.parameter_counts()
        for phase, networks in PHASES[name].items():
            seconds = fitted.history_[phase][-1]["seconds"]
            flops = 6 * args.rows * sum(weights[network] for network in networks)
            achieved = flops / seconds / 1e9
            table.add_row(
                name,
                phase,
                f"{seconds:.2f}",
                f"{args.rows / seconds:,.0f}",
                f"{achieved:.1f}",
                f"{achieved / ceiling:.0%}",
            )
    Console().print(table)
    Console().print(
        f"matmul ceiling ({BATCH} x {args.codes} @ {args.codes} x {args.codes}, float32): {ceiling:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
