"""Where tabgan's sampling time goes: the noise, the generator's network and decoding into the table's columns.

For each shared table tabgan is fitted briefly (sampling costs the same after 5 epochs as after 300) on the TRAIN
half (split seed 0), then `--rows` rows are generated `--repeats` times: drawing the noise alone, the whole
generation on the device (noise, network, hard categories: `_generate_in_eval`), and decoding those rows into the
table's columns (`_to_output`: inverse scaling, calibration, pandas columns). Milliseconds are means over the repeats,
one process, 2 torch threads.
Usage: python benchmarks/sampling_breakdown.py [--datasets cleveland,pima,...] [--rows 10000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
from models import DATASETS, halves
from rich.console import Console
from rich.table import Table

from synthmed.models.training import TrainingRun
from synthmed.workflows.training import fit

TABLES = ("cleveland", "heart920", "pima", "diabetes", "physionet")


def mean_ms(action: Callable[[int], object], repeats: int) -> float:
    action(repeats)  # first call: allocations and kernel choices
    started = time.perf_counter()
    for repeat in range(repeats):
        action(repeat)
    return (time.perf_counter() - started) / repeats * 1000


def breakdown(dataset: str, rows: int, repeats: int) -> dict[str, float | int | str]:
    train, _ = halves(DATASETS[dataset].load(), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit(train, "tabgan", settings={"seed": 0, "epochs": 5, "batch_size": 500}, progress=False)
    device = model._device()
    generated = model._generate_in_eval(rows, TrainingRun(0, device, False)).cpu().numpy()
    noise = mean_ms(lambda seed: TrainingRun(seed, device, False).normal(rows, model.noise_dim), repeats)
    generate = mean_ms(lambda seed: model._generate_in_eval(rows, TrainingRun(seed, device, False)), repeats)
    decode = mean_ms(lambda seed: model._to_output(generated, TrainingRun(seed, device, False)), repeats)
    return {
        "dataset": dataset,
        "columns": train.shape[1],
        "width": model.transformer_.layout_.width,
        "noise": noise,
        "network": generate - noise,
        "decode": decode,
        "rows_per_s": rows / (generate + decode) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(TABLES))
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    table = Table(title=f"tabgan sampling of {args.rows:,} rows: ms per part, mean of {args.repeats}")
    for heading in ("dataset", "columns", "encoded width", "noise ms", "network + choices ms", "decode ms", "rows/s"):
        table.add_column(heading, justify="left" if heading == "dataset" else "right")
    for dataset in args.datasets.split(","):
        row = breakdown(dataset, args.rows, args.repeats)
        table.add_row(
            str(row["dataset"]),
            str(row["columns"]),
            str(row["width"]),
            *(f"{row[part]:.1f}" for part in ("noise", "network", "decode")),
            f"{row['rows_per_s']:,.0f}",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
