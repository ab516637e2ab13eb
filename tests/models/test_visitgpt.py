"""visitgpt learns whole histories: what it samples is well formed, in the training layout, reproducible from its
seed and its saved file, and it picks up structure the training histories hold (who gets which code, how many
visits, what follows what)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synthmed.data.histories import HistoryRoles, read_histories
from synthmed.data.history_tokens import HistoryParts
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.models.base import Synthesizer
from synthmed.models.dp import PrivateTraining, epsilon_of, stored_composition
from synthmed.models.training import TrainingRun
from synthmed.models.visitgpt import VisitGPT

SMALL = {"width": 32, "layers": 1, "heads": 2, "seed": 0}
ROLES = {"patient_column": "patient", "codes": ["diag_1", "diag_2"], "visit_column": "encounter", "time": "day"}


def structured_events(patients: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two visits per patient, 30 to 40 days apart. Women's first visit holds code A, men's B; the second
    visit's code follows the first (A -> C, B -> D); diag_2 is missing half the time."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        sex = "F" if patient % 2 else "M"
        first = "A" if sex == "F" else "B"
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
        for number, code in enumerate((first, {"A": "C", "B": "D"}[first])):
            day = start + pd.Timedelta(days=number * int(rng.integers(30, 41)))
            rows.append(
                {
                    "patient": patient,
                    "encounter": 10 * patient + number,
                    "day": str(day.date()),
                    "diag_1": code,
                    "diag_2": rng.choice(["X", None]),
                    "sex": sex,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trained() -> tuple[VisitGPT, pd.DataFrame]:
    events = structured_events()
    model = VisitGPT(epochs=60, batch_size=32, learning_rate=3e-3, **SMALL).fit(events, **ROLES, progress=False)
    return model, events


def test_samples_are_histories_in_the_training_layout(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, events = trained
    sample = model.sample(50)
    assert list(sample.columns) == list(events.columns)
    assert sample["patient"].nunique() == 50
    assert set(sample["diag_1"].dropna()) <= set(events["diag_1"])
    histories = read_histories(sample, HistoryRoles("patient", ("diag_1", "diag_2"), "encounter", "day"))
    assert histories.n_patients == 50


def test_it_learns_who_gets_which_code_and_what_follows(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, _ = trained
    sample = model.sample(200, seed=1)
    first = sample.sort_values(["patient", "day"]).groupby("patient").head(1)
    matches = (first["sex"].map({"F": "A", "M": "B"}) == first["diag_1"]).mean()
    assert matches > 0.9, matches
    second = sample.sort_values(["patient", "day"]).groupby("patient").nth(1)
    follows = (
        second["diag_1"].to_numpy()
        == first.set_index("patient").loc[second["patient"], "diag_1"].map({"A": "C", "B": "D"}).to_numpy()
    )
    assert follows.mean() > 0.8, follows.mean()
    visits = sample.groupby("patient").size()
    assert (visits == 2).mean() > 0.8, visits.value_counts()
    gaps = second["day"].to_numpy() - first.set_index("patient").loc[second["patient"], "day"].to_numpy()
    days = pd.to_timedelta(gaps).days
    assert 20 <= np.median(days) <= 50, days


def test_it_copies_a_diagnosis_that_recurs_in_the_next_visit() -> None:
    """The second visit repeats the first one's code, drawn from 30 (chance: 1 in 30), in the other code column."""
    rng = np.random.default_rng(0)
    rows = []
    for patient in range(300):
        code = f"C{rng.integers(30)}"
        rows += [
            {"patient": patient, "encounter": 2 * patient, "day": "2020-01-01", "diag_1": code, "diag_2": None},
            {"patient": patient, "encounter": 2 * patient + 1, "day": "2020-03-01", "diag_1": "Z", "diag_2": code},
        ]
    model = VisitGPT(epochs=30, batch_size=64, learning_rate=3e-3, **SMALL).fit(
        pd.DataFrame(rows), **ROLES, progress=False
    )
    sample = model.sample(200, seed=0).sort_values(["patient", "day"])
    first, second = sample.groupby("patient").nth(0), sample.groupby("patient").nth(1)
    repeated = first.set_index("patient").loc[second["patient"], "diag_1"].to_numpy() == second["diag_2"].to_numpy()
    assert repeated.mean() > 0.6, repeated.mean()  # chance: 1 in 30


def test_the_same_seed_gives_the_same_histories_and_file(tmp_path: Path) -> None:
    events = structured_events(40)
    first = VisitGPT(epochs=3, **SMALL).fit(events, **ROLES, progress=False)
    second = VisitGPT(epochs=3, **SMALL).fit(events, **ROLES, progress=False)
    pd.testing.assert_frame_equal(first.sample(30, seed=5), second.sample(30, seed=5))
    one, two = first.save(tmp_path / "a.zip"), second.save(tmp_path / "b.zip")
    assert one.read_bytes() == two.read_bytes()
    loaded = Synthesizer.load(one)
    pd.testing.assert_frame_equal(loaded.sample(30, seed=5), first.sample(30, seed=5))
    assert not first.sample(30, seed=5).equals(first.sample(30, seed=6))


