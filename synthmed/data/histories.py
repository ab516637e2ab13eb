"""Patient histories: a long events table regrouped into patients, their ordered visits and each visit's codes.

A hospital keeps histories in long form: one row per visit (Diabetes 130-US encounters: patient, encounter, three
diagnosis columns, medications) or one row per code (MIMIC's DIAGNOSES_ICD), with visit attributes in a visits table
(ADMISSIONS) and patient attributes in a patients table (PATIENTS). `read_histories` joins them, checks what would
make a history ambiguous (a visit without a patient, a visit shared by two patients, two times for one visit, two
visits at one time, visit ids that disagree with the times) and returns `Histories`: per-patient (static) attributes,
visits in time order with their attributes and gap, and each visit's codes as a sparse visits x vocabulary matrix
whose vocabulary is (column, code) pairs, so a primary diagnosis stays apart from a secondary one.

Columns that are not roles are attributes: static when constant within every patient, visit attributes otherwise
(then they must be constant within each visit). `to_long` writes histories back in the layout they came in.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from synthmed.data.database import DatabaseTable
from synthmed.data.dates import parse_dates
from synthmed.data.io import ReadOptions, is_table_source, read_table
from synthmed.data.validate import require_columns
from synthmed.errors import DataError, SynthmedWarning

# how many offending rows an error lists
SHOWN_ROWS = 5
SECONDS_PER_DAY = 86_400.0
TimeUnit = Literal["datetime", "number"]


def concatenated_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """starts[i], starts[i] + 1, ..., starts[i] + counts[i] - 1 for each i, one range after another (the rows of
    several patients' visits, or of several visits' codes, without a loop).

    >>> concatenated_ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    starts, counts = np.asarray(starts, dtype=np.int64), np.asarray(counts, dtype=np.int64)
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum(), dtype=np.int64)


@dataclass(frozen=True)
class HistoryRoles:
    """Which columns carry the patient, the visit (an id, a time, or both) and the codes; `exclude` is not modelled."""

    patient: str
    codes: tuple[str, ...]
    visit: str | None = None
    time: str | None = None
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.visit is None and self.time is None:
            raise DataError(
                "a history needs to know its visits",
                remedy="name a visit id column (--visit-column) or a time (--time)",
            )
        if not self.codes:
            raise DataError("a history needs at least one code column", remedy="name them with --codes")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name in (self.patient, self.visit, self.time) if name is not None) + self.codes


@dataclass
class Histories:
    """Patients with ordered visits. Row i of `static` is patient i; visits are sorted by patient then time, and
    `visit_patient[j]` is visit j's patient; `codes` is visits x `vocabulary` (0/1); `times` is each visit's time
    (days since 1970 for datetimes) or None when visits are ordered by id alone."""

    roles: HistoryRoles
    static: pd.DataFrame
    visits: pd.DataFrame
    visit_patient: np.ndarray
    codes: sparse.csr_array
    vocabulary: tuple[tuple[str, str], ...]
    times: np.ndarray | None = None
    time_unit: TimeUnit | None = None
    one_row_per_visit: bool = True
    column_order: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_patients(self) -> int:
        return len(self.static)

    @property
    def visit_offsets(self) -> np.ndarray:
        """Patient i's visits are rows offsets[i]:offsets[i + 1] of `visits` and `codes`."""
        counts = np.bincount(self.visit_patient, minlength=self.n_patients)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def gaps(self) -> np.ndarray | None:
        """Time since each patient's previous visit (NaN for a first visit), None without times."""
        if self.times is None:
            return None
        gaps = np.diff(self.times, prepend=np.nan)
        gaps[self.visit_offsets[:-1][np.diff(self.visit_offsets) > 0]] = np.nan
        return gaps

    def take(self, patients: np.ndarray) -> Histories:
        """The histories of these patients (positions), in this order."""
        offsets = self.visit_offsets
        counts = np.diff(offsets)[patients]
        rows = concatenated_ranges(offsets[patients], counts)
        return replace(
            self,
            static=self.static.iloc[patients].reset_index(drop=True),
            visits=self.visits.iloc[rows].reset_index(drop=True),
            visit_patient=np.repeat(np.arange(len(patients)), counts),
            codes=self.codes[rows],
            times=None if self.times is None else self.times[rows],
        )


