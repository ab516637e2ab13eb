"""Speed of synthmed beside the peers a user would pick instead: fit time, seconds per epoch, sampling, peak memory.

    bash benchmarks/peers/setup.sh          # once: SDV (CTGAN, TVAE, GaussianCopula) and mostlyai-engine (TabularARGN)
    .venv/bin/python benchmarks/compare_peers.py --json compare_peers.json --markdown compare_peers.md
    .venv/bin/python benchmarks/compare_peers.py --datasets cleveland,pima --models tabgan,ctgan --epochs 50
    .venv/bin/python benchmarks/compare_peers.py --datasets nhds       # the NHDS study alone: auto vs TabularARGN

Every model fits the same TRAIN half (seed --seed) of each shared table of benchmarks/models.py (cleveland,
heart920, pima, diabetes, physionet), in its own process, one process at a time: synthmed through this script's
worker (the Python API, `synthmed.fit`), the peers through benchmarks/peers/run_peer.py in their own virtualenvs.
Every process runs with --threads torch CPU threads and the environment as a user has it.
- tabgan, CTGAN and TVAE train --epochs epochs of batch --batch-size; TabularARGN gets them as its max_epochs and
  batch_size. It trains on its own 80% split of TRAIN, checks its epoch limit after each step (so it goes one step
  past it: on a table of one batch, one epoch) and stops early when its validation loss stops improving; the epochs
  column says how many epochs it trained. GaussianCopula has no epochs. `auto` is what `synthmed fit` trains with
  no options: tabgan with its own epoch budget on these tables.
- s/epoch is the cost of one more epoch: each epoch model also fits --short-epochs epochs in a process of its own,
  and s/epoch = (fit s - short fit s) / (epochs - short epochs), so the preparation of the table (encoders, mixture
  fits) and first-call costs cancel out; where the epochs do not differ (TabularARGN stopping early at both budgets)
  it is fit s / epochs, and where the longer fit took no longer (the added epochs cost less than run-to-run noise)
  it is left out. On a table smaller than the batch an epoch is one step: tabgan's on about the table's rows,
  CTGAN's on --batch-size rows drawn from them, TVAE's and TabularARGN's on the table once.
- sample rows/s: --sample-rows rows drawn after the fit, timed apart from it, writing excluded.
- peak MiB: the process's maximum resident memory over imports, reading, fit and sample.
- wall s: the whole process (start, imports, reading the CSV, fit, sample, writing the sample).
The dataset `nhds` is study 1's table (benchmarks/studies/nhds_medgan.py): 19 flags of 75,775 NHDS 2010 discharges
(the TRAIN half), where `auto` picks medGAN with its extensions; it and TabularARGN run with their defaults.
Ratios are synthmed / peer between runs of the same budget: below 1 synthmed takes less time, for rows/s above 1
synthmed is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent
RUN_PEER = ROOT / "peers" / "run_peer.py"
TABLES = ("cleveland", "heart920", "pima", "diabetes", "physionet")
NHDS = "nhds"
MODELS = ("tabgan", "auto", "ctgan", "tvae", "gaussiancopula", "tabularargn")
NHDS_MODELS = ("auto", "tabularargn")
# benchmarks/models.py's PEERS and GaussianCopula; not imported from there, where a worker would load the evaluation
PEER_VENVS = {"ctgan": "sdv", "tvae": "sdv", "gaussiancopula": "sdv", "tabularargn": "mostly"}
# the models given --epochs and --batch-size on the shared tables; the others keep their defaults
EPOCH_MODELS = frozenset({"tabgan", "ctgan", "tvae", "tabularargn"})
TIME_FIGURES = frozenset({"fit_s", "s_per_epoch", "wall_s"})
# (figure, synthmed model, peer): the comparisons the issue asks for, each made where both ran on the same budget
RATIOS = (
    ("s_per_epoch", "tabgan", "ctgan"),
    ("s_per_epoch", "tabgan", "tvae"),
    ("fit_s", "tabgan", "tvae"),
    ("fit_s", "tabgan", "tabularargn"),
    ("sample_rows_s", "tabgan", "ctgan"),
    ("fit_s", "auto", "tabularargn"),
    ("wall_s", "auto", "tabularargn"),
    ("sample_rows_s", "auto", "tabularargn"),
)


@dataclass(frozen=True)
class Budget:
    """Epochs and batch size a run is given; None leaves the model's default."""

    epochs: int | None = None
    batch_size: int | None = None

    @property
    def label(self) -> str:
        if self.epochs is None and self.batch_size is None:
            return "defaults"
        return f"{self.epochs} epochs, batch {self.batch_size}"


