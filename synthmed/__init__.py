"""synthmed: synthetic patient data from deep generative models, measured for fidelity, utility and privacy.

The names below are imported on first use, so that `import synthmed` (and the command line's help) does not
load torch and scikit-learn.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmed.version import __version__

if TYPE_CHECKING:
    from synthmed.data import DatabaseTable, Schema, TableTransformer, infer_schema, read_table
    from synthmed.models import MODELS, WGANGP, CorGAN, MedGAN, Synthesizer, TabGAN
    from synthmed.workflows.training import fit

_LAZY = {
    "DatabaseTable": "synthmed.data",
    "read_table": "synthmed.data",
    "Schema": "synthmed.data",
    "TableTransformer": "synthmed.data",
    "infer_schema": "synthmed.data",
    "MODELS": "synthmed.models",
    "WGANGP": "synthmed.models",
    "CorGAN": "synthmed.models",
    "MedGAN": "synthmed.models",
    "Synthesizer": "synthmed.models",
    "TabGAN": "synthmed.models",
    "fit": "synthmed.workflows.training",
}


_SUBPACKAGES = frozenset({"cli", "data", "errors", "evaluate", "models", "report", "workflows"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:  # `synthmed.data.read_table` after a plain `import synthmed`
        return importlib.import_module(f"synthmed.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(path: str | Path) -> Synthesizer:
    """Load any saved synthmed generator (JSON + safetensors; never runs code from the file)."""
    from synthmed.models.base import Synthesizer

    return Synthesizer.load(path)


__all__ = [
    "MODELS",
    "WGANGP",
    "CorGAN",
    "DatabaseTable",
    "MedGAN",
    "Schema",
    "Synthesizer",
    "TabGAN",
    "TableTransformer",
    "__version__",
    "fit",
    "infer_schema",
    "load",
    "read_table",
]