def joined(first: Histories, second: Histories) -> Histories:
    """The patients of `first`, then those of `second` (the same roles, layout and code vocabulary)."""
    if first.vocabulary != second.vocabulary or first.roles != second.roles:
        raise ValueError("only histories of one vocabulary and one set of roles can be joined")
    times = None if first.times is None or second.times is None else np.concatenate([first.times, second.times])
    return replace(
        first,
        static=pd.concat([first.static, second.static], ignore_index=True),
        visits=pd.concat([first.visits, second.visits], ignore_index=True),
        visit_patient=np.concatenate([first.visit_patient, second.visit_patient + first.n_patients]),
        codes=sparse.csr_array(sparse.vstack([first.codes, second.codes])),
        times=times,
    )


def _refuse_positions(problem: str, positions: np.ndarray, remedy: str, column: str | None, table: str = "") -> None:
    """Refuse rows by their 1-based data row numbers (positions are 0-based) in `table` ("" : the events table)."""
    count = len(positions)
    where = f" of {table}" if table else ""
    raise DataError(
        f"{problem} ({count} row{'s' if count != 1 else ''}{where})",
        column=column,
        values=[f"row {p + 1}" for p in positions[:SHOWN_ROWS]],
        remedy=remedy,
    )


def _refuse_rows(
    problem: str, mask: np.ndarray | pd.Series, remedy: str, column: str | None = None, table: str = ""
) -> None:
    flags = np.asarray(mask, dtype=bool)
    if flags.any():
        _refuse_positions(problem, np.flatnonzero(flags), remedy, column, table)


@dataclass(frozen=True)
class _Origin:
    """Which row of the user's tables each row of the joined table came from, so that an error names a row the
    user can find: joined with a visits table, the rows are reordered and a visit's columns repeat on its events."""

    event_row: np.ndarray  # -1 for a listed visit without events
    visit_row: np.ndarray | None = None  # None without a visits table
    visit_columns: frozenset[str] = frozenset()

    def refuse(self, problem: str, mask: np.ndarray | pd.Series, remedy: str, column: str | None = None) -> None:
        """Refuse the flagged rows of the joined table as rows of the table `column` came from."""
        flags = np.asarray(mask, dtype=bool)
        if not flags.any():
            return
        if self.visit_row is None:
            _refuse_positions(problem, np.unique(self.event_row[flags]), remedy, column)
            return
        events = flags & (self.event_row >= 0)
        if column in self.visit_columns or not events.any():
            _refuse_positions(problem, np.unique(self.visit_row[flags]), remedy, column, "the visits table")
        _refuse_positions(problem, np.unique(self.event_row[events]), remedy, column, "the events table")


ROLES_REMEDY = "name the columns with --patient-column, --visit-column, --time and --codes"


def _check_code_columns(events: pd.DataFrame, codes: tuple[str, ...]) -> None:
    for name in codes:
        series = events[name]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise DataError(
                "a code column holds numbers: codes are text, and as numbers lose leading and trailing zeros "
                "('0389' becomes 389, '250.10' becomes 250.1)",
                column=name,
                values=series.dropna().head(SHOWN_ROWS),
                remedy="read the column as text (synthmed reads a CSV file's code columns so), or cast it to strings",
            )


