"""visitgpt on a table of records (a code matrix with patient attributes), read as one-visit histories: samples
come back in the table's columns and types, hold the codes' structure, are reproducible from the seed and the saved
file, and an array in gives an array out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.visitgpt import VisitGPT
from synthmed.workflows.training import sample_to_file

SMALL = {"width": 32, "layers": 1, "heads": 2, "seed": 0}


def code_matrix(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Women hold code `a` (and `b` with it half the time), men code `c`; ten background codes at 5%."""
    rng = np.random.default_rng(seed)
    women = rng.random(rows) < 0.5
    codes = {
        "a": women.astype(np.int64),
        "b": (women & (rng.random(rows) < 0.5)).astype(np.int64),
        "c": (~women).astype(np.int64),
    }
    codes |= {f"x{j}": (rng.random(rows) < 0.05).astype(np.int64) for j in range(10)}
    return pd.DataFrame({"sex": np.where(women, "F", "M"), **codes})


@pytest.fixture(scope="module")
def trained() -> tuple[VisitGPT, pd.DataFrame]:
    table = code_matrix()
    return VisitGPT(epochs=40, batch_size=64, **SMALL).fit(table, progress=False), table


def test_samples_are_the_tables_columns_with_its_codes_structure(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, table = trained
    assert model.generates() == "table" and model.data_kind() == "histories"
    sample = model.sample(600, seed=1)
    assert list(sample.columns) == list(table.columns)
    codes = table.columns.drop("sex")
    assert (sample[codes].dtypes == table[codes].dtypes).all() and set(sample["sex"]) == {"F", "M"}
    women = sample[sample["sex"] == "F"]
    men = sample[sample["sex"] == "M"]
    assert women["a"].mean() > 0.8 and men["a"].mean() < 0.2
    assert men["c"].mean() > 0.8 and women["c"].mean() < 0.2
    assert sample.loc[sample["b"] == 1, "a"].mean() > 0.8  # b comes with a
    assert 0.3 < women["b"].mean() / women["a"].mean() < 0.7


def test_the_same_seed_gives_the_same_file_and_the_file_the_same_rows(tmp_path: Path) -> None:
    table = code_matrix(120)
    first = VisitGPT(epochs=2, **SMALL).fit(table, progress=False)
    second = VisitGPT(epochs=2, **SMALL).fit(table, progress=False)
    first.save(tmp_path / "a.smg")
    second.save(tmp_path / "b.smg")
    assert (tmp_path / "a.smg").read_bytes() == (tmp_path / "b.smg").read_bytes()
    loaded = Synthesizer.load(tmp_path / "a.smg")
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), first.sample(50, seed=3))
    blocks = list(loaded.sample_blocks(30, seed=3))
    assert all(list(block.columns) == list(table.columns) for block in blocks)


def test_conditions_fix_a_patient_attribute_not_a_code(trained: tuple[VisitGPT, pd.DataFrame]) -> None:
    model, _ = trained
    women = model.sample(40, seed=2, conditions={"sex": "F"})
    assert (women["sex"] == "F").all()
    with pytest.raises(ConfigError, match="patient attributes"):
        model.sample(10, conditions={"a": 1})


def test_an_array_of_codes_samples_an_array_and_its_file_a_table(tmp_path: Path) -> None:
    matrix = code_matrix(120).drop(columns="sex").to_numpy()
    model = VisitGPT(epochs=2, **SMALL).fit(matrix, progress=False)
    sample = model.sample(20, seed=0)
    assert isinstance(sample, np.ndarray) and sample.shape == (20, matrix.shape[1])
    assert set(np.unique(sample)) <= {0, 1}
    model.save(tmp_path / "m.smg")
    assert sample_to_file(tmp_path / "m.smg", 20, tmp_path / "s.csv", seed=0) == (20, matrix.shape[1])
    written = pd.read_csv(tmp_path / "s.csv")
    assert written.columns.tolist() == [f"x{i}" for i in range(matrix.shape[1])]
    assert (written.to_numpy() == sample).all()


def test_half_the_history_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="patient column and the code columns"):
        VisitGPT(**SMALL).fit(code_matrix(50), patient_column="sex")


def test_private_training_on_records_spends_the_budget() -> None:
    model = VisitGPT(epochs=2, batch_size=64, **SMALL).fit(code_matrix(200), progress=False, dp_epsilon=5.0)
    assert model.privacy_ is not None and model.privacy_["epsilon"] <= 5.0 + 1e-9
    assert list(model.sample(10, seed=0).columns) == list(code_matrix(10).columns)
