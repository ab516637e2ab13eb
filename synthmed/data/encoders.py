"""One encoder per column kind: a column to its spans of the training matrix and back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synthmed.data.calibration import GENERATED_KNOTS, quantile_levels, share_threshold, values_at_levels
from synthmed.data.layout import Activation, Loss, Span
from synthmed.data.schema import ColumnKind, ColumnSchema, json_scalar
from synthmed.errors import DataError, SchemaError, UnseenCategoryError


def _sorted_values(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _restore_dtype(values: pd.Series, dtype: str, categories: list[Any] | None = None) -> pd.Series:
    """Cast decoded values back to the column's original pandas dtype, so dtypes round-trip."""
    if dtype == "category":
        return values.astype(pd.CategoricalDtype(categories))
    target = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_integer_dtype(target) and values.isna().any():
        # int64 cannot hold a missing value: use pandas' nullable twin (Int64, UInt8...)
        target = pd.api.types.pandas_dtype(str(target).replace("int", "Int").replace("uInt", "UInt"))
    return values.astype(target)


def _datetime_unit(dtype: str) -> str:
    parsed = pd.api.types.pandas_dtype(dtype)
    return parsed.unit if isinstance(parsed, pd.DatetimeTZDtype) else np.datetime_data(parsed)[0]


# A datetime column's resolution: the coarsest of these that divides every training value (days stay days).
_SECONDS = {"day": 86_400, "hour": 3_600, "minute": 60, "second": 1}
_TICKS_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def datetime_resolution(ticks: np.ndarray, unit: str) -> int:
    """The coarsest step (in `unit` ticks) among a day, an hour, a minute, a second or one tick that divides
    every value of `ticks` (integer timestamps)."""
    per_second = _TICKS_PER_SECOND.get(unit, 1)
    for seconds in _SECONDS.values():
        step = seconds * per_second
        if not np.any(ticks % step):
            return step
    return 1


