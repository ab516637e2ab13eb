"""What `evaluate` and `release` accept: only TRAIN's modelled columns, no rare training category, usable tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.errors import DataError
from synthmed.evaluate.evaluation import evaluate
from synthmed.evaluate.policy import Policy, PrivacyPolicy, Verdict
from synthmed.models import VAE
from synthmed.workflows.release import release

ROWS = 600


def patients(seed: int, rare: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{seed}-{i:04d}" for i in range(ROWS)],
            "age": rng.normal(55, 12, ROWS).round(2),
            "sbp": rng.normal(130, 15, ROWS).round(2),
            "ward": rng.choice(["icu", "er", "gp"], ROWS).astype(object),
        }
    )
    if rare:
        frame.loc[:2, "ward"] = ["burns unit", "transplant", "transplant"]
    return frame


def check(evaluation: object, name: str) -> tuple[str, str]:
    found = [c for c in evaluation.privacy.checks if c.name == name]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0].verdict, found[0].reason


def test_columns_the_generator_cannot_have_made_are_refused() -> None:
    train, holdout = patients(0), patients(1)
    named = patients(2).drop(columns="patient_id").assign(patient_name=[f"Name {i}" for i in range(ROWS)])
    with pytest.raises(DataError, match=r"'patient_name'.*synthetic table holds 1 column.*TRAIN has none"):
        evaluate(train, holdout, named)
    with pytest.raises(DataError, match=r"'patient_id'.*identifier or free-text columns of TRAIN"):
        evaluate(train, holdout, patients(2))  # the real identifiers, shipped beside generated rows
    assert evaluate(train, holdout, patients(2).drop(columns="patient_id")).privacy.verdict is not None


def test_unusable_holdout_and_synthetic_tables_are_named() -> None:
    train = patients(0)
    with pytest.raises(DataError, match="^The holdout table: the table is empty"):
        evaluate(train, patients(1).iloc[:0], patients(2).drop(columns="patient_id"))
    broken = patients(2).drop(columns="patient_id").astype({"age": object})
    broken.loc[:40, "age"] = "unknown"
    with pytest.raises(DataError, match="^Column 'age' of the synthetic table: a numeric column holds stray"):
        evaluate(train, patients(1), broken)


def test_a_holdout_column_without_any_value_is_a_column_not_a_missing_one() -> None:
    train, synthetic = patients(0), patients(2).drop(columns="patient_id")
    empty = patients(1).assign(sbp=np.nan)  # a small holdout can lack every value of a column
    assert evaluate(train, empty, synthetic).fidelity.verdict is not None
    with pytest.raises(DataError, match="the holdout table lacks columns of the training table"):
        evaluate(train, patients(1).drop(columns="sbp"), synthetic)


def test_a_rare_training_category_in_the_synthetic_data_fails_privacy() -> None:
    train, holdout = patients(0, rare=True), patients(1)
    leaking = patients(2).drop(columns="patient_id")
    leaking.loc[10, "ward"] = "burns unit"  # held by one training patient
    result = evaluate(train, holdout, leaking)
    verdict, reason = check(result, "rare categories")
    assert verdict is Verdict.FAIL and result.privacy.verdict is Verdict.FAIL
    assert "1 synthetic rows" in reason and "'ward'" in reason and "rare: merge" in reason
    figures = result.to_dict()["privacy"]["rare_categories"]
    assert figures == {"ward": {"rare_categories": 2, "appearing": 1, "synthetic_rows": 1}}
    assert "burns" not in json.dumps(result.to_dict())  # the report counts rare values, never shows them
    clean = evaluate(train, holdout, patients(2).drop(columns="patient_id"))
    assert check(clean, "rare categories")[0] is Verdict.PASS
    lenient = Policy(privacy=PrivacyPolicy(rare_category_min_count=1))
    assert check(evaluate(train, holdout, leaking, policy=lenient), "rare categories")[0] is Verdict.PASS


def test_a_generator_holding_rare_categories_is_not_released(tmp_path: Path) -> None:
    train, holdout = patients(0, rare=True), patients(1)
    model = VAE(epochs=2, batch_size=50, seed=0).fit(train, progress=False)
    path = model.save(tmp_path / "model.smg")
    fresh = patients(2).drop(columns="patient_id")
    outcome = release(fresh, train, holdout, tmp_path / "with", generator=path, include_generator=True)
    assert not outcome.released
    (blocking,) = [c for c in outcome.blocking if c.name == "rare categories in the generator"]
    assert "'ward'" in blocking.reason and "without --include-generator" in blocking.reason
    assert sorted(p.name for p in (tmp_path / "with").iterdir()) == ["evaluation.json", "report.html"]
    document = json.loads((tmp_path / "with" / "evaluation.json").read_text())
    assert document["privacy"]["verdict"] == "fail" and "transplant" not in json.dumps(document)
    without = release(fresh, train, holdout, tmp_path / "without", generator=path)
    assert all(c.name != "rare categories in the generator" for c in without.blocking)
