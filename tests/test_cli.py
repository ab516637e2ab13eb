"""Tests for the command line (synthmed.cli): every command, its outputs, and how user mistakes are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

import synthmed
from synthmed.cli import EXIT_RELEASE_REFUSED, app
from synthmed.data.io import read_table
from synthmed.data.schema import ColumnKind
from synthmed.data.timeseries import to_long
from synthmed.errors import SynthmedWarning
from synthmed.models import MODELS
from synthmed.models.registry import ENTRIES
from synthmed.workflows.evaluation import training_monitor

# Tiny training so every fit takes about a second.
TINY = ["--model", "medgan", "--epochs", "2", "--set", "pretrain_epochs=2", "--batch-size", "16"]
MODELLED = ["age", "visits", "sex", "stage"]
N_ROWS = 60

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


def mixed_table(seed: int = 0) -> pd.DataFrame:
    """60 patients: a float with gaps, a count, a 2-value and a 3-level text column, and an identifier."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + N_ROWS),
            "age": np.round(rng.normal(50, 10, N_ROWS), 1),
            "visits": rng.poisson(3, N_ROWS),
            "sex": rng.choice(["F", "M"], N_ROWS),
            "stage": rng.choice(["I", "II", "III"], N_ROWS),
        }
    )
    table.loc[[3, 10, 20], "age"] = np.nan
    return table


def write_mixed_csv(path: Path) -> Path:
    mixed_table().to_csv(path, index=False)
    return path


