"""OMOP CDM -> omop-matrix -> model -> omop-export, on a CDM the tests build (and one from the MIMIC-III demo)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synthmed.data import DatabaseTable, read_table
from synthmed.data.omop import EHR_TYPE_CONCEPT, OmopQuery, omop_matrix, omop_rows
from synthmed.errors import ConfigError
from tests.conftest import shared_file
from tests.test_cli import TINY, assert_user_error, invoke

# concept 11 and 12 are children of 10; 21 a child of 20; 30 has no parent
EVENTS = [(1, 11), (1, 11), (1, 12), (2, 21), (2, 30), (3, 12), (3, 21), (3, 21), (3, 21)]


def _cdm(path: Path, persons: pd.DataFrame, events: pd.DataFrame, ancestors: pd.DataFrame, schema: str = "") -> str:
    prefix = f"{schema}." if schema else ""
    with duckdb.connect(str(path)) as connection:
        if schema:
            connection.execute(f"CREATE SCHEMA {schema}")
        for name, frame in (("person", persons), ("condition_occurrence", events), ("concept_ancestor", ancestors)):
            connection.register("rows", frame)
            connection.execute(f"CREATE TABLE {prefix}{name} AS SELECT * FROM rows")
            connection.unregister("rows")
    return f"duckdb:///{path}"


def _small_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    persons = pd.DataFrame(
        {"person_id": [1, 2, 3, 4], "year_of_birth": [1950, 1962, 1971, 1980],
         "gender_concept_id": [8507, 8532, 8532, 8507], "race_concept_id": [0, 8527, 8527, 0]}
    )  # fmt: skip
    events = pd.DataFrame(
        {"condition_occurrence_id": range(1, len(EVENTS) + 1), "person_id": [p for p, _ in EVENTS],
         "condition_concept_id": [c for _, c in EVENTS], "condition_start_date": pd.Timestamp("2100-01-01")}
    )  # fmt: skip
    ancestors = pd.DataFrame(
        {"ancestor_concept_id": [10, 10, 20, 11, 12, 21, 30], "descendant_concept_id": [11, 12, 21, 11, 12, 21, 30],
         "min_levels_of_separation": [1, 1, 1, 0, 0, 0, 0]}
    )  # fmt: skip
    return persons, events, ancestors


@pytest.fixture
def small_cdm(tmp_path: Path) -> str:
    return _cdm(tmp_path / "omop.duckdb", *_small_frames(), schema="cdm")


def test_postgresql_counts_the_same_matrix(postgres_url: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS cdm CASCADE"))
        connection.execute(text("CREATE SCHEMA cdm"))
        for name, frame in zip(("person", "condition_occurrence", "concept_ancestor"), _small_frames(), strict=True):
            frame.to_sql(name, connection, schema="cdm", index=False)
    engine.dispose()
    duck = _cdm(tmp_path / "omop.duckdb", *_small_frames(), schema="cdm")
    for query in (OmopQuery(schema="cdm", counts=True), OmopQuery(schema="cdm", levels=1, demographics=True)):
        pd.testing.assert_frame_equal(omop_matrix(postgres_url, query), omop_matrix(duck, query), check_dtype=False)


def test_the_database_counts_events_per_person_and_concept(small_cdm: str) -> None:
    counted = omop_matrix(small_cdm, OmopQuery(schema="cdm", counts=True))
    assert counted["person_id"].tolist() == [1, 2, 3, 4]  # person 4 has no condition: a row of zeros
    assert counted.drop(columns="person_id").to_dict("list") == {
        "concept_11": [2, 0, 0, 0], "concept_12": [1, 0, 1, 0], "concept_21": [0, 1, 3, 0], "concept_30": [0, 1, 0, 0]
    }  # fmt: skip
    rolled = omop_matrix(small_cdm, OmopQuery(schema="cdm", levels=1, demographics=True))
    assert list(rolled.columns) == [
        "person_id", "year_of_birth", "gender_concept_id", "race_concept_id", "concept_10", "concept_20", "concept_30"
    ]  # fmt: skip
    assert rolled["concept_10"].tolist() == [1, 0, 1, 0] and rolled["concept_30"].tolist() == [0, 1, 0, 0]
    assert rolled["gender_concept_id"].tolist() == [8507, 8532, 8532, 8507]


def test_synthetic_rows_become_omop_rows_with_new_ids_and_no_real_dates() -> None:
    synthetic = pd.DataFrame({"gender_concept_id": [8507, 8532], "concept_10": [2, 0], "concept_30": [1, 1]})
    person, conditions = omop_rows(synthetic, first_person=101)
    assert person["person_id"].tolist() == [101, 102] and person["gender_concept_id"].tolist() == [8507, 8532]
    assert conditions["person_id"].tolist() == [101, 101, 101, 102]
    assert conditions["condition_concept_id"].tolist() == [10, 10, 30, 30]
    assert (conditions["condition_start_date"] == pd.Timestamp("1970-01-01")).all()
    assert (conditions["condition_type_concept_id"] == EHR_TYPE_CONCEPT).all()


def test_cdm_to_matrix_to_model_to_omop_through_the_cli(small_cdm: str, tmp_path: Path) -> None:
    matrix, model, synthetic = tmp_path / "m.parquet", tmp_path / "g.smg", tmp_path / "s.parquet"
    built = invoke("omop-matrix", "--db", small_cdm, "--schema", "cdm", "--level", "ancestor:1", "-o", matrix)
    assert built.exit_code == 0 and "4 persons x 3 condition concepts" in built.stdout, built.output
    # four persons are too few to learn from: repeat them, as a larger CDM would hold more
    pd.concat([pd.read_parquet(matrix)] * 10, ignore_index=True).assign(person_id=range(40)).to_parquet(matrix)
    assert invoke("fit", matrix, "-o", model, *TINY, "-q").exit_code == 0
    assert invoke("sample", model, "-n", "30", "-o", synthetic, "-q").exit_code == 0
    exported = invoke("omop-export", synthetic, "--db", small_cdm, "--schema", "synthetic")
    assert_user_error(exported, "could not write table 'synthetic.person'", "nothing was written")  # no schema yet
    with duckdb.connect(small_cdm.removeprefix("duckdb:///")) as connection:
        connection.execute("CREATE SCHEMA synthetic")
    exported = invoke("omop-export", synthetic, "--db", small_cdm, "--schema", "synthetic")
    assert exported.exit_code == 0, exported.output
    person = read_table(DatabaseTable(small_cdm, table="synthetic.person"))
    assert person["person_id"].tolist() == list(range(1, 31))
    conditions = read_table(DatabaseTable(small_cdm, table="synthetic.condition_occurrence"))
    assert set(conditions["condition_concept_id"]) <= {10, 20, 30} and set(conditions["person_id"]) <= set(range(1, 31))
    again = invoke("omop-export", synthetic, "--db", small_cdm, "--schema", "synthetic")
    assert_user_error(again, "table 'synthetic.person' already exists", "--if-exists replace")


def test_omop_matrix_sparse_holds_the_same_counts(small_cdm: str, tmp_path: Path) -> None:
    kept = tmp_path / "sparse.parquet"
    built = invoke("omop-matrix", "--db", small_cdm, "--schema", "cdm", "--counts", "--sparse", "-o", kept)
    assert built.exit_code == 0 and "4 persons x 4 condition concepts" in built.stdout, built.output
    dense = omop_matrix(small_cdm, OmopQuery(schema="cdm", counts=True))
    pd.testing.assert_frame_equal(read_table(kept), dense.astype({"person_id": "str"}), check_dtype=False)
    refused = invoke("omop-matrix", "--db", small_cdm, "--sparse", "--demographics", "-o", tmp_path / "d.parquet")
    assert_user_error(refused, "holds concepts only")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--domain", "visits"], "unknown OMOP domain"),
        (["--level", "ancestor"], "--level is concept or ancestor:N"),
        (["--schema", "nowhere"], "does not exist"),
    ],
)
def test_omop_mistakes_exit_2(small_cdm: str, tmp_path: Path, options: list[str], message: str) -> None:
    result = invoke("omop-matrix", "--db", small_cdm, *options, "-o", tmp_path / "m.parquet")
    assert_user_error(result, message)
    assert not (tmp_path / "m.parquet").exists()


def test_a_level_must_climb() -> None:
    with pytest.raises(ConfigError, match="ancestor level"):
        OmopQuery(levels=0)


def test_mimic_demo_as_an_omop_cdm(tmp_path: Path) -> None:
    """A small OMOP CDM built from the MIMIC-III demo: ICD-9 source codes mapped to concept ids the test defines,
    each rolled up to its 3-digit category in concept_ancestor."""
    patients = pd.read_csv(shared_file("mimic3-demo", "PATIENTS.csv"))
    diagnoses = pd.read_csv(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv"), dtype={"icd9_code": str}).dropna()
    codes = np.sort(diagnoses["icd9_code"].unique())
    categories = np.sort(np.unique([code[:3] for code in codes]))
    code_concept = {code: 1_000_000 + i for i, code in enumerate(codes)}
    category_concept = {category: 2_000_000 + i for i, category in enumerate(categories)}
    persons = pd.DataFrame(
        {"person_id": patients["subject_id"], "year_of_birth": pd.to_datetime(patients["dob"]).dt.year,
         "gender_concept_id": patients["gender"].map({"M": 8507, "F": 8532}), "race_concept_id": 0}
    )  # fmt: skip
    events = pd.DataFrame(
        {"condition_occurrence_id": range(len(diagnoses)), "person_id": diagnoses["subject_id"],
         "condition_concept_id": diagnoses["icd9_code"].map(code_concept),
         "condition_source_value": diagnoses["icd9_code"]}
    )  # fmt: skip
    ancestors = pd.DataFrame(
        {"ancestor_concept_id": [category_concept[code[:3]] for code in codes],
         "descendant_concept_id": [code_concept[code] for code in codes], "min_levels_of_separation": 1}
    )  # fmt: skip
    url = _cdm(tmp_path / "mimic.duckdb", persons, events, ancestors)
    matrix = omop_matrix(url, OmopQuery(levels=1))
    assert matrix.shape == (100, 1 + len(categories))
    # the same 3-digit categories, per patient, as the ICD-9 codes themselves say
    expected = diagnoses.assign(category=diagnoses["icd9_code"].str[:3]).groupby("subject_id")["category"].nunique()
    found = matrix.set_index("person_id").sum(axis=1)
    assert found.loc[expected.index].tolist() == expected.tolist()
