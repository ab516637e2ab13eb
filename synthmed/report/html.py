"""HTML pieces every report section is built from: escaped text, formatted figures, tables, badges, images."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from synthmed.report import plots

VERDICTS = ("pass", "warn", "fail", "inconclusive")


def text(value: Any) -> str:
    return escape(str(value), quote=True)


def number(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else text(value)
    return f"{value:.{digits}f}"


def percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def estimate(estimate: Any, formatter: Any = number) -> str:
    """The text "value [low, high]" for an {value, ci_low, ci_high} dict; plain formatting for a bare number."""
    if not isinstance(estimate, Mapping):
        return formatter(estimate)
    text = formatter(estimate.get("value"))
    if estimate.get("ci_low") is not None and estimate.get("ci_high") is not None:
        text += f" [{formatter(estimate['ci_low'])}, {formatter(estimate['ci_high'])}]"
    return text


def badge(verdict: Any) -> str:
    word = str(verdict) if verdict in VERDICTS else "inconclusive"
    return f'<span class="badge {word}">{text(word)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """A table whose header text is escaped here; cells arrive already escaped/formatted."""
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(uri: str | None, caption: str) -> str:
    if uri is None or not uri.startswith(plots.PNG_PREFIX):
        return ""
    return f'<figure><img src="{uri}" alt="{text(caption)}"><figcaption>{text(caption)}</figcaption></figure>'