def assert_user_error(result: Result, *fragments: str) -> None:
    """Exit status 2, one `error:` message on stderr naming each fragment, and no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@dataclass(frozen=True)
class Fitted:
    csv: Path
    model: Path
    result: Result


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """The mixed CSV fitted once with a fixed seed (shared by the tests that only read the model)."""
    folder = tmp_path_factory.mktemp("fitted")
    csv = write_mixed_csv(folder / "mixed.csv")
    model = folder / "model.smg"
    result = invoke("fit", csv, "-o", model, *TINY, "--seed", "1")
    assert result.exit_code == 0, (result.output, result.exception)
    return Fitted(csv, model, result)


# ----------------------------------------------------------------------------------------------------
# models


def test_models_lists_one_model_per_line_with_cli_name_first() -> None:
    result = invoke("models")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(MODELS)
    names = [line.split("\t")[0] for line in lines]
    assert names == list(MODELS)
    assert "medgan" in names
    for line in lines:
        name, description = line.split("\t", 1)
        assert description == ENTRIES[name].summary


@pytest.mark.parametrize(
    ("model_name", "settings"),
    [
        ("corgan", ["--set", "pretrain_epochs=1", "--set", "warmup_critic_steps=5"]),
        ("wgangp", []),
        ("vae", []),
        ("tabgan", ["--set", "generator_dims=16", "--set", "critic_dims=16"]),
    ],
)
def test_fit_and_sample_other_models(model_name: str, settings: list[str], tmp_path: Path) -> None:
    csv, model, output = write_mixed_csv(tmp_path / "mixed.csv"), tmp_path / "m.smg", tmp_path / "s.csv"
    fitted = invoke("fit", csv, "--model", model_name, "-o", model, "--epochs", "1", "--batch-size", "16", *settings)
    assert fitted.exit_code == 0, fitted.output
    assert invoke("sample", model, "-n", "15", "-o", output, "-q").exit_code == 0
    assert synthmed.load(model).name == model_name
    assert list(pd.read_csv(output).columns) == MODELLED


def test_tabgan_conditions_from_the_command_line_are_exact(tmp_path: Path) -> None:
    csv, model, output = write_mixed_csv(tmp_path / "mixed.csv"), tmp_path / "m.smg", tmp_path / "s.csv"
    settings = ["--set", "generator_dims=16", "--set", "critic_dims=16", "--epochs", "5"]
    assert invoke("fit", csv, "--model", "tabgan", "-o", model, "-q", *settings).exit_code == 0
    assert invoke("sample", model, "-n", "40", "-o", output, "--condition", "stage=III", "-q").exit_code == 0
    assert set(pd.read_csv(output)["stage"]) == {"III"}
    shares = ["--proportions", "sex=F:0.25,M:0.75"]
    assert invoke("sample", model, "-n", "40", "-o", output, *shares, "-q", "--overwrite").exit_code == 0
    assert pd.read_csv(output)["sex"].value_counts().to_dict() == {"M": 30, "F": 10}


# ----------------------------------------------------------------------------------------------------
# ehr-matrix

EVENTS_CSV = """SUBJECT_ID,HADM_ID,ICD9_CODE
10,100,"4019"
10,100,"4011"
10,101,"V4581"
2,200,0389
2,200,"E8889"
2,201,4019
33,300,"25000"
"""


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "DIAGNOSES_ICD.csv"
    path.write_text(EVENTS_CSV)
    return path


def test_ehr_matrix_binary_three_digit(events_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "matrix.parquet"
    result = invoke("ehr-matrix", events_csv, "-o", output)
    assert result.exit_code == 0, result.output
    assert "3 patients x 5 codes" in result.stdout
    matrix = pd.read_parquet(output)
    # patient id first, then one column per 3-digit category (leading zero kept, E codes keep 4 characters)
    assert list(matrix.columns) == ["SUBJECT_ID", "038", "250", "401", "E888", "V45"]
    assert matrix["SUBJECT_ID"].astype(str).tolist() == ["2", "10", "33"]  # numeric order, not text order
    assert matrix.iloc[:, 1:].to_numpy().tolist() == [
        [1, 0, 1, 1, 0],
        [0, 0, 1, 0, 1],
        [0, 1, 0, 0, 0],
    ]


def test_ehr_matrix_counts(events_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "counts.parquet"
    result = invoke("ehr-matrix", events_csv, "-o", output, "--counts")
    assert result.exit_code == 0, result.output
    matrix = pd.read_parquet(output).set_index("SUBJECT_ID")
    assert matrix.loc["10", "401"] == 2  # 401.9 and 401.1 both fall in category 401
    assert matrix.loc["2", "401"] == 1
    assert int(matrix.to_numpy().sum()) == 7  # every event counted once


def test_ehr_matrix_full_codes_are_dotted(events_csv: Path, tmp_path: Path) -> None:
    output = tmp_path / "full.parquet"
    result = invoke("ehr-matrix", events_csv, "-o", output, "--granularity", "full")
    assert result.exit_code == 0, result.output
    matrix = pd.read_parquet(output)
    assert list(matrix.columns) == ["SUBJECT_ID", "038.9", "250.00", "401.1", "401.9", "E888.9", "V45.81"]
    assert matrix.iloc[:, 1:].to_numpy().tolist() == [
        [1, 0, 0, 1, 1, 0],
        [0, 0, 1, 1, 0, 1],
        [0, 1, 0, 0, 0, 0],
    ]


@pytest.mark.parametrize("counts", [[], ["--counts"]])
def test_ehr_matrix_sparse_reads_back_as_the_dense_matrix(events_csv: Path, tmp_path: Path, counts: list[str]) -> None:
    dense, kept = tmp_path / "dense.parquet", tmp_path / "sparse.parquet"
    assert invoke("ehr-matrix", events_csv, "-o", dense, *counts).exit_code == 0
    result = invoke("ehr-matrix", events_csv, "-o", kept, "--sparse", *counts)
    assert result.exit_code == 0 and "3 patients x 5 codes" in result.stdout and "sparse" in result.stdout
    assert pd.read_parquet(kept)["codes"].map(list).tolist() == [["038", "401", "E888"], ["401", "V45"], ["250"]]
    pd.testing.assert_frame_equal(read_table(kept), read_table(dense), check_dtype=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [(["-o", "m.csv"], "a sparse matrix is written as Parquet"), (["--groups", "g.yaml"], "code groups")],
)
def test_ehr_matrix_sparse_mistakes_exit_2(events_csv: Path, tmp_path: Path, options: list[str], message: str) -> None:
    options = [str(tmp_path / o) if o.endswith((".csv", ".yaml")) else o for o in options]
    output = ["-o", str(tmp_path / "m.parquet")] if "-o" not in options else []
    assert_user_error(invoke("ehr-matrix", events_csv, "--sparse", *output, *options), message)


def test_a_sparse_code_matrix_fits_and_samples_sparse_through_the_cli(tmp_path: Path) -> None:
    from synthmed.data.sparse import read_sparse

    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {"subject_id": rng.integers(0, 80, 400), "icd9_code": rng.choice(["4019", "0389", "V4581"], 400)}
    )
    events.astype(str).to_csv(tmp_path / "events.csv", index=False)
    codes, model, synthetic = tmp_path / "codes.parquet", tmp_path / "g.smg", tmp_path / "synthetic.parquet"
    assert invoke("ehr-matrix", tmp_path / "events.csv", "--sparse", "-o", codes).exit_code == 0
    fitted = invoke("fit", codes, "-o", model, *TINY, "-q")
    assert fitted.exit_code == 0, fitted.output
    sampled = invoke("sample", model, "-n", "30", "-o", synthetic)
    assert sampled.exit_code == 0 and "30 synthetic rows x 3 columns" in sampled.stdout, sampled.output
    assert read_sparse(synthetic).codes == ("038", "401", "V45") and len(read_sparse(synthetic)) == 30
    assert_user_error(invoke("sample", model, "-n", "3", "-o", tmp_path / "s.csv"), "written as Parquet")


def test_ehr_matrix_unknown_granularity_is_a_user_error(events_csv: Path, tmp_path: Path) -> None:
    result = invoke("ehr-matrix", events_csv, "-o", tmp_path / "m.parquet", "--granularity", "4digit")
    assert_user_error(result, "granularity", "'4digit'", "3digit")


# ----------------------------------------------------------------------------------------------------
# fit and sample


def test_fit_writes_model_and_reports_identifier(fitted: Fitted) -> None:
    assert fitted.model.is_file()
    assert "medgan trained on 60 rows x 4 columns" in fitted.result.stdout
    assert "note: Column 'id' left out as an identifier" in fitted.result.stderr
    model = synthmed.load(fitted.model)
    assert model.transformer_.columns == MODELLED
    assert model.seed_ == 1


def test_sample_csv_has_modelled_columns_without_identifier(fitted: Fitted, tmp_path: Path) -> None:
    output = tmp_path / "synthetic.csv"
    result = invoke("sample", fitted.model, "-n", "25", "-o", output)
    assert result.exit_code == 0, result.output
    assert "wrote 25 synthetic rows x 4 columns" in result.stdout
    synthetic = pd.read_csv(output)
    assert len(synthetic) == 25
    assert list(synthetic.columns) == MODELLED
    assert set(synthetic["sex"]) <= {"F", "M"}
    assert set(synthetic["stage"]) <= {"I", "II", "III"}


def test_sample_parquet_output(fitted: Fitted, tmp_path: Path) -> None:
    output = tmp_path / "synthetic.parquet"
    result = invoke("sample", fitted.model, "--rows", "12", "--output", output)
    assert result.exit_code == 0, result.output
    synthetic = pd.read_parquet(output)
    assert synthetic.shape == (12, 4)
    assert list(synthetic.columns) == MODELLED
    assert pd.api.types.is_integer_dtype(synthetic["visits"])  # the count column keeps an integer dtype
    assert pd.api.types.is_float_dtype(synthetic["age"])


def test_same_seeds_give_byte_identical_samples(tmp_path: Path) -> None:
    csv = write_mixed_csv(tmp_path / "mixed.csv")
    outputs = []
    for run in ("a", "b"):
        model = tmp_path / f"{run}.smg"
        assert invoke("fit", csv, "-o", model, *TINY, "--seed", "5", "-q").exit_code == 0
        output = tmp_path / f"{run}.csv"
        assert invoke("sample", model, "-n", "40", "-o", output, "--seed", "7").exit_code == 0
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    other = tmp_path / "other.csv"
    assert invoke("sample", tmp_path / "a.smg", "-n", "40", "-o", other, "--seed", "8").exit_code == 0
    assert other.read_bytes() != outputs[0]


def test_threads_are_set_for_the_command_and_recorded_in_the_generator(tmp_path: Path) -> None:
    import torch

    csv, before = write_mixed_csv(tmp_path / "mixed.csv"), torch.get_num_threads()
    result = invoke("fit", csv, "-o", tmp_path / "one.smg", *TINY, "--seed", "5", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "1 CPU threads" in result.stdout and torch.get_num_threads() == before  # restored afterwards
    with zipfile.ZipFile(tmp_path / "one.smg") as archive:
        assert json.loads(archive.read("model.json"))["threads"] == 1
    assert invoke("sample", tmp_path / "one.smg", "-n", "5", "-o", tmp_path / "s.csv", "--threads", "1").exit_code == 0
    assert_user_error(invoke("fit", csv, "-o", tmp_path / "zero.smg", *TINY, "--threads", "0"), "CPU threads", "0")


def test_quiet_suppresses_progress_and_summary(fitted: Fitted, tmp_path: Path) -> None:
    assert "pretrain" in fitted.result.stdout  # the progress bars of a normal fit, with their figures...
    assert all(figure in fitted.result.stdout for figure in ("reconstruction", "d_loss", "g_loss", "rows/s"))
    assert "trained on" in fitted.result.stdout  # ...and its summary line
    model = tmp_path / "quiet.smg"
    result = invoke("fit", fitted.csv, "-o", model, *TINY, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert model.is_file()
    sampled = invoke("sample", model, "-n", "5", "-o", tmp_path / "s.csv", "-q")
    assert sampled.exit_code == 0
    assert sampled.stdout == ""


# ----------------------------------------------------------------------------------------------------
# --set


def test_set_passes_hyperparameters(fitted: Fitted, tmp_path: Path) -> None:
    model = tmp_path / "set.smg"
    settings = [
        "discriminator_steps=1",
        "generator-dims=64,64,64",  # dashes work like underscores; tuples are comma-separated
        "noise_dim=64",
        "embedding_dim=64",
        "minibatch_averaging=false",
        "binary_rounding=bernoulli",
        "learning_rate=0.0005",
    ]
    args = [arg for setting in settings for arg in ("--set", setting)]
    result = invoke("fit", fitted.csv, "-o", model, *TINY, *args, "-q")
    assert result.exit_code == 0, result.output
    params = synthmed.load(model).get_params()
    assert params["discriminator_steps"] == 1
    assert params["generator_dims"] == (64, 64, 64)
    assert params["noise_dim"] == params["embedding_dim"] == 64
    assert params["minibatch_averaging"] is False
    assert params["binary_rounding"] == "bernoulli"
    assert params["learning_rate"] == pytest.approx(5e-4)
    assert params["pretrain_epochs"] == 2
    assert params["epochs"] == 2
    assert params["batch_size"] == 16


def test_set_accepts_scientific_notation(fitted: Fitted, tmp_path: Path) -> None:
    model = tmp_path / "lr.smg"
    result = invoke("fit", fitted.csv, "-o", model, *TINY, "--set", "learning_rate=1e-3", "-q")
    assert result.exit_code == 0, result.stderr
    assert synthmed.load(model).get_params()["learning_rate"] == pytest.approx(1e-3)


def test_set_unknown_name_lists_valid_names(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", *TINY, "--set", "foo=1")
    assert_user_error(result, "unknown hyperparameter", "'foo'", "valid names", "discriminator_steps", "epochs")
    assert not (tmp_path / "m.smg").exists()


@pytest.mark.parametrize("setting", ["discriminator_steps", "=2", ""])
def test_set_malformed_is_a_user_error(fitted: Fitted, tmp_path: Path, setting: str) -> None:
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", *TINY, "--set", setting)
    assert_user_error(result, "NAME=VALUE", "Remedy: e.g. --set discriminator_steps=2")


def test_set_wrong_type_is_a_user_error(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", *TINY, "--set", "discriminator_steps=two")
    assert_user_error(result, "'discriminator_steps'", "int", "'two'")


# ----------------------------------------------------------------------------------------------------
# user mistakes: exit status 2, a message with the problem and a remedy, no traceback


@pytest.fixture
def question_mark_csv(tmp_path: Path) -> Path:
    """A numeric column with a stray marker (not '?', which reads as missing: the UCI convention)."""
    table = mixed_table()
    table["age"] = table["age"].astype(object)
    table.loc[[5, 7], "age"] = "unknown"
    path = tmp_path / "heart.csv"
    table.to_csv(path, index=False)
    return path


def test_question_mark_in_numeric_column_names_column_value_and_remedy(question_mark_csv: Path, tmp_path: Path) -> None:
    result = invoke("fit", question_mark_csv, "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(result, "Column 'age'", "'unknown'", '--na-values "unknown"', "Remedy:")
    assert not (tmp_path / "m.smg").exists()


def test_na_values_fixes_question_mark(question_mark_csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.smg"
    result = invoke("fit", question_mark_csv, "-o", model, *TINY, "--na-values", "unknown", "-q")
    assert result.exit_code == 0, result.output
    loaded = synthmed.load(model)
    assert loaded.schema_["age"].kind is ColumnKind.CONTINUOUS
    assert [s.role for s in loaded.transformer_.layout_.spans if s.column == "age"] == ["value", "missing"]


def test_question_mark_error_from_a_real_process(question_mark_csv: Path, tmp_path: Path) -> None:
    """What a user at a terminal sees: status 2, `error:` on stderr, no traceback anywhere."""
    completed = subprocess.run(
        [sys.executable, "-m", "synthmed", "fit", str(question_mark_csv), "-o", str(tmp_path / "m.smg"), *TINY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith("error: Column 'age'")
    assert "--na-values" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert not (tmp_path / "m.smg").exists()


def test_missing_input_file(tmp_path: Path) -> None:
    result = invoke("fit", tmp_path / "nowhere.csv", "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(result, "nowhere.csv", "does not exist", "Remedy: check the path")


def test_unknown_model(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", *TINY, "--model", "tablegan")
    assert_user_error(result, "unknown model", "'tablegan'", "Remedy: choose one of: medgan")


def test_latin1_csv_suggests_encoding_and_reads_with_it(tmp_path: Path) -> None:
    table = mixed_table()
    table["stage"] = table["stage"].replace({"I": "é"})
    path = tmp_path / "latin.csv"
    table.to_csv(path, index=False, encoding="latin-1")

    result = invoke("fit", path, "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(result, "latin.csv", "UTF-8", "--encoding latin-1")

    model = tmp_path / "ok.smg"
    result = invoke("fit", path, "-o", model, *TINY, "--encoding", "latin-1", "-q")
    assert result.exit_code == 0, result.output
    encoders = {encoder.name: encoder for encoder in synthmed.load(model).transformer_.encoders_}
    assert sorted(encoders["stage"].categories_) == ["II", "III", "é"]


def test_too_few_rows(tmp_path: Path) -> None:
    path = tmp_path / "five.csv"
    mixed_table().head(5).to_csv(path, index=False)
    result = invoke("fit", path, "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(result, "5 rows", "at least 10", "Remedy:")


def test_duplicated_column_names(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    rows = "\n".join(f"{i},{i * 2},{i % 2}" for i in range(20))
    path.write_text(f"a,a,b\n{rows}\n")
    result = invoke("fit", path, "-o", tmp_path / "m.smg", *TINY)
    assert_user_error(result, "duplicated column names", "'a'", "Remedy: rename")


def test_sample_from_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.smg"
    path.write_text("not a model")
    result = invoke("sample", path, "-n", "5", "-o", tmp_path / "s.csv")
    assert_user_error(result, "model.smg", "not a synthmed generator", "Remedy:")
    assert not (tmp_path / "s.csv").exists()


def test_sample_zero_rows(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("sample", fitted.model, "-n", "0", "-o", tmp_path / "s.csv")
    assert_user_error(result, "positive integer", "0")
    assert not (tmp_path / "s.csv").exists()


def test_sample_zero_rows_says_how_to_fix_it(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("sample", fitted.model, "-n", "0", "-o", tmp_path / "s.csv")
    assert_user_error(result, "Remedy:")


# ----------------------------------------------------------------------------------------------------
# schema


def test_schema_prints_inferred_kinds(fitted: Fitted) -> None:
    result = invoke("schema", fitted.csv)
    assert result.exit_code == 0, result.output
    columns = yaml.safe_load(result.stdout)["columns"]
    assert list(columns) == ["id", "age", "visits", "sex", "stage"]
    assert {name: spec["kind"] for name, spec in columns.items()} == {
        "id": "identifier",
        "age": "continuous",
        "visits": "count",
        "sex": "binary",
        "stage": "categorical",
    }


def test_edited_schema_file_changes_the_fitted_layout(fitted: Fitted, tmp_path: Path) -> None:
    schema_path = tmp_path / "schema.yaml"
    result = invoke("schema", fitted.csv, "-o", schema_path)
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(schema_path.read_text())
    assert spec == yaml.safe_load(invoke("schema", fitted.csv).stdout)

    def visits_spans(model: Path) -> list[tuple[str, int, str]]:
        layout = synthmed.load(model).transformer_.layout_
        return [(span.kind.value, span.width, span.activation) for span in layout.spans if span.column == "visits"]

    as_inferred = tmp_path / "inferred.smg"
    assert invoke("fit", fitted.csv, "-o", as_inferred, *TINY, "--schema", schema_path, "-q").exit_code == 0
    assert visits_spans(as_inferred) == [("count", 1, "relu")]

    spec["columns"]["visits"]["kind"] = "categorical"
    schema_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    edited = tmp_path / "edited.smg"
    result = invoke("fit", fitted.csv, "-o", edited, *TINY, "--schema", schema_path, "-q")
    assert result.exit_code == 0, result.output
    levels = mixed_table()["visits"].nunique()
    assert visits_spans(edited) == [("categorical", levels, "softmax")]


# ----------------------------------------------------------------------------------------------------
# demo


def test_demo_releases_the_breast_cancer_table_and_prints_the_verdicts(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    result = invoke("demo", "--epochs", "2", "-o", tmp_path, "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.splitlines()
    for area in ("fidelity", "utility", "privacy"):
        assert any(line.split()[:1] == [area] for line in lines)
    assert any("real holdout" in line for line in lines)  # the reference figure beside each synthetic one
    assert lines[-1].startswith(f"report: {tmp_path / 'release' / 'report.html'}")
    table = pd.read_csv(tmp_path / "breast_cancer.csv")
    assert list(table.columns) == [*load_breast_cancer().feature_names, "diagnosis"]
    evaluation = json.loads((tmp_path / "release" / "evaluation.json").read_text())
    assert evaluation["about"]["rows"]["holdout"] == round(0.2 * 212) + round(0.2 * 357)  # stratified on diagnosis
    released = (tmp_path / "release" / "synthetic.csv").exists()
    assert released == ("released to" in result.stdout)
    again = invoke("demo", "--epochs", "2", "-o", tmp_path, "-q")  # a second demo replaces its own release
    assert again.exit_code == 0, again.output


def test_fit_resumes_from_its_checkpoint_folder(fitted: Fitted, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    first = invoke("fit", fitted.csv, "-o", tmp_path / "a.smg", *TINY, "--seed", "3", "--checkpoint", folder, "-q")
    assert first.exit_code == 0, first.output
    assert (folder / "checkpoint.safetensors").is_file()
    # the finished run's checkpoint is complete: rerunning trains nothing more and gives the same model
    again = invoke("fit", fitted.csv, "-o", tmp_path / "b.smg", *TINY, "--seed", "3", "--checkpoint", folder)
    assert again.exit_code == 0, again.output
    assert "rows/s" not in again.stdout
    samples = [synthmed.load(tmp_path / name).sample(20, seed=1) for name in ("a.smg", "b.smg")]
    pd.testing.assert_frame_equal(*samples)
    other = invoke("fit", fitted.csv, "-o", tmp_path / "c.smg", *TINY, "--seed", "4", "--checkpoint", folder)
    assert other.exit_code == 2
    assert "error: the checkpoint" in other.stderr and "belongs to another run" in other.stderr
    assert "new checkpoint folder" in other.stderr and "Traceback" not in other.output


def test_paths_of_the_wrong_kind_are_user_errors(fitted: Fitted, tmp_path: Path) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert_user_error(invoke("fit", folder, "-o", tmp_path / "m.smg"), "is a folder, not a table")
    assert_user_error(invoke("fit", fitted.csv, "-o", folder, *TINY, "-q"), "is a folder", "model.smg")
    workbook = tmp_path / "book.xlsx"
    workbook.write_bytes(bytes(range(256)))
    assert_user_error(invoke("fit", workbook, "-o", tmp_path / "m.smg"), "cannot read", "CSV or Parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert_user_error(invoke("fit", broken, "-o", tmp_path / "m.smg"), "not a readable Parquet file")


def test_invalid_schema_yaml_is_one_paragraph(fitted: Fitted, tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns: [1, 2")
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", "--schema", schema)
    assert_user_error(result, "is not valid YAML: line 1", "synthmed schema DATA")
    assert result.stderr.strip().count("\n") == 0


def _write_sequences(path: Path, count: int, seed: int) -> Path:
    """Long format: sequence, step, two noisy sines a quarter turn apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(12)
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    values = np.stack([np.sin(0.5 * t + phase), np.cos(0.5 * t + phase)], axis=2)
    values += 0.05 * rng.normal(size=values.shape)
    table = pd.DataFrame(values.reshape(-1, 2), columns=["pulse", "pressure"])
    table.insert(0, "step", np.tile(t, count))
    table.insert(0, "sequence", np.repeat(np.arange(count), len(t)))
    table.to_csv(path, index=False)
    return path


