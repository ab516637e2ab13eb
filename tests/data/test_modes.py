"""Mode-specific normalisation: reversible, multi-modal, serialisable, declared ranges respected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data import Schema, infer_schema
from synthmed.data.modes import ModeEncoder
from synthmed.data.transform import TableTransformer


@pytest.fixture(scope="module")
def bimodal() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(60, 3, 300), rng.normal(140, 5, 300)])
    values[::50] = np.nan
    return pd.DataFrame({"heart_rate": values, "ward": rng.choice(["icu", "er"], 600)})


def test_round_trip_is_exact_and_finds_both_modes(bimodal: pd.DataFrame) -> None:
    transformer = TableTransformer(infer_schema(bimodal), numeric="modes").fit(bimodal)
    encoder = transformer.encoders_[0]
    assert isinstance(encoder, ModeEncoder)
    assert len(encoder.means_) >= 2
    scaled_means = encoder.means_ * (encoder.maximum_ - encoder.minimum_) + encoder.minimum_
    assert np.min(np.abs(scaled_means - 60)) < 3 and np.min(np.abs(scaled_means - 140)) < 3
    matrix = transformer.transform(bimodal)
    roles = [span.role for span in transformer.layout_.spans if span.column == "heart_rate"]
    assert roles == ["value", "mode", "missing"]
    assert np.abs(matrix[:, 0]).max() < 1
    back = transformer.inverse_transform(matrix)
    pd.testing.assert_frame_equal(back, bimodal, check_exact=False, rtol=1e-9)


def test_each_value_sits_in_its_own_mode(bimodal: pd.DataFrame) -> None:
    transformer = TableTransformer(infer_schema(bimodal), numeric="modes").fit(bimodal)
    span = next(s for s in transformer.layout_.spans if s.role == "mode")
    modes = transformer.transform(bimodal)[:, span.start : span.stop].argmax(axis=1)
    present = bimodal["heart_rate"].notna().to_numpy()
    low = (bimodal["heart_rate"] < 100).to_numpy()
    assert set(modes[present & low]).isdisjoint(set(modes[present & ~low]))


def test_saved_state_restores_the_same_encoding(bimodal: pd.DataFrame) -> None:
    schema = infer_schema(bimodal)
    transformer = TableTransformer(schema, numeric="modes").fit(bimodal)
    state = transformer.to_dict()
    assert state["columns"][0]["encoding"] == "modes" and state["columns"][0]["domain"] == "data"
    restored = TableTransformer.from_dict(state, schema)
    np.testing.assert_array_equal(restored.transform(bimodal), transformer.transform(bimodal))


def test_decoding_clips_to_the_declared_range() -> None:
    table = pd.DataFrame({"age": np.linspace(20, 80, 100)})
    schema = infer_schema(table, Schema.from_dict({"columns": {"age": {"kind": "continuous", "min": 0, "max": 100}}}))
    transformer = TableTransformer(schema, numeric="modes").fit(table)
    matrix = transformer.transform(table)
    matrix[:, 0] = 1.0  # every value pushed to the edge of its mode
    decoded = transformer.inverse_transform(matrix)["age"]
    assert decoded.max() <= 100 and decoded.min() >= 0


def test_a_constant_column_round_trips() -> None:
    table = pd.DataFrame({"dose": [5.5] * 40, "x": np.arange(40.0) / 3})
    transformer = TableTransformer(infer_schema(table), numeric="modes").fit(table)
    assert transformer.inverse_transform(transformer.transform(table))["dose"].eq(5.5).all()


def test_generated_values_keep_the_data_decimal_places() -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"st_depression": np.where(rng.random(300) < 0.3, 0.0, rng.gamma(2, 0.6, 300).round(1))})
    transformer = TableTransformer(infer_schema(table), numeric="modes").fit(table)
    assert transformer.encoders_[0].decimals_ == 1
    matrix = transformer.transform(table)
    matrix[:, 0] += rng.normal(0, 0.01, len(matrix))  # a generator never lands exactly on a value
    decoded = transformer.inverse_transform(matrix)["st_depression"]
    np.testing.assert_array_equal(decoded, decoded.round(1))
    assert (decoded == 0).mean() > 0.2  # the point mass at zero survives


def test_calibration_maps_a_shifted_generator_onto_the_data_marginal_and_keeps_ranks(bimodal: pd.DataFrame) -> None:
    transformer = TableTransformer(infer_schema(bimodal), numeric="modes", quantile_knots=51).fit(bimodal)
    assert len(transformer.encoders_[0].quantiles_) == 51
    # a "generator" that places every value 1.2 standard deviations right of where it belongs, squeezed
    matrix = transformer.transform(bimodal)
    matrix[:, 0] = 0.5 * matrix[:, 0] + 0.3
    shifted = transformer.inverse_transform(matrix)["heart_rate"]
    real = bimodal["heart_rate"]
    levels = [0.1, 0.25, 0.75, 0.9]
    assert np.abs(shifted.quantile(levels).to_numpy() - real.quantile(levels).to_numpy()).min() > 3
    transformer.calibrate(matrix)
    calibrated = transformer.inverse_transform(matrix)["heart_rate"]
    assert np.abs(calibrated.quantile(levels).to_numpy() - real.quantile(levels).to_numpy()).max() < 1
    assert calibrated.isna().equals(real.isna())
    assert shifted.rank().corr(calibrated.rank()) > 0.999


def test_calibration_survives_saving_and_is_absent_without_knots(bimodal: pd.DataFrame) -> None:
    plain = TableTransformer(infer_schema(bimodal), numeric="modes").fit(bimodal)
    assert plain.encoders_[0].quantiles_ is None
    assert plain.to_dict()["columns"][0]["calibration"] == {"quantiles": None, "generated_quantiles": None}
    transformer = TableTransformer(infer_schema(bimodal), numeric="modes", quantile_knots=21).fit(bimodal)
    transformer.calibrate(transformer.transform(bimodal))
    restored = TableTransformer.from_dict(transformer.to_dict(), transformer.schema)
    kept, original = restored.encoders_[0], transformer.encoders_[0]
    np.testing.assert_array_equal(kept.generated_quantiles_, original.generated_quantiles_)
    matrix = transformer.transform(bimodal)
    pd.testing.assert_frame_equal(restored.inverse_transform(matrix), transformer.inverse_transform(matrix))
