"""Mode-specific normalisation (Xu et al. 2019): a numeric column as (mode, position within the mode).

Clinical measurements are often multi-modal (healthy vs sick, men vs women) or heavy-tailed; min-max scaling
squeezes them into a narrow band a generator struggles to place values in. Instead a variational Gaussian
mixture (at most `max_modes` components; components with little weight are pruned) is fitted per column.
Each value is written as a one-hot over the mixture components (the most likely one) plus a scalar in
[-1, 1]: its distance from that component's mean in units of 4 standard deviations. The mixture lives on
the min-max scaled values, so dates (nanosecond stamps) and lab values are fitted alike.

Marginal calibration (optional, `quantile_knots` > 0; see data/calibration.py): after training, decoded values go
through a monotone map from the generator's marginal to the data's quantiles.

What this encoder keeps from the data, and therefore ships inside a saved generator: the column's min/max
(values are clipped to them when decoding, or to the schema's declared range), its number of decimal places
(generated values are rounded to it), each kept component's mean, standard deviation and weight and, when
calibrating, the column's quantiles at `quantile_knots` evenly spaced levels (51: every 2%). Those summarise the
column's distribution; they are no rows. The generated quantiles it also keeps describe the generator alone.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from synthmed.data.encoders import NumericEncoder, category_codes
from synthmed.data.layout import Activation, Loss, Span

# Components keeping less than this share of the data are dropped (they describe a handful of rows).
MIN_MODE_WEIGHT = 0.005
# The mixture is fitted on at most this many values: enough to find modes, fast on 100,000-row tables.
MAX_FIT_VALUES = 10_000
# A scalar of +-1 is this many standard deviations from the mode's mean.
SPREAD = 4.0
# Decoded values are rounded to the data's decimal places when it has at most this many.
MAX_DECIMALS = 6


def decimal_places(numbers: np.ndarray) -> int | None:
    """The fewest decimals that write every value exactly (60.0 -> 0, 1.25 -> 2), or None beyond MAX_DECIMALS.

    Generated values are rounded to them: a blood pressure recorded in whole mmHg, or an ST depression of
    exactly 0.0 in a third of patients, is then reproduced as such rather than as 119.73 or 0.0004.
    """
    scale = max(1.0, float(np.abs(numbers).max())) if len(numbers) else 1.0
    for places in range(MAX_DECIMALS + 1):
        if np.allclose(numbers, np.round(numbers, places), rtol=0, atol=1e-9 * scale):
            return places
    return None


class ModeEncoder(NumericEncoder):
    """Numeric column -> [scalar (tanh), mode one-hot (softmax)], plus the missing indicator if needed."""

    encoding = "modes"

    def __init__(self, column: Any, max_modes: int = 10, seed: int = 0, quantile_knots: int = 0) -> None:
        super().__init__(column, quantile_knots)
        self.max_modes = max_modes
        self.seed = seed
        self.means_ = np.zeros(0)
        self.stds_ = np.zeros(0)
        self.weights_ = np.zeros(0)
        self.decimals_: int | None = None

    @property
    def value_width(self) -> int:
        return 1 + len(self.means_)

    def _activation_loss(self) -> tuple[Activation, Loss]:
        return "tanh", "mse"

    def spans(self, start: int) -> list[Span]:
        kind = self.column.kind
        spans = [
            Span(self.name, "value", kind, start, 1, "tanh", "mse"),
            Span(self.name, "mode", kind, start + 1, len(self.means_), "softmax", "cross_entropy"),
        ]
        if self.has_missing_:
            spans.append(Span(self.name, "missing", kind, start + self.value_width, 1, "sigmoid", "bce"))
        return spans

    def _fit_domain(self, values: pd.Series) -> None:
        super()._fit_domain(values)
        self.decimals_ = None if self._is_datetime else decimal_places(self._numbers(values))
        numbers = self._scaled(values)
        if len(numbers) > MAX_FIT_VALUES:
            numbers = np.random.default_rng(self.seed).choice(numbers, MAX_FIT_VALUES, replace=False)
        distinct = len(np.unique(numbers))
        if distinct < 2:
            self.means_, self.stds_, self.weights_ = np.array([numbers[0]]), np.array([0.25]), np.array([1.0])
            return
        mixture = BayesianGaussianMixture(
            n_components=min(self.max_modes, distinct),
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3,
            max_iter=100,
            random_state=self.seed,
            # one value per row: "diag" is the same mixture as "full" (to 1e-13 in a test of 151 to 20,000 values),
            # without a Cholesky factorisation per component and iteration (5x faster on 151 values)
            covariance_type="diag",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(numbers.reshape(-1, 1))
        keep = mixture.weights_ > MIN_MODE_WEIGHT
        self.means_ = mixture.means_[keep, 0]
        self.stds_ = np.sqrt(mixture.covariances_[keep, 0])
        self.weights_ = mixture.weights_[keep] / mixture.weights_[keep].sum()

    def _modes(self, numbers: np.ndarray) -> np.ndarray:
        """The most likely component of each value (vectorised Gaussian log-densities)."""
        z = (numbers[:, None] - self.means_[None, :]) / self.stds_[None, :]
        log_density = np.log(self.weights_) - np.log(self.stds_) - 0.5 * z**2
        return log_density.argmax(axis=1)

    def _encode_values(self, series: pd.Series, missing: np.ndarray, out: np.ndarray) -> None:
        # a missing value sits at the first mode's mean (scalar 0): the missing indicator says it is absent
        numbers = np.where(missing, self.means_[0], self._scaled(series))
        modes = self._modes(numbers)
        scalar = (numbers - self.means_[modes]) / (SPREAD * self.stds_[modes])
        out[:, 0] = np.clip(scalar, -0.99, 0.99)
        out[np.arange(len(numbers)), 1 + modes] = 1.0

    def _raw_scaled(self, block: np.ndarray, *, one_hot: bool = False) -> np.ndarray:
        """Generated (scalar, mode) -> value on the min-max scale, before clipping."""
        modes = category_codes(block[:, 1:], None, one_hot=one_hot)
        return np.clip(block[:, 0], -1.0, 1.0) * SPREAD * self.stds_[modes] + self.means_[modes]

    def _decode_values(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool) -> pd.Series:
        # the base class calibrates, then clips to [0, 1], i.e. to [min, max]
        values = super()._decode_values(self._raw_scaled(block, one_hot=one_hot)[:, None], rng, one_hot=one_hot)
        return values.round(self.decimals_) if self.decimals_ is not None else values

    def _domain_dict(self) -> dict[str, Any]:
        mixture = {"means": self.means_.tolist(), "stds": self.stds_.tolist(), "weights": self.weights_.tolist()}
        return {
            **super()._domain_dict(),
            "encoding": self.encoding,
            "modes": mixture,
            "decimals": self.decimals_,
            "calibration": self._calibration_dict(),
        }

    def _load_domain(self, state: dict[str, Any]) -> None:
        super()._load_domain(state)
        self.decimals_ = state.get("decimals")
        modes = state["modes"]
        self.means_, self.stds_ = np.asarray(modes["means"]), np.asarray(modes["stds"])
        self.weights_ = np.asarray(modes["weights"])