def test_evaluate_sequences_writes_json_and_report(tmp_path: Path) -> None:
    train = _write_sequences(tmp_path / "train.csv", 20, 0)
    holdout = _write_sequences(tmp_path / "holdout.csv", 20, 1)
    tables = ["--train", train, "--holdout", holdout, "--synthetic", train]
    keys = ["--sequence-id", "sequence", "--time", "step"]
    outputs = ["--json", tmp_path / "m.json", "-o", tmp_path / "r.html"]
    result = invoke("evaluate", *tables, *keys, "--window", "6", *outputs)
    assert result.exit_code == 0, result.output
    assert "autocorrelation" in result.stdout and "channel prediction" in result.stdout
    document = yaml.safe_load((tmp_path / "m.json").read_text())
    assert document["about"]["data"] == "sequences" and document["about"]["window_length"] == 6
    assert document["about"]["rows"]["synthetic"] == 40  # 20 sequences of 12 steps, 2 windows each
    assert document["privacy"]["verdict"] == "fail"  # the synthetic sequences are TRAIN itself
    assert "Mean |autocorrelation difference|" in (tmp_path / "r.html").read_text()
    assert_user_error(invoke("evaluate", *tables, "--sequence-id", "sequence", "--json", tmp_path / "x.json"), "--time")
    assert_user_error(
        invoke("evaluate", *tables, *keys, "--quasi-identifiers", "pulse", "--json", tmp_path / "x.json"),
        "apply to tables, not sequences",
        "--quasi-identifiers",
    )
    assert_user_error(invoke("evaluate", *tables, *keys, "--target", "sex", "--json", tmp_path / "x.json"), "'sex'")


