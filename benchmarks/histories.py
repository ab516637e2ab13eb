"""Patient histories: synthmed's visitgpt beside TabularARGN's sequential mode and SDV's PARSynthesizer, on the
Diabetes 130-US encounters; time, memory, HALO's fidelity figures, utility and privacy per model.

    bash benchmarks/peers/setup.sh          # once: SDV (PARSynthesizer) and mostlyai-engine (TabularARGN)
    .venv/bin/python benchmarks/histories.py --json histories.json --markdown histories.md
    .venv/bin/python benchmarks/histories.py --models visitgpt,tabularargn --par-epochs 16
    .venv/bin/python benchmarks/histories.py --patients 300 --epochs 2 --peer-epochs 1 --threads 1   # a quick check

The data: every patient (`patient_nbr`) with at least 2 encounters (16,773), one row per encounter; the visit id is
`encounter_id` (its order is the time order: there is no time column), the codes diag_1..diag_3, every other column
an attribute (patient-level when constant within every TRAIN patient, else an encounter attribute). Patients are
split (seed --seed) into TRAIN (80%) and a real HOLDOUT (20%); --patients N keeps N TRAIN patients and a holdout of
the same proportion, for quick runs.

Every model fits TRAIN in its own process, one process at a time, with --threads torch CPU threads, and samples
--draws times as many patients as HOLDOUT has (cut, in the order written, into draws of HOLDOUT's size): visitgpt
through this script's worker (the Python API, `VisitGPT.fit`; its defaults unless --epochs, --batch-size, --width,
--layers are given), the peers through benchmarks/peers/run_history_peer.py in their own virtualenvs, with their
defaults except the epochs: TabularARGN (mostlyai-engine) as a flat model of the patient-level columns plus a
sequential model of the encounters with the patients as context, max_epochs --argn-epochs (it stops early);
PARSynthesizer (SDV) with the patient-level columns as context_columns, --par-epochs epochs (its default, 128, is
slow). --peer-epochs sets both where they are not given. A peer that fails or runs past --timeout gets its error in
its row, and the others go on.

Figures (after all runs, in this process):
- fit s, sample s (writing excluded), peak MiB (the process's maximum resident memory, imports included); epochs
  run, and for visitgpt the epoch whose weights it kept (the lowest loss on its held-out patients).
- `history_figures` against TRAIN: R^2 of the code probabilities, within-visit co-occurrences and consecutive-visit
  conditionals, and the total variation distances of visits per patient and codes per visit. The "real holdout" row
  is HOLDOUT's figures: what a second real sample of the population scores.
- `evaluate_histories` (target `readmitted`, one row per patient): TSTR / TRTR of the best utility model, the highest
  membership-attack AUC of the privacy area and the real-vs-synthetic patient detection AUC (the holdout row: the
  same classifier separating TRAIN from HOLDOUT patients). The evaluation cuts TRAIN to HOLDOUT's size and each
  draw has that size, so TSTR learns from as many patients as TRTR. One draw of a few thousand patients moves
  TSTR / TRTR by several hundredths, so every figure is the mean over the draws, with the spread (standard
  deviation) of TSTR / TRTR and of the membership AUC beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

ROOT = Path(__file__).resolve().parent
RUN_HISTORY_PEER = ROOT / "peers" / "run_history_peer.py"
DATA = ROOT.parents[1] / "shared" / "data" / "diabetes-130-us-hospitals" / "diabetic_data.csv"
PATIENT, VISIT, CODES, TARGET = "patient_nbr", "encounter_id", ("diag_1", "diag_2", "diag_3"), "readmitted"
MIN_VISITS = 2
HOLDOUT_SHARE = 0.2
MODELS = ("visitgpt", "tabularargn", "par")
PEER_VENVS = {"tabularargn": "mostly", "par": "sdv"}
# visitgpt's settings that options pass through (its defaults otherwise)
VISITGPT_SETTINGS = ("epochs", "batch_size", "width", "layers", "validation_share")
HISTORY_FIGURES = (
    "code_probability_r2",
    "cooccurrence_r2",
    "consecutive_r2",
    "visits_per_patient_tvd",
    "codes_per_visit_tvd",
)
HOLDOUT_ROW = "real holdout"
RARE = "_RARE_"


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, na_values=["?"], dtype={code: str for code in CODES})


def load(path: Path) -> pd.DataFrame:
    """The encounters of every patient with at least MIN_VISITS of them."""
    table = read_table(path)
    visits = table[PATIENT].value_counts()
    return table[table[PATIENT].isin(visits.index[visits >= MIN_VISITS])].reset_index(drop=True)


def split(table: pd.DataFrame, seed: int, patients: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TRAIN and HOLDOUT by patient (seeded); `patients` keeps that many TRAIN patients and as many holdout patients
    as keeps HOLDOUT's share."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.sort(table[PATIENT].unique()))
    held = round(len(ids) * HOLDOUT_SHARE)
    holdout_ids, train_ids = ids[:held], ids[held:]
    if patients is not None and patients < len(train_ids):
        holdout_ids = holdout_ids[: max(round(patients * len(holdout_ids) / len(train_ids)), 1)]
        train_ids = train_ids[:patients]
    train = table[table[PATIENT].isin(train_ids)].reset_index(drop=True)
    return train, table[table[PATIENT].isin(holdout_ids)].reset_index(drop=True)


def roles() -> Any:
    from synthmed.data.histories import HistoryRoles

    return HistoryRoles(PATIENT, CODES, visit=VISIT)


def synthmed_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit and sample visitgpt in this process (started by `measure`), as run_history_peer.py does for a peer."""
    import torch
    from peers.run_peer import peak_mib

    from synthmed.models.training import KEPT_SUFFIX
    from synthmed.models.visitgpt import VisitGPT
    from synthmed.version import __version__

    torch.set_num_threads(spec["threads"])
    table = read_table(Path(spec["train"]))
    settings = {name: spec[name] for name in VISITGPT_SETTINGS if spec.get(name) is not None}
    started = time.perf_counter()
    model = VisitGPT(seed=spec["seed"], **settings).fit(
        table, patient_column=PATIENT, codes=list(CODES), visit_column=VISIT, progress=False
    )
    fitted = time.perf_counter()
    synthetic = model.sample(spec["patients"])
    sampled = time.perf_counter()
    synthetic.to_csv(spec["output"], index=False)
    return {
        "fit_seconds": fitted - started,
        "sample_seconds": sampled - fitted,
        "epochs": {"train": len(model.history_["train"])},
        "kept_epoch": (model.history_.get("train" + KEPT_SUFFIX) or [{"epoch": None}])[0]["epoch"],
        "version": f"synthmed {__version__}",
        "threads": torch.get_num_threads(),
        "peak_mib": peak_mib(),
    }


