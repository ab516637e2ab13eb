"""Quantile scaling: uniform levels, exact round trips (point masses included), order kept, serialisable."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.data import infer_schema
from synthmed.data.quantile_scaling import QuantileEncoder
from synthmed.data.transform import TableTransformer


def heavy_tailed(rows: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    eeg = np.where(rng.random(rows) < 0.2, rng.normal(0, 500, rows), rng.normal(0, 20, rows))
    lab = rng.lognormal(0, 1.5, rows)
    lab[::40] = np.nan
    admitted = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, rows), unit="s")
    return pd.DataFrame({"eeg": eeg, "lab": lab, "visits": rng.poisson(0.4, rows), "admitted": admitted})


def fitted(table: pd.DataFrame) -> TableTransformer:
    return TableTransformer(infer_schema(table), numeric="quantiles").fit(table)


def test_levels_are_uniform_where_min_max_squeezes_them() -> None:
    table = heavy_tailed()
    ranks = fitted(table).transform(table)[:, 0]
    spread = TableTransformer(infer_schema(table)).fit(table).transform(table)[:, 0]
    assert np.allclose(np.quantile(ranks, [0.1, 0.25, 0.5, 0.75, 0.9]), [0.1, 0.25, 0.5, 0.75, 0.9], atol=0.01)
    # min-max puts the middle 80% of the rows within a few hundredths of the scale
    assert np.diff(np.quantile(spread, [0.1, 0.9]))[0] < 0.05


def test_round_trip_is_exact_with_missing_values_counts_and_dates() -> None:
    table = heavy_tailed()
    transformer = fitted(table)
    assert all(isinstance(encoder, QuantileEncoder) for encoder in transformer.encoders_)
    back = transformer.inverse_transform(transformer.transform(table))
    pd.testing.assert_frame_equal(back, table, check_exact=False, rtol=1e-9)


def test_a_point_mass_encodes_to_the_middle_of_its_levels_and_decodes_back_from_any_of_them() -> None:
    table = heavy_tailed()
    transformer = fitted(table)
    zero_share = (table["visits"] == 0).mean()  # about 67% of the rows
    column = next(span.start for span in transformer.layout_.spans if span.column == "visits")
    encoded = transformer.transform(table)[:, column]
    assert np.allclose(encoded[table["visits"].to_numpy() == 0], zero_share / 2, atol=0.01)
    matrix = np.tile(transformer.transform(table.head(1)), (50, 1))
    matrix[:, column] = np.linspace(0.0, zero_share - 0.01, 50)
    assert (transformer.inverse_transform(matrix)["visits"] == 0).all()


def test_saved_state_restores_the_same_scaling() -> None:
    table = heavy_tailed()
    transformer = fitted(table)
    state = transformer.to_dict()
    assert state["columns"][0]["encoding"] == "quantiles" and len(state["columns"][0]["scale_quantiles"]) == 101
    restored = TableTransformer.from_dict(state, transformer.schema)
    assert isinstance(restored.encoders_[0], QuantileEncoder)
    np.testing.assert_array_equal(restored.transform(table), transformer.transform(table))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=300))
def test_any_column_round_trips_and_keeps_its_order(values: list[float]) -> None:
    table = pd.DataFrame({"x": values})
    transformer = TableTransformer(infer_schema(table), numeric="quantiles").fit(table)
    encoded = transformer.transform(table)[:, 0]
    order = np.argsort(table["x"].to_numpy(), kind="stable")
    assert (np.diff(encoded[order]) >= 0).all() and encoded.min() >= 0 and encoded.max() <= 1
    back = transformer.inverse_transform(transformer.transform(table))["x"].to_numpy()
    np.testing.assert_allclose(back, table["x"].to_numpy(), rtol=1e-9, atol=1e-6)