def synthmed_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit and sample one synthmed model in this process (started by `measure`), as run_peer.py does for a peer."""
    import torch
    from peers.run_peer import peak_mib

    from synthmed.models.monitor import CURVE_KEY
    from synthmed.models.registry import ENTRIES
    from synthmed.version import __version__
    from synthmed.workflows.training import fit

    for entry in ENTRIES.values():  # every model class imported before the clock starts, as the peers' are
        entry.load()
    torch.set_num_threads(spec["threads"])
    table = pd.read_csv(spec["train"])
    settings = {"seed": spec["seed"]} | {k: spec[k] for k in ("epochs", "batch_size") if spec[k] is not None}
    started = time.perf_counter()
    model = fit(table, spec["model"], settings=settings, progress=False)
    fitted = time.perf_counter()
    synthetic = model.sample(spec["rows"])
    sampled = time.perf_counter()
    synthetic.to_csv(spec["output"], index=False)  # as run_peer.py does: part of the wall time, not of sampling
    choice = model.selection_
    return {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "epochs": {phase: len(records) for phase, records in model.history_.items() if phase != CURVE_KEY},
        "version": f"synthmed {__version__}",
        "chosen": f"{choice['model']} ({choice['preset'] or 'its defaults'})" if spec["model"] == "auto" else None,
        "threads": torch.get_num_threads(),
        "peak_mib": peak_mib(),
    }


def command_for(model: str, train: Path, budget: Budget, args: argparse.Namespace, folder: Path) -> list[str]:
    """The process that fits and samples `model`: a peer's run_peer.py in its virtualenv, or this script's worker."""
    output = folder / f"{model}.csv"
    if model not in PEER_VENVS:
        spec = {"model": model, "train": str(train), "rows": args.sample_rows, "output": str(output)}
        spec |= {"seed": args.seed, "threads": args.threads, "epochs": budget.epochs, "batch_size": budget.batch_size}
        return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    python = ROOT / "peers" / ".venvs" / PEER_VENVS[model] / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `bash benchmarks/peers/setup.sh` first")
    command = [str(python), str(RUN_PEER), model, str(train), str(args.sample_rows), str(output)]
    command += ["--seed", str(args.seed), "--threads", str(args.threads)]
    for option, value in (("--epochs", budget.epochs), ("--batch-size", budget.batch_size)):
        if value is not None:
            command += [option, str(value)]
    return command


def measure(dataset: str, model: str, train: Path, budget: Budget, args: argparse.Namespace, folder: Path) -> dict:
    """One process fits and samples one model: its figures, or the error that stopped it."""
    row: dict[str, Any] = {"dataset": dataset, "model": model, "budget": budget.label}
    started = time.perf_counter()
    done = subprocess.run(command_for(model, train, budget, args, folder), capture_output=True, text=True, check=False)
    row["wall_s"] = time.perf_counter() - started
    if done.returncode != 0:
        stderr = done.stderr.strip()
        last = stderr.splitlines()[-1] if stderr else f"exit status {done.returncode}"
        return row | {"error": last, "stderr": stderr[-3000:]}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    phases = figures["epochs"]  # synthmed: epochs per training phase; a peer: its count, or None (no epochs)
    if not isinstance(phases, dict):
        phases = {} if phases is None else {"train": phases}
    return row | {
        "fit_s": figures["fit_seconds"],
        "epochs": phases,
        # one number per epoch only where one phase trains (medGAN's autoencoder epochs cost another amount)
        "s_per_epoch": figures["fit_seconds"] / sum(phases.values()) if len(phases) == 1 else None,
        "sample_rows_s": args.sample_rows / figures["sample_seconds"],
        "peak_mib": figures["peak_mib"],
        "threads": figures["threads"],
        "version": figures["version"],
        "chosen": figures.get("chosen"),
    }


def per_added_epoch(row: dict, short: dict) -> dict:
    """`row` with s/epoch as the cost of the epochs it trained beyond the `short` run's."""
    if "error" in short or len(row["epochs"]) != 1:
        return row
    added = sum(row["epochs"].values()) - sum(short["epochs"].values())
    if added <= 0:
        return row
    extra = row["fit_s"] - short["fit_s"]  # at or below 0: the added epochs cost less than run-to-run noise
    return row | {"s_per_epoch": extra / added if extra > 0 else None, "short_fit_s": short["fit_s"]}


