"""Code matrices too big to hold dense: build, store, read back and train medGAN, with each step's peak memory.

For each size, the benchmark writes an event table (one row per diagnosis; 20,000 codes whose frequencies fall off
as 1/rank, about 10 per patient) as Parquet, then runs, each as its own process under /usr/bin/time (whose maximum
resident set size is that process's peak):

1. `synthmed ehr-matrix events.parquet --sparse --granularity full -o codes.parquet` (build and store);
2. medGAN's fit on codes.parquet through the Python API (read back, train): one pretraining epoch at batch 1,000 and,
   where `--gan-rows` allows, one GAN epoch at batch 1,000 (3 updates per iteration: 2 discriminator, 1 generator).

A dense float32 copy of the 1,000,000 x 20,000 matrix would need 80 GB. Usage:
    python benchmarks/sparse_matrix.py [--rows 100000,1000000] [--codes 20000] [--per-row 10] [--gan-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

SYNTHMED = [sys.executable, "-m", "synthmed"]
EVENT_BLOCK = 100_000  # patients written per Parquet row group


def write_events(path: Path, rows: int, codes: int, per_row: int, seed: int = 0) -> None:
    """`per_row` diagnoses per patient, codes drawn with probability proportional to 1 / (rank + 10)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(codes) + 10.0)
    cumulative = np.cumsum(weights / weights.sum())
    names = pa.array([f"{i:05d}" for i in range(codes)])
    with pq.ParquetWriter(path, pa.schema([("subject_id", pa.int64()), ("icd9_code", pa.string())])) as writer:
        for start in range(0, rows, EVENT_BLOCK):
            patients = np.arange(start, min(start + EVENT_BLOCK, rows), dtype=np.int64)
            drawn = np.minimum(np.searchsorted(cumulative, rng.random(len(patients) * per_row)), codes - 1)
            block = pa.table({"subject_id": np.repeat(patients, per_row), "icd9_code": names.take(drawn)})
            writer.write_table(block)


def measured(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak resident MiB, stdout) of one process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout


def fit_worker(codes: str, gan_epochs: int) -> None:
    """Read the sparse matrix and train medGAN; print each phase's updates and seconds as JSON."""
    import warnings

    from synthmed.data.sparse import read_sparse
    from synthmed.models import MedGAN

    warnings.simplefilter("ignore")
    started = time.perf_counter()
    matrix = read_sparse(codes)
    read_seconds = time.perf_counter() - started
    model = MedGAN(pretrain_epochs=1, pretrain_batch_size=1000, epochs=gan_epochs, batch_size=1000, seed=0)
    model.fit(matrix, progress=False)
    iterations = -(-len(matrix) // 1000)
    phases = {"pretrain": iterations, "gan": iterations * 3}
    figures = {"read_seconds": read_seconds, "nnz": int(matrix.values.nnz)}
    for phase, records in model.history_.items():
        figures[phase] = {"updates": phases[phase] * len(records), "seconds": sum(r["seconds"] for r in records)}
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--codes", type=int, default=20_000)
    parser.add_argument("--per-row", type=int, default=10)
    parser.add_argument("--gan-rows", type=int, default=100_000, help="train the GAN phase up to this many rows")
    parser.add_argument("--worker", nargs=2, metavar=("CODES", "GAN_EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fit_worker(args.worker[0], int(args.worker[1]))
        return
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for rows in map(int, args.rows.split(",")):
            events, codes = Path(scratch) / "events.parquet", Path(scratch) / "codes.parquet"
            write_events(events, rows, args.codes, args.per_row)
            build = measured(
                [*SYNTHMED, "ehr-matrix", str(events), "--sparse", "--granularity", "full", "-o", str(codes), "-q"]
            )
            gan_epochs = 1 if rows <= args.gan_rows else 0
            fit = measured([sys.executable, __file__, "--worker", str(codes), str(gan_epochs)])
            results.append((rows, events.stat().st_size, codes.stat().st_size, build, fit, json.loads(fit[2])))
            events.unlink()
            codes.unlink()
    show(results, args.codes)


def show(results: list, codes: int) -> None:
    table = Table(title=f"sparse code matrices: rows x {codes:,} codes, one process per step (2 CPU threads)")
    for heading in (
        "rows", "codes/row", "events MiB", "matrix MiB", "build s", "build peak MiB", "read s",
        "pretrain s/update", "GAN s/update", "fit peak MiB", "dense float32 GiB",
    ):  # fmt: skip
        table.add_column(heading)
    for rows, events_size, codes_size, build, fit, figures in results:
        per_update = {
            phase: f"{figures[phase]['seconds'] / figures[phase]['updates']:.3f} ({figures[phase]['updates']:,})"
            for phase in ("pretrain", "gan")
            if phase in figures and figures[phase]["updates"]
        }
        table.add_row(
            f"{rows:,}",
            f"{figures['nnz'] / rows:.2f}",
            f"{events_size / 2**20:.0f}",
            f"{codes_size / 2**20:.0f}",
            f"{build[0]:.1f}",
            f"{build[1]:.0f}",
            f"{figures['read_seconds']:.1f}",
            per_update.get("pretrain", "-"),
            per_update.get("gan", "-"),
            f"{fit[1]:.0f}",
            f"{rows * codes * 4 / 2**30:.1f}",
        )
    console = Console(width=200)
    console.print(table)
    console.print("s/update: seconds per update (updates timed in brackets); GAN: 2 discriminator + 1 generator each")


if __name__ == "__main__":
    main()
