"""One suite over every registered model: a model is done when it passes these (scikit-learn's estimator checks)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import synthmed
import synthmed.models
from synthmed.errors import ArtifactError, ConfigError, DataError, NotFittedError
from synthmed.models import MODELS, Synthesizer
from synthmed.models.registry import ENTRIES
from synthmed.models.training import TrainingRun
from tests.models.tables import mixed_patients

# Tiny settings per model so each test trains in about a second; a new model must add its entry.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "medgan": {"epochs": 3, "pretrain_epochs": 2, "batch_size": 32, "pretrain_batch_size": 32},
    "vae": {"epochs": 3, "batch_size": 32},
    "corgan": {"epochs": 2, "pretrain_epochs": 2, "batch_size": 32, "warmup_critic_steps": 5},
    "wgangp": {"epochs": 3, "batch_size": 32},
    "tabgan": {"epochs": 3, "batch_size": 40, "generator_dims": [32], "critic_dims": [32], "max_modes": 3},
    "tsgan": {
        "epochs": 2,
        "min_steps": 0,
        "batch_size": 8,
        "generator_widths": [16, 8],
        "discriminator_widths": [8, 16],
    },
    "visitgpt": {"epochs": 2, "width": 32, "layers": 1, "heads": 2},
}
# Models of (n, T, C) sequences, not flat tables: only the table-free tests below apply to them; the same
# properties on sequences (seeding, save/load, checkpoints, errors) are tested in tests/models/test_tsgan.py.
SEQUENCE_MODELS = frozenset(name for name, entry in ENTRIES.items() if entry.data == "sequences")
# Models of patient histories fit on events with their columns named: none of these tests applies; the same
# properties on histories are tested in tests/models/test_visitgpt.py.
HISTORY_MODELS = frozenset(name for name, entry in ENTRIES.items() if entry.data == "histories")
TABLE_FREE_TESTS = frozenset(
    {"test_bad_hyperparameters_fail_before_training", "test_unknown_hyperparameter_lists_the_valid_names"}
)


def make_model(name: str, **overrides: Any) -> Synthesizer:
    return MODELS[name].from_params({**FAST_PARAMS[name], "seed": 0, **overrides})


@pytest.fixture(scope="module")
def mixed_table() -> pd.DataFrame:
    return mixed_patients()


def test_every_model_has_fast_test_settings() -> None:
    assert set(MODELS) == set(FAST_PARAMS)


@pytest.fixture(params=sorted(MODELS))
def model_name(request: pytest.FixtureRequest) -> str:
    if request.param in SEQUENCE_MODELS and request.function.__name__ not in TABLE_FREE_TESTS:
        pytest.skip(f"{request.param} learns sequences, not flat tables (see tests/models/test_tsgan.py)")
    if request.param in HISTORY_MODELS:
        pytest.skip(f"{request.param} learns patient histories (see tests/models/test_visitgpt.py)")
    return request.param


def test_fit_and_sample_keep_columns_dtypes_and_domains(model_name: str, mixed_table: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="patient_id"):
        model = make_model(model_name).fit(mixed_table, progress=False)
    synthetic = model.sample(200)
    modelled = mixed_table.drop(columns="patient_id")
    assert list(synthetic.columns) == list(modelled.columns)  # the identifier is never generated
    assert len(synthetic) == 200
    assert synthetic.dtypes.to_dict() == modelled.dtypes.to_dict()
    assert set(synthetic["ward"].dropna()) <= {"icu", "er", "gp"}
    assert set(synthetic["sex"]) <= {"F", "M"}
    assert synthetic["age"].between(18, 89).all()
    assert synthetic["admitted"].between(modelled["admitted"].min(), modelled["admitted"].max()).all()


def test_array_in_array_out(model_name: str) -> None:
    codes = (np.random.default_rng(0).random((60, 15)) < 0.3).astype(np.int64)
    model = make_model(model_name).fit(codes, progress=False)
    synthetic = model.sample(25)
    assert isinstance(synthetic, np.ndarray)
    assert synthetic.shape == (25, 15)
    assert set(np.unique(synthetic)) <= {0, 1}


def test_history_records_every_epoch_with_losses(model_name: str, mixed_table: pd.DataFrame) -> None:
    model = make_model(model_name).fit(mixed_table.drop(columns="patient_id"), progress=False)
    for records in model.history_.values():
        assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))
        assert all(np.isfinite(v) for r in records for v in r.values())
        assert all(len(r) >= 3 for r in records)  # epoch, at least one loss, seconds
    assert sum(len(r) for r in model.history_.values()) >= FAST_PARAMS[model_name]["epochs"]


def test_same_data_and_seed_give_identical_output(model_name: str, mixed_table: pd.DataFrame) -> None:
    table = mixed_table.drop(columns="patient_id")
    first = make_model(model_name).fit(table, progress=False).sample(100, seed=3)
    second = make_model(model_name).fit(table, progress=False).sample(100, seed=3)
    assert first.to_csv(index=False).encode() == second.to_csv(index=False).encode()
    other = make_model(model_name, seed=1).fit(table, progress=False).sample(100, seed=3)
    assert not other.equals(first)


def test_fit_and_sample_leave_global_random_state_alone(model_name: str, mixed_table: pd.DataFrame) -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    make_model(model_name).fit(mixed_table.drop(columns="patient_id"), progress=False).sample(10)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_training_flushes_subnormal_floats_and_restores_them(
    mixed_table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subnormal floats slowed one medGAN fit 3x or more on the CPU (models/training.py)."""
    subnormal = torch.tensor([1e-40])
    if not torch.set_flush_denormal(False) or (subnormal * 1.0).item() == 0.0:
        pytest.skip("this CPU cannot flush subnormal floats")
    seen: list[float] = []
    original_train = MODELS["medgan"]._train

    def recording_train(model: Synthesizer, data: torch.Tensor, run: TrainingRun) -> None:
        seen.append((subnormal * 1.0).item())
        original_train(model, data, run)

    monkeypatch.setattr(MODELS["medgan"], "_train", recording_train)
    make_model("medgan").fit(mixed_table.drop(columns="patient_id"), progress=False)
    assert seen == [0.0]
    assert (subnormal * 1.0).item() > 0.0  # the user's process keeps torch's default afterwards


