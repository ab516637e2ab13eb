"""One self-contained HTML page a clinician can read: verdicts first, then the figures behind them.

Built only from the plain evaluation dict (`Evaluation.to_dict()`, as written to metrics.json), so a report can
be re-rendered later from the JSON alone. The page has inline CSS, images as data URIs, no scripts and no links,
so it opens offline and can be shared as one file. Every piece of text from the dict is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from synthmed.data.files import write_text
from synthmed.report import plots

VERDICTS = ("pass", "warn", "fail", "inconclusive")
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


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _number(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else _text(value)
    return f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def _estimate(estimate: Any, formatter: Any = _number) -> str:
    """The text "value [low, high]" for an {value, ci_low, ci_high} dict; plain formatting for a bare number."""
    if not isinstance(estimate, Mapping):
        return formatter(estimate)
    text = formatter(estimate.get("value"))
    if estimate.get("ci_low") is not None and estimate.get("ci_high") is not None:
        text += f" [{formatter(estimate['ci_low'])}, {formatter(estimate['ci_high'])}]"
    return text


def _badge(verdict: Any) -> str:
    word = str(verdict) if verdict in VERDICTS else "inconclusive"
    return f'<span class="badge {word}">{_text(word)}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """A table whose header text is escaped here; cells arrive already escaped/formatted."""
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(uri: str | None, caption: str) -> str:
    if uri is None or not uri.startswith(plots.PNG_PREFIX):
        return ""
    return f'<figure><img src="{uri}" alt="{_text(caption)}"><figcaption>{_text(caption)}</figcaption></figure>'


def _checks(area: Mapping[str, Any]) -> str:
    items = "".join(
        f"<li>{_badge(check.get('verdict'))} <strong>{_text(check.get('name', ''))}</strong>: "
        f"{_text(check.get('reason', ''))}</li>"
        for check in area.get("checks") or []
    )
    return f'<ul class="checks">{items}</ul>' if items else '<p class="muted">No checks recorded.</p>'


def _summary(evaluation: Mapping[str, Any]) -> str:
    boxes = []
    for key, title, question in AREAS:
        area = evaluation.get(key) or {}
        boxes.append(
            f'<div class="area" id="summary-{key}"><h3>{_text(title)} {_badge(area.get("verdict"))}</h3>'
            f'<p class="muted">{_text(question)}</p>{_checks(area)}</div>'
        )
    legend = " ".join(_badge(v) for v in VERDICTS)
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
            _number(shapes.get("mean")),
            _number(shapes.get("holdout_mean")),
        ),
        (
            "Mean |correlation difference| (0 = identical)",
            _number(correlation.get("mean_absolute_difference")),
            _number(correlation.get("holdout_mean_absolute_difference")),
        ),
        ("Detection AUC, 95% CI (0.5 = indistinguishable)", _estimate(detection.get("auc")), ""),
        ("Mean contingency similarity of column pairs", _number(contingency.get("mean")), ""),
        ("Dimension-wise probability R²", _number(probability.get("r_squared")), ""),
        (
            "Dimension-wise prediction mean F1 (synthetic vs real training)",
            _number(prediction.get("mean_f1_synthetic")),
            _number(prediction.get("mean_f1_real")),
        ),
    ]
    parts = [
        _table(("Figure", "Synthetic", "Real holdout (reference)"), rows),
        _figure(plots.worst_columns_plot(shapes), "Per-column similarity of the least similar columns"),
    ]
    matrices = correlation.get("matrices")
    if matrices:
        parts.append(_figure(plots.correlation_plot(matrices), "Correlations: real, synthetic and their difference"))
    elif "matrices" in correlation:
        parts.append('<p class="muted">Correlation matrices are not drawn for tables this wide.</p>')
    parts.append(
        _figure(
            plots.dimension_wise_probability_plot(probability),
            "Share of 1s per binary column, real vs synthetic (points on the diagonal agree)",
        )
    )
    parts.append(
        _figure(
            plots.dimension_wise_prediction_plot(prediction),
            "F1 predicting each binary column from the others: trained on real vs on synthetic",
        )
    )
    return "".join(parts)


def _utility(area: Mapping[str, Any]) -> str:
    results = area.get("results") or []
    if not results:
        reasons = "; ".join(str(c.get("reason", "")) for c in area.get("checks") or []) or "no utility figures"
        return f'<p class="muted">Utility was not measured: {_text(reasons)}.</p>'
    summary = area.get("summary") or {}
    metric = summary.get("metric") or "roc_auc"
    by_key = {(r.get("model"), r.get("scenario")): r for r in results}
    models = list(dict.fromkeys(r.get("model") for r in results))

    def cell(model: Any, scenario: str) -> str:
        result = by_key.get((model, scenario))
        if result is None:
            return ""
        if result.get("figures") is None:
            return f"not trained: {_text(result.get('unavailable') or 'unavailable')}"
        return _estimate((result["figures"] or {}).get(metric))

    ratios = summary.get("tstr_to_trtr") or {}
    gains = summary.get("augmentation_gain") or {}
    rows = [
        (
            _text(str(model).replace("_", " ")) + (" (best)" if model == summary.get("best_model") else ""),
            *(cell(model, scenario) for scenario in SCENARIOS),
            _number(ratios.get(model)),
            _number(gains.get(model)),
        )
        for model in models
    ]
    metric_name = "ROC AUC" if metric == "roc_auc" else metric
    headers = ("Model", "TRTR", "TSTR", "TRTS", "Augmented", "TSTR / TRTR", "Augmentation gain")
    notes = [
        f'<p class="muted">Target {_text(area.get("target", ""))} ({_text(area.get("task", ""))}); '
        f"{_text(metric_name)} with 95% CI. TRTR: trained on real, tested on real holdout (the reference). "
        "TSTR: trained on synthetic, tested on real holdout. TRTS: trained on real, tested on synthetic. "
        "Augmented: trained on real plus synthetic.</p>"
    ]
    dropped = {k: v for k, v in (area.get("dropped_rows") or {}).items() if v}
    if dropped:
        notes.append(
            f'<p class="muted">Rows without a target left out: '
            f"{_text(', '.join(f'{k} {v}' for k, v in dropped.items()))}.</p>"
        )
    absent = {k: v for k, v in (area.get("absent_classes") or {}).items() if v}
    if absent:
        notes.append(
            f'<p class="muted">Classes absent: {_text("; ".join(f"{k}: {v}" for k, v in absent.items()))}.</p>'
        )
    best = summary.get("best_model")
    return "".join(
        [
            _table(headers, rows),
            *notes,
            _figure(plots.utility_plot(area), f"{metric_name} per model and scenario"),
            _figure(
                plots.confusion_matrices_plot(area, best),
                f"Confusion matrices of the best model ({best}): trained on real vs on synthetic",
            ),
        ]
    )


def _privacy(area: Mapping[str, Any]) -> str:
    parts = []
    copies = area.get("exact_copies") or {}
    if copies:
        parts.append("<h3>Exact copies</h3>")
        parts.append(
            _table(
                ("Figure", "Synthetic", "Real holdout (reference)"),
                [
                    (
                        "Rows that copy a training row",
                        _estimate(copies.get("synthetic_in_train"), _percent),
                        _estimate(copies.get("holdout_in_train"), _percent),
                    ),
                    (
                        "Rows unique in training data that reappear",
                        _estimate(copies.get("unique_exact_match"), _percent),
                        _estimate(copies.get("unique_exact_match_baseline"), _percent),
                    ),
                ],
            )
        )
    distances = area.get("distance_to_closest_record") or {}
    if distances:
        parts.append("<h3>Distance to closest record</h3>")
        parts.append(
            _table(
                ("Figure", "Synthetic", "Fresh real rows"),
                [
                    (
                        "Chance a row lies nearer a training row than a holdout row lies",
                        _estimate(distances.get("nearer_than_holdout"), _percent),
                        "50%",
                    ),
                    (
                        "Rows nearer a training row than the 5% nearest holdout rows",
                        _estimate(distances.get("near_copy_share"), _percent),
                        "5%",
                    ),
                    (
                        "Rows closer to a training row than to any holdout row",
                        _estimate(distances.get("closer_to_train_share"), _percent),
                        "50%",
                    ),
                ],
            )
        )
        parts.append(
            _figure(
                plots.distance_to_closest_record_plot(distances),
                "Quantiles of distance from synthetic rows to the closest training and holdout row",
            )
        )
    attacks = area.get("membership_inference") or []
    if attacks:
        parts.append("<h3>Membership inference</h3>")
        rows = [
            (
                _text(str(attack.get("name", "")).replace("_", " ")),
                _estimate(attack.get("auc")),
                _estimate(attack.get("tpr_at_1pct_fpr")),
                _estimate(attack.get("advantage")),
                _text(f"{attack.get('scored_members', 'n/a')} / {attack.get('scored_non_members', 'n/a')}"),
            )
            for attack in attacks
        ]
        parts.append(
            _table(("Attack", "AUC (0.5 = chance)", "TPR at 1% FPR", "Advantage", "Members / non-members"), rows)
        )
        parts.append(_figure(plots.membership_roc_plot(attacks), "ROC curves of the membership-inference attacks"))
    anonymity = area.get("k_anonymity")
    if anonymity:
        parts.append("<h3>k-anonymity of the synthetic data</h3>")
        rows = [
            ("Quasi-identifiers", _text(", ".join(str(q) for q in anonymity.get("quasi_identifiers") or []))),
            ("k", _text(anonymity.get("k", "n/a"))),
            ("Smallest group", _text(anonymity.get("smallest_class", "n/a"))),
            ("Groups smaller than k", _text(anonymity.get("rare_classes", "n/a"))),
            ("Rows in groups smaller than k", _percent(anonymity.get("rare_row_share"))),
            ("Of those groups, also rare in training data", _text(anonymity.get("rare_classes_in_train", "n/a"))),
        ]
        parts.append(_table(("Figure", "Value"), rows))
    disclosures = area.get("attribute_disclosure") or []
    if disclosures:
        parts.append("<h3>Attribute disclosure</h3>")
        rows = [
            (
                _text(result.get("known_attributes", "n/a")),
                _text(result.get("attacked_records", "n/a")),
                _estimate(result.get("precision")),
                _estimate(result.get("baseline_precision")),
                _estimate(result.get("sensitivity")),
                _estimate(result.get("baseline_sensitivity")),
            )
            for result in disclosures
        ]
        parts.append(
            _table(
                (
                    "Attributes known",
                    "Records attacked",
                    "Precision",
                    "Baseline precision",
                    "Sensitivity",
                    "Baseline sensitivity",
                ),
                rows,
                numeric_from=0,
            )
        )
        parts.append(
            '<p class="muted">The baseline uses real holdout data in place of the synthetic data: '
            "disclosure above it is what the synthetic data adds.</p>"
        )
    return "".join(parts)


def _about(about: Mapping[str, Any]) -> str:
    rows_count = about.get("rows") or {}
    columns = about.get("columns") or []
    rows = [
        (
            "Rows (train / holdout / synthetic)",
            _text(" / ".join(str(rows_count.get(k, "?")) for k in ("train", "holdout", "synthetic"))),
        ),
        ("Columns", _text(f"{len(columns)}: {', '.join(str(c) for c in columns)}")),
        ("Target", _text(about.get("target") if about.get("target") is not None else "none")),
        ("Seed", _text(about.get("seed", "n/a"))),
    ]
    if about.get("data") == "sequences":
        sequences = about.get("sequences") or {}
        rows[0] = ("Windows (train / holdout / synthetic)", rows[0][1])
        rows[1] = ("Channels", rows[1][1])
        rows[2:2] = [
            (
                "Sequences (train / holdout / synthetic)",
                _text(" / ".join(str(sequences.get(k, "?")) for k in ("train", "holdout", "synthetic"))),
            ),
            ("Window length", _text(f"{about.get('window_length', '?')} steps, lags 1-{about.get('lags', '?')}")),
        ]
    return '<section id="about"><h2>About this evaluation</h2>' + _table(("Item", "Value"), rows, 99) + "</section>"


SECTIONS = {"fidelity": _fidelity, "utility": _utility, "privacy": _privacy}


def _training_monitor(monitor: Mapping[str, Any] | None) -> str:
    """The generator's monitor curve, when `evaluate --generator` found one."""
    figure = _figure(plots.monitor_curve_plot(monitor), "Fidelity of generated rows during training")
    if not monitor or not figure:
        return ""
    kept = monitor.get("kept_epoch")
    note = f"the weights of epoch {_text(kept)} were kept" if kept is not None else "the last epoch's weights were kept"
    return (
        f'<section id="training-monitor"><h2>Training monitor</h2><p class="muted">{_text(monitor.get("model", ""))}: '
        f"rows generated every {_text(monitor.get('every', '?'))} epochs, scored against the training data; "
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
    if (evaluation.get("about") or {}).get("data") == "sequences":
        from synthmed.report.sequences import SEQUENCE_SECTIONS  # here: that module builds on this one's helpers

        renderers = SEQUENCE_SECTIONS
    sections = []
    for key, heading, question in AREAS:
        area = evaluation.get(key) or {}
        sections.append(
            f'<section id="{key}"><h2>{_text(heading)} {_badge(area.get("verdict"))}</h2>'
            f'<p class="muted">{_text(question)}</p>{renderers[key](area)}</section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{_text(title)}</h1>"
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