def command_for(model: str, train: Path, patients: int, context: list[str], args: argparse.Namespace) -> list[str]:
    """The process that fits and samples `model`: a peer's run_history_peer.py in its virtualenv, or the worker."""
    output = args.folder / f"{model}.csv"
    if model not in PEER_VENVS:
        spec = {"train": str(train), "patients": patients, "output": str(output), "seed": args.seed}
        spec |= {"threads": args.threads} | {name: getattr(args, name) for name in VISITGPT_SETTINGS}
        return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    python = ROOT / "peers" / ".venvs" / PEER_VENVS[model] / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `bash benchmarks/peers/setup.sh` first")
    command = [str(python), str(RUN_HISTORY_PEER), model, str(train), str(patients), str(output)]
    command += ["--patient", PATIENT, "--visit", VISIT, "--codes", *CODES]
    command += [item for column in context for item in ("--context", column)]
    command += ["--seed", str(args.seed), "--threads", str(args.threads)]
    epochs = args.argn_epochs if model == "tabularargn" else args.par_epochs
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    return command


def measure(model: str, train: Path, patients: int, context: list[str], args: argparse.Namespace) -> dict:
    """One process fits and samples one model: its figures, or the error that stopped it."""
    row: dict[str, Any] = {"model": model}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command_for(model, train, patients, context, args),
            capture_output=True,
            text=True,
            check=False,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        return row | {"wall_s": time.perf_counter() - started, "error": f"timed out after {args.timeout:g} s"}
    row["wall_s"] = time.perf_counter() - started
    stderr = done.stderr.strip()
    lines = done.stdout.strip().splitlines()
    if done.returncode < 0:  # killed by a signal: SIGKILL is what the kernel sends a process out of memory
        name = signal.Signals(-done.returncode).name
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, MiB
        return row | {"error": f"killed by {name} (largest process so far: {peak:,.0f} MiB)", "stderr": stderr[-3000:]}
    if done.returncode != 0 or not lines:
        last = stderr.splitlines()[-1] if stderr else f"exit status {done.returncode}"
        return row | {"error": last, "stderr": stderr[-3000:]}
    try:
        figures = json.loads(lines[-1])
    except ValueError:
        return row | {"error": f"no figures: {lines[-1][:200]}", "stderr": stderr[-3000:]}
    return row | {
        "fit_s": figures["fit_seconds"],
        "sample_s": figures["sample_seconds"],
        "epochs": figures["epochs"],
        "kept_epoch": figures.get("kept_epoch"),
        "peak_mib": figures["peak_mib"],
        "threads": figures["threads"],
        "version": figures["version"],
        "output": str(args.folder / f"{model}.csv"),
    }


