"""Tables where they live: read from and write to SQL databases through their own engines.

A `DatabaseTable` names a table (or a query) in a database given by URL: `duckdb:///path.duckdb` (DuckDB, embedded,
no server; the default) or any SQLAlchemy URL (`postgresql://user@host/db`, tested on PostgreSQL). Rows arrive as
Arrow record batches and the database's types decide the column types: a DATE or TIMESTAMP is a datetime, a
BOOLEAN binary, an integer or NUMERIC(p, 0) a whole number, other NUMERICs and floats continuous; the schema reviews
them as it reviews a file's. A table written back appears whole or not at all (one transaction). No message shows a
password: URLs are printed with it masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from synthmed.errors import DataError, OutputError

if TYPE_CHECKING:
    import pyarrow as pa

DUCKDB_SCHEME = "duckdb://"
BATCH_ROWS = 100_000
IfExists = Literal["fail", "replace", "append"]
IF_EXISTS = ("fail", "replace", "append")
# a table name: letters, digits and underscores, optionally schema-qualified ("cdm.person")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def masked(url: str) -> str:
    """`url` with any password replaced by ***, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)


def _scrub(text: str, url: Any) -> str:
    """A driver's message with the URL's password, if any, masked wherever it appears."""
    if not isinstance(url, str):
        url = str(getattr(getattr(url, "engine", url), "url", ""))
    found = re.search(r"://[^:/@]+:([^@]*)@", url)
    return text.replace(found.group(1), "***") if found and found.group(1) else text


@dataclass(frozen=True)
class DatabaseTable:
    """A table (`table`) or the result of a query (`query`) in the database at `url`: a URL, or (in Python) an open
    DuckDB connection or SQLAlchemy engine/connection, which synthmed uses and leaves open."""

    url: Any
    table: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise DataError("a database source needs a table or a query", remedy="give --table NAME or --query SQL")
        if self.table is not None:
            check_table_name(self.table)
        if _is_connection(self.url):
            return
        if not isinstance(self.url, str) or "://" not in self.url:
            raise DataError(
                f"{self.url!r} is not a database URL",
                remedy="use duckdb:///path.duckdb or a SQLAlchemy URL such as postgresql://user@host/db",
            )

    @property
    def sql(self) -> str:
        return self.query if self.query is not None else f"SELECT * FROM {quoted(self.table)}"

    def __str__(self) -> str:
        what = f"table {self.table!r}" if self.table is not None else "the query"
        return f"{what} in {_described(self.url)}"

    def read(self, na_values: list[str] | None = None) -> pd.DataFrame:
        return read_database(self, na_values=na_values)


def _is_duckdb_connection(value: Any) -> bool:
    return type(value).__name__ == "DuckDBPyConnection"


def _is_connection(value: Any) -> bool:
    """An open DuckDB connection, or a SQLAlchemy engine or connection (anything with a dialect)."""
    return _is_duckdb_connection(value) or hasattr(value, "dialect")


def _described(url: Any) -> str:
    if isinstance(url, str):
        return masked(url)
    if _is_duckdb_connection(url):
        return "the DuckDB connection"
    return masked(str(getattr(getattr(url, "engine", url), "url", "the database")))


def check_table_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DataError(
            "a table name is letters, digits and underscores, optionally after a schema name and a dot",
            values=[name],
            remedy="e.g. --table synthetic_patients or --table cdm.person; use --query for anything else",
        )


