"""Utility: can a model trained on synthetic data stand in for one trained on real data?

Four scenarios per model, all scored against real rows the models never saw:

- TRTR (train real, test real): TRAIN -> HOLDOUT, the reference a synthetic table is measured against.
- TSTR (train synthetic, test real): SYNTHETIC -> HOLDOUT, the figure a data user cares about.
- TRTS (train real, test synthetic): TRAIN -> SYNTHETIC, whether a real-data model finds the real
  relationships in the synthetic rows (a high TRTS with a low TSTR hints at too-easy, collapsed data).
- Augmented: TRAIN + SYNTHETIC -> HOLDOUT, compared with TRAIN alone (TRTR).

Features are the shared encoded matrix of `prepare_tables` without the target's spans, so every tool's
output is judged on the same encoding. SYNTHETIC rows with a target beyond TRAIN's count (TRAIN is cut to
HOLDOUT's size) are left out, a seeded subsample kept, so that TSTR learns from as many rows as TRTR: a synthetic
table four times TRAIN's size would otherwise score better for its size alone (TRTS and augmentation use the same
subsample). Pure functions: nothing is printed, plotted or written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    r2_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from synthmed.data.schema import EXCLUDED_KINDS, ColumnKind, json_scalar
from synthmed.errors import DataError
from synthmed.evaluate.encoding import EvaluationTables, at_most
from synthmed.evaluate.intervals import Estimate, bootstrap, rank_auc, wilson_interval

Task = Literal["classification", "regression"]
Scenario = Literal["trtr", "tstr", "trts", "augmented"]

SCENARIOS: tuple[Scenario, ...] = ("trtr", "tstr", "trts", "augmented")
CLASSIFICATION_KINDS = (ColumnKind.BINARY, ColumnKind.CATEGORICAL)
REGRESSION_KINDS = (ColumnKind.COUNT, ColumnKind.CONTINUOUS)
# Enough trees for stable AUCs on a few thousand rows while one evaluation stays within seconds.
FOREST_TREES = 100
# lbfgs on one-hot plus scaled numbers needs more than sklearn's default 100 iterations to converge.
LOGISTIC_MAX_ITER = 5000
PRIMARY_METRIC = {"classification": "roc_auc", "regression": "r2"}


def _model_factories(task: Task, seed: int) -> dict[str, Callable[[], BaseEstimator]]:
    """Fresh, seeded estimators: a forest, a linear model (standardised inputs) and gradient boosting."""
    if task == "classification":
        return {
            "random_forest": lambda: RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1),
            "logistic_regression": lambda: make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=LOGISTIC_MAX_ITER, random_state=seed)
            ),
            "gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
        }
    return {
        "random_forest": lambda: RandomForestRegressor(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1),
        # ridge, not logistic: the linear counterpart for a numeric target
        "ridge_regression": lambda: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        "gradient_boosting": lambda: HistGradientBoostingRegressor(random_state=seed),
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    value = json_scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _undefined() -> Estimate:
    return Estimate(float("nan"), float("nan"), float("nan"))


@dataclass(frozen=True)
class ClassificationFigures:
    """Scores of one classifier on one test table.

    roc_auc in [0, 1] (0.5 = chance, 1 = perfect; NaN when the test rows hold one class), accuracy and
    macro_f1 in [0, 1] (higher is better). `labels` name the rows/columns of `confusion_matrix`
    (rows = true class, columns = predicted).
    """

    roc_auc: Estimate
    accuracy: Estimate
    macro_f1: float
    report: dict[str, Any]
    confusion_matrix: list[list[int]]
    labels: list[Any]

    @property
    def primary(self) -> Estimate:
        return self.roc_auc

    def to_dict(self) -> dict[str, Any]:
        return _plain(
            {
                "roc_auc": self.roc_auc.to_dict(),
                "accuracy": self.accuracy.to_dict(),
                "macro_f1": self.macro_f1,
                "report": self.report,
                "confusion_matrix": self.confusion_matrix,
                "labels": self.labels,
            }
        )


@dataclass(frozen=True)
class RegressionFigures:
    """Scores of one regressor on one test table: MAE >= 0 (lower is better, in target units) and
    R^2 <= 1 (1 = perfect, 0 = no better than the test mean, negative = worse)."""

    mae: float
    r2: Estimate

    @property
    def primary(self) -> Estimate:
        return self.r2

    def to_dict(self) -> dict[str, Any]:
        return _plain({"mae": self.mae, "r2": self.r2.to_dict()})


Figures = ClassificationFigures | RegressionFigures


@dataclass(frozen=True)
class ScenarioResult:
    """One model in one scenario: its figures, or why it could not be trained."""

    model: str
    scenario: Scenario
    train_rows: int
    test_rows: int
    figures: Figures | None
    unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "scenario": self.scenario,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "figures": self.figures.to_dict() if self.figures is not None else None,
            "unavailable": self.unavailable,
        }


@dataclass(frozen=True)
class UtilitySummary:
    """The primary metric (ROC AUC or R^2) boiled down.

    tstr_to_trtr: per model, TSTR / TRTR (1 = synthetic data trains as good a model as real data; None when
    TSTR is unavailable or TRTR is not positive). augmentation_gain: per model, augmented - TRTR (> 0 =
    adding synthetic rows helps). best_model: the model with the highest TSTR, with its TSTR and TRTR.
    """

    metric: str
    tstr_to_trtr: dict[str, float | None]
    augmentation_gain: dict[str, float | None]
    best_model: str | None
    best_tstr: float | None
    best_trtr: float | None

    def to_dict(self) -> dict[str, Any]:
        return _plain(
            {
                "metric": self.metric,
                "tstr_to_trtr": self.tstr_to_trtr,
                "augmentation_gain": self.augmentation_gain,
                "best_model": self.best_model,
                "best_tstr": self.best_tstr,
                "best_trtr": self.best_trtr,
            }
        )


@dataclass(frozen=True)
class UtilityResult:
    """Every model in every scenario for one target, with the rows dropped and classes absent per table."""

    target: str
    task: Task
    classes: list[Any] | None
    dropped_rows: dict[str, int]
    absent_classes: dict[str, list[Any]]
    results: tuple[ScenarioResult, ...]
    summary: UtilitySummary

    def get(self, model: str, scenario: Scenario) -> ScenarioResult:
        """The result of `model` in `scenario` (KeyError when there is none)."""
        for result in self.results:
            if result.model == model and result.scenario == scenario:
                return result
        raise KeyError((model, scenario))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(result.model for result in self.results))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "classes": _plain(self.classes),
            "dropped_rows": dict(self.dropped_rows),
            "absent_classes": _plain(self.absent_classes),
            "results": [result.to_dict() for result in self.results],
            "summary": self.summary.to_dict(),
        }


def _sorted_classes(values: list[Any], declared: tuple[Any, ...] | None) -> list[Any]:
    """Declared categories first, in the schema's order; else sorted, so the second of two is the positive one."""
    try:
        found = sorted(values)
    except TypeError:
        found = sorted(values, key=str)
    if declared is None:
        return found
    order = [value for value in declared if value in set(found)]
    return order + [value for value in found if value not in set(order)]