def _times(series: pd.Series, name: str, origin: _Origin) -> tuple[np.ndarray, TimeUnit]:
    """A time column as floats (days since 1970 for dates) and its unit; unreadable times are refused by row."""
    if pd.api.types.is_bool_dtype(series):
        raise DataError("times must be dates or numbers", column=name, values=series.head(), remedy="fix --time")
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), "number"
    parsed = series if pd.api.types.is_datetime64_any_dtype(series) else _parsed_dates(series, name, origin)
    missing = parsed.isna().to_numpy()
    seconds = parsed.astype("datetime64[s]").astype("int64").to_numpy(dtype=np.float64)
    seconds[missing] = np.nan
    return seconds / SECONDS_PER_DAY, "datetime"


def _parsed_dates(series: pd.Series, name: str, origin: _Origin) -> pd.Series:
    """Text times read as dates in the one form they can all be in (data/dates.py), refused by row otherwise."""
    texts = series.where(series.isna(), series.astype(str).str.strip())
    distinct = pd.Series(texts.dropna().unique())
    try:
        dates = parse_dates(name, distinct)
    except DataError:
        _refuse_times(texts, name, origin, strays=True)
        raise  # every time reads as a date on its own: the column's forms disagree, as parse_dates explains
    if dates is None:
        _refuse_times(texts, name, origin, strays=True)
        _refuse_times(texts, name, origin, strays=False)
    return texts.map(dict(zip(distinct, dates, strict=True))).astype("datetime64[ns]")


def _refuse_times(texts: pd.Series, name: str, origin: _Origin, *, strays: bool) -> None:
    """Refuse the rows whose time is no date even read on its own (`strays`: among dates), else every row."""
    unreadable = texts.notna()
    if strays:
        with warnings.catch_warnings():  # dateutil's notes about the forms it guesses
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(texts, errors="coerce", format="mixed")
        # dateutil reads "now" and "today" as the current time: a time without a digit is no date here
        unreadable &= parsed.isna() | ~texts.str.contains(r"\d", na=False)
    origin.refuse(
        "times that are neither dates nor numbers",
        unreadable,
        "write times as dates (2164-10-23 21:09:00) or numbers, or drop these rows",
        name,
    )


def _joined(events: pd.DataFrame, roles: HistoryRoles, visits: pd.DataFrame | None) -> tuple[pd.DataFrame, _Origin]:
    """Events with their visit's columns from the visits table (and where each row came from); every event must
    belong to one listed visit. A listed visit without events stays, with no codes."""
    if visits is None:
        return events.reset_index(drop=True), _Origin(np.arange(len(events)))
    if roles.visit is None:
        raise DataError("a visits table is joined to the events by a visit id", remedy="name it with --visit-column")
    require_columns(visits.columns, [roles.visit, roles.patient], "the visits table lacks a role column", ROLES_REMEDY)
    listed = visits[roles.visit]
    _refuse_rows(
        "visit ids listed twice in the visits table",
        listed.duplicated(keep=False) & listed.notna(),
        "keep one row per visit",
        roles.visit,
        "the visits table",
    )
    _refuse_rows(
        "events of a visit the visits table does not list",
        ~events[roles.visit].isin(listed),
        "add the visit to the visits table or drop its events",
        roles.visit,
        "the events table",
    )
    own = visits.rename(columns={roles.patient: "__patient_of_visit"}).assign(__visit_row=np.arange(len(visits)))
    shared = [c for c in events.columns if c in own.columns and c != roles.visit]
    numbered = events.drop(columns=shared).assign(__event_row=np.arange(len(events)))
    joined = numbered.merge(own, on=roles.visit, how="right", sort=False).reset_index(drop=True)
    origin = _Origin(
        joined.pop("__event_row").fillna(-1).to_numpy(dtype=np.int64),
        joined.pop("__visit_row").to_numpy(dtype=np.int64),
        frozenset(str(c) for c in visits.columns),
    )
    if roles.patient in joined.columns:
        of_visit = joined["__patient_of_visit"]
        # a visit without a patient is refused as such below, naming its row in the visits table
        mismatch = joined[roles.patient].notna() & of_visit.notna() & (joined[roles.patient] != of_visit)
        _refuse_rows(
            "events whose patient differs from their visit's",
            np.isin(np.arange(len(events)), origin.event_row[mismatch.to_numpy()]),
            "fix the patient ids",
            roles.patient,
            "the events table",
        )
        joined[roles.patient] = joined.pop("__patient_of_visit")
    else:  # the patient column where the visits table has it
        joined = joined.rename(columns={"__patient_of_visit": roles.patient})
    return joined, origin


