"""Study 2a: corGAN vs medGAN vs VAE on patient x diagnosis-code matrices (the corGAN paper's MIMIC-III study).

    .venv/bin/python benchmarks/studies/code_matrices.py [--datasets nhds,diabetes,mimic3-demo] [--output DIR]

Full MIMIC-III is credentialed; its open stand-ins, each built with `synthmed ehr-matrix`:
- nhds: all 151,551 NHDS 2010 discharges x 1,116 3-digit ICD-9 codes from the 15 diagnosis fields (MIMIC-III:
  46,520 patients x 1,071 codes; 6.86 codes per record here, 11.27 there);
- diabetes: Diabetes 130-US hospitals, 71,518 patients x 882 3-digit codes from diag_1..3 (a sparser matrix);
- mimic3-demo: the 100-patient MIMIC-III demo's DIAGNOSES_ICD.csv, the paper's own pipeline at toy scale.
The three models train on the same random half (seed 0) and are scored as the paper scores them, on the other
half: dimension-wise probability, dimension-wise prediction (F1 on the held-out half of a logistic regression per
frequent code, trained on generated vs real records) and the membership-inference curves (precision and recall of
the Hamming-distance attack as the number of synthetic records and the share of real records known vary).

Training budget. The papers' defaults (1,000 GAN epochs, 100 autoencoder epochs) would take corGAN about 37 hours
per matrix on this 2-core CPU, so every model gets the same number of optimiser updates on every dataset, not
epochs tuned per model or per dataset: 1,000 GAN generator updates, 1,000 autoencoder updates (medGAN, corGAN) and
10,000 VAE updates (a VAE update costs a fiftieth of a corGAN one), never more epochs than the paper's defaults
(the 50-patient demo gets those). corgan-extended and medgan-extended are the models with synthmed's extensions
(common.CORGAN_EXTENSIONS, common.MEDGAN_EXTENSIONS) on their budgets; corgan-extended-sampled draws each code
from its generated probability instead of the reference's rounding at 0.5, and corgan-extended-calibrated rounds
each code at the threshold that gives it its training share. corGAN uses the reference code's dense
generator and critic around its convolutional autoencoder ("architecture='mlp'"): the convolutional critic costs
150 ms a step on a 1,116-wide record here against 35 ms, and its 1,000 updates would take 20 minutes per matrix.
Scores use at most 10,000 records of each half and 10,000 generated (the attack curves use every real record).
Writes study.html to studies-output/code_matrices/.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from common import (
    CORGAN_EXTENSIONS,
    halves,
    nhds_discharges,
    output_folder,
    print_table,
    shared_data,
    stopwatch,
    synthmed_cli,
    write_study_page,
)

from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.membership_curves import MembershipCurves, membership_curves
from synthmed.evaluate.similarity import dimension_wise_prediction, dimension_wise_probability
from synthmed.models import MODELS
from synthmed.models.presets import PRESETS
from synthmed.report import plots

SPLIT_SEED = 0
SCORED = 10_000
GAN_UPDATES = 1_000
AUTOENCODER_UPDATES = 1_000
VAE_UPDATES = 10_000
TOP_CODES = 20
MODEL_NAMES = (
    "corgan",
    "corgan-extended",
    "corgan-extended-sampled",
    "corgan-extended-calibrated",
    "medgan",
    "medgan-extended",
    "vae",
    "visitgpt",
)
HEADERS = (
    "dataset / model",
    "fit s",
    "codes per record",
    "dim.-wise probability R²",
    "dim.-wise prediction F1, generated / real",
    "F1 pairs r",
    "MI precision / recall",
)


def code_matrix(dataset: str, folder: Path) -> pd.DataFrame:
    """The dataset's 0/1 code matrix, built once with the CLI and cached; the record id column is dropped."""
    matrix = folder / f"{dataset}-codes.parquet"
    if not matrix.exists():
        if dataset == "nhds":
            arguments: tuple[object, ...] = (nhds_discharges(), "--code-columns", "diagnosis_*")
        elif dataset == "diabetes":
            source = shared_data("diabetes-130-us-hospitals", "diabetic_data.csv")
            arguments = (source, "--code-columns", "diag_1,diag_2,diag_3", "--patient-column", "patient_nbr")
        else:
            arguments = (shared_data("mimic3-demo", "DIAGNOSES_ICD.csv"),)
        print(synthmed_cli("ehr-matrix", *arguments, "-o", matrix))
    table = pd.read_parquet(matrix)
    return table.drop(columns=table.columns[0])