class ColumnEncoder(ABC):
    """Encodes one column into its spans and decodes it back."""

    kinds: ClassVar[tuple[ColumnKind, ...]]
    # whether decoding without a random generator reads only each span's most likely dimension
    decided_by_argmax: ClassVar[bool] = False

    def __init__(self, column: ColumnSchema) -> None:
        self.column = column
        self.dtype_: str = ""
        self.has_missing_: bool = False

    @property
    def name(self) -> str:
        return self.column.name

    def fit(self, series: pd.Series, public_missingness: bool = False) -> ColumnEncoder:
        """Learn the column's domain. Whether it may be missing comes from the schema when declared (`missing`),
        and must with `public_missingness`, as differential privacy requires (it shapes the generator)."""
        self.dtype_ = str(series.dtype)
        self.has_missing_ = bool(series.isna().any())
        if public_missingness and not self.column.declared:  # its domain is refused too, by the caller
            self.has_missing_ = False
        elif self.column.missing is not None or public_missingness:
            if self.has_missing_ and not self.column.missing:
                said = "declares `missing: false`" if self.column.missing is False else "does not say it may be missing"
                why = (
                    "; with differential privacy that must be public, not read from the data"
                    if public_missingness
                    else ""
                )
                raise SchemaError(
                    f"has missing values, but the schema {said}{why}",
                    column=self.name,
                    values=[int(series.isna().sum())],
                    remedy=f"declare `missing: true` for {self.name!r} in the schema",
                )
            self.has_missing_ = bool(self.column.missing)
        self._fit_domain(series.dropna())
        return self

    @property
    def value_width(self) -> int:
        return 1

    def spans(self, start: int) -> list[Span]:
        value = Span(self.name, "value", self.column.kind, start, self.value_width, *self._activation_loss())
        if not self._flags_missing:
            return [value]
        return [value, Span(self.name, "missing", self.column.kind, value.stop, 1, "sigmoid", "bce")]

    @property
    def _flags_missing(self) -> bool:
        """Whether the column has a missing-value flag span (a categorical column keeps missing as a category)."""
        return self.has_missing_ and self.column.kind is not ColumnKind.CATEGORICAL

    @property
    def width(self) -> int:
        return sum(span.width for span in self.spans(0))

    def encode(self, series: pd.Series, out: np.ndarray) -> None:
        """Write the column's spans into `out`, a zeroed (rows x width) view of the matrix."""
        missing = series.isna().to_numpy()
        if missing.any() and not self.has_missing_:
            raise DataError(
                "has missing values, but the model was fitted on data where it had none",
                column=self.name,
                remedy="refit on data that includes missing values for this column",
            )
        self._encode_values(series, missing, out[:, : self.value_width])
        if self._flags_missing:
            out[:, -1] = missing

    def decode(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool = False) -> pd.Series:
        """The column's values from its spans of a generated matrix, in any float dtype: values are computed in
        float64 unless the most likely category alone decides them (the same in any precision). `one_hot`: every
        softmax span holds exactly one 1 per row (a model that chose its categories), read without a search."""
        if not (rng is None and self.decided_by_argmax):
            block = np.asarray(block, dtype=np.float64)
        values = self._decode_values(block[:, : self.value_width], rng, one_hot=one_hot)
        if self._flags_missing:
            missing = _bernoulli(block[:, -1], rng)
            values = values.mask(pd.Series(missing, index=values.index))
        return values

    @property
    def calibrating(self) -> bool:
        """Whether the column kept a target (quantiles, a share) that generated values are calibrated to."""
        return False

    def calibrate(self, block: np.ndarray) -> None:
        """Learn from a large generated sample of this column's spans how to meet its target."""
        raise NotImplementedError(f"a {self.column.kind} column keeps no calibration target")

    def _present(self, block: np.ndarray) -> np.ndarray:
        """Rows of a generated block that decoding without `rng` gives a value (their missing flag rounds to 0)."""
        if self._flags_missing:
            return ~_bernoulli(block[:, -1], None)
        return np.ones(len(block), dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.name,
            "kind": self.column.kind.value,
            "dtype": self.dtype_,
            "has_missing": self.has_missing_,
            **self._domain_dict(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ColumnEncoder:
        column = ColumnSchema(state["column"], ColumnKind(state["kind"]))
        encoder = (ENCODERS[column.kind] if cls is ColumnEncoder else cls)(column)
        encoder.dtype_ = state["dtype"]
        encoder.has_missing_ = state["has_missing"]
        encoder._load_domain(state)
        return encoder

    @abstractmethod
    def _activation_loss(self) -> tuple[Activation, Loss]: ...

    @abstractmethod
    def _fit_domain(self, values: pd.Series) -> None: ...

    @abstractmethod
    def _encode_values(self, series: pd.Series, missing: np.ndarray, out: np.ndarray) -> None: ...

    @abstractmethod
    def _decode_values(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool) -> pd.Series: ...

    @abstractmethod
    def _domain_dict(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load_domain(self, state: dict[str, Any]) -> None: ...


def _bernoulli(probabilities: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Round at 0.5 (deterministic) or draw (stochastic) 0/1 outcomes."""
    if rng is None:
        return probabilities > 0.5
    return rng.random(len(probabilities)) < probabilities


def category_codes(block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool = False) -> np.ndarray:
    """Each row's category from one-hot scores: the most likely one, or (with `rng`) one drawn by its weight.
    `one_hot` rows hold exactly one 1: its position is their product with 0, 1, 2, ... (exact in any float
    precision), one pass over the block in any memory order, where a search row by row is several times slower."""
    if one_hot:
        return (block @ np.arange(block.shape[1], dtype=block.dtype)).astype(np.int64)
    if rng is None:
        return block.argmax(axis=1)
    weights = np.clip(block, 0, None) + 1e-12
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return (cumulative < rng.random((len(block), 1))).sum(axis=1).clip(max=block.shape[1] - 1)


def categories_at(categories: list[Any], codes: np.ndarray) -> pd.Series:
    """`categories[code]` for each code, missing where the code is -1, taken from an index of the categories in the
    dtype pandas infers for them (one vectorised take, where a lookup of Python objects converts value by value);
    whole numbers and flags fill a missing slot as objects, which keep any integer exact."""
    index = pd.Index(categories)
    if index.dtype.kind in "iub" and (codes < 0).any():
        index = index.astype(object)
    return pd.Series(index.take(codes, allow_fill=True, fill_value=None))


def holding(values: pd.Series, category: Any) -> np.ndarray:
    """Which decoded values are this category (a missing value never is), compared as objects so that a
    category 1 matches the decoded 1 whatever the column's restored dtype."""
    return (values.notna() & (values.astype(object) == category)).to_numpy(dtype=bool)


class CategoricalEncoder(ColumnEncoder):
    """One-hot over the category list; a missing value is one more category."""

    kinds = (ColumnKind.CATEGORICAL,)
    decided_by_argmax = True

    def __init__(self, column: ColumnSchema) -> None:
        super().__init__(column)
        self.categories_: list[Any] = []

    @property
    def value_width(self) -> int:
        return len(self.categories_) + self.has_missing_

    def _activation_loss(self) -> tuple[Activation, Loss]:
        return "softmax", "cross_entropy"

    def _fit_domain(self, values: pd.Series) -> None:
        if self.column.categories is not None:
            self.categories_ = list(self.column.categories)
        else:
            self.categories_ = _sorted_values([json_scalar(v) for v in pd.unique(values.astype(object))])
        self._codes(values)  # declared categories must cover the data

    def _codes(self, series: pd.Series) -> np.ndarray:
        numeric = pd.api.types.is_numeric_dtype(series) and all(isinstance(c, int | float) for c in self.categories_)
        if numeric:  # float lookups are much faster than object ones: code matrices have thousands of columns
            codes = pd.Index(self.categories_, dtype=float).get_indexer(series.to_numpy(float, na_value=np.nan))
        else:
            codes = pd.Index(self.categories_, dtype=object).get_indexer(series.astype(object))
        unseen = (codes < 0) & series.notna().to_numpy()
        if unseen.any():
            raise UnseenCategoryError(
                f"{int(unseen.sum())} values are not among the {len(self.categories_)} known categories",
                column=self.name,
                values=series[unseen],
                remedy="add them to this column's categories in the schema, or fit on data that contains them",
            )
        return codes

    def _encode_values(self, series: pd.Series, missing: np.ndarray, out: np.ndarray) -> None:
        codes = self._codes(series)
        codes[missing] = len(self.categories_)
        out[np.arange(len(series)), codes] = 1.0

    def _decode_values(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool) -> pd.Series:
        codes = category_codes(block, rng, one_hot=one_hot)
        codes[codes >= len(self.categories_)] = -1  # the missing slot
        return _restore_dtype(categories_at(self.categories_, codes), self.dtype_, self.categories_)

    def _domain_dict(self) -> dict[str, Any]:
        source = "schema" if self.column.categories is not None else "data"
        return {"categories": [json_scalar(c) for c in self.categories_], "domain": source}

    def _load_domain(self, state: dict[str, Any]) -> None:
        self.categories_ = list(state["categories"])


class BinaryEncoder(CategoricalEncoder):
    """One dimension: the probability of the second category (a code present, sex = M...).

    With `keep_share`, the column's share of the second category among present values is kept (it ships in the
    artifact; a share declared in the schema replaces the data's) and `calibrate` sets the rounding threshold at
    which a generated sample gets that share (data/calibration.py: `share_threshold`); decoding without `rng`
    then rounds there instead of at 0.5.
    """

    kinds = (ColumnKind.BINARY,)
    decided_by_argmax = False  # a probability against a threshold

    def __init__(self, column: ColumnSchema, keep_share: bool = False) -> None:
        super().__init__(column)
        self.keep_share = keep_share
        self.share_: float | None = None
        self.share_source_ = "data"
        self.threshold_ = 0.5

    @property
    def value_width(self) -> int:
        return 1

    def _activation_loss(self) -> tuple[Activation, Loss]:
        return "sigmoid", "bce"

    def _fit_domain(self, values: pd.Series) -> None:
        if (
            self.column.categories is None
            and pd.api.types.is_numeric_dtype(values)
            and set(pd.unique(values).tolist()) <= {0, 1}
        ):
            # a 0/1 column seen with one value only is still 0/1 (a rare code absent from this sample)
            self.categories_ = [0, 1]
        else:
            super()._fit_domain(values)
            if len(self.categories_) > 2:
                raise SchemaError(
                    f"a binary column has {len(self.categories_)} distinct values",
                    column=self.name,
                    values=self.categories_,
                    remedy="declare it categorical in the schema",
                )
        if self.keep_share and self.column.share is not None:
            self.share_, self.share_source_ = self.column.share, "schema"
        elif self.keep_share:
            self.share_ = float(np.mean(self._codes(values) == 1)) if len(values) else 0.0

    def _encode_values(self, series: pd.Series, missing: np.ndarray, out: np.ndarray) -> None:
        out[:, 0] = self._codes(series) == 1

    @property
    def calibrating(self) -> bool:
        return self.share_ is not None

    def calibrate(self, block: np.ndarray) -> None:
        """Set the rounding threshold from a generated sample of this column's spans (missing rows ignored)."""
        if self.share_ is not None:
            self.threshold_ = share_threshold(block[self._present(block), 0], self.share_)

    def _decode_values(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool) -> pd.Series:
        probabilities = block[:, 0]
        calibrated = rng is None and self.share_ is not None
        positive = probabilities >= self.threshold_ if calibrated else _bernoulli(probabilities, rng)
        codes = positive.astype(np.int64) if len(self.categories_) > 1 else np.zeros(len(positive), np.int64)
        return _restore_dtype(categories_at(self.categories_, codes), self.dtype_, self.categories_)

    def _domain_dict(self) -> dict[str, Any]:
        state = super()._domain_dict()
        if self.share_ is not None:
            state["rounding"] = {"share": self.share_, "threshold": self.threshold_, "source": self.share_source_}
        return state

    def _load_domain(self, state: dict[str, Any]) -> None:
        super()._load_domain(state)
        rounding = state.get("rounding")
        if rounding is not None:
            self.share_, self.threshold_ = float(rounding["share"]), float(rounding["threshold"])
            self.share_source_ = rounding["source"]


class NumericEncoder(ColumnEncoder):
    """Min-max scaling to [0, 1]; counts are rounded back to integers, datetimes to their time unit."""

    kinds = (ColumnKind.COUNT, ColumnKind.CONTINUOUS, ColumnKind.DATETIME)

    def __init__(self, column: ColumnSchema, quantile_knots: int = 0) -> None:
        super().__init__(column)
        self.quantile_knots = quantile_knots  # > 1: keep the data's quantiles at this many levels to calibrate
        self.minimum_: float = 0.0
        self.maximum_: float = 0.0
        # marginal calibration (data/calibration.py), on the [0, 1] scale: the target's quantiles at evenly
        # spaced levels (from the data, or a DP histogram), and the generator's, set by `calibrate`
        self.quantiles_: np.ndarray | None = None
        self.generated_quantiles_: np.ndarray | None = None
        self.quantiles_source_ = "data"
        self.resolution_ = 1  # datetime: generated values are rounded to this many ticks (a day, an hour...)

    @property
    def _is_datetime(self) -> bool:
        return self.column.kind is ColumnKind.DATETIME

    def _activation_loss(self) -> tuple[Activation, Loss]:
        return ("relu" if self.column.kind is ColumnKind.COUNT else "sigmoid"), "mse"

    def _numbers(self, series: pd.Series) -> np.ndarray:
        if self._is_datetime:
            if not pd.api.types.is_datetime64_any_dtype(series):
                raise DataError(
                    "is declared datetime but does not hold dates",
                    column=self.name,
                    values=series.dropna(),
                    remedy="declare another kind or fix the values",
                )
            return np.where(series.isna(), np.nan, series.array.asi8.astype(float))
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise DataError(
                f"is declared {self.column.kind} but is not numeric",
                column=self.name,
                values=series.dropna(),
                remedy="declare it categorical in the schema",
            )
        return series.to_numpy(dtype=float, na_value=np.nan)

    def _declared_number(self, value: float | str) -> float:
        if self._is_datetime:
            return float(pd.Timestamp(value).as_unit(_datetime_unit(self.dtype_)).value)
        return float(value)

    def _fit_domain(self, values: pd.Series) -> None:
        numbers = self._numbers(values)
        low = self._declared_number(self.column.minimum) if self.column.minimum is not None else None
        high = self._declared_number(self.column.maximum) if self.column.maximum is not None else None
        self.minimum_ = low if low is not None else float(numbers.min())
        self.maximum_ = high if high is not None else float(numbers.max())
        outside = (numbers < self.minimum_) | (numbers > self.maximum_)
        if outside.any():
            raise DataError(
                f"values outside the declared range [{self.column.minimum}, {self.column.maximum}]",
                column=self.name,
                values=values[outside],
                remedy="widen the range in the schema",
            )
        if self._is_datetime:
            self.resolution_ = datetime_resolution(values.array.asi8, _datetime_unit(self.dtype_))
        self._fit_scale(values)
        if self.quantile_knots > 1:
            self.quantiles_ = np.quantile(self._scaled(values), np.linspace(0.0, 1.0, self.quantile_knots))

    def _fit_scale(self, values: pd.Series) -> None:
        """Learn what `_scaled` needs beyond the range (nothing for min-max scaling)."""

    def _scaled(self, series: pd.Series) -> np.ndarray:
        """Values -> the [0, 1] scale the model sees (missing values give NaN)."""
        span = self.maximum_ - self.minimum_
        return (self._numbers(series) - self.minimum_) / span if span > 0 else np.zeros(len(series))

    def _unscaled(self, scaled: np.ndarray) -> np.ndarray:
        """The inverse of `_scaled` on [0, 1]."""
        return scaled * (self.maximum_ - self.minimum_) + self.minimum_

    def calibrate_to(self, quantiles: np.ndarray, source: str) -> None:
        """Calibrate decoded values to the distribution with these quantiles (evenly spaced levels, [0, 1] scale)."""
        self.quantiles_, self.quantiles_source_, self.generated_quantiles_ = np.asarray(quantiles), source, None

    def _raw_scaled(self, block: np.ndarray) -> np.ndarray:
        """Generated value dimensions -> value on the [0, 1] scale, before calibration and clipping."""
        return block[:, 0]

    @property
    def calibrating(self) -> bool:
        return self.quantiles_ is not None

    def calibrate(self, block: np.ndarray) -> None:
        """Learn the generator's marginal from a generated sample of this column's spans (missing rows ignored)."""
        if self.quantiles_ is None:
            return
        generated = self._raw_scaled(block[self._present(block), : self.value_width])
        if len(generated):
            self.generated_quantiles_ = np.quantile(generated, np.linspace(0.0, 1.0, GENERATED_KNOTS))

    def _calibrated(self, scaled: np.ndarray) -> np.ndarray:
        if self.quantiles_ is None or self.generated_quantiles_ is None:
            return scaled
        levels = quantile_levels(scaled, self.generated_quantiles_)
        return values_at_levels(levels, self.quantiles_)

    def _calibration_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "quantiles": None if self.quantiles_ is None else self.quantiles_.tolist(),
            "generated_quantiles": None if self.generated_quantiles_ is None else self.generated_quantiles_.tolist(),
        }
        if self.quantiles_source_ != "data":
            state["source"] = self.quantiles_source_
        return state

    def _encode_values(self, series: pd.Series, missing: np.ndarray, out: np.ndarray) -> None:
        out[:, 0] = np.where(missing, 0.0, self._scaled(series))

    def _decode_values(self, block: np.ndarray, rng: np.random.Generator | None, *, one_hot: bool) -> pd.Series:
        numbers = self._unscaled(np.clip(self._calibrated(block[:, 0]), 0.0, 1.0))
        dtype = pd.api.types.pandas_dtype(self.dtype_) if self.dtype_ != "category" else None
        if self._is_datetime:
            unit = _datetime_unit(self.dtype_)
            ticks = np.round(numbers / self.resolution_).astype(np.int64) * np.int64(self.resolution_)
            stamps = pd.Series(ticks.view(f"datetime64[{unit}]"))
            tz = getattr(dtype, "tz", None)
            return stamps.dt.tz_localize("UTC").dt.tz_convert(tz) if tz is not None else stamps
        if self.column.kind is ColumnKind.COUNT or pd.api.types.is_integer_dtype(dtype):
            numbers = np.round(numbers)
        return _restore_dtype(pd.Series(numbers), self.dtype_)

    def _domain_dict(self) -> dict[str, Any]:
        declared = self.column.minimum is not None and self.column.maximum is not None
        state = {"min": self.minimum_, "max": self.maximum_, "domain": "schema" if declared else "data"}
        if self._is_datetime:
            state["resolution"] = self.resolution_
        return state | ({"calibration": self._calibration_dict()} if self.quantiles_ is not None else {})

    def _load_domain(self, state: dict[str, Any]) -> None:
        self.minimum_, self.maximum_ = float(state["min"]), float(state["max"])
        self.resolution_ = int(state.get("resolution", 1))
        calibration = state.get("calibration") or {}
        self.quantiles_source_ = calibration.get("source", "data")
        for name in ("quantiles", "generated_quantiles"):
            known = calibration.get(name)
            setattr(self, f"{name}_", None if known is None else np.asarray(known, dtype=float))


ENCODERS: dict[ColumnKind, type[ColumnEncoder]] = {
    kind: encoder for encoder in (BinaryEncoder, CategoricalEncoder, NumericEncoder) for kind in encoder.kinds
}
