"""The command line on patient histories: `synthmed fit --patient-column ... --codes ...` trains visitgpt on long
events, `synthmed sample` writes synthetic histories in the events' layout, and wrong options or ambiguous
histories exit with status 2 before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthmed
from tests.conftest import shared_file
from tests.test_cli import Fitted, assert_user_error, invoke

# Tiny training: each fit takes a second or two.
TINY = ["--epochs", "2", "--set", "width=32", "--set", "layers=1", "--set", "heads=2", "--seed", "0"]
ROLES = ["--patient-column", "patient", "--visit-column", "encounter", "--time", "day", "--codes", "diag_1,diag_2"]
HISTORY = [*ROLES, "--exclude", "row_id"]
CODES = ["250.01", "401", "0389", "V45"]
N_PATIENTS = 30


def events(seed: int = 0, patients: int = N_PATIENTS) -> pd.DataFrame:
    """Diabetes 130-US's layout: one row per encounter with two diagnosis columns (a code with a leading zero, a
    missing second diagnosis), a patient attribute, an encounter attribute and a row number."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        sex = rng.choice(["F", "M"])
        for number, day in enumerate(sorted(rng.choice(600, size=rng.integers(1, 4), replace=False))):
            rows.append(
                {
                    "row_id": len(rows),
                    "patient": 100 + patient,
                    "encounter": 1000 + 10 * patient + number,
                    "day": str((pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(day))).date()),
                    "diag_1": rng.choice(CODES),
                    "diag_2": rng.choice(["428", "401", None]),
                    "sex": sex,
                    "ward": rng.choice(["a", "b", "c"]),
                }
            )
    return pd.DataFrame(rows)


def write_events(path: Path, table: pd.DataFrame | None = None) -> Path:
    (events() if table is None else table).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """The events fitted once by `--model auto`, which history options make visitgpt."""
    folder = tmp_path_factory.mktemp("histories")
    csv, model = write_events(folder / "events.csv"), folder / "model.smg"
    result = invoke("fit", csv, "--model", "auto", *TINY, *HISTORY, "-o", model)
    assert result.exit_code == 0, (result.output, result.exception)
    return Fitted(csv, model, result)


def read_codes_as_text(path: Path, codes: list[str]) -> pd.DataFrame:
    return pd.read_csv(path, dtype=dict.fromkeys(codes, str))


# ---- fit and sample --------------------------------------------------------------------------------------------
def test_history_options_make_auto_choose_visitgpt_and_fit_saves_it(fitted: Fitted) -> None:
    assert fitted.model.exists() and synthmed.load(fitted.model).name == "visitgpt"
    assert "model visitgpt, auto: patient histories" in fitted.result.stdout
    assert f"visitgpt trained on {N_PATIENTS} patients' histories" in fitted.result.stdout


def test_sample_writes_histories_in_the_events_layout(fitted: Fitted, tmp_path: Path) -> None:
    output = tmp_path / "synthetic.csv"
    result = invoke("sample", fitted.model, "-n", "12", "-o", output, "--seed", "0")
    assert result.exit_code == 0, (result.output, result.exception)
    synthetic = read_codes_as_text(output, ["diag_1", "diag_2"])
    real = read_codes_as_text(fitted.csv, ["diag_1", "diag_2"])
    assert synthetic.columns.tolist() == [c for c in real.columns if c != "row_id"]
    assert sorted(synthetic["patient"].unique()) == list(range(1, 13))
    assert synthetic["encounter"].tolist() == list(range(1, len(synthetic) + 1))  # one row per encounter
    for column in ("diag_1", "diag_2"):
        assert set(synthetic[column].dropna()) <= set(real[column].dropna()), column
    assert (synthetic.groupby("patient")["sex"].nunique() == 1).all()  # a patient attribute stays one per patient
    assert f"wrote {len(synthetic)} synthetic rows" in result.stdout