def _epochs(updates: int, rows: int, batch: int, paper_default: int) -> int:
    return min(paper_default, math.ceil(updates / max(1, rows // min(batch, rows))))


def hyperparameters(model: str, rows: int) -> dict[str, Any]:
    """The same update budget for every dataset (see the module docstring); everything else the model's defaults."""
    if model == "corgan":
        return {
            "architecture": "mlp",
            "epochs": _epochs(GAN_UPDATES, rows, 512, 1000),
            "pretrain_epochs": _epochs(AUTOENCODER_UPDATES, rows, 512, 100),
        }
    if model == "corgan-extended":
        return {**CORGAN_EXTENSIONS, **hyperparameters("corgan", rows)}
    if model == "corgan-extended-sampled":  # codes drawn from their probabilities instead of rounded at 0.5
        return {"binary_rounding": "bernoulli", **hyperparameters("corgan-extended", rows)}
    if model == "corgan-extended-calibrated":  # each code rounded where the generated records get its share
        return PRESETS["corgan-calibrated"].hyperparameters(rows)
    if model == "medgan-extended":  # the preset's settings on this study's budget
        return {**PRESETS["medgan-extended"].settings, **hyperparameters("medgan", rows)}
    if model == "visitgpt":  # its own defaults, as `auto` trains it on code matrices (records as one-visit histories)
        return {}
    if model == "medgan":
        return {
            "epochs": _epochs(GAN_UPDATES, rows, 1000, 1000),
            "pretrain_epochs": _epochs(AUTOENCODER_UPDATES, rows, 100, 100),
        }
    return {"epochs": _epochs(VAE_UPDATES, rows, 100, 300)}


def score(model: str, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    settings = hyperparameters(model, len(train))
    synthesizer = MODELS[model.split("-")[0]](seed=0, **settings)  # corgan-extended-sampled: a corgan
    with stopwatch() as seconds:
        synthesizer.fit(train)
    generated = synthesizer.sample(min(SCORED, len(train)), seed=1)
    rows = min(SCORED, len(train), len(holdout))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = prepare_tables(train.sample(rows, random_state=1), holdout.sample(rows, random_state=1), generated)
        probability = dimension_wise_probability(tables)
        prediction = dimension_wise_prediction(tables, top_k=TOP_CODES, seed=0)
    curves = membership_curves(train.to_numpy(), holdout.to_numpy(), generated[train.columns].to_numpy(), seed=0)
    return {
        "settings": settings,
        "seconds": seconds[0],
        "codes_per_record": float(generated.sum(axis=1).mean()),
        "probability": probability.to_dict(),
        "prediction": prediction.to_dict(),
        "curves": curves,
    }


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def table_row(dataset: str, model: str, real_codes: float, result: dict[str, Any]) -> tuple[str, ...]:
    prediction, last = result["prediction"], result["curves"].by_synthetic_records[-1]
    return (
        f"{dataset} / {model}",
        f"{result['seconds']:.0f}",
        f"{result['codes_per_record']:.2f} (real {real_codes:.2f})",
        _number(result["probability"]["r_squared"], 4),
        f"{_number(prediction['mean_f1_synthetic'])} / {_number(prediction['mean_f1_real'])}",
        _number(prediction["pearson_r"]),
        f"{_number(last.precision.value)} / {_number(last.recall.value)} ({last.known_members:,} known members)",
    )


def curves_plot(dataset: str, curves: dict[str, MembershipCurves]) -> str:
    """The paper's two panels: precision and recall against the release size and against the known share."""
    figure = plots.new_figure(11, 4)
    panels = (("by_synthetic_records", "synthetic records released"), ("by_known_share", "share of real records known"))
    for index, (attribute, label) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        for model, result in curves.items():
            points = getattr(result, attribute)
            x = [p.synthetic_records if index == 0 else p.known_share for p in points]
            line = axes.plot(x, [p.precision.value for p in points], marker="o", label=f"{model} precision")
            axes.plot(
                x,
                [p.recall.value for p in points],
                ls="--",
                marker="x",
                color=line[0].get_color(),
                label=f"{model} recall",
            )
        axes.axhline(next(iter(curves.values())).member_share, color="grey", lw=0.8, label="precision by chance")
        axes.set_xscale("log")
        axes.set_ylim(0, 1.02)
        axes.set_xlabel(label)
        axes.set_title(f"{dataset}: membership inference, Hamming <= {next(iter(curves.values())).hamming}", fontsize=9)
    axes.legend(fontsize=7)
    return plots.figure_uri(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="nhds,diabetes,mimic3-demo")
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    folder = output_folder("code_matrices", args.output)
    rows: list[tuple[str, ...]] = []
    figures: list[tuple[str | None, str]] = []
    summaries: dict[str, dict[str, Any]] = {}
    for dataset in args.datasets.split(","):
        train, holdout = halves(code_matrix(dataset, folder), SPLIT_SEED)
        real_codes = float(train.sum(axis=1).mean())
        print(f"{dataset}: {len(train):,} training and {len(holdout):,} held-out records x {train.shape[1]:,} codes")
        results = {}
        for model in args.models.split(","):
            results[model] = score(model, train, holdout)
            rows.append(table_row(dataset, model, real_codes, results[model]))
            summaries[f"{dataset}/{model}"] = {**results[model], "curves": results[model]["curves"].to_dict()}
            print(" | ".join(rows[-1]), "|", results[model]["settings"], flush=True)
        for model, result in results.items():
            figures.append(
                (
                    plots.dimension_wise_probability_plot(result["probability"]),
                    f"{dataset}, {model}: dimension-wise probability",
                )
            )
            figures.append(
                (
                    plots.dimension_wise_prediction_plot(result["prediction"]),
                    f"{dataset}, {model}: dimension-wise prediction F1",
                )
            )
        figures.append(
            (
                curves_plot(dataset, {m: r["curves"] for m, r in results.items()}),
                f"{dataset}: membership-inference precision and recall",
            )
        )
    title = "Patient x diagnosis-code matrices: corGAN, medGAN and VAE on the same split"
    print_table(title, rows, HEADERS)
    write_study_page(
        folder / "study.html",
        title,
        "The corGAN paper's MIMIC-III comparison on open stand-ins (benchmarks/studies/code_matrices.py). MI: "
        "the Hamming-distance attack at the largest release and known share (precision 0.5 = chance).",
        rows,
        figures=figures,
        headers=HEADERS,
    )
    (folder / "results.json").write_text(json.dumps(summaries, indent=1), encoding="utf-8")
    print(f"wrote {folder / 'study.html'} and {folder / 'results.json'}")


if __name__ == "__main__":
    main()
