"""synthmed: synthetic patient data from deep generative models, measured for fidelity, utility and privacy."""

from pathlib import Path

__version__ = "0.1.0"

from synthmed.data import Schema, TableTransformer, infer_schema
from synthmed.models import MODELS, WGANGP, CorGAN, MedGAN, Synthesizer, TabGAN


def load(path: str | Path) -> Synthesizer:
    """Load any saved synthmed generator (JSON + safetensors; never runs code from the file)."""
    return Synthesizer.load(path)


__all__ = [
    "MODELS",
    "WGANGP",
    "CorGAN",
    "MedGAN",
    "Schema",
    "Synthesizer",
    "TabGAN",
    "TableTransformer",
    "__version__",
    "infer_schema",
    "load",
]