def test_same_seed_gives_the_same_histories(fitted: Fitted, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for output in (first, second):
        assert invoke("sample", fitted.model, "-n", "5", "-o", output, "--seed", "3", "-q").exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_evaluate_judges_histories_patient_by_patient(fitted: Fitted, tmp_path: Path) -> None:
    synthetic, holdout, report = tmp_path / "synthetic.csv", tmp_path / "holdout.csv", tmp_path / "evaluation.json"
    assert invoke("sample", fitted.model, "-n", str(N_PATIENTS), "-o", synthetic, "-q").exit_code == 0
    write_events(holdout, events(seed=1))
    roles = ["--patient-column", "patient", "--visit-column", "encounter", "--time", "day", "--codes", "diag_1,diag_2"]
    result = invoke(
        "evaluate",
        "--train",
        fitted.csv,
        "--holdout",
        holdout,
        "--synthetic",
        synthetic,
        *roles,
        "--target",
        "ward",
        "--json",
        report,
    )
    assert result.exit_code == 0, (result.output, result.exception)
    document = json.loads(report.read_text())
    assert document["about"]["data"] == "histories"
    assert document["about"]["rows"] == {"train": N_PATIENTS, "holdout": N_PATIENTS, "synthetic": N_PATIENTS}
    names = [check["name"] for check in document["fidelity"]["checks"]]
    assert names[:3] == ["code probabilities", "within-visit co-occurrence", "consecutive-visit codes"]
    assert "patient detection" in names
    assert document["fidelity"]["holdout_histories"]["codes_per_visit_mean"] > 0
    assert document["utility"]["checks"][0]["name"] == "TSTR / TRTR"
    assert any(check["name"].startswith("distance") for check in document["privacy"]["checks"])


def test_evaluate_needs_the_codes_with_the_patient_column(fitted: Fitted, tmp_path: Path) -> None:
    result = invoke(
        "evaluate",
        "--train",
        fitted.csv,
        "--holdout",
        fitted.csv,
        "--synthetic",
        fitted.csv,
        "--patient-column",
        "patient",
        "--json",
        tmp_path / "e.json",
    )
    assert_user_error(result, "--patient-column and --codes")


def test_one_row_per_code_with_a_visits_table(tmp_path: Path) -> None:
    table = events()
    visits = table[["encounter", "patient", "day", "ward"]]
    codes = table.melt(id_vars=["encounter"], value_vars=["diag_1", "diag_2"], value_name="code").dropna()
    csv, visits_csv = tmp_path / "codes.csv", tmp_path / "visits.csv"
    codes[["encounter", "code"]].to_csv(csv, index=False)
    visits.to_csv(visits_csv, index=False)
    roles = ["--patient-column", "patient", "--visit-column", "encounter", "--time", "day", "--codes", "code"]
    model = tmp_path / "m.smg"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *roles, "--visits", visits_csv, "-o", model, "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    output = tmp_path / "out.csv"
    assert invoke("sample", model, "-n", "4", "-o", output, "-q").exit_code == 0
    synthetic = read_codes_as_text(output, ["code"])
    assert synthetic.columns.tolist() == ["encounter", "code", "patient", "day", "ward"]
    assert set(synthetic["code"].dropna()) <= set(codes["code"])


def test_events_and_visits_read_from_a_database(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    table = events()
    codes = table.melt(id_vars=["encounter"], value_vars=["diag_1", "diag_2"], value_name="code").dropna()
    visits = table[["encounter", "patient", "day", "ward"]]
    path = tmp_path / "hospital.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("code_rows", codes[["encounter", "code"]])
        connection.register("visit_rows", visits)
        connection.execute("CREATE TABLE codes AS SELECT * FROM code_rows")
        connection.execute("CREATE TABLE visits AS SELECT * FROM visit_rows")
    roles = ["--patient-column", "patient", "--visit-column", "encounter", "--time", "day", "--codes", "code"]
    source = ["--db", f"duckdb:///{path}", "--table", "codes", "--visits", "visits"]
    model = tmp_path / "m.smg"
    result = invoke("fit", *source, "--model", "visitgpt", *TINY, *roles, "-o", model, "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    synthetic = synthmed.load(model).sample(3, seed=0)
    assert synthetic.columns.tolist() == ["encounter", "code", "patient", "day", "ward"]


# ---- refused before training -----------------------------------------------------------------------------------
def test_history_options_for_a_model_of_tables_are_refused(tmp_path: Path) -> None:
    csv, model = write_events(tmp_path / "events.csv"), tmp_path / "m.smg"
    result = invoke("fit", csv, "--model", "medgan", *HISTORY, "-o", model)
    assert_user_error(result, "describe patient histories, which medgan does not model", "--model visitgpt")
    assert not model.exists()
    assert_user_error(invoke("fit", csv, "--model", "tsgan", "--patients", csv, "-o", model), "tsgan does not model")


@pytest.mark.parametrize(
    ("left_out", "named"),
    [(["--patient-column", "patient"], "--patient-column"), (["--codes", "diag_1,diag_2"], "--codes")],
)
def test_visitgpt_needs_the_patient_and_the_codes(tmp_path: Path, left_out: list[str], named: str) -> None:
    csv, model = write_events(tmp_path / "events.csv"), tmp_path / "m.smg"
    options = " ".join(ROLES).replace(" ".join(left_out), "").split()
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *options, "-o", model)
    assert_user_error(result, "visitgpt learns patient histories", named)
    assert not model.exists()


def test_visitgpt_without_any_option_names_them(tmp_path: Path) -> None:
    csv = write_events(tmp_path / "events.csv")
    result = invoke("fit", csv, "--model", "visitgpt", "--time", "day", "-o", tmp_path / "m.smg")
    assert_user_error(result, "--patient-column", "--codes")


def test_visitgpt_needs_a_visit_id_or_a_time(tmp_path: Path) -> None:
    csv = write_events(tmp_path / "events.csv")
    options = ["--patient-column", "patient", "--codes", "diag_1"]
    assert_user_error(invoke("fit", csv, "--model", "visitgpt", *options, "-o", tmp_path / "m.smg"), "--visit-column")


def test_sequence_options_for_visitgpt_are_refused(tmp_path: Path) -> None:
    csv = write_events(tmp_path / "events.csv")
    result = invoke("fit", csv, "--model", "visitgpt", *HISTORY, "--sequence-id", "patient", "-o", tmp_path / "m.smg")
    assert_user_error(result, "visitgpt does not model", "not --sequence-id")


def test_duplicated_times_are_refused_by_row(tmp_path: Path) -> None:
    table = events()
    second = table.index[table["patient"].duplicated()][0]  # a patient's second encounter, on its first's day
    table.loc[second, "day"] = table.loc[second - 1, "day"]
    csv, model = write_events(tmp_path / "events.csv", table), tmp_path / "m.smg"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "-o", model)
    assert_user_error(result, "Column 'day'", "duplicated times", f"'row {second}'", f"'row {second + 1}'")
    assert not model.exists()


def test_a_visit_without_a_patient_is_refused_by_row(tmp_path: Path) -> None:
    table = events()
    table.loc[6, "patient"] = None
    csv = write_events(tmp_path / "events.csv", table)
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "-o", tmp_path / "m.smg")
    assert_user_error(result, "Column 'patient'", "the patient id is missing", "'row 7'")


