"""Saved generators: the same bytes for the same training, and any damage is an ArtifactError with a remedy."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synthmed
from synthmed.errors import ArtifactError, OutputError
from synthmed.models import MODELS, MedGAN
from synthmed.models.base import Synthesizer


def fitted(seed: int = 0) -> MedGAN:
    matrix = (np.random.default_rng(3).random((40, 6)) < 0.4).astype(int)
    return MedGAN(epochs=2, pretrain_epochs=1, batch_size=16, seed=seed).fit(matrix, progress=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return fitted().save(tmp_path_factory.mktemp("artifact") / "model.smg").read_bytes()


def rewritten(path: Path, edit_meta: object = None, weights: bytes | None = None) -> Path:
    """Rewrite a saved generator's members, editing model.json with `edit_meta(meta)`."""
    with zipfile.ZipFile(path) as archive:
        meta, old_weights = json.loads(archive.read("model.json")), archive.read("weights.safetensors")
    if callable(edit_meta):
        edit_meta(meta)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", json.dumps(meta))
        archive.writestr("weights.safetensors", weights if weights is not None else old_weights)
    return path


def test_the_same_training_gives_byte_identical_files(saved: bytes, tmp_path: Path) -> None:
    again = fitted().save(tmp_path / "again.smg").read_bytes()
    assert again == saved  # fixed member timestamps, no wall-clock timings inside
    assert fitted(seed=1).save(tmp_path / "other.smg").read_bytes() != saved
    meta = json.loads(zipfile.ZipFile(tmp_path / "again.smg").read("model.json"))
    assert all("seconds" not in record for records in meta["history"].values() for record in records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_corrupted_byte_is_an_artifact_error_or_harmless(saved: bytes, tmp_path: Path, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(saved) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != saved[position]))
    damaged = bytearray(saved)
    damaged[position] = value
    path = tmp_path / "damaged.smg"
    path.write_bytes(bytes(damaged))
    try:
        model = synthmed.load(path)
    except ArtifactError as error:
        assert "damaged.smg" in str(error) and error.remedy
    else:  # a flip in a field the reader ignores (a zip header's timestamp): the model still works
        assert len(model.sample(3, seed=0)) == 3


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_a_truncated_file_is_an_artifact_error(saved: bytes, tmp_path: Path, cut: float) -> None:
    path = tmp_path / "truncated.smg"
    path.write_bytes(saved[: int(len(saved) * cut)])
    with pytest.raises(ArtifactError):
        synthmed.load(path)


@pytest.mark.parametrize("key", ["model", "hyperparameters", "schema", "transformer", "data", "seed", "history"])
def test_model_json_lacking_a_key_names_it(saved: bytes, tmp_path: Path, key: str) -> None:
    path = tmp_path / "edited.smg"
    path.write_bytes(saved)
    rewritten(path, lambda meta: meta.pop(key))
    with pytest.raises(ArtifactError, match=f"lacks or garbles '{key}'"):
        synthmed.load(path)


def test_garbled_descriptions_inside_model_json_are_artifact_errors(saved: bytes, tmp_path: Path) -> None:
    edits = {
        "unknown model": lambda meta: meta.update(model="gpt"),
        "bad hyperparameter": lambda meta: meta["hyperparameters"].update(epochs="many"),
        "column without kind": lambda meta: meta["transformer"]["columns"][0].pop("kind"),
        "data without fingerprint": lambda meta: meta["data"].pop("fingerprint"),
        "schema of the wrong shape": lambda meta: meta.update(schema={"columns": []}),
    }
    for name, edit in edits.items():
        path = tmp_path / f"{name}.smg"
        path.write_bytes(saved)
        rewritten(path, edit)
        with pytest.raises(ArtifactError, match="synthmed|damaged") as raised:
            synthmed.load(path)
        assert raised.value.remedy, name


def test_weights_that_do_not_fit_name_the_tensor_and_its_shapes(saved: bytes, tmp_path: Path) -> None:
    path = tmp_path / "reshaped.smg"
    path.write_bytes(saved)
    narrower = {"noise_dim": 64, "generator_dims": [64, 64], "embedding_dim": 64}
    rewritten(path, lambda meta: meta["hyperparameters"].update(narrower))
    with pytest.raises(ArtifactError, match=r"weights do not fit .*has shape \(\d+, \d+\) where") as raised:
        synthmed.load(path)
    assert len(str(raised.value)) < 400  # one sentence, not torch's state-dict dump


TABLE = pd.DataFrame({"ward": ["a", "b", "c", "a"] * 15, "age": np.arange(60.0) % 37, "flag": [0, 1, 1] * 20})
TRAINING_ONLY = {"medgan": ("discriminator.", "autoencoder.encoder."), "tabgan": ("critic.",), "vae": ("encoder.",)}


@pytest.mark.parametrize("name", sorted(TRAINING_ONLY))
def test_networks_that_only_train_stay_out_of_the_file(name: str, tmp_path: Path) -> None:
    """Critics, discriminators and encoders read real records: a saved generator ships only what generates."""
    model = MODELS[name](epochs=2, batch_size=20, seed=0).fit(TABLE, progress=False)
    path = model.save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        names = list(safetensors.torch.load(archive.read("weights.safetensors")))
    assert names and all(name.startswith(model.generation_weights) for name in names)
    assert not [name for name in names if name.startswith(TRAINING_ONLY[model.name])]
    pd.testing.assert_frame_equal(synthmed.load(path).sample(50, seed=3), model.sample(50, seed=3))


def test_a_file_that_still_holds_a_critic_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = MODELS["tabgan"](epochs=2, batch_size=20, seed=0).fit(TABLE, progress=False)
    monkeypatch.setattr(type(model), "generation_weights", ("",))  # as generators were saved before
    path = model.save(tmp_path / "old.smg")
    monkeypatch.undo()
    with zipfile.ZipFile(path) as archive:
        assert any(name.startswith("critic.") for name in safetensors.torch.load(archive.read("weights.safetensors")))
    pd.testing.assert_frame_equal(synthmed.load(path).sample(50, seed=3), model.sample(50, seed=3))


def test_saving_refuses_an_existing_file_only_when_asked(tmp_path: Path) -> None:
    model = fitted()
    path = model.save(tmp_path / "model.smg")
    with pytest.raises(OutputError, match="already exists"):
        model.save(path, overwrite=False)
    assert isinstance(Synthesizer.load(model.save(path)), MedGAN)  # the Python default replaces, as pandas does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.smg"]
