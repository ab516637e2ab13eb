"""Differentially private training: calibration, accounting, Poisson batches, refusals, and what ships."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import synthmed
from synthmed.errors import ConfigError, SchemaError
from synthmed.models import VAE, WGANGP, CorGAN, MedGAN, TimeSeriesGAN, dp
from synthmed.models.dp import Phase, PrivacyBudget, PrivateTraining, epsilon_of, stored_composition

FAST = {"epochs": 3, "batch_size": 50, "hidden_dims": (16,), "latent_dim": 4}


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return (np.random.default_rng(0).random((400, 8)) < 0.3).astype(np.int64)


@pytest.fixture(scope="module")
def private_vae(codes: np.ndarray) -> VAE:
    return VAE(**FAST, seed=0).fit(codes, progress=False, dp_epsilon=2.0, dp_delta=1e-4)


def patients() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, 200),
            "ward": rng.choice(["cardiology", "oncology", "rare-ward-7"], 200, p=[0.6, 0.39, 0.01]),
            "diabetic": rng.integers(0, 2, 200),
        }
    )


def test_noise_is_calibrated_to_spend_the_budget_and_no_more() -> None:
    private = PrivateTraining(PrivacyBudget(1.0, 1e-5), rows=1_000, phases={"train": Phase(100, 60)}, seed=0)
    assert private.sample_rates == {"train": 0.1} and private.epsilon == 0.0
    for _ in private.batches("train", np.random.default_rng(0), 60):
        pass
    assert 0.99 <= private.epsilon <= 1.0  # all but a sliver of the budget
    with pytest.raises(ConfigError, match="beyond its planned budget"):
        next(private.batches("train", np.random.default_rng(0), 1))
    summary = private.summary()
    assert summary["phases"] == {"train": {"sample_rate": 0.1, "steps": 60}} and summary["accountant"] == "prv"
    assert epsilon_of(stored_composition(summary), summary["delta"]) == summary["epsilon"]
    looser = PrivateTraining(PrivacyBudget(8.0, 1e-5), rows=1_000, phases={"train": Phase(100, 60)}, seed=0)
    assert looser.noise_multiplier < private.noise_multiplier  # a larger budget needs less noise


def test_phases_share_one_budget() -> None:
    phases = {"pretrain": Phase(100, 40), "gan": Phase(500, 30)}
    private = PrivateTraining(PrivacyBudget(2.0, 1e-5), rows=1_000, phases=phases, seed=0)
    rng = np.random.default_rng(0)
    for _ in private.batches("pretrain", rng, 40):
        pass
    halfway = private.epsilon
    for _ in private.batches("gan", rng, 30):
        pass
    assert 0 < halfway < private.epsilon and 1.98 <= private.epsilon <= 2.0
    alone = epsilon_of([(private.noise_multiplier, 0.5, 30)], private.delta)
    assert alone < private.epsilon  # the phases compose: together they spend more than either


def test_the_privacy_noise_is_not_a_replay_of_the_runs_noise() -> None:
    private = PrivateTraining(PrivacyBudget(4.0), rows=100, phases={"train": Phase(10, 5)}, seed=7)
    run_noise = torch.Generator().manual_seed(7)  # what TrainingRun draws latent and generator noise from
    assert not torch.equal(torch.randn(20, generator=private.noise), torch.randn(20, generator=run_noise))


def test_batches_are_poisson_samples() -> None:
    private = PrivateTraining(PrivacyBudget(4.0), rows=2_000, phases={"train": Phase(100, 200)}, seed=0)
    sizes = [len(batch) for batch in private.batches("train", np.random.default_rng(0), 200)]
    assert np.mean(sizes) == pytest.approx(100, rel=0.05)
    assert np.std(sizes) == pytest.approx(np.sqrt(2_000 * 0.05 * 0.95), rel=0.25)  # binomial, not fixed
    assert private.delta == 1 / 20_000  # the default: 1 / (10 n)


def test_a_private_vae_stores_its_epsilon_and_no_loss_figures(private_vae: VAE, tmp_path: Path) -> None:
    privacy = private_vae.privacy_
    assert privacy["delta"] == 1e-4 and privacy["epsilon"] <= 2.0
    assert privacy["phases"] == {"train": {"sample_rate": 50 / 400, "steps": 3 * 8}}  # expected batches of 50
    assert epsilon_of(stored_composition(privacy), 1e-4) == privacy["epsilon"]
    epochs = private_vae.history_["train"]
    assert [set(record) for record in epochs] == [{"epoch", "epsilon", "seconds"}] * 3  # losses read real records
    assert epochs[-1]["epsilon"] == privacy["epsilon"]
    assert epochs[0]["epsilon"] < epochs[1]["epsilon"] < epochs[2]["epsilon"]
    path = private_vae.save(tmp_path / "dp.smg")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
    assert meta["privacy"]["epsilon"] == privacy["epsilon"] and meta["privacy"]["delta"] == 1e-4
    assert meta["data"]["rows"] is None  # the row count is private too
    loaded = synthmed.load(path)
    assert loaded.privacy_ == privacy
    np.testing.assert_array_equal(loaded.sample(20, seed=1), private_vae.sample(20, seed=1))


def test_private_training_is_reproducible_and_differs_from_plain(codes: np.ndarray, private_vae: VAE) -> None:
    again = VAE(**FAST, seed=0).fit(codes, progress=False, dp_epsilon=2.0, dp_delta=1e-4)
    np.testing.assert_array_equal(again.sample(50, seed=3), private_vae.sample(50, seed=3))
    plain = VAE(**FAST, seed=0).fit(codes, progress=False)
    assert plain.privacy_ is None
    assert not np.array_equal(plain.sample(50, seed=3), private_vae.sample(50, seed=3))


def test_domains_must_come_from_a_public_schema(tmp_path: Path) -> None:
    table = patients()
    with pytest.raises(SchemaError, match=r"public metadata.*'age', 'ward'.*declare"):
        VAE(**FAST, seed=0).fit(table, progress=False, dp_epsilon=3.0)
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "columns:\n"
        "  age: {kind: count, min: 0, max: 120}\n"
        "  ward: {kind: categorical, categories: [cardiology, oncology, rare-ward-7, surgery]}\n"
    )
    model = VAE(**FAST, seed=0).fit(table, schema=schema, progress=False, dp_epsilon=3.0)
    path = model.save(tmp_path / "dp.smg")
    with zipfile.ZipFile(path) as archive:
        text = archive.read("model.json").decode()
    declared = {"cardiology", "oncology", "rare-ward-7", "surgery"}
    assert "rare-ward-7" in text  # it is in the public list, so it may ship
    undeclared_strings = {v for v in table["ward"].unique() if v not in declared}
    assert not any(f'"{value}"' in text for value in undeclared_strings)
    meta = json.loads(text)
    age = next(c for c in meta["transformer"]["columns"] if c["column"] == "age")
    assert (age["min"], age["max"], age["domain"]) == (0, 120, "schema")  # not the data's 18 and 89
    assert str(table["age"].min()) not in {str(age["min"]), str(age["max"])}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dp_epsilon": 0.0}, "epsilon must be a positive number"),
        ({"dp_epsilon": 1.0, "dp_delta": 1.5}, "delta must be between 0 and 1"),
        ({"dp_epsilon": 1.0, "monitor_every": 1}, "monitor reads the training data"),
    ],
)
def test_bad_private_options_fail_before_training(codes: np.ndarray, options: dict, message: str) -> None:
    model = VAE(**FAST, seed=0)
    with pytest.raises(ConfigError, match=message):
        model.fit(codes, progress=False, **options)
    assert not hasattr(model, "networks_")


def test_private_medgan_pretrains_and_discriminates_privately(codes: np.ndarray, tmp_path: Path) -> None:
    options = {"epochs": 2, "pretrain_epochs": 2, "batch_size": 100, "pretrain_batch_size": 50, "seed": 0}
    model = MedGAN(**options).fit(codes, progress=False, dp_epsilon=4.0)
    privacy = model.privacy_
    assert privacy["phases"] == {
        "pretrain": {"sample_rate": 50 / 400, "steps": 2 * 8},
        "gan": {"sample_rate": 100 / 400, "steps": 2 * 4 * 2},  # 4 generator steps an epoch, 2 discriminator steps
    }
    assert 3.96 <= privacy["epsilon"] <= 4.0
    assert privacy["adaptations"] == {"minibatch_averaging": "off: it mixes the records of a batch"}
    assert not model.networks_["discriminator"].minibatch_averaging
    assert set(model.history_["pretrain"][0]) == {"epoch", "epsilon", "seconds"}
    assert set(model.history_["gan"][0]) == {"epoch", "g_loss", "epsilon", "seconds"}  # no loss on real records
    loaded = synthmed.load(model.save(tmp_path / "medgan.smg"))
    assert not loaded.networks_["discriminator"].minibatch_averaging
    np.testing.assert_array_equal(loaded.sample(30, seed=2), model.sample(30, seed=2))
    assert MedGAN(**options).fit(codes, progress=False).networks_["discriminator"].minibatch_averaging


def test_private_medgan_leaves_out_cooccurrence_matching_and_draws_records(codes: np.ndarray) -> None:
    options = {"epochs": 1, "pretrain_epochs": 1, "batch_size": 100, "pretrain_batch_size": 50, "seed": 0}
    model = MedGAN(binary_rounding="straight_through", cooccurrence_weight=10.0, **options)
    model.fit(codes, progress=False, dp_epsilon=4.0)
    assert model.privacy_["adaptations"]["cooccurrence_weight"].startswith("off")
    assert set(np.unique(model.sample(50, seed=0))) <= {0, 1}


def test_private_wgan_clips_critic_weights_instead_of_a_gradient_penalty(codes: np.ndarray) -> None:
    model = WGANGP(epochs=2, batch_size=50, critic_steps=2, seed=0).fit(codes, progress=False, dp_epsilon=3.0)
    privacy = model.privacy_
    assert privacy["phases"] == {"critic": {"sample_rate": 50 / 400, "steps": 2 * 8 * 2}}
    assert privacy["adaptations"] == {"gradient_penalty": "replaced by weight clipping at 0.01 (DPGAN)"}
    weights = torch.cat([p.detach().flatten() for p in model.networks_["critic"].parameters()])
    assert weights.abs().max() <= 0.01
    assert set(model.history_["train"][0]) == {"epoch", "generator_loss", "epsilon", "seconds"}
    plain = WGANGP(epochs=2, batch_size=50, critic_steps=2, seed=0).fit(codes, progress=False)
    assert torch.cat([p.detach().flatten() for p in plain.networks_["critic"].parameters()]).abs().max() > 0.01


def test_models_without_private_training_refuse_it(codes: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"not available for tsgan yet.*models with it: medgan, vae, corgan, wgangp, tabgan"
    ):
        TimeSeriesGAN(seed=0).fit(np.zeros((4, 10, 2)), progress=False, dp_epsilon=1.0)
    with pytest.raises(ConfigError, match="cannot be resumed"):
        VAE(**FAST, seed=0).fit(codes, progress=False, dp_epsilon=1.0, checkpoint=tmp_path)


def test_the_per_epoch_log_bounds_the_spent_epsilon_with_few_accountant_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    phases = {"pretrain": Phase(100, 50), "gan": Phase(200, 150)}
    private = PrivateTraining(PrivacyBudget(3.0, 1e-5), rows=1_000, phases=phases, seed=0)
    calls = []
    original = dp.epsilon_of
    monkeypatch.setattr(dp, "epsilon_of", lambda *a, **k: calls.append(a) or original(*a, **k))
    rng, logged = np.random.default_rng(0), []
    for name, count in (("pretrain", 50), ("gan", 150)):
        for _ in private.batches(name, rng, count):
            logged.append((private.logged_epsilon, dict(private.steps)))
    assert len(calls) <= dp.LOGGED_EPSILON_POINTS + 1  # one per point reached, and the stored figure at the end
    assert max(b for b, _ in logged) <= 3.0  # never more than the budget, even at the quicker precision
    for bound, steps in logged[::25]:
        composition = [(private.noise_multiplier, private.sample_rates[n], s) for n, s in steps.items()]
        assert bound >= original(composition, private.delta) - 1e-9
    assert logged[-1][0] == private.epsilon and [b for b, _ in logged] == sorted(b for b, _ in logged)


def test_batch_norm_is_refused_where_dp_applies() -> None:
    private = PrivateTraining(PrivacyBudget(3.0), rows=100, phases={"train": Phase(10, 5)}, seed=0)
    normed = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    with (
        pytest.raises(ConfigError, match=r"batch norm.*Offending values: 'BatchNorm1d'.*group norm"),
        private.training("train", normed, torch.optim.SGD(normed.parameters(), lr=0.1)),
    ):
        pass
    grouped = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GroupNorm(2, 4))
    with private.training("train", grouped, torch.optim.SGD(grouped.parameters(), lr=0.1)) as module:
        module.descend(np.random.default_rng(0), 2, torch.randn(100, 4), lambda rows: grouped(rows).square().mean())
        assert all(hasattr(p, "grad_sample") for p in grouped.parameters())  # per-record gradients recorded
    assert private.steps == {"train": 2}
    grouped(torch.randn(3, 4)).sum().backward()  # after the block: a plain network, no per-record hooks
    assert all(getattr(p, "grad_sample", None) is None for p in grouped.parameters())


def test_private_corgan_swaps_batch_norm_for_group_norm_and_accounts_every_critic_step(
    codes: np.ndarray, tmp_path: Path
) -> None:
    options = {
        "epochs": 2,
        "pretrain_epochs": 2,
        "batch_size": 50,
        "critic_steps": 2,
        "warmup_critic_steps": 3,
        "seed": 0,
    }
    model = CorGAN(**options).fit(codes, progress=False, dp_epsilon=3.0)
    privacy = model.privacy_
    # 8 generator steps an epoch, 16 in all, each after 3 warm-up critic steps (the first 25 are warm-up)
    assert privacy["phases"] == {
        "pretrain": {"sample_rate": 50 / 400, "steps": 2 * 8},
        "critic": {"sample_rate": 50 / 400, "steps": 16 * 3},
    }
    assert 2.97 <= privacy["epsilon"] <= 3.0 and "norms" in privacy["adaptations"]
    for name in ("autoencoder", "critic"):
        kinds = {type(m).__name__ for m in model.networks_[name].modules()}
        assert "GroupNorm" in kinds and "BatchNorm1d" not in kinds
    weights = torch.cat([p.detach().flatten() for p in model.networks_["critic"].parameters()])
    assert weights.abs().max() <= 0.01
    assert set(model.history_["pretrain"][0]) == {"epoch", "epsilon", "seconds"}
    loaded = synthmed.load(model.save(tmp_path / "corgan.smg"))
    np.testing.assert_array_equal(loaded.sample(30, seed=2), model.sample(30, seed=2))
    plain = CorGAN(**options).fit(codes, progress=False)
    assert "BatchNorm1d" in {type(m).__name__ for m in plain.networks_["autoencoder"].modules()}


def test_private_corgan_calibrates_numbers_to_released_histograms(tmp_path: Path) -> None:
    """quantile_knots under DP: a histogram of the declared range is released with part of the budget and the
    generated ages are mapped onto it; the data's own quantiles never ship."""
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"age": rng.normal(70, 4, 400).round(1), "diabetic": rng.integers(0, 2, 400)})
    schema = synthmed.Schema.from_dict(
        {"columns": {"age": {"kind": "continuous", "min": 0, "max": 120}, "diabetic": {"kind": "binary"}}}
    )
    options = {"epochs": 2, "pretrain_epochs": 2, "batch_size": 50, "warmup_critic_steps": 3, "seed": 0}
    model = CorGAN(**options, quantile_knots=11).fit(table, schema=schema, progress=False, dp_epsilon=3.0)
    privacy = model.privacy_
    assert privacy["phases"]["marginals"]["steps"] == 1 and privacy["phases"]["marginals"]["sample_rate"] == 1
    assert privacy["epsilon"] <= 3.0 and "quantile_knots" in privacy["adaptations"]
    age = next(c for c in model.transformer_.to_dict()["columns"] if c["column"] == "age")
    assert age["calibration"]["source"] == "dp-histogram" and len(age["calibration"]["quantiles"]) == 11
    assert abs(model.sample(2_000, seed=0)["age"].median() - 70) < 6  # one 6-year bin of the released histogram
    uncalibrated = CorGAN(**options).fit(table, schema=schema, progress=False, dp_epsilon=3.0)
    assert "marginals" not in uncalibrated.privacy_["phases"]
    assert abs(uncalibrated.sample(2_000, seed=0)["age"].median() - 70) > 6  # two epochs alone do not get there
    loaded = synthmed.load(model.save(tmp_path / "corgan.smg"))
    pd.testing.assert_frame_equal(loaded.sample(30, seed=2), model.sample(30, seed=2))


