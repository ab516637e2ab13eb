"""The table <-> matrix transform is reversible, keeps widths and dtypes, and records what it learned."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.data import ColumnKind, Schema, TableTransformer, infer_schema
from synthmed.errors import DataError

ROWS = st.integers(min_value=10, max_value=40)


@st.composite
def mixed_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Tables mixing every column kind, with and without missing values, in pandas' own dtypes."""
    n = draw(ROWS)

    def maybe_missing(values: list, dtype: str | None = None) -> pd.Series:
        series = pd.Series(values, dtype=dtype)
        if draw(st.booleans()):
            mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            mask[0] = False  # keep at least one observed value
            series = series.mask(pd.Series(mask))
        return series

    floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
    columns = {
        "continuous": maybe_missing(draw(st.lists(floats, min_size=n, max_size=n))),
        "count": pd.Series(draw(st.lists(st.integers(0, 500), min_size=n, max_size=n)), dtype="int64"),
        "flag": pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        "code": pd.Series(draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)), dtype="uint8"),
        "sex": maybe_missing(draw(st.lists(st.sampled_from(["F", "M"]), min_size=n, max_size=n)), "str"),
        "ward": maybe_missing(draw(st.lists(st.sampled_from(["icu", "er", "gp", "ob"]), min_size=n, max_size=n))),
        "grade": pd.Categorical(draw(st.lists(st.sampled_from(["low", "mid", "high"]), min_size=n, max_size=n))),
        "admitted": maybe_missing(
            list(
                pd.to_datetime("2020-01-01")
                + pd.to_timedelta(draw(st.lists(st.integers(0, 10**8), min_size=n, max_size=n)), unit="s")
            )
        ),
    }
    return pd.DataFrame(columns)


# Declared, so that the round trip is tested for every kind whatever the values happen to look like
# (heuristics such as "unique integers are identifiers" belong to the schema tests).
MIXED_SCHEMA = Schema.from_dict(
    {
        "columns": {
            "continuous": "continuous",
            "count": "count",
            "flag": "binary",
            "code": {"kind": "binary", "categories": [0, 1]},
            "sex": {"kind": "binary", "categories": ["F", "M"]},
            "ward": "categorical",
            "grade": "categorical",
            "admitted": "datetime",
        }
    }
)


