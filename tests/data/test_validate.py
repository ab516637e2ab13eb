"""Every bad input gets a synthmed error naming the column, a few offending values and the remedy."""

from __future__ import annotations

import gzip
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.data import MIN_ROWS, Schema, TableTransformer, infer_schema, read_table, validate_table
from synthmed.data.schema import ColumnKind
from synthmed.errors import DataError, SynthmedError, SynthmedWarning, UnseenCategoryError


def table(rows: int = 30, **columns: list) -> pd.DataFrame:
    base = {"age": np.linspace(20, 80, rows), "sex": ["F", "M"] * (rows // 2) + ["F"] * (rows % 2)}
    base.update(columns)
    return pd.DataFrame(base)


def test_error_message_names_column_values_and_remedy() -> None:
    error = DataError("bad values", column="ca", values=["?", "?", "x", "y", "z"], remedy="fix them")
    assert str(error) == "Column 'ca': bad values. Offending values: '?', 'x', 'y'. Remedy: fix them."
    assert isinstance(error, SynthmedError) and isinstance(error, ValueError)


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame({"age": []}), pd.DataFrame(index=range(5))])
def test_empty_tables_are_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="empty"):
        validate_table(frame)


@pytest.mark.parametrize("rows", [1, 5, MIN_ROWS - 1])
def test_too_few_rows_are_refused(rows: int) -> None:
    with pytest.raises(DataError, match=f"has {rows} rows.*at least {MIN_ROWS}"):
        validate_table(table(rows))


def test_minimum_row_count_is_accepted() -> None:
    assert len(validate_table(table(MIN_ROWS))) == MIN_ROWS


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinities_are_refused(bad: float) -> None:
    values = np.linspace(0, 1, 30)
    values[[3, 7]] = bad
    with pytest.raises(DataError, match=rf"Column 'dose': 2 infinite values. Offending values: {bad}.*NaN"):
        validate_table(table(dose=values))


def test_all_null_column_is_dropped_with_a_warning() -> None:
    with pytest.warns(SynthmedWarning, match="'empty' dropped"):
        cleaned = validate_table(table(empty=[None] * 30))
    assert list(cleaned.columns) == ["age", "sex"]


def test_all_null_column_asked_for_by_the_schema_is_an_error() -> None:
    declared = Schema.from_dict({"columns": {"empty": "continuous"}})
    with pytest.raises(DataError, match="Column 'empty': every value is missing, but the schema asks"):
        validate_table(table(empty=[np.nan] * 30), declared)


@pytest.mark.parametrize("marker", ["unknown", "not recorded", "-"])
def test_numeric_column_with_stray_marker_names_it_and_the_remedy(marker: str) -> None:
    values = [str(v) for v in range(29)] + [marker]
    with pytest.raises(DataError) as caught:
        validate_table(table(ca=values))
    message = str(caught.value)
    assert "Column 'ca'" in message and repr(marker) in message
    assert f'--na-values "{marker}"' in message


def test_codes_with_a_few_letter_prefixed_ones_are_categories_not_stray_markers() -> None:
    """ICD-9 diagnoses are mostly numeric-looking ("250.83"); a sample may hold only three V codes."""
    codes = [f"{250 + i % 7}.{i % 3}" for i in range(97)] + ["V57", "V58", "V54"]
    cleaned = validate_table(table(100, diag_1=codes))
    assert infer_schema(cleaned)["diag_1"].kind is ColumnKind.CATEGORICAL
    with pytest.raises(DataError, match="stray non-numeric markers"):  # a marker beside the codes is still one
        validate_table(table(ca=[str(v) for v in range(29)] + ["unknown"]))


def test_a_question_mark_alone_is_read_as_missing_with_a_note() -> None:
    """The UCI repository writes a missing value as '?': Cleveland's `ca` and `thal` hold a few."""
    with pytest.warns(SynthmedWarning, match=r"Column 'ca': 2 values '\?' read as missing"):
        cleaned = validate_table(table(ca=[str(v % 4) for v in range(28)] + ["?", "?"]))
    assert pd.api.types.is_float_dtype(cleaned["ca"]) and cleaned["ca"].isna().sum() == 2
    assert cleaned["ca"].iloc[:28].tolist() == [float(v % 4) for v in range(28)]
    with pytest.raises(DataError, match="stray non-numeric markers"):  # beside another marker it is one of them
        validate_table(table(ca=[str(v) for v in range(28)] + ["?", "unknown"]))
    declared = Schema.from_dict({"columns": {"ca": "categorical"}})
    kept = validate_table(table(ca=[str(v % 4) for v in range(28)] + ["?", "?"]), declared)
    assert (kept["ca"] == "?").sum() == 2  # a declared category keeps its '?'


def test_na_values_remedy_works_for_csv(tmp_path: Path) -> None:
    path = tmp_path / "heart.csv"
    path.write_text("age,ca\n" + "".join(f"{40 + i},{i % 4 if i % 7 else 'n.a.'}\n" for i in range(30)))
    with pytest.raises(DataError, match="'ca'"):
        validate_table(read_table(path))
    cleaned = validate_table(read_table(path, na_values=["n.a."]))
    assert pd.api.types.is_float_dtype(cleaned["ca"])
    assert cleaned["ca"].isna().sum() == 5


