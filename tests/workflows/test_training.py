"""`synthmed.fit` and `fit_to_file`: auto by default, presets by name, the choice kept in model.json."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import synthmed
from synthmed.errors import ConfigError
from synthmed.models import VAE
from synthmed.workflows.training import describe_fit, fit_to_file, select_model
from tests.models.tables import mixed_patients

FAST_TABGAN = {"epochs": 2, "batch_size": 40, "generator_dims": [16], "critic_dims": [16], "max_modes": 2}


def test_fit_chooses_by_default_and_records_why(tmp_path: Path) -> None:
    table = mixed_patients()
    model = synthmed.fit(table, settings={**FAST_TABGAN, "seed": 0}, progress=False)
    assert model.name == "tabgan" and model.selection_["requested"] == "auto"
    fitted = fit_to_file(table, tmp_path / "m.smg", settings={**FAST_TABGAN, "seed": 0}, progress=False)
    with zipfile.ZipFile(fitted.path) as archive:
        selection = json.loads(archive.read("model.json"))["selection"]
    assert selection == model.selection_ and synthmed.load(fitted.path).selection_ == selection
    assert describe_fit(fitted)[0].startswith("model tabgan, auto: a mixed table")


def test_a_preset_sets_the_model_and_the_user_overrides_it() -> None:
    codes = (mixed_patients()[["age"]].to_numpy() % 2).repeat(3, axis=1)
    selection = select_model("auto", codes, preset="medgan-extended", settings={"epochs": 3})
    assert selection.model.name == "medgan" and selection.model.epochs == 3
    assert selection.model.cooccurrence_weight == 300.0 and selection.record["preset"] == "medgan-extended"
    with pytest.raises(ConfigError, match="preset 'tsgan-adam' is for tsgan, not vae"):
        select_model("vae", codes, preset="tsgan-adam")
    with pytest.raises(ConfigError, match="apply to a model name"):
        select_model(VAE(), codes, preset="medgan-extended")