def ratios(rows: list[dict]) -> list[dict]:
    """synthmed / peer for each of RATIOS where both ran on the same dataset and budget, without error."""
    found = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        ran = {row["model"]: row for row in rows if row["dataset"] == dataset and "error" not in row}
        for figure, ours, peer in RATIOS:
            if ours not in ran or peer not in ran or ran[ours]["budget"] != ran[peer]["budget"]:
                continue
            if ran[ours][figure] is None or ran[peer][figure] is None:
                continue
            ratio = ran[ours][figure] / ran[peer][figure]
            faster = ratio < 1 if figure in TIME_FIGURES else ratio > 1
            speedup = 1 / ratio if figure in TIME_FIGURES else ratio
            reading = f"{speedup:.1f}x faster" if faster else f"{1 / speedup:.1f}x slower"
            found.append(
                {
                    "dataset": dataset,
                    "figure": figure,
                    "synthmed": ours,
                    "peer": peer,
                    "budget": ran[ours]["budget"],
                    "ratio": ratio,
                    "reading": f"synthmed {reading}",
                }
            )
    return found


RUN_HEADINGS = (
    "dataset",
    "model",
    "budget",
    "train rows",
    "fit s",
    "epochs",
    "s/epoch",
    "sample rows/s",
    "peak MiB",
    "wall s",
    "note",
)
RATIO_HEADINGS = ("dataset", "figure", "synthmed", "peer", "budget", "synthmed / peer", "reading")
NUMERIC_HEADINGS = frozenset(
    {"train rows", "fit s", "epochs", "s/epoch", "sample rows/s", "peak MiB", "wall s", "synthmed / peer"}
)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def run_cells(row: dict) -> list[str]:
    if "error" in row:
        return [row["dataset"], row["model"], row["budget"], f"{row['train_rows']:,}", *["-"] * 6, row["error"]]
    return [
        row["dataset"],
        row["model"],
        row["budget"],
        f"{row['train_rows']:,}",
        _number(row["fit_s"], 1),
        " + ".join(map(str, row["epochs"].values())) or "-",
        _number(row["s_per_epoch"], 3),
        _number(row["sample_rows_s"], 0),
        _number(row["peak_mib"], 0),
        _number(row["wall_s"], 1),
        row["chosen"] or "",
    ]


def ratio_cells(ratio: dict) -> list[str]:
    figure = {"fit_s": "fit s", "s_per_epoch": "s/epoch", "wall_s": "wall s", "sample_rows_s": "sample rows/s"}
    named = [figure[ratio["figure"]], ratio["synthmed"], ratio["peer"], ratio["budget"]]
    return [ratio["dataset"], *named, f"{ratio['ratio']:.2f}", ratio["reading"]]


def rich_table(title: str, headings: tuple[str, ...], cells: list[list[str]]) -> Table:
    table = Table(title=title)
    for heading in headings:
        table.add_column(heading, justify="right" if heading in NUMERIC_HEADINGS else "left")
    for row in cells:
        table.add_row(*row)
    return table


def markdown_table(headings: tuple[str, ...], cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in cells)])


