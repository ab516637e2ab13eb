"""A fit on a shared machine: tabgan on Cleveland alone, and while a second synthmed fit trains beside it.

Each configuration (OpenMP wait policy x torch threads) times one `synthmed fit` alone, then again while a competing
`synthmed fit` (same configuration, more epochs) runs; wall and CPU seconds come from /usr/bin/time. OpenMP threads
that wait by spinning (libgomp's default when the variable is unset: spin a while, then sleep) burn the cores the
other process needs; PASSIVE threads sleep at once. Run it on an otherwise idle machine.
Usage: python benchmarks/shared_cpu.py [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "heart-cleveland" / "processed.cleveland.csv"
CONFIGURATIONS = [("unset", None), ("unset", 1), ("PASSIVE", None), ("PASSIVE", 1)]


def fit_command(data: Path, output: Path, epochs: int, threads: int | None) -> list[str]:
    command = [sys.executable, "-m", "synthmed", "fit", str(data), "-o", str(output), "--model", "tabgan"]
    command += ["--epochs", str(epochs), "--seed", "0", "--overwrite", "-q"]
    return command + (["--threads", str(threads)] if threads else [])


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S", *command], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    user, system = map(float, done.stderr.strip().splitlines()[-1].split())
    return time.perf_counter() - started, user + system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for policy, threads in CONFIGURATIONS:
            env = {name: value for name, value in os.environ.items() if name != "OMP_WAIT_POLICY"}
            if policy != "unset":
                env["OMP_WAIT_POLICY"] = policy
            alone = timed(fit_command(SHARED, folder / "a.smg", args.epochs, threads), env)
            rival_command = fit_command(SHARED, folder / "b.smg", args.epochs * 20, threads)
            rival = subprocess.Popen(rival_command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(3)  # the rival is training when the measured fit starts
                shared = timed(fit_command(SHARED, folder / "a.smg", args.epochs, threads), env)
            finally:
                rival.kill()
                rival.wait()
            rows.append((policy, threads or 2, *alone, *shared))
    table = Table(title=f"synthmed fit Cleveland --model tabgan --epochs {args.epochs}: alone and beside a rival fit")
    for heading in ("OMP_WAIT_POLICY", "threads", "alone s", "alone CPU s", "shared s", "shared CPU s", "slowdown"):
        table.add_column(heading)
    for policy, threads, wall, cpu, shared_wall, shared_cpu in rows:
        table.add_row(
            policy,
            str(threads),
            f"{wall:.1f}",
            f"{cpu:.1f}",
            f"{shared_wall:.1f}",
            f"{shared_cpu:.1f}",
            f"{shared_wall / wall:.1f}x",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