def test_tsgan_fits_long_sequences_and_samples_long_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(10)[None, :, None] / 2 + rng.uniform(0, 6, (12, 1, 2)))
    long_csv = tmp_path / "vitals.csv"
    to_long(values, ["hr", "spo2"]).rename(columns={"sequence": "stay", "step": "hour"}).to_csv(long_csv, index=False)
    tiny = [
        "--model",
        "tsgan",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--set",
        "generator_widths=8,8",
        "--set",
        "min_steps=0",
    ]
    result = invoke("fit", long_csv, *tiny, "--sequence-id", "stay", "--time", "hour", "-o", tmp_path / "m.smg")
    assert result.exit_code == 0, result.output
    assert "12 sequences x 10 steps x 2 channels" in result.stdout
    result = invoke("sample", tmp_path / "m.smg", "-n", "3", "-o", tmp_path / "out.csv", "--seed", "0")
    assert result.exit_code == 0, result.output
    synthetic = pd.read_csv(tmp_path / "out.csv")
    assert list(synthetic.columns) == ["sequence", "step", "hr", "spo2"]
    assert len(synthetic) == 3 * 10 and synthetic["sequence"].nunique() == 3
    recording = tmp_path / "recording.csv"
    pd.DataFrame(values.reshape(-1, 2), columns=["hr", "spo2"]).to_csv(recording, index=False)
    result = invoke("fit", recording, *tiny, "--window", "8", "-o", tmp_path / "w.smg")
    assert result.exit_code == 0, result.output
    assert "15 sequences x 8 steps" in result.stdout
    assert_user_error(invoke("fit", recording, *tiny, "-o", tmp_path / "x.smg"), "--window")
    refused = invoke("fit", recording, "--model", "medgan", "--window", "8", "-o", tmp_path / "x.smg")
    assert_user_error(refused, "medgan does not model", "use --model tsgan")


