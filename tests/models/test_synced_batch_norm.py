"""Batch norm under torchrun: two ranks holding half a batch each normalise as one process holding all of it."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from synthmed.models.distributed import SyncedBatchNorm, synchronise_batch_norms


def _network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, momentum=0.1), nn.ReLU(), nn.Linear(4, 1))


def _batch() -> torch.Tensor:
    return torch.randn(12, 5, generator=torch.Generator().manual_seed(1)) * 3 + 1


def _step(network: nn.Module, rows: torch.Tensor) -> list[torch.Tensor]:
    """Output, then every gradient (summed loss, so halves add up to the whole) and the running statistics."""
    out = network(rows)
    out.square().sum().backward()
    norm = network[1]
    return [out.detach(), *(p.grad for p in network.parameters()), norm.running_mean, norm.running_var]


def _rank(rank: int, store: str, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    network = _network()
    synchronise_batch_norms(network)
    assert isinstance(network[1], SyncedBatchNorm)
    figures = _step(network, _batch()[rank * 6 : (rank + 1) * 6])
    for parameter in network.parameters():  # gradients summed over the ranks: the whole batch's
        dist.all_reduce(parameter.grad)
    tensors = [*figures[:1], *(p.grad for p in network.parameters()), *figures[-2:]]
    results[rank] = [t.detach().numpy().copy() for t in tensors]  # numpy: the manager pickles it
    dist.destroy_process_group()


def test_two_ranks_normalise_with_the_statistics_of_the_whole_batch(tmp_path: Path) -> None:
    whole = _step(_network(), _batch())
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(str(tmp_path / "store"), results), nprocs=2, join=True)
    halves = [[torch.from_numpy(a) for a in results[rank]] for rank in (0, 1)]
    assert torch.allclose(torch.cat([halves[0][0], halves[1][0]]), whole[0], atol=1e-5)  # outputs
    for rank in (0, 1):
        for got, expected in zip(halves[rank][1:], whole[1:], strict=True):  # gradients, running statistics
            assert torch.allclose(got, expected, atol=1e-4), (got, expected)


def test_outside_a_distributed_run_it_is_the_batch_norm_it_replaced() -> None:
    plain, synced = _network(), _network()
    synchronise_batch_norms(synced)
    for a, b in zip(_step(plain, _batch()), _step(synced, _batch()), strict=True):
        assert torch.equal(a, b)
    assert synced.state_dict().keys() == plain.state_dict().keys()
