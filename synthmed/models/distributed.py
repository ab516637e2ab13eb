"""Training on several processes with PyTorch's distributed engine: `torchrun --nproc_per_node N -m synthmed fit ...`.

torchrun starts N processes (ranks) and tells each its rank and the world size through the environment. Every rank
reads the whole table and learns the same transform; it then trains on its own shard of the rows (an equal share,
drawn by the seed), and after every backward pass the gradients are averaged over the ranks before the optimizer
steps, so the ranks take the same steps on a batch N times larger. Weights start equal (the same seed builds them);
the first step of each optimizer also copies rank 0's weights to the others, for what a model sets from its shard
before training (column frequencies). Batch-norm layers normalise by the statistics of the global batch, every
rank's rows together (`SyncedBatchNorm`). At the end every network's state is copied from rank 0, which alone writes
the generator, and the process group is closed. The backend is gloo on CPU and NCCL on GPU.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from scipy import sparse
from torch import nn
from torch.distributed import _functional_collectives as collectives  # torch's own advice for differentiable ones

Rows = TypeVar("Rows", np.ndarray, sparse.csr_array)
# seconds a rank waits for the others before the run fails (a crashed rank must not hang the rest forever)
TIMEOUT_SECONDS = int(os.environ.get("SYNTHMED_DISTRIBUTED_TIMEOUT", "300"))


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0


_active: Ranks | None = None
_synchronised: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()


def launched() -> Ranks | None:
    """The ranks torchrun launched this process among, or None for a plain single-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Ranks(int(os.environ.get("RANK", "0")), world) if world > 1 else None


def writes_outputs() -> bool:
    ranks = launched()
    return ranks is None or ranks.writes


def start(device: torch.device) -> Ranks | None:
    """Join the process group when launched by torchrun (gloo on CPU, NCCL on GPU); None otherwise."""
    global _active
    ranks = launched()
    if ranks is None:
        return None
    if device.type == "cuda":  # each rank on its own GPU of the node
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=TIMEOUT_SECONDS))
    _active = ranks
    return ranks


@contextmanager
def training(ranks: Ranks | None, networks: dict[str, nn.Module]) -> Iterator[None]:
    """Train among `ranks` (nothing changes without them); on success every rank ends with rank 0's networks."""
    global _active
    if ranks is None:
        yield
        return
    for network in networks.values():
        synchronise_batch_norms(network)
    try:
        yield
        share_rank_zero(networks)
    finally:
        _active = None
        _synchronised.clear()
        if dist.is_initialized():  # left open, gloo's threads abort the process when it exits
            dist.barrier()
            dist.destroy_process_group()


class SyncedBatchNorm(nn.BatchNorm1d):
    """Batch norm whose training statistics are those of the global batch: each rank's sums and sums of squares are
    added over the ranks (a differentiable all-reduce, so gradients flow through the shared statistics too).

    PyTorch's own SyncBatchNorm refuses CPU tensors, and gloo trains on CPU; this one runs on both. Outside a
    distributed run (one process, eval mode) it is the plain batch norm it replaced, with the same saved state.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        channels = input.size(1)
        reduced = [d for d in range(input.dim()) if d != 1]
        count = torch.full((1,), input.numel() // channels, dtype=input.dtype, device=input.device)
        local = torch.cat([input.sum(reduced), input.square().sum(reduced), count])
        sums = collectives.wait_tensor(collectives.all_reduce(local, "sum", dist.group.WORLD))
        total = sums[-1]
        mean = sums[:channels] / total
        variance = (sums[channels : 2 * channels] / total - mean.square()).clamp_min(0.0)
        if self.track_running_stats:
            self._track(mean.detach(), variance.detach() * total / (total - 1).clamp_min(1.0))
        shape = (1, channels) + (1,) * (input.dim() - 2)
        normalised = (input - mean.view(shape)) * torch.rsqrt(variance.view(shape) + self.eps)
        if self.affine:
            normalised = normalised * self.weight.view(shape) + self.bias.view(shape)
        return normalised

    def _track(self, mean: torch.Tensor, unbiased_variance: torch.Tensor) -> None:
        """Update the running averages as batch norm does (cumulative when `momentum` is None)."""
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(unbiased_variance, factor)


def synchronise_batch_norms(network: nn.Module) -> None:
    """Replace every BatchNorm1d inside `network` by a `SyncedBatchNorm` holding the same weights and statistics."""
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.BatchNorm1d:
                synced = SyncedBatchNorm(
                    child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
                ).to(next(itertools.chain(child.parameters(), child.buffers()), torch.empty(0)).device)
                synced.load_state_dict(child.state_dict())
                parent.add_module(name, synced)


def shard(matrix: Rows, ranks: Ranks, seed: int) -> Rows:
    """This rank's rows (of a dense or sparse matrix): an equal share of a seeded permutation (a remainder of fewer
    than `world` rows is left out, so every rank takes the same number of steps)."""
    share = matrix.shape[0] // ranks.world
    order = np.random.default_rng(seed).permutation(matrix.shape[0])
    return matrix[np.sort(order[ranks.rank * share : (ranks.rank + 1) * share])]


def rank_seed(seed: int, ranks: Ranks | None) -> int:
    """The seed of this rank's noise and batch order: the model's own on rank 0 (and in a single process)."""
    if ranks is None or ranks.rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, ranks.rank]).generate_state(1)[0])


def _parameters(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Average the optimizer's gradients over the ranks (and align its weights on its first step)."""
    if _active is None:
        return
    if optimizer not in _synchronised:
        for parameter in _parameters(optimizer):
            dist.broadcast(parameter.data, src=0)
        _synchronised.add(optimizer)
    for parameter in _parameters(optimizer):
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= _active.world


def share_rank_zero(networks: dict[str, nn.Module]) -> None:
    """Copy rank 0's weights and buffers to every rank."""
    if _active is None:
        return
    for network in networks.values():
        for tensor in [*network.parameters(), *network.buffers()]:
            dist.broadcast(tensor.data, src=0)