@settings(max_examples=40, deadline=None)
@given(mixed_tables())
def test_inverse_of_transform_is_identity(frame: pd.DataFrame) -> None:
    transformer = TableTransformer(MIXED_SCHEMA).fit(frame)
    matrix = transformer.transform(frame)
    assert matrix.shape == (len(frame), transformer.layout_.width)
    assert np.isfinite(matrix).all() and matrix.min() >= 0 and matrix.max() <= 1
    restored = transformer.inverse_transform(matrix)
    pd.testing.assert_frame_equal(restored, frame, check_exact=False, rtol=1e-9, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(mixed_tables(), st.integers(0, 2**31))
def test_generated_float32_rows_decode_as_their_float64_values(frame: pd.DataFrame, seed: int) -> None:
    """Generators hand over float32 matrices: decoding must not depend on the precision they come in, for the
    rounded and for the drawn decoding alike."""
    transformer = TableTransformer(MIXED_SCHEMA).fit(frame)
    generated = np.random.default_rng(seed).random((len(frame), transformer.layout_.width)).astype(np.float32)
    pd.testing.assert_frame_equal(
        transformer.inverse_transform(generated), transformer.inverse_transform(generated.astype(np.float64))
    )
    precisions = (generated, generated.astype(np.float64))
    drawn = [transformer.inverse_transform(m, np.random.default_rng(seed)) for m in precisions]
    pd.testing.assert_frame_equal(*drawn)


@settings(max_examples=30, deadline=None)
@given(mixed_tables(), st.integers(0, 2**31), st.sampled_from(["minmax", "modes"]))
def test_rows_declared_one_hot_decode_as_the_search_does(frame: pd.DataFrame, seed: int, numeric: str) -> None:
    """A model that chose its categories hands over exactly one 1 per softmax span: reading the position of the 1
    gives what the search for the largest score gives, in either memory order of the matrix."""
    transformer = TableTransformer(MIXED_SCHEMA, numeric=numeric).fit(frame)  # type: ignore[arg-type]
    generated = np.random.default_rng(seed).random((len(frame), transformer.layout_.width)).astype(np.float32)
    for span in transformer.layout_.spans:
        if span.activation == "softmax":
            block = generated[:, span.start : span.stop]
            generated[:, span.start : span.stop] = np.eye(span.width)[block.argmax(1)]
    searched = transformer.inverse_transform(generated)
    for rows in (generated, np.asfortranarray(generated)):
        pd.testing.assert_frame_equal(transformer.inverse_transform(rows, one_hot=True), searched)


@settings(max_examples=20, deadline=None)
@given(mixed_tables())
def test_saved_state_restores_the_same_transformer(frame: pd.DataFrame) -> None:
    schema = MIXED_SCHEMA
    transformer = TableTransformer(schema).fit(frame)
    state = json.loads(json.dumps(transformer.to_dict()))  # must survive plain JSON
    restored = TableTransformer.from_dict(state, schema)
    assert restored.layout_ == transformer.layout_
    pd.testing.assert_frame_equal(restored.inverse_transform(transformer.transform(frame)), frame, check_exact=False)


@settings(max_examples=30, deadline=None)
@given(st.integers(10, 30), st.integers(1, 40), st.integers(0, 2**31))
def test_binary_code_matrix_keeps_its_width(rows: int, codes: int, seed: int) -> None:
    matrix = (np.random.default_rng(seed).random((rows, codes)) < 0.3).astype(np.uint8)
    frame = pd.DataFrame(matrix, columns=[f"c{i}" for i in range(codes)])
    transformer = TableTransformer(infer_schema(frame)).fit(frame)
    assert transformer.layout_.width == codes
    assert transformer.layout_.all_spans(ColumnKind.BINARY)
    np.testing.assert_array_equal(transformer.transform(frame), matrix)


def test_layout_spans_choose_activation_and_loss_per_kind() -> None:
    frame = pd.DataFrame(
        {
            "sex": ["F", "M"] * 10,
            "ward": ["icu", "er", "gp", None] * 5,
            "visits": [0, 2, 5, 1] * 5,
            "bmi": [22.5, None, 30.1, 18.0] * 5,
        }
    )
    spans = TableTransformer(infer_schema(frame)).fit(frame).layout_.spans
    described = [(s.column, s.role, s.width, s.activation, s.loss) for s in spans]
    assert described == [
        ("sex", "value", 1, "sigmoid", "bce"),
        ("ward", "value", 4, "softmax", "cross_entropy"),  # 3 categories + missing
        ("visits", "value", 1, "relu", "mse"),
        ("bmi", "value", 1, "sigmoid", "mse"),
        ("bmi", "missing", 1, "sigmoid", "bce"),
    ]
    assert [s.start for s in spans] == [0, 1, 5, 6, 7]


def test_generated_numbers_decode_to_valid_values() -> None:
    frame = pd.DataFrame({"visits": [0, 2, 5, 1] * 5, "bmi": [22.5, 35.0, 30.1, 18.0] * 5})
    transformer = TableTransformer(infer_schema(frame)).fit(frame)
    noisy = np.array([[0.33, -0.4], [1.7, 0.5], [0.5, 1.2]])
    decoded = transformer.inverse_transform(noisy)
    assert decoded["visits"].tolist() == [2, 5, 2]  # counts stay integers, clipped to [min, max]
    assert decoded["visits"].dtype == np.int64
    assert decoded["bmi"].tolist() == pytest.approx([18.0, 26.5, 35.0])


def test_stochastic_decoding_reproduces_the_missing_rate() -> None:
    frame = pd.DataFrame({"bmi": [22.5, None, 30.1, 18.0, 25.0] * 8, "ward": ["icu", "er", None, "gp"] * 10})
    transformer = TableTransformer(infer_schema(frame)).fit(frame)
    probabilities = np.tile(transformer.transform(frame).mean(axis=0), (20_000, 1))
    decoded = transformer.inverse_transform(probabilities, rng=np.random.default_rng(0))
    assert decoded["bmi"].isna().mean() == pytest.approx(0.2, abs=0.01)
    assert decoded["ward"].isna().mean() == pytest.approx(0.25, abs=0.01)
    assert decoded["ward"].value_counts(normalize=True, dropna=False)["icu"] == pytest.approx(0.25, abs=0.01)


def test_declared_domain_replaces_data_derived_values() -> None:
    frame = pd.DataFrame({"age": [34.0, 50.0, 61.5] * 5, "sex": ["F", "F", "F"] * 5})
    declared = Schema.from_dict(
        {
            "columns": {
                "age": {"kind": "continuous", "min": 0, "max": 120},
                "sex": {"kind": "binary", "categories": ["F", "M"]},
            }
        }
    )
    state = TableTransformer(infer_schema(frame, declared)).fit(frame).to_dict()
    age, sex = state["columns"]
    assert (age["min"], age["max"], age["domain"]) == (0.0, 120.0, "schema")
    assert (sex["categories"], sex["domain"]) == (["F", "M"], "schema")
    inferred = TableTransformer(infer_schema(frame)).fit(frame).to_dict()["columns"][0]
    assert (inferred["min"], inferred["max"], inferred["domain"]) == (34.0, 61.5, "data")


def test_values_outside_a_declared_range_are_refused() -> None:
    frame = pd.DataFrame({"age": [34.0, 150.0, 61.5] * 5})
    declared = Schema.from_dict({"columns": {"age": {"kind": "continuous", "min": 0, "max": 120}}})
    with pytest.raises(DataError, match="Column 'age': values outside the declared range.*150.0"):
        TableTransformer(infer_schema(frame, declared)).fit(frame)


def test_missing_values_unseen_during_fit_are_refused() -> None:
    frame = pd.DataFrame({"age": [34.0, 50.0, 61.5] * 5})
    transformer = TableTransformer(infer_schema(frame)).fit(frame)
    with pytest.raises(DataError, match="Column 'age': has missing values"):
        transformer.transform(frame.assign(age=[None, 50.0, 61.5] * 5))