def quoted(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def is_duckdb(url: str) -> bool:
    return url.startswith(DUCKDB_SCHEME)


def _duckdb_path(url: str) -> str:
    path = url[len(DUCKDB_SCHEME) :]
    return path[1:] if path.startswith("/") and not path.startswith("//") else path


# ---------------------------------------------------------------------------------------------- types


def _column(array: pa.ChunkedArray) -> pd.Series:
    """One Arrow column as pandas holds it in synthmed: dates as datetimes, NUMERIC(p, 0) as whole numbers."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_decimal(kind):
        array = array.cast(pa.int64() if kind.scale == 0 else pa.float64())
    elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        array = array.cast(pa.timestamp("ns", tz=getattr(kind, "tz", None)))
    series = array.to_pandas()
    if pa.types.is_integer(array.type) and series.dtype == object:  # integers with nulls
        series = series.astype("Float64").astype(float)
    return series


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    return pd.DataFrame({name: _column(table.column(name)) for name in table.column_names})


# ---------------------------------------------------------------------------------------------- reading


def record_batches(source: DatabaseTable, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The rows of `source`, `rows` at a time, straight from the database's cursor."""
    if _is_duckdb_connection(source.url) or (isinstance(source.url, str) and is_duckdb(source.url)):
        yield from _duckdb_batches(source, rows)
    else:
        yield from _sqlalchemy_batches(source, rows)


def _duckdb_batches(source: DatabaseTable, rows: int) -> Iterator[pa.RecordBatch]:
    import duckdb

    given = _is_duckdb_connection(source.url)
    path = "" if given else _duckdb_path(source.url)
    if path not in ("", ":memory:") and not _exists(path):
        raise DataError(f"the DuckDB database {path!r} does not exist", remedy="check the path in --db duckdb:///PATH")
    try:
        connection = source.url if given else duckdb.connect(path or ":memory:", read_only=path not in ("", ":memory:"))
    except duckdb.Error as error:
        raise DataError(f"cannot open {masked(source.url)}: {error}", remedy="check the DuckDB file") from None
    try:
        reader = connection.sql(source.sql).to_arrow_reader(rows)
        yield from reader
    except duckdb.CatalogException as error:
        raise _missing(source, str(error)) from None
    except duckdb.Error as error:
        raise DataError(f"{source} could not be read: {_first_line(str(error))}", remedy=_remedy(source)) from None
    finally:
        if not given:
            connection.close()


def _sqlalchemy_batches(source: DatabaseTable, rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    from sqlalchemy import exc, text

    given = not isinstance(source.url, str)
    engine = source.url if given else _engine(source.url)
    try:
        with engine.connect() if hasattr(engine, "connect") else nullcontext(engine) as connection:
            result = connection.execution_options(stream_results=True, max_row_buffer=rows).execute(text(source.sql))
            names = list(result.keys())
            while chunk := result.fetchmany(rows):
                columns = list(zip(*chunk, strict=True))
                yield pa.RecordBatch.from_arrays([pa.array(list(c), from_pandas=True) for c in columns], names=names)
    except exc.ProgrammingError as error:
        message = _scrub(_first_line(str(error.orig)), source.url)
        if "does not exist" in message and source.table is not None:
            raise _missing(source, message) from None
        raise DataError(f"{source} could not be read: {message}", remedy=_remedy(source)) from None
    except exc.OperationalError as error:
        raise _unreachable(source.url, error) from None
    except exc.SQLAlchemyError as error:
        message = _scrub(_first_line(str(getattr(error, "orig", error))), source.url)
        raise DataError(f"{source} could not be read: {message}", remedy=_remedy(source)) from None
    finally:
        if not given:
            engine.dispose()


def read_database(source: DatabaseTable, na_values: list[str] | None = None) -> pd.DataFrame:
    """The whole table or query result as a DataFrame, typed by the database (see the module's docstring)."""
    import pyarrow as pa

    batches = list(record_batches(source))
    if not batches:
        raise DataError(f"{source} has no rows", remedy="check the table or the query's conditions")
    frame = arrow_to_frame(pa.Table.from_batches(batches))
    return frame.replace(list(na_values), pd.NA) if na_values else frame


def _exists(path: str) -> bool:
    return Path(path).is_file()


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


def _remedy(source: DatabaseTable) -> str:
    return "check the query's SQL" if source.query is not None else "check the table name and your rights on it"


def _missing(source: DatabaseTable, message: str) -> DataError:
    return DataError(
        f"{source} does not exist ({_scrub(_first_line(message), source.url)})",
        remedy="check the table name (and schema); list the database's tables with your SQL client",
    )


def _unreachable(url: Any, error: Exception) -> DataError:
    reason = _scrub(_first_line(str(getattr(error, "orig", error))), url)
    return DataError(
        f"cannot connect to {_described(url)}: {reason}",
        remedy="check that the server runs and the host, port, database name and credentials in --db",
    )


def _engine(url: str) -> Any:
    from sqlalchemy import create_engine, exc

    if url.startswith("postgresql://") or url.startswith("postgres://"):  # the driver synthmed installs
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        return create_engine(url)
    except exc.NoSuchModuleError:
        raise DataError(
            f"synthmed cannot talk to {masked(url).split('://')[0]} databases",
            remedy="use duckdb:///PATH or postgresql://user@host/db",
        ) from None
    except (exc.ArgumentError, ValueError) as error:
        raise DataError(
            f"{masked(url)!r} is not a valid database URL ({_scrub(str(error), url)})",
            remedy="use duckdb:///path.duckdb or a SQLAlchemy URL such as postgresql://user@host/db",
        ) from None
    except ModuleNotFoundError as error:
        raise DataError(
            f"synthmed cannot talk to {masked(url).split('://')[0]} databases: their driver {error.name!r} is not "
            "installed",
            remedy="use duckdb:///PATH or postgresql://user@host/db, or install the driver in synthmed's environment",
        ) from None


# ---------------------------------------------------------------------------------------------- writing


def check_database_output(url: str, table: str, if_exists: IfExists = "fail") -> None:
    """Before any work: the database is reachable and `table` may be written under `if_exists`."""
    check_table_name(table)
    if if_exists not in IF_EXISTS:
        raise OutputError("--if-exists must be fail, replace or append", values=[if_exists])
    if if_exists == "fail" and _table_exists(url, table):
        raise OutputError(
            f"table {table!r} already exists in {masked(url)}",
            remedy="choose another name, or say --if-exists replace (or append)",
        )


def _table_exists(url: str, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    if is_duckdb(url):
        import duckdb

        path = _duckdb_path(url)
        if not _exists(path):
            return False
        try:
            with duckdb.connect(path, read_only=True) as connection:
                return _has_table(connection, table)
        except duckdb.Error as error:
            raise OutputError(f"cannot open {masked(url)}: {_first_line(str(error))}") from None
    from sqlalchemy import exc, inspect

    engine = _engine(url)
    try:
        return inspect(engine).has_table(name, schema=schema or None)
    except exc.OperationalError as error:
        raise _unreachable(url, error) from None
    finally:
        engine.dispose()


def write_database(
    frame: pd.DataFrame | Iterable[pd.DataFrame], url: str, table: str, if_exists: IfExists = "fail"
) -> str:
    """Write `frame` (or each table an iterable yields, one at a time) as `table` in one transaction: an error leaves
    the database as it was. Returns a description."""
    check_database_output(url, table, if_exists)
    blocks = [frame] if isinstance(frame, pd.DataFrame) else frame
    if is_duckdb(url):
        _write_duckdb(blocks, url, table, if_exists)
    else:
        _write_sqlalchemy(blocks, url, table, if_exists)
    return f"table {table!r} in {masked(url)}"


def _write_duckdb(blocks: Iterable[pd.DataFrame], url: str, table: str, if_exists: IfExists) -> None:
    import duckdb

    connection = duckdb.connect(_duckdb_path(url))
    try:
        connection.begin()
        if if_exists == "replace":
            connection.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
        exists = if_exists == "append" and _has_table(connection, table)
        for block in blocks:
            connection.register("synthmed_rows", block.reset_index(drop=True))
            if exists:
                connection.execute(f"INSERT INTO {quoted(table)} BY NAME SELECT * FROM synthmed_rows")
            else:
                connection.execute(f"CREATE TABLE {quoted(table)} AS SELECT * FROM synthmed_rows")
                exists = True
            connection.unregister("synthmed_rows")
        connection.commit()
    except duckdb.Error as error:
        connection.rollback()
        raise OutputError(
            f"could not write table {table!r} to {masked(url)}: {_first_line(str(error))}",
            remedy="nothing was written; check the table's columns when appending",
        ) from None
    finally:
        connection.close()


def _has_table(connection: Any, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    query = "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = ?"
    return bool(connection.execute(query, [name, schema or "main"]).fetchall()[0][0])


def _write_sqlalchemy(blocks: Iterable[pd.DataFrame], url: str, table: str, if_exists: IfExists) -> None:
    from pandas.errors import DatabaseError
    from sqlalchemy import exc

    schema, _, name = table.rpartition(".")
    engine = _engine(url)
    try:
        with engine.begin() as connection:  # PostgreSQL's DDL is transactional: a failure drops nothing
            for index, block in enumerate(blocks):
                block.reset_index(drop=True).to_sql(
                    name,
                    connection,
                    schema=schema or None,
                    if_exists=if_exists if index == 0 else "append",
                    index=False,
                    chunksize=10_000,
                    method="multi",
                )
    except exc.OperationalError as error:
        raise _unreachable(url, error) from None
    except (exc.SQLAlchemyError, DatabaseError, ValueError) as error:
        cause = error.__cause__ if isinstance(error, DatabaseError) and error.__cause__ is not None else error
        message = _scrub(_first_line(str(getattr(cause, "orig", cause))), url)
        raise OutputError(
            f"could not write table {table!r} to {masked(url)}: {message}",
            remedy="nothing was written; check the table's columns when appending",
        ) from None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class DatabaseDestination:
    """Where synthetic rows go in a database: `table` at `url`, created, replaced or appended to."""

    url: str
    table: str
    if_exists: IfExists = "fail"

    def check(self) -> None:
        """Refuse before any work a destination that cannot be written (see `check_database_output`)."""
        check_database_output(self.url, self.table, self.if_exists)

    def write(self, frame: pd.DataFrame) -> str:
        return write_database(frame, self.url, self.table, self.if_exists)

    def __str__(self) -> str:
        return f"table {self.table!r} in {masked(self.url)}"