def test_save_load_round_trip(model_name: str, mixed_table: pd.DataFrame, tmp_path: Path) -> None:
    table = mixed_table.drop(columns="patient_id")
    model = make_model(model_name).fit(table, progress=False)
    path = model.save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["model.json", "weights.safetensors"]
        meta = json.loads(archive.read("model.json"))
    assert meta["model"] == model_name
    assert meta["hyperparameters"]["epochs"] == FAST_PARAMS[model_name]["epochs"]
    assert meta["seed"] == 0 and meta["data"]["rows"] == len(table)
    assert meta["data"]["fingerprint"].startswith("sha256:")
    assert {"synthmed", "torch", "numpy", "pandas", "python"} <= set(meta["versions"])
    loaded = synthmed.load(path)
    assert type(loaded) is type(model)
    assert loaded.parameter_counts() == model.parameter_counts()
    pd.testing.assert_frame_equal(loaded.sample(50, seed=7), model.sample(50, seed=7))


def test_artifact_holds_no_training_rows(model_name: str, mixed_table: pd.DataFrame, tmp_path: Path) -> None:
    table = mixed_table.drop(columns="patient_id")
    path = make_model(model_name).fit(table, progress=False).save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        text = archive.read("model.json").decode()
        weights = archive.read("weights.safetensors")
    bmi = table["bmi"].dropna()
    leaked = [v for v in bmi if repr(float(v)) in text]
    assert sorted(leaked) == sorted({bmi.min(), bmi.max()})  # only the documented scaling range
    assert b"P0001" not in weights and "P0001" not in text  # identifiers never reach the artifact