# ----------------------------------------------------------------------------------------------------
# training monitor, conditional sampling


@pytest.fixture(scope="module")
def monitored_vae(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """A VAE (its decoding draws values, so every category shows up) fitted with the monitor and keep-best."""
    folder = tmp_path_factory.mktemp("monitored")
    model = folder / "vae.smg"
    options = ["--model", "vae", "--epochs", "3", "--batch-size", "16", "--seed", "2", "--monitor-every", "2"]
    result = invoke("fit", write_mixed_csv(folder / "mixed.csv"), "-o", model, *options, "--keep-best")
    assert result.exit_code == 0, (result.output, result.exception)
    return model, result


def test_fit_monitor_shows_its_figures_and_keeps_the_best_epoch(monitored_vae: tuple[Path, Result]) -> None:
    model, result = monitored_vae
    assert "fidelity" in result.stdout and "corr diff" in result.stdout  # on the progress bar
    loaded = synthmed.load(model)
    curve = loaded.history_["monitor"]
    assert [record["epoch"] for record in curve] == [2, 3]  # every 2 epochs and the last
    assert loaded.monitor_["kept_epoch"] == max(curve, key=lambda record: record["score"])["epoch"]


def test_keep_best_without_the_monitor_is_a_user_error(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke("fit", fitted.csv, "-o", tmp_path / "m.smg", *TINY, "--keep-best")
    assert_user_error(result, "keep_best needs the training monitor", "--monitor-every")
    assert not (tmp_path / "m.smg").exists()


def test_sample_with_conditions_and_proportions(monitored_vae: tuple[Path, Result], tmp_path: Path) -> None:
    model, _ = monitored_vae
    output = tmp_path / "women.csv"
    result = invoke("sample", model, "-n", "30", "-o", output, "--condition", "sex=F", "--condition", "stage=II")
    assert result.exit_code == 0, result.output
    women = pd.read_csv(output)
    assert len(women) == 30 and (women["sex"] == "F").all() and (women["stage"] == "II").all()
    mix = tmp_path / "mix.csv"
    result = invoke("sample", model, "-n", "30", "-o", mix, "--seed", "0", "--proportions", "sex=F:0.25,M:0.75")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(mix)["sex"].value_counts().to_dict() == {"M": 22, "F": 8}  # 7.5 and 22.5: the tie to F
    again = tmp_path / "again.csv"
    invoke("sample", model, "-n", "30", "-o", again, "--seed", "0", "--proportions", "sex=F:0.25,M:0.75")
    assert again.read_bytes() == mix.read_bytes()


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--proportions", "sex=F:0.5,M:0.4"], ["Column 'sex'", "sum to 0.9", "add up to 1"]),
        (["--proportions", "sex=F0.5"], ["VALUE:SHARE", "'F0.5'"]),
        (["--condition", "age=50"], ["Column 'age'", "only binary and categorical", "'sex'"]),
        (["--condition", "sex=X"], ["Column 'sex'", "'X'", "use one of: 'F', 'M'"]),
        (["--condition", "sex"], ["COLUMN=VALUE", "'sex'"]),
        (["--condition", "sex=F", "--condition", "sex=M"], ["Column 'sex'", "two conditions"]),
    ],
)
def test_bad_conditions_are_user_errors(
    monitored_vae: tuple[Path, Result], tmp_path: Path, options: list[str], fragments: list[str]
) -> None:
    model, _ = monitored_vae
    result = invoke("sample", model, "-n", "10", "-o", tmp_path / "s.csv", *options)
    assert_user_error(result, *fragments)
    assert not (tmp_path / "s.csv").exists()