def test_a_visit_attribute_changing_within_a_visit_names_exclude(tmp_path: Path) -> None:
    table = events()
    codes = table.melt(id_vars=["encounter"], value_vars=["diag_1", "diag_2"], value_name="code").dropna()
    codes = codes.sort_values("encounter", kind="stable", ignore_index=True)
    codes["seq_num"] = codes.groupby("encounter").cumcount() + 1  # MIMIC's position of a code in its visit
    csv, visits_csv = tmp_path / "codes.csv", tmp_path / "visits.csv"
    codes[["encounter", "seq_num", "code"]].to_csv(csv, index=False)
    table[["encounter", "patient", "day"]].to_csv(visits_csv, index=False)
    roles = ["--patient-column", "patient", "--visit-column", "encounter", "--time", "day", "--codes", "code"]
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *roles, "--visits", visits_csv, "-o", tmp_path / "m.smg")
    first = int(np.flatnonzero(codes["seq_num"] == 2)[0])
    assert_user_error(result, "Column 'seq_num'", "--exclude seq_num", "of the events table", f"'row {first}'")


def test_events_of_a_visit_missing_from_the_visits_table_are_refused_by_row(tmp_path: Path) -> None:
    table = events()
    csv, visits_csv = tmp_path / "events.csv", tmp_path / "visits.csv"
    table[["encounter", "diag_1"]].to_csv(csv, index=False)
    table[["encounter", "patient", "day"]].drop(index=4).to_csv(visits_csv, index=False)
    options = ["--patient-column", "patient", "--visit-column", "encounter", "--codes", "diag_1", "--visits"]
    result = invoke("fit", csv, "--model", "visitgpt", *options, visits_csv, "-o", tmp_path / "m.smg")
    assert_user_error(result, "events of a visit the visits table does not list", "'row 5'")


