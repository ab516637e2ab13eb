"""Reading and writing tables (CSV, Parquet) with errors a user can act on.

A file is read by what it holds, not only by its name: a gzip, bz2, xz or zip file named `.csv` is
decompressed, a Parquet file is read as Parquet, and an Excel workbook is refused with the remedy. Whatever
goes wrong while parsing is a `DataError` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import pandas as pd
import yaml

from synthmed.data.database import DatabaseTable
from synthmed.data.files import atomic_output, check_output
from synthmed.errors import DataError, SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSION = {".csv.gz": "gzip", ".csv.bz2": "bz2", ".csv.zip": "zip", ".csv.xz": "xz"}
# A file's first bytes say what it is, whatever its name.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "parquet"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"\xd0\xcf\x11\xe0", "ole2"),  # a legacy Excel (.xls) workbook
)
SEPARATORS = (",", ";", "\t", "|")
# pandas' options for numbers written with a decimal comma ("1.234,5") or a decimal point ("1,234.5")
DECIMAL_MARKS: dict[str, dict[str, str]] = {",": {"decimal": ",", "thousands": "."}, ".": {"thousands": ","}}
Decimal = Literal[",", "."]


@dataclass(frozen=True)
class ReadOptions:
    """How to read a table file, as `read_table` takes them: extra missing markers, encoding, decimal mark."""

    na_values: Sequence[str] | None = None
    encoding: str | None = None
    decimal: Decimal | None = None

    def read(self, source: str | os.PathLike[str] | DatabaseTable) -> pd.DataFrame:
        return read_table(source, na_values=self.na_values, encoding=self.encoding, decimal=self.decimal)


def is_table_source(data: Any) -> bool:
    """Whether `data` names a table to read (a path or a database table) rather than holding one."""
    return isinstance(data, str | os.PathLike | DatabaseTable)


PLAIN_READING = ReadOptions()


def refuse_duplicated_names(names: pd.Index) -> None:
    duplicated = names[names.duplicated()].tolist()
    if duplicated:
        raise DataError(
            "duplicated column names",
            column=str(duplicated[0]),
            values=duplicated,
            remedy="rename the columns so that each name appears once",
        )


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _content(path: Path) -> str | None:
    """What the file's first bytes say it is ("parquet", a compression, "excel"), None for plain text."""
    with path.open("rb") as handle:
        head = handle.read(8)
    kind = next((kind for magic, kind in MAGIC if head.startswith(magic)), None)
    if kind == "ole2":
        return "excel"
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                if any(name.startswith("xl/") for name in archive.namelist()):
                    return "excel"
        except zipfile.BadZipFile:
            pass
    return kind


def _separator(path: Path, encoding: str | None, compression: str | None) -> str:
    """The separator the header line uses most: many hospital exports are ';'- or tab-separated."""
    line = pd.read_csv(
        path, nrows=1, header=None, encoding=encoding, sep="\x1f", dtype=str, quoting=3, compression=compression
    ).iloc[0, 0]
    return max(SEPARATORS, key=lambda sep: str(line).count(sep))


def _read_csv(
    path: Path,
    compression: str | None,
    na_values: Sequence[str] | None,
    encoding: str | None,
    decimal: Decimal | None,
    as_text: bool | Sequence[str],
) -> pd.DataFrame:
    sep = _separator(path, encoding, compression)
    header = pd.read_csv(
        path, nrows=1, header=None, encoding=encoding, sep=sep, dtype=str, compression=compression
    ).iloc[0]
    refuse_duplicated_names(pd.Index(header))  # before pandas silently renames them to `name.1`
    options: dict[str, Any] = DECIMAL_MARKS[decimal] if decimal is not None else {}
    return pd.read_csv(
        path,
        na_values=list(na_values or []),
        encoding=encoding,
        sep=sep,
        compression=compression,
        dtype=str if as_text is True else (dict.fromkeys(as_text, str) if as_text else None),
        **options,
    )


def _parse_failure(path: Path, error: Exception) -> DataError:
    if isinstance(error, UnicodeDecodeError):
        return DataError(
            f"{str(path)!r} is not valid {error.encoding.upper()} text (byte {error.start}: "
            f"{error.object[error.start : error.start + 1]!r})",
            remedy="pass the file's encoding, e.g. --encoding latin-1 (Python: encoding='latin-1')",
        )
    if isinstance(error, pd.errors.EmptyDataError):
        return DataError(f"{str(path)!r} is empty", remedy="check the file")
    if isinstance(error, LookupError):  # an unknown --encoding name
        return DataError(f"cannot read {str(path)!r}: {error}", remedy="pass a known encoding, e.g. utf-8 or latin-1")
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return DataError(
        f"{str(path)!r} is not a readable table ({detail})",
        remedy="check that the file is complete, and its separator and quoting",
    )


