"""Study 3: the white paper's 1-D convolutional GAN for multivariate sensor series, on two open stand-ins.

    .venv/bin/python benchmarks/studies/sensor_series.py [--datasets basicmotions,physionet] [--extended] [--output DIR]

The haul-truck data is proprietary. Its checks are reproduced with synthmed's tsgan (its defaults, the paper's
settings; --extended uses DCGAN's Adam instead of the paper's SGD, common.TSGAN_EXTENSIONS) on:
- BasicMotions: 6 motion-sensor channels x 100 steps, 40 training and 40 test series (UEA archive);
- PhysioNet 2012 set A: 4,000 ICU stays' vital signs, the first 48 hours on an hourly grid (below).
Each run trains on one half, generates twice as many windows as there are holdout windows and writes synthmed's
evaluation report, which holds what the paper showed: sample sequences beside real ones, bivariate channel plots,
and a random forest predicting each channel from the others at each step, trained on generated vs real data, with
its MAE on real held-out steps on the -1..1 scale (paper: 0.31 vs 0.18).

PhysioNet's grid, the data steward's choices written down: heart rate, systolic, diastolic and mean arterial
pressure (the invasive reading where the stay has one, else the cuff's) and temperature; readings outside wide
physiological limits (PLAUSIBLE) treated as not measured; hourly means; gaps carried
forward, leading gaps carried back; stays without any reading of a channel are left out. tsgan trains for its
minimum of 2,000 updates there (its 200 default epochs over 1,900 stays would be 12,000 updates, an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    TSGAN_EXTENSIONS,
    Comparison,
    output_folder,
    print_table,
    shared_data,
    stopwatch,
    write_study_page,
)

from synthmed.data.timeseries import read_ts, to_long
from synthmed.evaluate.timeseries import evaluate_sequences
from synthmed.models import TimeSeriesGAN
from synthmed.report.page import write_report

PAPER_MAE = {"generated": 0.31, "real": 0.18}
HOURS = 48
VITALS = {  # channel: (invasive parameter, cuff parameter)
    "heart_rate": ("HR", "HR"),
    "systolic": ("SysABP", "NISysABP"),
    "diastolic": ("DiasABP", "NIDiasABP"),
    "mean_pressure": ("MAP", "NIMAP"),
    "temperature": ("Temp", "Temp"),
}
# Readings outside these ranges are recording artefacts (a temperature of 2.4 °C, a diastolic pressure of 6), not
# patients: they are treated as not measured. Wide physiological limits, the same for invasive and cuff readings.
PLAUSIBLE = {
    "heart_rate": (20.0, 250.0),
    "systolic": (40.0, 300.0),
    "diastolic": (15.0, 200.0),
    "mean_pressure": (20.0, 250.0),
    "temperature": (30.0, 43.0),
}
SPLIT_SEED = 0
KEYS = {"sequence_column": "sequence", "time_column": "step"}


def basic_motions() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict]:
    train = read_ts(shared_data("timeseries-basicmotions", "BasicMotions_TRAIN.ts"))
    test = read_ts(shared_data("timeseries-basicmotions", "BasicMotions_TEST.ts"))
    return train.values, test.values, train.channels, {}


def _stay_events(archive: Path) -> pd.DataFrame:
    """Every (stay, minute, parameter, value) of the set-A archive."""
    frames = []
    with tarfile.open(archive) as members:
        for member in members:
            if not member.name.endswith(".txt"):
                continue
            events = pd.read_csv(members.extractfile(member))
            events["stay"] = Path(member.name).stem
            frames.append(events)
    events = pd.concat(frames, ignore_index=True)
    hours, minutes = events["Time"].str.split(":", expand=True).astype(int).T.to_numpy()
    events["minute"] = hours * 60 + minutes
    return events


def physionet_vitals() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict]:
    events = _stay_events(shared_data("physionet2012-icu", "set-a.tar.gz"))
    stays = events["stay"].nunique()
    events = events[(events["minute"] < HOURS * 60) & (events["Value"] > 0)]  # PhysioNet writes -1 for "not measured"
    limits = pd.DataFrame(
        [(parameter, *PLAUSIBLE[name]) for name, pair in VITALS.items() for parameter in set(pair)],
        columns=["Parameter", "low", "high"],
    )
    events = events.merge(limits, on="Parameter", how="inner")
    events = events[events["Value"].between(events["low"], events["high"])]
    events["hour"] = events["minute"] // 60
    hourly = events.pivot_table(index=["stay", "hour"], columns="Parameter", values="Value", aggfunc="mean")
    grid = pd.MultiIndex.from_product([hourly.index.levels[0], range(HOURS)], names=["stay", "hour"])
    hourly = hourly.reindex(grid)
    channels = pd.DataFrame(
        {name: hourly[invasive].fillna(hourly[cuff]) for name, (invasive, cuff) in VITALS.items()}, index=grid
    )
    channels = channels.groupby(level="stay").ffill().groupby(level="stay").bfill()
    complete = channels.notna().all(axis=1).groupby(level="stay").all()
    kept = channels.loc[complete[complete].index]
    values = kept.to_numpy().reshape(-1, HOURS, len(VITALS))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(values))
    half = len(values) // 2
    about = {"stays": int(stays), "kept": int(complete.sum())}
    # 2,000 updates of batch 32, tsgan's minimum (see the module docstring)
    return values[order[:half]], values[order[half:]], tuple(VITALS), {"about": about, "epochs": 2000 * 32 // half + 1}


DATASETS = {"basicmotions": basic_motions, "physionet": physionet_vitals}


def run(name: str, folder: Path, extended: bool) -> list[Comparison]:
    train, holdout, channels, extra = DATASETS[name]()
    options = {"epochs": extra["epochs"]} if "epochs" in extra else {}
    model = TimeSeriesGAN(seed=0, **options, **(TSGAN_EXTENSIONS if extended else {}))
    with stopwatch() as seconds:
        model.fit(to_long(train, channels), sequence_id="sequence", time="step")
    synthetic = model.sample(2 * len(holdout), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate_sequences(
            to_long(train, channels), to_long(holdout, channels), synthetic, seed=0, **KEYS
        ).to_dict()
    report = f"report-{name}.html"
    write_report(evaluation, folder / report, title=f"{name}: synthmed tsgan{' (extended)' if extended else ''}")
    prediction = evaluation["utility"]["channel_prediction"]
    generated, real = prediction["mean_scaled_mae_trained_on_synthetic"], prediction["mean_scaled_mae_trained_on_real"]
    shapes = evaluation["fidelity"]["channel_shapes"]
    label = f"{name} ({len(train)} train / {len(holdout)} held-out windows of {train.shape[1]} x {train.shape[2]})"
    if "about" in extra:
        label += f", {extra['about']['kept']:,} of {extra['about']['stays']:,} stays"
    return [
        Comparison(
            f"{label}: channel MAE, trained on generated / real",
            f"{PAPER_MAE['generated']} / {PAPER_MAE['real']}",
            "generated / real ratio <= paper's 1.72",
            f"{generated:.3f} / {real:.3f}",
            generated / real <= PAPER_MAE["generated"] / PAPER_MAE["real"],
        ),
        Comparison(
            f"{name}: channel similarity (1 - KS), generated / held-out real",
            "-",
            "-",
            f"{shapes['mean']:.3f} / {shapes.get('holdout_mean', float('nan')):.3f}",
        ),
        Comparison(f"{name}: fit seconds", "-", "-", f"{seconds[0]:.0f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="basicmotions,physionet")
    parser.add_argument("--extended", action="store_true", help="tsgan with DCGAN's Adam instead of the paper's SGD")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    label = "tsgan-extended" if args.extended else "tsgan"
    folder = output_folder("sensor_series-extended" if args.extended else "sensor_series", args.output)
    names = args.datasets.split(",")
    rows = [row for name in names for row in run(name, folder, args.extended)]
    title = f"Multivariate sensor series: the white paper's 1-D convolutional GAN (synthmed {label})"
    print_table(title, rows)
    write_study_page(
        folder / "study.html",
        title,
        "The sensor study's checks with synthmed (benchmarks/studies/sensor_series.py); sample sequences and "
        "bivariate channel plots are in each evaluation report.",
        rows,
        reports=[f"report-{name}.html" for name in names],
    )
    print(f"wrote {folder / 'study.html'}")


if __name__ == "__main__":
    main()