# ---- end to end on MIMIC-III's demo ----------------------------------------------------------------------------
@pytest.mark.e2e
def test_mimic3_demo_diagnoses_with_admissions_and_patients(tmp_path: Path) -> None:
    diagnoses = shared_file("mimic3-demo", "DIAGNOSES_ICD.csv")
    admissions = shared_file("mimic3-demo", "ADMISSIONS.csv")
    patients = shared_file("mimic3-demo", "PATIENTS.csv")
    model, output = tmp_path / "mimic.smg", tmp_path / "synthetic.csv"
    options = [
        *["--patient-column", "subject_id", "--visit-column", "hadm_id", "--time", "admittime"],
        *["--codes", "icd9_code", "--visits", admissions, "--patients", patients, "--exclude", "row_id,seq_num"],
    ]
    result = invoke("fit", diagnoses, "--model", "visitgpt", *TINY, *options, "-o", model)
    assert result.exit_code == 0, (result.output, result.exception)
    result = invoke("sample", model, "-n", "20", "-o", output, "--seed", "0")
    assert result.exit_code == 0, (result.output, result.exception)
    synthetic = read_codes_as_text(output, ["icd9_code"])
    tables = [pd.read_csv(path, nrows=0) for path in (diagnoses, admissions, patients)]
    given = [c for c in dict.fromkeys(c for t in tables for c in t.columns) if c not in ("row_id", "seq_num")]
    modelled = {"subject_id", "hadm_id", "admittime", "icd9_code"} | set(synthmed.load(model).schema_.names)
    assert synthetic.columns.tolist() == [c for c in given if c in modelled]
    assert {"gender", "dob", "admission_type", "ethnicity"} <= set(synthetic.columns)  # from all three tables
    assert synthetic["subject_id"].nunique() == 20
    real = read_codes_as_text(diagnoses, ["icd9_code"])
    held = real.groupby("icd9_code")["subject_id"].nunique()
    sampled = set(synthetic["icd9_code"].dropna())
    assert sampled and sampled <= set(held.index[held >= 5]) | {"(other)"}, sorted(sampled)[:5]


