"""The calibration cases that pin what the verdicts mean, on real data, through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synthmed.cli import app
from synthmed.data import Schema, read_table
from synthmed.data.ehr import code_matrix, read_events
from synthmed.evaluate.evaluation import Evaluation, evaluate
from synthmed.evaluate.policy import Verdict
from tests.conftest import shared_file

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cleveland() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = read_table(shared_file("heart-cleveland", "processed.cleveland.csv"), na_values=["?"])
    table["disease"] = (table.pop("num") > 0).astype(int)
    shuffled = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    half = len(shuffled) // 2
    return shuffled.iloc[:half].reset_index(drop=True), shuffled.iloc[half:].reset_index(drop=True)


@pytest.fixture(scope="module")
def copy_of_train(cleveland: tuple[pd.DataFrame, pd.DataFrame]) -> Evaluation:
    train, holdout = cleveland
    return evaluate(train, holdout, train.copy(), target="disease")


@pytest.fixture(scope="module")
def holdout_itself(cleveland: tuple[pd.DataFrame, pd.DataFrame]) -> Evaluation:
    train, holdout = cleveland
    return evaluate(train, holdout, holdout.copy(), target="disease")


@pytest.fixture(scope="module")
def shuffled_columns(cleveland: tuple[pd.DataFrame, pd.DataFrame]) -> Evaluation:
    train, holdout = cleveland
    rng = np.random.default_rng(0)
    synthetic = pd.DataFrame({name: rng.permutation(train[name].to_numpy()) for name in train.columns})
    return evaluate(train, holdout, synthetic, target="disease")


def membership_aucs(result: Evaluation) -> list[float]:
    return [attack["auc"]["value"] for attack in result.to_dict()["privacy"]["membership_inference"]]


def test_a_copy_of_train_fails_privacy(copy_of_train: Evaluation) -> None:
    figures = copy_of_train.to_dict()["privacy"]
    assert copy_of_train.privacy.verdict is Verdict.FAIL
    assert figures["exact_copies"]["synthetic_in_train"]["value"] > 0.99
    assert max(membership_aucs(copy_of_train)) > 0.95
    checks = {check.name: check.verdict for check in copy_of_train.privacy.checks}
    assert checks["singling out"] is checks["linkability"] is Verdict.FAIL
    risks = {risk["name"]: risk for risk in figures["disclosure_risks"]}
    assert risks["linkability"]["risk"]["ci_low"] > 0.5 and risks["linkability"]["beats_baseline"]


def test_holdout_itself_passes_privacy_and_fidelity(holdout_itself: Evaluation) -> None:
    assert holdout_itself.privacy.verdict in (Verdict.PASS, Verdict.INCONCLUSIVE)
    assert max(membership_aucs(holdout_itself)) < 0.65
    checks = {check.name: check.verdict for check in holdout_itself.privacy.checks}
    assert checks["singling out"] is checks["linkability"] is checks["attribute inference"] is Verdict.PASS
    assert holdout_itself.fidelity.verdict is Verdict.PASS
    assert holdout_itself.utility.verdict is Verdict.PASS


def test_shuffled_columns_keep_marginals_but_lose_structure(
    shuffled_columns: Evaluation, holdout_itself: Evaluation
) -> None:
    shuffled, reference = shuffled_columns.to_dict()["fidelity"], holdout_itself.to_dict()["fidelity"]
    assert shuffled["column_shapes"]["mean"] > 0.99  # identical marginals
    assert (
        shuffled["correlation"]["mean_absolute_difference"] > 2 * reference["correlation"]["mean_absolute_difference"]
    )
    assert shuffled["detection"]["auc"]["ci_low"] > reference["detection"]["auc"]["value"]
    assert shuffled_columns.fidelity.verdict in (Verdict.WARN, Verdict.FAIL)
    assert shuffled_columns.utility.verdict is Verdict.FAIL  # the outcome no longer follows the features


def test_every_number_is_json_with_the_three_verdicts(copy_of_train: Evaluation) -> None:
    document = json.loads(json.dumps(copy_of_train.to_dict(), allow_nan=False))
    for area in ("fidelity", "utility", "privacy"):
        assert document[area]["verdict"] in {"pass", "warn", "fail", "inconclusive"}
        assert document[area]["checks"]


def test_cli_evaluates_cleveland_and_the_mimic_code_matrix(
    cleveland: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = cleveland
    paths = {}
    for name, table in (("train", train), ("holdout", holdout), ("synthetic", holdout)):
        paths[name] = tmp_path / f"{name}.csv"
        table.to_csv(paths[name], index=False)
    runner = CliRunner()
    out = tmp_path / "metrics.json"
    arguments = [f"--{name}={path}" for name, path in paths.items()]
    report = tmp_path / "report.html"
    options = ["--target", "disease", "--json", str(out), "-o", str(report), "--quasi-identifiers", "age,sex"]
    result = runner.invoke(app, ["evaluate", *arguments, *options])
    assert result.exit_code == 0, result.output
    assert report.read_text().count("data:image/png;base64,") >= 3
    document = json.loads(out.read_text())
    assert {"fidelity", "utility", "privacy"} <= set(document)
    assert document["privacy"]["k_anonymity"]["smallest_class"] >= 1
    assert "privacy" in result.stdout and "fidelity" in result.stdout

    matrix = code_matrix(read_events(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv"))).reset_index(drop=True)
    for name, part in (("train", matrix.iloc[:50]), ("holdout", matrix.iloc[50:]), ("synthetic", matrix.iloc[:50])):
        part.to_parquet(tmp_path / f"{name}.parquet")
    arguments = [f"--{name}={tmp_path / f'{name}.parquet'}" for name in ("train", "holdout", "synthetic")]
    result = runner.invoke(app, ["evaluate", *arguments, "--json", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["privacy"]["verdict"] == "fail"  # the "synthetic" data is TRAIN itself
    assert document["fidelity"]["dimension_wise_probability"]["r_squared"] == pytest.approx(1.0)
    assert document["privacy"]["distance_to_closest_record"]["metric"] == "hamming"


def test_quasi_identifiers_marked_in_the_schema_are_judged(cleveland: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = cleveland
    schema = Schema.from_dict(
        {
            "columns": {
                "age": {"kind": "count", "quasi_identifier": True},
                "sex": {"kind": "binary", "quasi_identifier": True},
            }
        }
    )
    assert schema.quasi_identifiers == ["age", "sex"]
    figures = evaluate(train, holdout, holdout.copy(), schema=schema).to_dict()["privacy"]
    assert figures["k_anonymity"]["quasi_identifiers"] == ["age", "sex"]
    assert figures["k_anonymity"]["smallest_class"] >= 1


def test_a_purely_numeric_table_is_evaluated_without_attribute_disclosure() -> None:
    rng = np.random.default_rng(0)

    def measurements(n: int) -> pd.DataFrame:
        return pd.DataFrame({"glucose": rng.normal(100, 15, n), "bmi": rng.normal(27, 4, n), "age": rng.gamma(9, 5, n)})

    result = evaluate(measurements(200), measurements(200), measurements(200), seed=0)
    figures = result.to_dict()["privacy"]
    assert figures["attribute_disclosure"] == []
    assert figures["membership_inference"] and "distance_to_closest_record" in figures
