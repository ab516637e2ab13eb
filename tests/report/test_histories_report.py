"""A histories evaluation gets its own fidelity section: HALO's figures and the shape of histories beside the real
holdout's, and the patient detection AUC."""

from __future__ import annotations

from synthmed.report import render_report


def test_histories_report_lists_the_history_figures_beside_the_holdout() -> None:
    evaluation = {
        "about": {"data": "histories", "rows": {"train": 10, "holdout": 10, "synthetic": 10}},
        "fidelity": {
            "verdict": "pass",
            "checks": [],
            "histories": {"cooccurrence_r2": 0.8765, "visits_per_patient_tvd": 0.0321},
            "holdout_histories": {"cooccurrence_r2": 0.9123, "visits_per_patient_tvd": 0.0111},
            "detection": {"auc": {"value": 0.61, "low": 0.55, "high": 0.67}},
        },
        "utility": {"verdict": "inconclusive", "checks": []},
        "privacy": {"verdict": "pass", "checks": []},
    }
    page = render_report(evaluation)
    assert "within-visit co-occurrence" in page and "0.876" in page and "0.912" in page
    assert "Visits per patient, total variation distance" in page and "0.032" in page
    assert "Patient detection AUC" in page
    assert "Mean column similarity" not in page  # not the tables' section
