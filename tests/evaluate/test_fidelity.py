"""Tests for synthmed.evaluate.fidelity: per-column shape, missing rates and pairwise correlations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from synthmed.data import Schema, infer_schema
from synthmed.data.schema import ColumnKind
from synthmed.errors import SynthmedWarning
from synthmed.evaluate.fidelity import column_shape_similarity, correlation_difference, missing_rate_difference

N = 400


def mixed_table(seed: int = 0, n: int = N) -> pd.DataFrame:
    """Every modelled kind, with gaps in the numeric and text columns."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "age": rng.normal(60, 12, n),
            "visits": rng.poisson(2, n),
            "sex": rng.choice(["F", "M"], n),
            "stage": rng.choice(["I", "II", "III", "IV"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "admitted": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        }
    )
    table.loc[rng.choice(n, 30, replace=False), "age"] = np.nan
    table.loc[rng.choice(n, 10, replace=False), "stage"] = np.nan
    return table


def schema_of(table: pd.DataFrame) -> Schema:
    return infer_schema(table)


def test_mixed_table_kinds() -> None:
    # guards the fixtures below: each kind the metrics branch on is present
    kinds = {column.name: column.kind for column in schema_of(mixed_table()).columns}
    assert kinds == {
        "age": ColumnKind.CONTINUOUS,
        "visits": ColumnKind.COUNT,
        "sex": ColumnKind.BINARY,
        "stage": ColumnKind.CATEGORICAL,
        "admitted": ColumnKind.DATETIME,
    }


# ----------------------------------------------------------------------------------------------------
# identical tables


def test_identical_tables_are_perfect() -> None:
    real = mixed_table()
    schema = schema_of(real)
    shape = column_shape_similarity(real, real.copy(), schema)
    assert list(shape.index) == schema.names
    assert shape.to_numpy() == pytest.approx(np.ones(len(schema.names)))
    missing = missing_rate_difference(real, real.copy(), schema)
    assert list(missing.index) == schema.names
    assert missing.to_numpy() == pytest.approx(np.zeros(len(schema.names)))
    assert correlation_difference(real, real.copy(), schema) == pytest.approx(0.0, abs=1e-12)


def test_identical_up_to_row_order_is_perfect() -> None:
    real = mixed_table()
    shuffled = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    schema = schema_of(real)
    assert column_shape_similarity(real, shuffled, schema).to_numpy() == pytest.approx(np.ones(5))
    assert missing_rate_difference(real, shuffled, schema).to_numpy() == pytest.approx(np.zeros(5))
    assert correlation_difference(real, shuffled, schema) == pytest.approx(0.0, abs=1e-12)


def test_identifiers_are_left_out() -> None:
    real = mixed_table().assign(patient_id=np.arange(N))
    with pytest.warns(SynthmedWarning, match="patient_id"):
        schema = schema_of(real)
    assert schema["patient_id"].kind is ColumnKind.IDENTIFIER
    synthetic = real.drop(columns="patient_id")  # a generator never outputs identifiers
    assert "patient_id" not in column_shape_similarity(real, synthetic, schema).index
    assert "patient_id" not in missing_rate_difference(real, synthetic, schema).index
    assert correlation_difference(real, synthetic, schema) == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------------
# column shape similarity


def test_shifted_continuous_column_loses_the_ks_distance() -> None:
    rng = np.random.default_rng(42)
    n = 5000
    real = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n)})
    synthetic = pd.DataFrame({"x": rng.normal(1, 1, n), "y": real["y"]})
    shape = column_shape_similarity(real, synthetic, schema_of(real))
    # KS distance of N(0, 1) and N(1, 1): 2 * Phi(0.5) - 1 ~ 0.383
    expected = 1.0 - (2 * norm.cdf(0.5) - 1)
    assert shape["x"] == pytest.approx(expected, abs=0.03)
    assert shape["y"] == pytest.approx(1.0)


def test_disjoint_continuous_columns_score_zero() -> None:
    real = pd.DataFrame({"x": np.linspace(0.5, 10.5, 50)})
    synthetic = pd.DataFrame({"x": np.linspace(100.5, 110.5, 50)})
    assert column_shape_similarity(real, synthetic, schema_of(real))["x"] == pytest.approx(0.0)


def test_categorical_frequencies_give_one_minus_total_variation() -> None:
    real = pd.DataFrame({"stage": ["I"] * 50 + ["II"] * 30 + ["III"] * 20})
    # 200 rows (different length), plus missing values that the shape leaves out, and an unseen level
    synthetic = pd.DataFrame({"stage": ["I"] * 40 + ["II"] * 60 + ["III"] * 80 + ["IV"] * 20 + [None] * 30})
    schema = schema_of(real)
    assert schema["stage"].kind is ColumnKind.CATEGORICAL
    tv = 0.5 * (abs(0.5 - 0.2) + abs(0.3 - 0.3) + abs(0.2 - 0.4) + abs(0.0 - 0.1))
    assert column_shape_similarity(real, synthetic, schema)["stage"] == pytest.approx(1.0 - tv)
    assert 1.0 - tv == pytest.approx(0.7)