def test_evaluate_plots_the_generators_monitor_curve(
    monitored_vae: tuple[Path, Result], fitted: Fitted, tmp_path: Path
) -> None:
    model, _ = monitored_vae
    synthetic = tmp_path / "synthetic.csv"
    assert invoke("sample", model, "-n", "60", "-o", synthetic, "-q").exit_code == 0
    holdout = tmp_path / "holdout.csv"
    mixed_table(seed=1).to_csv(holdout, index=False)
    tables = ["--train", fitted.csv, "--holdout", holdout, "--synthetic", synthetic]
    result = invoke("evaluate", *tables, "--generator", model, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    section = page[page.index('<section id="training-monitor">') :]
    assert section.index('<img src="data:image/png;base64,') < section.index("</section>")
    document = yaml.safe_load((tmp_path / "m.json").read_text())
    assert [r["epoch"] for r in document["training_monitor"]["curve"]] == [2, 3]


def test_a_generator_without_a_monitor_curve_gets_a_note(fitted: Fitted) -> None:
    with pytest.warns(SynthmedWarning, match=r"no training monitor curve \(fit it with --monitor-every K"):
        assert training_monitor(fitted.model) is None


def test_fit_with_differential_privacy_reports_the_spent_budget(tmp_path: Path) -> None:
    data = tmp_path / "patients.csv"
    mixed_table().drop(columns="id").to_csv(data, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "columns:\n"
        "  age: {kind: continuous, min: 0, max: 110, missing: true}\n"
        "  visits: {kind: count, min: 0, max: 50}\n"
        "  sex: {kind: categorical, categories: [F, M]}\n"
        "  stage: {kind: categorical, categories: [I, II, III, IV]}\n"
    )
    tiny = ["--model", "vae", "--epochs", "2", "--set", "hidden_dims=8", "--set", "latent_dim=2"]
    result = invoke("fit", data, *tiny, "--schema", schema, "--dp-epsilon", "2", "-o", tmp_path / "dp.smg")
    assert result.exit_code == 0, result.output
    assert "differential privacy: epsilon" in result.stdout and "spent of 2," in result.stdout
    assert synthmed.load(tmp_path / "dp.smg").privacy_["epsilon"] <= 2.0
    unschematised = invoke("fit", data, *tiny, "--dp-epsilon", "2", "-o", tmp_path / "x.smg")
    assert_user_error(unschematised, "public metadata", "--schema")
    assert_user_error(invoke("fit", data, "--dp-delta", "1e-5", "-o", tmp_path / "x.smg"), "--dp-epsilon")
    refused = invoke("fit", data, "--model", "tsgan", "--dp-epsilon", "1", "-o", tmp_path / "x.smg")
    assert_user_error(refused, "not available for tsgan", "medgan, vae, corgan, wgangp, tabgan")


def test_release_writes_data_only_when_privacy_passes(tmp_path: Path) -> None:
    from tests.workflows.test_release import patients

    paths = {}
    for name, seed in (("train", 0), ("holdout", 1), ("fresh", 2)):
        paths[name] = tmp_path / f"{name}.csv"
        patients(seed).to_csv(paths[name], index=False)
    real = ["--train", paths["train"], "--holdout", paths["holdout"]]
    result = invoke("release", "--synthetic", paths["fresh"], *real, "-o", tmp_path / "ok")
    assert result.exit_code == 0, result.output
    assert "released to" in result.stdout and (tmp_path / "ok" / "MODEL_CARD.md").exists()
    copies = tmp_path / "copies.csv"
    patients(0).to_csv(copies, index=False)
    refused = invoke("release", "--synthetic", copies, *real, "-o", tmp_path / "no")
    assert refused.exit_code == EXIT_RELEASE_REFUSED and "release refused: privacy verdict FAIL" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "no").iterdir()) == ["evaluation.json", "report.html"]
    assert_user_error(invoke("release", *real, "-o", tmp_path / "x"), "--synthetic")
    alone = invoke("release", "--synthetic", paths["fresh"], *real, "--k-anonymity", "5", "-o", tmp_path / "x")
    assert_user_error(alone, "--quasi-identifiers")
    anonymous = [*real, "--k-anonymity", "5", "--quasi-identifiers", "sex,smoker", "-o", tmp_path / "k"]
    assert invoke("release", "--synthetic", paths["fresh"], *anonymous).exit_code == 0
    assert json.loads((tmp_path / "k" / "model_card.json").read_text())["k_anonymity"]["k"] == 5


