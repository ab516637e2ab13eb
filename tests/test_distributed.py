"""`torchrun --nproc_per_node 2 -m synthmed fit ...`: two CPU processes (gloo) train one generator, rank 0 writes it."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import synthmed
from synthmed.errors import ConfigError
from synthmed.models import VAE
from synthmed.models.distributed import Ranks, rank_seed, shard
from tests.test_cli_histories import HISTORY, TINY, events
from tests.workflows.test_release import patients

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
FIT = ["-m", "synthmed", "fit"]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "patients.csv"
    patients(0, 300).to_csv(path, index=False)
    return path


def _torchrun(*args: str | Path, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    command = [*TORCHRUN, *FIT, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def test_two_ranks_train_one_generator_that_loads_and_samples(table: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.smg", tmp_path / "b.smg"
    options = ["--model", "tabgan", "--epochs", "2", "--batch-size", "50", "--seed", "0", "-q"]
    for output in (first, second):
        done = _torchrun(table, "-o", output, *options)
        assert done.returncode == 0, done.stderr[-2000:]
    model = synthmed.load(first)
    synthetic = model.sample(40, seed=1)
    assert list(synthetic.columns) == list(patients(0, 1).columns) and len(synthetic) == 40
    assert model.n_rows_ == 300  # every rank read the whole table
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in (first, second)]
    assert digest[0] == digest[1]  # the seed fixes the result for a given world size
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.smg", "b.smg"]  # rank 1 wrote nothing


def test_two_ranks_train_one_history_generator_on_shards_of_patients(tmp_path: Path) -> None:
    csv = tmp_path / "events.csv"
    events(0, patients=120).to_csv(csv, index=False)
    first, second = tmp_path / "a.smg", tmp_path / "b.smg"
    for output in (first, second):
        done = _torchrun(csv, "-o", output, "--model", "visitgpt", *TINY, *HISTORY, "--min-patients", "1", "-q")
        assert done.returncode == 0, done.stderr[-2000:]
    assert first.read_bytes() == second.read_bytes()  # the seed fixes the result for a given world size
    model = synthmed.load(first)
    assert model.n_rows_ == 120  # every rank read every patient; each trained on its half
    synthetic = model.sample(15, seed=1)
    assert synthetic["patient"].nunique() == 15
    assert set(synthetic.columns) == set(events(0, patients=1).columns) - {"row_id"}


def _workers(parent: int) -> list[int]:
    """The python processes torchrun's agent started (its children's children included)."""
    found, queue = [], [parent]
    while queue:
        pid = queue.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        found += [int(child) for child in children]
        queue += [int(child) for child in children]
    return found


def test_a_killed_rank_fails_the_run_instead_of_hanging(table: Path, tmp_path: Path) -> None:
    command = [*TORCHRUN, *FIT, str(table), "-o", str(tmp_path / "m.smg"), "--model", "tabgan", "--epochs", "3000"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_workers(run.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(8)  # the ranks are training
        os.kill(_workers(run.pid)[-1], signal.SIGKILL)
        assert run.wait(timeout=120) != 0
    finally:
        run.kill()
    assert not (tmp_path / "m.smg").exists()


def test_what_torchrun_cannot_run_yet_is_refused_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ConfigError, match="under torchrun: differentially private training"):
        VAE(epochs=1).fit(patients(0, 100), progress=False, dp_epsilon=1.0)
    with pytest.raises(ConfigError, match="under torchrun: checkpoints"):
        VAE(epochs=1).fit(patients(0, 100), progress=False, checkpoint="nowhere")


def test_shards_are_equal_disjoint_and_seeded() -> None:
    rows = np.arange(101)[:, None]
    shards = [shard(rows, Ranks(rank, 3), seed=5) for rank in range(3)]
    assert [len(part) for part in shards] == [33, 33, 33]
    assert len(np.unique(np.concatenate(shards))) == 99
    assert np.array_equal(shards[1], shard(rows, Ranks(1, 3), seed=5))
    assert rank_seed(7, None) == rank_seed(7, Ranks(0, 2)) == 7 != rank_seed(7, Ranks(1, 2))
