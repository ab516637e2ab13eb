"""Command-line outputs: checked before training, never replaced unasked, never left half-written; exit statuses."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from synthmed.cli import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, app
from synthmed.models.base import Synthesizer
from tests.test_cli import TINY, write_mixed_csv

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("outputs")
    csv = write_mixed_csv(folder / "mixed.csv")
    model = folder / "model.smg"
    assert invoke("fit", csv, "-o", model, *TINY, "--seed", "1", "-q").exit_code == 0
    return csv, model


def assert_refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert result.stderr.splitlines()[-1].startswith("error: ") and "Traceback" not in result.output
    assert "trained" not in result.stdout  # refused before any training
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_unwritable_outputs_are_refused_before_training(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    csv, _ = fitted
    assert_refused(invoke("fit", csv, "-o", "/proc/model.smg", *TINY), "refuses new files")
    assert_refused(invoke("fit", csv, "-o", csv / "model.smg", *TINY), "is a file, not a folder")
    assert_refused(invoke("fit", csv, "-o", tmp_path / "m.smg", "--checkpoint", csv, *TINY), "not a folder")
    assert_refused(invoke("demo", "-o", csv), "not a folder")
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_replaced_only_with_overwrite(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    csv, model = fitted
    before = model.read_bytes()
    assert_refused(invoke("fit", csv, "-o", model, *TINY), "already exists", "--overwrite")
    assert_refused(invoke("fit", csv, "-o", model, "--model", "gpt", "--set", "x=1"), "already exists")  # paths first
    assert_refused(invoke("audit", csv, "-o", csv, "--model", "gpt"), "already exists")
    assert model.read_bytes() == before
    assert_refused(invoke("sample", tmp_path / "absent.smg", "-n", "5", "-o", csv), "already exists")
    assert_refused(invoke("schema", csv, "-o", csv), "already exists")
    output = tmp_path / "s.csv"
    assert invoke("sample", model, "-n", "5", "-o", output).exit_code == 0
    assert invoke("sample", model, "-n", "7", "-o", output, "--overwrite").exit_code == 0
    assert len(output.read_text().splitlines()) == 8


def test_a_write_that_fails_part_way_leaves_nothing(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = fitted

    def small_files() -> None:  # the kernel refuses writes past 20 kB (EFBIG), as a full disk would (ENOSPC)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    for output in (tmp_path / "big.csv", tmp_path / "big.parquet"):
        command = [sys.executable, "-m", "synthmed", "sample", str(model), "-n", "5000", "-o", str(output)]
        result = subprocess.run(command, capture_output=True, text=True, preexec_fn=small_files, check=False)
        assert result.returncode == EXIT_USER_ERROR, result.stderr
        assert "could not write" in result.stderr and "Remedy:" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bug_is_an_internal_error_without_a_traceback(
    fitted: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model = fitted

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("an invariant broke")

    monkeypatch.setattr(Synthesizer, "sample", broken)
    result = invoke("sample", model, "-n", "5", "-o", tmp_path / "s.csv")
    assert result.exit_code == EXIT_INTERNAL_ERROR
    assert "internal error: RuntimeError: an invariant broke" in result.stderr
    assert "SYNTHMED_DEBUG=1" in result.stderr and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_same_command_writes_the_same_generator_bytes(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    csv, model = fitted
    again = tmp_path / "again.smg"
    assert invoke("fit", csv, "-o", again, *TINY, "--seed", "1", "-q").exit_code == 0
    assert again.read_bytes() == model.read_bytes()


def test_a_release_of_columns_train_does_not_model_is_a_user_error(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    csv, _ = fitted
    train = pd.read_csv(csv)
    synthetic = tmp_path / "synthetic.csv"
    train.assign(patient_name=[f"Name {i}" for i in range(len(train))]).to_csv(synthetic, index=False)
    result = invoke("release", "--synthetic", synthetic, "--train", csv, "--holdout", csv, "-o", tmp_path / "out")
    assert_refused(result, "'id'", "identifier or free-text columns of TRAIN")  # the real ids, beside the names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.csv"]