def test_binary_frequencies_give_one_minus_total_variation() -> None:
    real = pd.DataFrame({"sex": ["F"] * 60 + ["M"] * 40})
    synthetic = pd.DataFrame({"sex": ["F"] * 25 + ["M"] * 75})
    schema = schema_of(real)
    assert schema["sex"].kind is ColumnKind.BINARY
    assert column_shape_similarity(real, synthetic, schema)["sex"] == pytest.approx(1.0 - 0.35)


def test_count_column_uses_ks() -> None:
    real = pd.DataFrame({"visits": [0] * 50 + [1] * 30 + [2] * 20})
    synthetic = pd.DataFrame({"visits": [0] * 20 + [1] * 30 + [2] * 50})
    schema = schema_of(real)
    assert schema["visits"].kind is ColumnKind.COUNT
    # empirical CDFs at 0: 0.5 vs 0.2, at 1: 0.8 vs 0.5 -> KS 0.3
    assert column_shape_similarity(real, synthetic, schema)["visits"] == pytest.approx(0.7)


def test_shifted_datetime_column() -> None:
    real = mixed_table()
    synthetic = real.assign(admitted=real["admitted"] + pd.Timedelta(days=400))  # no overlap at all
    shape = column_shape_similarity(real, synthetic, schema_of(real))
    assert shape["admitted"] == pytest.approx(0.0)
    assert shape.drop("admitted").to_numpy() == pytest.approx(np.ones(4))


def test_datetime_resolution_does_not_change_the_shape() -> None:
    real = mixed_table()[["age", "admitted"]]
    real = real.assign(admitted=real["admitted"].astype("datetime64[s]"))
    synthetic = real.assign(admitted=real["admitted"].astype("datetime64[ns]"))
    assert column_shape_similarity(real, synthetic, schema_of(real))["admitted"] == pytest.approx(1.0)


def test_all_missing_numeric_column_scores_zero() -> None:
    real = mixed_table()
    synthetic = real.assign(age=np.nan)
    assert column_shape_similarity(real, synthetic, schema_of(real))["age"] == 0.0


def test_all_missing_categorical_column_scores_zero() -> None:
    real = mixed_table()
    synthetic = real.assign(stage=None)
    assert column_shape_similarity(real, synthetic, schema_of(real))["stage"] == 0.0


# ----------------------------------------------------------------------------------------------------
# missing rates


def test_missing_rate_difference_is_the_absolute_difference_of_shares() -> None:
    real = mixed_table()  # age: 30 / 400 missing, stage: 10 / 400, others none
    synthetic = mixed_table(seed=1, n=200)
    synthetic["age"] = 50.0
    synthetic.loc[:49, "age"] = np.nan  # 50 / 200
    synthetic["stage"] = "I"  # none
    synthetic.loc[:3, "sex"] = None  # 4 / 200
    difference = missing_rate_difference(real, synthetic, schema_of(real))
    assert difference["age"] == pytest.approx(abs(30 / 400 - 50 / 200))
    assert difference["stage"] == pytest.approx(10 / 400)
    assert difference["sex"] == pytest.approx(4 / 200)
    assert difference["visits"] == 0.0
    assert difference["admitted"] == 0.0


def test_missing_rate_difference_extremes() -> None:
    real = pd.DataFrame({"x": np.linspace(0.5, 9.5, 20)})
    synthetic = pd.DataFrame({"x": [np.nan] * 20})
    assert missing_rate_difference(real, synthetic, schema_of(real))["x"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------------
# correlation difference


def correlated_pair(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    return pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.2, n)})


def test_shuffled_column_loses_its_correlation() -> None:
    real = correlated_pair()
    synthetic = real.assign(y=real["y"].sample(frac=1.0, random_state=0).to_numpy())
    schema = schema_of(real)
    r_real = np.corrcoef(real["x"], real["y"])[0, 1]
    r_synthetic = np.corrcoef(synthetic["x"], synthetic["y"])[0, 1]
    assert r_real > 0.95
    assert abs(r_synthetic) < 0.1
    difference = correlation_difference(real, synthetic, schema)
    assert difference == pytest.approx(abs(r_real - r_synthetic))
    assert difference > 0.85
    assert correlation_difference(real, real, schema) == pytest.approx(0.0, abs=1e-12)