def _visit_of_rows(table: pd.DataFrame, roles: HistoryRoles, time: np.ndarray | None, origin: _Origin) -> np.ndarray:
    """Each row's visit number (0, 1, ... in order of first appearance), after checking a visit has one patient."""
    patient = table[roles.patient]
    if roles.visit is None:
        return pd.MultiIndex.from_arrays([patient, time]).factorize()[0]
    key = table[roles.visit]
    origin.refuse("rows without a visit id", key.isna(), "fill in or drop these rows", roles.visit)
    visit = pd.factorize(key)[0]
    patients_per_visit = pd.Series(patient.to_numpy()).groupby(visit).transform("nunique").to_numpy()
    origin.refuse(
        "a visit id shared by several patients", patients_per_visit > 1, "give each visit its own id", roles.visit
    )
    return visit


def _check_times(
    roles: HistoryRoles, visit: np.ndarray, time: np.ndarray, patient: np.ndarray, origin: _Origin
) -> None:
    """One time per visit and no two visits of a patient at one time; rows in any order are sorted, not refused."""
    times = pd.Series(time)
    origin.refuse(
        "a visit with several times",
        times.groupby(visit).transform("nunique").to_numpy() > 1,
        "give each visit one time (its admission time)",
        roles.time,
    )
    frame = pd.DataFrame({"patient": patient, "time": time, "visit": visit})
    per_visit = frame.drop_duplicates("visit")
    clash = per_visit.duplicated(["patient", "time"], keep=False)
    origin.refuse(
        "two visits of one patient at the same time (duplicated times)",
        frame["visit"].isin(per_visit.loc[clash, "visit"]),
        "merge the visits or correct their times",
        roles.time,
    )


def _attribute_columns(table: pd.DataFrame, roles: HistoryRoles) -> list[str]:
    excluded = set(roles.names) | set(roles.exclude)
    return [str(c) for c in table.columns if c not in excluded]


def _split_attributes(
    table: pd.DataFrame, columns: list[str], patient: np.ndarray, visit: np.ndarray, origin: _Origin
) -> tuple[list[str], list[str]]:
    """Static columns (constant within every patient) and visit columns, which must be constant within a visit."""
    if not columns:
        return [], []
    per_patient = table[columns].groupby(patient).nunique(dropna=False).max()
    static = [c for c in columns if per_patient[c] <= 1]
    varying = [c for c in columns if per_patient[c] > 1]
    if varying:
        per_visit = table[varying].groupby(visit).transform("nunique", dropna=False)
        for name in varying:
            origin.refuse(
                "a visit attribute that changes within one visit",
                per_visit[name].to_numpy() > 1,
                f"leave the column out (--exclude {name}) or move it to the visits table",
                name,
            )
    return static, varying


def _visit_order(
    table: pd.DataFrame, roles: HistoryRoles, visit: np.ndarray, patient: np.ndarray, time: np.ndarray | None
) -> np.ndarray:
    """The first row of each visit, visits sorted by patient then time (or numeric visit id)."""
    first = np.unique(visit, return_index=True)[1]
    if time is not None:
        key = time[first]
    elif pd.api.types.is_numeric_dtype(table[roles.visit]):
        key = table[roles.visit].to_numpy(dtype=np.float64)[first]
    else:
        raise DataError(
            "visits cannot be put in order: the visit ids are not numbers and no time is given",
            column=roles.visit,
            values=table[roles.visit].head(),
            remedy="give the visit time with --time",
        )
    return first[np.lexsort((key, patient[first]))]


