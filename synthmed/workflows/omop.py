"""`omop-matrix` and `omop-export`: an OMOP CDM in a database to a person x concept matrix file, and back.

The matrix feeds medGAN and corGAN as `ehr-matrix`'s does (its `person_id` column is an identifier, never modelled);
a synthetic sample of it goes back as OMOP `person` and `condition_occurrence` rows (data/omop.py says what they hold).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthmed.data.database import DatabaseDestination, DatabaseTable, IfExists
from synthmed.data.io import PLAIN_READING, ReadOptions, check_table_output, write_table
from synthmed.data.omop import (
    CONCEPT_PREFIX,
    PERSON_COLUMN,
    OmopQuery,
    omop_matrix,
    omop_rows,
    omop_sparse_matrix,
    parse_level,
)
from synthmed.data.sparse import check_sparse_output, write_sparse


def build_omop_matrix(
    url: str,
    output: str | Path,
    *,
    schema: str | None = None,
    domain: str = "condition",
    level: str = "concept",
    counts: bool = False,
    demographics: bool = False,
    sparse: bool = False,
    overwrite: bool = False,
) -> str:
    """Write the person x concept matrix of `domain` in the CDM at `url` (tables in `schema`) to `output`; return a
    one-line description. `level` is `concept` or `ancestor:N` (concepts rolled up N levels in concept_ancestor);
    `sparse` writes a sparse Parquet file (data/sparse.py)."""
    check_table_output(output, overwrite=overwrite)
    query = OmopQuery(domain, schema, parse_level(level), counts, demographics)
    if sparse:
        check_sparse_output(output)
        matrix = omop_sparse_matrix(url, query)
        path = write_sparse(matrix, output, overwrite=overwrite)
        persons, concepts = matrix.shape
        return (
            f"wrote {persons:,} persons x {concepts:,} {domain} concepts "
            f"({matrix.values.nnz / max(persons, 1):.2f} per person on average) sparse to {path}"
        )
    matrix = omop_matrix(url, query)
    path = write_table(matrix, output, overwrite=overwrite)
    concept_columns = [name for name in matrix.columns if name.startswith(CONCEPT_PREFIX)]
    concepts = len(concept_columns)
    per_person = float((matrix[concept_columns] > 0).sum(axis=1).mean())
    return (
        f"wrote {len(matrix):,} persons x {concepts:,} {domain} concepts ({per_person:.2f} per person on average)"
        f" to {path}"
    )


def export_omop(
    synthetic: str | Path | DatabaseTable | pd.DataFrame,
    url: str,
    *,
    schema: str | None = None,
    if_exists: IfExists = "fail",
    reading: ReadOptions = PLAIN_READING,
) -> str:
    """Write a synthetic person x concept matrix into the database at `url` as OMOP `person` and
    `condition_occurrence` tables (in `schema`); both destinations are checked before either is written."""
    names = [f"{schema}.{table}" if schema else table for table in ("person", "condition_occurrence")]
    destinations = [DatabaseDestination(url, name, if_exists) for name in names]
    for destination in destinations:
        destination.check()
    table = synthetic if isinstance(synthetic, pd.DataFrame) else reading.read(synthetic)
    person, occurrences = omop_rows(table.drop(columns=[PERSON_COLUMN], errors="ignore"))
    for destination, rows in zip(destinations, (person, occurrences), strict=True):
        destination.write(rows)
    return (
        f"wrote {len(person):,} synthetic persons and {len(occurrences):,} conditions to {destinations[0]} "
        f"and {names[1]!r}"
    )
