"""The report's fidelity section for synthetic patient histories (`evaluate_histories`).

Utility and privacy read like the tabular report's (TSTR on one row per patient; copies, distances and attacks on
whole histories), so they reuse those sections; fidelity shows HALO's figures and the shape of histories, each beside
the real holdout's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from synthmed.report import html
from synthmed.report.privacy import privacy_section

# (figure key, what the row says), in the order the report lists them
FIGURES = (
    ("code_probability_r2", "R² of code probabilities per visit (1 = identical)"),
    ("cooccurrence_r2", "R² of within-visit co-occurrence probabilities"),
    ("consecutive_r2", "R² of consecutive-visit conditional probabilities"),
    ("visits_per_patient_tvd", "Visits per patient, total variation distance (0 = identical)"),
    ("visits_per_patient_mean", "Visits per patient, mean"),
    ("codes_per_visit_tvd", "Codes per visit, total variation distance (0 = identical)"),
    ("codes_per_visit_mean", "Codes per visit, mean"),
    ("gap_ks", "Gap between visits, Kolmogorov-Smirnov distance (0 = identical)"),
    ("gap_median_days", "Gap between visits, median days"),
)


def _fidelity(area: Mapping[str, Any]) -> str:
    synthetic, holdout = area.get("histories") or {}, area.get("holdout_histories") or {}
    rows = [
        (html.text(label), html.number(synthetic.get(key)), html.number(holdout.get(key)))
        for key, label in FIGURES
        if key in synthetic or key in holdout
    ]
    rows.append(
        (
            "Patient detection AUC, 95% CI (0.5 = indistinguishable)",
            html.estimate((area.get("detection") or {}).get("auc")),
            "",
        )
    )
    return html.table(("Figure", "Synthetic", "Real holdout (reference)"), rows)


def history_sections(tabular_utility: Callable[[Mapping[str, Any]], str]) -> dict[str, Callable[..., str]]:
    """The three sections of a histories report, given the tabular utility section (page.py owns it)."""
    return {"fidelity": _fidelity, "utility": tabular_utility, "privacy": privacy_section}
