"""Figures for the report, drawn from the plain evaluation dict (what `Evaluation.to_dict()` and metrics.json hold).

Each function returns a PNG as a `data:image/png;base64,...` URI, or None when the dict has nothing to draw.
Figures are built with `matplotlib.figure.Figure` and the Agg canvas directly, never pyplot, so nothing touches
matplotlib's global state or needs a display.
"""

from __future__ import annotations

import base64
import itertools
import math
from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PNG_PREFIX = "data:image/png;base64,"
DPI = 100
REAL_COLOUR = "#4c72b0"
SYNTHETIC_COLOUR = "#dd8452"
SCENARIO_COLOURS = {"trtr": "#4c72b0", "tstr": "#dd8452", "trts": "#55a868", "augmented": "#8172b3"}
SCENARIO_LABELS = {
    "trtr": "TRTR (real -> real)",
    "tstr": "TSTR (synthetic -> real)",
    "trts": "TRTS (real -> synthetic)",
    "augmented": "augmented (real + synthetic -> real)",
}
# Matrices wider than this lose their tick labels: unreadable at report size.
MAX_LABELLED_COLUMNS = 25


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_uri(figure: Figure) -> str:
    buffer = BytesIO()
    # No "Software" text chunk: the page carries nothing but the figure (no version, no URL).
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def short(name: Any, width: int = 24) -> str:
    text = str(name)
    return text if len(text) <= width else text[: width - 1] + "…"


def worst_columns_plot(column_shapes: Mapping[str, Any] | None, limit: int = 10) -> str | None:
    """Per-column similarity (1 = same distribution) of the `limit` least similar columns, lowest first."""
    per_column = (column_shapes or {}).get("per_column") or {}
    scored = sorted(((name, value) for name, value in per_column.items() if _finite(value)), key=lambda item: item[1])
    scored = scored[:limit]
    if not scored:
        return None
    names = [short(name) for name, _ in scored]
    values = [value for _, value in scored]
    figure = new_figure(6.5, 0.35 * len(scored) + 1.2)
    axes = figure.add_subplot()
    positions = np.arange(len(scored))
    axes.barh(positions, values, color=SYNTHETIC_COLOUR)
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.05)
    axes.set_xlabel("column similarity to real (1 = identical distribution)")
    holdout_mean = column_shapes.get("holdout_mean") if column_shapes else None
    if _finite(holdout_mean):
        axes.axvline(holdout_mean, color="grey", linestyle="--", label=f"real holdout mean {holdout_mean:.3f}")
        axes.legend(loc="lower left", fontsize=8)
    axes.set_title(f"Least similar columns (lowest {len(scored)})")
    return figure_uri(figure)


def correlation_plot(matrices: Mapping[str, Any] | None) -> str | None:
    """Real, synthetic and synthetic - real correlation heatmaps side by side; None without matrices."""
    if not matrices or not matrices.get("columns"):
        return None
    columns = [short(name, 16) for name in matrices["columns"]]
    panels = [
        ("real", "Real (train)", "coolwarm"),
        ("synthetic", "Synthetic", "coolwarm"),
        ("difference", "Synthetic - real", "PuOr"),
    ]
    size = min(4.0, 1.2 + 0.25 * len(columns))
    figure = new_figure(3 * size + 3.0, size + 0.6)
    for index, (key, title, colour_map) in enumerate(panels, start=1):
        values = np.array([[np.nan if v is None else v for v in row] for row in matrices.get(key) or []], dtype=float)
        axes = figure.add_subplot(1, 3, index)
        if values.size == 0:
            axes.set_axis_off()
            continue
        image = axes.imshow(values, cmap=colour_map, vmin=-1, vmax=1)
        if len(columns) <= MAX_LABELLED_COLUMNS:
            ticks = np.arange(len(columns))
            axes.set_xticks(ticks, columns, rotation=90, fontsize=7)
            axes.set_yticks(ticks, columns if index == 1 else [""] * len(columns), fontsize=7)
        else:
            axes.set_xticks([])
            axes.set_yticks([])
        axes.set_title(title, fontsize=10)
        figure.colorbar(image, ax=axes, shrink=0.8)
    return figure_uri(figure)


