"""How fast the CLI answers when it has no work to do: `synthmed --help`, `synthmed models`, an argument error.

Each command runs as a fresh process, 7 times; the table gives the median and the slowest, in seconds.

    .venv/bin/python benchmarks/cli_startup.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7
COMMANDS = {
    "synthmed --help": ["--help"],
    "synthmed models": ["models"],
    "synthmed fit (missing arguments)": ["fit"],
    "synthmed fit --help": ["fit", "--help"],
}


def main() -> None:
    executable = shutil.which("synthmed", path=str(Path(sys.executable).parent)) or "synthmed"
    print(f"{'command':<36} {'median s':>9} {'slowest s':>10}")
    for label, arguments in COMMANDS.items():
        seconds = []
        for _ in range(RUNS):
            started = time.perf_counter()
            subprocess.run([executable, *arguments], capture_output=True, check=False)
            seconds.append(time.perf_counter() - started)
        print(f"{label:<36} {statistics.median(seconds):>9.2f} {max(seconds):>10.2f}")


if __name__ == "__main__":
    main()
