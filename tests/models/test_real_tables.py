"""End to end on real clinical tables from ../shared: messy inputs in, faithful-typed synthetic rows out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthmed.data import read_table
from synthmed.errors import SynthmedWarning
from synthmed.models import MedGAN
from tests.conftest import shared_file

pytestmark = pytest.mark.e2e
QUICK = {"epochs": 3, "pretrain_epochs": 3, "batch_size": 200, "seed": 0}


def test_uci_heart_920_with_text_categories_missing_values_and_an_id() -> None:
    path = shared_file("heart-uci-920", "heart_disease_uci.csv")
    real = read_table(path)
    with pytest.warns(UserWarning, match="'id' left out as an identifier"):
        model = MedGAN(**QUICK).fit(path, progress=False)
    synthetic = model.sample(500)
    expected = real.drop(columns="id")
    assert list(synthetic.columns) == list(expected.columns)
    assert synthetic.dtypes.to_dict() == expected.dtypes.to_dict()
    for column in ("dataset", "cp", "restecg", "slope", "thal"):
        assert set(synthetic[column].dropna()) <= set(real[column].dropna())
    spans = {(s.column, s.role) for s in model.transformer_.layout_.spans}
    assert ("trestbps", "missing") in spans and ("ca", "missing") in spans  # missingness is modelled


def test_cleveland_question_marks_read_as_missing() -> None:
    path = shared_file("heart-cleveland", "processed.cleveland.csv")
    with pytest.warns(SynthmedWarning, match=r"Column 'ca': 4 values '\?' read as missing"):
        model = MedGAN(**QUICK).fit(path, progress=False)
    assert ("ca", "missing") in {(s.column, s.role) for s in model.transformer_.layout_.spans}
    synthetic = model.sample(300)
    real = read_table(path, na_values=["?"])
    assert synthetic.shape == (300, real.shape[1])
    assert np.array_equal(np.mod(synthetic["age"], 1), np.zeros(300))  # integer-valued columns stay integers
    assert synthetic["age"].between(real["age"].min(), real["age"].max()).all()


def test_diabetes_130_keys_are_excluded_and_lookup_codes_kept() -> None:
    table = read_table(shared_file("diabetes-130-us-hospitals", "diabetic_data.csv"), na_values=["?"])
    sample = table.sample(3000, random_state=0)
    with pytest.warns(UserWarning) as caught:
        model = MedGAN(**QUICK).fit(sample, progress=False)
    excluded = {c.name for c in model.schema_.columns if c.kind.value == "identifier"}
    assert excluded == {"encounter_id", "patient_nbr"}
    assert all("left out as an identifier" in str(w.message) for w in caught if "left out" in str(w.message))
    synthetic = model.sample(200)
    assert "admission_type_id" in synthetic.columns
    assert set(synthetic["readmitted"]) <= {"<30", ">30", "NO"}
    assert isinstance(synthetic, pd.DataFrame) and len(synthetic) == 200
