"""Tables where they live: DuckDB (embedded, everywhere) and PostgreSQL (a real server started by the tests)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synthmed.data import DatabaseTable, infer_schema, read_table, write_database
from synthmed.data.database import DatabaseDestination, masked, record_batches
from synthmed.data.schema import ColumnKind
from synthmed.errors import DataError, OutputError

ROWS = 240
TYPED = """CREATE TABLE visits AS SELECT
    30 + i % 50 AS age,
    CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex,
    DATE '2020-01-01' + (i % 300)::INTEGER AS visit,
    i % 3 = 0 AS smoker,
    (i % 7)::NUMERIC(5, 0) AS admissions,
    (20 + (i % 100) / 10.0)::NUMERIC(5, 2) AS bmi
FROM range({rows}) AS r(i)"""


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    path = tmp_path / "hospital.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(TYPED.format(rows=ROWS))
    return f"duckdb:///{path}"


def test_the_databases_types_decide_the_column_kinds(duckdb_url: str) -> None:
    table = read_table(DatabaseTable(duckdb_url, table="visits"))
    assert len(table) == ROWS
    assert pd.api.types.is_datetime64_any_dtype(table["visit"]) and table["smoker"].dtype == bool
    assert pd.api.types.is_integer_dtype(table["admissions"]) and table["bmi"].dtype == float
    kinds = {column.name: column.kind for column in infer_schema(table).columns}
    assert kinds == {
        "age": ColumnKind.COUNT,
        "sex": ColumnKind.BINARY,
        "visit": ColumnKind.DATETIME,
        "smoker": ColumnKind.BINARY,
        "admissions": ColumnKind.COUNT,
        "bmi": ColumnKind.CONTINUOUS,
    }


def test_a_query_is_read_in_batches(duckdb_url: str) -> None:
    source = DatabaseTable(duckdb_url, query="SELECT age, bmi FROM visits WHERE age >= 60")
    batches = list(record_batches(source, rows=16))
    assert len(batches) > 1 and all(batch.num_rows <= 16 for batch in batches)
    table = read_table(source)
    assert list(table.columns) == ["age", "bmi"] and (table["age"] >= 60).all()
    assert sum(batch.num_rows for batch in batches) == len(table)


def test_written_tables_read_back_and_an_existing_one_is_refused_unless_asked(duckdb_url: str) -> None:
    rows = pd.DataFrame({"age": [50, 61], "sex": ["F", "M"], "bmi": [22.5, np.nan]})
    write_database(rows, duckdb_url, "synthetic")
    pd.testing.assert_frame_equal(read_table(DatabaseTable(duckdb_url, table="synthetic")), rows, check_dtype=False)
    with pytest.raises(OutputError, match="already exists.*--if-exists replace"):
        write_database(rows, duckdb_url, "synthetic")
    write_database(rows, duckdb_url, "synthetic", if_exists="append")
    assert len(read_table(DatabaseTable(duckdb_url, table="synthetic"))) == 4
    write_database(rows.iloc[:1], duckdb_url, "synthetic", if_exists="replace")
    assert len(read_table(DatabaseTable(duckdb_url, table="synthetic"))) == 1


def test_a_failed_write_leaves_the_table_as_it_was(duckdb_url: str) -> None:
    write_database(pd.DataFrame({"age": [50]}), duckdb_url, "synthetic")
    with pytest.raises(OutputError, match="nothing was written"):
        write_database(pd.DataFrame({"age": [1], "other": [2]}), duckdb_url, "synthetic", if_exists="append")
    assert read_table(DatabaseTable(duckdb_url, table="synthetic"))["age"].tolist() == [50]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (lambda url: DatabaseTable(url, table="nowhere"), "table 'nowhere' in duckdb:.* does not exist"),
        (lambda url: DatabaseTable(url, query="SELEC age FROM visits"), "could not be read.*syntax"),
        (lambda url: DatabaseTable(url + ".missing", table="visits"), "does not exist"),
        (lambda url: DatabaseTable(url, table="visits; DROP TABLE visits"), "a table name is letters"),
        (lambda url: DatabaseTable("hospital.duckdb", table="visits"), "is not a database URL"),
        (lambda url: DatabaseTable(url, table="visits", query="SELECT 1"), "needs a table or a query"),
        (lambda url: DatabaseTable("oracle://u@h/db", table="visits"), "cannot talk to oracle"),
    ],
)
def test_database_mistakes_are_synthmed_errors(duckdb_url: str, source, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_table(source(duckdb_url))


def test_passwords_never_appear_in_messages() -> None:
    url = "postgresql://steward:s3cret-pw@127.0.0.1:1/hospital"
    assert masked(url) == "postgresql://steward:***@127.0.0.1:1/hospital"
    with pytest.raises(DataError) as caught:
        read_table(DatabaseTable(url, table="patients"))
    assert "s3cret-pw" not in str(caught.value) and "cannot connect to postgresql://steward:***@" in str(caught.value)
    with pytest.raises(DataError) as refused:
        DatabaseDestination(url, "synthetic").check()
    assert "s3cret-pw" not in str(refused.value)


def test_postgresql_round_trip_with_its_types(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS visits"))
        connection.execute(
            text(
                "CREATE TABLE visits AS SELECT 30 + i % 50 AS age, (i % 7)::NUMERIC(5, 0) AS admissions, "
                "(20 + (i % 100) / 10.0)::NUMERIC(5, 2) AS bmi, DATE '2020-01-01' + i % 300 AS visit, "
                "i % 3 = 0 AS smoker FROM generate_series(1, 200) AS i"
            )
        )
    engine.dispose()
    table = read_table(DatabaseTable(postgres_url, table="visits"))
    kinds = {column.name: column.kind for column in infer_schema(table).columns}
    assert kinds["admissions"] is ColumnKind.COUNT and kinds["bmi"] is ColumnKind.CONTINUOUS
    assert kinds["visit"] is ColumnKind.DATETIME and kinds["smoker"] is ColumnKind.BINARY
    write_database(table.head(5), postgres_url, "synthetic_visits", if_exists="replace")
    back = read_table(DatabaseTable(postgres_url, query="SELECT * FROM synthetic_visits ORDER BY visit"))
    assert len(back) == 5 and list(back.columns) == list(table.columns)
    with pytest.raises(OutputError, match="nothing was written"):
        write_database(pd.DataFrame({"nope": [1]}), postgres_url, "synthetic_visits", if_exists="append")
    assert len(read_table(DatabaseTable(postgres_url, table="synthetic_visits"))) == 5
    with pytest.raises(DataError, match="does not exist"):
        read_table(DatabaseTable(postgres_url, table="nowhere"))


def test_an_open_connection_is_used_and_left_open(duckdb_url: str) -> None:
    connection = duckdb.connect(duckdb_url.removeprefix("duckdb:///"), read_only=True)
    table = read_table(DatabaseTable(connection, query="SELECT age FROM visits WHERE smoker"))
    assert len(table) == ROWS // 3 and connection.execute("SELECT 1").fetchone() == (1,)  # still open
    with pytest.raises(DataError, match="table 'nowhere' in the DuckDB connection does not exist"):
        read_table(DatabaseTable(connection, table="nowhere"))
    connection.close()


def test_a_sqlalchemy_engine_is_used_and_left_open(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    table = read_table(DatabaseTable(engine, query="SELECT 1 AS one, DATE '2020-02-02' AS day"))
    assert table["one"].tolist() == [1] and pd.api.types.is_datetime64_any_dtype(table["day"])
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 2")).scalar() == 2
    engine.dispose()
