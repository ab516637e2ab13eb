"""Shared fixtures: where ../shared lives, and a skip with a reason when it does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


def shared_file(*parts: str) -> Path:
    """Path of a file under ../shared/data, or skip the test saying why."""
    path = SHARED_DIR.joinpath("data", *parts)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is provided on developer machines and in CI, not in a bare clone)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The suite's networks are tiny: one thread trains them fastest, and several fight for a busy CPU (10x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL server's URL (tests/postgres.py), or a skip naming what to install."""
    from tests.postgres import postgres_server, server_binaries

    if server_binaries() is None:
        pytest.skip("needs PostgreSQL's server binaries (apt-get install postgresql; .ci/run installs them)")
    with postgres_server() as url:
        yield url
