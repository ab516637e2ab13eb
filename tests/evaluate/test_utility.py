"""Tests for synthmed.evaluate.utility: TRTR / TSTR / TRTS / augmentation with three models."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from synthmed.data import read_table
from synthmed.errors import DataError
from synthmed.evaluate import utility as utility_module
from synthmed.evaluate.encoding import prepare_tables
from synthmed.evaluate.intervals import rank_auc
from synthmed.evaluate.utility import UtilityResult, utility
from tests.conftest import shared_file

N = 300
DEFAULT_TREES = utility_module.FOREST_TREES
CLASSIFIERS = ("random_forest", "logistic_regression", "gradient_boosting")


def patients(seed: int, n: int = N, target: str = "binary") -> pd.DataFrame:
    """A target that depends on `marker` (and a little on `site`); `noise` carries no signal."""
    rng = np.random.default_rng(seed)
    marker = rng.normal(size=n)
    site = rng.choice(["A", "B", "C"], n)
    table = pd.DataFrame({"marker": marker, "noise": rng.normal(size=n), "site": site})
    signal = marker + 0.3 * (site == "A")
    if target == "binary":
        table["outcome"] = signal + rng.normal(scale=0.5, size=n) > 0
    elif target == "multiclass":
        table["outcome"] = np.select([signal < -0.5, signal < 0.5], ["low", "mid"], "high")
    else:
        table["outcome"] = 2.0 * signal + rng.normal(scale=0.2, size=n)
    return table


@pytest.fixture(autouse=True, scope="module")
def small_forests() -> object:
    """50 trees instead of 100: the same verdicts on a few hundred rows, in half the time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utility_module, "FOREST_TREES", 50)
        yield


def shuffled(table: pd.DataFrame, column: str, seed: int = 0) -> pd.DataFrame:
    out = table.copy()
    out[column] = np.random.default_rng(seed).permutation(out[column].to_numpy())
    return out


# Each evaluation trains 9 models; the scenarios below are computed once and shared by the tests.
@cache
def fresh_sample_result() -> UtilityResult:
    return utility(prepare_tables(patients(0), patients(1), patients(2)), "outcome")


@cache
def shuffled_target_result() -> UtilityResult:
    return utility(prepare_tables(patients(0), patients(1), shuffled(patients(2), "outcome")), "outcome")


def auc(result: UtilityResult, model: str, scenario: str) -> float:
    return result.get(model, scenario).figures.roc_auc.value


@pytest.mark.parametrize("model", CLASSIFIERS)
def test_tstr_close_to_trtr_for_a_fresh_sample(model: str) -> None:
    result = fresh_sample_result()
    assert result.task == "classification"
    assert auc(result, model, "trtr") > 0.85
    assert abs(auc(result, model, "tstr") - auc(result, model, "trtr")) < 0.06
    assert 0.93 < result.summary.tstr_to_trtr[model] < 1.07


@pytest.mark.parametrize("model", CLASSIFIERS)
def test_shuffled_synthetic_target_gives_chance_tstr(model: str) -> None:
    result = shuffled_target_result()
    if model != "logistic_regression":
        assert abs(auc(result, model, "tstr") - 0.5) < 0.12
    # A linear model fitted to noise still has some slope on the predictive marker, so its holdout AUC lands
    # anywhere from well below to above 0.5 depending on that slope's sign; it only has to collapse.
    assert auc(result, model, "tstr") < auc(result, model, "trtr") - 0.25
    assert auc(result, model, "trtr") > 0.85
    assert result.summary.tstr_to_trtr[model] < 0.75


def test_trts_equals_trtr_when_synthetic_is_holdout() -> None:
    holdout = patients(1)
    result = utility(prepare_tables(patients(0), holdout, holdout), "outcome")
    for model in CLASSIFIERS:
        assert result.get(model, "trts").figures == result.get(model, "trtr").figures
        # and a model trained on HOLDOUT itself scores at least as well on HOLDOUT
        assert auc(result, model, "tstr") >= auc(result, model, "trtr") - 0.01


