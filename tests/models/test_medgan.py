"""medGAN is faithful to Choi et al. 2017: shapes, modes, minibatch averaging, and it learns code structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from synthmed.data.ehr import code_matrix, read_events
from synthmed.errors import ConfigError
from synthmed.models import MedGAN
from synthmed.models.medgan import Discriminator, Generator
from synthmed.models.training import TrainingRun
from tests.conftest import shared_file


def correlated_codes(rows: int, seed: int = 0) -> np.ndarray:
    """Codes with varied prevalence and pairs that co-occur (code 2k+1 mostly follows code 2k)."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.05, 0.6, 10)
    base = rng.random((rows, 10)) < prevalence
    follower = np.where(rng.random((rows, 10)) < 0.9, base, rng.random((rows, 10)) < 0.05)
    return np.stack([base, follower], axis=2).reshape(rows, 20).astype(np.int64)


def test_parameter_counts_match_the_paper_at_1071_codes() -> None:
    codes = (np.random.default_rng(0).random((20, 1071)) < 0.01).astype(np.uint8)
    model = MedGAN(epochs=0, pretrain_epochs=0, seed=0).fit(codes, progress=False)
    assert model.parameter_counts() == {"autoencoder": 275_375, "generator": 49_920, "discriminator": 581_633}


def test_generator_is_bias_free_with_batch_norm_and_shortcuts() -> None:
    generator = Generator(128, (128, 128), 128, nn.Tanh())
    assert [layer.bias for layer in generator.linears] == [None, None, None]
    assert all(isinstance(norm, nn.BatchNorm1d) and norm.momentum == 0.01 for norm in generator.norms)
    generator.eval()
    with torch.no_grad():
        for linear in generator.linears:
            linear.weight.zero_()  # every layer now outputs tanh/relu(batchnorm(0)) = 0 ...
        noise = torch.randn(4, 128)
        torch.testing.assert_close(generator(noise), noise)  # ... so only the shortcuts carry the input


def test_minibatch_averaging_lets_the_discriminator_see_the_batch() -> None:
    torch.manual_seed(0)
    averaging, plain = Discriminator(30, (256, 128), True), Discriminator(30, (256, 128), False)
    assert averaging.body[0].in_features == 60 and plain.body[0].in_features == 30
    records = torch.rand(8, 30)
    assert not torch.allclose(averaging(records)[:2], averaging(records[:2]))  # depends on the batch
    torch.testing.assert_close(plain(records)[:2], plain(records[:2]))


def test_shortcut_widths_must_agree() -> None:
    with pytest.raises(ConfigError, match="shortcut connections"):
        MedGAN(generator_dims=(256, 128)).fit(correlated_codes(40), progress=False)


@pytest.mark.parametrize(
    ("data", "mode", "activation"),
    [
        (correlated_codes(40), "binary", nn.Tanh),
        (np.random.default_rng(0).poisson(1.5, (40, 8)), "count", nn.ReLU),
        (pd.DataFrame({"sex": ["F", "M"] * 20, "bmi": np.linspace(18, 35, 40)}), "mixed", nn.Tanh),
    ],
)
def test_modes_follow_the_data(data: object, mode: str, activation: type[nn.Module]) -> None:
    model = MedGAN(epochs=1, pretrain_epochs=1, seed=0).fit(data, progress=False)
    assert model.mode_ == mode
    assert isinstance(model.networks_["autoencoder"].embedding_activation, activation)
    assert isinstance(model.networks_["generator"].output_activation, activation)


def test_count_matrix_with_some_0_1_codes_trains_in_count_mode() -> None:
    counts = np.random.default_rng(0).poisson(1.5, (60, 8))
    counts[:, :3] = counts[:, :3] > 2  # codes that never occur twice look binary on their own
    model = MedGAN(epochs=1, pretrain_epochs=1, seed=0).fit(counts, progress=False)
    assert model.mode_ == "count"
    assert {c.kind.value for c in model.schema_.modelled} == {"count"}
    table = pd.DataFrame({"sex": ["F", "M"] * 30, "visits": counts[:, 4], "smoker": counts[:, 0]})
    assert MedGAN(epochs=1, pretrain_epochs=1, seed=0).fit(table, progress=False).mode_ == "mixed"


@pytest.mark.parametrize(
    ("data_type", "message"),
    [("count", "needs every column to be a count"), ("binary", "needs every column to be binary")],
)
def test_data_type_refuses_tables_it_cannot_model(data_type: str, message: str) -> None:
    table = pd.DataFrame({"sex": ["F", "M"] * 20, "bmi": np.linspace(18, 35, 40)})
    with pytest.raises(ConfigError, match=message):
        MedGAN(epochs=1, pretrain_epochs=1, data_type=data_type).fit(table, progress=False)


def test_count_mode_generates_non_negative_integers() -> None:
    counts = np.random.default_rng(0).poisson(1.5, (60, 8))
    synthetic = MedGAN(epochs=3, pretrain_epochs=3, seed=0).fit(counts, progress=False).sample(100)
    assert synthetic.dtype == counts.dtype and synthetic.min() >= 0 and synthetic.max() <= counts.max()


