"""The report's fidelity and utility sections for synthetic sequences (`evaluate_sequences`).

Privacy reads like the tabular report's (copies, distances and attacks on whole windows), so it reuses that
section; only fidelity (dynamics, channels) and utility (channel prediction) differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synthmed.report import html, plots, sequence_plots
from synthmed.report.privacy import privacy_section


def _fidelity(area: Mapping[str, Any]) -> str:
    shapes = area.get("channel_shapes") or {}
    autocorrelation = area.get("autocorrelation") or {}
    correlation = area.get("correlation") or {}
    lags = autocorrelation.get("lags") or []
    rows = [
        (
            "Mean channel similarity, 1 - KS (1 = identical)",
            html.number(shapes.get("mean")),
            html.number(shapes.get("holdout_mean")),
        ),
        (
            f"Mean |autocorrelation difference|, lags 1-{len(lags)} (0 = identical)",
            html.number(autocorrelation.get("mean_absolute_difference")),
            html.number(autocorrelation.get("holdout_mean_absolute_difference")),
        ),
        (
            "Mean |cross-channel correlation difference| (0 = identical)",
            html.number(correlation.get("mean_absolute_difference")),
            html.number(correlation.get("holdout_mean_absolute_difference")),
        ),
        (
            "Window detection AUC, 95% CI (0.5 = indistinguishable)",
            html.estimate((area.get("detection") or {}).get("auc")),
            html.estimate((area.get("holdout_detection") or {}).get("auc")),
        ),
    ]
    per_channel = shapes.get("per_channel") or {}
    channel_rows = [
        (
            html.text(channel),
            html.number(value),
            html.number((shapes.get("holdout_per_channel") or {}).get(channel)),
            html.number((autocorrelation.get("per_channel") or {}).get(channel)),
            html.number((autocorrelation.get("holdout_per_channel") or {}).get(channel)),
        )
        for channel, value in per_channel.items()
    ]
    examples = area.get("examples") or {}
    return "".join(
        [
            html.table(("Figure", "Synthetic", "Real holdout (reference)"), rows),
            html.table(
                (
                    "Channel",
                    "1 - KS, synthetic",
                    "1 - KS, holdout",
                    "|ACF difference|, synthetic",
                    "|ACF difference|, holdout",
                ),
                channel_rows,
            ),
            '<p class="muted">Figures compare windows with the real training windows; the real holdout scored the '
            "same way shows what a perfect generator would reach. The example windows and points below are real "
            "training data: keep this report where the training data may be.</p>",
            html.figure(
                sequence_plots.sample_windows_plot(examples, list(per_channel)),
                "Example windows, one panel per channel: real (blue) and synthetic (orange)",
            ),
            html.figure(
                sequence_plots.autocorrelation_plot(autocorrelation),
                "Mean autocorrelation per lag: curves that agree mean the same dynamics",
            ),
            html.figure(
                plots.correlation_plot(correlation.get("matrices")),
                "Cross-channel correlations over all steps: real, synthetic and their difference",
            ),
            html.figure(
                sequence_plots.channel_pairs_plot(examples),
                "Channel pairs whose correlation differs most, each point one step",
            ),
        ]
    )


def _utility(area: Mapping[str, Any]) -> str:
    prediction = area.get("channel_prediction")
    if not prediction:
        reasons = "; ".join(str(c.get("reason", "")) for c in area.get("checks") or []) or "no figures"
        return f'<p class="muted">Channel prediction was not measured: {html.text(reasons)}.</p>'
    rows = [
        (
            html.text(channel),
            html.number(figures.get("mae_trained_on_real")),
            html.number(figures.get("mae_trained_on_synthetic")),
            html.number(figures.get("scaled_mae_trained_on_real")),
            html.number(figures.get("scaled_mae_trained_on_synthetic")),
        )
        for channel, figures in (prediction.get("per_channel") or {}).items()
    ]
    rows.append(
        (
            "<strong>mean</strong>",
            "",
            "",
            html.number(prediction.get("mean_scaled_mae_trained_on_real")),
            html.number(prediction.get("mean_scaled_mae_trained_on_synthetic")),
        )
    )
    headers = (
        "Predicted channel",
        "MAE, trained on real",
        "MAE, trained on synthetic",
        "MAE -1..1, trained on real",
        "MAE -1..1, trained on synthetic",
    )
    return html.table(headers, rows) + (
        '<p class="muted">A random forest predicts each channel from the other channels at the same step, trained '
        "on real training steps or on synthetic steps, and is scored on real holdout steps (lower is better). "
        "The -1..1 columns scale each channel by the real training minimum and maximum.</p>"
    )


SEQUENCE_SECTIONS = {"fidelity": _fidelity, "utility": _utility, "privacy": privacy_section}
