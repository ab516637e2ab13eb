"""The CLI's help, model list and argument errors load no heavy library (torch, scikit-learn, pandas ...).

Their speed is measured in benchmarks/cli_startup.py; this test guards the reason they are fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "scipy", "pandas", "numpy", "matplotlib", "opacus", "pyarrow")
PROBE = f"""
import json, sys
from typer.testing import CliRunner
from synthmed.cli import app
runner = CliRunner()
codes = [runner.invoke(app, args).exit_code for args in (["--help"], ["models"], ["fit"], ["fit", "--help"])]
print(json.dumps({{"codes": codes, "loaded": [name for name in {HEAVY!r} if name in sys.modules]}}))
"""


def test_help_models_and_argument_errors_load_no_heavy_library() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["codes"] == [0, 0, 2, 0]  # `fit` without its arguments is a usage error
    assert outcome["loaded"] == []


def test_importing_synthmed_loads_no_heavy_library_until_a_name_is_used() -> None:
    probe = (
        "import sys, synthmed; before = 'torch' in sys.modules; synthmed.MedGAN; "
        "print(before, 'torch' in sys.modules, synthmed.__version__)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, after, version = result.stdout.split()
    assert (before, after) == ("False", "True") and version.count(".") == 2


@pytest.mark.parametrize(("chosen", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_cli_lets_openmp_threads_sleep_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch, chosen: str | None, expected: str
) -> None:
    """Spinning OpenMP threads slowed a fit 3.1x beside another (benchmarks/shared_cpu.py); PASSIVE 1.1x."""
    from synthmed import cli

    if chosen is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", chosen)
    monkeypatch.setattr(sys, "argv", ["synthmed", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    assert os.environ["OMP_WAIT_POLICY"] == expected
