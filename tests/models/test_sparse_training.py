"""medGAN on a sparse code matrix: the same generator as on its dense table, with batches densified on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from synthmed.data.sparse import SparseCodeMatrix, write_sparse
from synthmed.errors import ConfigError
from synthmed.models import MedGAN, TabGAN
from synthmed.models.base import Synthesizer
from synthmed.models.distributed import Ranks, shard
from synthmed.models.sparse_rows import SparseRows

TINY = {"epochs": 2, "pretrain_epochs": 2, "batch_size": 32, "pretrain_batch_size": 16, "seed": 3}


def _codes(counts: bool = False, rows: int = 120, width: int = 24) -> SparseCodeMatrix:
    rng = np.random.default_rng(0)
    events = rows * 4
    # a few common codes and a tail, as in diagnoses
    columns = np.minimum(rng.geometric(0.15, events) - 1, width - 1)
    return SparseCodeMatrix.from_cells(
        rng.integers(0, rows, events),
        columns,
        (rows, width),
        [f"{i:03d}" for i in range(width)],
        counts=counts,
        ids=np.arange(rows).astype(str),
        id_name="subject_id",
    )


@pytest.mark.parametrize(("counts", "options"), [(False, {}), (True, {}), (False, {"binary_rounding": "calibrated"})])
def test_medgan_learns_the_same_generator_from_the_sparse_and_the_dense_matrix(counts: bool, options: dict) -> None:
    codes = _codes(counts)
    kept = MedGAN(**TINY, **options).fit(codes, progress=False)
    dense = MedGAN(**TINY, **options).fit(codes.to_frame(), progress=False)
    generated, expected = kept.sample(300, seed=5), dense.sample(300, seed=5)
    assert isinstance(generated, SparseCodeMatrix) and generated.counts == counts
    assert generated.codes == tuple(expected.columns)
    assert (generated.values.toarray() == expected.to_numpy()).all()


def test_a_saved_sparse_generator_samples_the_same_rows_in_blocks(tmp_path: Path, monkeypatch) -> None:
    path = write_sparse(_codes(), tmp_path / "codes.parquet")
    model = MedGAN(**TINY).fit(path, progress=False)
    loaded = Synthesizer.load(model.save(tmp_path / "g.smg"))
    assert loaded.input_format_ == "sparse"
    whole = loaded.sample(50, seed=1)
    monkeypatch.setattr("synthmed.models.base.SPARSE_SAMPLE_VALUES", 24 * 7)  # 7 rows generated at a time
    assert (loaded.sample(50, seed=1).values != whole.values).nnz == 0
    assert (model.sample(50, seed=1).values != whole.values).nnz == 0


def test_a_model_without_sparse_batches_trains_on_the_dense_table(tmp_path: Path) -> None:
    path = write_sparse(_codes(), tmp_path / "codes.parquet")
    synthetic = TabGAN(epochs=1, seed=0).fit(path, progress=False).sample(10)
    assert list(synthetic.columns) == list(_codes().codes)  # the id column is an identifier, not modelled


@pytest.mark.parametrize(
    ("fit", "sample", "message"),
    [
        ({"monitor_every": 1}, {}, "the training monitor scores dense tables"),
        ({"dp_epsilon": 5.0}, {}, "differentially private training reads declared domains"),
        ({}, {"conditions": {"000": 1}}, "samples without conditions"),
    ],
)
def test_what_a_sparse_fit_cannot_do_is_refused(fit: dict, sample: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MedGAN(**TINY).fit(_codes(), progress=False, **fit).sample(5, **sample)


def test_a_binary_medgan_refuses_a_count_matrix() -> None:
    with pytest.raises(ConfigError, match="holds counts"):
        MedGAN(**TINY, data_type="binary").fit(_codes(counts=True), progress=False)


def test_ranks_take_the_same_rows_of_a_sparse_and_a_dense_matrix() -> None:
    codes = _codes()
    for rank in (0, 1, 2):
        ranks = Ranks(rank=rank, world=3)
        assert (shard(codes.values, ranks, 7).toarray() == shard(codes.values.toarray(), ranks, 7)).all()


@settings(max_examples=50, deadline=None)
@given(
    density=st.floats(0.0, 0.6),
    rows=st.integers(1, 30),
    picked=st.lists(st.integers(0, 10_000), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_densified_batches_equal_the_dense_rows(density: float, rows: int, picked: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = ((rng.random((rows, 9)) < density) * rng.random((rows, 9))).astype(np.float32)
    on_device = SparseRows(sparse.csr_array(dense), torch.device("cpu"))
    index = torch.tensor([i % rows for i in picked])
    assert torch.equal(on_device[index], torch.from_numpy(dense[index.numpy()]))
    assert torch.allclose(on_device.mean(0), torch.from_numpy(dense.mean(0)), atol=1e-6)
    assert torch.allclose(on_device.var(0), torch.from_numpy(dense.var(0)), atol=1e-6)
