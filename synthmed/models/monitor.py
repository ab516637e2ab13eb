"""Training monitor: how faithful generated rows are, every K epochs of a model's generating phase.

GAN losses do not say when a generator is good (the NHDS study of medGAN-style models checks marginals and
pairwise correlations of generated samples during training instead). Every K epochs the monitor draws a few
thousand rows and scores them against statistics of the training matrix computed once before training:

- column fidelity, 1 - the mean per-column distance (0 = every column off completely, 1 = identical): total
  variation for binary and categorical columns and for the missing-value rate of columns that have one,
  Kolmogorov-Smirnov for numeric values;
- correlation difference, the mean absolute difference of the Pearson correlation matrices over the value
  dimensions (binary values, category one-hots, numbers), 0 = identical; a constant column correlates 0;
- score = column fidelity - correlation difference (higher is better); `keep_best` keeps the weights of the
  best-scoring monitored epoch.

Sequence models (tsgan) are scored on their windows the same way: column fidelity over each channel's values at
all steps (KS), and a correlation difference over the correlations between channels and each channel's
autocorrelation at the first lags, the dynamics a window must get right.

Generated rows are decoded as `sample` decodes them (rounded or drawn), with random streams of their own
derived from the run's seed and the epoch, so a monitored run trains exactly like an unmonitored one and
a resumed run measures the same figures.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthmed.data.dynamics import autocorrelation, default_lags
from synthmed.data.encoders import ColumnEncoder, NumericEncoder, category_codes
from synthmed.data.schema import ColumnKind
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError, SynthmedWarning

# Rows generated per check: enough for marginals and correlations to within about 0.02, cheap to draw.
MONITOR_ROWS = 2_000
# Generated steps per check of a sequence model: windows of T steps, as many as hold about this many steps.
MONITOR_STEPS = 20_000
# The reference statistics use at most this many training rows (a fixed random subset of larger tables),
# or windows holding this many steps.
REFERENCE_ROWS = 10_000
REFERENCE_STEPS = 100_000
# Keeps the monitor's streams apart from those `sample` derives from the same seed.
MONITOR_STREAM = 0x6D6F6E
CURVE_KEY = "monitor"

SampleMatrix = Callable[[int, int], torch.Tensor]  # (rows, seed) -> generated rows in matrix space


def check_monitor_options(monitor_every: int | None, keep_best: bool) -> None:
    """Refuse bad `fit` monitor options before any data is read."""
    if monitor_every is not None and (
        isinstance(monitor_every, bool) or not isinstance(monitor_every, int | np.integer) or monitor_every < 1
    ):
        raise ConfigError("monitor_every must be a positive number of epochs", values=[monitor_every], remedy="e.g. 10")
    if keep_best and monitor_every is None:
        raise ConfigError(
            "keep_best needs the training monitor", remedy="also give monitor_every (CLI: --monitor-every K)"
        )


def _rounds(encoder: NumericEncoder) -> bool:
    """Whether decoding rounds this column's numbers (counts, integer columns, timestamps)."""
    if encoder.column.kind in (ColumnKind.COUNT, ColumnKind.DATETIME):
        return True
    return encoder.dtype_ != "category" and pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(encoder.dtype_))


@dataclass(frozen=True)
class _Columns:
    """Where each column lives in the matrix, grouped by how it is decoded and scored."""

    binary: np.ndarray  # value dimension of each binary column
    binary_missing: np.ndarray  # its missing indicator (-1: none)
    categorical: list[tuple[int, int]]  # one-hot spans, missing slot included
    scaled: np.ndarray  # value dimension of each min-max scaled number (decoded here, all at once)
    scaled_missing: np.ndarray  # its missing indicator (-1: none)
    minimum: np.ndarray
    extent: np.ndarray  # max - min
    rounded: np.ndarray
    other: list[tuple[ColumnEncoder, int, int]]  # numbers encoded otherwise (modes): decoded by their encoder

    @classmethod
    def of(cls, transformer: TableTransformer) -> _Columns:
        found: dict[str, list[Any]] = {name: [] for name in ("binary", "binary_missing", "categorical", "other")}
        scaled: list[tuple[int, int, float, float, bool]] = []
        start = 0
        for encoder in transformer.encoders_:
            missing = start + encoder.width - 1 if encoder.has_missing_ else -1
            if encoder.column.kind is ColumnKind.BINARY:
                found["binary"].append(start)
                found["binary_missing"].append(missing)
            elif encoder.column.kind is ColumnKind.CATEGORICAL:
                found["categorical"].append((start, start + encoder.width))
            elif type(encoder) is NumericEncoder:
                extent = encoder.maximum_ - encoder.minimum_
                scaled.append((start, missing, encoder.minimum_, extent, _rounds(encoder)))
            else:
                found["other"].append((encoder, start, start + encoder.width))
            start += encoder.width
        numbers = np.array(scaled, dtype=float).reshape(-1, 5)  # exact: dimensions are far below 2**53
        return cls(
            np.array(found["binary"], dtype=np.int64),
            np.array(found["binary_missing"], dtype=np.int64),
            found["categorical"],
            numbers[:, 0].astype(np.int64),
            numbers[:, 1].astype(np.int64),
            numbers[:, 2],
            numbers[:, 3],
            numbers[:, 4].astype(bool),
            found["other"],
        )

    @property
    def has_numbers(self) -> bool:
        return bool(len(self.scaled) or self.other)


