"""Tests for synthmed.data.ehr: ICD-9 normalisation, event reading and patient x code matrices."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data.ehr import (
    ICD9_GRANULARITIES,
    code_matrix,
    find_column,
    matrix_summary,
    normalise_icd9,
    read_events,
    sparse_code_matrix,
)
from synthmed.errors import ConfigError, DataError
from tests.conftest import shared_file

# ----------------------------------------------------------------------------------------------------
# normalise_icd9

NORMALISE_CASES = [
    # raw, 3digit, full
    ("99591", "995", "995.91"),
    ('"99591"', "995", "995.91"),
    ("'99591'", "995", "995.91"),
    (" 4019 ", "401", "401.9"),
    (' "4019" ', "401", "401.9"),
    ("401.9", "401", "401.9"),
    ("4019", "401", "401.9"),
    ("401", "401", "401"),
    ("0389", "038", "038.9"),
    ("03819", "038", "038.19"),
    ("V4581", "V45", "V45.81"),
    ("v4581", "V45", "V45.81"),
    ("V45.81", "V45", "V45.81"),
    ("V090", "V09", "V09.0"),
    ("E8889", "E888", "E888.9"),
    ("e8889", "E888", "E888.9"),
    ("E888.9", "E888", "E888.9"),
    ("E888", "E888", "E888"),
    ("42", "42", "42"),
    ("E87", "E87", "E87"),
    ("2809-", "280", "280.9"),  # NHDS pads a shorter code with "-"
    ("401--", "401", "401"),
]


@pytest.mark.parametrize(("raw", "three", "full"), NORMALISE_CASES)
@pytest.mark.parametrize("granularity", ICD9_GRANULARITIES)
def test_normalise_icd9_examples(raw: str, three: str, full: str, granularity: str) -> None:
    result = normalise_icd9(pd.Series([raw]), granularity)
    assert result.tolist() == [three if granularity == "3digit" else full]


@pytest.mark.parametrize("granularity", ICD9_GRANULARITIES)
@pytest.mark.parametrize("missing", [np.nan, None, "", "   ", '""', "''"])
def test_normalise_icd9_missing_stays_missing(missing: object, granularity: str) -> None:
    result = normalise_icd9(pd.Series(["4019", missing], dtype=object), granularity)
    assert result.iloc[0] in {"401", "401.9"}
    assert pd.isna(result.iloc[1])


def test_normalise_icd9_vectorised_keeps_index_and_name() -> None:
    codes = pd.Series(["E8889", "V4581", "4019"], index=[10, 20, 30], name="icd9_code", dtype="str")
    result = normalise_icd9(codes)
    assert result.index.tolist() == [10, 20, 30]
    assert result.name == "icd9_code"
    assert result.tolist() == ["E888", "V45", "401"]


def test_normalise_icd9_rejects_numeric_codes() -> None:
    with pytest.raises(DataError, match="leading zeros"):
        normalise_icd9(pd.Series([389, 4019], name="icd9_code"))


def test_normalise_icd9_unknown_granularity() -> None:
    with pytest.raises(ConfigError, match="granularity"):
        normalise_icd9(pd.Series(["4019"]), "4digit")


# ----------------------------------------------------------------------------------------------------
# code_matrix on a hand-built table


@pytest.fixture
def events() -> pd.DataFrame:
    """Three patients (ids chosen so numeric and lexicographic order differ), one with no usable code."""
    return pd.DataFrame(
        {
            "SUBJECT_ID": ["10", "9", "10", "10", "9", "10", "77", "9", "10"],
            "HADM_ID": ["100", "90", "101", "101", "90", "100", "770", "91", "101"],
            "ICD9_CODE": ["4019", "V4581", "4011", "E8889", "4019", "40391", None, "", "e8881"],
        },
        dtype="str",
    )


def test_code_matrix_binary(events: pd.DataFrame) -> None:
    matrix = code_matrix(events)
    # 9 has 401 and V45; 10 has 401, 403 and E888 (twice). Columns are a plain string sort.
    expected = pd.DataFrame(
        [[1, 0, 0, 1], [1, 1, 1, 0]],
        index=pd.Index(["9", "10"], name="SUBJECT_ID", dtype="str"),
        columns=pd.Index(["401", "403", "E888", "V45"], dtype="str"),
        dtype=np.uint8,
    )
    pd.testing.assert_frame_equal(matrix, expected)
    assert matrix.index.tolist() == ["9", "10"]  # numeric order, ids kept as strings
    assert matrix.columns.name is None
    assert (matrix.dtypes == np.uint8).all()


@pytest.mark.parametrize("options", [{}, {"counts": True}, {"granularity": "full", "unit": "admission"}])
def test_the_sparse_matrix_holds_the_dense_one(events: pd.DataFrame, options: dict) -> None:
    dense, kept = code_matrix(events, **options), sparse_code_matrix(events, **options)
    assert (kept.values.toarray() == dense.to_numpy()).all() and list(kept.codes) == list(dense.columns)
    assert kept.ids.tolist() == dense.index.tolist() and kept.id_name == dense.index.name


def test_code_matrix_counts(events: pd.DataFrame) -> None:
    matrix = code_matrix(events, counts=True)
    expected = pd.DataFrame(
        [[1, 0, 0, 1], [2, 1, 2, 0]],
        index=pd.Index(["9", "10"], name="SUBJECT_ID", dtype="str"),
        columns=pd.Index(["401", "403", "E888", "V45"], dtype="str"),
        dtype=np.int32,
    )
    pd.testing.assert_frame_equal(matrix, expected)
    assert (matrix.dtypes == np.int32).all()


def test_code_matrix_full_codes(events: pd.DataFrame) -> None:
    matrix = code_matrix(events, granularity="full", counts=True)
    assert matrix.columns.tolist() == ["401.1", "401.9", "403.91", "E888.1", "E888.9", "V45.81"]
    assert matrix.loc["10"].tolist() == [1, 1, 1, 1, 1, 0]
    assert matrix.loc["9"].tolist() == [0, 1, 0, 0, 0, 1]


def test_code_matrix_admission_unit(events: pd.DataFrame) -> None:
    matrix = code_matrix(events, unit="admission", counts=True)
    expected = pd.DataFrame(
        [[1, 0, 0, 1], [1, 1, 0, 0], [1, 0, 2, 0]],
        index=pd.Index(["90", "100", "101"], name="HADM_ID", dtype="str"),
        columns=pd.Index(["401", "403", "E888", "V45"], dtype="str"),
        dtype=np.int32,
    )
    # Admission 91 (only an empty code) and 770 (only a missing code) have no row.
    pd.testing.assert_frame_equal(matrix, expected)


def test_code_matrix_drops_missing_codes(events: pd.DataFrame) -> None:
    matrix = code_matrix(events)
    assert "77" not in matrix.index
    assert int(matrix.to_numpy().sum()) == 5  # distinct (patient, code) pairs among non-missing codes
    assert int(code_matrix(events, counts=True).to_numpy().sum()) == 7  # all 9 rows minus the 2 missing


def test_code_matrix_explicit_columns_and_lexicographic_ids() -> None:
    frame = pd.DataFrame({"person": ["b2", "a1", "b10"], "dx": ["4019", "4019", "V4581"]}, dtype="str")
    matrix = code_matrix(frame, patient_column="person", code_column="dx")
    assert matrix.index.name == "person"
    assert matrix.index.tolist() == ["a1", "b10", "b2"]
    assert matrix.columns.tolist() == ["401", "V45"]


def test_code_matrix_integer_ids_become_strings() -> None:
    frame = pd.DataFrame({"patient_id": [100, 20, 3], "code": ["4019", "4019", "V4581"]})
    matrix = code_matrix(frame)
    assert matrix.index.tolist() == ["3", "20", "100"]
    assert matrix.index.name == "patient_id"


def test_code_matrix_missing_patient_column_lists_available() -> None:
    frame = pd.DataFrame({"person": ["1"], "icd9_code": ["4019"]}, dtype="str")
    with pytest.raises(DataError, match="patient") as caught:
        code_matrix(frame)
    assert "person" in str(caught.value) and "icd9_code" in str(caught.value)
    assert "patient_column=" in str(caught.value)


def test_code_matrix_missing_code_column_lists_available() -> None:
    frame = pd.DataFrame({"subject_id": ["1"], "diagnosis": ["4019"]}, dtype="str")
    with pytest.raises(DataError, match="code_column=") as caught:
        code_matrix(frame)
    assert "subject_id" in str(caught.value) and "diagnosis" in str(caught.value)


def test_code_matrix_explicit_column_not_found(events: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="SUBJECT_ID"):
        code_matrix(events, patient_column="person")


def test_code_matrix_admission_column_missing() -> None:
    frame = pd.DataFrame({"subject_id": ["1"], "icd9_code": ["4019"]}, dtype="str")
    with pytest.raises(DataError, match="admission"):
        code_matrix(frame, unit="admission")


def test_code_matrix_empty_table() -> None:
    frame = pd.DataFrame({"subject_id": pd.Series([], dtype="str"), "icd9_code": pd.Series([], dtype="str")})
    with pytest.raises(DataError, match="no rows"):
        code_matrix(frame)


def test_code_matrix_all_codes_missing() -> None:
    frame = pd.DataFrame({"subject_id": ["1", "2"], "icd9_code": [None, " "]}, dtype="str")
    with pytest.raises(DataError, match="every code is missing"):
        code_matrix(frame)


def test_code_matrix_missing_patient_id() -> None:
    frame = pd.DataFrame({"subject_id": ["1", None], "icd9_code": ["4019", "4019"]}, dtype="str")
    with pytest.raises(DataError, match="no patient id"):
        code_matrix(frame)


def test_code_matrix_numeric_codes_rejected() -> None:
    frame = pd.DataFrame({"subject_id": ["1", "2"], "icd9_code": [389, 4019]})
    with pytest.raises(DataError, match="leading zeros"):
        code_matrix(frame)


@pytest.mark.parametrize(("option", "value"), [("granularity", "5digit"), ("unit", "visit"), ("counts", "yes")])
def test_code_matrix_bad_options(events: pd.DataFrame, option: str, value: str) -> None:
    with pytest.raises(ConfigError, match=value):
        code_matrix(events, **{option: value})


def test_find_column_case_insensitive_and_ordered() -> None:
    frame = pd.DataFrame(columns=["Code", "PATIENT", "Subject_ID"])
    assert find_column(frame, ("subject_id", "patient_id", "patient"), "patient") == "Subject_ID"
    assert find_column(frame, ("icd9_code", "icd_code", "code"), "code") == "Code"


def test_find_column_ambiguous() -> None:
    frame = pd.DataFrame(columns=["code", "CODE"])
    with pytest.raises(DataError, match="several columns"):
        find_column(frame, ("code",), "code")


def test_matrix_summary_plain_python_numbers(events: pd.DataFrame) -> None:
    summary = matrix_summary(code_matrix(events, counts=True))
    assert summary == {
        "patients": 2,
        "codes": 4,
        "codes_per_patient_mean": 2.5,
        "codes_per_patient_median": 2.5,
        "codes_per_patient_max": 3.0,
        "events": 7,
    }
    assert all(type(value) in {int, float} for value in summary.values())


def test_code_matrix_500k_events_is_fast() -> None:
    rng = np.random.default_rng(0)
    n_events = 500_000
    patients = rng.integers(0, 40_000, n_events).astype(str)
    codes = np.char.zfill((rng.integers(1, 1_000, n_events) * 97).astype(str), 5)
    frame = pd.DataFrame({"subject_id": patients, "icd9_code": codes}, dtype="str")
    start = time.perf_counter()
    matrix = code_matrix(frame, counts=True)
    elapsed = time.perf_counter() - start
    assert int(matrix.to_numpy().sum(dtype=np.int64)) == n_events
    assert elapsed < 10, f"code_matrix took {elapsed:.1f}s on {n_events} events"


# ----------------------------------------------------------------------------------------------------
# read_events


def test_read_events_keeps_leading_zeros_from_gzip(tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("subject_id,icd9_code\n007,0389\n8,\n")
    frame = read_events(path)
    assert frame["subject_id"].tolist() == ["007", "8"]
    assert frame["icd9_code"].iloc[0] == "0389"
    assert pd.isna(frame["icd9_code"].iloc[1])


def test_read_events_wrong_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("subject_id,icd9_code,note\n1,4019,caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    with pytest.raises(DataError, match="--encoding"):
        read_events(path)
    assert read_events(path, encoding="latin-1")["note"].iloc[0] == "caf\u00e9 cr\u00e8me"


def test_read_events_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"nowhere\.csv"):
        read_events(path)


# ----------------------------------------------------------------------------------------------------
# End to end on the MIMIC-III demo, checked against an independent recount


@pytest.fixture(scope="module")
def mimic_raw() -> pd.DataFrame:
    path = shared_file("mimic3-demo", "DIAGNOSES_ICD.csv")
    return pd.read_csv(path, dtype=str, keep_default_na=True)


@pytest.fixture(scope="module")
def mimic_events() -> pd.DataFrame:
    return read_events(shared_file("mimic3-demo", "DIAGNOSES_ICD.csv"))


def _recount(raw: pd.DataFrame, level: str) -> pd.DataFrame:
    """Independent of the module: plain string slicing, one row per (patient, code) event."""
    code = raw["icd9_code"].str.strip().str.upper()
    keep = code.notna() & (code != "")
    raw, code = raw[keep], code[keep]
    is_e = code.str.startswith("E")
    head = code.str[:3].where(~is_e, code.str[:4])
    tail = code.str[3:].where(~is_e, code.str[4:])
    code = head if level == "3digit" else head + ("." + tail).where(tail != "", "")
    return pd.DataFrame({"subject_id": raw["subject_id"], "code": code})


@pytest.mark.e2e
def test_mimic_demo_known_facts(mimic_raw: pd.DataFrame) -> None:
    # Counted from the file when this test was written: 1,761 diagnoses of 100 patients in 129 admissions,
    # 581 distinct codes, none of them missing.
    assert len(mimic_raw) == 1761
    assert mimic_raw.loc[mimic_raw["icd9_code"].notna(), "subject_id"].nunique() == 100
    assert mimic_raw["hadm_id"].nunique() == 129
    assert mimic_raw["icd9_code"].nunique() == 581
    assert mimic_raw["icd9_code"].notna().all()


@pytest.mark.e2e
@pytest.mark.parametrize("granularity", ICD9_GRANULARITIES)
def test_mimic_demo_matrices_match_recount(
    mimic_events: pd.DataFrame, mimic_raw: pd.DataFrame, granularity: str
) -> None:
    recount = _recount(mimic_raw, granularity)
    per_patient = recount.groupby("subject_id")["code"].nunique()

    binary = code_matrix(mimic_events, granularity=granularity)
    counts = code_matrix(mimic_events, granularity=granularity, counts=True)
    for matrix in (binary, counts):
        summary = matrix_summary(matrix)
        assert summary["patients"] == recount["subject_id"].nunique() == 100
        assert summary["codes"] == recount["code"].nunique()
        assert summary["codes_per_patient_mean"] == pytest.approx(per_patient.mean())
        assert summary["codes_per_patient_median"] == pytest.approx(per_patient.median())
        assert summary["codes_per_patient_max"] == per_patient.max()
    assert matrix_summary(binary)["events"] == len(recount.drop_duplicates())
    assert matrix_summary(counts)["events"] == len(recount) == 1761
    assert binary.index.name == counts.index.name == "subject_id"
    assert binary.index.tolist() == sorted(per_patient.index, key=int)

    # Cell by cell against a crosstab of the recount.
    table = pd.crosstab(recount["subject_id"], recount["code"])
    table = table.reindex(index=counts.index, columns=counts.columns)
    np.testing.assert_array_equal(counts.to_numpy(), table.to_numpy())
    np.testing.assert_array_equal(binary.to_numpy(), (table.to_numpy() > 0).astype(np.uint8))


@pytest.mark.e2e
def test_mimic_demo_headline_numbers(mimic_events: pd.DataFrame) -> None:
    three = matrix_summary(code_matrix(mimic_events))
    full = matrix_summary(code_matrix(mimic_events, granularity="full"))
    assert (three["patients"], three["codes"], full["codes"]) == (100, 275, 581)
    assert three["codes_per_patient_mean"] == pytest.approx(13.3)
    # Patient 10006: sepsis 995.91 and the E-code category E879 are both among the first diagnoses.
    binary = code_matrix(mimic_events)
    assert binary.loc["10006", ["995", "E879", "V09", "038"]].tolist() == [1, 1, 1, 1]
    assert code_matrix(mimic_events, granularity="full").loc["10006", "995.91"] == 1
    admissions = code_matrix(mimic_events, unit="admission")
    assert admissions.shape[0] == 129
    assert admissions.index.name == "hadm_id"
