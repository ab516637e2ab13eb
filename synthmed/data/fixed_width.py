"""Fixed-width files (public-use micro-data such as NHDS), read through a layout file.

Survey and registry extracts often come as fixed-width text: no header, no delimiter, each field at fixed character
positions given in a codebook. A layout (YAML or JSON) writes that codebook down once:

    fields:
      - {name: age, start: 5, width: 2, type: integer}    # 1-based start, as codebooks number positions
      - {name: sex, start: 7, width: 1, type: string}
      - {name: diagnosis_1, start: 28, width: 5, type: string}

Types: `string` (stripped; blank = missing), `integer` (nullable integers) and `number` (floats). Compressed files
(.gz, .bz2, .xz, .zip) are read directly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from synthmed.data.io import check_table_output, read_spec_section, write_table
from synthmed.errors import DataError, SchemaError

FIELD_TYPES = ("string", "integer", "number")


@dataclass(frozen=True)
class Field:
    name: str
    start: int  # 1-based, as in codebooks
    width: int
    type: str = "string"


def load_layout(path: str | Path) -> list[Field]:
    """The fields of a layout file, checked: names unique, positions positive, types known, no overlaps."""
    entries = read_spec_section(path, "fields", list, "layout")
    fields = [_field(entry) for entry in entries]
    names = [f.name for f in fields]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SchemaError("field names repeat in the layout", values=repeated, remedy="give every field its own name")
    ordered = sorted(fields, key=lambda f: f.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.start + before.width:
            raise SchemaError(
                f"fields {before.name!r} and {after.name!r} overlap",
                column=after.name,
                values=[f"{before.start}-{before.start + before.width - 1}", f"{after.start}-"],
                remedy="check start and width against the codebook (positions are 1-based)",
            )
    return fields


def _field(entry: Any) -> Field:
    if not isinstance(entry, dict) or not {"name", "start", "width"} <= set(entry):
        raise SchemaError("each layout field needs name, start and width", values=[entry])
    name, start, width = str(entry["name"]), entry["start"], entry["width"]
    kind = entry.get("type", "string")
    if not (isinstance(start, int) and isinstance(width, int) and start >= 1 and width >= 1):
        raise SchemaError("start and width must be positive integers (start is 1-based)", column=name, values=[entry])
    if kind not in FIELD_TYPES:
        raise SchemaError("unknown field type", column=name, values=[kind], remedy=f"use one of {FIELD_TYPES}")
    return Field(name, start, width, kind)


def read_fixed_width(path: str | Path, fields: list[Field], encoding: str = "latin-1") -> pd.DataFrame:
    """The file as a table with the layout's columns, typed; a non-numeric value in a numeric field is refused."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file {str(path)!r} does not exist", remedy="check the path")
    raw = pd.read_fwf(
        path,
        colspecs=[(f.start - 1, f.start - 1 + f.width) for f in fields],
        names=[f.name for f in fields],
        dtype=str,
        header=None,
        encoding=encoding,
        keep_default_na=False,
        delimiter="\n",  # no character is a field separator: spaces inside a field are data
        compression="infer",
    )
    if raw.empty:
        raise DataError(f"{str(path)!r} holds no records", remedy="check the file")
    return pd.DataFrame({f.name: _typed(raw[f.name], f) for f in fields})


def _typed(values: pd.Series, field: Field) -> pd.Series:
    text = values.str.strip().replace("", pd.NA)
    if field.type == "string":
        return text.astype("string")
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna()
    if bad.any():
        raise DataError(
            f"non-numeric values in a field of type {field.type}",
            column=field.name,
            values=text[bad],
            remedy="check the field's start and width, or make it a string field",
        )
    return numbers.astype("Int64") if field.type == "integer" and (numbers.dropna() % 1 == 0).all() else numbers


def convert_fixed_width(
    path: str | Path, layout: str | Path, output: str | Path, *, encoding: str = "latin-1", overwrite: bool = False
) -> pd.DataFrame:
    """Read a fixed-width file by its `layout` file and write it as a CSV/Parquet table (`output`, checked first)."""
    check_table_output(output, overwrite=overwrite)
    table = read_fixed_width(path, load_layout(layout), encoding=encoding)
    write_table(table, output, overwrite=overwrite)
    return table
