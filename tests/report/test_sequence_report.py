"""The report of a time-series evaluation: its own fidelity and utility sections, the shared privacy one."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from typing import Any

import numpy as np
import pytest

from synthmed.data.timeseries import to_long
from synthmed.evaluate.timeseries import evaluate_sequences
from synthmed.report import render_report
from synthmed.report.sequence_plots import autocorrelation_plot, channel_pairs_plot, sample_windows_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE_CHANNEL = "<b>x</b>"
CHANNELS = ("heart_rate", "spo2", HOSTILE_CHANNEL)


def _recordings(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16)
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    first = np.sin(0.4 * t + phase) + 0.1 * rng.normal(size=(count, 16))
    second = np.cos(0.4 * t + phase) + 0.1 * rng.normal(size=(count, 16))
    return np.stack([first, second, first + second], axis=2)


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    train, holdout = _recordings(24, 0), _recordings(24, 1)
    synthetic = train + np.random.default_rng(2).normal(0, 0.3, train.shape)
    result = evaluate_sequences(
        to_long(train, CHANNELS),
        to_long(holdout, CHANNELS),
        to_long(synthetic, CHANNELS),
        sequence_column="sequence",
        time_column="step",
    )
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))  # as metrics.json read back


@pytest.fixture(scope="module")
def page(evaluation: dict[str, Any]) -> str:
    return render_report(evaluation)


def test_the_time_series_figures_are_embedded_pngs(page: str) -> None:
    for caption in ("Example windows", "Mean autocorrelation per lag", "Cross-channel correlations", "Channel pairs"):
        assert f"<figcaption>{caption}" in page, caption
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) >= 6  # windows, autocorrelation, correlations, pairs, DCR, membership ROC
    for source in sources:
        assert base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True).startswith(PNG_MAGIC)
    assert "http://" not in page.lower() and "https://" not in page.lower()


def test_the_table_shows_synthetic_figures_beside_the_holdout_reference(evaluation: dict[str, Any], page: str) -> None:
    autocorrelation = evaluation["fidelity"]["autocorrelation"]
    assert "Mean |autocorrelation difference|, lags 1-4" in page
    assert f"{autocorrelation['mean_absolute_difference']:.3f}" in page
    assert f"{autocorrelation['holdout_mean_absolute_difference']:.3f}" in page
    prediction = evaluation["utility"]["channel_prediction"]
    assert f"{prediction['mean_scaled_mae_trained_on_synthetic']:.3f}" in page
    assert "Windows (train / holdout / synthetic)" in page and "24 / 24 / 24" in page
    assert "Membership inference" in page  # the tabular privacy section, reused


def test_channel_names_are_escaped(page: str) -> None:
    assert HOSTILE_CHANNEL not in page
    assert escape(HOSTILE_CHANNEL) in page


def test_a_tabular_report_has_no_time_series_section() -> None:
    page = render_report({"fidelity": {"verdict": "pass", "autocorrelation": {"lags": [1]}}, "about": {}})
    assert "autocorrelation" not in page


def test_plots_without_their_data_are_left_out() -> None:
    assert sample_windows_plot({}, ["a"]) is None
    assert autocorrelation_plot({"lags": [1, 2]}) is None
    assert channel_pairs_plot({"pairs": []}) is None
