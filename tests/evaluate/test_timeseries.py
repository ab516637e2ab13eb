"""Time-series evaluation: each metric tells a faithful copy from data that breaks exactly what it measures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthmed.data.timeseries import read_ts, to_long
from synthmed.errors import ConfigError, DataError
from synthmed.evaluate import timeseries
from synthmed.evaluate.evaluation import Evaluation
from synthmed.evaluate.policy import Verdict
from synthmed.evaluate.timeseries import (
    autocorrelation,
    autocorrelation_difference,
    channel_correlation_matrices,
    channel_correlations,
    channel_prediction,
    channel_similarity,
    default_lags,
    evaluate_sequences,
    window_detection,
)
from tests.conftest import shared_file

CHANNELS = ("a", "b", "c")
KEYS = {"sequence_column": "sequence", "time_column": "step"}


def sines(count: int, steps: int = 32, seed: int = 0) -> np.ndarray:
    """(count, steps, 3): two noisy sines half a radian apart and a mix of both, random phase and frequency."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    frequency = rng.uniform(0.25, 0.35, (count, 1))
    a = np.sin(frequency * t + phase) + 0.1 * rng.normal(size=(count, steps))
    b = np.sin(frequency * t + phase + 0.5) + 0.1 * rng.normal(size=(count, steps))
    c = 0.5 * a - 0.8 * b + 0.1 * rng.normal(size=(count, steps))
    return np.stack([a, b, c], axis=2)


def shuffled_in_time(values: np.ndarray, seed: int = 1) -> np.ndarray:
    """Each sequence's steps in random order: same values and same step-wise channel links, no dynamics."""
    order = np.argsort(np.random.default_rng(seed).random(values.shape[:2]), axis=1)
    return np.take_along_axis(values, order[:, :, None], axis=1)


def channels_from_other_sequences(values: np.ndarray, seed: int = 2) -> np.ndarray:
    """Each channel taken from a different random sequence: same marginals and dynamics, no cross-channel links."""
    rng = np.random.default_rng(seed)
    return np.stack([values[rng.permutation(len(values)), :, c] for c in range(values.shape[2])], axis=2)


