"""Fit one peer synthesizer on a CSV and write its samples; run with the peer's own virtualenv.

    .venvs/sdv/bin/python run_peer.py ctgan train.csv 1000 out.csv --seed 0
    .venvs/mostly/bin/python run_peer.py tabularargn train.csv 10000 out.csv --epochs 50 --batch-size 500 --threads 2

Prints one JSON line: fit and sample seconds, the epochs trained (None for GaussianCopula, which has none), the
peer's version and the process's peak resident memory (fit and sample together, imports included). Peers keep their
own defaults (that is what a user gets) except what the options set: --epochs (TabularARGN's max_epochs: it stops
early when its validation loss stops improving), --batch-size and --threads (torch's CPU threads).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch

Sampler = Callable[[int], pd.DataFrame]
# a fit: the table in; a sampler and the epochs trained (None for a model without epochs) out
Fit = Callable[[pd.DataFrame], tuple[Sampler, int | None]]


def sdv_fit(kind: str, epochs: int | None, batch_size: int | None) -> Fit:
    """SDV's synthesizer `kind`, imported here so that its import is not timed as part of the fit."""
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    def fit(table: pd.DataFrame) -> tuple[Sampler, int | None]:
        metadata = Metadata.detect_from_dataframes({"table": table})
        if kind == "gaussiancopula":  # a copula over fitted marginals: no epochs, no batches
            synthesizer = GaussianCopulaSynthesizer(metadata)
        else:
            options = {name: value for name, value in (("epochs", epochs), ("batch_size", batch_size)) if value}
            synthesizer = {"ctgan": CTGANSynthesizer, "tvae": TVAESynthesizer}[kind](metadata, **options)
        synthesizer.fit({"table": table})  # SDV 2 takes (and returns) a mapping of table name to rows
        trained = synthesizer.get_parameters().get("epochs")  # CTGAN and TVAE run every epoch asked for
        return lambda n: synthesizer.sample(n)["table"], trained

    return fit


def parsed(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The options with --seed and --threads added, and the process set up by them: torch's CPU threads, numpy's
    and torch's global seeds (the peers draw from those)."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    return args


def report(peer: str, clock: tuple[float, float, float], epochs: int | None) -> None:
    """Print the run's JSON line: fit and sample seconds (from the start, fitted and sampled times), the epochs,
    the peer's version, torch's threads and the process's peak memory."""
    started, fitted, sampled = clock
    package = "mostlyai-engine" if peer == "tabularargn" else "sdv"
    figures = {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "epochs": epochs,
        "version": f"{package} {version(package)}",
        "threads": torch.get_num_threads(),
        "peak_mib": peak_mib(),
    }
    print(json.dumps(figures))


def tabularargn_fit(epochs: int | None, batch_size: int | None) -> Fit:
    """mostlyai-engine's TabularARGN, imported here so that its import is not timed as part of the fit."""
    from mostlyai.engine import TabularARGN

    def fit(table: pd.DataFrame) -> tuple[Sampler, int | None]:
        options = {name: value for name, value in (("max_epochs", epochs), ("batch_size", batch_size)) if value}
        model = TabularARGN(**options)
        model.fit(table)
        # the engine logs one progress message per epoch in its workspace (ModelStore/model-data/); the last
        # one's epoch is how far training went before early stopping or the epoch limit
        messages = Path(model.workspace_path_) / "ModelStore" / "model-data" / "progress-messages.csv"
        trained = int(pd.read_csv(messages)["epoch"].max()) if messages.exists() else None
        return lambda n: model.sample(n_samples=n), trained

    return fit


def peak_mib() -> float:
    """This process's peak resident memory (and any helper process it waited for), in MiB (Linux: KiB units)."""
    own, helpers = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return max(own, helpers) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["ctgan", "tvae", "gaussiancopula", "tabularargn"])
    parser.add_argument("train")
    parser.add_argument("rows", type=int)
    parser.add_argument("output")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parsed(parser)
    table = pd.read_csv(args.train)
    if args.peer == "tabularargn":
        fit = tabularargn_fit(args.epochs, args.batch_size)
    else:
        fit = sdv_fit(args.peer, args.epochs, args.batch_size)
    started = time.perf_counter()
    sample, epochs = fit(table)
    fitted = time.perf_counter()
    synthetic = sample(args.rows)
    sampled = time.perf_counter()
    synthetic.to_csv(args.output, index=False)
    report(args.peer, (started, fitted, sampled), epochs)


if __name__ == "__main__":
    main()
