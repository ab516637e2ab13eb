"""Sampling of any size: rows generated and written block by block, the same rows however they are written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import synthmed.models.base as base
from synthmed.data import DatabaseTable, read_table
from synthmed.data.database import DatabaseDestination
from synthmed.data.io import write_table_blocks
from synthmed.models import VAE
from synthmed.workflows.training import sample_to_file
from tests.workflows.test_release import patients

BLOCK = 40


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = VAE(epochs=2, batch_size=50, seed=3).fit(patients(0, 200), progress=False)
    return model.save(tmp_path_factory.mktemp("gen") / "g.smg")


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "SAMPLE_BLOCK", BLOCK)


def test_blocks_start_with_the_plain_sample_and_depend_only_on_n_and_seed(generator: Path, small_blocks) -> None:
    model = base.Synthesizer.load(generator)
    blocks = list(model.sample_blocks(100, seed=7))
    assert [len(block) for block in blocks] == [40, 40, 20]
    pd.testing.assert_frame_equal(blocks[0], model.sample(40, seed=7))
    again = pd.concat(list(model.sample_blocks(100, seed=7)), ignore_index=True)
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), again)
    assert not blocks[1].equals(blocks[0])  # each block its own seed


@pytest.mark.parametrize("name", ["s.parquet", "s.csv", "s.csv.gz", "s.csv.zip", "s.tsv"])
def test_every_format_holds_the_blocks_rows(generator: Path, small_blocks, tmp_path: Path, name: str) -> None:
    rows, columns = sample_to_file(generator, 100, tmp_path / name, seed=7)
    assert (rows, columns) == (100, 4)
    expected = pd.concat(list(base.Synthesizer.load(generator).sample_blocks(100, seed=7)), ignore_index=True)
    written = read_table(tmp_path / name)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, atol=1e-9)


def test_a_database_gets_every_block_in_one_transaction(generator: Path, small_blocks, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'out.duckdb'}"
    assert sample_to_file(generator, 100, DatabaseDestination(url, "synthetic"), seed=7) == (100, 4)
    assert len(read_table(DatabaseTable(url, table="synthetic"))) == 100


def _failing() -> Iterator[pd.DataFrame]:
    yield pd.DataFrame({"a": [1, 2]})
    raise RuntimeError("generation failed")


@pytest.mark.parametrize("name", ["s.parquet", "s.csv.gz"])
def test_a_failure_mid_way_leaves_no_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(RuntimeError):
        write_table_blocks(_failing(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_way_leaves_no_database_table(tmp_path: Path) -> None:
    from synthmed.data import write_database

    url = f"duckdb:///{tmp_path / 'out.duckdb'}"
    with pytest.raises(RuntimeError):
        write_database(_failing(), url, "synthetic")
    assert not DatabaseDestination(url, "synthetic").check()  # no table: writing it is allowed