def noise_like(values: np.ndarray, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(values.mean(axis=(0, 1)), values.std(axis=(0, 1)), values.shape)


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return sines(60, seed=0)


@pytest.fixture(scope="module")
def holdout() -> np.ndarray:
    return sines(60, seed=1)


def origins(values: np.ndarray) -> np.ndarray:
    return np.arange(len(values))


# ---------------------------------------------------------------------------------------------- marginals


def test_channel_similarity_is_one_for_a_copy_and_drops_for_a_shifted_channel(train: np.ndarray) -> None:
    shifted = train.copy()
    shifted[:, :, 1] += 0.5
    assert channel_similarity(train, train.copy()).tolist() == [1.0, 1.0, 1.0]
    scores = channel_similarity(train, shifted)
    assert scores[0] == 1.0 and scores[2] == 1.0
    assert scores[1] < 0.85


# ---------------------------------------------------------------------------------------------- autocorrelation


def test_autocorrelation_matches_the_textbook_formula() -> None:
    series = np.random.default_rng(0).normal(size=20).cumsum()
    centred = series - series.mean()
    expected = [np.sum(centred[lag:] * centred[:-lag]) / np.sum(centred**2) for lag in (1, 2, 3)]
    np.testing.assert_allclose(autocorrelation(series.reshape(1, 20, 1), 3)[:, 0], expected)


def test_a_constant_channel_has_no_autocorrelation_and_counts_as_zero_difference() -> None:
    values = np.ones((4, 10, 1))
    assert np.isnan(autocorrelation(values, 2)).all()
    assert autocorrelation_difference(autocorrelation(values, 2), autocorrelation(values, 2)).tolist() == [0.0]


def test_a_copy_beats_a_fresh_sample_which_beats_time_shuffled_data_on_autocorrelation(
    train: np.ndarray, holdout: np.ndarray
) -> None:
    lags = default_lags(train.shape[1])
    real = autocorrelation(train, lags)
    copy = autocorrelation_difference(real, autocorrelation(train.copy(), lags)).mean()
    fresh = autocorrelation_difference(real, autocorrelation(holdout, lags)).mean()
    shuffled = autocorrelation_difference(real, autocorrelation(shuffled_in_time(train), lags)).mean()
    assert copy == 0.0
    assert fresh < 0.05
    assert shuffled > 0.3
    # shuffling in time keeps every value: the marginals cannot see it
    assert channel_similarity(train, shuffled_in_time(train)).min() == 1.0


def test_default_lags_are_ten_or_a_quarter_of_the_window() -> None:
    assert (default_lags(100), default_lags(32), default_lags(5)) == (10, 8, 1)


# ---------------------------------------------------------------------------------------------- cross-channel


def test_channel_correlations_equal_numpy_over_all_steps(train: np.ndarray) -> None:
    expected = np.corrcoef(train.reshape(-1, 3), rowvar=False)
    np.testing.assert_allclose(channel_correlations(train), expected)


def test_channels_taken_from_other_sequences_lose_their_cross_channel_correlation(
    train: np.ndarray, holdout: np.ndarray
) -> None:
    mixed = channels_from_other_sequences(train)
    copy = channel_correlation_matrices(train, train.copy(), CHANNELS).mean_absolute_difference
    fresh = channel_correlation_matrices(train, holdout, CHANNELS).mean_absolute_difference
    broken = channel_correlation_matrices(train, mixed, CHANNELS).mean_absolute_difference
    assert copy == 0.0
    assert fresh < 0.05
    assert broken > 0.4
    # each channel is untouched: marginals and dynamics cannot see it
    assert channel_similarity(train, mixed).min() == 1.0
    lags = default_lags(train.shape[1])
    assert autocorrelation_difference(autocorrelation(train, lags), autocorrelation(mixed, lags)).max() < 1e-12


# ---------------------------------------------------------------------------------------------- detection


def test_random_noise_is_detected_and_a_fresh_sample_is_not(train: np.ndarray, holdout: np.ndarray) -> None:
    noise = noise_like(train)
    detected = window_detection(train, origins(train), noise, origins(noise), seed=0)
    fresh = window_detection(train, origins(train), holdout, origins(holdout), seed=0)
    assert detected.auc.value > 0.95
    assert fresh.auc.value < 0.7
    assert detected.rows_per_class == 60


def test_time_shuffled_windows_are_detected(train: np.ndarray) -> None:
    shuffled = shuffled_in_time(train)
    assert window_detection(train, origins(train), shuffled, origins(shuffled), seed=0).auc.value > 0.9


def test_a_copy_of_train_is_indistinguishable(train: np.ndarray) -> None:
    detected = window_detection(train, origins(train), train.copy(), origins(train), seed=0)
    assert detected.auc.value == pytest.approx(0.5, abs=0.05)


# ---------------------------------------------------------------------------------------------- prediction


def test_channel_prediction_from_a_copy_matches_real_and_from_noise_is_worse(
    train: np.ndarray, holdout: np.ndarray
) -> None:
    copy = channel_prediction(train, holdout, train.copy(), CHANNELS, CHANNELS, seed=0)
    noise = channel_prediction(train, holdout, noise_like(train), CHANNELS, ("c",), seed=0)
    np.testing.assert_array_equal(copy.mae_trained_on_synthetic, copy.mae_trained_on_real)
    assert noise.mean_scaled_mae_trained_on_synthetic > 3 * noise.mean_scaled_mae_trained_on_real
    # c = 0.5 a - 0.8 b + noise: predictable from a and b at the same step
    assert noise.mean_scaled_mae_trained_on_real < 0.15
    figures = noise.to_dict()["per_channel"]["c"]
    span = np.ptp(train[:, :, 2])
    assert figures["scaled_mae_trained_on_real"] == pytest.approx(2 * figures["mae_trained_on_real"] / span)


def test_channel_prediction_learns_from_as_many_synthetic_steps_as_real_ones(
    train: np.ndarray, holdout: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted_rows = []

    class Recorded(timeseries.RandomForestRegressor):
        def fit(self, features: np.ndarray, target: np.ndarray) -> Recorded:
            fitted_rows.append(len(features))
            return super().fit(features, target)

    monkeypatch.setattr(timeseries, "RandomForestRegressor", Recorded)
    larger = np.concatenate([sines(len(train), train.shape[1], seed=seed) for seed in (5, 6, 7, 8)])
    channel_prediction(train, holdout, larger, CHANNELS, ("c",), seed=0)
    assert fitted_rows == [train.shape[0] * train.shape[1]] * 2  # real, then as many synthetic steps


# ---------------------------------------------------------------------------------------------- the evaluation


def long(values: np.ndarray, channels: tuple[str, ...] = CHANNELS) -> pd.DataFrame:
    return to_long(values, channels)


@pytest.fixture(scope="module")
def copy_evaluation(train: np.ndarray, holdout: np.ndarray) -> Evaluation:
    table = long(train[:30])
    shuffled_rows = table.sample(frac=1.0, random_state=0)  # order by sequence and time is the evaluation's job
    return evaluate_sequences(shuffled_rows, long(holdout[:30]), table.copy(), **KEYS)


def test_a_copy_of_train_passes_fidelity_and_fails_privacy(copy_evaluation: Evaluation) -> None:
    document = copy_evaluation.to_dict()
    fidelity = document["fidelity"]
    assert copy_evaluation.fidelity.verdict is Verdict.PASS
    assert copy_evaluation.privacy.verdict is Verdict.FAIL
    assert fidelity["channel_shapes"]["mean"] == 1.0
    assert fidelity["autocorrelation"]["mean_absolute_difference"] == 0.0
    assert 0 < fidelity["autocorrelation"]["holdout_mean_absolute_difference"] < 0.05
    assert document["privacy"]["distance_to_closest_record"]["closer_to_train_share"]["value"] == 1.0
    assert document["privacy"]["exact_copies"]["synthetic_in_train"]["value"] == 1.0


def test_the_evaluation_is_strict_json_with_what_the_report_draws(copy_evaluation: Evaluation) -> None:
    document = json.loads(json.dumps(copy_evaluation.to_dict(), allow_nan=False))
    about = document["about"]
    assert about["data"] == "sequences"
    assert (about["window_length"], about["lags"], about["columns"]) == (32, 8, list(CHANNELS))
    assert about["sequences"] == {"train": 30, "holdout": 30, "synthetic": 30}
    examples = document["fidelity"]["examples"]
    assert np.array(examples["real_windows"]).shape == (3, 32, 3)
    assert len(examples["pairs"]) == 3 and np.array(examples["pairs"][0]["real"]).shape == (2, 400)
    assert set(document["fidelity"]["autocorrelation"]["synthetic"]) == set(CHANNELS)
    assert set(document["utility"]["channel_prediction"]["per_channel"]) == set(CHANNELS)


def test_long_sequences_are_cut_into_windows_of_the_shortest_length(train: np.ndarray, holdout: np.ndarray) -> None:
    # a generator trained on 16-step windows of the 32-step recordings
    synthetic = long(sines(40, steps=16, seed=5))
    result = evaluate_sequences(long(train[:20]), long(holdout[:25]), synthetic, target="c", **KEYS)
    about = result.about
    assert about["window_length"] == 16
    assert about["rows"] == {"train": 40, "holdout": 40, "synthetic": 40}
    assert list(result.to_dict()["utility"]["channel_prediction"]["per_channel"]) == ["c"]
    assert result.fidelity.verdict is not Verdict.FAIL


def test_unequal_lengths_name_the_sequence(train: np.ndarray, holdout: np.ndarray) -> None:
    table = long(holdout)
    table = table.drop(table.index[(table["sequence"] == 7) & (table["step"] == 31)])
    with pytest.raises(DataError, match="31 steps, most have 32.*Offending values: 7"):
        evaluate_sequences(long(train), table, long(train), **KEYS)


def test_a_text_channel_is_refused_by_name(train: np.ndarray, holdout: np.ndarray) -> None:
    synthetic = long(train).astype({"b": object})
    synthetic.loc[5, "b"] = "?"
    with pytest.raises(DataError, match="'b'.*'\\?'"):
        evaluate_sequences(long(train), long(holdout), synthetic, **KEYS)


def test_a_missing_channel_is_refused_by_name(train: np.ndarray, holdout: np.ndarray) -> None:
    with pytest.raises(DataError, match="synthetic sequences lack channels.*'c'"):
        evaluate_sequences(long(train), long(holdout), long(train).drop(columns="c"), **KEYS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "d"}, "not a channel"),
        ({"window_length": 33}, "from 2 to 32"),
        ({"window_length": 8, "lags": 8}, "from 1 to 7"),
    ],
)
def test_bad_options_are_config_errors(train: np.ndarray, holdout: np.ndarray, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate_sequences(long(train), long(holdout), long(train), **KEYS, **options)


def test_too_few_sequences_are_refused(train: np.ndarray, holdout: np.ndarray) -> None:
    with pytest.raises(DataError, match="only 8 sequences"):
        evaluate_sequences(long(train[:12]), long(holdout[:12]), long(train[:8]), **KEYS)


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.e2e
def test_basic_motions_time_shuffled_train_fails_on_dynamics_against_the_real_test_split() -> None:
    train = read_ts(shared_file("timeseries-basicmotions", "BasicMotions_TRAIN.ts"))
    test = read_ts(shared_file("timeseries-basicmotions", "BasicMotions_TEST.ts"))
    synthetic = to_long(shuffled_in_time(train.values), train.channels)
    result = evaluate_sequences(
        to_long(train.values, train.channels), to_long(test.values, test.channels), synthetic, window_length=50, **KEYS
    )
    checks = {check.name: check.verdict for check in result.fidelity.checks}
    autocorrelations = result.to_dict()["fidelity"]["autocorrelation"]
    assert checks["autocorrelation"] is Verdict.FAIL
    assert checks["window detection"] is Verdict.FAIL
    assert checks["channel shapes"] is Verdict.PASS
    assert autocorrelations["holdout_mean_absolute_difference"] < 0.05 < autocorrelations["mean_absolute_difference"]
    # the values of each step are real, so predicting one channel from the others still works
    assert result.utility.verdict is Verdict.PASS