def _code_matrix(
    table: pd.DataFrame, codes: tuple[str, ...], row_visit: np.ndarray, visits: int
) -> tuple[sparse.csr_array, tuple[tuple[str, str], ...]]:
    """Visits x (column, code) 0/1 matrix; the vocabulary lists each column's codes sorted, column by column."""
    vocabulary: list[tuple[str, str]] = []
    rows, columns = [], []
    for name in codes:
        values = table[name]
        present = values.notna().to_numpy()
        text = values[present].astype(str).to_numpy()
        known, index = np.unique(text, return_inverse=True)
        rows.append(row_visit[present])
        columns.append(index + len(vocabulary))
        vocabulary += [(name, str(code)) for code in known]
    row, column = np.concatenate(rows), np.concatenate(columns)
    matrix = sparse.csr_array((np.ones(len(row), np.int8), (row, column)), shape=(visits, len(vocabulary)))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix, tuple(vocabulary)


def _with_patients(
    static: pd.DataFrame, ids: pd.Index, patients: pd.DataFrame | None, roles: HistoryRoles
) -> pd.DataFrame:
    """Static attributes joined with the patients table's columns (keyed by the patient id)."""
    if patients is None:
        return static
    require_columns(patients.columns, [roles.patient], "the patients table lacks the patient column", ROLES_REMEDY)
    key = patients[roles.patient]
    _refuse_rows(
        "patients listed twice in the patients table",
        key.duplicated(keep=False),
        "keep one row per patient",
        roles.patient,
        "the patients table",
    )
    known = key.isin(ids)
    if len(key) and not known.any():
        raise DataError(
            "no patient of the patients table has visits: their ids match none of the events' "
            f"({key.dtype} ids against {ids.dtype} ones)",
            column=roles.patient,
            values=key.head(),
            remedy="give both tables the same patient ids (the same type: numbers or text)",
        )
    unseen = int((~known).sum())
    if unseen:
        warnings.warn(
            f"{unseen} patients of the patients table have no visits and are left out", SynthmedWarning, stacklevel=3
        )
    extra = [c for c in patients.columns if c != roles.patient and c not in static.columns and c not in roles.exclude]
    joined = patients.set_index(roles.patient)[extra].reindex(ids)
    return pd.concat([static, joined.reset_index(drop=True)], axis=1)


def read_events(
    source: pd.DataFrame | str | os.PathLike[str] | DatabaseTable, reading: ReadOptions, codes: Sequence[str] = ()
) -> pd.DataFrame:
    """A table of events, visits or patients (a frame, a file or a database table); code columns of a CSV file are
    read as text, so '0389' keeps its zero."""
    if isinstance(source, DatabaseTable):
        return reading.read(source)
    if not is_table_source(source):
        return source
    return read_table(
        source, na_values=reading.na_values, encoding=reading.encoding, decimal=reading.decimal, as_text=tuple(codes)
    )


