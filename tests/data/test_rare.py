"""Rare categories are noted at fit, and a schema can merge or suppress them (synthmed.data.rare)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data import Schema, infer_schema
from synthmed.data.rare import (
    MERGED,
    apply_rare_policy,
    judged_for_rarity,
    note_rare_categories,
    rare_categories,
    rare_values,
)
from synthmed.errors import SchemaError, SynthmedWarning
from synthmed.evaluate.evaluation import evaluate
from synthmed.evaluate.policy import Verdict
from synthmed.models import VAE

RNG = np.random.default_rng(0)


def wards(rows: int = 200) -> pd.DataFrame:
    """Three common wards and two held by one and three patients."""
    ward = RNG.choice(["icu", "er", "gp"], rows).astype(object)
    ward[:4] = ["burns", "transplant", "transplant", "transplant"]
    return pd.DataFrame({"ward": ward, "age": RNG.normal(60, 10, rows).round(1), "flag": RNG.integers(0, 2, rows)})


def test_rare_values_are_those_of_fewer_than_k_records() -> None:
    assert sorted(rare_values(wards()["ward"])) == ["burns", "transplant"]
    assert list(rare_values(wards()["ward"], min_count=2)) == ["burns"]
    schema = infer_schema(wards())
    assert judged_for_rarity(schema["ward"], wards()["ward"])
    assert not judged_for_rarity(schema["flag"], wards()["flag"])  # 0/1: the same values for every patient
    public = Schema.from_dict({"columns": {"ward": {"kind": "categorical", "public": True}}})
    assert not judged_for_rarity(infer_schema(wards(), public)["ward"], wards()["ward"])


def test_a_fit_notes_rare_categories_and_the_schema_merges_or_suppresses_them() -> None:
    table = wards()
    with pytest.warns(SynthmedWarning, match=r"'ward': 2 of its 5 categories are held by fewer than 5.*rare: merge"):
        note_rare_categories(table, infer_schema(table))
    merge = Schema.from_dict({"columns": {"ward": {"kind": "categorical", "rare": "merge"}}})
    merged = apply_rare_policy(table, infer_schema(table, merge))
    assert set(merged["ward"]) == {"icu", "er", "gp", MERGED} and (merged["ward"] == MERGED).sum() == 4
    suppress = Schema.from_dict({"columns": {"ward": {"kind": "categorical", "rare": "suppress", "min_count": 2}}})
    suppressed = apply_rare_policy(table, infer_schema(table, suppress))
    assert suppressed["ward"].isna().sum() == 1 and "transplant" in set(suppressed["ward"])


def test_a_generator_fitted_with_rare_merge_never_holds_the_rare_values(tmp_path: Path) -> None:
    merge = Schema.from_dict({"columns": {"ward": {"kind": "categorical", "rare": "merge"}}})
    model = VAE(epochs=2, batch_size=50, seed=0).fit(wards(), schema=merge, progress=False)
    text = zipfile.ZipFile(model.save(tmp_path / "m.smg")).read("model.json").decode()
    assert "transplant" not in text and "burns" not in text and MERGED in text
    assert not {"transplant", "burns"} & set(model.sample(500, seed=1)["ward"])


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "continuous", "rare": "merge"},
        {"kind": "categorical", "rare": "drop"},
        {"kind": "categorical", "min_count": 5},
        {"kind": "categorical", "rare": "merge", "min_count": 1},
        {"kind": "continuous", "public": True},
        {"kind": "categorical", "format": "%Y"},
    ],
)
def test_rare_and_related_keys_are_checked(spec: dict[str, object]) -> None:
    with pytest.raises(SchemaError, match="'ward'"):
        Schema.from_dict({"columns": {"ward": spec}})


def test_the_merged_category_is_never_judged_rare() -> None:
    merge = Schema.from_dict({"columns": {"ward": {"kind": "categorical", "rare": "merge"}}})
    table = wards()
    merged = apply_rare_policy(table, infer_schema(table, merge))
    assert (merged["ward"] == MERGED).sum() == 4  # fewer than 5 records, but it names no one
    result = evaluate(table, wards(), merged.assign(age=merged["age"] + 0.05), schema=merge)
    (check,) = [c for c in result.privacy.checks if c.name == "rare categories"]
    assert check.verdict is Verdict.PASS
    assert rare_categories(table, infer_schema(table).modelled) == {"ward": ["transplant", "burns"]}
