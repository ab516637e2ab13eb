"""The training monitor: its two figures, a monitored run equal to an unmonitored one, keep_best, resume."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

import synthmed
from synthmed.data.inference import infer_schema
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.evaluate.fidelity import column_shape_similarity, correlation_difference
from synthmed.models import MODELS
from synthmed.models.monitor import FidelityReference, TrainingMonitor
from synthmed.models.registry import ENTRIES
from synthmed.models.training import TrainingRun
from tests.models.tables import mixed_patients
from tests.models.test_synthesizers import make_model

NOT_TABULAR = frozenset(name for name, entry in ENTRIES.items() if entry.data != "table")


def patients(n: int = 80, seed: int = 1) -> pd.DataFrame:
    return mixed_patients(n, seed).drop(columns=["patient_id", "smoker"])


def reference_for(table: pd.DataFrame) -> tuple[FidelityReference, TableTransformer, np.ndarray]:
    transformer = TableTransformer(infer_schema(table)).fit(table)
    matrix = transformer.transform(table)
    return FidelityReference(matrix, transformer, seed=0), transformer, matrix


@pytest.fixture(params=sorted(set(MODELS) - NOT_TABULAR))
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


# ---- the figures ---------------------------------------------------------------------------------------


def test_the_training_data_scores_perfectly() -> None:
    reference, _, matrix = reference_for(patients())
    figures = reference.score(matrix, None)
    assert figures["column_fidelity"] == pytest.approx(1.0)
    assert figures["correlation_difference"] == pytest.approx(0.0, abs=1e-12)
    assert figures["score"] == pytest.approx(1.0)


def test_column_distances_are_total_variation_and_kolmogorov_smirnov() -> None:
    rng = np.random.default_rng(0)
    ward = ["icu"] * 50 + ["er"] * 30 + ["gp"] * 20
    real = pd.DataFrame({"sex": ["F"] * 30 + ["M"] * 70, "ward": ward, "bmi": rng.normal(size=100)})
    reference, transformer, matrix = reference_for(real)
    generated = matrix.copy()
    generated[:, 0] = 1.0  # every row "M": TV |0.7 - 1| = 0.3
    span = next(s for s in transformer.layout_.spans if s.column == "ward")
    generated[:, span.start : span.stop] = [1.0, 0.0, 0.0]  # every row "er": TV (0.7 + 0.2 + 0.5) / 2 = 0.7
    generated[:, -1] = rng.random(100)  # bmi scaled to [0, 1]: uniform against normal
    ks = ks_2samp(matrix[:, -1], generated[:, -1]).statistic
    figures = reference.score(generated, None)
    assert figures["column_fidelity"] == pytest.approx(1 - (0.3 + 0.7 + ks) / 3)


def test_missing_values_count_as_a_rate_and_are_left_out_of_the_distribution() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=200)
    values[:50] = np.nan  # 25% missing
    reference, transformer, matrix = reference_for(pd.DataFrame({"lab": values}))
    assert [s.role for s in transformer.layout_.spans] == ["value", "missing"]
    generated = matrix[rng.permutation(200)]  # same values and missing rate, another order
    assert reference.score(generated, None)["column_fidelity"] == pytest.approx(1.0)
    generated[:, 1] = 0.0  # nothing missing: TV 0.25 on the rate; present values now include 50 zeros
    present = matrix[~np.isnan(values), 0]
    ks = ks_2samp(present, generated[:, 0]).statistic
    assert reference.score(generated, None)["column_fidelity"] == pytest.approx(1 - (0.25 + ks) / 2)


def test_kolmogorov_smirnov_with_ties_and_missing_values_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    visits = rng.poisson(2, 300).astype(float)
    visits[:30] = np.nan
    assert np.nanmin(visits) == 0  # so the scaled axis is visits / max
    reference, _, matrix = reference_for(pd.DataFrame({"visits": visits}))
    generated = matrix[rng.integers(0, 300, 500)]
    generated[:, 0] = rng.integers(0, 4, 500) / np.nanmax(visits)  # other counts, on the scaled axis
    generated[:, 1] = np.arange(500) < 250  # half of them missing
    present = generated[:, 1] == 0
    ks = ks_2samp(visits[~np.isnan(visits)], generated[present, 0] * np.nanmax(visits)).statistic
    missing_gap = abs(0.5 - 0.1)
    assert reference.score(generated, None)["column_fidelity"] == pytest.approx(1 - (missing_gap + ks) / 2)
    generated[:, 1] = 1.0  # nothing present: the column is as far off as it can be
    assert reference.score(generated, None)["column_fidelity"] == pytest.approx(1 - (0.9 + 1.0) / 2)


def test_figures_equal_evaluates_on_numbers_and_binary_columns_without_gaps() -> None:
    rng = np.random.default_rng(4)
    age = rng.normal(50, 10, 400)
    real = pd.DataFrame({"age": age, "bp": age + rng.normal(0, 5, 400), "visits": rng.poisson(2, 400), "sex": "F"})
    real["sex"] = np.where(age + rng.normal(0, 10, 400) > 50, "M", "F")
    synthetic = real.sample(frac=1.0, random_state=0).reset_index(drop=True)
    synthetic["bp"] = rng.permutation(synthetic["bp"].to_numpy())  # breaks the age-bp correlation
    synthetic["visits"] = np.minimum(rng.poisson(3, 400), real["visits"].max())  # generators stay in range
    reference, transformer, _ = reference_for(real)
    figures = reference.score(transformer.transform(synthetic), None)
    schema = transformer.schema
    assert figures["column_fidelity"] == pytest.approx(column_shape_similarity(real, synthetic, schema).mean())
    assert figures["correlation_difference"] == pytest.approx(correlation_difference(real, synthetic, schema))


def test_correlation_difference_and_constant_columns() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    reference, _, matrix = reference_for(pd.DataFrame({"x": x, "y": x + 0.01 * rng.normal(size=500)}))
    real_r = np.corrcoef(matrix.T)[0, 1]
    independent = np.column_stack([matrix[:, 0], matrix[rng.permutation(500), 1]])
    synthetic_r = np.corrcoef(independent.T)[0, 1]
    assert reference.score(independent, None)["correlation_difference"] == pytest.approx(abs(real_r - synthetic_r))
    constant = matrix.copy()
    constant[:, 1] = 0.5  # a constant column correlates 0 instead of NaN
    assert reference.score(constant, None)["correlation_difference"] == pytest.approx(abs(real_r))


def test_a_thousand_code_columns_are_scored_in_one_pass() -> None:
    codes = (np.random.default_rng(0).random((300, 1071)) < 0.05).astype(np.int64)
    table = pd.DataFrame(codes, columns=[f"c{i}" for i in range(1071)])
    reference, _, matrix = reference_for(table)
    figures = reference.score(np.ones_like(matrix), None)  # every code present: TV 1 - prevalence per code
    assert figures["column_fidelity"] == pytest.approx(codes.mean())
    real = np.corrcoef(matrix.T)[np.triu_indices(1071, k=1)]
    assert figures["correlation_difference"] == pytest.approx(np.abs(real).mean())  # constant columns: r = 0


# ---- monitored training --------------------------------------------------------------------------------


def test_a_monitored_run_trains_exactly_like_an_unmonitored_one(model_name: str) -> None:
    table = patients()
    with warnings.catch_warnings(record=True):
        monitored = make_model(model_name).fit(table, progress=False, monitor_every=2)
    curve = monitored.history_.get("monitor", [])
    if not curve:
        pytest.skip(f"{model_name} does not mark its generating phase with run.epochs(..., monitor=True) yet")
    plain = make_model(model_name).fit(table, progress=False)
    pd.testing.assert_frame_equal(monitored.sample(100, seed=3), plain.sample(100, seed=3))
    for phase, records in plain.history_.items():
        losses = [{k: v for k, v in r.items() if k != "seconds"} for r in records]
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in monitored.history_[phase]] == losses
    epochs = [r["epoch"] for r in curve]
    assert epochs == sorted({*range(2, epochs[-1] + 1, 2), epochs[-1]})  # every 2 epochs and the phase's last
    for record in curve:
        assert 0 <= record["column_fidelity"] <= 1 and 0 <= record["correlation_difference"] <= 2
        assert record["score"] == pytest.approx(record["column_fidelity"] - record["correlation_difference"])
    assert monitored.monitor_ == {"every": 2, "rows": len(table), "keep_best": False, "kept_epoch": None}


def _scores_peaking_at(peak: int, monkeypatch: pytest.MonkeyPatch) -> None:
    original = TrainingMonitor.measure

    def measure(monitor: TrainingMonitor, epoch: int) -> dict[str, float]:
        record = original(monitor, epoch)
        return {**record, "score": -abs(epoch - peak)}

    monkeypatch.setattr(TrainingMonitor, "measure", measure)


@pytest.mark.parametrize("name", ["medgan", "vae"])
def test_keep_best_restores_the_best_epochs_weights(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    table = patients()
    _scores_peaking_at(2, monkeypatch)
    kept = make_model(name, epochs=5).fit(table, progress=False, monitor_every=1, keep_best=True)
    assert kept.monitor_["kept_epoch"] == 2
    assert [r["epoch"] for r in kept.history_["monitor"]] == [1, 2, 3, 4, 5]  # training went on to the end
    # training is sequential, so epoch 2 of a 5-epoch run has the weights of a 2-epoch run
    short = make_model(name, epochs=2).fit(table, progress=False)
    for network, other in zip(kept.networks_.values(), short.networks_.values(), strict=True):
        for mine, theirs in zip(network.parameters(), other.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    last = make_model(name, epochs=5).fit(table, progress=False)
    pairs = zip(last.networks_.values(), kept.networks_.values(), strict=True)
    assert any(not torch.equal(a, b) for n, m in pairs for a, b in zip(n.parameters(), m.parameters(), strict=True))


def test_keep_best_picks_the_highest_score_of_the_real_curve() -> None:
    model = make_model("vae", epochs=6).fit(patients(), progress=False, monitor_every=2, keep_best=True)
    curve = model.history_["monitor"]
    assert model.monitor_["kept_epoch"] == max(curve, key=lambda r: r["score"])["epoch"]


def test_artifact_keeps_the_curve_and_the_kept_epoch(tmp_path: Path) -> None:
    model = make_model("vae", epochs=4).fit(patients(), progress=False, monitor_every=2, keep_best=True)
    path = model.save(tmp_path / "model.smg")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
    assert [r["epoch"] for r in meta["history"]["monitor"]] == [2, 4]
    assert meta["monitor"]["kept_epoch"] == model.monitor_["kept_epoch"]
    loaded = synthmed.load(path)
    assert loaded.monitor_ == model.monitor_
    assert make_model("vae").fit(patients(), progress=False).save(tmp_path / "plain.smg")
    assert synthmed.load(tmp_path / "plain.smg").monitor_ is None


class Interrupted(Exception):
    """Stands in for a crash in the middle of training."""


@pytest.mark.parametrize("name", ["medgan", "vae"])
def test_a_resumed_monitored_run_equals_an_uninterrupted_one(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = patients()
    options: dict[str, Any] = {"progress": False, "monitor_every": 1, "keep_best": True}
    reference = make_model(name, epochs=5).fit(table, **options)
    logged = {"epochs": 0}
    original_log = TrainingRun.log

    def crashing_log(run: TrainingRun, **metrics: float) -> None:
        logged["epochs"] += 1
        if logged["epochs"] == sum(len(r) for p, r in reference.history_.items() if p != "monitor") - 1:
            raise Interrupted
        original_log(run, **metrics)

    monkeypatch.setattr(TrainingRun, "log", crashing_log)
    with pytest.raises(Interrupted):
        make_model(name, epochs=5).fit(table, checkpoint=tmp_path, checkpoint_every=1, **options)
    monkeypatch.undo()
    resumed = make_model(name, epochs=5).fit(table, checkpoint=tmp_path, checkpoint_every=1, **options)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_["monitor"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in reference.history_["monitor"]]
    assert resumed.monitor_ == reference.monitor_
    pd.testing.assert_frame_equal(resumed.sample(60, seed=4), reference.sample(60, seed=4))


def test_an_unmonitored_checkpoint_is_not_resumed_with_the_monitor(tmp_path: Path) -> None:
    make_model("vae").fit(patients(), progress=False, checkpoint=tmp_path)
    with pytest.raises(ConfigError, match="monitor settings"):
        make_model("vae").fit(patients(), progress=False, checkpoint=tmp_path, monitor_every=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"monitor_every": 0}, "monitor_every must be a positive number"),
        ({"monitor_every": 1.5}, "monitor_every must be a positive number"),
        ({"keep_best": True}, "keep_best needs the training monitor"),
    ],
)
def test_bad_monitor_options_fail_before_training(options: dict[str, Any], message: str) -> None:
    model = make_model("vae")
    with pytest.raises(ConfigError, match=message):
        model.fit(patients(), progress=False, **options)
    assert not hasattr(model, "networks_")


def test_a_run_with_no_monitored_epoch_says_so() -> None:
    with pytest.warns(SynthmedWarning, match="measured nothing"):
        model = make_model("vae", epochs=0).fit(patients(), progress=False, monitor_every=1)
    assert model.monitor_["kept_epoch"] is None
