"""TabGAN specifics: training-by-sampling, exact conditions, few-level integers as categories, missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synthmed.data import infer_schema
from synthmed.data.layout import ColumnLayout, Span
from synthmed.data.schema import ColumnKind
from synthmed.models import TabGAN
from synthmed.models.condition_vectors import TrainingSampler
from synthmed.models.tabgan_networks import OutputHead

FAST = {"batch_size": 100, "generator_dims": (64, 64), "critic_dims": (64, 64), "max_modes": 3}


@pytest.fixture(scope="module")
def wards() -> pd.DataFrame:
    """Age depends on the ward; a rare ward; a lab value missing for a fifth of the patients."""
    rng = np.random.default_rng(0)
    n = 400
    ward = rng.choice(["icu", "er", "burns"], n, p=[0.45, 0.5, 0.05])
    age = np.where(ward == "icu", rng.normal(75, 4, n), rng.normal(35, 4, n)).round(1)
    lactate = rng.gamma(2.0, 1.0, n).round(2)
    lactate[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame({"ward": ward, "age": age, "lactate": lactate, "stage": rng.integers(1, 5, n)})


@pytest.fixture(scope="module")
def fitted(wards: pd.DataFrame) -> TabGAN:
    return TabGAN(epochs=200, batch_size=200, seed=0).fit(wards, progress=False)  # 400 updates


def test_training_by_sampling_favours_rare_categories_and_pairs_rows_that_hold_them(wards: pd.DataFrame) -> None:
    model = TabGAN(**FAST)
    transformer = model._transformer(model._model_schema(infer_schema(wards), wards)).fit(wards)
    matrix = transformer.transform(wards)
    sampler = TrainingSampler(matrix, transformer.layout_)
    column, category, rows = sampler.training_batch(np.random.default_rng(0), 20_000)
    ward = sampler.columns.index("ward") if hasattr(sampler, "columns") else 0
    span = sampler.spans[ward]
    picked = category[column == ward] - sampler.offsets[ward]
    burns = transformer.encoders_[0].categories_.index("burns")
    assert np.mean(picked == burns) > 0.15  # log-frequency: far above its 5% share
    held = matrix[rows[column == ward], span.start : span.stop].argmax(axis=1)
    np.testing.assert_array_equal(held, picked)


def test_training_length_is_min_epochs_passes_within_the_update_bounds() -> None:
    model = TabGAN()  # batch 500, at least 600 updates, 300 passes, at most 5,000 updates
    updates = {n: model._epochs(n) * max(1, n // model._batch(n)) for n in (151, 460, 2000, 100_000)}
    assert updates == {151: 600, 460: 600, 2000: 1200, 100_000: 5000}
    assert TabGAN(epochs=7)._epochs(100_000) == 7


def test_few_level_integers_become_categories_and_are_never_invented(wards: pd.DataFrame, fitted: TabGAN) -> None:
    assert fitted.schema_["stage"].kind is ColumnKind.CATEGORICAL
    assert fitted.schema_["age"].kind is ColumnKind.CONTINUOUS
    assert set(fitted.sample(500)["stage"]) <= {1, 2, 3, 4}


def test_learns_marginals_missingness_and_the_dependence_of_age_on_ward(wards: pd.DataFrame, fitted: TabGAN) -> None:
    synthetic = fitted.sample(2000, seed=1)
    shares = synthetic["ward"].value_counts(normalize=True)
    assert abs(shares["icu"] - 0.45) < 0.1 and abs(shares["er"] - 0.5) < 0.1 and shares["burns"] < 0.15
    assert abs(synthetic["lactate"].isna().mean() - wards["lactate"].isna().mean()) < 0.08
    by_ward = synthetic.groupby("ward")["age"].mean()
    assert by_ward["icu"] - by_ward["er"] > 8  # real gap: 40 years; a short run learns its direction


def test_conditions_are_exact_and_steer_the_other_columns(fitted: TabGAN) -> None:
    icu = fitted.sample(300, conditions={"ward": "icu"}, seed=2)
    er = fitted.sample(300, conditions={"ward": "er"}, seed=2)
    assert (icu["ward"] == "icu").all() and (er["ward"] == "er").all()
    assert icu["age"].mean() - er["age"].mean() > 8
    rare = fitted.sample(50, conditions={"ward": "burns"}, seed=3)
    assert (rare["ward"] == "burns").all()


def test_unconditional_sampling_needs_only_the_saved_artifact(fitted: TabGAN, tmp_path) -> None:
    assert not hasattr(fitted, "sampler_")  # the training sampler (row indices) does not outlive fit
    path = fitted.save(tmp_path / "tabgan.smg")
    restored = TabGAN.load(path)
    pd.testing.assert_frame_equal(restored.sample(100, seed=5), fitted.sample(100, seed=5))
    shares = restored.networks_["generator"].condition_shares
    assert torch.isclose(shares.sum(), torch.tensor(float(len(restored._sampler().spans))), atol=1e-4)


def test_a_table_without_discrete_columns_trains_without_conditions() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=200), "y": rng.gamma(2.0, size=200)})
    synthetic = TabGAN(epochs=10, seed=0, **FAST).fit(table, progress=False).sample(50)
    assert synthetic.shape == (50, 2) and synthetic.notna().all().all()


def test_numeric_marginals_are_calibrated_to_the_data(wards: pd.DataFrame, fitted: TabGAN) -> None:
    age = fitted.transformer_.encoders_[fitted.transformer_.columns.index("age")]
    assert age.generated_quantiles_ is not None
    levels = [0.1, 0.3, 0.7, 0.9]  # inside the two age modes (the median falls in the gap between them)
    synthetic = fitted.sample(4000, seed=4)["age"]
    # calibrated: at most 0.13 years off; the same generator uncalibrated is 1.4 years off at the 70th percentile
    assert np.abs(synthetic.quantile(levels).to_numpy() - wards["age"].quantile(levels).to_numpy()).max() < 0.5


def test_without_quantile_knots_no_quantiles_ship(wards: pd.DataFrame) -> None:
    model = TabGAN(epochs=3, quantile_knots=0, seed=0, **FAST).fit(wards, progress=False)
    numeric = [c for c in model.transformer_.to_dict()["columns"] if "calibration" in c]
    assert numeric and all(c["calibration"] == {"quantiles": None, "generated_quantiles": None} for c in numeric)


def _head() -> OutputHead:
    """Two categorical columns around a numeric one (scalar, 2 modes, missing indicator): 11 dimensions."""
    category, number = ColumnKind.CATEGORICAL, ColumnKind.CONTINUOUS
    spans = (
        Span("a", "value", category, 0, 3, "softmax", "cross_entropy"),
        Span("x", "value", number, 3, 1, "tanh", "mse"),
        Span("x", "mode", number, 4, 2, "softmax", "cross_entropy"),
        Span("x", "missing", number, 6, 1, "sigmoid", "bce"),
        Span("b", "value", category, 7, 4, "softmax", "cross_entropy"),
    )
    return OutputHead(ColumnLayout(spans), torch.device("cpu"))


def test_output_head_relaxes_and_decodes_each_span_on_its_own() -> None:
    head, logits = _head(), torch.randn(500, 11, generator=torch.Generator().manual_seed(0)) * 3
    relaxed = head(logits, 0.5)[:, head.restore]  # back from training order to the layout's
    hard = torch.empty(11, 500)
    head.write_sampled(logits.t().contiguous(), hard)  # sampling reads and writes dimension by dimension
    hard = hard.t()
    for start, stop in ((0, 3), (4, 6), (7, 11)):
        torch.testing.assert_close(relaxed[:, start:stop], torch.softmax(logits[:, start:stop] / 0.5, dim=1))
        expected = torch.nn.functional.one_hot(logits[:, start:stop].argmax(1), stop - start).float()
        assert torch.equal(hard[:, start:stop], expected)
    torch.testing.assert_close(relaxed[:, 3], torch.tanh(logits[:, 3]))
    torch.testing.assert_close(relaxed[:, 6], torch.sigmoid(logits[:, 6] / 0.5))
    assert torch.equal(hard[:, 6], (logits[:, 6] > 0).float())
    tied = torch.full((11, 1), 7.0)
    head.write_sampled(torch.zeros(11, 1), tied)
    tied = tied.t()  # a tie picks the first category, exactly one per span
    assert tied[0, [0, 1, 2, 7, 8, 9, 10]].tolist() == [1, 0, 0, 1, 0, 0, 0]


def test_output_head_gives_each_row_the_logits_of_its_conditioned_span() -> None:
    head, logits = _head(), torch.arange(11.0)[None].repeat(3, 1)
    one_hot_logits = logits[:, head.order[head.discrete :]]
    chosen = head.span_logits(one_hot_logits, torch.tensor([0, 2, 1]))  # spans a, b, and x's modes
    inf = float("-inf")
    assert chosen.tolist() == [[0, 1, 2, inf], [7, 8, 9, 10], [4, 5, inf, inf]]


def test_max_modes_caps_the_mixture_of_every_numeric_column(wards: pd.DataFrame) -> None:
    for cap in (1, 2):
        model = TabGAN(epochs=1, seed=0, **{**FAST, "max_modes": cap}).fit(wards, progress=False)
        modes = {c.name: len(c.means_) for c in model.transformer_.encoders_ if hasattr(c, "means_")}
        assert set(modes) == {"age", "lactate"} and max(modes.values()) == cap  # age is bimodal: the cap binds
