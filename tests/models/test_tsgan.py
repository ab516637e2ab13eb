"""The 1-D convolutional time-series GAN: shapes for any window, formats, seeding, artifacts, learning."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

import synthmed
from synthmed.data.dynamics import autocorrelation, default_lags
from synthmed.data.timeseries import to_long
from synthmed.errors import ConfigError, NotFittedError, SchemaError
from synthmed.models import TimeSeriesGAN
from synthmed.models.monitor import SequenceReference
from synthmed.models.training import TrainingRun
from tests.conftest import shared_file

FAST: dict[str, Any] = {
    "epochs": 2,
    "min_steps": 0,
    "batch_size": 8,
    "generator_widths": (16, 8),
    "discriminator_widths": (8, 16),
}


def make_model(**overrides: Any) -> TimeSeriesGAN:
    return TimeSeriesGAN(**{**FAST, "seed": 0, **overrides})


def waves(n: int = 24, steps: int = 16, seed: int = 0) -> np.ndarray:
    """Sines of random phase, two channels in anti-phase (period 8 steps), amplitudes 0.8-1.0."""
    rng = np.random.default_rng(seed)
    phase, amplitude = rng.uniform(0, 2 * np.pi, (n, 1)), rng.uniform(0.8, 1.0, (n, 1))
    signal = amplitude * np.sin(2 * np.pi * np.arange(steps) / 8 + phase)
    return np.stack([signal, -2.0 * signal + 5.0], axis=2)


@pytest.fixture(scope="module")
def long_table() -> pd.DataFrame:
    table = to_long(waves(), ["hr", "sbp"]).rename(columns={"sequence": "patient", "step": "minute"})
    return table.sample(frac=1.0, random_state=0)  # rows in any order: time orders them


def test_defaults_are_the_papers() -> None:
    model = TimeSeriesGAN()
    assert (model.epochs, model.learning_rate, model.momentum, model.discriminator_stride) == (200, 5e-4, 0.9, 1)
    assert model.optimizer == "sgd"
    assert (model.noise_dim, model.kernel_size) == (100, 5)  # DCGAN's


@pytest.mark.parametrize("steps", [1, 7, 24, 100, 187])
@pytest.mark.parametrize("stride", [1, 2])
def test_any_window_length_works(steps: int, stride: int) -> None:
    values = np.random.default_rng(0).normal(size=(10, steps, 3))
    model = make_model(epochs=1, discriminator_stride=stride, generator_widths=(8, 8, 8)).fit(values, progress=False)
    synthetic = model.sample(4)
    assert isinstance(synthetic, np.ndarray)
    assert synthetic.shape == (4, steps, 3)
    assert (synthetic >= values.min(axis=(0, 1))).all() and (synthetic <= values.max(axis=(0, 1))).all()


def test_long_table_in_long_table_out(long_table: pd.DataFrame) -> None:
    model = make_model().fit(long_table, sequence_id="patient", time="minute", progress=False)
    synthetic = model.sample(5)
    assert list(synthetic.columns) == ["sequence", "step", "hr", "sbp"]
    assert len(synthetic) == 5 * 16
    assert synthetic.groupby("sequence")["step"].apply(list).tolist() == [list(range(16))] * 5
    assert synthetic["sequence"].dtype == np.int64 and synthetic["hr"].dtype == np.float64
    assert synthetic["sbp"].between(long_table["sbp"].min(), long_table["sbp"].max()).all()
    assert model.n_rows_ == 24 and model.transformer_.steps_ == 16


def test_recording_and_paths(tmp_path: Path) -> None:
    recording = pd.DataFrame(waves(n=1, steps=130)[0], columns=["hr", "sbp"])
    with pytest.warns(UserWarning, match="dropped the last 10 steps"):
        model = make_model().fit(recording, window=12, progress=False)
    assert model.n_rows_ == 10 and model.sample(2).shape == (24, 4)
    path = tmp_path / "recording.csv"
    recording.iloc[:120].to_csv(path, index=False)
    assert make_model().fit(path, window=12, progress=False).sample(3, seed=0).shape == (36, 4)


def test_same_data_and_seed_give_identical_output(long_table: pd.DataFrame) -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = make_model().fit(long_table, sequence_id="patient", time="minute", progress=False).sample(6, seed=3)
    second = make_model().fit(long_table, sequence_id="patient", time="minute", progress=False).sample(6, seed=3)
    assert first.to_csv(index=False).encode() == second.to_csv(index=False).encode()
    other = make_model(seed=1).fit(long_table, sequence_id="patient", time="minute", progress=False).sample(6, seed=3)
    assert not other.equals(first)
    assert torch.equal(torch.get_rng_state(), torch_state)  # randomness only through the run's generators
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_save_load_gives_identical_samples_and_ships_only_the_ranges(tmp_path: Path) -> None:
    values = waves()
    model = make_model().fit(values, progress=False)
    path = model.save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        text = archive.read("model.json").decode()
    meta = json.loads(text)
    assert meta["model"] == "tsgan" and meta["data"]["rows"] == 24
    assert meta["transformer"]["steps"] == 16
    assert [c["domain"] for c in meta["transformer"]["channels"]] == ["data", "data"]
    numbers_in_file = {float(number) for number in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)}
    leaked = numbers_in_file & {float(v) for v in values.ravel()}
    assert leaked == {*values.min(axis=(0, 1)), *values.max(axis=(0, 1))}  # only the documented ranges
    loaded = synthmed.load(path)
    assert isinstance(loaded, TimeSeriesGAN)
    assert loaded.parameter_counts() == model.parameter_counts()
    assert set(model.parameter_counts()) == {"generator", "discriminator"}
    np.testing.assert_array_equal(loaded.sample(7, seed=2), model.sample(7, seed=2))


def test_a_schema_declares_channel_ranges(long_table: pd.DataFrame, tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  hr: {kind: continuous, min: -2, max: 2}\n")
    model = make_model().fit(long_table, sequence_id="patient", time="minute", schema=schema, progress=False)
    hr = model.transformer_.to_dict()["channels"][0]
    assert hr == {"name": "hr", "min": -2.0, "max": 2.0, "domain": "schema"}
    schema.write_text("columns:\n  hr: {kind: categorical}\n")
    with pytest.raises(SchemaError, match="'hr'.*continuous signal"):
        make_model().fit(long_table, sequence_id="patient", time="minute", schema=schema, progress=False)


class Interrupted(Exception):
    """Stands in for a crash in the middle of training."""


def test_resumed_training_equals_uninterrupted_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = waves()
    original_log = TrainingRun.log

    def crashing_log(run: TrainingRun, **metrics: float) -> None:
        if len(run.history.get("gan", [])) == 1:  # during the second epoch
            raise Interrupted
        original_log(run, **metrics)

    monkeypatch.setattr(TrainingRun, "log", crashing_log)
    with pytest.raises(Interrupted):
        make_model(epochs=3).fit(values, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    monkeypatch.undo()
    resumed = make_model(epochs=3).fit(values, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    reference = make_model(epochs=3).fit(values, progress=False)
    assert len(resumed.history_["gan"]) == 3
    np.testing.assert_array_equal(resumed.sample(5, seed=4), reference.sample(5, seed=4))


def test_mistakes_are_clear_errors(long_table: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        make_model().sample(3)
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        make_model(kernel_size=4).fit(waves(), progress=False)
    with pytest.raises(ConfigError, match="at least 1"):
        make_model(generator_widths=(8, 0)).fit(waves(), progress=False)
    with pytest.raises(ConfigError, match="optimizer"):
        make_model(optimizer="rmsprop").fit(waves(), progress=False)
    model = make_model().fit(waves(), progress=False)
    with pytest.raises(ConfigError, match="positive integer"):
        model.sample(0)
    with pytest.raises(ConfigError, match="flat table"):
        model.sample(3, conditions={"x0": 1})
    with pytest.raises(ConfigError, match="keep_best needs the training monitor"):
        make_model().fit(waves(), keep_best=True, progress=False)


def test_defaults_train_at_least_min_steps_updates() -> None:
    model = make_model(epochs=2, min_steps=9, batch_size=8).fit(waves(n=24), progress=False)  # 3 steps an epoch
    assert len(model.history_["gan"]) == 3
    model = make_model(epochs=2, min_steps=3, batch_size=8).fit(waves(n=24), progress=False)
    assert len(model.history_["gan"]) == 2  # epochs already give more


def test_spectral_norm_bounds_the_discriminator_instead_of_batch_norm() -> None:
    bounded, batch_norm = (make_model(spectral_norm=flag).fit(waves(), progress=False) for flag in (True, False))
    layers = list(bounded.networks_["discriminator"].modules())
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in layers)
    weighted = [m for m in layers if isinstance(m, torch.nn.Conv1d | torch.nn.Linear)]
    for module in weighted:  # each layer's largest singular value is 1 (the power iteration's estimate)
        matrix = module.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=0.05)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in batch_norm.networks_["discriminator"].modules())


def test_sequence_reference_scores_values_and_dynamics() -> None:
    windows = waves(n=64, steps=32)
    reference = SequenceReference(windows, seed=0)
    assert reference.score(windows, None) == {"column_fidelity": 1.0, "correlation_difference": 0.0, "score": 1.0}
    shuffled = np.random.default_rng(0).permuted(windows, axis=1)  # each window's steps in random order
    figures = reference.score(shuffled, None)
    assert figures["column_fidelity"] == pytest.approx(1.0)  # the same values
    lags = default_lags(32)
    expected = np.concatenate(
        [
            [abs(np.corrcoef(windows.reshape(-1, 2).T)[0, 1] - np.corrcoef(shuffled.reshape(-1, 2).T)[0, 1])],
            np.abs(autocorrelation(windows, lags) - autocorrelation(shuffled, lags)).ravel(),
        ]
    ).mean()
    assert figures["correlation_difference"] == pytest.approx(expected) and expected > 0.3
    doubled = windows * np.array([2.0, 1.0])  # channel 0 spread twice as wide
    statistic = ks_2samp(windows[..., 0].ravel(), doubled[..., 0].ravel()).statistic
    assert reference.score(doubled, None)["column_fidelity"] == pytest.approx(1 - statistic / 2) and statistic > 0.2


def test_a_monitored_run_trains_like_an_unmonitored_one_and_keeps_its_curve() -> None:
    values = waves()
    monitored = make_model(epochs=4).fit(values, progress=False, monitor_every=2)
    plain = make_model(epochs=4).fit(values, progress=False)
    np.testing.assert_array_equal(monitored.sample(5, seed=1), plain.sample(5, seed=1))
    assert [r["epoch"] for r in monitored.history_["monitor"]] == [2, 4]
    assert monitored.monitor_ == {"every": 2, "rows": 20_000 // 16, "keep_best": False, "kept_epoch": None}
    kept = make_model(epochs=4).fit(values, progress=False, monitor_every=1, keep_best=True)
    curve = kept.history_["monitor"]
    assert kept.monitor_["kept_epoch"] == max(curve, key=lambda r: r["score"])["epoch"]


def _autocorrelation(values: np.ndarray, lag: int) -> float:
    centred = values - values.mean(axis=1, keepdims=True)
    return float((centred[:, lag:] * centred[:, :-lag]).sum() / (centred**2).sum())


def _spectrum(values: np.ndarray) -> np.ndarray:
    """Mean amplitude per frequency bin (bin k = k cycles per window)."""
    centred = values - values.mean(axis=1, keepdims=True)
    return np.abs(np.fft.rfft(centred, axis=1)).mean(axis=0) * 2 / values.shape[1]


def test_learns_the_frequency_and_amplitude_of_sine_waves() -> None:
    real = waves(n=256, steps=32)[:, :, :1]
    model = TimeSeriesGAN(epochs=40, generator_widths=(32, 16), discriminator_widths=(16, 32), seed=0)
    synthetic = model.fit(real, progress=False).sample(200, seed=1)  # defaults: SGD, batch 32, 2,000 steps
    noise = np.random.default_rng(1).uniform(real.min(), real.max(), synthetic.shape)
    for lag in (1, 4):  # period 8: lag 1 ~ 0.7, lag 4 ~ -0.9 (noise: ~0 at every lag)
        real_acf = _autocorrelation(real[:, :, 0], lag)
        synthetic_gap = abs(_autocorrelation(synthetic[:, :, 0], lag) - real_acf)
        assert synthetic_gap < 0.25 * abs(_autocorrelation(noise[:, :, 0], lag) - real_acf)
    spectrum = _spectrum(synthetic[:, :, 0])
    assert spectrum.argmax() == 4  # 4 cycles per 32 steps
    # real amplitude ~0.9, noise ~0.2; seeds 0-2 give 0.80-0.84 (the exact figure differs between CPUs, whose
    # float kernels differ), so the bound tells a learned amplitude from noise, not one seed's value
    assert 0.65 < spectrum[4] < _spectrum(real[:, :, 0])[4] + 0.1


@pytest.mark.e2e
def test_basicmotions_fits_and_samples() -> None:
    path = shared_file("timeseries-basicmotions", "BasicMotions_TRAIN.ts")
    model = TimeSeriesGAN(epochs=3, min_steps=0, seed=0).fit(path, progress=False)  # the default (paper-sized) networks
    synthetic = model.sample(4)
    assert list(synthetic.columns) == ["sequence", "step", *[f"dim_{c}" for c in range(6)]]
    assert len(synthetic) == 4 * 100 and synthetic.notna().all().all()


@pytest.mark.e2e
def test_spectral_norm_keeps_basicmotions_samples_off_the_channel_extremes() -> None:
    """With DCGAN's batch-norm discriminator and the paper's SGD, the discriminator wins on 40 series within ~20
    steps and the generator's tanh outputs saturate at the channels' extremes for good."""
    path = shared_file("timeseries-basicmotions", "BasicMotions_TRAIN.ts")
    shares = {}
    for spectral in (True, False):
        model = TimeSeriesGAN(epochs=100, min_steps=0, spectral_norm=spectral, seed=0).fit(path, progress=False)
        scaled = model.transformer_.transform(
            model.sample(40, seed=1).drop(columns=["sequence", "step"]).to_numpy().reshape(40, 100, 6)
        )
        shares[spectral] = float((np.abs(scaled) > 0.99).mean())
    assert shares[True] < 0.02 < 0.2 < shares[False]  # real windows: 0.001


@pytest.mark.e2e
def test_ecg_excerpt_fits_and_samples() -> None:
    path = shared_file("ecg-mitdb-sample", "mitdb.csv")
    with pytest.warns(UserWarning, match="dropped the last 20 steps"):
        model = TimeSeriesGAN(epochs=3, min_steps=0, seed=0).fit(path, window=187, progress=False)
    synthetic = model.sample(3)
    assert list(synthetic.columns) == ["sequence", "step", "data", "label"]
    assert len(synthetic) == 3 * 187
    assert synthetic["data"].between(-0.595, 1.245).all()  # the excerpt's range (SOURCES.md: mV)
