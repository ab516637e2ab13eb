"""Time-series evaluation: do synthetic sequences move like the real ones, and do they copy them?

Sequences (long tables, read by `synthmed.data.timeseries.from_long`) are cut into windows of one length, by default
the shortest sequence length of the three tables, so a generator trained on short windows of long recordings is
judged like with like. Every fidelity figure is computed for SYNTHETIC against TRAIN and, as the reference a
perfect generator would reach, for HOLDOUT against TRAIN (the two cut to the same number of windows).
Metric functions take window arrays (windows, steps, channels) and are pure; `evaluate_sequences` assembles
them into the tabular `Evaluation` (fidelity, utility, privacy, about), so the CLI and report read both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import ks_2samp
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

from synthmed.data.dynamics import autocorrelation, default_lags
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.data.timeseries import Sequences, check_sequences, from_long
from synthmed.data.validate import require_columns
from synthmed.errors import ConfigError, DataError
from synthmed.evaluate.encoding import at_most, prepare_tables
from synthmed.evaluate.evaluation import Area, Evaluation, record_privacy_area
from synthmed.evaluate.intervals import bootstrap, rank_auc
from synthmed.evaluate.policy import Check, Policy, Verdict, correlation_check, limit_check, worst
from synthmed.evaluate.similarity import DETECTION_FOLDS, DETECTION_TREES, CorrelationMatrices, Detection

# Channel prediction: steps drawn per table and a small forest with leaves of 5 steps, whose MAE is close to a
# larger, fully grown forest's at a fraction of the cost (measured: benchmarks/studies/README.md, "Figures quoted
# from earlier runs").
PREDICTION_TREES = 30
PREDICTION_LEAF_STEPS = 5
MAX_PREDICTION_STEPS = 2000
EXAMPLE_WINDOWS = 3
EXAMPLE_PAIRS = 3
EXAMPLE_POINTS = 400


def _json_floats(values: Any) -> Any:
    """Nested lists of floats with None where a figure is undefined (strict JSON has no NaN)."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, None).tolist()


