"""Study 1: medGAN on 19 binary variables of 151,551 US hospital discharges (the white paper's NHDS experiment).

    .venv/bin/python benchmarks/studies/nhds_medgan.py [--extended] [--schema F] [--epochs N] [--model M] [--output DIR]

End to end with synthmed's CLI and API, as a data team would run it:
1. `synthmed convert` reads the fixed-width NHDS 2010 file through the shipped layout (examples/);
2. `synthmed ehr-matrix --groups` turns the 15 diagnosis fields, age and sex into the 19 variables;
3. medGAN (the paper's defaults unless --epochs; with --extended, synthmed's extensions against mode collapse on a
   tenth of the paper's budget) trains on a random half of the records (seed 0); with --schema
   examples/nhds-2010.schema.yaml, generated records obey its declared rule (no record in both age bands);
4. 10,000 generated records are compared with what the paper reports, on the whole halves: per-variable
   probabilities (R^2), the correlation matrices, records both under 18 and over 65, and a random forest predicting
   opioid use from the other 18 variables, trained on generated or on 10,000 real records, tested on the real
   other half.
Beside them, the bars from the issue: independent per-variable sampling and the real other half as references,
and the best peer figures measured before (CTGAN and TabularARGN with their defaults on the same split).
Writes study.html and synthmed's evaluation report (report.html, on 10,000 records of each half) to
studies-output/nhds_<model>/ (nhds_medgan-extended/ with --extended).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    ROOT,
    Comparison,
    halves,
    nhds_discharges,
    output_folder,
    print_table,
    stopwatch,
    synthmed_cli,
    write_study_page,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix, roc_auc_score

from synthmed.evaluate.evaluation import evaluate
from synthmed.models import MODELS
from synthmed.models.presets import PRESETS
from synthmed.report import plots
from synthmed.report.page import write_report

GENERATED = 10_000
TARGET = "opioid_use"
SPLIT_SEED = 0
# The bars: the best of independent sampling, SDV CTGAN (300 epochs, 22 min) and TabularARGN (3 min).
BAR_R_SQUARED = 0.9985
BAR_CORRELATION = 0.017
BAR_AUC = 0.870
BAR_SECONDS = 180.0
FOREST_TREES = 100
# Leaves of at least 20 records, so that each leaf estimates a ~1% rate from enough records. Fully grown trees rank
# rare positives poorly: trained on 10,000 real records they reach ROC AUC 0.70, where the reference is 0.88
# (this forest: 0.885). The fully grown forest's figures are printed beside; it gives the paper's confusion matrices
# (at 0.5, a forest with 20-record leaves predicts hardly any of a 1% class).
FOREST_LEAF = 20


def nineteen_variables() -> pd.DataFrame:
    """The 19-variable table, built once with the CLI and cached beside the discharges for every run of this study."""
    discharges = nhds_discharges()
    variables = discharges.parent / "nhds-19.parquet"
    if not variables.exists():
        groups = ROOT / "examples" / "nhds-2010.groups.yaml"
        print(
            synthmed_cli("ehr-matrix", discharges, "--code-columns", "diagnosis_*", "--groups", groups, "-o", variables)
        )
    return pd.read_parquet(variables).drop(columns="record")


def correlation_difference(real: pd.DataFrame, other: pd.DataFrame) -> float:
    """Mean |difference| of the Pearson correlations over the variable pairs (a constant column correlates 0)."""
    upper = np.triu_indices(real.shape[1], 1)
    first = real.astype(float).corr().fillna(0.0).to_numpy()[upper]
    second = other[real.columns].astype(float).corr().fillna(0.0).to_numpy()[upper]
    return float(np.abs(first - second).mean())


def r_squared(real: pd.DataFrame, other: pd.DataFrame) -> float:
    """1 - SS_res / SS_tot of the per-variable shares around the identity line (the paper's scatter)."""
    shares, predicted = real.mean().to_numpy(), other[real.columns].mean().to_numpy()
    return float(1 - ((shares - predicted) ** 2).sum() / ((shares - shares.mean()) ** 2).sum())


def impossible_ages(table: pd.DataFrame) -> tuple[int, int]:
    """Records both under 18 and over 65, and records with either flag (the paper: 33 of 4,630)."""
    under, over = table["age_under_18"] == 1, table["age_over_65"] == 1
    return int((under & over).sum()), int((under | over).sum())


def opioid_forest(trained_on: pd.DataFrame, tested_on: pd.DataFrame, leaf: int = FOREST_LEAF) -> dict[str, object]:
    """ROC AUC and confusion matrix (threshold 0.5) of a forest predicting opioid use from the other 18."""
    features = [c for c in trained_on.columns if c != TARGET]
    if trained_on[TARGET].nunique() < 2:
        return {"auc": float("nan"), "confusion": np.zeros((2, 2), dtype=int), "false_discovery": float("nan")}
    forest = RandomForestClassifier(n_estimators=FOREST_TREES, min_samples_leaf=leaf, random_state=0, n_jobs=-1)
    forest.fit(trained_on[features], trained_on[TARGET])
    scores = forest.predict_proba(tested_on[features])[:, 1]
    confusion = confusion_matrix(tested_on[TARGET], scores >= 0.5, labels=[0, 1])
    predicted_positive = confusion[:, 1].sum()
    return {
        "auc": float(roc_auc_score(tested_on[TARGET], scores)),
        "confusion": confusion,
        # "false positives 38% vs 22%": the share of predicted opioid users who are not
        "false_discovery": float(confusion[0, 1] / predicted_positive) if predicted_positive else float("nan"),
    }


def independent_sampling(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Each variable drawn on its own from its training share: the marginals-only reference."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: (rng.random(rows) < train[c].mean()).astype(np.uint8) for c in train.columns})


def confusion_plot(matrices: dict[str, np.ndarray]) -> str:
    figure = plots.new_figure(3.2 * len(matrices), 3.0)
    for index, (name, matrix) in enumerate(matrices.items()):
        axes = figure.add_subplot(1, len(matrices), index + 1)
        axes.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            axes.text(j, i, f"{count:,}", ha="center", va="center", fontsize=9)
        axes.set_xticks([0, 1], ["no", "yes"])
        axes.set_yticks([0, 1], ["no", "yes"])
        axes.set_xlabel("predicted opioid use")
        axes.set_ylabel("real opioid use")
        axes.set_title(name, fontsize=9)
    return plots.figure_uri(figure)


def correlation_pair_plot(real: pd.DataFrame, generated: pd.DataFrame) -> str:
    figure = plots.new_figure(11, 5)
    for index, (name, table) in enumerate((("real (training half)", real), ("generated", generated))):
        axes = figure.add_subplot(1, 2, index + 1)
        image = axes.imshow(table.astype(float).corr().fillna(0.0), cmap="RdBu_r", vmin=-0.5, vmax=0.5)
        axes.set_xticks(range(real.shape[1]), real.columns, rotation=90, fontsize=7)
        axes.set_yticks(range(real.shape[1]), real.columns, fontsize=7)
        axes.set_title(f"Pearson correlations: {name}", fontsize=9)
    figure.colorbar(image, ax=figure.axes, shrink=0.8)
    return plots.figure_uri(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="medgan", choices=sorted(MODELS), help="another synthmed model instead")
    parser.add_argument(
        "--extended", action="store_true", help="medGAN with synthmed's extensions, on a tenth of the paper's budget"
    )
    parser.add_argument("--epochs", type=int, default=None, help="medGAN's GAN epochs (default: the paper's 1,000)")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="medGAN's autoencoder epochs (paper: 100)")
    parser.add_argument(
        "--schema",
        type=Path,
        default=None,
        help="a schema for the 19 variables; examples/nhds-2010.schema.yaml declares the age bands exclusive",
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--generator", type=Path, default=None, help="score a generator saved by an earlier run instead of training"
    )
    args = parser.parse_args()
    if args.extended and args.model != "medgan":
        parser.error("--extended is medGAN's")
    label = f"{args.model}-extended" if args.extended else args.model
    folder = output_folder(f"nhds_{label}", args.output)

    table = nineteen_variables()
    train, holdout = halves(table, SPLIT_SEED)
    if args.generator is None:
        # the preset's settings and budget: 100 GAN and 10 pretraining epochs of these 75,775 records, a tenth of
        # the paper's (the bar is TabularARGN's 3 minutes, and the paper's budget takes 20 here)
        options = PRESETS["medgan-extended"].hyperparameters(len(train)) if args.extended else {}
        options |= {k: v for k, v in (("epochs", args.epochs), ("pretrain_epochs", args.pretrain_epochs)) if v}
        model = MODELS[args.model](seed=0, **options)
        with stopwatch() as fit_seconds:
            model.fit(train, schema=args.schema)
        model.save(folder / f"{args.model}.smg")
    else:
        model, fit_seconds = MODELS[args.model].load(args.generator), [float("nan")]
    generated = model.sample(GENERATED, seed=1)
    independent = independent_sampling(train, GENERATED, seed=1)
    real_sample = train.sample(GENERATED, random_state=1)

    # synthmed's full evaluation on 10,000 records of each half: its privacy attacks compare every record with
    # every other, which on two 75,000-record halves would take longer than the training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate(
            real_sample, holdout.sample(GENERATED, random_state=1), generated, target=TARGET, seed=0
        ).to_dict()
    write_report(evaluation, folder / "report.html", title=f"NHDS 2010, 19 variables: {label}")

    forests = {
        "generated -> real": opioid_forest(generated, holdout),
        "10,000 real -> real": opioid_forest(real_sample, holdout),
        "independent -> real": opioid_forest(independent, holdout),
        "generated -> real, fully grown": opioid_forest(generated, holdout, leaf=1),
        "10,000 real -> real, fully grown": opioid_forest(real_sample, holdout, leaf=1),
        "10,000 real -> generated, fully grown": opioid_forest(real_sample, generated, leaf=1),
    }
    both, either = impossible_ages(generated)
    r2, correlation = r_squared(train, generated), correlation_difference(train, generated)
    auc = forests["generated -> real"]["auc"]
    seconds = fit_seconds[0]
    rows = [
        Comparison("per-variable probability R^2", "0.994", f">= {BAR_R_SQUARED}", f"{r2:.4f}", r2 >= BAR_R_SQUARED),
        Comparison(
            "mean |correlation difference|",
            "-",
            f"< {BAR_CORRELATION}",
            f"{correlation:.4f}",
            correlation < BAR_CORRELATION,
        ),
        Comparison("opioid ROC AUC, RF trained on generated", "-", f"> {BAR_AUC}", f"{auc:.3f}", auc > BAR_AUC),
        Comparison("under 18 and over 65 (of either)", "33 of 4,630", "0", f"{both} of {either:,}", both == 0),
        Comparison(
            "fully grown forest: false discovery of opioid use, generated / real-trained",
            "38% / 22%",
            "-",
            f"{forests['generated -> real, fully grown']['false_discovery']:.0%} / "
            f"{forests['10,000 real -> real, fully grown']['false_discovery']:.0%}",
        ),
        Comparison(
            "fit seconds (2 CPU cores)",
            "-",
            f"< {BAR_SECONDS:.0f}",
            f"{seconds:.0f}",
            seconds < BAR_SECONDS if seconds == seconds else None,
        ),
        Comparison(
            "reference: real other half R^2 / corr. diff",
            "-",
            "-",
            f"{r_squared(train, holdout):.4f} / {correlation_difference(train, holdout):.4f}",
        ),
        Comparison(
            "reference: independent sampling R^2 / corr. diff / AUC",
            "-",
            "0.9999 / 0.055 / 0.51",
            f"{r_squared(train, independent):.4f} / {correlation_difference(train, independent):.4f} / "
            f"{forests['independent -> real']['auc']:.3f}",
        ),
        Comparison(
            "reference: opioid AUC trained on 10,000 real", "-", "0.88", f"{forests['10,000 real -> real']['auc']:.3f}"
        ),
        Comparison(
            "fully grown forest: opioid AUC trained on generated / 10,000 real",
            "-",
            "-",
            f"{forests['generated -> real, fully grown']['auc']:.3f} / "
            f"{forests['10,000 real -> real, fully grown']['auc']:.3f}",
        ),
    ]
    title = f"NHDS 2010, 19 binary variables: {label} on {len(train):,} discharges, {GENERATED:,} generated"
    print_table(title, rows)
    shares = evaluation["fidelity"].get("dimension_wise_probability")
    write_study_page(
        folder / "study.html",
        title,
        "The white paper's medGAN experiment reproduced with synthmed (benchmarks/studies/nhds_medgan.py).",
        rows,
        figures=[
            (plots.dimension_wise_probability_plot(shares), "Per-variable probability, real vs generated"),
            (correlation_pair_plot(train, generated), "Pearson correlation matrices, real and generated"),
            (
                confusion_plot(
                    {name: result["confusion"] for name, result in forests.items() if name.endswith("fully grown")}
                ),
                "Fully grown random forests predicting opioid use (the paper's confusion matrices): trained on "
                "generated or real, tested on real or generated",
            ),
        ],
        reports=["report.html"],
    )
    print(f"wrote {folder / 'study.html'} and {folder / 'report.html'}")


if __name__ == "__main__":
    main()
