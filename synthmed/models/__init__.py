"""Generative models behind one API: fit, sample, save, load, parameter_counts.

The registry (models/registry.py) names every model; its classes are imported when first used, so importing this
package does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthmed.models.registry import ENTRIES, MODELS, get_model_class, model_entry

if TYPE_CHECKING:
    from synthmed.models.base import Synthesizer
    from synthmed.models.corgan import CorGAN
    from synthmed.models.medgan import MedGAN
    from synthmed.models.tabgan import TabGAN
    from synthmed.models.tsgan import TimeSeriesGAN
    from synthmed.models.vae import VAE
    from synthmed.models.wgangp import WGANGP

_CLASSES = {entry.class_name: entry for entry in ENTRIES.values()}


def __getattr__(name: str) -> Any:
    if name == "Synthesizer":
        from synthmed.models.base import Synthesizer

        return Synthesizer
    if name in _CLASSES:
        return _CLASSES[name].load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODELS",
    "VAE",
    "WGANGP",
    "CorGAN",
    "MedGAN",
    "Synthesizer",
    "TabGAN",
    "TimeSeriesGAN",
    "get_model_class",
    "model_entry",
]