def read_histories(
    events: pd.DataFrame,
    roles: HistoryRoles,
    *,
    visits: pd.DataFrame | None = None,
    patients: pd.DataFrame | None = None,
) -> Histories:
    """Regroup long-form events (and optional visits and patients tables) into `Histories`, refusing by row
    whatever would make a history ambiguous."""
    in_events = [n for n in (roles.patient, *roles.codes) if visits is None or n != roles.patient]
    in_events += [roles.visit] if roles.visit is not None else []
    require_columns(events.columns, in_events, "the events table lacks a role column", ROLES_REMEDY)
    _check_code_columns(events, roles.codes)
    one_row_per_visit = visits is None and (roles.visit is None or not events[roles.visit].dropna().duplicated().any())
    table, origin = _joined(events, roles, visits)
    require_columns(table.columns, list(roles.names), "the tables lack a role column", ROLES_REMEDY)
    origin.refuse(
        "a visit without a patient: the patient id is missing",
        table[roles.patient].isna(),
        "fill in the patient or drop these rows",
        roles.patient,
    )
    if table.empty:
        raise DataError("the events table has no rows", remedy="check the file and its filters")
    time, unit = _times(table[roles.time], roles.time, origin) if roles.time is not None else (None, None)
    if time is not None:
        origin.refuse("visits without a time", np.isnan(time), "fill in the time or drop these rows", roles.time)
    patient, patient_ids = pd.factorize(table[roles.patient])
    visit = _visit_of_rows(table, roles, time, origin)
    if time is not None:
        _check_times(roles, visit, time, patient, origin)
    first_rows = _visit_order(table, roles, visit, patient, time)
    position = np.empty(len(first_rows), np.int64)
    position[visit[first_rows]] = np.arange(len(first_rows))  # visit number -> place in the sorted visits
    static_columns, visit_columns = _split_attributes(table, _attribute_columns(table, roles), patient, visit, origin)
    patient_first = np.unique(patient, return_index=True)[1]
    static = _with_patients(
        table.loc[patient_first, static_columns].reset_index(drop=True), patient_ids, patients, roles
    )
    codes, vocabulary = _code_matrix(table, roles.codes, position[visit], len(first_rows))
    order = [str(c) for c in table.columns if c not in roles.exclude]
    return Histories(
        roles=roles,
        static=static,
        visits=table.loc[first_rows, visit_columns].reset_index(drop=True),
        visit_patient=patient[first_rows].astype(np.int64),
        codes=codes,
        vocabulary=vocabulary,
        times=None if time is None else time[first_rows],
        time_unit=unit,
        one_row_per_visit=one_row_per_visit,
        column_order=tuple(order + [c for c in static.columns if c not in order]),
    )


def _time_column(days: np.ndarray, unit: TimeUnit | None) -> pd.Series:
    if unit == "datetime":
        return pd.Series(pd.to_datetime(np.round(days * SECONDS_PER_DAY), unit="s"))
    return pd.Series(days)


def to_long(histories: Histories) -> pd.DataFrame:
    """Histories as the long table they came from: one row per visit (code columns side by side) when the input
    had one, else one row per code (a visit without codes keeps one row). Patients and visits are numbered 1, 2, ..."""
    h, roles = histories, histories.roles
    n_visits = len(h.visits)
    frame = h.visits.copy()
    frame.insert(0, roles.patient, h.visit_patient + 1)
    if roles.visit is not None:
        frame.insert(1, roles.visit, np.arange(1, n_visits + 1))
    if roles.time is not None and h.times is not None:
        frame[roles.time] = _time_column(h.times, h.time_unit).to_numpy()
    static = h.static.iloc[h.visit_patient].reset_index(drop=True)
    frame = pd.concat([frame, static], axis=1)
    coo = h.codes.tocoo()
    columns = np.array([c for c, _ in h.vocabulary], dtype=object)
    values = np.array([v for _, v in h.vocabulary], dtype=object)
    if h.one_row_per_visit:
        for name in roles.codes:
            picked = columns[coo.col] == name
            cells = pd.Series(pd.NA, index=range(n_visits), dtype="string")
            cells.iloc[coo.row[picked][::-1]] = values[coo.col[picked]][::-1]  # the first code of a column wins
            frame[name] = cells.to_numpy()
        return frame[[c for c in h.column_order if c in frame.columns]]
    empty = np.setdiff1d(np.arange(n_visits), coo.row)
    rows = np.concatenate([coo.row, empty])
    long = frame.iloc[rows].reset_index(drop=True)
    for name in roles.codes:
        cells = np.where(columns[coo.col] == name, values[coo.col], None)
        long[name] = pd.array(np.concatenate([cells, np.full(len(empty), None, dtype=object)]), dtype="string")
    order = np.lexsort((np.concatenate([coo.col, np.full(len(empty), -1)]), rows))
    long = long.iloc[order].reset_index(drop=True)
    return long[[c for c in h.column_order if c in long.columns]]