def test_genuine_text_categories_are_not_mistaken_for_markers() -> None:
    cleaned = validate_table(table(stage=["I", "II", "III", "IV", "1"] * 6))
    assert cleaned["stage"].tolist()[:3] == ["I", "II", "III"]


def test_pandas_usual_missing_markers_count_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{i},{'NA' if i % 3 == 0 else 'a'}\n" for i in range(12)) + "N/A,null\n")
    read = read_table(path)
    assert read["x"].isna().sum() == 1 and read["y"].isna().sum() == 5
    frame = validate_table(table(cat=["N/A", "a", "b"] * 10))
    assert frame["cat"].isna().sum() == 10


def test_duplicated_column_names_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame(np.zeros((20, 3)), columns=["a", "b", "a"])
    with pytest.raises(DataError, match="Column 'a': duplicated column names"):
        validate_table(frame)
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n" + "1,2,3\n" * 20)
    with pytest.raises(DataError, match="Column 'a': duplicated column names"):
        read_table(path)


def test_non_utf8_csv_suggests_an_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"city,age\n" + "".join(f"Montréal,{i}\n" for i in range(20)).encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8.*--encoding latin-1"):
        read_table(path)
    assert read_table(path, encoding="latin-1")["city"].iloc[0] == "Montréal"


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "absent.csv")


def test_unseen_category_at_transform_time() -> None:
    train = table(cp=["typical", "atypical", "none"] * 10)
    transformer = TableTransformer(infer_schema(train)).fit(train)
    new = table(cp=["typical", "asymptomatic", "aberrant"] * 10)
    with pytest.raises(UnseenCategoryError, match="Column 'cp'.*'asymptomatic', 'aberrant'.*categories"):
        transformer.transform(new)


def test_declared_categories_must_cover_the_data() -> None:
    frame = table(cp=["a", "b", "c"] * 10)
    declared = Schema.from_dict({"columns": {"cp": {"kind": "categorical", "categories": ["a", "b"]}}})
    with pytest.raises(UnseenCategoryError, match="'c'"):
        TableTransformer(infer_schema(frame, declared)).fit(frame)


def test_iso_date_strings_become_datetimes() -> None:
    dates = pd.date_range("2101-10-20 19:08", periods=30, freq="D").strftime("%Y-%m-%d %H:%M:%S")
    cleaned = validate_table(table(admittime=list(dates)))
    assert pd.api.types.is_datetime64_any_dtype(cleaned["admittime"])


def test_non_string_column_names_are_refused() -> None:
    with pytest.raises(DataError, match="column names must be strings"):
        validate_table(pd.DataFrame(np.zeros((20, 2))))


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_csv_separator_is_detected_from_the_header(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "export.csv"
    path.write_text(sep.join(["age", "sex", "bmi"]) + "\n" + "".join(f"{40 + i}{sep}F{sep}2{i}.5\n" for i in range(12)))
    table = read_table(path)
    assert list(table.columns) == ["age", "sex", "bmi"]
    assert table["bmi"].iloc[3] == 23.5


def test_stray_markers_of_any_number_of_kinds_are_refused_with_the_list() -> None:
    values = [str(v) for v in range(26)] + ["?", "unknown", "-", "n.a."]
    with pytest.raises(DataError, match=r"'ca'.*stray non-numeric markers \(4 kinds\).*--na-values \"n\.a\.\""):
        validate_table(table(ca=values))
    words = [str(v) for v in range(18)] + ["high", "low", "normal", "borderline"] * 3
    with pytest.raises(DataError, match="'chol'.*stray non-numeric markers"):
        validate_table(table(chol=words))
    with pytest.warns(SynthmedWarning, match="'stage': 20% of its values are numbers.*modelled as categories"):
        validate_table(table(stage=["I", "II", "III", "IV", "1"] * 6))


def test_files_are_read_by_what_they_hold_not_their_name(tmp_path: Path) -> None:
    frame = table()
    gzipped, parquet = tmp_path / "export.csv", tmp_path / "other.csv"
    gzipped.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    frame.to_parquet(parquet)
    pd.testing.assert_frame_equal(read_table(gzipped), frame)
    pd.testing.assert_frame_equal(read_table(parquet), frame)
    workbook = tmp_path / "book.csv"
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match="Excel workbook.*save the sheet as CSV"):
        read_table(workbook)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress(frame.to_csv(index=False).encode())[:60])
    with pytest.raises(DataError, match="not a readable table.*complete"):
        read_table(cut)


def test_a_text_column_of_plain_numbers_only_is_kept_without_a_note() -> None:
    """Numbers held as text (zip codes "01234", values a DataFrame built as objects) stay text, as declared by
    their type, and no note claims words among them."""
    table = pd.DataFrame({"zip": pd.Series(["01234", "2", "3.5"] * 10, dtype=object), "age": range(30)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checked = validate_table(table)
    assert checked["zip"].tolist() == table["zip"].tolist()
