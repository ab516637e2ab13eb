"""Reading and writing tables (CSV, Parquet) with errors a user can act on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from synthmed.data.validate import refuse_duplicated_names
from synthmed.errors import DataError, SchemaError

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSION = {".csv.gz": "gzip", ".csv.bz2": "bz2", ".csv.zip": "zip", ".csv.xz": "xz"}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


SEPARATORS = (",", ";", "\t", "|")


def _separator(path: Path, encoding: str | None) -> str:
    """The separator the header line uses most: many hospital exports are ';'- or tab-separated."""
    line = pd.read_csv(path, nrows=1, header=None, encoding=encoding, sep="\x1f", dtype=str, quoting=3).iloc[0, 0]
    return max(SEPARATORS, key=lambda sep: str(line).count(sep))


def _check_header(path: Path, encoding: str | None, sep: str) -> None:
    """Refuse duplicated column names before pandas silently renames them to `name.1`."""
    header = pd.read_csv(path, nrows=1, header=None, encoding=encoding, sep=sep, dtype=str).iloc[0]
    refuse_duplicated_names(pd.Index(header))


def read_table(
    path: str | Path,
    *,
    na_values: Sequence[str] | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file.

    pandas' usual missing markers (empty, NA, N/A, NaN, null...) always count as missing; `na_values` adds
    the data set's own markers, such as "?" in the UCI heart files.
    """
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
    if suffix in PARQUET_SUFFIXES:
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"{str(path)!r} is not a readable Parquet file: {error}") from None
        if na_values:
            table = table.replace(list(na_values), pd.NA)
        return table
    try:
        sep = _separator(path, encoding)
        _check_header(path, encoding, sep)
        return pd.read_csv(path, na_values=list(na_values or []), encoding=encoding, sep=sep)
    except UnicodeDecodeError as error:
        raise DataError(
            f"{str(path)!r} is not valid {encoding or 'UTF-8'} text (byte {error.start}: "
            f"{error.object[error.start : error.start + 1]!r})",
            remedy="pass the file's encoding, e.g. --encoding latin-1 (Python: encoding='latin-1')",
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(path)!r} is empty", remedy="check the file") from None
    except pd.errors.ParserError as error:
        raise DataError(f"{str(path)!r} is not a readable CSV file: {error}") from None


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write CSV or Parquet by suffix; the file appears complete or not at all."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataError(f"cannot tell the output format of {str(path)!r}", remedy="use a .csv or .parquet file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if suffix in PARQUET_SUFFIXES:
        table.to_parquet(partial, index=False)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        table.to_csv(partial, index=False, sep=sep, compression=COMPRESSION.get(suffix))
    partial.replace(path)
    return path


def read_spec_section(path: str | Path, key: str, kind: type, what: str, required: bool = True) -> Any:
    """The non-empty `key` entry (a `kind`: list or dict) of a YAML/JSON spec file such as a layout or groups file;
    None when the entry is absent and not `required`."""
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SchemaError(f"cannot read the {what} {str(path)!r}: {error}") from None
    section = spec.get(key) if isinstance(spec, dict) else None
    if section is None and not required:
        return None
    if not isinstance(section, kind) or not section:
        shape = "list" if kind is list else "mapping"
        raise SchemaError(f"a {what} needs a non-empty {shape} under {key!r}", remedy=f"see the {what}'s docs")
    return section
