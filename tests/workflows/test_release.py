"""The release gate: data and a model card when privacy passes, only the report when it does not, never a half."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data.schema import Schema
from synthmed.errors import ConfigError, OutputError
from synthmed.evaluate.policy import Verdict
from synthmed.models import VAE
from synthmed.workflows import release as gate
from synthmed.workflows.release import release

ROWS = 600


def patients(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """Independent draws from one population: a fresh sample is as far from TRAIN as HOLDOUT is."""
    rng = np.random.default_rng(seed)
    age = rng.normal(55, 12, rows).round(2)
    return pd.DataFrame(
        {
            "age": age,
            "sbp": (110 + 0.5 * age + rng.normal(0, 10, rows)).round(2),
            "sex": rng.choice(["F", "M"], rows),
            "smoker": (rng.random(rows) < 0.3).astype(int),
        }
    )


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return patients(0), patients(1)


def test_a_fresh_sample_is_released_with_its_card(tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    train, holdout = tables
    outcome = release(patients(2), train, holdout, tmp_path / "out", target="smoker")
    assert outcome.released and outcome.privacy_verdict is Verdict.PASS
    files = {path.name for path in (tmp_path / "out").iterdir()}
    assert files == {"synthetic.csv", "report.html", "evaluation.json", "MODEL_CARD.md", "model_card.json"}
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "synthetic.csv"), patients(2))
    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    assert card["training_data"]["rows"] == ROWS and card["training_data"]["names"] == list(train.columns)
    assert card["evaluation"]["privacy"]["verdict"] == "pass" and card["generator"] is None
    text = (tmp_path / "out" / "MODEL_CARD.md").read_text() + json.dumps(card)
    assert not any(str(value) in text for value in train["age"].head(20))  # a fingerprint, never values
    assert "Intended use" in text and "## Evaluation" in text
    assert not list(tmp_path.glob(".out.partial-*"))


def test_planted_copies_are_refused_with_only_the_report(
    tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = tables
    copies = train.sample(ROWS, replace=True, random_state=0).reset_index(drop=True)
    outcome = release(copies, train, holdout, tmp_path / "out")
    assert not outcome.released and outcome.privacy_verdict is Verdict.FAIL
    assert {path.name for path in (tmp_path / "out").iterdir()} == {"report.html", "evaluation.json"}
    assert any(check.verdict is Verdict.FAIL for check in outcome.blocking)
    lines = gate.describe(outcome)
    assert lines[0].startswith("release refused: privacy verdict FAIL") and "exact copies" in "\n".join(lines)


def test_a_crash_leaves_no_partial_release(
    tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, holdout = tables

    def crash(*_: object, **__: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(gate, "card_markdown", crash)
    with pytest.raises(OutputError, match="disk full"):
        release(patients(2), train, holdout, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_generator_release_carries_its_model_and_privacy_budget(
    tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = tables
    schema = Schema.from_dict(
        {
            "columns": {
                "age": {"kind": "continuous", "min": 0, "max": 120},
                "sbp": {"kind": "continuous", "min": 50, "max": 250},
                "sex": {"kind": "categorical", "categories": ["F", "M"]},
            }
        }
    )
    model = VAE(epochs=2, hidden_dims=(16,), latent_dim=4, seed=0).fit(
        train, schema=schema, progress=False, dp_epsilon=5.0
    )
    path = model.save(tmp_path / "model.smg")
    outcome = release(patients(2), train, holdout, tmp_path / "out", generator=path, include_generator=True)
    assert outcome.released  # the same fresh sample as above; the card now describes the generator and its budget
    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    assert card["generator"]["model"] == "vae" and card["generator"]["seed"] == 0
    assert 4.9 < card["differential_privacy"]["epsilon"] <= 5.0
    assert (tmp_path / "out" / "generator.smg").read_bytes() == path.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        release(patients(2), train, holdout, tmp_path / "out")
    with pytest.raises(ConfigError, match="no generator to include"):
        release(patients(2), train, holdout, tmp_path / "other", include_generator=True)


def test_small_classes_are_replaced_by_new_rows_or_dropped() -> None:
    table = pd.DataFrame({"sex": ["F"] * 6 + ["M"] * 2, "ward": ["a"] * 6 + ["b"] * 2, "x": range(8)})
    kept, replaced, dropped = gate.make_k_anonymous(table, ["sex", "ward"], 3, None)  # nothing to draw from
    assert (replaced, dropped) == (0, 2) and kept["sex"].tolist() == ["F"] * 6
    rounds = []

    def generate(rows: int, round_: int) -> pd.DataFrame:
        rounds.append((rows, round_))
        ward = "b" if round_ == 0 else "a"  # the first draw lands in a small class again, the second does not
        return pd.DataFrame({"sex": ["M" if round_ == 0 else "F"] * rows, "ward": [ward] * rows, "x": [-1] * rows})

    kept, replaced, dropped = gate.make_k_anonymous(table, ["sex", "ward"], 3, generate)
    assert rounds == [(2, 0), (2, 1)] and (replaced, dropped) == (2, 0)
    assert len(kept) == 8 and kept.groupby(["sex", "ward"]).size().min() >= 3
    with pytest.raises(ConfigError, match="quasi-identifiers among the synthetic columns"):
        gate.make_k_anonymous(table, ["zip"], 3, None)


def test_a_k_anonymous_release_counts_its_changes_on_the_card(
    tables: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, holdout = tables
    rare = patients(3, rows=3).assign(sex="X")  # a class of three rows, after the fresh sample released above
    synthetic = pd.concat([patients(2), rare], ignore_index=True)
    outcome = release(synthetic, train, holdout, tmp_path / "out", k_anonymity=(["sex", "smoker"], 5))
    assert outcome.released and (outcome.replaced, outcome.dropped) == (0, 3)
    released = pd.read_csv(tmp_path / "out" / "synthetic.csv")
    pd.testing.assert_frame_equal(released, patients(2))  # exactly the three rows of the small class went
    assert released.groupby(["sex", "smoker"]).size().min() >= 5
    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    assert card["k_anonymity"] == {"k": 5, "quasi_identifiers": ["sex", "smoker"], "replaced": 0, "dropped": 3}
    assert (
        "5-anonymous on sex, smoker: 0 rows replaced by newly generated ones, 3 dropped"
        in (tmp_path / "out" / "MODEL_CARD.md").read_text()
    )


def test_the_holdout_is_seeded_and_stratified_on_the_target() -> None:
    table = pd.DataFrame({"x": np.arange(200), "outcome": ["rare"] * 20 + ["common"] * 180})
    train, holdout = gate.split_holdout(table, 0.25, target="outcome", seed=3)
    assert len(holdout) == 50 and (holdout["outcome"] == "rare").sum() == 5  # a quarter of each outcome
    assert set(train["x"]).isdisjoint(holdout["x"]) and len(train) + len(holdout) == 200
    again, _ = gate.split_holdout(table, 0.25, target="outcome", seed=3)
    assert again.equals(train)
    for share, message in ((0.0, "between 0 and 1"), (0.001, "leaves no rows")):
        with pytest.raises(ConfigError, match=message):
            gate.split_holdout(table, share)
    with pytest.raises(ConfigError, match="not a column"):
        gate.split_holdout(table, 0.2, target="death")


def test_a_raw_table_is_split_fitted_and_vetted_in_one_call(tmp_path: Path) -> None:
    table = patients(2, 300).assign(outcome=lambda t: np.where(t["age"] > 55, "yes", "no"))
    fast = {"epochs": 3, "batch_size": 40, "generator_dims": [16], "critic_dims": [16], "max_modes": 2}
    outcome = gate.release_table(
        table, tmp_path / "release", target="outcome", settings=fast, seed=0, include_generator=True, progress=False
    )
    files = {path.name for path in (tmp_path / "release").iterdir()}
    assert gate.REPORT_FILE in files and (gate.SYNTHETIC_FILE in files) == outcome.released
    assert (gate.GENERATOR_FILE in files) == outcome.released
    assert sorted(path.name for path in tmp_path.iterdir()) == ["release"]  # no scratch generator left behind
    report = json.loads((tmp_path / "release" / gate.EVALUATION_FILE).read_text())
    gate.release_table(
        table, tmp_path / "again", target="outcome", settings=fast, seed=0, include_generator=True, progress=False
    )
    repeated = json.loads((tmp_path / "again" / gate.EVALUATION_FILE).read_text())
    assert {**repeated["about"], "seconds": 0} == {**report["about"], "seconds": 0}  # the seed fixes the release
    for document in (report, repeated):  # timings aside
        document["privacy"].get("shadow_membership", {}).pop("seconds", None)
    assert repeated["fidelity"] == report["fidelity"] and repeated["privacy"] == report["privacy"]
    assert report["about"]["rows"]["holdout"] == round(0.2 * (table["outcome"] == "yes").sum()) + round(
        0.2 * (table["outcome"] == "no").sum()
    )