def test_private_corgan_rounds_to_declared_shares_and_refuses_the_datas() -> None:
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"diabetic": rng.random(400) < 0.3, "smoker": rng.random(400) < 0.1}).astype(int)
    options = {"epochs": 2, "pretrain_epochs": 2, "batch_size": 50, "warmup_critic_steps": 3, "seed": 0}
    model = CorGAN(**options, binary_rounding="calibrated")
    with pytest.raises(SchemaError, match="share") as refused:
        model.fit(table, progress=False, dp_epsilon=5.0)
    assert "diabetic" in str(refused.value) and "smoker" in str(refused.value)
    public = {"columns": {"diabetic": {"kind": "binary", "share": 0.25}, "smoker": {"kind": "binary", "share": 0.1}}}
    model.fit(table, schema=synthmed.Schema.from_dict(public), progress=False, dp_epsilon=5.0)
    assert model.privacy_["epsilon"] <= 5.0
    rounding = {c["column"]: c["rounding"] for c in model.transformer_.to_dict()["columns"]}
    assert rounding["diabetic"]["share"] == 0.25 and rounding["diabetic"]["source"] == "schema"
    np.testing.assert_allclose(model.sample(4_000, seed=1).mean(), [0.25, 0.1], atol=0.02)  # not the data's 0.3


