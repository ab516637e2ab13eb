"""A self-contained HTML report rendered from an evaluation's plain dict (`Evaluation.to_dict()` / metrics.json)."""

from synthmed.report.page import render_report, write_report

__all__ = ["render_report", "write_report"]