def test_parameter_counts_are_positive_per_network(model_name: str) -> None:
    codes = (np.random.default_rng(0).random((40, 10)) < 0.3).astype(int)
    counts = make_model(model_name).fit(codes, progress=False).parameter_counts()
    assert counts and all(isinstance(v, int) and v > 0 for v in counts.values())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": -1}, "'epochs' must be >= 0"),
        ({"epochs": "10"}, "'epochs' must be int"),
        ({"batch_size": 0}, "'batch_size' must be > 0"),
        ({"seed": 1.5}, "'seed' must be int"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_hyperparameters_fail_before_training(
    model_name: str, overrides: dict[str, Any], message: str, mixed_table: pd.DataFrame
) -> None:
    model = make_model(model_name, **overrides)
    with pytest.raises(ConfigError, match=message):
        model.fit(mixed_table, progress=False)
    assert not hasattr(model, "networks_")


def test_a_bad_hyperparameter_points_to_its_own_models_help(model_name: str, mixed_table: pd.DataFrame) -> None:
    model = make_model(model_name, epochs=-1)
    name = type(model).__name__
    assert getattr(synthmed.models, name) is type(model)  # the help the remedy names exists
    with pytest.raises(ConfigError, match=rf"Remedy: see help\(synthmed\.models\.{name}\)"):
        model.fit(mixed_table, progress=False)


def test_unknown_hyperparameter_lists_the_valid_names(model_name: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown hyperparameter.*'epoch'.*valid names: epochs, batch_size"):
        MODELS[model_name].from_params({"epoch": 5})


def test_bad_data_fails_before_training(model_name: str) -> None:
    model = make_model(model_name)
    with pytest.raises(DataError, match="has 5 rows"):
        model.fit(pd.DataFrame({"a": [1.0, 2.5, 3.0, 4.0, 5.0]}), progress=False)
    with pytest.raises(DataError, match="2-D array"):
        model.fit(np.zeros(30), progress=False)
    assert not hasattr(model, "networks_")


def test_sampling_needs_a_fitted_model_and_a_positive_count(model_name: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        make_model(model_name).sample(10)
    model = make_model(model_name).fit(np.eye(20, dtype=int)[:, :5], progress=False)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="positive integer"):
            model.sample(bad)
    for bad_seed in (-1, 1.5, "7"):
        with pytest.raises(ConfigError, match="non-negative integer"):
            model.sample(5, seed=bad_seed)


def test_loading_something_else_is_a_clear_error(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.smg"
    text_file.write_text("not a model")
    with pytest.raises(ArtifactError, match="not a synthmed generator"):
        synthmed.load(text_file)
    with pytest.raises(ArtifactError, match="does not exist"):
        synthmed.load(tmp_path / "absent.smg")
    incomplete = tmp_path / "incomplete.smg"
    with zipfile.ZipFile(incomplete, "w") as archive:
        archive.writestr("model.json", "{}")
    with pytest.raises(ArtifactError, match="lacks"):
        synthmed.load(incomplete)


def test_newer_artifact_format_is_refused(tmp_path: Path) -> None:
    model = make_model("medgan").fit(np.eye(20, dtype=int)[:, :5], progress=False)
    path = model.save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        meta, weights = json.loads(archive.read("model.json")), archive.read("weights.safetensors")
    meta["format_version"] = 99
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", json.dumps(meta))
        archive.writestr("weights.safetensors", weights)
    with pytest.raises(ArtifactError, match="upgrade synthmed"):
        synthmed.load(path)


def test_artifact_folder_is_accepted(tmp_path: Path) -> None:
    model = make_model("medgan").fit(np.eye(20, dtype=int)[:, :5], progress=False)
    with zipfile.ZipFile(model.save(tmp_path / "model.smg")) as archive:
        archive.extractall(tmp_path / "unpacked")
    np.testing.assert_array_equal(synthmed.load(tmp_path / "unpacked").sample(5, seed=1), model.sample(5, seed=1))


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of training."""


@pytest.mark.parametrize("crash_at", ["second epoch", "last epoch"])
def test_resumed_training_equals_uninterrupted_training(
    model_name: str, crash_at: str, mixed_table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = mixed_table.drop(columns="patient_id")
    uninterrupted = make_model(model_name, seed=None).fit(table, progress=False)
    total = sum(len(records) for records in uninterrupted.history_.values())
    stop = 2 if crash_at == "second epoch" else total
    logged = {"epochs": 0}
    original_log = TrainingRun.log

    def crashing_log(run: TrainingRun, **metrics: float) -> None:
        logged["epochs"] += 1
        if logged["epochs"] == stop:
            raise Interrupted
        original_log(run, **metrics)

    monkeypatch.setattr(TrainingRun, "log", crashing_log)
    crashed = make_model(model_name, seed=None)
    with pytest.raises(Interrupted):
        crashed.fit(table, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    assert (tmp_path / "checkpoint.safetensors").is_file()
    with pytest.raises(NotFittedError):  # a half-trained model cannot be sampled or saved
        crashed.sample(5)

    logged["epochs"], stop = 0, -1  # count, never crash
    resumed = make_model(model_name, seed=None).fit(table, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    assert logged["epochs"] == total - (2 - 1 if crash_at == "second epoch" else total - 1)  # only the rest ran
    assert resumed.seed_ == crashed.seed_  # an unseeded run keeps the seed it started with
    monkeypatch.undo()
    reference = make_model(model_name, seed=resumed.seed_).fit(table, progress=False)
    assert [len(r) for r in resumed.history_.values()] == [len(r) for r in reference.history_.values()]
    pd.testing.assert_frame_equal(resumed.sample(60, seed=4), reference.sample(60, seed=4))


def test_a_checkpoint_from_another_run_is_refused(mixed_table: pd.DataFrame, tmp_path: Path) -> None:
    table = mixed_table.drop(columns="patient_id")
    make_model("medgan").fit(table, progress=False, checkpoint=tmp_path)
    with pytest.raises(ConfigError, match="belongs to another run"):
        make_model("medgan", epochs=4).fit(table, progress=False, checkpoint=tmp_path)
