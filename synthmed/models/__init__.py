"""Generative models behind one API: fit, sample, save, load, parameter_counts."""

from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.medgan import MedGAN
from synthmed.models.tsgan import TimeSeriesGAN
from synthmed.models.vae import VAE

MODELS: dict[str, type[Synthesizer]] = {model.name: model for model in (MedGAN, VAE, TimeSeriesGAN)}


def get_model_class(name: str) -> type[Synthesizer]:
    """The model class for a CLI name such as "medgan"."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError("unknown model", values=[name], remedy=f"choose one of: {', '.join(MODELS)}") from None


__all__ = ["MODELS", "VAE", "MedGAN", "Synthesizer", "TimeSeriesGAN", "get_model_class"]