def test_code_groups_replace_codes_by_the_groups_they_fall_in(tmp_path: Path) -> None:
    groups, csv = tmp_path / "groups.yaml", write_events(tmp_path / "events.csv")
    groups.write_text("groups:\n  diabetes: ['250']\n  hypertension: ['401']\n  heart_failure: ['428']\n")
    model, output = tmp_path / "grouped.smg", tmp_path / "synthetic.csv"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "--groups", groups, "-o", model)
    assert result.exit_code == 0, (result.output, result.exception)
    assert {code for _, code in synthmed.load(model).transformer_.vocabulary_} <= {
        "diabetes",
        "hypertension",
        "heart_failure",
        "(other)",
    }
    assert invoke("sample", model, "-n", "20", "-o", output, "--seed", "0", "-q").exit_code == 0
    synthetic = read_codes_as_text(output, ["diag_1", "diag_2"])
    assert set(synthetic["diag_1"].dropna()) <= {"diabetes", "hypertension", "(other)"}  # 0389, V45: no group
    for_tables = invoke("fit", csv, "--model", "tabgan", "--groups", groups, "-o", tmp_path / "t.smg")
    assert_user_error(for_tables, "--groups", "visitgpt")


def test_rare_codes_ship_only_when_declared_public(tmp_path: Path) -> None:
    table = events()
    table.loc[0, "diag_1"] = "SINGULAR"
    csv = write_events(tmp_path / "events.csv", table)
    merged, kept = tmp_path / "merged.smg", tmp_path / "kept.smg"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "-o", merged)
    assert result.exit_code == 0, (result.output, result.exception)
    assert ("diag_1", "SINGULAR") not in synthmed.load(merged).transformer_.vocabulary_
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "--rare-values", "keep", "-o", kept)
    assert result.exit_code == 0, (result.output, result.exception)
    assert ("diag_1", "SINGULAR") in synthmed.load(kept).transformer_.vocabulary_
    strict = tmp_path / "strict.smg"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "--min-patients", "11", "-o", strict)
    assert result.exit_code == 0, (result.output, result.exception)
    assert synthmed.load(strict).transformer_.rare_ == {"policy": "merge", "min_patients": 11}
    wrong = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "--rare-values", "hide", "-o", tmp_path / "w")
    assert_user_error(wrong, "rare values", "merge, suppress, keep")
    for_tables = invoke("fit", csv, "--model", "tabgan", "--rare-values", "keep", "-o", tmp_path / "t.smg")
    assert_user_error(for_tables, "--rare-values", "visitgpt")


def test_the_canary_audit_plants_patients_in_the_histories(tmp_path: Path) -> None:
    table = events(patients=120)  # with 30 codes per column: enough combinations for 28 canaries
    rng = np.random.default_rng(0)
    table["diag_1"] = [f"A{i}" for i in rng.integers(30, size=len(table))]
    table["diag_2"] = [f"B{i}" for i in rng.integers(30, size=len(table))]
    csv, output = write_events(tmp_path / "events.csv", table), tmp_path / "audit.json"
    counts = ["--once", "4", "--repeated", "1", "--reference", "20"]
    result = invoke("audit", csv, *TINY, *HISTORY, *counts, "-o", output)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "visitgpt trained on 120 patients + 34 canary patients" in result.output
    document = json.loads(output.read_text())
    assert document["unit"] == "patients" and document["accounted_epsilon"] is None
    assert [group["repetitions"] for group in document["groups"]] == [0, 1, 2, 4, 8, 16]
    private = tmp_path / "private.json"
    result = invoke("audit", csv, *TINY, *HISTORY, *counts, "--dp-epsilon", "3", "-o", private)
    assert result.exit_code == 0, (result.output, result.exception)  # 4 would mean a leak beyond the accounting
    document = json.loads(private.read_text())
    assert 2.9 < document["accounted_epsilon"] <= 3 and document["consistent"]
    assert "accounted epsilon" in result.output


def test_audit_options_of_histories_need_the_patient_and_the_codes(fitted: Fitted) -> None:
    # without history options visitgpt reads a table as records of codes, and these events hold none (the audit's
    # notes on the table come first)
    records = invoke("audit", fitted.csv, "--model", "visitgpt")
    assert records.exit_code == 2 and "error: a table read as records of codes needs 0/1 code columns" in records.stderr
    assert "--patient-column" in records.stderr
    alone = invoke("audit", fitted.csv, "--rare-values", "keep")
    assert_user_error(alone, "describe patient histories", "--patient-column")


