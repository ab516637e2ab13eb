"""Sampling of any size: `synthmed sample -n N -o out.parquet` for growing N, its peak memory and rows per second.

A tabgan generator is fitted briefly on the embedded breast-cancer table (30 measurements and a diagnosis); each
`sample` then runs as its own process under /usr/bin/time, whose maximum resident set size is that run's peak.
Usage: python benchmarks/sampling_memory.py [--rows 100000,1000000,10000000] [--model tabgan]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer

SYNTHMED = [sys.executable, "-m", "synthmed"]


def peak_run(command: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one process."""
    started = time.perf_counter()
    finished = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    return seconds, int(finished.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000,10000000")
    parser.add_argument("--model", default="tabgan")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        load_breast_cancer(as_frame=True).frame.to_csv(folder / "table.csv", index=False)
        model = folder / "model.smg"
        subprocess.run(
            [*SYNTHMED, "fit", folder / "table.csv", "-o", model, "--model", args.model, "--epochs", "5", "-q"],
            check=True,
        )
        for rows in map(int, args.rows.split(",")):
            output = folder / f"synthetic-{rows}.parquet"
            seconds, peak = peak_run([*SYNTHMED, "sample", str(model), "-n", str(rows), "-o", str(output), "-q"])
            results.append((rows, seconds, peak, output.stat().st_size / 2**20))
            output.unlink()
    table = Table(title=f"synthmed sample -n N -o out.parquet ({args.model}, 31 columns), one process each")
    for heading in ("rows", "seconds", "rows/s", "peak MiB", "file MiB"):
        table.add_column(heading)
    for rows, seconds, peak, size in results:
        table.add_row(f"{rows:,}", f"{seconds:.1f}", f"{rows / seconds:,.0f}", f"{peak:.0f}", f"{size:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