def test_audit_plants_canaries_and_reports_exposure_and_the_empirical_epsilon(tmp_path: Path) -> None:
    data = tmp_path / "patients.csv"
    mixed_table().drop(columns="id").to_csv(data, index=False)
    tiny = ["--model", "vae", "--set", "epochs=2", "--set", "hidden_dims=8", "--set", "latent_dim=2", "-q"]
    sizes = ["--once", "8", "--repeated", "1", "--reference", "20"]
    result = invoke("audit", data, *tiny, *sizes, "-o", tmp_path / "audit.json")
    assert result.exit_code == 0, result.output
    assert "16x" in result.stdout and "empirical epsilon >=" in result.stdout
    assert "trained without differential privacy" in result.stdout
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert [group["repetitions"] for group in saved["groups"]] == [0, 1, 2, 4, 8, 16]
    assert saved["inserted_rows"] == 8 + 2 + 4 + 8 + 16 and saved["accounted_epsilon"] is None
    refused = invoke("audit", data, *tiny, "--reference", "3")
    assert refused.exit_code == 2 and "at least 10 never inserted" in refused.stderr


def test_convert_reads_a_compressed_fixed_width_file_through_a_layout(tmp_path: Path) -> None:
    from tests.data.test_fixed_width import write

    data, layout = write(tmp_path, ["1012809-12.5", "102     0.25"])
    result = invoke("convert", data, "--layout", layout, "-o", tmp_path / "records.parquet")
    assert result.exit_code == 0, result.output
    assert "2 records x 4 fields" in result.stdout
    table = pd.read_parquet(tmp_path / "records.parquet")
    assert table["sex"].tolist() == [1, 2] and table["diagnosis"].tolist()[0] == "2809-"
    (tmp_path / "bad.yaml").write_text("fields:\n  - {name: a, start: 0, width: 2}\n")
    refused = invoke("convert", data, "--layout", tmp_path / "bad.yaml", "-o", tmp_path / "x.parquet")
    assert refused.exit_code == 2 and "1-based" in refused.stderr


