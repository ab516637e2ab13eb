"""Generative models behind one API: fit, sample, save, load, parameter_counts."""

from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.corgan import CorGAN
from synthmed.models.medgan import MedGAN
from synthmed.models.tabgan import TabGAN
from synthmed.models.tsgan import TimeSeriesGAN
from synthmed.models.vae import VAE
from synthmed.models.wgangp import WGANGP

MODELS: dict[str, type[Synthesizer]] = {
    model.name: model for model in (MedGAN, VAE, TimeSeriesGAN, CorGAN, WGANGP, TabGAN)
}


def get_model_class(name: str) -> type[Synthesizer]:
    """The model class for a CLI name such as "medgan"."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError("unknown model", values=[name], remedy=f"choose one of: {', '.join(MODELS)}") from None


__all__ = ["MODELS", "VAE", "WGANGP", "CorGAN", "MedGAN", "Synthesizer", "TabGAN", "TimeSeriesGAN", "get_model_class"]