def test_blocks_number_patients_and_visits_on(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, _ = trained
    table = pd.concat(list(model.sample_blocks(30, seed=2)))
    assert table["patient"].nunique() == table["patient"].max() == 30
    assert not table.duplicated(["encounter", "diag_1"]).any()


def test_conditions_and_proportions_fix_patient_attributes(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, _ = trained
    women = model.sample(60, seed=3, conditions={"sex": "F"})
    assert (women["sex"] == "F").all() and women["patient"].nunique() == 60
    first = women.sort_values(["patient", "day"]).groupby("patient").head(1)
    assert (first["diag_1"] == "A").mean() > 0.9  # the rest of the history follows the attribute
    mixed = model.sample(100, seed=3, proportions={"sex": {"F": 0.25, "M": 0.75}})
    assert mixed.groupby("patient")["sex"].first().value_counts().to_dict() == {"M": 75, "F": 25}
    with pytest.raises(ConfigError, match="patient attributes"):
        model.sample(5, conditions={"diag_1": "A"})
    with pytest.raises(ConfigError, match="do not hold"):
        model.sample(5, conditions={"sex": "X"})


def test_a_code_one_patient_holds_reaches_neither_the_file_nor_the_samples(tmp_path: Path) -> None:
    events = structured_events(60)
    events.loc[0, "diag_2"] = "SINGULAR"  # patient 0's first visit: a code no one else has
    events.loc[events["patient"] == 1, "sex"] = "unusual"  # a category one patient holds
    default = VisitGPT(epochs=2, **SMALL)
    with pytest.warns(SynthmedWarning, match="Only values at least 5 patients hold"):
        default.fit(events, **ROLES, progress=False)
    saved = default.save(tmp_path / "merged.zip")
    with zipfile.ZipFile(saved) as archive:
        meta = archive.read("model.json").decode()
    assert "SINGULAR" not in meta and "unusual" not in meta and "(other)" in meta
    sample = default.sample(300, seed=0)
    assert "SINGULAR" not in set(sample["diag_2"]) and "unusual" not in set(sample["sex"])
    kept = VisitGPT(epochs=2, **SMALL)
    with pytest.warns(SynthmedWarning, match="ship in the generator and can appear"):
        kept.fit(events, **ROLES, progress=False, rare_values="keep")
    assert ("diag_2", "SINGULAR") in kept.transformer_.vocabulary_
    with pytest.raises(ConfigError, match="rare values"):
        VisitGPT(epochs=1, **SMALL).fit(events, **ROLES, progress=False, rare_values="hide")


def test_bad_settings_are_refused_before_training() -> None:
    events = structured_events(20)
    with pytest.raises(ConfigError, match="multiple of heads"):
        VisitGPT(width=30, heads=4).fit(events, **ROLES, progress=False)
    with pytest.raises(ConfigError, match="held by several patients"):
        VisitGPT(epochs=1, **SMALL).fit(events, **ROLES, progress=False, dp_epsilon=1.0, rare_values="keep")
    with pytest.raises(ConfigError, match="validation_share must be below 0.5"):
        VisitGPT(validation_share=0.5).fit(events, **ROLES, progress=False)
    with pytest.raises(ConfigError, match="'patience' must be > 0"):
        VisitGPT(patience=0).fit(events, **ROLES, progress=False)


def test_held_out_patients_choose_the_kept_epoch_and_end_training(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model = VisitGPT(epochs=60, batch_size=32, validation_share=0.1, **SMALL)
    model.fit(trained[1], **ROLES, progress=False)  # 120 patients: 12 held out
    records = model.history_["train"]
    losses = [record["validation_nll"] for record in records]
    kept = model.history_["train_kept"][0]["epoch"]
    assert losses[kept - 1] == min(losses) and model.history_["train_kept"][0]["validation_nll"] == min(losses)
    assert len(records) == 60 or len(records) - kept == 10  # every epoch, or stopped after `patience` stale ones
    small = VisitGPT(epochs=3, batch_size=32, validation_share=0.1, **SMALL)
    with pytest.warns(SynthmedWarning, match="holds out 9 of 90 patients, fewer than 10"):
        small.fit(structured_events(90), **ROLES, progress=False)
    assert "validation_nll" not in small.history_["train"][0]
    private = VisitGPT(epochs=1, batch_size=32, validation_share=0.1, **SMALL)
    with pytest.warns(SynthmedWarning, match="private fit trains on every patient"):
        private.fit(trained[1], **ROLES, progress=False, dp_epsilon=5.0)
    assert "validation_nll" not in private.history_["train"][0]
    every = trained[0]  # the default: every patient trains, the last epoch is kept
    assert "validation_nll" not in every.history_["train"][0] and "train_kept" not in every.history_
    assert len(every.history_["train"]) == 60


class Watched(VisitGPT):
    """visitgpt that notes which patients each pass reads, and whether gradients were taken."""

    def _padded(self, parts: HistoryParts, patients: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        self.passes_.append((torch.is_grad_enabled(), self.networks_["network"].training, patients.copy()))
        return super()._padded(parts, patients, device)


def test_held_out_patients_never_reach_a_gradient_step() -> None:
    model = Watched(epochs=2, batch_size=32, validation_share=0.1, **SMALL)
    model.passes_ = []
    model.fit(structured_events(200), **ROLES, progress=False)
    trained = {int(p) for grad, training, patients in model.passes_ if grad and training for p in patients}
    held = [int(p) for grad, training, patients in model.passes_ if not grad and not training for p in patients]
    assert len(trained) == 180 and len(held) == 2 * 20  # 10% held out, scored once per epoch without dropout
    assert not trained & set(held)


class Recorded(VisitGPT):
    """visitgpt that keeps what its private training computed for the first patients, to compare."""

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        parts = self.transformer_.split(data.cpu().numpy())
        likelihood = self._likelihood().eval()  # no dropout: gradients comparable one by one
        with private.training_per_record("train", likelihood, self._optimizer(self.networks_["network"])) as t:
            together = t._per_record(self._padded(parts, np.array([0, 1, 2]), run.device))
        alone = []
        for patient in range(3):
            likelihood.zero_grad()
            likelihood(*self._padded(parts, np.array([patient]), run.device)).backward()
            alone.append({name: p.grad.clone() for name, p in likelihood.named_parameters()})
        self.compared_ = together, alone
        super()._train_privately(data, run, private)


def test_private_training_clips_one_gradient_per_patient_and_spends_the_budget(tmp_path: Path) -> None:
    events = structured_events(60)
    model = Recorded(epochs=2, batch_size=16, **SMALL).fit(events, **ROLES, progress=False, dp_epsilon=2.0)
    together, alone = model.compared_
    for patient in range(3):  # each patient's gradient, computed among others, is its own history's alone
        for name, gradient in alone[patient].items():
            torch.testing.assert_close(together[name][patient], gradient, rtol=1e-4, atol=1e-5)
    privacy = model.privacy_
    assert 1.9 < privacy["epsilon"] <= 2.0 and privacy["delta"] == pytest.approx(1 / 600)
    assert privacy["phases"]["train"]["steps"] == 2 * 4  # every planned step: 2 epochs of 60 / 16 patients
    assert epsilon_of(stored_composition(privacy), privacy["delta"]) == pytest.approx(privacy["epsilon"])
    assert "per patient" in model.privacy_["adaptations"]["unit"]
    assert "outside the privacy budget" in model.privacy_["adaptations"]["shipped values"]
    loaded = Synthesizer.load(model.save(tmp_path / "private.zip"))
    assert loaded.privacy_["epsilon"] == model.privacy_["epsilon"]
    assert loaded.sample(10, seed=0)["patient"].nunique() == 10


def test_histories_of_codes_alone_one_visit_each() -> None:
    """Records as one-visit histories: no attribute, no time, only codes (one row per code)."""
    rng = np.random.default_rng(0)
    rows = [
        {"record": record, "visit": record, "code": code}
        for record in range(80)
        for code in rng.choice(["a", "b", "c", "d"], size=rng.integers(1, 4), replace=False)
    ]
    model = VisitGPT(epochs=2, **SMALL).fit(
        pd.DataFrame(rows), patient_column="record", visit_column="visit", codes=["code"], progress=False
    )
    sample = model.sample(20, seed=0)
    assert list(sample.columns) == ["record", "visit", "code"]
    assert sample.groupby("record")["visit"].nunique().eq(1).all() and sample["record"].nunique() == 20


class Interrupted(Exception):
    """Stands in for a crash in the middle of training."""


def test_a_crashed_fit_resumes_from_its_checkpoint_to_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = structured_events(40)
    reference = VisitGPT(epochs=4, **SMALL).fit(events, **ROLES, progress=False)
    logged = {"epochs": 0}
    original_log = TrainingRun.log

    def crashing_log(run: TrainingRun, **metrics: float) -> None:
        logged["epochs"] += 1
        if logged["epochs"] == 3:
            raise Interrupted
        original_log(run, **metrics)

    monkeypatch.setattr(TrainingRun, "log", crashing_log)
    with pytest.raises(Interrupted):
        VisitGPT(epochs=4, **SMALL).fit(events, **ROLES, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    logged["epochs"] = -100  # never crash again
    resumed = VisitGPT(epochs=4, **SMALL).fit(events, **ROLES, progress=False, checkpoint=tmp_path, checkpoint_every=1)
    assert logged["epochs"] == -100 + 2  # epochs 3 and 4 only
    pd.testing.assert_frame_equal(resumed.sample(20, seed=1), reference.sample(20, seed=1))
