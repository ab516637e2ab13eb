"""The HTML report: verdict badges, self-contained images, no network references, escaped text."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synthmed.evaluate.evaluation import evaluate
from synthmed.report import render_report, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE_COLUMN = "<b>x</b>"


def _patients(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    age = rng.normal(60, 10, rows)
    smoker = rng.integers(0, 2, rows)
    return pd.DataFrame(
        {
            "age": age,
            "systolic_bp": 0.8 * age + rng.normal(0, 5, rows),
            "smoker": smoker,
            "sex": rng.choice(["F", "M"], rows),
            HOSTILE_COLUMN: rng.choice(["a", "b", "c"], rows),
            "outcome": ((age - 60) / 10 + smoker + rng.normal(0, 1, rows) > 0.5).astype(int),
        }
    )


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    train, holdout = _patients(200, rng), _patients(200, rng)
    synthetic = train.copy()
    synthetic["age"] += rng.normal(0, 3, len(synthetic))
    synthetic["systolic_bp"] += rng.normal(0, 3, len(synthetic))
    return train, holdout, synthetic


@pytest.fixture(scope="module")
def evaluation(tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    train, holdout, synthetic = tables
    result = evaluate(train, holdout, synthetic, target="outcome", quasi_identifiers=["sex", HOSTILE_COLUMN])
    # Through JSON, as a metrics.json read back later would be.
    return json.loads(json.dumps(result.to_dict()))


@pytest.fixture(scope="module")
def page(evaluation: dict[str, Any]) -> str:
    return render_report(evaluation, title="Report <for> review")


def test_the_summary_shows_each_area_verdict_as_a_badge(evaluation: dict[str, Any], page: str) -> None:
    for area in ("fidelity", "utility", "privacy"):
        verdict = evaluation[area]["verdict"]
        summary = re.search(rf'<div class="area" id="summary-{area}"><h3>(.*?)</h3>', page)
        assert summary is not None
        assert f'<span class="badge {verdict}">{verdict}</span>' in summary.group(1)


def test_every_image_is_an_embedded_png(page: str) -> None:
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) >= 7  # worst columns, correlations, 2 dimension-wise, utility, confusion, DCR, ROC
    assert page.count("<img") == len(sources)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True).startswith(PNG_MAGIC)


def test_the_page_references_nothing_outside_itself(page: str) -> None:
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in lowered


def test_text_from_the_data_is_escaped(page: str) -> None:
    assert HOSTILE_COLUMN not in page
    assert escape(HOSTILE_COLUMN) in page
    assert "<title>Report &lt;for&gt; review</title>" in page


def test_the_key_figures_are_tabulated(evaluation: dict[str, Any], page: str) -> None:
    detection = evaluation["fidelity"]["detection"]["auc"]
    assert f"{detection['value']:.3f} [{detection['ci_low']:.3f}, {detection['ci_high']:.3f}]" in page
    for attack in evaluation["privacy"]["membership_inference"]:
        assert f"{attack['advantage']['value']:.3f}" in page
    assert "TSTR / TRTR" in page and "k-anonymity" in page and "Attribute disclosure" in page


def test_without_a_target_the_utility_reason_is_shown(
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    train, holdout, synthetic = tables
    result = evaluate(train, holdout, synthetic).to_dict()
    page = render_report(result)
    assert result["utility"]["verdict"] == "inconclusive"
    assert '<span class="badge inconclusive">inconclusive</span>' in page
    assert escape(result["utility"]["checks"][0]["reason"]) in page
    assert "Utility was not measured" in page


def test_write_report_writes_the_page_and_leaves_no_temporary_file(evaluation: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    written = write_report(evaluation, target)
    assert written == target
    assert target.read_text(encoding="utf-8") == render_report(evaluation)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_sparse_dict_still_renders() -> None:
    page = render_report({"fidelity": {"verdict": "bogus"}, "privacy": {"correlation": None}})
    assert page.count('class="badge inconclusive"') >= 3
