"""The registry: every model by its CLI name, what data it models, and its class, imported on first use."""

from __future__ import annotations

import inspect

import pytest

from synthmed.errors import ConfigError
from synthmed.models import MODELS, Synthesizer
from synthmed.models.registry import ENTRIES, get_model_class, model_entry


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
