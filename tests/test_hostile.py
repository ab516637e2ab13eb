"""Hostile inputs through the command line: whatever a user feeds synthmed, it answers with a synthmed error (exit
status 2) or a documented safe result, never a traceback, never a partial file, and never a training value of an
identifier or free-text column in anything it writes.

Hypothesis generates the malformed inputs: CSV files with random separators, quoting, encodings, compression,
truncation and cell contents (markers, decimal commas, dates, huge numbers, prose), and damaged generator files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from synthmed.cli import app

runner = CliRunner()
FAST_FIT = ["--model", "vae", "--epochs", "1", "--batch-size", "16", "--seed", "0", "-q"]
HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


def assert_handled(result: Result) -> None:
    """Done (0) or a user error (2) with one `error:` paragraph; never a crash or a traceback."""
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if result.exit_code == 2:  # notes about the data may come first
        assert result.stderr.splitlines()[-1].startswith("error: "), result.stderr


def fresh(tmp_path: Path) -> Path:
    """A new folder per generated example (hypothesis reuses the test's tmp_path)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def leftovers(folder: Path, expected: set[str]) -> set[str]:
    return {path.name for path in folder.iterdir()} - expected


# ---- cell contents a hospital export really holds, good and bad ----------------------------------------------
markers = st.sampled_from(["?", "unknown", "-", "n.a.", "NA", "", " ", "NULL", "#N/A", "none", "."])
numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e4, 1e4).map(lambda x: f"{x:.2f}".replace(".", ",")),  # decimal comma
    st.sampled_from(["1e300", "-1e308", "1,234", "1.234,5", "12,345,678", "0x1F", "1_000", "٣"]),
)
dates = st.dates().map(
    lambda d: d.strftime(np.random.default_rng(d.toordinal()).choice(["%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y"]))
)
prose = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
cells = st.one_of(markers, numbers, dates, prose, st.sampled_from(["F", "M", "icu", "er"]))
names = st.one_of(st.sampled_from(["age", "id", "note", "sex", "date", "chol", "", "age"]), st.text(max_size=8))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV export, often malformed: ragged rows, odd separators, stray quotes, other encodings, cut short."""
    columns = draw(st.integers(1, 5))
    rows = draw(st.integers(0, 30))
    column_kinds = [draw(st.sampled_from(["numbers", "cells", "dates", "prose"])) for _ in range(columns)]
    strategies = {"numbers": numbers, "cells": cells, "dates": dates, "prose": prose}
    header = [draw(names) for _ in range(columns)]
    body = [[draw(strategies[kind]) for kind in column_kinds] for _ in range(rows)]
    if body and draw(st.booleans()):  # a ragged row
        body[draw(st.integers(0, len(body) - 1))].append("extra")
    separator = draw(st.sampled_from([",", ";", "\t", "|"]))
    if draw(st.booleans()):  # written by a CSV library, quoting where needed
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=separator).writerows([header, *body])
        text = buffer.getvalue()
    else:  # joined by hand: separators and quotes inside values break the rows
        text = "".join(separator.join(row) + draw(st.sampled_from(["\n", "\r\n"])) for row in [header, *body])
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])), errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # cut short, as a failed copy is
    if draw(st.integers(0, 4)) == 0:
        data = gzip.compress(data, mtime=0)  # compressed, whatever its name says
    return data


def run_on_csv(tmp_path: Path, data: bytes, output_name: str, *command: str) -> None:
    """`synthmed COMMAND export.csv -o OUTPUT ...` on `data`: handled, and OUTPUT exists exactly when it succeeded."""
    path, output = tmp_path / "export.csv", tmp_path / output_name
    path.write_bytes(data)
    output.unlink(missing_ok=True)
    result = invoke(command[0], path, "-o", output, *command[1:])
    assert_handled(result)
    assert output.exists() == (result.exit_code == 0)
    assert not leftovers(tmp_path, {"export.csv", output_name})


@HOSTILE
@given(data=csv_files())
def test_any_csv_gets_a_schema_or_a_synthmed_error(tmp_path: Path, data: bytes) -> None:
    run_on_csv(tmp_path, data, "schema.yaml", "schema")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files())
def test_any_csv_trains_or_is_refused_leaving_nothing_behind(tmp_path: Path, data: bytes) -> None:
    run_on_csv(tmp_path, data, "model.smg", "fit", *FAST_FIT)


# ---- identifiers and free text never reach an output ---------------------------------------------------------
tokens = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=8, max_size=8).map(lambda text: f"MRN{text}")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(tokens, min_size=60, max_size=60, unique=True), seed=st.integers(0, 2**16))
def test_no_identifier_or_note_reaches_the_generator_samples_or_release(tmp_path: Path, ids: list[str], seed: int):
    tmp_path = fresh(tmp_path)
    rng = np.random.default_rng(seed)
    notes = [f"pt seen {token.lower()} reports pain since {rng.integers(1, 9)} days" for token in ids]
    repeated_notes = [notes[i % 40] for i in range(60)]  # 40 notes, some repeated: free text, not categories
    table = pd.DataFrame(
        {
            "mrn": ids,
            "note": repeated_notes,
            "age": rng.normal(60, 10, 60).round(1),
            "sex": rng.choice(["F", "M"], 60),
            "admitted": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 400, 60), unit="D"),
        }
    )
    train, holdout = tmp_path / "train.csv", tmp_path / "holdout.csv"
    table.to_csv(train, index=False)
    table.assign(mrn=[t[::-1] for t in ids]).to_csv(holdout, index=False)
    model, sample = tmp_path / "model.smg", tmp_path / "synthetic.csv"
    fitted = invoke("fit", train, "-o", model, *FAST_FIT)
    assert fitted.exit_code == 0, fitted.output
    assert "left out as an identifier" in fitted.stderr and "left out as free text" in fitted.stderr
    assert invoke("sample", model, "-n", "200", "-o", sample).exit_code == 0
    released = invoke(
        "release", model, "--train", train, "--holdout", holdout, "-o", tmp_path / "release", "--include-generator"
    )
    assert released.exit_code in (0, 3), released.output  # released, or refused by the privacy gate
    written = [zipfile.ZipFile(model).read("model.json").decode(), sample.read_text()]
    written += [p.read_text() for p in (tmp_path / "release").iterdir() if p.suffix in {".csv", ".json", ".md"}]
    everything = "\n".join(written)
    assert not [token for token in ids if token in everything]
    assert not [token for token in ids if token.lower() in everything]  # nor the notes that carry them
    assert json.loads(written[0])["data"]["rows"] == 60


# ---- damaged generators --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("generator")
    table = pd.DataFrame({"age": np.linspace(20, 80, 40), "sex": ["F", "M"] * 20})
    table.to_csv(folder / "t.csv", index=False)
    assert invoke("fit", folder / "t.csv", "-o", folder / "m.smg", *FAST_FIT).exit_code == 0
    return (folder / "m.smg").read_bytes()


@HOSTILE
@given(data=st.data())
def test_a_damaged_generator_is_a_synthmed_error_or_harmless(tmp_path: Path, generator: bytes, data: st.DataObject):
    damaged = bytearray(generator)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    path, output = tmp_path / "m.smg", tmp_path / "s.csv"
    path.write_bytes(bytes(damaged))
    output.unlink(missing_ok=True)
    result = invoke("sample", path, "-n", "5", "-o", output)
    assert_handled(result)
    assert output.exists() == (result.exit_code == 0)
    assert not leftovers(tmp_path, {"m.smg", "s.csv"})
