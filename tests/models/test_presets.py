"""Presets: synthmed's measured settings by name, each valid for its model, with budgets turned into epochs."""

from __future__ import annotations

import math

import pytest

from synthmed.errors import ConfigError
from synthmed.models.presets import PRESETS, get_preset
from synthmed.models.registry import configure


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_configures_its_model(name: str) -> None:
    preset = PRESETS[name]
    model = configure(preset.model, preset.hyperparameters(1_000))
    assert model.name == preset.model and preset.description
    for key, value in preset.settings.items():
        assert getattr(model, key) == value
    model._check_params()  # the settings are valid values, not only valid names


def test_a_budget_is_updates_turned_into_epochs_never_more_than_the_papers() -> None:
    preset = get_preset("medgan-extended")
    # medGAN's paper batches: 1,000 GAN rows and 100 autoencoder rows a step; 7,500 updates of each, which on
    # study 1's 75,775 records are the 100 and 10 epochs it ran
    assert preset.hyperparameters(75_775)["epochs"] == math.ceil(7_500 / 75) == 100
    assert preset.hyperparameters(75_775)["pretrain_epochs"] == math.ceil(7_500 / 757) == 10
    assert preset.hyperparameters(50)["epochs"] == 1_000 and preset.hyperparameters(50)["pretrain_epochs"] == 100
    assert "epochs" not in get_preset("corgan-extended").hyperparameters(50)  # no budget: the model's epochs


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown preset.*'fast'.*medgan-extended"):
        get_preset("fast")