def windows_of(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of `length` steps (a shorter remainder is dropped) and each one's sequence index.

    >>> windows, origins = windows_of(np.arange(10.0).reshape(2, 5, 1), 2)
    >>> windows[:, :, 0].tolist(), origins.tolist()
    ([[0.0, 1.0], [2.0, 3.0], [5.0, 6.0], [7.0, 8.0]], [0, 0, 1, 1])
    """
    count, steps, channels = values.shape
    per_sequence = steps // length
    windows = values[:, : per_sequence * length].reshape(count * per_sequence, length, channels)
    return windows, np.repeat(np.arange(count), per_sequence)


# ---------------------------------------------------------------------------------------------- marginals


def channel_similarity(real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """Per channel, 1 - KS statistic of all values over windows and steps, in [0, 1] (1 = same distribution)."""
    return np.array(
        [1.0 - ks_2samp(real[..., c].ravel(), synthetic[..., c].ravel()).statistic for c in range(real.shape[2])]
    )


# ---------------------------------------------------------------------------------------------- autocorrelation


def autocorrelation_difference(real_acf: np.ndarray, synthetic_acf: np.ndarray) -> np.ndarray:
    """Per channel, mean |ACF difference| over lags, in [0, 2] (0 = same dynamics); an undefined ACF counts as 0."""
    return np.abs(np.nan_to_num(synthetic_acf) - np.nan_to_num(real_acf)).mean(axis=0)


# ---------------------------------------------------------------------------------------------- cross-channel


def channel_correlations(windows: np.ndarray) -> np.ndarray:
    """Pearson correlations of the channels over all steps of all windows; NaN for a constant channel."""
    flat = windows.reshape(-1, windows.shape[2])
    centred = flat - flat.mean(axis=0)
    scale = np.sqrt(np.einsum("sc,sc->c", centred, centred))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (centred.T @ centred) / np.outer(scale, scale)


def channel_correlation_matrices(
    real: np.ndarray, synthetic: np.ndarray, channels: tuple[str, ...]
) -> CorrelationMatrices:
    """Real and synthetic channel correlations; mean |difference| over channel pairs in [0, 2] (0 = same)."""
    real_r, synthetic_r = channel_correlations(real), channel_correlations(synthetic)
    difference = np.nan_to_num(synthetic_r) - np.nan_to_num(real_r)
    upper = np.triu_indices(len(channels), k=1)
    mean = float(np.abs(difference[upper]).mean()) if len(channels) >= 2 else 0.0
    return CorrelationMatrices(channels, real_r, synthetic_r, difference, mean)


# ---------------------------------------------------------------------------------------------- detection


def window_features(windows: np.ndarray) -> np.ndarray:
    """Each window flattened, then per channel its mean, spread, minimum, maximum, lag-1 ACF and mean step size.

    A forest on raw values alone misses windows whose values are right but whose order is not (a shuffled
    recording); the summaries show smoothness and level directly.
    """
    centred = windows - windows.mean(axis=1, keepdims=True)
    energy = np.einsum("ntc,ntc->nc", centred, centred)
    lag_one = np.einsum("ntc,ntc->nc", centred[:, 1:], centred[:, :-1]) / np.where(energy > 0, energy, 1.0)
    summaries = (
        windows.mean(axis=1),
        windows.std(axis=1),
        windows.min(axis=1),
        windows.max(axis=1),
        lag_one,
        np.abs(np.diff(windows, axis=1)).mean(axis=1),
    )
    return np.hstack([windows.reshape(len(windows), -1), *summaries])


def _fold_groups(features: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Fold groups: windows cut from one recording, and identical windows, are never split across folds.

    Otherwise a window's neighbour from the same recording (or a copied window's twin with the other label)
    sits in the training folds, and the AUC measures recall of recordings instead of realism.
    """
    duplicates = np.unique(features, axis=0, return_inverse=True)[1].ravel()
    offset = int(origins.max()) + 1
    size = offset + int(duplicates.max()) + 1
    links = coo_matrix((np.ones(len(origins)), (origins, offset + duplicates)), shape=(size, size))
    return connected_components(links, directed=False)[1][origins]


def window_detection(
    real: np.ndarray, real_origins: np.ndarray, synthetic: np.ndarray, synthetic_origins: np.ndarray, seed: int = 0
) -> Detection:
    """Out-of-fold ROC AUC of a forest telling real (0) from synthetic (1) windows; 0.5 = indistinguishable.

    `*_origins` give each window's sequence. Classes are made equal by seeded downsampling; the AUC over all
    out-of-fold scores gets a bootstrap interval. A copy of TRAIN scores 0.5: copying is for privacy to judge.
    """
    rng = np.random.default_rng(seed)
    size = min(len(real), len(synthetic))
    real_pick = np.sort(rng.choice(len(real), size, replace=False))
    synthetic_pick = np.sort(rng.choice(len(synthetic), size, replace=False))
    features = window_features(np.concatenate([real[real_pick], synthetic[synthetic_pick]]))
    labels = np.repeat([0, 1], size)
    origins = np.concatenate([real_origins[real_pick], real_origins.max() + 1 + synthetic_origins[synthetic_pick]])
    groups = _fold_groups(features, origins)
    if len(np.unique(groups)) < DETECTION_FOLDS:
        raise DataError(
            f"window detection needs windows from at least {DETECTION_FOLDS} separate sequences",
            remedy="evaluate more sequences, or shorter windows of more recordings",
        )
    classifier = RandomForestClassifier(n_estimators=DETECTION_TREES, random_state=seed, n_jobs=1)
    folds = StratifiedGroupKFold(n_splits=DETECTION_FOLDS, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, features, labels, groups=groups, cv=folds, method="predict_proba")[:, 1]
    return Detection(
        auc=bootstrap(rank_auc, labels, scores, seed=seed),
        rows_per_class=size,
        folds=DETECTION_FOLDS,
        classifier="random_forest on window values and per-channel summaries",
    )


# ---------------------------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class ChannelPrediction:
    """Each target channel predicted from the other channels at the same step, scored on real HOLDOUT steps.

    A random forest trained on SYNTHETIC against one trained on TRAIN (the reference). MAE >= 0, lower is
    better, in channel units; the scaled MAE is the same error after mapping each channel to -1..1 by TRAIN's
    minimum and maximum (the NHDS white paper's scale, where it reports 0.31 synthetic vs 0.18 real).
    """

    targets: tuple[str, ...]
    mae_trained_on_real: np.ndarray
    mae_trained_on_synthetic: np.ndarray
    real_range: np.ndarray  # TRAIN max - min per target

    def _scaled(self, mae: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.real_range > 0, 2.0 * mae / self.real_range, np.nan)

    @property
    def mean_scaled_mae_trained_on_real(self) -> float:
        return float(np.nanmean(self._scaled(self.mae_trained_on_real)))

    @property
    def mean_scaled_mae_trained_on_synthetic(self) -> float:
        return float(np.nanmean(self._scaled(self.mae_trained_on_synthetic)))

    def to_dict(self) -> dict[str, Any]:
        scaled_real = self._scaled(self.mae_trained_on_real)
        scaled_synthetic = self._scaled(self.mae_trained_on_synthetic)
        return {
            "model": "random_forest",
            "scale": "-1..1 by TRAIN's min and max per channel",
            "mean_scaled_mae_trained_on_real": _json_floats(self.mean_scaled_mae_trained_on_real),
            "mean_scaled_mae_trained_on_synthetic": _json_floats(self.mean_scaled_mae_trained_on_synthetic),
            "per_channel": {
                target: {
                    "mae_trained_on_real": _json_floats(self.mae_trained_on_real[i]),
                    "mae_trained_on_synthetic": _json_floats(self.mae_trained_on_synthetic[i]),
                    "scaled_mae_trained_on_real": _json_floats(scaled_real[i]),
                    "scaled_mae_trained_on_synthetic": _json_floats(scaled_synthetic[i]),
                }
                for i, target in enumerate(self.targets)
            },
        }


def _steps(windows: np.ndarray, rng: np.random.Generator, limit: int = MAX_PREDICTION_STEPS) -> np.ndarray:
    """The windows' steps as rows: all of them, or a seeded subsample of `limit`."""
    flat = windows.reshape(-1, windows.shape[2])
    return flat[at_most(len(flat), limit, rng)]


def channel_prediction(
    train: np.ndarray,
    holdout: np.ndarray,
    synthetic: np.ndarray,
    channels: tuple[str, ...],
    targets: tuple[str, ...],
    seed: int = 0,
) -> ChannelPrediction:
    """MAE on HOLDOUT steps of forests predicting each target from the other channels, trained on TRAIN vs SYNTHETIC
    (on as many synthetic steps as real ones: more would lower the error for their number alone)."""
    rng = np.random.default_rng(seed)
    real = _steps(train, rng)
    fake, test = _steps(synthetic, rng, limit=len(real)), _steps(holdout, rng)
    errors = {"real": [], "synthetic": []}
    for target in targets:
        column = channels.index(target)
        others = np.delete(np.arange(len(channels)), column)
        for role, source in (("real", real), ("synthetic", fake)):
            forest = RandomForestRegressor(
                n_estimators=PREDICTION_TREES, min_samples_leaf=PREDICTION_LEAF_STEPS, random_state=seed, n_jobs=1
            )
            forest.fit(source[:, others], source[:, column])
            errors[role].append(float(np.abs(forest.predict(test[:, others]) - test[:, column]).mean()))
    columns = [channels.index(target) for target in targets]
    flat = train.reshape(-1, len(channels))[:, columns]
    return ChannelPrediction(
        targets=targets,
        mae_trained_on_real=np.array(errors["real"]),
        mae_trained_on_synthetic=np.array(errors["synthetic"]),
        real_range=flat.max(axis=0) - flat.min(axis=0),
    )


# ---------------------------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _Windows:
    """TRAIN, HOLDOUT and SYNTHETIC windows (TRAIN and HOLDOUT equally many) and each window's sequence."""

    channels: tuple[str, ...]
    train: np.ndarray
    holdout: np.ndarray
    synthetic: np.ndarray
    train_origins: np.ndarray
    holdout_origins: np.ndarray
    synthetic_origins: np.ndarray
    sequences: dict[str, int]


def _read(
    table: pd.DataFrame, sequence_column: str, time_column: str, channels: tuple[str, ...], role: str
) -> Sequences:
    """HOLDOUT or SYNTHETIC sequences with TRAIN's channels (other columns, a class label say, are left out)."""
    require_columns(
        table.columns,
        list(channels),
        f"the {role} sequences lack channels of the training sequences",
        remedy=f"give the {role} table the same channel columns as TRAIN",
    )
    keys = [name for name in (sequence_column, time_column) if name in table.columns]
    return check_sequences(from_long(table[[*keys, *channels]], sequence_column, time_column))


def _cut_windows(
    tables: dict[str, pd.DataFrame], sequence_column: str, time_column: str, window_length: int | None, seed: int
) -> tuple[_Windows, int]:
    train = check_sequences(from_long(tables["train"], sequence_column, time_column))
    found = {"train": train}
    for role in ("holdout", "synthetic"):
        found[role] = _read(tables[role], sequence_column, time_column, train.channels, role)
    shortest = min(found.values(), key=lambda sequences: sequences.steps)
    length = shortest.steps if window_length is None else window_length
    if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= shortest.steps:
        role = next(role for role, sequences in found.items() if sequences is shortest)
        raise ConfigError(
            f"the window length must be a whole number from 2 to {shortest.steps} (the {role} sequences' length)",
            values=[length],
            remedy="choose a window no longer than the shortest sequences",
        )
    # check_sequences asks for 10 sequences, so every table gives 10 windows or more
    cut = {role: windows_of(sequences.values, length) for role, sequences in found.items()}
    rng = np.random.default_rng(seed)
    size = min(len(cut["train"][0]), len(cut["holdout"][0]))
    for role in ("train", "holdout"):
        windows, origins = cut[role]
        pick = np.sort(rng.choice(len(windows), size, replace=False))
        cut[role] = (windows[pick], origins[pick])
    windows = _Windows(
        channels=train.channels,
        train=cut["train"][0],
        holdout=cut["holdout"][0],
        synthetic=cut["synthetic"][0],
        train_origins=cut["train"][1],
        holdout_origins=cut["holdout"][1],
        synthetic_origins=cut["synthetic"][1],
        sequences={role: len(sequences.ids) for role, sequences in found.items()},
    )
    return windows, length


def _examples(windows: _Windows, correlations: CorrelationMatrices, seed: int) -> dict[str, Any]:
    """A few real and synthetic windows and step scatters of the channel pairs whose correlation differs most.

    These are real TRAIN values: the report and JSON that carry them stay where the training data may be.
    """
    rng = np.random.default_rng(seed)
    shown = {
        role: data[np.sort(rng.choice(len(data), min(EXAMPLE_WINDOWS, len(data)), replace=False))]
        for role, data in (("real", windows.train), ("synthetic", windows.synthetic))
    }
    first, second = np.triu_indices(len(windows.channels), k=1)
    order = np.argsort(-np.abs(correlations.difference[first, second]), kind="stable")[:EXAMPLE_PAIRS]
    points = {}
    for role, data in (("real", windows.train), ("synthetic", windows.synthetic)):
        flat = data.reshape(-1, data.shape[2])
        points[role] = flat[np.sort(rng.choice(len(flat), min(EXAMPLE_POINTS, len(flat)), replace=False))]
    return {
        "real_windows": shown["real"].tolist(),
        "synthetic_windows": shown["synthetic"].tolist(),
        "pairs": [
            {
                "channels": [windows.channels[first[i]], windows.channels[second[i]]],
                "real": points["real"][:, [first[i], second[i]]].T.tolist(),
                "synthetic": points["synthetic"][:, [first[i], second[i]]].T.tolist(),
            }
            for i in order
        ],
    }


def _fidelity(windows: _Windows, lags: int, policy: Policy, seed: int) -> Area:
    rules, channels = policy.fidelity, windows.channels
    shapes = channel_similarity(windows.train, windows.synthetic)
    reference_shapes = channel_similarity(windows.train, windows.holdout)
    acf = {role: autocorrelation(getattr(windows, role), lags) for role in ("train", "holdout", "synthetic")}
    acf_gap = autocorrelation_difference(acf["train"], acf["synthetic"])
    reference_acf_gap = autocorrelation_difference(acf["train"], acf["holdout"])
    correlations = channel_correlation_matrices(windows.train, windows.synthetic, channels)
    reference_correlations = channel_correlation_matrices(windows.train, windows.holdout, channels)
    detected = window_detection(
        windows.train, windows.train_origins, windows.synthetic, windows.synthetic_origins, seed
    )
    reference_detected = window_detection(
        windows.train, windows.train_origins, windows.holdout, windows.holdout_origins, seed
    )
    checks = (
        limit_check(
            "channel shapes",
            float(reference_shapes.mean() - shapes.mean()),
            rules.column_shape_margin_warn,
            rules.column_shape_margin_fail,
            higher_is_worse=True,
            detail=f"mean 1 - KS {shapes.mean():.3f} (real holdout {reference_shapes.mean():.3f})",
        ),
        # autocorrelations are correlations: the same margins over the holdout's difference apply
        limit_check(
            "autocorrelation",
            float(acf_gap.mean() - reference_acf_gap.mean()),
            rules.correlation_margin_warn,
            rules.correlation_margin_fail,
            higher_is_worse=True,
            detail=f"mean |ACF difference| over lags 1-{lags} {acf_gap.mean():.3f} "
            f"(real holdout {reference_acf_gap.mean():.3f})",
        ),
        correlation_check(
            "cross-channel correlations",
            correlations.mean_absolute_difference,
            reference_correlations.mean_absolute_difference,
            rules,
        ),
        limit_check(
            "window detection",
            detected.auc.value,
            rules.detection_auc_warn,
            rules.detection_auc_fail,
            higher_is_worse=True,
            detail=f"real-vs-synthetic window classifier AUC {detected.auc.value:.3f} "
            f"(real holdout {reference_detected.auc.value:.3f})",
        ),
    )
    figures = {
        "channel_shapes": {
            "per_channel": dict(zip(channels, _json_floats(shapes), strict=True)),
            "holdout_per_channel": dict(zip(channels, _json_floats(reference_shapes), strict=True)),
            "mean": float(shapes.mean()),
            "holdout_mean": float(reference_shapes.mean()),
        },
        "autocorrelation": {
            "lags": list(range(1, lags + 1)),
            **{role: dict(zip(channels, _json_floats(values.T), strict=True)) for role, values in acf.items()},
            "per_channel": dict(zip(channels, _json_floats(acf_gap), strict=True)),
            "holdout_per_channel": dict(zip(channels, _json_floats(reference_acf_gap), strict=True)),
            "mean_absolute_difference": float(acf_gap.mean()),
            "holdout_mean_absolute_difference": float(reference_acf_gap.mean()),
        },
        "correlation": {
            "mean_absolute_difference": correlations.mean_absolute_difference,
            "holdout_mean_absolute_difference": reference_correlations.mean_absolute_difference,
            "matrices": correlations.to_dict(),
        },
        "detection": detected.to_dict(),
        "holdout_detection": reference_detected.to_dict(),
        "examples": _examples(windows, correlations, seed),
    }
    return Area(worst([c.verdict for c in checks]), checks, figures)


def _utility(windows: _Windows, target: str | None, policy: Policy, seed: int) -> Area:
    if len(windows.channels) < 2:
        check = Check("channel prediction", Verdict.INCONCLUSIVE, "one channel: nothing to predict it from")
        return Area(Verdict.INCONCLUSIVE, (check,), {})
    targets = (target,) if target is not None else windows.channels
    result = channel_prediction(windows.train, windows.holdout, windows.synthetic, windows.channels, targets, seed)
    real, synthetic = result.mean_scaled_mae_trained_on_real, result.mean_scaled_mae_trained_on_synthetic
    if np.isnan(synthetic):
        check = Check("channel prediction", Verdict.INCONCLUSIVE, "every target channel is constant in TRAIN")
    else:
        kept = real / synthetic if synthetic > 0 else 1.0  # MAE: the real-trained error over the synthetic one
        check = limit_check(
            "channel prediction",
            kept,
            policy.utility.tstr_ratio_warn,
            policy.utility.tstr_ratio_fail,
            higher_is_worse=False,
            detail=f"MAE on a -1..1 scale {synthetic:.3f} trained on synthetic, {real:.3f} trained on real "
            f"(keeps {kept:.0%} of the real-data accuracy)",
        )
    return Area(check.verdict, (check,), {"channel_prediction": result.to_dict()})


def _flattened(windows: np.ndarray, channels: tuple[str, ...]) -> pd.DataFrame:
    names = [f"{channel}[{step}]" for step in range(windows.shape[1]) for channel in channels]
    return pd.DataFrame(windows.reshape(len(windows), -1), columns=names)


def _privacy(windows: _Windows, policy: Policy, seed: int) -> Area:
    """The tabular copies, DCR and membership attacks on flattened windows, min-max scaled per step and channel."""
    frames = [_flattened(data, windows.channels) for data in (windows.train, windows.holdout, windows.synthetic)]
    schema = Schema(tuple(ColumnSchema(str(name), ColumnKind.CONTINUOUS, declared=True) for name in frames[0].columns))
    return record_privacy_area(prepare_tables(*frames, schema, seed=seed), policy, seed)


def evaluate_sequences(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    sequence_column: str,
    time_column: str,
    target: str | None = None,
    window_length: int | None = None,
    lags: int | None = None,
    policy: Policy | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fidelity, utility and privacy of synthetic sequences given as long tables, judged by `policy`.

    Channels are TRAIN's columns other than `sequence_column` and `time_column`. `window_length` defaults to
    the shortest sequence length, `lags` to `default_lags(window_length)`. Utility predicts `target` (default:
    every channel in turn) from the other channels at the same step.
    """
    started = time.perf_counter()
    policy = policy or Policy()
    tables = {"train": train, "holdout": holdout, "synthetic": synthetic}
    windows, length = _cut_windows(tables, sequence_column, time_column, window_length, seed)
    if target is not None and target not in windows.channels:
        raise ConfigError(
            "the target is not a channel of the sequences",
            column=str(target),
            remedy=f"choose one of {', '.join(windows.channels)}",
        )
    lags = default_lags(length) if lags is None else lags
    if isinstance(lags, bool) or not isinstance(lags, int) or not 1 <= lags < length:
        raise ConfigError(f"lags must be a whole number from 1 to {length - 1}", values=[lags], remedy="e.g. lags=10")
    fidelity = _fidelity(windows, lags, policy, seed)
    usefulness = _utility(windows, target, policy, seed)
    privacy = _privacy(windows, policy, seed)
    about = {
        "data": "sequences",
        "rows": {"train": len(windows.train), "holdout": len(windows.holdout), "synthetic": len(windows.synthetic)},
        "sequences": windows.sequences,
        "columns": list(windows.channels),
        "sequence_column": sequence_column,
        "time_column": time_column,
        "window_length": length,
        "lags": lags,
        "target": target,
        "seed": seed,
        "policy": policy.to_dict(),
        "seconds": time.perf_counter() - started,
    }
    return Evaluation(fidelity, usefulness, privacy, about)