def _macro_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """One-vs-rest ROC AUC averaged over the classes present in `labels` (a class never seen has no AUC)."""
    present = np.unique(labels)
    if len(present) < 2:
        return float("nan")
    return float(np.mean([rank_auc(labels == code, probabilities[:, code]) for code in present]))


def _classification_figures(
    model: BaseEstimator, features: np.ndarray, labels: np.ndarray, classes: list[Any], seed: int
) -> ClassificationFigures:
    known = np.asarray(model.classes_, dtype=int)
    # a model trained without some class never predicts it: that class's probability column is 0
    probabilities = np.zeros((len(labels), len(classes)))
    probabilities[:, known] = model.predict_proba(features)
    predicted = known[np.argmax(probabilities[:, known], axis=1)]
    codes = list(range(len(classes)))
    if len(np.unique(labels)) < 2:
        auc = _undefined()
    elif len(classes) == 2:
        auc = bootstrap(rank_auc, labels, probabilities[:, 1], seed=seed)
    else:
        auc = bootstrap(_macro_auc, labels, probabilities, seed=seed)
    names = [str(value) for value in classes]
    return ClassificationFigures(
        roc_auc=auc,
        accuracy=wilson_interval(int(np.sum(predicted == labels)), len(labels)),
        macro_f1=float(f1_score(labels, predicted, labels=codes, average="macro", zero_division=0)),
        report=_plain(
            classification_report(
                labels, predicted, labels=codes, target_names=names, output_dict=True, zero_division=0
            )
        ),
        confusion_matrix=confusion_matrix(labels, predicted, labels=codes).tolist(),
        labels=_plain(classes),
    )


