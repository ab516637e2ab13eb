"""Every model synthmed knows, by its CLI name: what data it models, what it is, and where its class lives.

This is the one place a model is registered and declares whether it models tables or sequences. Reading it
imports no model (nor torch), so `synthmed models` and the CLI's option checks answer at once; a model's module
is imported when its class is first asked for.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from synthmed.errors import ConfigError

DataKind = Literal["table", "sequences", "histories"]


@dataclass(frozen=True)
class ModelEntry:
    """One registered model. `data` is "table" (one row per record), "sequences" (n x steps x channels) or
    "histories" (patients with ordered visits, each with attributes and codes)."""

    name: str
    data: DataKind
    summary: str
    module: str
    class_name: str

    def load(self) -> Any:
        """The model's class (a `Synthesizer` subclass), importing its module on first use."""
        return getattr(importlib.import_module(self.module), self.class_name)


ENTRIES: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "medgan",
            "table",
            "medGAN (Choi et al. 2017): autoencoder + GAN for binary/count code matrices and mixed tables",
            "synthmed.models.medgan",
            "MedGAN",
        ),
        ModelEntry(
            "vae",
            "table",
            "Variational autoencoder (Kingma & Welling 2014): the medGAN/corGAN baseline, any table",
            "synthmed.models.vae",
            "VAE",
        ),
        ModelEntry(
            "tsgan",
            "sequences",
            "1-D convolutional DCGAN for multivariate time series (white paper's haul-truck sensor GAN)",
            "synthmed.models.tsgan",
            "TimeSeriesGAN",
        ),
        ModelEntry(
            "corgan",
            "table",
            "corGAN (Torfi & Fox 2020): convolutional autoencoder + Wasserstein GAN, code matrices and any table",
            "synthmed.models.corgan",
            "CorGAN",
        ),
        ModelEntry(
            "wgangp",
            "table",
            "WGAN-GP (Gulrajani et al. 2017): Wasserstein GAN with gradient penalty, MLPs, any table",
            "synthmed.models.wgangp",
            "WGANGP",
        ),
        ModelEntry(
            "tabgan",
            "table",
            "Conditional WGAN-GP for mixed tables: mode-specific normalisation, missing values, conditions",
            "synthmed.models.tabgan",
            "TabGAN",
        ),
        ModelEntry(
            "visitgpt",
            "histories",
            "Causal transformer over whole patient histories: static attributes, then visits with attributes and codes",
            "synthmed.models.visitgpt",
            "VisitGPT",
        ),
    )
}


def model_entry(name: str) -> ModelEntry:
    """The registered model called `name` (a CLI name such as "medgan")."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise ConfigError("unknown model", values=[name], remedy=f"choose one of: {', '.join(ENTRIES)}") from None


class _Models(Mapping[str, Any]):
    """CLI name -> model class, each class imported when first looked up."""

    def __getitem__(self, name: str) -> Any:
        return ENTRIES[name].load()

    def __iter__(self) -> Iterator[str]:
        return iter(ENTRIES)

    def __len__(self) -> int:
        return len(ENTRIES)


MODELS: Mapping[str, Any] = _Models()


def get_model_class(name: str) -> Any:
    """The model class for a CLI name such as "medgan"."""
    return model_entry(name).load()


def configure(name: str, settings: Mapping[str, Any]) -> Any:
    """The model called `name` with these hyperparameters; the others keep their defaults.

    A value given as text (from a command line or a configuration file) becomes the hyperparameter's type:
    "1e-3" a float, "true" a bool, "none" None, and "256,128" a tuple where the hyperparameter is one.
    """
    model_class = get_model_class(name)
    hints = typing.get_type_hints(model_class.__init__)
    params = {
        key: _from_text(value, typing.get_origin(hints.get(key)) is tuple) if isinstance(value, str) else value
        for key, value in settings.items()
    }
    return model_class.from_params(params)


def _from_text(text: str, sequence: bool) -> Any:
    if sequence:
        return [_scalar(item) for item in text.split(",")]
    return _scalar(text)


def _scalar(raw: str) -> Any:
    """Text -> int, float, bool, None or str (1e-3 is a float, unlike in YAML 1.1)."""
    text = raw.strip()
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None, "null": None}.get(text.lower(), text)