def settings_line(args: argparse.Namespace) -> str:
    return (
        f"{args.epochs} epochs of batch {args.batch_size} for tabgan, CTGAN, TVAE and TabularARGN (its max_epochs; "
        f"s/epoch against a second fit of {args.short_epochs}), "
        f"{args.threads} torch threads per process, {args.sample_rows:,} rows sampled, split seed {args.seed}, one "
        f"process at a time on {os.cpu_count()} CPU cores"
    )


def nhds_table() -> pd.DataFrame:
    """Study 1's 19 variables of every NHDS 2010 discharge, built (and cached) as benchmarks/studies does."""
    sys.path.insert(0, str(ROOT / "studies"))
    from nhds_medgan import nineteen_variables

    return nineteen_variables()


def loaders() -> dict[str, Callable[[], pd.DataFrame]]:
    from models import DATASETS

    return {name: DATASETS[name].load for name in TABLES} | {NHDS: nhds_table}


def budget_for(dataset: str, model: str, args: argparse.Namespace) -> Budget:
    if dataset == NHDS or model not in EPOCH_MODELS:
        return Budget()
    return Budget(args.epochs, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join([*TABLES, NHDS]), help=f"of {', '.join([*TABLES, NHDS])}")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"of {', '.join(MODELS)} (nhds runs auto and TabularARGN)"
    )
    parser.add_argument("--epochs", type=int, default=50, help="epochs of tabgan, CTGAN, TVAE; TabularARGN's max")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per step of tabgan, CTGAN, TVAE, TabularARGN")
    parser.add_argument("--short-epochs", type=int, default=10, help="the second budget that s/epoch is measured by")
    parser.add_argument("--sample-rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of every process")
    parser.add_argument("--seed", type=int, default=0, help="split and model seed")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--markdown", type=Path, help="also write the tables here, as Markdown")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(synthmed_worker(json.loads(args.worker))))
        return
    from models import halves

    chosen_datasets, chosen_models = args.datasets.split(","), args.models.split(",")
    for kind, chosen, known in (("dataset", chosen_datasets, (*TABLES, NHDS)), ("model", chosen_models, MODELS)):
        if unknown := sorted(set(chosen) - set(known)):
            parser.error(f"unknown {kind}(s) {', '.join(unknown)}: choose from {', '.join(known)}")
    console = Console(width=200)
    rows: list[dict] = []
    load = loaders()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for dataset in chosen_datasets:
            train, _ = halves(load[dataset](), args.seed)
            train_path = folder / f"{dataset}.csv"
            train.to_csv(train_path, index=False)
            for model in (m for m in chosen_models if m in (NHDS_MODELS if dataset == NHDS else MODELS)):
                budget = budget_for(dataset, model, args)
                row = measure(dataset, model, train_path, budget, args, folder)
                if budget.epochs is not None and "error" not in row:
                    short = Budget(args.short_epochs, budget.batch_size)
                    row = per_added_epoch(row, measure(dataset, model, train_path, short, args, folder))
                rows.append(row | {"train_rows": len(train), "columns": train.shape[1]})
                console.print(json.dumps(rows[-1]), soft_wrap=True)
    found = ratios(rows)
    runs, compared = [run_cells(row) for row in rows], [ratio_cells(ratio) for ratio in found]
    console.print(rich_table(f"Fit and sample, one process each: {settings_line(args)}", RUN_HEADINGS, runs))
    if compared:
        console.print(rich_table("synthmed / peer on the same budget", RATIO_HEADINGS, compared))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json", "markdown", "worker")}
        machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
        document = {"settings": settings, "machine": machine, "runs": rows, "ratios": found}
        args.json.write_text(json.dumps(document, indent=2, default=str))
    if args.markdown:
        tables = [markdown_table(RUN_HEADINGS, runs), markdown_table(RATIO_HEADINGS, compared)]
        args.markdown.write_text("\n\n".join([f"{settings_line(args)}.", *tables]) + "\n")


if __name__ == "__main__":
    main()
