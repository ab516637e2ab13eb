"""Outputs are checked before any work and written whole or not at all (synthmed.data.files)."""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from synthmed.data.files import atomic_output, check_folder, check_new_folder, check_output, write_text
from synthmed.data.io import check_table_output, read_table, write_table
from synthmed.errors import DataError, OutputError


def test_unusable_outputs_are_refused_before_any_work(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(a_file / "model.smg")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(a_file / "deeper" / "model.smg")
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="already exists.*--overwrite"):
        check_output(a_file, overwrite=False)
    assert check_output(a_file) == a_file  # replacing is allowed unless refused
    assert check_output(tmp_path / "new" / "folders" / "model.smg").name == "model.smg"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(OutputError, match="refuses new files"):
        check_output("/proc/model.smg")
    with pytest.raises(DataError, match="output format"):
        check_table_output(tmp_path / "synthetic.xlsx")
    with pytest.raises(OutputError, match="already exists"):
        check_new_folder(a_file)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_folder(a_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # no probe left behind


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(OutputError, match="No space left.*free disk space"), atomic_output(target) as temporary:
        temporary.write_text("half a table")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(KeyError), atomic_output(target) as temporary:
        temporary.write_text("half a table")
        raise KeyError("a bug while writing")
    assert list((tmp_path / "out").iterdir()) == []


def test_writes_replace_the_destination_in_one_step(tmp_path: Path) -> None:
    path = write_text(tmp_path / "notes.json", "{}")
    assert path.read_text() == "{}"
    table = pd.DataFrame({"a": [1, 2]})
    for name in ("t.csv", "t.parquet", "t.csv.gz", "t.tsv", "t.csv.zip"):
        written = write_table(table, tmp_path / name)
        pd.testing.assert_frame_equal(read_table(written), table)
    assert zipfile.ZipFile(tmp_path / "t.csv.zip").namelist() == ["t.csv"]  # named as the file, not its draft
    with pytest.raises(OutputError, match="already exists"):
        write_table(table, tmp_path / "t.csv", overwrite=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["notes.json", "t.csv", "t.csv.gz", "t.csv.zip", "t.parquet", "t.tsv"]
