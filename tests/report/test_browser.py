"""The report as a person sees it: rendered by a real headless Chromium, not blank, no console errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from synthmed.evaluate.evaluation import evaluate
from synthmed.report import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
# Flags for a headless run on a machine without network: no background fetches, no first-run pages.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
]


def small_evaluation() -> dict:
    rng = np.random.default_rng(0)
    n = 300
    age = rng.normal(60, 10, n).round(1)
    table = pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "ward": rng.choice(["icu", "er", "gp"], n),
            "disease": (age + rng.normal(0, 5, n) > 62).astype(int),
        }
    )
    train, holdout = table.iloc[:150].reset_index(drop=True), table.iloc[150:].reset_index(drop=True)
    synthetic = train.assign(age=train["age"] + rng.normal(0, 2, len(train)))
    return evaluate(train, holdout, synthetic, target="disease", quasi_identifiers=["sex", "ward"]).to_dict()


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = write_report(small_evaluation(), tmp_path / "report.html")
    screenshot = tmp_path / "screenshot.png"
    shot = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2400",
            f"--screenshot={screenshot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # the page is static: any console message is an error or a failed load
    pixels = imread(screenshot)
    assert pixels.shape[0] >= 2000 and pixels[..., :3].std() > 0.05  # rendered content, not a blank page
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert all(area in dom.stdout.lower() for area in ("fidelity", "utility", "privacy"))
    assert dom.stdout.count("<img") >= 3
