"""Marginal calibration's building blocks: levels within a quantile function, quantiles of a histogram."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthmed.data import Schema
from synthmed.data.calibration import histogram_quantiles, quantile_levels
from synthmed.data.transform import TableTransformer


def test_quantile_levels_interpolate_between_knots_and_centre_point_masses() -> None:
    quantiles = np.array([0.0, 0.0, 0.0, 0.5, 1.0])  # levels 0, .25, .5, .75, 1: half the mass sits at 0
    levels = quantile_levels(np.array([-1.0, 0.0, 0.25, 0.75, 2.0]), quantiles)
    np.testing.assert_allclose(levels, [0.0, 0.25, 0.625, 0.875, 1.0])


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