def test_release_of_too_few_histories_is_inconclusive_without_the_shadow_game(fitted: Fitted, tmp_path: Path) -> None:
    holdout, folder = write_events(tmp_path / "holdout.csv", events(seed=1)), tmp_path / "release"
    options = ["--train", fitted.csv, "--holdout", holdout, "-o", folder]
    result = invoke("release", fitted.model, *options, "--shadow-models", "0")
    assert result.exit_code == 3, (result.output, result.exception)  # 30 patients cannot decide membership
    assert "release refused: privacy verdict INCONCLUSIVE" in result.output
    document = json.loads((folder / "evaluation.json").read_text())
    assert document["about"]["data"] == "histories" and document["about"]["rows"]["synthetic"] == N_PATIENTS
    assert "rare values" in [check["name"] for check in document["privacy"]["checks"]]
    assert (folder / "report.html").exists() and not (folder / "synthetic.csv").exists()


def test_the_shadow_game_settles_a_small_holdout_patient_by_patient(fitted: Fitted, tmp_path: Path) -> None:
    holdout, folder = write_events(tmp_path / "holdout.csv", events(seed=1)), tmp_path / "release"
    options = ["--train", fitted.csv, "--holdout", holdout, "-o", folder, "--shadow-models", "4"]
    result = invoke("release", fitted.model, *options)
    assert "training 4 shadow models" in result.output
    document = json.loads((folder / "evaluation.json").read_text())
    game = document["privacy"]["shadow_membership"]
    assert game["models"] == 4 and game["records"] == 2 * N_PATIENTS  # every train and holdout patient, once
    names = [check["name"] for check in document["privacy"]["checks"]]
    assert any(name.startswith("shadow") for name in names), names
    assert result.exit_code in (0, 3) and ("privacy PASS" in result.output) == (result.exit_code == 0)


def test_release_writes_histories_and_a_card_when_privacy_passes(tmp_path: Path) -> None:
    """300 patients (enough holdout patients to score an attack at 1% false positives) under a policy loose enough
    for what so few show."""
    train = write_events(tmp_path / "train.csv", events(seed=0, patients=300))
    holdout = write_events(tmp_path / "holdout.csv", events(seed=1, patients=300))
    policy, model, folder = tmp_path / "policy.yaml", tmp_path / "model.smg", tmp_path / "release"
    policy.write_text("privacy: {membership_auc_upper: 0.9, membership_tpr_at_1pct_fpr: 0.5, unique_exact_match: 1}\n")
    assert invoke("fit", train, "--model", "visitgpt", *TINY, *HISTORY, "-o", model, "-q").exit_code == 0
    result = invoke("release", model, "--train", train, "--holdout", holdout, "--policy", policy, "-o", folder)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "privacy PASS" in result.output
    released = read_codes_as_text(folder / "synthetic.csv", ["diag_1", "diag_2"])
    assert released.columns.tolist() == [c for c in events().columns if c != "row_id"]
    assert released["patient"].nunique() == 300
    card = json.loads((folder / "model_card.json").read_text())
    assert card["generator"]["model"] == "visitgpt" and card["rare_values"]["policy"] == "merge"
    assert "Values held by fewer than 5 patients: `merge`" in (folder / "MODEL_CARD.md").read_text()


