"""OMOP Common Data Model: a person x concept matrix built by the database, and synthetic rows written back as OMOP.

The database does the counting: one GROUP BY over the domain's event table (rolled up through concept_ancestor when
asked) returns (person, concept, events) triples, which arrive in record batches and fill a person x concept
matrix. Memory therefore follows the matrix (persons x concepts; kept sparse, the concepts present), never the
number of events.

Synthetic rows go back as OMOP's `person` (new person ids, gender, year of birth, race) and `condition_occurrence`
(one row per synthetic condition, or per count): no real id and no real date. OMOP requires a start date, so every
synthetic condition carries the same placeholder, 1970-01-01, and the type concept 32817 ("EHR").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthmed.data.database import DatabaseTable, check_table_name, record_batches
from synthmed.data.sparse import SparseCodeMatrix
from synthmed.errors import ConfigError, DataError

# domain -> (event table, its concept column)
DOMAINS = {
    "condition": ("condition_occurrence", "condition_concept_id"),
    "drug": ("drug_exposure", "drug_concept_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id"),
    "measurement": ("measurement", "measurement_concept_id"),
}
DEMOGRAPHICS = ("year_of_birth", "gender_concept_id", "race_concept_id")
PERSON_COLUMN = "person_id"
CONCEPT_PREFIX = "concept_"
PLACEHOLDER_DATE = "1970-01-01"
EHR_TYPE_CONCEPT = 32817
_LEVEL = re.compile(r"^(concept|ancestor:(\d+))$")


@dataclass(frozen=True)
class OmopQuery:
    """What to count: a domain's events per person and concept, concepts rolled up `levels` steps when given."""

    domain: str = "condition"
    schema: str | None = None
    levels: int | None = None
    counts: bool = False
    demographics: bool = False

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ConfigError("unknown OMOP domain", values=[self.domain], remedy=f"use {', '.join(DOMAINS)}")
        if self.schema is not None:
            check_table_name(self.schema)
        if self.levels is not None and self.levels < 1:
            raise ConfigError(
                "an ancestor level counts steps up the hierarchy", values=[self.levels], remedy="ancestor:1"
            )

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name

    def counting_sql(self) -> str:
        events, concept = DOMAINS[self.domain]
        source = f"SELECT person_id, {concept} AS concept_id FROM {self.table(events)} WHERE {concept} <> 0"
        if self.levels is not None:
            # concepts with no ancestor that many levels up keep their own id
            source = (
                f"SELECT e.person_id, COALESCE(a.ancestor_concept_id, e.concept_id) AS concept_id FROM ({source}) e "
                f"LEFT JOIN {self.table('concept_ancestor')} a ON a.descendant_concept_id = e.concept_id "
                f"AND a.min_levels_of_separation = {int(self.levels)}"
            )
        return f"SELECT person_id, concept_id, COUNT(*) AS events FROM ({source}) s GROUP BY person_id, concept_id"


def parse_level(text: str) -> int | None:
    """`concept` (None) or `ancestor:N` (N)."""
    found = _LEVEL.match(text or "")
    if found is None:
        raise ConfigError("--level is concept or ancestor:N", values=[text], remedy="e.g. --level ancestor:1")
    return int(found.group(2)) if found.group(2) else None


def _column(url: str, sql: str) -> np.ndarray:
    values = [batch.column(0).to_numpy(zero_copy_only=False) for batch in record_batches(DatabaseTable(url, query=sql))]
    return np.concatenate(values) if values else np.array([], dtype=np.int64)


