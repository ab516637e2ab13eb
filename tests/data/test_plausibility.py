"""Implausible magnitudes are refused and out-of-domain values noted, both before training."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthmed.data import Schema, validate_table
from synthmed.errors import DataError, SynthmedWarning

RNG = np.random.default_rng(0)


def table(**columns: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"chol": RNG.normal(240, 40, 100).round(), **columns})


@pytest.mark.parametrize("outlier", [1e300, 1e9, -5e12, 4e38])
def test_implausible_magnitudes_are_refused_with_the_remedy(outlier: float) -> None:
    frame = table()
    frame.loc[3, "chol"] = outlier
    with pytest.raises(DataError, match=r"'chol': 1 implausibly large values.*--na-values.*`min` and `max`"):
        validate_table(frame)
    declared = Schema.from_dict({"columns": {"chol": {"kind": "continuous", "min": -1e13, "max": 1e39}}})
    assert validate_table(frame, declared)["chol"].iloc[3] == outlier  # a declared range says it is real


def test_heavy_tails_and_zero_inflated_columns_are_plausible() -> None:
    charges = np.where(RNG.random(100) < 0.8, 0.0, RNG.lognormal(9, 1.5, 100))
    viral_load = 10 ** RNG.uniform(1, 7, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_table(table(charges=charges, viral_load=viral_load, base_excess=RNG.normal(0, 4, 100)))


def test_values_outside_a_likely_domain_are_noted() -> None:
    ages = RNG.integers(20, 90, 100).astype(float)
    ages[[3, 9]] = [-5, -40]
    with pytest.warns(SynthmedWarning, match=r"'age': 2 negative values, but its name says.*\(-40, -5\)"):
        validate_table(table(age=ages))
    sbp = RNG.normal(130, 15, 100).round()
    sbp[7] = -120
    with pytest.warns(SynthmedWarning, match=r"'sbp': 1 negative values, but its other values are never negative"):
        validate_table(table(sbp=sbp))
    old = RNG.integers(20, 90, 100)
    old[0] = 250
    with pytest.warns(SynthmedWarning, match="ages above 125"):
        validate_table(table(age=old))
    declared = Schema.from_dict({"columns": {"age": {"kind": "continuous", "min": 0, "max": 300}}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_table(table(age=old), declared)
