"""`auto`: sequences go to tsgan, code matrices to medGAN with its extensions, every other table to tabgan."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthmed.data.schema import Schema
from synthmed.models.auto import CODE_MATRIX_COLUMNS, choose_model
from tests.models.tables import mixed_patients


def codes(columns: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    matrix = pd.DataFrame((rng.random((60, columns)) < 0.2).astype(int), columns=[f"c{i}" for i in range(columns)])
    return matrix.assign(subject_id=np.arange(60))  # an identifier is not a modelled column


def test_a_mixed_clinical_table_gets_tabgan_and_the_reason_names_its_columns() -> None:
    choice = choose_model(mixed_patients())
    assert (choice.model, choice.preset) == ("tabgan", None)
    assert "mixed table" in choice.reason and "1 continuous" in choice.reason


def test_a_table_of_codes_or_flags_gets_medgan_with_its_extensions() -> None:
    choice = choose_model(codes(CODE_MATRIX_COLUMNS))
    assert (choice.model, choice.preset) == ("medgan", "medgan-extended")
    assert f"{CODE_MATRIX_COLUMNS} columns" in choice.reason
    assert choose_model(codes(CODE_MATRIX_COLUMNS - 1)).model == "tabgan"  # fewer flags than measured: tabgan
    assert choose_model(codes(30).to_numpy()[:, :30]).model == "medgan"  # an array of codes too


def test_a_declared_kind_counts_and_sequences_go_to_tsgan() -> None:
    declared = Schema.from_dict({"columns": {"c0": {"kind": "categorical"}}})
    assert choose_model(codes(25), schema=declared).model == "tabgan"
    assert choose_model(codes(25), sequences=True).model == "tsgan"
    assert choose_model(np.zeros((4, 10, 2))).preset == "tsgan-adam"