@dataclass(frozen=True)
class _Decoded:
    """Generated or real rows as the monitor compares them."""

    discrete: np.ndarray  # rows x (binary values, then category one-hots), 0/1
    missing: np.ndarray  # rows x (columns that can be missing, except categoricals), 0/1
    numbers: np.ndarray  # rows x numeric columns, in their own units, NaN where missing


def _as_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return np.where(values.isna(), np.nan, values.array.asi8.astype(float))
    return values.to_numpy(dtype=float, na_value=np.nan)


def _decode(rows: np.ndarray, columns: _Columns, rng: np.random.Generator | None) -> _Decoded:
    """Decode like the encoders do (threshold / argmax, or draws with `rng`), vectorised over columns."""

    def bernoulli(probabilities: np.ndarray) -> np.ndarray:
        if rng is None:
            return (probabilities > 0.5).astype(float)
        return (rng.random(probabilities.shape) < probabilities).astype(float)

    binary = bernoulli(rows[:, columns.binary])
    has_missing = columns.binary_missing >= 0
    binary_missing = bernoulli(rows[:, columns.binary_missing[has_missing]])
    binary[:, has_missing] *= 1.0 - binary_missing  # a missing value is encoded as 0, as in the training matrix
    one_hots = []
    for start, stop in columns.categorical:
        one_hots.append(np.eye(stop - start)[category_codes(rows[:, start:stop], rng)])
    scaled = np.clip(rows[:, columns.scaled], 0.0, 1.0) * columns.extent + columns.minimum
    scaled = np.where(columns.rounded, np.round(scaled), scaled)
    has_missing = columns.scaled_missing >= 0
    scaled_missing = bernoulli(rows[:, columns.scaled_missing[has_missing]])
    scaled[:, has_missing] = np.where(scaled_missing == 1, np.nan, scaled[:, has_missing])
    other = [_as_float(encoder.decode(rows[:, start:stop], rng)) for encoder, start, stop in columns.other]
    other_numbers = np.column_stack(other) if other else np.zeros((len(rows), 0))
    other_missing = np.isnan(other_numbers[:, np.array([e.has_missing_ for e, _, _ in columns.other], dtype=bool)])
    return _Decoded(
        np.hstack([binary, *one_hots]),
        np.hstack([binary_missing, scaled_missing, other_missing.astype(float)]),
        np.hstack([scaled, other_numbers]),
    )


