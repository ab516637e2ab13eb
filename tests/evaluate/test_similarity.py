"""Tests for synthmed.evaluate.similarity: binary shares, correlations, crosstabs, prediction and detection."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from synthmed.evaluate.encoding import EvaluationTables, prepare_tables
from synthmed.evaluate.fidelity import column_shape_similarity
from synthmed.evaluate.similarity import (
    contingency_score,
    contingency_similarity,
    correlation_matrices,
    detection,
    dimension_wise_prediction,
    dimension_wise_probability,
)
from tests.conftest import shared_file


def repeat_rows(rows: dict[str, list], times: int = 5) -> pd.DataFrame:
    """A hand-made table repeated, so it passes the minimum row count with the same frequencies."""
    return pd.concat([pd.DataFrame(rows)] * times, ignore_index=True)


def tables_of(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None) -> EvaluationTables:
    return prepare_tables(train, train.copy() if holdout is None else holdout, synthetic)


def is_json(result: object) -> bool:
    json.dumps(result.to_dict(), allow_nan=False)  # type: ignore[attr-defined]
    return True


def correlated_table(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "x": x,
            "y": x + rng.normal(0, 0.1, n),
            "z": rng.normal(5, 2, n),
            "flag": (x + rng.normal(0, 0.5, n) > 0).astype(int),
        }
    )


def latent_binary_table(seed: int, n: int = 300, columns: int = 6) -> pd.DataFrame:
    """Binary columns that all copy one hidden bit, each flipped 10% of the time: predictable from each other."""
    rng = np.random.default_rng(seed)
    hidden = rng.random(n) < 0.5
    table = pd.DataFrame({f"c{i}": (hidden ^ (rng.random(n) < 0.1)).astype(int) for i in range(columns)})
    table["never"] = 0
    return table


# ----------------------------------------------------------------------------------------------------
# dimension-wise probability


def test_probability_identical_tables_fit_perfectly() -> None:
    train = latent_binary_table(0)
    result = dimension_wise_probability(tables_of(train, train.copy()))
    assert result.r_squared == pytest.approx(1.0)
    assert result.pearson_r == pytest.approx(1.0)
    assert result.real == result.synthetic
    assert is_json(result)


def test_probability_hand_computed() -> None:
    # real shares .25 .5 .75, synthetic .5 .5 1: SS_res = .125 = SS_tot, so R^2 = 0; r = sqrt(3)/2
    train = repeat_rows({"a": [1, 0, 0, 0], "b": [1, 1, 0, 0], "c": [1, 1, 1, 0]})
    synthetic = repeat_rows({"a": [1, 1, 0, 0], "b": [1, 0, 1, 0], "c": [1, 1, 1, 1]})
    result = dimension_wise_probability(tables_of(train, synthetic))
    assert result.columns == ("a", "b", "c")
    assert result.real == pytest.approx((0.25, 0.5, 0.75))
    assert result.synthetic == pytest.approx((0.5, 0.5, 1.0))
    assert result.r_squared == pytest.approx(0.0)
    assert result.pearson_r == pytest.approx(math.sqrt(3) / 2)


def test_probability_counts_the_second_category_among_present_values() -> None:
    train = repeat_rows({"sex": ["F", "M", "M", "M"], "smoker": ["no", "yes", None, "no"]})
    result = dimension_wise_probability(tables_of(train, train.copy()))
    assert result.real == pytest.approx((0.75, 1 / 3))


def test_probability_without_binary_columns_says_so() -> None:
    train = correlated_table(0).drop(columns="flag")
    result = dimension_wise_probability(tables_of(train, train.copy()))
    assert not result.has_binary_columns
    assert result.r_squared is None and result.pearson_r is None
    assert result.to_dict()["has_binary_columns"] is False
    assert is_json(result)


# ----------------------------------------------------------------------------------------------------
# correlation matrices


def test_correlations_identical_tables_have_no_difference() -> None:
    train = correlated_table(0)
    result = correlation_matrices(tables_of(train, train.copy()))
    assert result.columns == ("x", "y", "z", "flag")
    assert result.mean_absolute_difference == pytest.approx(0.0)
    assert np.allclose(result.difference, 0.0)
    assert result.real[0, 1] > 0.98  # pearson on min-max scaled values is pearson on raw ones
    assert is_json(result)


def test_correlations_shuffling_one_of_a_pair_breaks_it() -> None:
    train = correlated_table(0)
    synthetic = train.copy()
    synthetic["y"] = np.random.default_rng(1).permutation(synthetic["y"].to_numpy())
    result = correlation_matrices(tables_of(train, synthetic))
    assert result.difference[0, 1] < -0.8
    assert result.mean_absolute_difference > 0.2


def test_correlations_constant_column_counts_as_zero() -> None:
    train = correlated_table(0).assign(constant=1.5)
    result = correlation_matrices(tables_of(train, train.copy()))
    assert np.isnan(result.real[0, -1])
    assert result.mean_absolute_difference == pytest.approx(0.0)
    assert result.to_dict()["real"][0][-1] is None
    assert is_json(result)


# ----------------------------------------------------------------------------------------------------
# contingency similarity


def test_contingency_identical_tables_score_one() -> None:
    train = repeat_rows({"a": ["x", "x", "y", "z"], "b": ["u", "v", "u", None], "c": [0, 1, 1, 0]})
    result = contingency_similarity(tables_of(train, train.copy()))
    assert result.pairs == (("a", "b"), ("a", "c"), ("b", "c"))
    assert result.scores == pytest.approx((1.0, 1.0, 1.0))
    assert result.mean == pytest.approx(1.0)
    assert is_json(result)


def test_contingency_is_one_minus_total_variation_with_missing_as_a_level() -> None:
    # real cells (x,u) (x,v) (y,u) (y,v) at 1/4 each; synthetic moves (x,v)'s quarter to (x, missing): TV = 1/4
    train = repeat_rows({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"]})
    synthetic = repeat_rows({"a": ["x", "x", "y", "y"], "b": ["u", None, "u", "v"]})
    result = contingency_similarity(tables_of(train, synthetic))
    assert result.scores == pytest.approx((0.75,))
    assert contingency_score(train, synthetic, "a", "b") == pytest.approx(0.75)


def test_contingency_samples_pairs_of_wide_tables_reproducibly() -> None:
    train = latent_binary_table(0, n=50)  # 7 binary columns: 21 pairs
    tables = tables_of(train, latent_binary_table(1, n=50))
    first = contingency_similarity(tables, max_pairs=5, seed=3)
    assert first.pairs_total == 21 and len(first.pairs) == 5
    assert first == contingency_similarity(tables, max_pairs=5, seed=3)
    assert 0.0 <= first.mean <= 1.0


# ----------------------------------------------------------------------------------------------------
# dimension-wise prediction


def test_prediction_synthetic_holdout_scores_like_train() -> None:
    train, holdout = latent_binary_table(0), latent_binary_table(1)
    result = dimension_wise_prediction(tables_of(train, holdout.copy(), holdout), top_k=20)
    assert len(result.columns) == 6
    assert result.skipped == {"never": "constant in TRAIN and SYNTHETIC"}
    assert result.mean_f1_real > 0.8
    assert result.mean_f1_synthetic == pytest.approx(result.mean_f1_real, abs=0.05)
    assert is_json(result)


def test_prediction_takes_the_most_frequent_columns() -> None:
    train = latent_binary_table(0).assign(rare=lambda t: (np.arange(len(t)) % 10 == 0).astype(int))
    result = dimension_wise_prediction(tables_of(train, train.copy()), top_k=3)
    assert len(result.columns) == 3
    assert "rare" not in result.columns


# ----------------------------------------------------------------------------------------------------
# detection


def test_detection_fresh_sample_is_indistinguishable() -> None:
    result = detection(tables_of(correlated_table(0, n=200), correlated_table(1, n=200)))
    assert result.auc.value < 0.6 or result.auc.low <= 0.5 <= result.auc.high
    assert result.rows_per_class == 200
    assert is_json(result)


def test_detection_shifted_column_is_found() -> None:
    synthetic = correlated_table(1, n=300)
    synthetic["z"] += 6.0  # three standard deviations
    result = detection(tables_of(correlated_table(0, n=200), synthetic))
    assert result.auc.value > 0.9
    assert result.rows_per_class == 200  # the larger side is cut to the smaller


def test_detection_copy_of_train_is_not_below_chance() -> None:
    # twins across the two classes share a fold; otherwise the copy would score far below 0.5
    train = correlated_table(0, n=200)
    assert detection(tables_of(train, train.copy())).auc.value == pytest.approx(0.5, abs=0.05)


# ----------------------------------------------------------------------------------------------------
# calibration on real data


def halves(table: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(table))
    half = len(table) // 2
    return table.iloc[order[:half]].reset_index(drop=True), table.iloc[order[half:]].reset_index(drop=True)


@pytest.fixture(scope="module")
def heart() -> tuple[pd.DataFrame, pd.DataFrame]:
    from synthmed.data import read_table

    return halves(read_table(shared_file("heart-uci-920", "heart_disease_uci.csv")).drop(columns="id"))


@pytest.mark.e2e
def test_heart_holdout_versus_columns_shuffled(heart: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = heart
    shuffled = pd.DataFrame(
        {name: train[name].sample(frac=1, random_state=i).to_numpy() for i, name in enumerate(train.columns)}
    )
    as_holdout = tables_of(train, holdout.copy(), holdout)
    as_shuffled = tables_of(train, shuffled, holdout)

    shape = column_shape_similarity(as_shuffled.train, as_shuffled.synthetic, as_shuffled.schema)
    assert shape.mean() > 0.95  # marginals kept...

    holdout_mad = correlation_matrices(as_holdout).mean_absolute_difference
    shuffled_mad = correlation_matrices(as_shuffled).mean_absolute_difference
    assert holdout_mad < 0.1  # measured 0.056
    assert shuffled_mad > 2 * holdout_mad  # ...correlations gone (measured 0.19)

    holdout_auc = detection(as_holdout).auc
    shuffled_auc = detection(as_shuffled).auc
    assert holdout_auc.value < 0.6  # measured 0.45
    assert shuffled_auc.low > holdout_auc.high and shuffled_auc.value > 0.8  # measured 0.97


@pytest.mark.e2e
def test_mimic_code_matrix_copy_has_perfect_probabilities() -> None:
    from synthmed.data.ehr import code_matrix, read_events

    matrix = code_matrix(read_events(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv"))).reset_index(drop=True)
    train, holdout = halves(matrix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = tables_of(train, train.copy(), holdout)
    result = dimension_wise_probability(tables)
    assert len(result.columns) == matrix.shape[1]
    assert result.r_squared == pytest.approx(1.0)
    assert result.pearson_r == pytest.approx(1.0)
    assert is_json(result)