def draws(synthetic: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """`synthetic` cut into draws of `size` patients, in the order the patients were written (a last, smaller part
    is left out; a sample smaller than `size` is one draw)."""
    ids = synthetic[PATIENT].unique()
    count = max(len(ids) // size, 1)
    number = synthetic[PATIENT].map(pd.Series(np.arange(len(ids)) // size, index=ids)).to_numpy()
    return [synthetic[number == i].reset_index(drop=True) for i in range(count)]


def judged_draws(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> dict[str, Any]:
    """`judged` for each draw of HOLDOUT's size: the mean of every figure, with the spread of utility and membership."""
    figures = [judged(train, holdout, draw, seed) for draw in draws(synthetic, int(holdout[PATIENT].nunique()))]
    mean = lambda name: _mean([f[name] for f in figures])  # noqa: E731
    per_draw = ("tstr_to_trtr", "utility_best_model", "membership_auc_max", "strongest_attack", "verdicts")
    first = {k: v for k, v in figures[0].items() if k not in per_draw}
    return {
        **first,
        "draws": len(figures),
        "patients": int(synthetic[PATIENT].nunique()),
        "visits": len(synthetic),
        "rare_code_cells": sum(f["rare_code_cells"] for f in figures),
        "history": {name: _mean([f["history"].get(name) for f in figures]) for name in figures[0]["history"]},
        **{
            name: mean(name)
            for name in ("tstr_to_trtr", "best_tstr", "best_trtr", "membership_auc_max", "detection_auc")
        },
        "tstr_to_trtr_sd": _spread([f["tstr_to_trtr"] for f in figures]),
        "membership_auc_max_sd": _spread([f["membership_auc_max"] for f in figures]),
        "per_draw": [{k: f[k] for k in per_draw} for f in figures],
    }


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _spread(values: list[float | None]) -> float | None:
    return None if len(values) < 2 or any(v is None for v in values) else float(np.std(values, ddof=1))


def judged(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> dict[str, Any]:
    """The history figures, utility and privacy of `synthetic` against TRAIN (HOLDOUT as the reference)."""
    from synthmed.data.histories import read_histories
    from synthmed.data.rare import MERGED
    from synthmed.evaluate.histories import history_figures
    from synthmed.evaluate.history_evaluation import evaluate_histories

    figures = history_figures(read_histories(train, roles()), read_histories(synthetic, roles()))
    document = evaluate_histories(train, holdout, synthetic, roles(), target=TARGET, seed=seed).to_dict()
    summary = document["utility"].get("summary", {})
    best = summary.get("best_model")
    attacks = [(attack["auc"]["value"], attack["name"]) for attack in document["privacy"]["membership_inference"]]
    attacks = [(auc, name) for auc, name in attacks if auc is not None]
    strongest = max(attacks, default=(None, None))
    return {
        "patients": int(synthetic[PATIENT].nunique()),
        "visits": len(synthetic),
        # rare codes as the models write them: TabularARGN's value protection, visitgpt's rare_values="merge"
        "rare_code_cells": int(synthetic[list(CODES)].isin([RARE, MERGED]).sum().sum()),
        "history": figures,
        "tstr_to_trtr": summary.get("tstr_to_trtr", {}).get(best) if best is not None else None,
        "utility_best_model": best,
        "best_tstr": summary.get("best_tstr"),
        "best_trtr": summary.get("best_trtr"),
        "membership_auc_max": strongest[0],
        "strongest_attack": strongest[1],
        "detection_auc": document["fidelity"]["detection"]["auc"]["value"],
        "verdicts": {area: document[area]["verdict"] for area in ("fidelity", "utility", "privacy")},
    }


def holdout_row(train: pd.DataFrame, holdout: pd.DataFrame, seed: int) -> dict[str, Any]:
    """HOLDOUT's history figures against TRAIN, and how well the detection classifier tells their patients apart."""
    from synthmed.data.histories import read_histories
    from synthmed.evaluate.encoding import prepare_tables
    from synthmed.evaluate.histories import history_figures
    from synthmed.evaluate.history_evaluation import frequent_codes, patient_table
    from synthmed.evaluate.similarity import detection

    train_h, holdout_h = read_histories(train, roles()), read_histories(holdout, roles())
    codes = frequent_codes(train_h)
    frames = [patient_table(histories, codes) for histories in (train_h, holdout_h, holdout_h)]
    return {
        "model": HOLDOUT_ROW,
        "patients": holdout_h.n_patients,
        "visits": len(holdout),
        "history": history_figures(train_h, holdout_h),
        "detection_auc": detection(prepare_tables(*frames, seed=seed), seed=seed).auc.value,
    }


HEADINGS = (
    "model",
    "patients",
    "visits",
    "fit s",
    "sample s",
    "peak MiB",
    "epochs",
    "code prob. R2",
    "co-occurrence R2",
    "consecutive R2",
    "visits/patient TVD",
    "codes/visit TVD",
    "TSTR/TRTR (± sd)",
    "max MIA AUC (± sd)",
    "detection AUC",
    "note",
)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _epochs(value: Any) -> str:
    if isinstance(value, dict):
        return " + ".join(f"{n if n is not None else '?'} ({phase})" for phase, n in value.items()) or "-"
    return "-" if value is None else str(value)


def _with_spread(row: dict, name: str) -> str:
    spread = row.get(f"{name}_sd")
    return _number(row.get(name), 3) + ("" if spread is None else f" ± {spread:.3f}")


def cells(row: dict) -> list[str]:
    history = row.get("history", {})
    return [
        row["model"],
        _number(row.get("patients"), 0),
        _number(row.get("visits"), 0),
        _number(row.get("fit_s"), 1),
        _number(row.get("sample_s"), 1),
        _number(row.get("peak_mib"), 0),
        _epochs(row.get("epochs")) + (f", weights of {row['kept_epoch']}" if row.get("kept_epoch") else ""),
        *(_number(history.get(name), 3) for name in HISTORY_FIGURES),
        _with_spread(row, "tstr_to_trtr"),
        _with_spread(row, "membership_auc_max"),
        _number(row.get("detection_auc"), 3),
        row.get("error", ""),
    ]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    return "\n".join([*lines, *("| " + " | ".join(cells(row)) + " |" for row in rows)])


def settings_line(args: argparse.Namespace, train: pd.DataFrame, holdout: pd.DataFrame) -> str:
    visitgpt = ", ".join(f"{name} {getattr(args, name)}" for name in VISITGPT_SETTINGS if getattr(args, name))
    return (
        f"TRAIN {train[PATIENT].nunique():,} patients ({len(train):,} encounters), HOLDOUT "
        f"{holdout[PATIENT].nunique():,} ({len(holdout):,}), split seed {args.seed}; {args.draws} draws of HOLDOUT's "
        f"size per model (figures: their mean); visitgpt "
        f"{visitgpt or 'defaults'}; TabularARGN max_epochs {args.argn_epochs or 'default (100)'}; PAR epochs "
        f"{args.par_epochs or 'default (128)'}; {args.threads} torch threads per process, one process at a time on "
        f"{os.cpu_count()} CPU cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"of {', '.join(MODELS)}")
    parser.add_argument("--data", type=Path, default=DATA, help="diabetic_data.csv of Diabetes 130-US")
    parser.add_argument("--patients", type=int, help="keep this many TRAIN patients (and the holdout in proportion)")
    parser.add_argument("--seed", type=int, default=0, help="split and model seed")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of every process")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a model's process may run")
    parser.add_argument("--epochs", type=int, help="visitgpt's epochs (default: its own)")
    parser.add_argument("--batch-size", type=int, help="visitgpt's patients per step (default: its own)")
    parser.add_argument("--width", type=int, help="visitgpt's width (default: its own)")
    parser.add_argument("--layers", type=int, help="visitgpt's layers (default: its own)")
    parser.add_argument("--validation-share", type=float, help="visitgpt's held-out share (default: its own, 0)")
    parser.add_argument("--argn-epochs", type=int, help="TabularARGN's max_epochs (default: its own, 100)")
    parser.add_argument("--par-epochs", type=int, help="PARSynthesizer's epochs (default: its own, 128)")
    parser.add_argument("--peer-epochs", type=int, help="--argn-epochs and --par-epochs where they are not given")
    parser.add_argument("--draws", type=int, default=5, help="samples of HOLDOUT's size judged per model")
    parser.add_argument("--keep", type=Path, help="write the split and every sample to this folder")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--markdown", type=Path, help="also write the table here, as Markdown")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(synthmed_worker(json.loads(args.worker))))
        return
    if args.draws < 1:
        parser.error("--draws must be at least 1")
    chosen = args.models.split(",")
    if unknown := sorted(set(chosen) - set(MODELS)):
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    for output in (args.json, args.markdown):  # made before hours of training, not after
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
    if args.peer_epochs is not None:
        args.argn_epochs = args.argn_epochs if args.argn_epochs is not None else args.peer_epochs
        args.par_epochs = args.par_epochs if args.par_epochs is not None else args.peer_epochs
    from synthmed.data.histories import read_histories

    console = Console(width=200)
    train, holdout = split(load(args.data), args.seed, args.patients)
    patients = int(holdout[PATIENT].nunique())
    context = [str(column) for column in read_histories(train, roles()).static.columns]
    console.print(settings_line(args, train, holdout))
    console.print(f"patient-level columns (context of the peers): {', '.join(context) or 'none'}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        args.folder = args.keep or Path(scratch)
        args.folder.mkdir(parents=True, exist_ok=True)
        train_path = args.folder / "train.csv"
        train.to_csv(train_path, index=False)
        if args.keep:
            holdout.to_csv(args.folder / "holdout.csv", index=False)
        for model in chosen:
            rows.append(measure(model, train_path, patients * args.draws, context, args))
            console.print(json.dumps({k: v for k, v in rows[-1].items() if k != "stderr"}), soft_wrap=True)
        for row in rows:
            if "error" in row:
                continue
            try:
                row |= judged_draws(train, holdout, read_table(Path(row.pop("output"))), args.seed)
            except Exception as error:  # a sample the evaluation refuses: the row says why, the others go on
                row["error"] = f"evaluation: {type(error).__name__}: {error}"
    rows.append(holdout_row(train, holdout, args.seed))
    table = markdown_table(rows)
    print(f"{settings_line(args, train, holdout)}.\n\n{table}")
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        settings = {k: v for k, v in settings.items() if k not in ("json", "markdown", "worker", "folder")}
        machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
        about = {
            "train_patients": int(train[PATIENT].nunique()),
            "train_visits": len(train),
            "holdout_patients": patients,
            "holdout_visits": len(holdout),
            "context_columns": context,
        }
        document = {"settings": settings, "machine": machine, "data": about, "runs": rows}
        args.json.write_text(json.dumps(document, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(f"{settings_line(args, train, holdout)}.\n\n{table}\n")


if __name__ == "__main__":
    main()