def _scatter_with_diagonal(
    real: Sequence[Any], synthetic: Sequence[Any], names: Sequence[Any], title: str, label: str
) -> str | None:
    pairs = [(x, y, n) for x, y, n in zip(real, synthetic, names, strict=False) if _finite(x) and _finite(y)]
    if not pairs:
        return None
    figure = new_figure(4.5, 4.5)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axes.scatter([p[0] for p in pairs], [p[1] for p in pairs], color=SYNTHETIC_COLOUR, edgecolor="black", zorder=3)
    if len(pairs) <= 15:
        for x, y, name in pairs:
            axes.annotate(short(name, 14), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_aspect("equal")
    axes.set_xlabel(f"real {label}")
    axes.set_ylabel(f"synthetic {label}")
    axes.set_title(title, fontsize=10)
    return figure_uri(figure)


def dimension_wise_probability_plot(probability: Mapping[str, Any] | None) -> str | None:
    """Share of 1s per binary column, real against synthetic, on the identity line; None without binary columns."""
    if not probability or not probability.get("has_binary_columns"):
        return None
    r_squared = probability.get("r_squared")
    title = "Dimension-wise probability" + (f" (R² = {r_squared:.3f})" if _finite(r_squared) else "")
    return _scatter_with_diagonal(
        probability.get("real") or [],
        probability.get("synthetic") or [],
        probability.get("columns") or [],
        title,
        "share of 1s",
    )


def dimension_wise_prediction_plot(prediction: Mapping[str, Any] | None) -> str | None:
    """F1 of predicting each binary column from the others, trained on real vs on synthetic; None when absent."""
    if not prediction or not prediction.get("columns"):
        return None
    pearson_r = prediction.get("pearson_r")
    title = "Dimension-wise prediction F1" + (f" (r = {pearson_r:.3f})" if _finite(pearson_r) else "")
    return _scatter_with_diagonal(
        prediction.get("f1_real") or [],
        prediction.get("f1_synthetic") or [],
        prediction.get("columns") or [],
        title,
        "F1 (trained on real)",
    )


def primary_value(result: Mapping[str, Any], metric: str) -> float | None:
    """The primary metric (e.g. roc_auc, r2) of one scenario result, or None when it was not trained."""
    figures = result.get("figures") or {}
    estimate = figures.get(metric)
    value = estimate.get("value") if isinstance(estimate, Mapping) else estimate
    return float(value) if _finite(value) else None


def utility_plot(utility: Mapping[str, Any] | None) -> str | None:
    """Primary metric per model and scenario (TRTR, TSTR, TRTS, augmented) as grouped bars."""
    results = (utility or {}).get("results") or []
    metric = ((utility or {}).get("summary") or {}).get("metric") or "roc_auc"
    models = list(dict.fromkeys(result.get("model") for result in results))
    scenarios = [s for s in SCENARIO_COLOURS if any(r.get("scenario") == s for r in results)]
    if not models or not scenarios:
        return None
    values = {(r.get("model"), r.get("scenario")): primary_value(r, metric) for r in results}
    figure = new_figure(max(5.0, 1.6 * len(models) + 2.5), 3.8)
    axes = figure.add_subplot()
    width = 0.8 / len(scenarios)
    positions = np.arange(len(models))
    for index, scenario in enumerate(scenarios):
        heights = [values.get((model, scenario)) for model in models]
        axes.bar(
            positions + (index - (len(scenarios) - 1) / 2) * width,
            [np.nan if h is None else h for h in heights],
            width,
            label=SCENARIO_LABELS.get(scenario, scenario),
            color=SCENARIO_COLOURS.get(scenario),
        )
    axes.set_xticks(positions, [short(str(m).replace("_", " "), 20) for m in models])
    axes.set_ylabel(metric.replace("_", " ").upper() if metric == "roc_auc" else metric)
    if metric == "roc_auc":
        axes.set_ylim(0, 1.05)
        axes.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    axes.set_title("Model performance by training and test data", fontsize=10)
    return figure_uri(figure)


def confusion_matrices_plot(utility: Mapping[str, Any] | None, model: str | None) -> str | None:
    """TRTR and TSTR confusion matrices of `model` as small heatmaps with counts; None for regression."""
    results = (utility or {}).get("results") or []
    panels = []
    for scenario in ("trtr", "tstr"):
        for result in results:
            figures = result.get("figures") or {}
            if result.get("model") == model and result.get("scenario") == scenario and figures.get("confusion_matrix"):
                panels.append((scenario, figures))
    if not panels:
        return None
    size = min(4.0, 1.8 + 0.35 * len(panels[0][1]["confusion_matrix"]))
    figure = new_figure(size * len(panels) + 0.5, size)
    for index, (scenario, figures) in enumerate(panels, start=1):
        counts = np.array(figures["confusion_matrix"], dtype=float)
        labels = [short(label, 10) for label in figures.get("labels") or range(len(counts))]
        axes = figure.add_subplot(1, len(panels), index)
        axes.imshow(counts, cmap="Blues")
        ticks = np.arange(len(labels))
        axes.set_xticks(ticks, labels, fontsize=7)
        axes.set_yticks(ticks, labels, fontsize=7)
        axes.set_xlabel("predicted")
        axes.set_ylabel("actual")
        axes.set_title(SCENARIO_LABELS.get(scenario, scenario).split(" ")[0], fontsize=10)
        if counts.size <= 100:
            middle = counts.max() / 2 if counts.size else 0
            for (row, column), count in np.ndenumerate(counts):
                colour = "white" if count > middle else "black"
                axes.text(column, row, f"{count:.0f}", ha="center", va="center", fontsize=8, color=colour)
    figure.suptitle(f"Confusion matrices: {short(model, 30)}", fontsize=10)
    return figure_uri(figure)


def distance_to_closest_record_plot(distances: Mapping[str, Any] | None) -> str | None:
    """Histograms of each synthetic row's distance to its closest TRAIN and closest HOLDOUT row, and of each HOLDOUT
    row's distance to its closest TRAIN row, overlaid (as shares, the samples differ in size).

    Synthetic mass piled nearer TRAIN than HOLDOUT's own rows lie is what memorisation looks like.
    """
    histogram = (distances or {}).get("histogram") or {}
    edges = histogram.get("edges") or []
    if len(edges) < 2:
        return None
    figure = new_figure(5.5, 3.6)
    axes = figure.add_subplot()
    widths = [b - a for a, b in itertools.pairwise(edges)]
    for key, label, colour in (
        ("to_train", "synthetic to training rows", SYNTHETIC_COLOUR),
        ("to_holdout", "synthetic to holdout rows", REAL_COLOUR),
        ("holdout_to_train", "holdout to training rows (fresh real rows)", "0.45"),
    ):
        counts = np.asarray(histogram.get(key) or [], dtype=float)
        if len(counts) == len(widths) and counts.sum() > 0:
            axes.bar(
                edges[:-1], counts / counts.sum(), width=widths, align="edge", alpha=0.45, color=colour, label=label
            )
    axes.set_xlabel(f"distance to closest record ({distances.get('metric', 'distance')})")
    axes.set_ylabel("share of rows")
    axes.legend(fontsize=8)
    axes.set_title("Distance to closest record: mass near 0 for training rows suggests memorisation", fontsize=9)
    return figure_uri(figure)


def membership_roc_plot(attacks: Sequence[Mapping[str, Any]] | None) -> str | None:
    """ROC curve of each membership-inference attack against the chance diagonal, AUCs in the legend."""
    curves = []
    for attack in attacks or []:
        roc = attack.get("roc") or {}
        fpr, tpr = roc.get("fpr") or [], roc.get("tpr") or []
        if fpr and len(fpr) == len(tpr):
            auc = (attack.get("auc") or {}).get("value")
            label = str(attack.get("name", "attack")).replace("_", " ")
            curves.append((label + (f" (AUC {auc:.3f})" if _finite(auc) else ""), fpr, tpr))
    if not curves:
        return None
    figure = new_figure(4.8, 4.5)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance (AUC 0.5)")
    for label, fpr, tpr in curves:
        axes.plot(fpr, tpr, label=label)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false positive rate (holdout flagged as member)")
    axes.set_ylabel("true positive rate (train found)")
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title("Membership inference ROC", fontsize=10)
    return figure_uri(figure)


def monitor_curve_plot(monitor: Mapping[str, Any] | None) -> str | None:
    """Column fidelity and correlation difference of generated rows per monitored epoch, the kept epoch marked."""
    curve = [r for r in (monitor or {}).get("curve") or [] if _finite(r.get("epoch"))]
    if not curve:
        return None
    epochs = [r["epoch"] for r in curve]
    figure = new_figure(6.0, 3.6)
    axes = figure.add_subplot()
    for key, label, colour in (
        ("column_fidelity", "column fidelity (1 = same marginals)", REAL_COLOUR),
        ("correlation_difference", "correlation difference (0 = same)", SYNTHETIC_COLOUR),
    ):
        values = [r.get(key) if _finite(r.get(key)) else np.nan for r in curve]
        axes.plot(epochs, values, marker=".", color=colour, label=label)
    kept = (monitor or {}).get("kept_epoch")
    if _finite(kept):
        axes.axvline(kept, color="grey", linestyle="--", label=f"weights kept (epoch {kept})")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("epoch")
    axes.legend(fontsize=8)
    axes.set_title("Training monitor: generated rows against the training data", fontsize=10)
    return figure_uri(figure)