def _checked_file(path: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """A table file that exists, has a format synthmed reads and content matching its name; and that content."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a table", remedy="pass a CSV or Parquet file")
    if not path.is_file():
        raise DataError(f"input file {str(path)!r} does not exist", remedy="check the path")
    suffix = _suffix(path)
    if suffix not in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataError(
            f"cannot read {str(path)!r}: synthmed reads CSV (.csv, .tsv, .txt, optionally compressed) and Parquet",
            remedy="export the table as CSV or Parquet",
        )
    try:
        content = _content(path)
    except OSError as error:
        raise DataError(f"cannot read {str(path)!r}: {error.strerror or error}", remedy="check the file") from None
    if content == "excel":
        raise DataError(f"{str(path)!r} is an Excel workbook, not CSV", remedy="save the sheet as CSV (UTF-8)")
    if suffix in PARQUET_SUFFIXES and content != "parquet":
        raise DataError(
            f"{str(path)!r} is not a readable Parquet file (it lacks Parquet's header)",
            remedy="check that the file is complete; if it holds CSV text, name it .csv",
        )
    return path, content


def parquet_batches(path: str | os.PathLike[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows as record batches, so a large file is never held whole; a damaged file is a
    synthmed error."""
    import pyarrow.parquet as pq

    path, _ = _checked_file(path)
    try:
        yield from pq.ParquetFile(path).iter_batches(batch_rows)
    except Exception as error:  # pyarrow's failures on a damaged file: one message, no trace
        raise _parse_failure(path, error) from None


def read_table(
    path: str | os.PathLike[str] | DatabaseTable,
    *,
    na_values: Sequence[str] | None = None,
    encoding: str | None = None,
    decimal: Decimal | None = None,
    as_text: bool | Sequence[str] = False,
) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file.

    pandas' usual missing markers (empty, NA, N/A, NaN, null...) always count as missing; `na_values` adds
    the data set's own markers, such as "?" in the UCI heart files. `decimal` (CSV only) says how numbers are
    written when the file does not make it clear: "," for "1.234,5", "." for "1,234.5"; without it, columns
    of decimal-comma numbers are recognised during validation (data/numbers.py). `as_text` reads every CSV
    column (True) or the named ones as text, so codes keep their leading zeros. A `DatabaseTable`
    (data/database.py) is read from its database, typed by the database's column types.
    """
    if isinstance(path, DatabaseTable):
        return path.read(list(na_values or []))
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise DataError("the decimal mark must be ',' or '.'", values=[decimal], remedy="e.g. --decimal ,")
    path, content = _checked_file(path)
    try:
        if content == "parquet":
            from synthmed.data.sparse import is_sparse_file, read_sparse

            if is_sparse_file(path):  # a sparse code matrix, read as the dense table it stands for
                return read_sparse(path).to_frame()
            table = pd.read_parquet(path)
            return table.replace(list(na_values), pd.NA) if na_values else table
        return _read_csv(path, content, na_values, encoding, decimal, as_text)
    except DataError:
        raise
    except Exception as error:  # any parser's failure (pandas, pyarrow, gzip, zlib, lzma): one message, no trace
        raise _parse_failure(path, error) from None


def check_table_output(path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Refuse a table output synthmed cannot write (unknown format, unusable path) before any work."""
    path = Path(path)
    if _suffix(path) not in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataError(f"cannot tell the output format of {str(path)!r}", remedy="use a .csv or .parquet file name")
    return check_output(path, overwrite=overwrite, example="synthetic.csv")


def write_table_blocks(blocks: Iterable[pd.DataFrame], path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write the tables `blocks` yields, one after another, as one CSV or Parquet file (by suffix), holding one block
    in memory at a time; the file appears complete or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = check_table_output(path, overwrite=overwrite)
    suffix = _suffix(path)
    with atomic_output(path) as temporary:
        if suffix in PARQUET_SUFFIXES:
            writer = None
            try:
                for block in blocks:
                    batch = pa.Table.from_pandas(block, preserve_index=False)
                    writer = writer or pq.ParquetWriter(temporary, batch.schema)
                    writer.write_table(batch.cast(writer.schema))
            finally:
                if writer is not None:
                    writer.close()
        else:
            with _text_sink(temporary, path) as handle:
                for index, block in enumerate(blocks):
                    block.to_csv(handle, index=False, header=index == 0, sep="\t" if suffix == ".tsv" else ",")
    return path


@contextmanager
def _text_sink(temporary: Path, destination: Path) -> Iterator[IO[str]]:
    """A text stream into `temporary`, compressed as `destination`'s suffix says (a zip names its member after it)."""
    method = COMPRESSION.get(_suffix(destination))
    if method == "zip":
        with (
            zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
            archive.open(destination.name[: -len(".zip")], "w") as member,
            io.TextIOWrapper(member, encoding="utf-8", newline="") as handle,
        ):
            yield handle
        return
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(method or "", open)
    with opener(temporary, "wt", encoding="utf-8", newline="") as handle:
        yield handle


def write_table(table: pd.DataFrame, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Write CSV or Parquet by suffix; the file appears complete or not at all."""
    path = check_table_output(path, overwrite=overwrite)
    suffix = _suffix(path)
    with atomic_output(path) as temporary:
        if suffix in PARQUET_SUFFIXES:
            table.to_parquet(temporary, index=False)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            method = COMPRESSION.get(suffix)
            # a zip names its member: the destination's name, not the temporary one's
            compression = {"method": method, "archive_name": path.name[: -len(".zip")]} if method == "zip" else method
            table.to_csv(temporary, index=False, sep=sep, compression=compression)
    return path


def read_spec_section(path: str | Path, key: str, kind: type, what: str, required: bool = True) -> Any:
    """The non-empty `key` entry (a `kind`: list or dict) of a YAML/JSON spec file such as a layout or groups file;
    None when the entry is absent and not `required`."""
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SchemaError(f"cannot read the {what} {str(path)!r}: {error}") from None
    section = spec.get(key) if isinstance(spec, dict) else None
    if section is None and not required:
        return None
    if not isinstance(section, kind) or not section:
        shape = "list" if kind is list else "mapping"
        raise SchemaError(f"a {what} needs a non-empty {shape} under {key!r}", remedy=f"see the {what}'s docs")
    return section
