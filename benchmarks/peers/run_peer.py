"""Fit one peer synthesizer on a CSV and write its samples; run with the peer's own virtualenv.

    .venvs/sdv/bin/python run_peer.py ctgan train.csv 1000 out.csv --seed 0

Prints one JSON line: fit and sample seconds. Peers keep their own defaults (that is what a user gets).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch


def fit_sdv(kind: str, table: pd.DataFrame, epochs: int | None):
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

    metadata = Metadata.detect_from_dataframes({"table": table})
    synthesizer_class = {"ctgan": CTGANSynthesizer, "tvae": TVAESynthesizer}[kind]
    options = {"epochs": epochs} if epochs else {}
    synthesizer = synthesizer_class(metadata, **options)
    synthesizer.fit({"table": table})  # SDV 2 takes (and returns) a mapping of table name to rows
    return lambda n: synthesizer.sample(n)["table"]


def fit_tabularargn(table: pd.DataFrame, epochs: int | None):
    from mostlyai.engine import TabularARGN

    model = TabularARGN(**({"max_epochs": epochs} if epochs else {}))
    model.fit(table)
    return lambda n: model.sample(n_samples=n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["ctgan", "tvae", "tabularargn"])
    parser.add_argument("train")
    parser.add_argument("rows", type=int)
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    table = pd.read_csv(args.train)
    started = time.perf_counter()
    if args.peer == "tabularargn":
        sample = fit_tabularargn(table, args.epochs)
    else:
        sample = fit_sdv(args.peer, table, args.epochs)
    fitted = time.perf_counter()
    synthetic = sample(args.rows)
    sampled = time.perf_counter()
    synthetic.to_csv(args.output, index=False)
    print(json.dumps({"fit_seconds": fitted - started, "sample_seconds": sampled - fitted}))


if __name__ == "__main__":
    main()
