"""One self-contained HTML page a clinician can read: verdicts first, then the figures behind them.

Built only from the plain evaluation dict (`Evaluation.to_dict()`, as written to metrics.json), so a report can
be re-rendered later from the JSON alone. The page has inline CSS, images as data URIs, no scripts and no links,
so it opens offline and can be shared as one file. Every piece of text from the dict is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synthmed.data.files import write_text
from synthmed.report import html, plots
from synthmed.report.histories import history_sections
from synthmed.report.privacy import privacy_section
from synthmed.report.sequences import SEQUENCE_SECTIONS

AREAS = (
    ("fidelity", "Fidelity", "Does the synthetic data look like the real data?"),
    ("utility", "Utility", "Do models trained on synthetic data work on real patients?"),
    ("privacy", "Privacy", "Can the synthetic data reveal who was in the training data?"),
)
SCENARIOS = ("trtr", "tstr", "trts", "augmented")

STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2933;margin:0;background:#f5f7fa;
line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.3em;margin:0 0 8px;border-bottom:2px solid #d9e2ec;padding-bottom:4px}
h3{font-size:1.05em;margin:18px 0 6px}
.card,section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px 20px;margin:16px 0}
.muted{color:#616e7c;font-size:.9em}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:.85em;color:#fff;
text-transform:uppercase;letter-spacing:.03em}
.badge.pass{background:#2f855a}.badge.warn{background:#b7791f}.badge.fail{background:#c53030}
.badge.inconclusive{background:#718096}
.areas{display:flex;flex-wrap:wrap;gap:16px}
.area{flex:1 1 300px;border:1px solid #e4e7eb;border-radius:6px;padding:10px}
.area h3{margin-top:0;display:flex;justify-content:space-between;align-items:center}
ul.checks{list-style:none;padding:0;margin:0}ul.checks li{margin:6px 0;font-size:.92em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0}figure img{max-width:100%;height:auto;border:1px solid #e4e7eb}
figcaption{font-size:.85em;color:#616e7c}
"""


def _checks(area: Mapping[str, Any]) -> str:
    items = "".join(
        f"<li>{html.badge(check.get('verdict'))} <strong>{html.text(check.get('name', ''))}</strong>: "
        f"{html.text(check.get('reason', ''))}</li>"
        for check in area.get("checks") or []
    )
    return f'<ul class="checks">{items}</ul>' if items else '<p class="muted">No checks recorded.</p>'


def _summary(evaluation: Mapping[str, Any]) -> str:
    boxes = []
    for key, title, question in AREAS:
        area = evaluation.get(key) or {}
        boxes.append(
            f'<div class="area" id="summary-{key}"><h3>{html.text(title)} {html.badge(area.get("verdict"))}</h3>'
            f'<p class="muted">{html.text(question)}</p>{_checks(area)}</div>'
        )
    legend = " ".join(html.badge(v) for v in html.VERDICTS)
    return (
        '<div class="card"><h2>Summary</h2>'
        f'<div class="areas">{"".join(boxes)}</div>'
        f'<p class="muted">Verdicts: {legend}. "Inconclusive" means the data could not show the area is safe '
        "or good; it is not a pass.</p></div>"
    )