def _counted(url: str, query: OmopQuery) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Sorted person ids, sorted concept ids, and the (row, column, events) cells the database counted."""
    persons = np.sort(_column(url, f"SELECT person_id FROM {query.table('person')}").astype(np.int64))
    concepts = np.sort(_column(url, f"SELECT DISTINCT concept_id FROM ({query.counting_sql()}) c").astype(np.int64))
    if len(persons) == 0 or len(concepts) == 0:
        raise DataError(
            f"no {query.domain} events for any person in {query.table('person')}",
            remedy="check the schema (--schema) and the domain",
        )
    rows, columns, counts = [], [], []
    for batch in record_batches(DatabaseTable(url, query=query.counting_sql())):
        person = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
        concept = batch.column(1).to_numpy(zero_copy_only=False).astype(np.int64)
        events = batch.column(2).to_numpy(zero_copy_only=False).astype(np.int64)
        at = np.searchsorted(persons, person)
        known = (at < len(persons)) & (persons[np.minimum(at, len(persons) - 1)] == person)
        rows.append(at[known])
        columns.append(np.searchsorted(concepts, concept[known]))
        counts.append(events[known].astype(np.int32))
    cells = [np.concatenate(part) if part else np.zeros(0, np.int64) for part in (rows, columns, counts)]
    return persons, concepts, cells


def omop_matrix(url: str, query: OmopQuery) -> pd.DataFrame:
    """One row per person of `person`, one column per concept (`concept_<id>`): 0/1, or event counts with
    `counts`; with `demographics`, year of birth, gender and race concept ids first."""
    persons, concepts, (rows, columns, events) = _counted(url, query)
    matrix = np.zeros((len(persons), len(concepts)), dtype=np.int32)
    matrix[rows, columns] = events
    values = matrix if query.counts else (matrix > 0).astype(np.int8)
    table = pd.DataFrame(values, columns=[f"{CONCEPT_PREFIX}{c}" for c in concepts])
    table.insert(0, PERSON_COLUMN, persons)
    if query.demographics:
        people = DatabaseTable(url, query=f"SELECT person_id, {', '.join(DEMOGRAPHICS)} FROM {query.table('person')}")
        described = people.read().set_index(PERSON_COLUMN).loc[persons].reset_index(drop=True)
        for position, name in enumerate(DEMOGRAPHICS, start=1):
            table.insert(position, name, described[name].to_numpy())
    return table


def omop_sparse_matrix(url: str, query: OmopQuery) -> SparseCodeMatrix:
    """`omop_matrix` kept sparse (data/sparse.py), without demographics (a sparse matrix holds codes only)."""
    if query.demographics:
        raise ConfigError(
            "a sparse matrix holds concepts only, not demographics", remedy="leave out --demographics with --sparse"
        )
    persons, concepts, (rows, columns, events) = _counted(url, query)
    return SparseCodeMatrix.from_cells(
        rows,
        columns,
        (len(persons), len(concepts)),
        [f"{CONCEPT_PREFIX}{c}" for c in concepts],
        counts=query.counts,
        weights=events,
        ids=persons.astype(str),
        id_name=PERSON_COLUMN,
    )


def omop_rows(synthetic: pd.DataFrame, first_person: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(person, condition_occurrence) rows for a synthetic person x concept matrix: new person ids from
    `first_person`, a count column giving as many conditions, the placeholder date for every one."""
    concept_columns = [c for c in synthetic.columns if str(c).startswith(CONCEPT_PREFIX)]
    if not concept_columns:
        raise DataError(
            f"no {CONCEPT_PREFIX}<id> column to export",
            remedy="export a matrix built by `synthmed omop-matrix` (or a sample of a model fitted on one)",
        )
    ids = np.arange(first_person, first_person + len(synthetic), dtype=np.int64)
    person = pd.DataFrame({PERSON_COLUMN: ids})
    for name in DEMOGRAPHICS:
        person[name] = synthetic[name].to_numpy() if name in synthetic.columns else 0
    person["ethnicity_concept_id"] = 0
    counts = np.rint(synthetic[concept_columns].to_numpy(dtype=float)).clip(min=0).astype(np.int64)
    concept_ids = np.array([int(str(c)[len(CONCEPT_PREFIX) :]) for c in concept_columns], dtype=np.int64)
    rows, columns = np.nonzero(counts)
    repeats = counts[rows, columns]
    occurrences = pd.DataFrame(
        {
            "condition_occurrence_id": np.arange(1, int(repeats.sum()) + 1, dtype=np.int64),
            PERSON_COLUMN: np.repeat(ids[rows], repeats),
            "condition_concept_id": np.repeat(concept_ids[columns], repeats),
            "condition_start_date": pd.Timestamp(PLACEHOLDER_DATE),
            "condition_type_concept_id": EHR_TYPE_CONCEPT,
        }
    )
    return person, occurrences
