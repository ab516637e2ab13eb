"""Reversible map between a table and the float matrix every model trains on.

Each modelled column becomes one or more *spans* of the matrix, described once in a `ColumnLayout` that
models read to choose output activations and losses:

| kind        | value span                               | activation / loss  |
|-------------|------------------------------------------|--------------------|
| binary      | 1 dimension, 1 = the second category     | sigmoid / BCE      |
| categorical | one-hot, plus a "missing" slot if needed | softmax / CE       |
| count       | (x - min) / (max - min)                  | relu / MSE         |
| continuous  | (x - min) / (max - min)                  | sigmoid / MSE      |
| datetime    | as continuous, on the integer timestamp  | sigmoid / MSE      |

Binary, count, continuous and datetime columns with missing values get one more span, a 0/1 missingness
indicator (sigmoid / BCE), so a generator reproduces how often a value is missing. A binary column without
missing values is exactly one dimension, so a patient x code matrix keeps its width.

What a fitted transformer keeps from the data, and therefore ships inside a saved generator: each column's
dtype, whether it had missing values, its category list (binary, categorical) and its min/max (count,
continuous, datetime), plus what mode-specific normalisation or quantile scaling keeps (data/modes.py,
data/quantile_scaling.py) and, with `binary_shares`, each binary column's share of its second category.
Declaring `categories`, `min`/`max` or `share` in the schema replaces the data-derived value with the declared
one (`domain: "schema"`, or the share's `source: "schema"`, in the saved state).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from synthmed.data.encoders import ENCODERS, BinaryEncoder, ColumnEncoder, NumericEncoder
from synthmed.data.layout import ColumnLayout, Span
from synthmed.data.modes import ModeEncoder
from synthmed.data.quantile_scaling import QuantileEncoder
from synthmed.data.schema import ColumnSchema, Schema
from synthmed.data.validate import require_columns
from synthmed.errors import DataError

# Saved numeric encoders other than min-max scaling, by their "encoding" entry.
NUMERIC_ENCODINGS: dict[str, type[ColumnEncoder]] = {
    ModeEncoder.encoding: ModeEncoder,
    QuantileEncoder.encoding: QuantileEncoder,
}


class TableTransformer:
    """Table <-> matrix for the non-identifier columns of a schema.

    >>> import pandas as pd
    >>> from synthmed.data import TableTransformer, infer_schema
    >>> table = pd.DataFrame({"sex": ["F", "M", "F"], "age": [34.0, 61.5, None]})
    >>> transformer = TableTransformer(infer_schema(table)).fit(table)
    >>> transformer.transform(table).shape  # sex: 1, age: value + missing indicator
    (3, 3)
    >>> transformer.inverse_transform(transformer.transform(table)).equals(table)
    True
    """

    def __init__(
        self,
        schema: Schema,
        numeric: Literal["minmax", "modes", "quantiles"] = "minmax",
        seed: int = 0,
        quantile_knots: int = 0,
        max_modes: int = 10,
        binary_shares: bool = False,
    ) -> None:
        self.schema = schema
        # "modes": continuous columns by mode-specific normalisation (data/modes.py); "quantiles": numeric columns
        # by their levels in the data's distribution (data/quantile_scaling.py)
        self.numeric = numeric
        self.seed = seed
        self.quantile_knots = quantile_knots  # > 1 keeps numeric columns' quantiles for calibration
        self.max_modes = max_modes  # "modes" only: mixture components per column, at most
        self.binary_shares = binary_shares  # keep binary columns' shares to calibrate their rounding

    def _encoder(self, column: ColumnSchema) -> ColumnEncoder:
        if column.kind in NumericEncoder.kinds:
            if self.numeric == "modes":
                return ModeEncoder(column, self.max_modes, seed=self.seed, quantile_knots=self.quantile_knots)
            if self.numeric == "quantiles":
                return QuantileEncoder(column, self.quantile_knots)
            return NumericEncoder(column, self.quantile_knots)
        if column.kind in BinaryEncoder.kinds:
            return BinaryEncoder(column, keep_share=self.binary_shares)
        return ENCODERS[column.kind](column)

    def fit(self, table: pd.DataFrame, public_missingness: bool = False) -> TableTransformer:
        """Fit every column's encoder (`public_missingness`: see `ColumnEncoder.fit`)."""
        self._check_columns(table)
        self.encoders_ = [self._encoder(c).fit(table[c.name], public_missingness) for c in self.schema.modelled]
        self._build_layout()
        return self

    def _build_layout(self) -> None:
        spans: list[Span] = []
        for encoder in self.encoders_:
            spans.extend(encoder.spans(spans[-1].stop if spans else 0))
        self.layout_ = ColumnLayout(tuple(spans))

    def _check_columns(self, table: pd.DataFrame) -> None:
        require_columns(
            table.columns,
            [c.name for c in self.schema.modelled],
            "columns the model needs are missing from the table",
            remedy="pass a table with the same columns the model was fitted on",
        )

    @property
    def columns(self) -> list[str]:
        return [encoder.name for encoder in self.encoders_]

    def transform(self, table: pd.DataFrame, dtype: type[np.floating] = np.float64) -> np.ndarray:
        self._check_columns(table)
        matrix = np.zeros((len(table), self.layout_.width), dtype=dtype)
        start = 0
        for encoder in self.encoders_:  # each writes its spans in place: no per-column temporaries
            encoder.encode(table[encoder.name].reset_index(drop=True), matrix[:, start : start + encoder.width])
            start += encoder.width
        return matrix

    @property
    def calibrating(self) -> bool:
        """Whether any column kept a target to calibrate generated values to: numeric quantiles, binary shares."""
        return any(encoder.calibrating for encoder in self.encoders_)

    def calibrate(self, generated: np.ndarray) -> None:
        """Show every calibrating column a large generated matrix (data/calibration.py: marginal calibration)."""
        start = 0
        for encoder in self.encoders_:
            if encoder.calibrating:
                encoder.calibrate(np.asarray(generated[:, start : start + encoder.width], dtype=np.float64))
            start += encoder.width

    def inverse_transform(
        self, matrix: np.ndarray, rng: np.random.Generator | None = None, *, one_hot: bool = False
    ) -> pd.DataFrame:
        """Decode rows (any float dtype); with `rng`, binary and categorical outputs are drawn instead of rounded.
        `one_hot`: every softmax span of every row holds exactly one 1 (a model that chose its categories)."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.layout_.width:
            raise DataError(
                f"expected a matrix with {self.layout_.width} columns, got shape {matrix.shape}",
                remedy="decode matrices produced for this transformer",
            )
        decoded: dict[str, pd.Series] = {}
        start = 0
        for encoder in self.encoders_:
            decoded[encoder.name] = encoder.decode(matrix[:, start : start + encoder.width], rng, one_hot=one_hot)
            start += encoder.width
        return pd.DataFrame(decoded)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [encoder.to_dict() for encoder in self.encoders_]}

    @classmethod
    def from_dict(cls, state: dict[str, Any], schema: Schema) -> TableTransformer:
        transformer = cls(schema)
        transformer.encoders_ = [
            NUMERIC_ENCODINGS.get(column.get("encoding"), ColumnEncoder).from_dict(column)
            for column in state["columns"]
        ]
        transformer._build_layout()
        return transformer