def _fidelity(area: Mapping[str, Any]) -> str:
    shapes = area.get("column_shapes") or {}
    correlation = area.get("correlation") or {}
    detection = area.get("detection") or {}
    contingency = area.get("contingency") or {}
    probability = area.get("dimension_wise_probability") or {}
    prediction = area.get("dimension_wise_prediction") or {}
    rows = [
        (
            "Mean column similarity (1 = identical)",
            html.number(shapes.get("mean")),
            html.number(shapes.get("holdout_mean")),
        ),
        (
            "Mean |correlation difference| (0 = identical)",
            html.number(correlation.get("mean_absolute_difference")),
            html.number(correlation.get("holdout_mean_absolute_difference")),
        ),
        ("Detection AUC, 95% CI (0.5 = indistinguishable)", html.estimate(detection.get("auc")), ""),
        ("Mean contingency similarity of column pairs", html.number(contingency.get("mean")), ""),
        ("Dimension-wise probability R²", html.number(probability.get("r_squared")), ""),
        (
            "Dimension-wise prediction mean F1 (synthetic vs real training)",
            html.number(prediction.get("mean_f1_synthetic")),
            html.number(prediction.get("mean_f1_real")),
        ),
    ]
    parts = [
        html.table(("Figure", "Synthetic", "Real holdout (reference)"), rows),
        html.figure(plots.worst_columns_plot(shapes), "Per-column similarity of the least similar columns"),
    ]
    matrices = correlation.get("matrices")
    if matrices:
        parts.append(
            html.figure(plots.correlation_plot(matrices), "Correlations: real, synthetic and their difference")
        )
    elif "matrices" in correlation:
        parts.append('<p class="muted">Correlation matrices are not drawn for tables this wide.</p>')
    parts.append(
        html.figure(
            plots.dimension_wise_probability_plot(probability),
            "Share of 1s per binary column, real vs synthetic (points on the diagonal agree)",
        )
    )
    parts.append(
        html.figure(
            plots.dimension_wise_prediction_plot(prediction),
            "F1 predicting each binary column from the others: trained on real vs on synthetic",
        )
    )
    return "".join(parts)


def _utility(area: Mapping[str, Any]) -> str:
    results = area.get("results") or []
    if not results:
        reasons = "; ".join(str(c.get("reason", "")) for c in area.get("checks") or []) or "no utility figures"
        return f'<p class="muted">Utility was not measured: {html.text(reasons)}.</p>'
    summary = area.get("summary") or {}
    metric = summary.get("metric") or "roc_auc"
    by_key = {(r.get("model"), r.get("scenario")): r for r in results}
    models = list(dict.fromkeys(r.get("model") for r in results))

    def cell(model: Any, scenario: str) -> str:
        result = by_key.get((model, scenario))
        if result is None:
            return ""
        if result.get("figures") is None:
            return f"not trained: {html.text(result.get('unavailable') or 'unavailable')}"
        return html.estimate((result["figures"] or {}).get(metric))

    ratios = summary.get("tstr_to_trtr") or {}
    gains = summary.get("augmentation_gain") or {}
    rows = [
        (
            html.text(str(model).replace("_", " ")) + (" (best)" if model == summary.get("best_model") else ""),
            *(cell(model, scenario) for scenario in SCENARIOS),
            html.number(ratios.get(model)),
            html.number(gains.get(model)),
        )
        for model in models
    ]
    metric_name = "ROC AUC" if metric == "roc_auc" else metric
    headers = ("Model", "TRTR", "TSTR", "TRTS", "Augmented", "TSTR / TRTR", "Augmentation gain")
    notes = [
        f'<p class="muted">Target {html.text(area.get("target", ""))} ({html.text(area.get("task", ""))}); '
        f"{html.text(metric_name)} with 95% CI. TRTR: trained on real, tested on real holdout (the reference). "
        "TSTR: trained on synthetic, tested on real holdout. TRTS: trained on real, tested on synthetic. "
        "Augmented: trained on real plus synthetic.</p>"
    ]
    dropped = {k: v for k, v in (area.get("dropped_rows") or {}).items() if v}
    if dropped:
        notes.append(
            f'<p class="muted">Rows without a target left out: '
            f"{html.text(', '.join(f'{k} {v}' for k, v in dropped.items()))}.</p>"
        )
    absent = {k: v for k, v in (area.get("absent_classes") or {}).items() if v}
    if absent:
        notes.append(
            f'<p class="muted">Classes absent: {html.text("; ".join(f"{k}: {v}" for k, v in absent.items()))}.</p>'
        )
    best = summary.get("best_model")
    return "".join(
        [
            html.table(headers, rows),
            *notes,
            html.figure(plots.utility_plot(area), f"{metric_name} per model and scenario"),
            html.figure(
                plots.confusion_matrices_plot(area, best),
                f"Confusion matrices of the best model ({best}): trained on real vs on synthetic",
            ),
        ]
    )


