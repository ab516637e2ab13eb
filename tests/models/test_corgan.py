"""corGAN follows Torfi & Fox 2020's reference network, fits any width, clips its critic and learns prevalences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

from synthmed.errors import ConfigError
from synthmed.models import CorGAN
from synthmed.models.corgan_networks import ConvCritic, ConvGenerator, MLPCritic, MLPGenerator, padded_width

QUICK = {"epochs": 1, "pretrain_epochs": 1, "batch_size": 32, "warmup_critic_steps": 5, "seed": 0}


def toy_codes(rows: int = 512) -> np.ndarray:
    prevalence = np.array([0.05, 0.15, 0.3, 0.5, 0.7, 0.9])
    return (np.random.default_rng(0).random((rows, 6)) < prevalence).astype(np.int64)


def test_parameter_counts_match_the_reference_network_at_1071_codes() -> None:
    codes = (np.random.default_rng(0).random((20, 1071)) < 0.01).astype(np.uint8)
    mlp = CorGAN(epochs=0, pretrain_epochs=0, architecture="mlp", seed=0).fit(codes, progress=False)
    assert mlp.parameter_counts() == {"autoencoder": 135_809, "generator": 33_536, "critic": 406_273}
    conv = CorGAN(epochs=0, pretrain_epochs=0, seed=0).fit(codes, progress=False)
    assert conv.parameter_counts()["autoencoder"] == 135_809
    assert isinstance(conv.networks_["generator"], ConvGenerator)
    assert isinstance(conv.networks_["critic"], ConvCritic)


@pytest.mark.parametrize("width", [7, 100, 1071, 1500])
def test_any_width_trains_and_samples_that_width(width: int) -> None:
    padded, _ = padded_width(width)
    assert 0 <= padded - width < 192 or (width < 303 and padded == 303)
    assert padded_width(1071) == (1071, 5)  # the reference network, unpadded
    codes = (np.random.default_rng(width).random((40, width)) < 0.2).astype(np.int64)
    synthetic = CorGAN(**QUICK).fit(codes, progress=False).sample(30)
    assert synthetic.shape == (30, width)
    assert set(np.unique(synthetic)) <= {0, 1}


def test_the_conv_critic_sees_what_a_collapsed_batch_holds() -> None:
    """A batch-normed critic scored every batch of identical records alike, with no gradient to leave a collapse."""
    torch.manual_seed(0)
    critic = ConvCritic(padded_width(179)[0]).train()
    one, other = torch.rand(1, 179).repeat(64, 1), torch.rand(1, 179).repeat(64, 1)
    assert abs(critic(one).mean().item() - critic(other).mean().item()) > 1e-4
    collapsed = one.clone().requires_grad_(True)
    critic(collapsed).mean().backward()
    assert collapsed.grad.norm() > 1e-3  # measured: 0.1; with batch norm 9e-6 (and scores 3e-6 apart)


def test_critic_weights_are_clipped_after_training() -> None:
    model = CorGAN(**QUICK).fit(toy_codes(64), progress=False)
    weights = torch.cat([p.detach().flatten() for p in model.networks_["critic"].parameters()])
    assert weights.abs().max().item() == pytest.approx(0.01)  # clipping is active, and holds at the bound
    loose = CorGAN(**{**QUICK, "clip_value": 0.05}).fit(toy_codes(64), progress=False)
    weights = torch.cat([p.detach().flatten() for p in loose.networks_["critic"].parameters()])
    assert weights.abs().max().item() == pytest.approx(0.05)


def test_mlp_variant_uses_the_reference_generator_and_critic() -> None:
    model = CorGAN(**QUICK, architecture="mlp").fit(toy_codes(64), progress=False)
    assert isinstance(model.networks_["generator"], MLPGenerator)
    assert isinstance(model.networks_["critic"], MLPCritic)
    assert model.sample(20).shape == (20, 6)
    with pytest.raises(ConfigError, match="latent_dim must equal"):
        CorGAN(**QUICK, architecture="mlp", latent_dim=64).fit(toy_codes(64), progress=False)


def test_decoder_is_fine_tuned_unless_its_learning_rate_is_zero() -> None:
    def decoder_weights(**overrides: object) -> list[torch.Tensor]:
        model = CorGAN(**{**QUICK, **overrides}).fit(toy_codes(64), progress=False)
        return [p.detach().clone() for p in model.networks_["autoencoder"].decoder.parameters()]

    pretrained = decoder_weights(epochs=0)
    frozen = decoder_weights(decoder_learning_rate=0.0)
    tuned = decoder_weights()
    assert all(torch.equal(a, b) for a, b in zip(pretrained, frozen, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(pretrained, tuned, strict=True))


def test_corgan_learns_code_prevalence() -> None:
    # the mlp variant (the reference code's); clipped conv critics need far more steps than a unit test allows
    real = toy_codes()
    settings = {**QUICK, "batch_size": 64, "pretrain_epochs": 10, "architecture": "mlp", "binary_rounding": "bernoulli"}
    untrained = CorGAN(**{**settings, "epochs": 0}).fit(real, progress=False)
    model = CorGAN(**{**settings, "epochs": 10}).fit(real, progress=False)

    def prevalence_error(sample: np.ndarray) -> float:
        return float(np.abs(sample.mean(0) - real.mean(0)).mean())

    before, after = prevalence_error(untrained.sample(4000, seed=1)), prevalence_error(model.sample(4000, seed=1))
    assert after < 0.08 and before > 0.1  # measured: 0.062 after 80 generator steps, 0.118 untrained


@pytest.mark.filterwarnings("ignore:after 3 pretraining epochs")  # an untrained autoencoder is the point
def test_calibrated_rounding_gives_each_code_its_training_share(tmp_path: Path) -> None:
    real = toy_codes()
    settings = {**QUICK, "batch_size": 64, "pretrain_epochs": 3, "epochs": 3}
    rounded = CorGAN(**settings).fit(real, progress=False).sample(4_000, seed=1)
    model = CorGAN(**settings, binary_rounding="calibrated").fit(real, progress=False)
    calibrated = model.sample(4_000, seed=1)

    def prevalence_error(sample: np.ndarray) -> float:
        return float(np.abs(sample.mean(0) - real.mean(0)).mean())

    assert prevalence_error(calibrated) < 0.02 < 0.1 < prevalence_error(rounded)
    loaded = CorGAN.load(model.save(tmp_path / "calibrated-rounding.smg"))  # the thresholds ship with it
    np.testing.assert_array_equal(loaded.sample(4_000, seed=1), calibrated)


def test_quantile_calibration_restores_a_heavy_tailed_marginal(tmp_path: Path) -> None:
    """Min-max scaling squeezes the usual values of a heavy-tailed column; calibration maps them back."""
    rng = np.random.default_rng(0)
    n = 600
    quiet_or_burst = np.where(rng.random(n) < 0.2, rng.normal(0, 300, n), rng.normal(0, 20, n))
    table = pd.DataFrame({"eeg": quiet_or_burst, "echo": quiet_or_burst * 0.5 + rng.normal(0, 5, n)})
    distances = {}
    for knots in (0, 51):
        model = CorGAN(epochs=3, pretrain_epochs=3, batch_size=64, warmup_critic_steps=5, quantile_knots=knots, seed=0)
        generated = model.fit(table, progress=False).sample(2_000, seed=1)
        distances[knots] = max(ks_2samp(generated[c], table[c]).statistic for c in table.columns)
    assert distances[51] < 0.1 < distances[0]
    loaded = CorGAN.load(model.save(tmp_path / "calibrated.smg"))  # the quantiles ship with the generator
    pd.testing.assert_frame_equal(loaded.sample(2_000, seed=1), generated)


def test_quantile_scaling_spreads_a_heavy_tailed_column_and_ships_with_the_generator(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    eeg = np.where(rng.random(600) < 0.2, rng.normal(0, 300, 600), rng.normal(0, 20, 600))
    table = pd.DataFrame({"eeg": eeg, "echo": eeg * 0.5 + rng.normal(0, 5, 600)})
    model = CorGAN(**QUICK, numeric_scaling="quantiles").fit(table, progress=False)
    seen = model.transformer_.transform(table)[:, 0]  # what the networks trained on: the column's levels
    assert np.allclose(np.quantile(seen, [0.1, 0.5, 0.9]), [0.1, 0.5, 0.9], atol=0.01)
    generated = model.sample(500, seed=1)
    assert generated["eeg"].between(eeg.min(), eeg.max()).all()
    pd.testing.assert_frame_equal(CorGAN.load(model.save(tmp_path / "ranks.smg")).sample(500, seed=1), generated)


def test_quantile_scaling_is_refused_under_differential_privacy() -> None:
    table = pd.DataFrame({"x": np.arange(100.0)})
    with pytest.raises(ConfigError, match="numeric_scaling='minmax'"):
        CorGAN(**QUICK, numeric_scaling="quantiles").fit(table, dp_epsilon=1.0, progress=False)
    with pytest.raises(ConfigError, match="numeric_scaling"):
        CorGAN(**QUICK, numeric_scaling="ranks").fit(table, progress=False)  # type: ignore[arg-type]