def test_a_history_generator_listing_rare_values_is_not_released_with_it(tmp_path: Path) -> None:
    table = events()
    table.loc[0, "diag_1"] = "SINGULAR"
    csv, model = write_events(tmp_path / "events.csv", table), tmp_path / "kept.smg"
    result = invoke("fit", csv, "--model", "visitgpt", *TINY, *HISTORY, "--rare-values", "keep", "-o", model)
    assert result.exit_code == 0, (result.output, result.exception)
    holdout, folder = write_events(tmp_path / "holdout.csv", events(seed=1)), tmp_path / "release"
    result = invoke("release", model, "--train", csv, "--holdout", holdout, "--include-generator", "-o", folder)
    assert result.exit_code == 3, (result.output, result.exception)  # refused
    checks = json.loads((folder / "evaluation.json").read_text())["privacy"]["checks"]
    generator = next(check for check in checks if check["name"] == "rare values in the generator")
    assert generator["verdict"] == "fail" and "diag_1" in generator["reason"]
    assert not (folder / "generator.smg").exists()
    refused = invoke(
        "release",
        model,
        "--train",
        csv,
        "--holdout",
        holdout,
        "--k-anonymity",
        "5",
        "--quasi-identifiers",
        "sex",
        "-o",
        tmp_path / "k",
    )
    assert_user_error(refused, "k-anonymity", "leave them out")


def test_sample_conditions_on_a_patient_attribute(fitted: Fitted, tmp_path: Path) -> None:
    output = tmp_path / "women.csv"
    result = invoke("sample", fitted.model, "-n", "10", "-o", output, "--condition", "sex=F", "-q")
    assert result.exit_code == 0, (result.output, result.exception)
    women = pd.read_csv(output)
    assert (women["sex"] == "F").all() and women["patient"].nunique() == 10
    wrong = invoke("sample", fitted.model, "-n", "10", "-o", tmp_path / "w.csv", "--condition", "ward=a")
    assert_user_error(wrong, "patient attributes", "sex")


# ---- records of codes as one-visit histories ------------------------------------------------------------------
def code_matrix(rows: int, seed: int) -> pd.DataFrame:
    """120 codes of a discharge matrix: four of them come together in a third of the records, the rest are rare."""
    rng = np.random.default_rng(seed)
    together = rng.random(rows) < 0.3
    columns = {f"d{j:03d}": (rng.random(rows) < 0.02 + 0.6 * together * (j < 4)).astype(int) for j in range(120)}
    return pd.DataFrame({"record": [f"R{seed}-{i:05d}" for i in range(rows)], **columns})


def test_auto_trains_visitgpt_on_a_code_matrix_and_releases_it_as_a_table(tmp_path: Path) -> None:
    train, holdout = tmp_path / "train.csv", tmp_path / "holdout.csv"
    code_matrix(300, 0).to_csv(train, index=False)
    code_matrix(300, 1).to_csv(holdout, index=False)
    model, sample, folder = tmp_path / "m.smg", tmp_path / "synthetic.csv", tmp_path / "release"
    fitted = invoke("fit", train, *TINY, "-o", model)
    assert fitted.exit_code == 0, (fitted.output, fitted.exception)
    assert "model visitgpt, auto: a code matrix (120 columns of 0/1)" in fitted.output
    assert "300 records x 120 columns as one-visit histories" in fitted.output
    assert invoke("sample", model, "-n", "80", "-o", sample).exit_code == 0
    written = pd.read_csv(sample)
    assert written.columns.tolist() == [f"d{j:03d}" for j in range(120)]  # the record id is an identifier: left out
    assert len(written) == 80 and set(np.unique(written.to_numpy())) <= {0, 1}
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "privacy: {membership_auc_upper: 0.9, membership_tpr_at_1pct_fpr: 0.5, unique_exact_match: 1, "
        "exact_copy_margin: 1}\n"
    )
    result = invoke("release", model, "--train", train, "--holdout", holdout, "--policy", policy, "-o", folder)
    document = json.loads((folder / "evaluation.json").read_text())
    assert "data" not in document["about"] and document["about"]["rows"]["synthetic"] == 300  # judged as a table
    assert result.exit_code == 0, (result.output, result.exception)
    assert pd.read_csv(folder / "synthetic.csv").columns.tolist() == written.columns.tolist()
    assert json.loads((folder / "model_card.json").read_text())["generator"]["model"] == "visitgpt"