def _about(about: Mapping[str, Any]) -> str:
    rows_count = about.get("rows") or {}
    columns = about.get("columns") or []
    rows = [
        (
            "Rows (train / holdout / synthetic)",
            html.text(" / ".join(str(rows_count.get(k, "?")) for k in ("train", "holdout", "synthetic"))),
        ),
        ("Columns", html.text(f"{len(columns)}: {', '.join(str(c) for c in columns)}")),
        ("Target", html.text(about.get("target") if about.get("target") is not None else "none")),
        ("Seed", html.text(about.get("seed", "n/a"))),
    ]
    if about.get("data") == "sequences":
        sequences = about.get("sequences") or {}
        rows[0] = ("Windows (train / holdout / synthetic)", rows[0][1])
        rows[1] = ("Channels", rows[1][1])
        rows[2:2] = [
            (
                "Sequences (train / holdout / synthetic)",
                html.text(" / ".join(str(sequences.get(k, "?")) for k in ("train", "holdout", "synthetic"))),
            ),
            ("Window length", html.text(f"{about.get('window_length', '?')} steps, lags 1-{about.get('lags', '?')}")),
        ]
    return '<section id="about"><h2>About this evaluation</h2>' + html.table(("Item", "Value"), rows, 99) + "</section>"


SECTIONS = {"fidelity": _fidelity, "utility": _utility, "privacy": privacy_section}


def _training_monitor(monitor: Mapping[str, Any] | None) -> str:
    """The generator's monitor curve, when `evaluate --generator` found one."""
    figure = html.figure(plots.monitor_curve_plot(monitor), "Fidelity of generated rows during training")
    if not monitor or not figure:
        return ""
    kept = monitor.get("kept_epoch")
    note = (
        f"the weights of epoch {html.text(kept)} were kept"
        if kept is not None
        else "the last epoch's weights were kept"
    )
    model = html.text(monitor.get("model", ""))
    return (
        f'<section id="training-monitor"><h2>Training monitor</h2><p class="muted">{model}: '
        f"rows generated every {html.text(monitor.get('every', '?'))} epochs, scored against the training data; "
        f"{note}.</p>{figure}</section>"
    )


def render_report(evaluation: Mapping[str, Any], title: str = "synthmed evaluation") -> str:
    """One self-contained HTML document (inline CSS, data-URI images, no scripts or links) for `evaluation`.

    `evaluation` is the plain dict of `Evaluation.to_dict()` (or metrics.json read back).

    >>> page = render_report({"fidelity": {"verdict": "pass", "checks": []}, "utility": {}, "privacy": {}})
    >>> page.startswith("<!DOCTYPE html>") and 'class="badge pass"' in page
    True
    """
    renderers = SECTIONS
    data = (evaluation.get("about") or {}).get("data")
    if data == "sequences":
        renderers = SEQUENCE_SECTIONS
    elif data == "histories":
        renderers = history_sections(_utility)
    sections = []
    for key, heading, question in AREAS:
        area = evaluation.get(key) or {}
        sections.append(
            f'<section id="{key}"><h2>{html.text(heading)} {html.badge(area.get("verdict"))}</h2>'
            f'<p class="muted">{html.text(question)}</p>{renderers[key](area)}</section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.text(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{html.text(title)}</h1>"
        '<p class="muted">Synthetic data judged against the real training data, with a real holdout sample as '
        "the reference for what a perfect generator would achieve.</p>"
        f"{_summary(evaluation)}{''.join(sections)}{_training_monitor(evaluation.get('training_monitor'))}"
        f"{_about(evaluation.get('about') or {})}"
        "</main></body></html>\n"
    )


def write_report(
    evaluation: Mapping[str, Any], path: str | os.PathLike[str], title: str = "synthmed evaluation"
) -> Path:
    """Render `evaluation` and write it to `path` atomically (a temporary file beside it, then a rename)."""
    return write_text(path, render_report(evaluation, title=title))