def test_ehr_matrix_makes_code_group_indicators_from_wide_and_event_tables(tmp_path: Path) -> None:
    groups = tmp_path / "groups.yaml"
    groups.write_text('groups:\n  opioid_use: ["3040", "3055"]\n  hepatitis: ["070", "V053"]\n')
    wide = tmp_path / "wide.parquet"
    pd.DataFrame({"dx_1": ["3055-", "V0530"], "dx_2": [None, "0700-"], "age": [70, 3]}).to_parquet(wide)
    result = invoke("ehr-matrix", wide, "--groups", groups, "--code-columns", "dx_*", "-o", tmp_path / "w.csv")
    assert result.exit_code == 0, result.output
    assert "2 records x 2 variables" in result.stdout
    assert pd.read_csv(tmp_path / "w.csv").to_dict("list") == {
        "record": [0, 1],
        "opioid_use": [1, 0],
        "hepatitis": [0, 1],
    }
    flagged = tmp_path / "flagged.yaml"
    flagged.write_text(groups.read_text() + 'flags:\n  child: "age < 18"\n')
    result = invoke("ehr-matrix", wide, "--groups", flagged, "--code-columns", "dx_*", "-o", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "f.csv").to_dict("list") == {
        "record": [0, 1],
        "child": [0, 1],  # flags first, from the wide table's own fields
        "opioid_use": [1, 0],
        "hepatitis": [0, 1],
    }
    events = tmp_path / "events.csv"
    events.write_text("subject_id,icd9_code,age\n1,30400,70\n1,0701,70\n2,4019,9\n")
    result = invoke("ehr-matrix", events, "--groups", flagged, "-o", tmp_path / "e.csv")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "e.csv")[["child", "opioid_use", "hepatitis"]].to_numpy().tolist() == [
        [0, 1, 1],
        [1, 0, 0],
    ]  # the CSV is read as text; the flag still compares ages as numbers
    codes = invoke("ehr-matrix", wide, "--code-columns", "dx_*", "--granularity", "full", "-o", tmp_path / "c.csv")
    assert codes.exit_code == 0, codes.output
    assert "2 records x 3 codes" in codes.stdout  # without --groups, one column per code
    assert list(pd.read_csv(tmp_path / "c.csv").columns) == ["record", "070.0", "305.5", "V05.30"]


def test_fit_chooses_a_model_by_default_and_presets_are_listed(fitted: Fitted, tmp_path: Path) -> None:
    options = ["--epochs", "2", "--batch-size", "20", "--set", "generator_dims=16", "--set", "critic_dims=16"]
    result = invoke("fit", fitted.csv, "-o", tmp_path / "auto.smg", *options, "--seed", "0")
    assert result.exit_code == 0, result.output
    assert "model tabgan, auto: a mixed table (1 binary, 1 categorical, 1 continuous, 1 count)" in result.stdout
    listed = invoke("presets")
    assert listed.exit_code == 0 and listed.stdout.splitlines()[0].startswith("medgan-extended\tmedgan\t")
    refused = invoke("fit", fitted.csv, "-o", tmp_path / "x.smg", "--model", "vae", "--preset", "medgan-extended")
    assert_user_error(refused, "preset 'medgan-extended' is for medgan, not vae")


def test_audit_takes_the_training_options_of_fit(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke(
        "audit", fitted.csv, "--model", "vae", "--epochs", "1", "--batch-size", "16", "--threads", "1",
        "--once", "4", "--repeated", "1", "--reference", "20", "-q",
    )  # fmt: skip
    assert result.exit_code in (0, 4), result.output
    assert "vae trained on 60 rows" in result.stdout


def test_release_from_a_raw_table_in_one_command(fitted: Fitted, tmp_path: Path) -> None:
    options = ["--epochs", "2", "--batch-size", "20", "--set", "generator_dims=16", "--set", "critic_dims=16"]
    result = invoke("release", fitted.csv, "-o", tmp_path / "rel", "--target", "sex", *options, "-q")
    assert result.exit_code in (0, EXIT_RELEASE_REFUSED), result.output
    assert (tmp_path / "rel" / "report.html").exists()
    assert "model tabgan, auto" not in result.stderr  # --quiet: no stages
    mixed = invoke("release", fitted.csv, "-o", tmp_path / "x", "--train", fitted.csv)
    assert_user_error(mixed, "split into training and holdout rows by release itself")
    alone = invoke("release", fitted.model, "-o", tmp_path / "y")
    assert_user_error(alone, "needs the real --train and --holdout")
    odd = invoke("release", fitted.csv, "-o", tmp_path / "z", "--shadow-models", "3")
    assert_user_error(odd, "even number of generators", "--shadow-models 8")
    assert not (tmp_path / "z").exists()


def test_release_from_a_raw_table_trains_privately_when_asked(fitted: Fitted, tmp_path: Path) -> None:
    refused = invoke("release", fitted.csv, "-o", tmp_path / "rel", "--model", "vae", "--dp-epsilon", "1", "-q")
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "error: with differential privacy every column's domain must come from public metadata" in refused.stderr
    assert not (tmp_path / "rel").exists()
