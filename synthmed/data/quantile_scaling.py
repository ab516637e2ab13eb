"""Quantile scaling: a numeric column seen by the model through its own distribution function (its ranks).

Min-max scaling maps a column's range onto [0, 1]. A heavy-tailed column then has its usual values squeezed into
a band narrower than a GAN's output noise: on the epileptic-seizure EEG chunks everything but the seizures lies
close to the middle of the scale (measured: benchmarks/studies/README.md, study 2b).
Quantile scaling writes each value as its level in the column's distribution instead, so every 1% of the rows
gets 1% of the scale, and maps generated levels back through the same quantiles. Unlike mode-specific
normalisation (data/modes.py) it keeps one [0, 1] value per column, so models whose networks see the record as
one signal (corGAN's convolutions) can use it unchanged.

A value tied with many rows (a count of 0 in most records) is a point mass: it encodes to the middle of its
levels, and every level within them decodes back to it.

What this encoder keeps from the data, and therefore ships inside a saved generator: the column's min/max (as
min-max scaling does) and its quantiles at SCALE_KNOTS evenly spaced levels (every 1%). They summarise the
column's distribution; they are no rows. They are read from the data, so differential privacy refuses this
scaling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthmed.data.calibration import quantile_levels
from synthmed.data.encoders import NumericEncoder

# Quantiles kept per column: every 1% of the rows.
SCALE_KNOTS = 101


class QuantileEncoder(NumericEncoder):
    """Numeric column -> its level in the data's distribution, in [0, 1] (sigmoid, MSE as min-max scaling)."""

    encoding = "quantiles"

    def __init__(self, column: Any, quantile_knots: int = 0) -> None:
        super().__init__(column, quantile_knots)
        self.scale_quantiles_ = np.linspace(0.0, 1.0, SCALE_KNOTS)

    def _fit_scale(self, values: pd.Series) -> None:
        self.scale_quantiles_ = np.quantile(super()._scaled(values), np.linspace(0.0, 1.0, SCALE_KNOTS))

    def _scaled(self, series: pd.Series) -> np.ndarray:
        unit = super()._scaled(series)
        present = ~np.isnan(unit)
        levels = np.full(len(unit), np.nan)
        levels[present] = quantile_levels(unit[present], self.scale_quantiles_)
        return levels

    def _unscaled(self, scaled: np.ndarray) -> np.ndarray:
        knots = self.scale_quantiles_
        return super()._unscaled(np.interp(scaled, np.linspace(0.0, 1.0, len(knots)), knots))

    def _domain_dict(self) -> dict[str, Any]:
        return {**super()._domain_dict(), "encoding": self.encoding, "scale_quantiles": self.scale_quantiles_.tolist()}

    def _load_domain(self, state: dict[str, Any]) -> None:
        super()._load_domain(state)
        self.scale_quantiles_ = np.asarray(state["scale_quantiles"], dtype=float)
