"""The registry: every model by its CLI name, what data it models, and its class, imported on first use."""

from __future__ import annotations

import inspect

import pytest

from synthmed.errors import ConfigError
from synthmed.models import MODELS, Synthesizer
from synthmed.models.registry import ENTRIES, configure, get_model_class, model_entry


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_entry_names_a_model_class_of_that_name(name: str) -> None:
    model_class = get_model_class(name)
    assert issubclass(model_class, Synthesizer) and model_class.name == name
    assert MODELS[name] is model_class and model_entry(name).summary
    takes_sequences = "window" in inspect.signature(model_class.fit).parameters
    assert takes_sequences == (model_entry(name).data == "sequences")  # sequence options only where declared


def test_an_unknown_model_is_a_config_error_that_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model.*'gpt'.*choose one of: medgan, vae, tsgan"):
        model_entry("gpt")
    assert list(MODELS) == list(ENTRIES) and len(MODELS) == len(ENTRIES)


def test_configure_types_text_settings_by_each_hyperparameter() -> None:
    model = configure("vae", {"hidden_dims": "64,32", "learning_rate": "1e-3", "epochs": 7, "binary_rounding": "none"})
    assert model.hidden_dims == [64, 32] and model.learning_rate == 1e-3 and model.epochs == 7
    assert model.binary_rounding is None  # typed as text says; the model's own checks judge it at fit
    with pytest.raises(ConfigError, match="unknown hyperparameter for vae.*'depth'"):
        configure("vae", {"depth": "3"})


def test_a_model_outside_the_registry_learns_tables() -> None:
    class Custom(get_model_class("vae")):
        name = "custom"

    assert Custom.data_kind() == "table" and get_model_class("tsgan").data_kind() == "sequences"
