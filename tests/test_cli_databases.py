"""The commands read and write tables where they live: DuckDB everywhere, PostgreSQL on a server the tests start."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synthmed.data import DatabaseTable, read_table
from tests.conftest import shared_file
from tests.test_cli import TINY, assert_user_error, invoke
from tests.workflows.test_release import patients

FAST_TABGAN = ["--epochs", "2", "--batch-size", "40", "--set", "generator_dims=16", "--set", "critic_dims=16"]


@pytest.fixture
def hospital(tmp_path: Path) -> str:
    path = tmp_path / "hospital.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("rows", patients(0, 300))
        connection.execute("CREATE TABLE patients AS SELECT * FROM rows")
    return f"duckdb:///{path}"


def test_fit_sample_and_schema_through_duckdb(hospital: str, tmp_path: Path) -> None:
    model = tmp_path / "m.smg"
    fitted = invoke("fit", "--db", hospital, "--query", "SELECT * FROM patients WHERE age > 30", "-o", model, *TINY)
    assert fitted.exit_code == 0, fitted.output
    written = invoke("sample", model, "-n", "40", "--db", hospital, "--table", "synthetic", "-q")
    assert written.exit_code == 0, written.output
    synthetic = read_table(DatabaseTable(hospital, table="synthetic"))
    assert len(synthetic) == 40 and list(synthetic.columns) == list(patients(0, 1).columns)
    again = invoke("sample", model, "-n", "40", "--db", hospital, "--table", "synthetic")
    assert_user_error(again, "table 'synthetic' already exists", "--if-exists replace")
    replaced = invoke("sample", model, "-n", "7", "--db", hospital, "--table", "synthetic", "--if-exists", "replace")
    assert replaced.exit_code == 0 and len(read_table(DatabaseTable(hospital, table="synthetic"))) == 7
    described = invoke("schema", "--db", hospital, "--table", "patients")
    assert described.exit_code == 0 and "smoker:" in described.stdout


def test_the_one_command_release_reads_and_writes_the_database(hospital: str, tmp_path: Path) -> None:
    result = invoke(
        "release", "--db", hospital, "--table", "patients", "-o", tmp_path / "rel", "--target", "smoker",
        "--output-table", "released", "--shadow-models", "4", *FAST_TABGAN, "-q",
    )  # fmt: skip
    assert result.exit_code in (0, 3), result.output
    with duckdb.connect(hospital.removeprefix("duckdb:///"), read_only=True) as connection:
        tables = {row[0] for row in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert ("released" in tables) == (result.exit_code == 0)  # rows go back only when released
    assert (tmp_path / "rel" / "report.html").exists()


def test_evaluate_names_tables_in_the_database(hospital: str, tmp_path: Path) -> None:
    with duckdb.connect(hospital.removeprefix("duckdb:///")) as connection:
        for name, seed in (("holdout", 1), ("fresh", 2)):
            connection.register("rows", patients(seed, 300))
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM rows")
            connection.unregister("rows")
    result = invoke(
        "evaluate", "--db", hospital, "--train", "patients", "--holdout", "holdout", "--synthetic", "fresh",
        "--json", tmp_path / "e.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    about = json.loads((tmp_path / "e.json").read_text())["about"]
    assert about["rows"] == {"train": 300, "holdout": 300, "synthetic": 300}


def test_database_mistakes_exit_2_without_a_traceback(hospital: str, tmp_path: Path) -> None:
    missing = invoke("fit", "--db", hospital, "--table", "nowhere", "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(missing, "table 'nowhere'", "does not exist")
    alone = invoke("fit", "--table", "patients", "-o", tmp_path / "m.smg")
    assert_user_error(alone, "--table and --query read from a database", "--db URL")
    both = invoke("fit", tmp_path / "x.csv", "--db", hospital, "--table", "patients", "-o", tmp_path / "m.smg")
    assert_user_error(both, "from a file or from --db, not both")
    secret = invoke("fit", "--db", "postgresql://u:hunter2@127.0.0.1:1/db", "--table", "t", "-o", tmp_path / "m.smg")
    assert_user_error(secret, "cannot connect to postgresql://u:***@127.0.0.1:1/db")
    assert "hunter2" not in secret.output
    assert not (tmp_path / "m.smg").exists()


def _load(url: str, name: str, frame: pd.DataFrame) -> None:
    if url.startswith("duckdb:///"):
        with duckdb.connect(url.removeprefix("duckdb:///")) as connection:
            connection.register("rows", frame)
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM rows")
        return
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        frame.to_sql(name, connection, if_exists="replace", index=False)
    engine.dispose()


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_mimic_demo_in_a_database_to_codes_to_medgan_and_back(engine: str, request, tmp_path: Path) -> None:
    """The issue's end-to-end path: MIMIC-III demo diagnoses in the database -> code matrix -> medGAN -> back."""
    diagnoses = pd.read_csv(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv"), dtype=str)
    url = f"duckdb:///{tmp_path / 'mimic.duckdb'}" if engine == "duckdb" else request.getfixturevalue("postgres_url")
    _load(url, "diagnoses_icd", diagnoses)
    codes = tmp_path / "codes.parquet"
    built = invoke("ehr-matrix", "--db", url, "--table", "diagnoses_icd", "-o", codes)
    assert built.exit_code == 0 and "100 patients" in built.stdout, built.output
    model = tmp_path / "m.smg"
    assert invoke("fit", codes, "-o", model, *TINY, "-q").exit_code == 0
    back = invoke("sample", model, "-n", "50", "--db", url, "--table", "synthetic_codes", "--if-exists", "replace")
    assert back.exit_code == 0, back.output
    synthetic = read_table(DatabaseTable(url, table="synthetic_codes"))
    matrix = pd.read_parquet(codes)
    assert len(synthetic) == 50 and set(synthetic.columns) == set(matrix.columns) - {"subject_id"}


def test_a_code_matrix_from_a_database_or_parquet_is_summed_batch_by_batch(tmp_path: Path) -> None:
    from synthmed.data.ehr import code_matrix, dense_matrix, sparse_matrix
    from synthmed.workflows.ehr_matrix import _streamed_events

    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {
            "subject_id": rng.integers(1, 40, 900).astype(str),
            "icd9_code": rng.choice(["4019", "25000", "E8790", "V5861", "41401"], 900),
        }
    )
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    _load(url, "diagnoses", events)
    events.to_parquet(tmp_path / "events.parquet")
    for source in (DatabaseTable(url, table="diagnoses"), tmp_path / "events.parquet"):
        triples, id_name = _streamed_events(source, None, None, "3digit", "patient", 64)
        for counts in (False, True):
            whole = code_matrix(events, counts=counts)
            pd.testing.assert_frame_equal(dense_matrix(triples, id_name, counts), whole)
            kept = sparse_matrix(triples, id_name, counts)
            assert (kept.values.toarray() == whole.to_numpy()).all() and list(kept.codes) == list(whole.columns)
            assert kept.ids.tolist() == whole.index.tolist() and kept.counts == counts
