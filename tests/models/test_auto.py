"""`auto`: sequences go to tsgan, wide 0/1 code matrices to visitgpt, narrower tables of codes or flags (and counts) to
medGAN with its extensions, every other table to tabgan."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthmed.data.schema import Schema
from synthmed.models.auto import CODE_MATRIX_COLUMNS, WIDE_CODE_MATRIX, choose_model
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


def test_a_wide_matrix_of_0_1_codes_gets_visitgpt_and_counts_or_a_schema_keep_medgan() -> None:
    matrix = codes(WIDE_CODE_MATRIX)
    choice = choose_model(matrix)
    assert (choice.model, choice.preset) == ("visitgpt", None)
    assert f"{WIDE_CODE_MATRIX} columns of 0/1" in choice.reason
    assert choose_model(matrix.to_numpy()[:, :WIDE_CODE_MATRIX]).model == "visitgpt"  # an array of codes too
    assert choose_model(codes(WIDE_CODE_MATRIX - 1)).model == "medgan"
    counts = matrix.assign(c0=matrix["c0"] * 3)  # one column of counts: not a set of codes
    assert choose_model(counts).model == "medgan"
    missing = matrix.assign(c1=matrix["c1"].astype("boolean").mask(matrix.index < 5))  # a flag with missing values
    assert choose_model(missing).model == "medgan"
    declared = Schema.from_dict({"columns": {"c0": {"kind": "binary"}}})
    assert choose_model(matrix, schema=declared).model == "medgan"  # visitgpt takes no schema