def _regression_figures(model: BaseEstimator, features: np.ndarray, target: np.ndarray, seed: int) -> RegressionFigures:
    predicted = model.predict(features)
    if len(target) < 2:
        return RegressionFigures(mae=float(mean_absolute_error(target, predicted)), r2=_undefined())
    # bootstrap() stratifies on label == 1; all-zero labels make it a plain row bootstrap over (truth, prediction)
    pairs = np.column_stack([target, predicted])
    r2 = bootstrap(lambda _, rows: r2_score(rows[:, 0], rows[:, 1]), np.zeros(len(target)), pairs, seed=seed)
    return RegressionFigures(mae=float(mean_absolute_error(target, predicted)), r2=r2)


def _check_target(tables: EvaluationTables, target: str) -> ColumnKind:
    if target not in tables.train.columns:
        if target in tables.schema and tables.schema[target].kind in EXCLUDED_KINDS:
            problem = f"the target is left out of modelling (kind {tables.schema[target].kind.value})"
        else:
            problem = "the target is not a column of the tables"
        raise DataError(
            problem,
            column=target,
            values=[target],
            remedy=f"choose one of: {', '.join(map(str, tables.train.columns))}",
        )
    kind = tables.schema[target].kind
    if kind not in CLASSIFICATION_KINDS + REGRESSION_KINDS:
        raise DataError(
            f"a {kind.value} target cannot be predicted by the utility models",
            column=target,
            remedy="choose a binary, categorical, count or continuous column",
        )
    if len(tables.layout.spans) == sum(span.column == target for span in tables.layout.spans):
        raise DataError("the target is the only column: there are no features", column=target)
    return kind


