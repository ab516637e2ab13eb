"""Fidelity: how closely synthetic columns and column pairs follow the real ones.

Pure functions over tables; they never import models, so they judge any tool's output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from synthmed.data.schema import ColumnKind, Schema

NUMERIC_KINDS = (ColumnKind.COUNT, ColumnKind.CONTINUOUS, ColumnKind.DATETIME)


def _as_numbers(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        # one unit for both tables: CSV reads give microseconds, Parquet often nanoseconds
        return series.dropna().dt.as_unit("us").array.asi8.astype(float)
    return series.dropna().to_numpy(dtype=float)


def column_shape_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> pd.Series:
    """Per column, in [0, 1] (1 = identical marginals): KS complement for numbers, TV complement otherwise.

    Missing values are left out of the shape; `missing_rate_difference` covers them.
    """
    scores = {}
    for column in schema.modelled:
        a, b = real[column.name], synthetic[column.name]
        if column.kind in NUMERIC_KINDS:
            x, y = _as_numbers(a), _as_numbers(b)
            scores[column.name] = 1.0 - ks_2samp(x, y).statistic if len(x) and len(y) else 0.0
        else:
            p = a.dropna().astype(str).value_counts(normalize=True)
            q = b.dropna().astype(str).value_counts(normalize=True)
            scores[column.name] = 1.0 - 0.5 * p.subtract(q, fill_value=0).abs().sum() if len(p) and len(q) else 0.0
    return pd.Series(scores, name="column_shape_similarity", dtype=float)


def missing_rate_difference(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> pd.Series:
    """Per column, |real missing share - synthetic missing share| in [0, 1] (0 = same rate)."""
    names = [c.name for c in schema.modelled]
    return (real[names].isna().mean() - synthetic[names].isna().mean()).abs().rename("missing_rate_difference")


def _positive_values(table: pd.DataFrame, schema: Schema) -> dict[str, str]:
    """For each binary column, the value counted as 1 (the larger of the two, as text)."""
    return {
        c.name: max(table[c.name].dropna().astype(str).unique(), default="")
        for c in schema.modelled
        if c.kind is ColumnKind.BINARY
    }


def _numeric_frame(table: pd.DataFrame, schema: Schema, positive: dict[str, str]) -> pd.DataFrame:
    """Numbers for correlation: numeric kinds as they are, binary columns as 0/1."""
    columns = {}
    for column in schema.modelled:
        series = table[column.name]
        if column.kind in NUMERIC_KINDS:
            if pd.api.types.is_datetime64_any_dtype(series):
                stamps = series.dt.as_unit("us").array.asi8
                columns[column.name] = pd.Series(stamps, index=series.index).where(series.notna())
            else:
                columns[column.name] = series.astype(float)
        elif column.kind is ColumnKind.BINARY:
            columns[column.name] = (series.astype(str) == positive[column.name]).astype(float).where(series.notna())
    return pd.DataFrame(columns)


def correlation_difference(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> float:
    """Mean absolute difference of Pearson correlations over column pairs, in [0, 2] (0 = same structure).

    Constant columns have no correlation; pairs involving one count as 0 in both tables.
    """
    positive = _positive_values(real, schema)
    a, b = _numeric_frame(real, schema, positive), _numeric_frame(synthetic, schema, positive)
    if a.shape[1] < 2:
        return 0.0
    upper = np.triu_indices(a.shape[1], k=1)
    ra = np.nan_to_num(a.corr().to_numpy()[upper])
    rb = np.nan_to_num(b[a.columns].corr().to_numpy()[upper])
    return float(np.abs(ra - rb).mean())