def test_whether_a_column_may_be_missing_comes_from_the_schema_under_dp(tmp_path: Path) -> None:
    table = patients().astype({"age": float})
    table.loc[::20, "age"] = np.nan
    schema = {
        "age": {"kind": "count", "min": 0, "max": 120},
        "ward": {"kind": "categorical", "categories": ["cardiology", "oncology", "rare-ward-7"], "missing": True},
    }
    with pytest.raises(SchemaError, match=r"'age'.*may be missing.*missing: true"):
        VAE(**FAST, seed=0).fit(table, schema=synthmed.Schema.from_dict({"columns": schema}), dp_epsilon=3.0)
    schema["age"]["missing"] = True
    model = VAE(**FAST, seed=0).fit(table, schema=synthmed.Schema.from_dict({"columns": schema}), dp_epsilon=3.0)
    columns = {c["column"]: c for c in model.transformer_.to_dict()["columns"]}
    # ward has no missing value, but its declared missing slot is there all the same: nothing was read from the data
    assert columns["age"]["has_missing"] and columns["ward"]["has_missing"]
    plain = VAE(**FAST, seed=0).fit(table, schema=synthmed.Schema.from_dict({"columns": schema}))
    assert {c["column"]: c for c in plain.transformer_.to_dict()["columns"]}["ward"]["has_missing"]  # as declared
    assert synthmed.Schema.from_dict({"columns": schema}).to_dict()["columns"]["ward"]["missing"] is True
    schema["age"]["missing"] = False
    with pytest.raises(SchemaError, match="declares `missing: false`"):
        VAE(**FAST, seed=0).fit(table, schema=synthmed.Schema.from_dict({"columns": schema}))
