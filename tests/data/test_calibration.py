"""Marginal calibration's building blocks: levels within a quantile function, quantiles of a histogram, and
the rounding threshold that gives a binary column its share."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.data import Schema
from synthmed.data.calibration import NEVER, histogram_quantiles, quantile_levels, share_threshold, values_at_levels
from synthmed.data.transform import TableTransformer


def test_quantile_levels_interpolate_between_knots_and_centre_point_masses() -> None:
    quantiles = np.array([0.0, 0.0, 0.0, 0.5, 1.0])  # levels 0, .25, .5, .75, 1: half the mass sits at 0
    levels = quantile_levels(np.array([-1.0, 0.0, 0.25, 0.75, 2.0]), quantiles)
    np.testing.assert_allclose(levels, [0.0, 0.25, 0.625, 0.875, 1.0])


KNOTS = st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40).map(sorted).map(np.array)


@settings(max_examples=100, deadline=None)
@given(KNOTS, st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50).map(np.array))
def test_values_at_levels_interpolate_as_numpy_does(quantiles: np.ndarray, levels: np.ndarray) -> None:
    expected = np.interp(levels, np.linspace(0.0, 1.0, len(quantiles)), quantiles)
    np.testing.assert_allclose(values_at_levels(levels, quantiles), expected, rtol=1e-12, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(KNOTS, st.lists(st.floats(-2e3, 2e3), min_size=1, max_size=50).map(np.array))
def test_a_values_level_maps_back_to_the_value_within_the_knots(quantiles: np.ndarray, values: np.ndarray) -> None:
    levels = quantile_levels(values, quantiles)
    assert ((levels >= 0) & (levels <= 1)).all()
    inside = (values >= quantiles[0]) & (values <= quantiles[-1]) & ~np.isin(values, quantiles)
    np.testing.assert_allclose(values_at_levels(levels, quantiles)[inside], values[inside], rtol=1e-9, atol=1e-6)
    for value, level in zip(values, levels, strict=True):  # on knots: the middle of the levels of all it equals
        equal = np.flatnonzero(quantiles == value) / max(1, len(quantiles) - 1)
        if equal.size:
            assert np.isclose(level, (equal[0] + equal[-1]) / 2, rtol=0, atol=1e-12)


def test_histogram_quantiles_invert_the_histogram_cdf_and_ignore_negative_noise() -> None:
    quantiles = histogram_quantiles(np.array([1.0, 0.0, 3.0, -2.0]), 5)  # bins of width 0.25; -2 is noise
    # a quarter of the mass in [0, .25), none in [.25, .5), three quarters in [.5, .75), none above
    np.testing.assert_allclose(quantiles, [0.0, 0.5, 0.5 + 0.25 / 3, 0.5 + 0.5 / 3, 0.75])  # .25: where mass resumes
    np.testing.assert_allclose(histogram_quantiles(np.array([-1.0, -3.0]), 3), [0.0, 0.5, 1.0])  # all noise


def test_a_min_max_column_calibrates_to_given_quantiles_and_keeps_them_through_save() -> None:
    table = pd.DataFrame({"hr": np.linspace(40, 200, 101)})
    schema = Schema.from_dict({"columns": {"hr": {"kind": "continuous", "min": 0, "max": 250}}})
    transformer = TableTransformer(schema).fit(table)
    (encoder,) = transformer.encoders_
    encoder.calibrate_to(histogram_quantiles(np.array([0.0, 10.0, 0.0, 0.0]), 51), source="dp-histogram")
    rng = np.random.default_rng(0)
    transformer.calibrate(rng.random((5_000, 1)))  # a generator uniform over the whole range
    decoded = transformer.inverse_transform(rng.random((2_000, 1)))["hr"]
    assert decoded.between(62.5, 125.0).all()  # everything lands in the one bin the histogram holds
    state = transformer.to_dict()
    assert state["columns"][0]["calibration"]["source"] == "dp-histogram"
    again = TableTransformer.from_dict(state, schema).inverse_transform(np.array([[0.0], [0.5], [1.0]]))["hr"]
    np.testing.assert_allclose(again, transformer.inverse_transform(np.array([[0.0], [0.5], [1.0]]))["hr"])


def test_share_threshold_gives_the_share_and_keeps_ties_together() -> None:
    probabilities = np.linspace(0.0, 0.99, 100)
    assert np.mean(probabilities >= share_threshold(probabilities, 0.3)) == 0.3
    assert share_threshold(probabilities, 0.0) == NEVER  # above every probability: never 1
    assert np.all(probabilities >= share_threshold(probabilities, 1.0))
    saturated = np.r_[np.full(40, 1.0), np.linspace(0.0, 0.5, 60)]  # 40% tied at a saturated 1.0
    assert share_threshold(saturated, 0.35) == 1.0  # 0.40 with the tie is nearer 0.35 than 0.00 without it
    assert share_threshold(saturated, 0.1) == NEVER  # nearer to leave the whole tie out
    assert 0.5 > share_threshold(saturated, 0.6) > 0.3  # the tie plus the next 20%


def test_a_binary_column_rounds_at_the_threshold_that_gives_its_share_and_keeps_it_through_save() -> None:
    table = pd.DataFrame({"sex": ["F"] * 70 + ["M"] * 25 + [None] * 5})
    schema = Schema.from_dict({"columns": {"sex": {"kind": "binary"}}})
    transformer = TableTransformer(schema, binary_shares=True).fit(table)
    (encoder,) = transformer.encoders_
    assert encoder.share_ == 25 / 95  # among present values
    rng = np.random.default_rng(0)
    generated = np.c_[rng.random(10_000) * 0.4, rng.random(10_000) < 0.05]  # probability of M, missing flag
    assert transformer.inverse_transform(generated)["sex"].eq("M").sum() == 0  # at 0.5: no M at all
    transformer.calibrate(generated)
    decoded = transformer.inverse_transform(generated)["sex"]
    assert abs(decoded.eq("M").sum() / decoded.notna().sum() - 25 / 95) < 0.005
    assert decoded.dropna().eq("M").equals(pd.Series(generated[:, 0] >= encoder.threshold_)[decoded.notna()])
    state = transformer.to_dict()
    assert state["columns"][0]["rounding"] == {"share": 25 / 95, "threshold": encoder.threshold_, "source": "data"}
    loaded = TableTransformer.from_dict(state, schema)
    pd.testing.assert_frame_equal(loaded.inverse_transform(generated), decoded.to_frame())
    assert "rounding" not in TableTransformer(schema).fit(table).to_dict()["columns"][0]  # kept only when asked