def _sorted_numbers(numbers: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Each numeric column's values sorted (missing ones last, as +inf) and how many are present."""
    values = torch.from_numpy(np.where(np.isnan(numbers), np.inf, numbers).T.copy())
    return values.sort(dim=1).values, torch.from_numpy((~np.isnan(numbers)).sum(axis=0))


@dataclass(frozen=True)
class _RealNumbers:
    """The training data's numeric columns, sorted (missing values last, as +inf), and how many are present."""

    sorted_values: torch.Tensor
    present: torch.Tensor

    @classmethod
    def of(cls, numbers: np.ndarray) -> _RealNumbers:
        return cls(*_sorted_numbers(numbers))

    def _share(self, points: torch.Tensor, right: bool) -> torch.Tensor:
        counts = torch.searchsorted(self.sorted_values, points, right=right)
        return torch.minimum(counts, self.present[:, None]) / self.present.clamp(min=1)[:, None]

    def kolmogorov_smirnov(self, synthetic: np.ndarray) -> np.ndarray:
        """Two-sample KS statistic per column, all columns at once; 1 where no synthetic value is present.

        Only the synthetic values are looked up in the real ones: between consecutive synthetic values the
        synthetic CDF is flat, so real - synthetic peaks just below a synthetic value and synthetic - real
        at one. That is 2 x 2,000 binary searches per column instead of 2 x 12,000 over the pooled sample.
        """
        fake, fake_present = _sorted_numbers(synthetic)
        rank = torch.arange(1, fake.shape[1] + 1, dtype=torch.float64)[None, :]
        count = fake_present.clamp(min=1)[:, None]
        real_above = (self._share(fake, right=False) - (rank - 1) / count).amax(dim=1)
        fake_above = (torch.minimum(rank, count) / count - self._share(fake, right=True)).amax(dim=1)
        statistic = torch.maximum(real_above, fake_above).clamp(min=0)
        return torch.where(fake_present > 0, statistic, 1.0).numpy()


def _correlations(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=0)
    scale = np.sqrt((centred**2).mean(axis=0))
    constant = scale < 1e-12
    standardised = np.where(constant, 0.0, centred / np.where(constant, 1.0, scale))
    return standardised.T @ standardised / len(values)


class FidelityReference:
    """Statistics of the training matrix, computed once, and the two figures of generated rows against them."""

    def __init__(self, matrix: np.ndarray, transformer: TableTransformer, seed: int) -> None:
        self.columns = _Columns.of(transformer)
        if len(matrix) > REFERENCE_ROWS:
            subset = np.random.default_rng([seed, MONITOR_STREAM]).choice(len(matrix), REFERENCE_ROWS, replace=False)
            matrix = matrix[np.sort(subset)]
        real = _decode(np.asarray(matrix, dtype=np.float64), self.columns, None)
        self.discrete_means = real.discrete.mean(axis=0)
        self.missing_means = real.missing.mean(axis=0)
        self.numbers = _RealNumbers.of(real.numbers)
        # a missing number counts as the column's minimum, as min-max encoding writes it (the same in both)
        self.fill = np.nan_to_num(np.nanmin(real.numbers, axis=0, initial=np.inf), posinf=0.0)
        self.correlations = _correlations(self._values(real))
        self.category_ends = np.cumsum([stop - start for start, stop in self.columns.categorical], dtype=np.int64)

    def _values(self, decoded: _Decoded) -> np.ndarray:
        return np.hstack([decoded.discrete, np.where(np.isnan(decoded.numbers), self.fill, decoded.numbers)])

    def column_fidelity(self, decoded: _Decoded) -> float:
        """1 - mean per-column distance: TV for discrete values and missing rates, KS for numbers."""
        gaps = np.abs(decoded.discrete.mean(axis=0) - self.discrete_means)
        n_binary = len(self.columns.binary)
        category_gaps = np.split(gaps[n_binary:], self.category_ends[:-1]) if len(self.category_ends) else []
        distances = [
            gaps[:n_binary],
            np.array([0.5 * g.sum() for g in category_gaps]),
            np.abs(decoded.missing.mean(axis=0) - self.missing_means),
            self.numbers.kolmogorov_smirnov(decoded.numbers) if self.columns.has_numbers else np.zeros(0),
        ]
        return float(1.0 - np.concatenate(distances).mean())

    def correlation_difference(self, decoded: _Decoded) -> float:
        """Mean |real - synthetic| Pearson correlation over pairs of value dimensions (0 with one dimension)."""
        upper = np.triu_indices(len(self.correlations), k=1)
        if not len(upper[0]):
            return 0.0
        return float(np.abs(_correlations(self._values(decoded)) - self.correlations)[upper].mean())

    def score(self, rows: np.ndarray, rng: np.random.Generator | None) -> dict[str, float]:
        decoded = _decode(rows, self.columns, rng)
        fidelity, difference = self.column_fidelity(decoded), self.correlation_difference(decoded)
        return {"column_fidelity": fidelity, "correlation_difference": difference, "score": fidelity - difference}


class SequenceReference:
    """Statistics of training windows (sequences x steps x channels), and the same two figures for generated ones.

    Column fidelity is 1 - the mean KS statistic of each channel's values over all steps; the correlation
    difference is the mean |real - synthetic| over the correlations of channel pairs and each channel's
    autocorrelation at lags 1..L (L as `synthmed evaluate` takes it). Windows are compared in the scaled space
    they are trained in: min-max scaling changes neither figure.
    """

    def __init__(self, windows: np.ndarray, seed: int) -> None:
        keep = max(1, REFERENCE_STEPS // windows.shape[1])
        if len(windows) > keep:
            windows = windows[np.sort(np.random.default_rng([seed, MONITOR_STREAM]).choice(len(windows), keep, False))]
        self.lags = default_lags(windows.shape[1])
        self.values = _RealNumbers.of(self._steps(windows))
        self.dependence = self._dependence(windows)

    @staticmethod
    def _steps(windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, dtype=np.float64).reshape(-1, windows.shape[2])

    def _dependence(self, windows: np.ndarray) -> np.ndarray:
        channels = windows.shape[2]
        cross = _correlations(self._steps(windows))[np.triu_indices(channels, k=1)]
        dynamics = np.nan_to_num(autocorrelation(np.asarray(windows, dtype=np.float64), self.lags)).ravel()
        return np.concatenate([cross, dynamics])

    def score(self, windows: np.ndarray, rng: np.random.Generator | None) -> dict[str, float]:
        fidelity = float(1.0 - self.values.kolmogorov_smirnov(self._steps(windows)).mean())
        gaps = np.abs(self._dependence(windows) - self.dependence)
        difference = float(gaps.mean()) if len(gaps) else 0.0
        return {"column_fidelity": fidelity, "correlation_difference": difference, "score": fidelity - difference}


class Reference(Protocol):
    """What the monitor scores generated rows (or windows) against."""

    def score(self, rows: np.ndarray, rng: np.random.Generator | None) -> dict[str, float]: ...


def monitor_rows(matrix: np.ndarray) -> int:
    """Rows (or windows) generated per check: a table's 2,000 rows at most, about 20,000 steps of windows."""
    if matrix.ndim == 3:
        return max(1, MONITOR_STEPS // matrix.shape[1])
    return min(MONITOR_ROWS, len(matrix))


class BestWeights:
    """A copy of every network's weights at the best-scoring monitored epoch; part of each checkpoint."""

    def __init__(self, networks: Mapping[str, nn.Module]) -> None:
        self.networks = networks
        self.tensors: dict[str, torch.Tensor] = {}

    def keep(self) -> None:
        self.tensors = {
            f"{name}.{key}": value.detach().clone()
            for name, network in self.networks.items()
            for key, value in network.state_dict().items()
        }

    def restore(self) -> None:
        for name, network in self.networks.items():
            prefix = name + "."
            network.load_state_dict({k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)})

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.tensors

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = dict(tensors)


class TrainingMonitor:
    """Scores generated rows every `every` epochs (and at the phase's last) of the phase a model marks.

    A model marks its generating phase with `run.epochs(..., monitor=True)`; the run does the rest.
    """

    def __init__(
        self,
        reference: Reference,
        rows: int,
        *,
        every: int,
        keep_best: bool,
        seed: int,
        stochastic: bool,
        sample: SampleMatrix,
    ) -> None:
        self.every = every
        self.keep_best = keep_best
        self.seed = seed
        self.stochastic = stochastic
        self.sample = sample
        self.rows = rows
        self.reference = reference

    def due(self, epoch: int, count: int) -> bool:
        return epoch % self.every == 0 or epoch == count

    def measure(self, epoch: int) -> dict[str, float]:
        """The curve's record for `epoch`: both figures, the score, and the seconds the check took."""
        started = time.perf_counter()
        generation_seed, decoding_seed = np.random.SeedSequence([self.seed, MONITOR_STREAM, epoch]).generate_state(2)
        rows = self.sample(self.rows, int(generation_seed)).cpu().numpy().astype(np.float64)
        rng = np.random.default_rng(decoding_seed) if self.stochastic else None
        figures = self.reference.score(rows, rng)
        return {"epoch": epoch, **figures, "seconds": time.perf_counter() - started}

    @staticmethod
    def best(curve: list[dict[str, float]]) -> dict[str, float] | None:
        """The best-scoring record (the earliest among equals), None before the first check."""
        return max(curve, key=lambda record: record["score"]) if curve else None

    def summary(self, history: Mapping[str, list[dict[str, float]]]) -> dict[str, Any]:
        """What `model.json` records under "monitor" (the curve itself is `history["monitor"]`)."""
        best = self.best(history.get(CURVE_KEY, []))
        if best is None:
            warnings.warn(
                "the training monitor measured nothing: the model trained no generating epochs, or it does not "
                "mark its generating phase (run.epochs(..., monitor=True))",
                SynthmedWarning,
                stacklevel=3,
            )
        kept = int(best["epoch"]) if self.keep_best and best is not None else None
        return {"every": self.every, "rows": self.rows, "keep_best": self.keep_best, "kept_epoch": kept}
