"""What every study shares: where the shared data lives, where results go, the printed table and the study page.

A study prints one table (figure | published | bar | synthmed | met?) and writes `study.html` beside synthmed's own
evaluation report(s), so the comparison with the paper and the full evaluation can be read side by side offline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from synthmed.models.presets import PRESETS
from synthmed.report.page import STYLE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
OUTPUT = ROOT / "studies-output"
# synthmed's extensions, as the named presets users ask for (synthmed/models/presets.py): medGAN's against mode
# collapse, corGAN's frequency-started decoder and quantile scaling, tsgan's DCGAN Adam. Their budgets are the
# studies' own, set by each study.
MEDGAN_EXTENSIONS = dict(PRESETS["medgan-extended"].settings)
CORGAN_EXTENSIONS = dict(PRESETS["corgan-extended"].settings)
TSGAN_EXTENSIONS = dict(PRESETS["tsgan-adam"].settings)


def shared_data(*parts: str) -> Path:
    """A file or folder under ../shared/data, or a clear exit when this machine does not have it."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"{path} is missing: the studies need the project's shared data beside the project root")
    return path


def output_folder(study: str, chosen: Path | None = None) -> Path:
    folder = chosen or OUTPUT / study
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def synthmed_cli(*arguments: object) -> str:
    """Run the synthmed CLI of this interpreter's environment (what a user types), returning its output."""
    done = subprocess.run(
        [sys.executable, "-m", "synthmed", *map(str, arguments)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"synthmed {' '.join(map(str, arguments))} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def nhds_discharges() -> Path:
    """NHDS 2010 read through the shipped layout with `synthmed convert`, once for every study that reads it (cached
    in studies-output/nhds-2010/, whatever --output a study was given)."""
    discharges = output_folder("nhds-2010") / "discharges.parquet"
    if not discharges.exists():
        layout = ROOT / "examples" / "nhds-2010.layout.yaml"
        print(
            synthmed_cli("convert", shared_data("nhds-2010", "NHDS10.PU.txt.bz2"), "--layout", layout, "-o", discharges)
        )
    return discharges


def halves(table: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TRAIN and HOLDOUT: a random half of the rows each (seeded), as every bar in the studies is measured."""
    order = np.random.default_rng(seed).permutation(len(table))
    half = len(table) // 2
    return table.iloc[order[:half]].reset_index(drop=True), table.iloc[order[half:]].reset_index(drop=True)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Seconds spent in the block, in the one-element list it yields (read it after the block)."""
    elapsed = [0.0]
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - started


@dataclass(frozen=True)
class Comparison:
    """One row of a study's table: a published figure, the bar to beat, synthmed's figure and whether it met it."""

    figure: str
    published: str
    bar: str
    synthmed: str
    met: bool | None = None

    def cells(self) -> tuple[str, str, str, str, str]:
        verdict = "-" if self.met is None else ("yes" if self.met else "NO")
        return self.figure, self.published, self.bar, self.synthmed, verdict


HEADERS = ("figure", "published", "bar", "synthmed", "met")


Row = Comparison | Sequence[str]


def _cells(row: Row) -> Sequence[str]:
    return row.cells() if isinstance(row, Comparison) else row


def print_table(title: str, rows: Sequence[Row], headers: Sequence[str] = HEADERS) -> None:
    table = Table(title=title)
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*_cells(row))
    Console(width=160).print(table)


def write_study_page(
    path: Path,
    title: str,
    intro: str,
    rows: Sequence[Row],
    figures: Sequence[tuple[str | None, str]] = (),
    reports: Sequence[str] = (),
    headers: Sequence[str] = HEADERS,
) -> Path:
    """The study's own page: the comparison table, its figures (PNG data URIs) and the evaluation reports' names."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in _cells(row)) + "</tr>" for row in rows)
    images = "".join(
        f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
        for uri, caption in figures
        if uri
    )
    listed = "".join(f"<li>{escape(name)}</li>" for name in reports)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><p class="muted">{escape(intro)}</p>'
        f"<section><h2>Published figures and synthmed's</h2><table><tr>{head}</tr>{body}</table></section>"
        f"<section><h2>Figures</h2>{images}</section>"
        + (
            f"<section><h2>synthmed's evaluation reports (same folder)</h2><ul>{listed}</ul></section>"
            if listed
            else ""
        )
        + "</main></body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path