def test_correlation_difference_is_a_mean_over_pairs() -> None:
    real = correlated_pair().assign(z=np.random.default_rng(9).normal(0, 1, 1000))
    synthetic = real.assign(y=real["y"].sample(frac=1.0, random_state=0).to_numpy())
    schema = schema_of(real)
    ra, rb = real.corr().to_numpy(), synthetic.corr().to_numpy()
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = np.mean([abs(ra[i, j] - rb[i, j]) for i, j in pairs])
    assert correlation_difference(real, synthetic, schema) == pytest.approx(expected)


def test_reversed_correlation_reaches_the_upper_bound() -> None:
    x = np.linspace(-3.0, 3.0, 101) + 0.001
    real = pd.DataFrame({"x": x, "y": 2 * x + 0.5})
    synthetic = pd.DataFrame({"x": x, "y": -2 * x + 0.5})
    assert correlation_difference(real, synthetic, schema_of(real)) == pytest.approx(2.0)


def test_binary_columns_take_part_as_zero_one() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, 1000)
    real = pd.DataFrame({"x": x, "sick": np.where(x + rng.normal(0, 0.5, 1000) > 0, "yes", "no")})
    schema = schema_of(real)
    assert schema["sick"].kind is ColumnKind.BINARY
    synthetic = real.assign(sick=real["sick"].sample(frac=1.0, random_state=1).to_numpy())
    # by hand: "yes" (the larger value) is 1
    r_real = np.corrcoef(x, real["sick"] == "yes")[0, 1]
    r_synthetic = np.corrcoef(x, synthetic["sick"] == "yes")[0, 1]
    assert r_real > 0.6
    difference = correlation_difference(real, synthetic, schema)
    assert difference == pytest.approx(abs(r_real - r_synthetic))
    assert difference > 0.5
    assert correlation_difference(real, real, schema) == pytest.approx(0.0, abs=1e-12)


def test_categorical_columns_do_not_take_part() -> None:
    real = correlated_pair().assign(
        stage=lambda t: np.where(t["x"] > 0.5, "high", np.where(t["x"] < -0.5, "low", "mid"))
    )
    schema = schema_of(real)
    assert schema["stage"].kind is ColumnKind.CATEGORICAL
    synthetic = real.assign(stage=real["stage"].sample(frac=1.0, random_state=0).to_numpy())
    assert correlation_difference(real, synthetic, schema) == pytest.approx(0.0, abs=1e-12)


def test_datetime_columns_take_part_without_crashing() -> None:
    real = mixed_table()
    real["age"] = real["age"].fillna(60.0)
    # admission date follows age: a strong datetime-numeric correlation
    real["admitted"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.round(real["age"] * 3), unit="D")
    real.loc[[0, 1, 2], "admitted"] = pd.NaT
    schema = schema_of(real)
    assert schema["admitted"].kind is ColumnKind.DATETIME
    assert correlation_difference(real, real.copy(), schema) == pytest.approx(0.0, abs=1e-12)
    synthetic = real.assign(admitted=real["admitted"].sample(frac=1.0, random_state=2).to_numpy())
    difference = correlation_difference(real, synthetic, schema)
    assert np.isfinite(difference)
    assert difference > 0.1  # 4 numeric columns (binary sex included): 1 pair in 6 loses a near-perfect correlation


def test_constant_synthetic_column_counts_as_no_correlation() -> None:
    real = correlated_pair()
    synthetic = real.assign(y=1.5)
    r_real = np.corrcoef(real["x"], real["y"])[0, 1]
    assert correlation_difference(real, synthetic, schema_of(real)) == pytest.approx(r_real)


def test_single_numeric_column_has_no_pairs() -> None:
    real = pd.DataFrame({"x": np.linspace(0.5, 9.5, 20), "stage": ["a", "b", "c", "d"] * 5})
    synthetic = real.assign(x=real["x"][::-1].to_numpy())
    assert correlation_difference(real, synthetic, schema_of(real)) == 0.0


# ----------------------------------------------------------------------------------------------------
# documented ranges


@pytest.mark.parametrize("seed", range(5))
def test_results_are_in_the_documented_ranges(seed: int) -> None:
    real = mixed_table(seed=seed)
    rng = np.random.default_rng(100 + seed)
    synthetic = mixed_table(seed=seed + 50, n=300)
    synthetic["age"] = rng.exponential(30, 300)  # a different shape
    synthetic.loc[: rng.integers(0, 300), "visits"] = 7
    schema = schema_of(real)
    shape = column_shape_similarity(real, synthetic, schema)
    missing = missing_rate_difference(real, synthetic, schema)
    correlation = correlation_difference(real, synthetic, schema)
    assert shape.dtype == float
    assert ((shape >= 0.0) & (shape <= 1.0)).all()
    assert (shape < 1.0).all()  # every column differs somewhat
    assert ((missing >= 0.0) & (missing <= 1.0)).all()
    assert isinstance(correlation, float)
    assert 0.0 <= correlation <= 2.0
