"""One suite over every model that trains privately, as the common model suite is over every model.

Each model fits once under DP on a table whose domains are all declared; the suite checks the accounting (the
budget is spent and no more, every planned step is taken and none beyond the plan), what the artifact records,
and that the result is the recorded fingerprint (tests/models/test_fingerprints.py).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

import synthmed
from synthmed.errors import ConfigError
from synthmed.models import MODELS, Synthesizer
from synthmed.models.dp import PrivacyPlan, PrivateTraining, epsilon_of, stored_composition
from tests.models.test_fingerprints import DP_EPSILON, FAST, PRIVATE_MODELS, _public, fingerprint, fit_case, recorded


def test_the_suite_covers_every_model_of_tables_that_trains_privately() -> None:
    """Models of tables; visitgpt's private training (per patient, on histories) is tested in test_visitgpt.py."""
    private = {name for name, model in MODELS.items() if model.trains_privately() and model.data_kind() == "table"}
    assert private == set(PRIVATE_MODELS)


@pytest.fixture(scope="module", params=PRIVATE_MODELS)
def private_model(request: pytest.FixtureRequest) -> Synthesizer:
    return fit_case(f"{request.param}/dp")


def test_the_budget_is_spent_and_no_more(private_model: Synthesizer) -> None:
    spent = private_model.privacy_
    assert spent["target_epsilon"] == DP_EPSILON
    assert 0.98 * DP_EPSILON <= spent["epsilon"] <= DP_EPSILON
    assert epsilon_of(stored_composition(spent), spent["delta"]) == spent["epsilon"]  # recomputable from the record


def test_every_planned_step_is_taken(private_model: Synthesizer) -> None:
    table, _ = _public()
    data = torch.as_tensor(private_model.transformer_.transform(table), dtype=torch.float32)
    plan = private_model._privacy_plan(data)
    assert {name: phase["steps"] for name, phase in private_model.privacy_["phases"].items()} == {
        name: phase.steps for name, phase in plan.phases.items()
    }
    assert private_model.privacy_["adaptations"] == plan.adaptations


def test_the_artifact_records_the_accounting_and_the_adaptations(private_model: Synthesizer, tmp_path: Path) -> None:
    path = private_model.save(tmp_path / "private.smg")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
    assert meta["privacy"] == json.loads(json.dumps(private_model.privacy_))
    assert meta["privacy"]["adaptations"] == private_model.privacy_["adaptations"]
    assert meta["data"]["rows"] is None  # the row count is private too
    logged = {key for records in meta["history"].values() for record in records for key in record}
    assert "epsilon" in logged and not logged & {"reconstruction", "critic_loss", "kl", "critic"}  # no real-data loss
    loaded = synthmed.load(path)
    assert loaded.privacy_ == meta["privacy"] and fingerprint(loaded) == fingerprint(private_model)


def test_the_result_is_the_recorded_fingerprint(private_model: Synthesizer) -> None:
    assert fingerprint(private_model) == recorded(f"{private_model.name}/dp")


@pytest.mark.parametrize("name", PRIVATE_MODELS)
def test_no_step_is_taken_past_the_plan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan one step short of what the loop takes stops training: the loop cannot spend unaccounted steps."""
    model_class = MODELS[name]
    planned = model_class._privacy_plan

    def short(self: Synthesizer, data: torch.Tensor) -> PrivacyPlan:
        plan = planned(self, data)
        last = list(plan.phases)[-1]
        phase = plan.phases[last]
        return PrivacyPlan({**plan.phases, last: type(phase)(phase.batch_size, phase.steps - 1)}, plan.adaptations)

    monkeypatch.setattr(model_class, "_privacy_plan", short)
    monkeypatch.setattr(PrivateTraining, "_calibrate", lambda self, target: 1.0)  # accounting, not calibration
    table, schema = _public()
    with pytest.raises(ConfigError, match="beyond its planned budget"):
        model_class(**FAST[name], seed=0).fit(table, schema=schema, progress=False, dp_epsilon=DP_EPSILON)