def utility(tables: EvaluationTables, target: str, seed: int = 0) -> UtilityResult:
    """Train-on-synthetic / train-on-real comparison for `target` (see the module docstring).

    Classification for binary and categorical targets (primary metric ROC AUC, 0.5 = chance, 1 = perfect),
    regression for count and continuous targets (primary metric R^2, 1 = perfect). Rows with a missing
    target are dropped and counted. A synthetic table with a single target class cannot train a classifier:
    TSTR is then recorded as unavailable, not raised.

    >>> import numpy as np, pandas as pd
    >>> from synthmed.evaluate.encoding import prepare_tables
    >>> rng = np.random.default_rng(0)
    >>> def table(n):
    ...     x = rng.normal(size=n)
    ...     return pd.DataFrame({"x": x, "y": x + rng.normal(scale=0.5, size=n) > 0})
    >>> result = utility(prepare_tables(table(150), table(150), table(150)), "y")
    >>> result.summary.tstr_to_trtr["random_forest"] > 0.9
    True
    """
    kind = _check_target(tables, target)
    task: Task = "classification" if kind in CLASSIFICATION_KINDS else "regression"
    keep = np.array([span.column != target for span in tables.layout.spans])
    feature_dims = np.concatenate(
        [np.arange(span.start, span.stop) for span, kept in zip(tables.layout.spans, keep, strict=True) if kept]
    )
    frames = {"train": tables.train, "holdout": tables.holdout, "synthetic": tables.synthetic}
    matrices = {
        "train": tables.train_matrix,
        "holdout": tables.holdout_matrix,
        "synthetic": tables.synthetic_matrix,
    }
    present = {name: frame[target].notna().to_numpy() for name, frame in frames.items()}
    dropped_rows = {name: int((~mask).sum()) for name, mask in present.items()}
    features = {name: matrices[name][present[name]][:, feature_dims] for name in frames}
    values = {name: frames[name][target][present[name]] for name in frames}

    classes: list[Any] | None = None
    absent_classes: dict[str, list[Any]] = {}
    if task == "classification":
        distinct = pd.unique(pd.concat(list(values.values()), ignore_index=True).astype(object))
        classes = _sorted_classes([json_scalar(value) for value in distinct], tables.schema[target].categories)
        code_of = {value: code for code, value in enumerate(classes)}
        labels = {
            name: np.array([code_of[json_scalar(v)] for v in series], dtype=int) for name, series in values.items()
        }
        if len(np.unique(labels["train"])) < 2:
            raise DataError(
                "the target has fewer than two classes in TRAIN, so no classifier can be trained",
                column=target,
                values=values["train"].unique(),
                remedy="choose a target with at least two classes",
            )
        for name, codes in labels.items():
            missing = [classes[code] for code in range(len(classes)) if code not in set(codes.tolist())]
            if missing:
                absent_classes[name] = missing
    else:
        labels = {name: series.to_numpy(dtype=float) for name, series in values.items()}
    kept = at_most(len(labels["synthetic"]), len(labels["train"]), np.random.default_rng(seed))
    features["synthetic"], labels["synthetic"] = features["synthetic"][kept], labels["synthetic"][kept]

    plans: dict[Scenario, tuple[str, str]] = {
        "trtr": ("train", "holdout"),
        "tstr": ("synthetic", "holdout"),
        "trts": ("train", "synthetic"),
        "augmented": ("train+synthetic", "holdout"),
    }
    features["train+synthetic"] = np.vstack([features["train"], features["synthetic"]])
    labels["train+synthetic"] = np.concatenate([labels["train"], labels["synthetic"]])

    results: list[ScenarioResult] = []
    # One OpenMP thread: evaluation tables are small, and gradient boosting's spin-waiting threads slow its
    # fit and predict many times over on shared or busy cores (its results do not depend on the thread count).
    with threadpool_limits(limits=1, user_api="openmp"):
        for model_name, make_model in _model_factories(task, seed).items():
            fitted: dict[str, BaseEstimator] = {}
            for scenario in SCENARIOS:
                source, test = plans[scenario]
                x_train, y_train = features[source], labels[source]
                x_test, y_test = features[test], labels[test]
                reason = None
                if len(y_train) == 0:
                    reason = f"the {source} table has no rows with a target value"
                elif len(y_test) == 0:
                    reason = f"the {test} table has no rows with a target value"
                elif task == "classification" and len(np.unique(y_train)) < 2:
                    reason = f"the {source} table has a single target class ({classes[int(y_train[0])]!r})"
                if reason is not None:
                    results.append(ScenarioResult(model_name, scenario, len(y_train), len(y_test), None, reason))
                    continue
                if source not in fitted:  # TRTR and TRTS share the model trained on TRAIN
                    fitted[source] = make_model().fit(x_train, y_train)
                model = fitted[source]
                figures: Figures = (
                    _classification_figures(model, x_test, y_test, classes, seed)
                    if task == "classification"
                    else _regression_figures(model, x_test, y_test, seed)
                )
                results.append(ScenarioResult(model_name, scenario, len(y_train), len(y_test), figures))

    return UtilityResult(
        target=target,
        task=task,
        classes=classes,
        dropped_rows=dropped_rows,
        absent_classes=absent_classes,
        results=tuple(results),
        summary=_summarise(task, results),
    )


def _summarise(task: Task, results: list[ScenarioResult]) -> UtilitySummary:
    primary: dict[tuple[str, str], float | None] = {}
    for result in results:
        value = result.figures.primary.value if result.figures is not None else None
        primary[result.model, result.scenario] = value if value is not None and math.isfinite(value) else None
    models = list(dict.fromkeys(result.model for result in results))
    ratio: dict[str, float | None] = {}
    gain: dict[str, float | None] = {}
    for model in models:
        trtr, tstr, augmented = (primary.get((model, s)) for s in ("trtr", "tstr", "augmented"))
        ratio[model] = tstr / trtr if tstr is not None and trtr is not None and trtr > 0 else None
        gain[model] = augmented - trtr if augmented is not None and trtr is not None else None
    candidates = [model for model in models if primary.get((model, "tstr")) is not None]
    best = max(candidates, key=lambda model: primary[model, "tstr"]) if candidates else None
    return UtilitySummary(
        metric=PRIMARY_METRIC[task],
        tstr_to_trtr=ratio,
        augmentation_gain=gain,
        best_model=best,
        best_tstr=primary[best, "tstr"] if best is not None else None,
        best_trtr=primary.get((best, "trtr")) if best is not None else None,
    )