def test_binary_rounding_threshold_or_bernoulli() -> None:
    codes = correlated_codes(60)
    threshold = MedGAN(epochs=2, pretrain_epochs=2, seed=0).fit(codes, progress=False).sample(300, seed=1)
    drawn = MedGAN(epochs=2, pretrain_epochs=2, seed=0, binary_rounding="bernoulli").fit(codes, progress=False)
    bernoulli = drawn.sample(300, seed=1)
    assert set(np.unique(threshold)) <= {0, 1} and set(np.unique(bernoulli)) <= {0, 1}
    assert not np.array_equal(threshold, bernoulli)


@pytest.mark.filterwarnings("ignore:after 2 pretraining epochs")  # an untrained autoencoder is the point
def test_calibrated_rounding_gives_each_code_its_share_and_keeps_the_likeliest_records() -> None:
    codes = correlated_codes(400)
    settings = {"epochs": 2, "pretrain_epochs": 2, "seed": 0}
    rounded = MedGAN(**settings).fit(codes, progress=False)
    calibrated = MedGAN(**settings, binary_rounding="calibrated").fit(codes, progress=False)
    assert np.abs(calibrated.sample(4_000, seed=1).mean(0) - codes.mean(0)).max() < 0.02
    assert np.abs(rounded.sample(4_000, seed=1).mean(0) - codes.mean(0)).max() > 0.1
    # the same generator (same seed, same training): calibration only moves each code's threshold
    probabilities = calibrated._generate_in_eval(4_000, TrainingRun(7, torch.device("cpu"), False)).numpy()
    decoded = calibrated.transformer_.inverse_transform(probabilities).to_numpy()
    thresholds = np.array([encoder.threshold_ for encoder in calibrated.transformer_.encoders_])
    np.testing.assert_array_equal(decoded, (probabilities >= thresholds).astype(int))


def test_medgan_learns_code_prevalence_and_co_occurrence() -> None:
    real = correlated_codes(1000)
    untrained = MedGAN(epochs=0, pretrain_epochs=0, seed=0).fit(real, progress=False).sample(2000)
    # ~3,000 generator steps: the reference code takes ~47,000 on MIMIC-III; fewer do not converge
    model = MedGAN(epochs=300, batch_size=100, pretrain_epochs=20, seed=0).fit(real, progress=False)
    synthetic = model.sample(2000)

    def prevalence_error(sample: np.ndarray) -> float:
        return float(np.abs(sample.mean(0) - real.mean(0)).mean())

    # thresholds depend on float summation order (thread count): 0.051 on one thread, 0.048 on two
    assert prevalence_error(synthetic) < 0.06 < prevalence_error(untrained)
    assert np.corrcoef(synthetic.mean(0), real.mean(0))[0, 1] > 0.9
    # the pairs co-occur in the synthetic records as in the real ones
    pair_correlation = [np.corrcoef(synthetic[:, 2 * k], synthetic[:, 2 * k + 1])[0, 1] for k in range(3, 10)]
    assert np.mean(pair_correlation) > 0.6


@pytest.mark.e2e
def test_medgan_on_the_mimic_demo_code_matrix() -> None:
    matrix = code_matrix(read_events(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv")))
    model = MedGAN(epochs=20, pretrain_epochs=20, seed=0).fit(matrix, progress=False)
    synthetic = model.sample(500)
    assert list(synthetic.columns) == list(matrix.columns)
    assert synthetic.shape == (500, matrix.shape[1]) and set(np.unique(synthetic)) <= {0, 1}
    assert model.parameter_counts()["discriminator"] == (2 * matrix.shape[1] * 256 + 256) + (256 * 128 + 128) + 129


def test_straight_through_training_and_cooccurrence_matching_learn_code_pairs() -> None:
    real = correlated_codes(1000)
    options = {"epochs": 60, "batch_size": 100, "pretrain_epochs": 10, "seed": 0}
    model = MedGAN(binary_rounding="straight_through", cooccurrence_weight=10.0, **options).fit(real, progress=False)
    synthetic = model.sample(2000, seed=1)
    assert set(np.unique(synthetic)) <= {0, 1}
    np.testing.assert_array_equal(synthetic, model.sample(2000, seed=1))

    def cooccurrence_error(sample: np.ndarray) -> float:
        return float(np.abs(sample.T @ sample / len(sample) - real.T @ real / len(real)).mean())

    paper = MedGAN(**options).fit(real, progress=False).sample(2000, seed=1)
    assert cooccurrence_error(synthetic) < 0.5 * cooccurrence_error(paper)


def test_cooccurrence_matching_needs_binary_columns() -> None:
    counts = np.random.default_rng(0).poisson(1.5, (60, 8))
    with pytest.raises(ConfigError, match="cooccurrence_weight"):
        MedGAN(epochs=1, pretrain_epochs=1, cooccurrence_weight=1.0, seed=0).fit(counts, progress=False)