def test_tstr_learns_from_as_many_rows_as_trtr() -> None:
    # a synthetic table 4x TRAIN's size would train a better model for its size alone: TSTR keeps N of its rows
    larger = utility(prepare_tables(patients(0), patients(1), patients(2, n=4 * N)), "outcome", seed=3)
    smaller = utility(prepare_tables(patients(0), patients(1), patients(2, n=N // 2)), "outcome")
    for model in CLASSIFIERS:
        assert larger.get(model, "tstr").train_rows == larger.get(model, "trtr").train_rows == N
        assert larger.get(model, "augmented").train_rows == 2 * N
        assert smaller.get(model, "tstr").train_rows == N // 2
        assert auc(larger, model, "tstr") > 0.8  # the kept rows keep their own targets
    again = utility(prepare_tables(patients(0), patients(1), patients(2, n=4 * N)), "outcome", seed=3)
    assert again.summary == larger.summary  # the kept rows are a seeded subsample


def test_classification_figures_and_augmentation() -> None:
    result = fresh_sample_result()
    assert result.classes == [False, True]
    for model in CLASSIFIERS:
        augmented = result.get(model, "augmented")
        assert augmented.train_rows == 2 * N and augmented.test_rows == N
        assert abs(augmented.figures.roc_auc.value - auc(result, model, "trtr")) < 0.06
        assert result.summary.augmentation_gain[model] == pytest.approx(
            augmented.figures.roc_auc.value - auc(result, model, "trtr")
        )
        figures = result.get(model, "trtr").figures
        assert figures.roc_auc.low <= figures.roc_auc.value <= figures.roc_auc.high
        assert figures.accuracy.low <= figures.accuracy.value <= figures.accuracy.high
        assert 0.7 < figures.macro_f1 <= 1
        assert figures.labels == [False, True]
        assert np.sum(figures.confusion_matrix) == N
        assert set(figures.report) >= {"False", "True", "accuracy", "macro avg"}
    best = result.summary.best_model
    assert result.summary.metric == "roc_auc"
    assert result.summary.best_tstr == auc(result, best, "tstr")
    assert result.summary.best_trtr == auc(result, best, "trtr")


def test_binary_auc_positive_class_is_the_second_sorted_class() -> None:
    # with a string target the positive class is "yes" (after "no"), so a learnable relation gives AUC > 0.5
    tables = [patients(seed).assign(outcome=lambda t: np.where(t["outcome"], "yes", "no")) for seed in (0, 1, 2)]
    result = utility(prepare_tables(*tables), "outcome")
    assert result.classes == ["no", "yes"]
    assert auc(result, "random_forest", "trtr") > 0.85


def test_multiclass_target_with_a_class_absent_from_synthetic() -> None:
    synthetic = patients(2, target="multiclass")
    synthetic = synthetic[synthetic["outcome"] != "mid"]
    result = utility(
        prepare_tables(patients(0, target="multiclass"), patients(1, target="multiclass"), synthetic), "outcome"
    )
    assert result.classes == ["high", "low", "mid"]
    assert result.absent_classes == {"synthetic": ["mid"]}
    tstr = result.get("random_forest", "tstr").figures
    assert np.array(tstr.confusion_matrix).shape == (3, 3)
    assert np.array(tstr.confusion_matrix)[:, 2].sum() == 0  # never predicts a class it never saw
    assert 0.7 < tstr.roc_auc.value <= 1
    assert auc(result, "random_forest", "trtr") > 0.85
    json.dumps(result.to_dict(), allow_nan=False)


def test_regression_target() -> None:
    result = utility(prepare_tables(*(patients(seed, target="regression") for seed in (0, 1, 2))), "outcome", seed=3)
    assert result.task == "regression" and result.classes is None
    assert result.summary.metric == "r2"
    for model in ("random_forest", "ridge_regression", "gradient_boosting"):
        for scenario in ("trtr", "tstr", "trts", "augmented"):
            figures = result.get(model, scenario).figures
            assert figures.r2.value > 0.85
            assert figures.r2.low <= figures.r2.value <= figures.r2.high
            assert 0 < figures.mae < 0.6
    assert result.get("ridge_regression", "trtr").figures.r2.value > 0.95
    json.dumps(result.to_dict(), allow_nan=False)


def test_rows_with_a_missing_target_are_dropped_and_counted() -> None:
    train, holdout, synthetic = (patients(seed).astype({"outcome": object}) for seed in (0, 1, 2))
    train.loc[:9, "outcome"] = None
    synthetic.loc[:4, "outcome"] = None
    result = utility(prepare_tables(train, holdout, synthetic), "outcome")
    assert result.dropped_rows == {"train": 10, "holdout": 0, "synthetic": 5}
    assert result.get("random_forest", "trtr").train_rows == N - 10
    # 295 synthetic rows keep a target: 290 of them, as many as TRAIN's, are used
    assert result.get("random_forest", "trts").test_rows == result.get("random_forest", "tstr").train_rows == N - 10


def test_unknown_target_is_a_data_error() -> None:
    tables = prepare_tables(patients(0, n=60), patients(1, n=60), patients(2, n=60))
    with pytest.raises(DataError, match="'survival'") as error:
        utility(tables, "survival")
    assert error.value.column == "survival"


def test_single_class_train_target_is_a_data_error() -> None:
    train = patients(0).assign(outcome=True)
    with pytest.raises(DataError, match="fewer than two classes"):
        utility(prepare_tables(train, patients(1), patients(2)), "outcome")


def test_single_class_synthetic_target_makes_tstr_unavailable() -> None:
    synthetic = patients(2).assign(outcome=True)
    result = utility(prepare_tables(patients(0), patients(1), synthetic), "outcome")
    assert result.absent_classes == {"synthetic": [False]}
    for model in CLASSIFIERS:
        tstr = result.get(model, "tstr")
        assert tstr.figures is None
        assert "single target class" in tstr.unavailable
        assert result.summary.tstr_to_trtr[model] is None
        # TRTS still runs; its AUC is undefined on one class, its accuracy is not
        trts = result.get(model, "trts").figures
        assert np.isnan(trts.roc_auc.value) and 0 <= trts.accuracy.value <= 1
        assert result.get(model, "augmented").figures is not None
    assert result.summary.best_model is None
    encoded = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert encoded["results"][1]["scenario"] == "tstr" and encoded["results"][1]["figures"] is None


def test_to_dict_is_json_serialisable() -> None:
    encoded = json.loads(json.dumps(fresh_sample_result().to_dict(), allow_nan=False))
    assert encoded["target"] == "outcome"
    assert len(encoded["results"]) == 12
    first = encoded["results"][0]
    assert set(first["figures"]) == {"roc_auc", "accuracy", "macro_f1", "report", "confusion_matrix", "labels"}
    assert set(first["figures"]["roc_auc"]) == {"value", "ci_low", "ci_high"}
    assert set(encoded["summary"]["tstr_to_trtr"]) == set(CLASSIFIERS)


def test_rank_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(size=200) + labels, 1)
    assert rank_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


@pytest.mark.e2e
def test_heart_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(utility_module, "FOREST_TREES", DEFAULT_TREES)  # calibrate what users get
    heart = read_table(shared_file("heart-cleveland", "processed.cleveland.csv"), na_values=["?"])
    heart = heart.assign(disease=heart["num"] > 0).drop(columns="num")
    order = np.random.default_rng(0).permutation(len(heart))
    half = len(heart) // 2
    train, holdout = heart.iloc[order[:half]], heart.iloc[order[half:]]

    same = utility(prepare_tables(train, holdout, holdout), "disease")
    trtr, tstr = auc(same, "random_forest", "trtr"), auc(same, "random_forest", "tstr")
    assert trtr > 0.85
    assert auc(same, "random_forest", "trts") == pytest.approx(trtr, abs=0.01)  # 151 of the 152 rows either way
    # Synthetic = HOLDOUT means TSTR trains on its own test rows: the forest memorises them (AUC 1.0), so
    # "within 0.1 of TRTR" holds only because TRTR is 0.900 on this split (0.877-0.912 over split seeds 0-4,
    # failing for three of them). The bound is kept as specified; TSTR >= TRTR is the robust part.
    assert tstr >= trtr
    assert abs(tstr - trtr) < 0.1

    broken = utility(prepare_tables(train, holdout, shuffled(train, "disease")), "disease")
    assert auc(broken, "random_forest", "tstr") < 0.65
