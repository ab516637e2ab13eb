"""The epoch loop every model trains through: progress bar, per-epoch history, seeded randomness."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from synthmed.errors import ConfigError
from synthmed.models.checkpoint import Checkpointer, Resume, Stateful
from synthmed.models.distributed import average_gradients
from synthmed.models.monitor import CURVE_KEY, BestWeights, TrainingMonitor

KEPT_SUFFIX = "_kept"  # history key of the epoch a phase chosen by `LowestLoss` kept: "<phase>_kept"


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run with `count` torch CPU threads (None leaves torch's count, one per core), then restore the previous one.

    A matrix product split over another number of threads adds its terms in another order, and training amplifies
    the difference: medGAN and corGAN fitted with 1 and with 2 threads on the same data and seed generate different
    records. So a result reproduces only with the same count, which `fit` records (`threads` in model.json).
    """
    if count is None:
        yield
        return
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError("the number of CPU threads must be a positive integer", values=[count], remedy="e.g. 2")
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def descend(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """One optimizer step on `loss` (its gradients averaged over the ranks of a distributed run: distributed.py)."""
    loss.backward()
    average_gradients(optimizer)
    optimizer.step()


@contextmanager
def flushing_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero while training, then restore torch's default (keep them).

    Values below 1e-38 (a rare code's vanishing gradients, Adam's decaying second moments) take a slow
    microcode path on x86 CPUs, which can stall a medGAN fit many times over (measured: benchmarks/studies/
    README.md, study 1). Such values are too small to change any weight.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@dataclass(frozen=True)
class LowestLoss:
    """Choose a phase's weights by a loss on rows it does not train on: the model logs `metric` every epoch; the
    weights of the epoch where it was lowest are kept, and the phase stops once `patience` epochs have passed
    without a new lowest (None: it runs every epoch)."""

    metric: str
    patience: int | None = None


@dataclass
class TrainingRun:
    """Shared state of one `fit`: random streams, the device, the metrics logged per epoch, checkpoints.

    Randomness lives in explicit generators (numpy for batch indices, torch for noise), never in global
    state, so the same data and seed give the same weights, and a resumed run continues bit for bit.
    """

    seed: int
    device: torch.device
    show_progress: bool = True
    checkpointer: Checkpointer | None = None
    resume: Resume | None = None
    monitor: TrainingMonitor | None = None
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.noise = torch.Generator().manual_seed(self.seed)
        self._pending: dict[str, float] = {}
        self._completed: list[str] = []

    def normal(self, rows: int, columns: int) -> torch.Tensor:
        """Standard normal noise, drawn on the CPU so results do not depend on the device."""
        return torch.randn(rows, columns, generator=self.noise).to(self.device)

    def log(self, **metrics: float) -> None:
        """Record this epoch's figures (losses); shown on the bar and kept in the artifact."""
        self._pending.update({name: float(value) for name, value in metrics.items()})

    def _select(self, phase: str, select: LowestLoss, records: list[dict[str, float]], lowest: BestWeights) -> int:
        """Keep this epoch's weights when its loss is the lowest yet; return the epochs since the lowest."""
        losses = np.array([record[select.metric] for record in records])
        kept = int(np.argmin(np.where(np.isnan(losses), np.inf, losses)))  # the first of equal losses
        if kept == len(records) - 1:
            lowest.keep()
            self.history[phase + KEPT_SUFFIX] = [{"epoch": kept + 1, select.metric: float(losses[kept])}]
        return len(records) - 1 - kept

    def _start_epoch(self, phase: str, state: Mapping[str, Stateful]) -> int | None:
        """Where this phase starts: 0, the checkpointed epoch, or None when a checkpoint shows it done."""
        if self.resume is None:
            return 0
        bookkeeping, tensors = self.resume
        if phase in bookkeeping["completed"]:
            return None
        Checkpointer.restore(bookkeeping, tensors, state, self.rng, self.noise)
        self.history = bookkeeping["history"]
        self._completed = list(bookkeeping["completed"])
        self.resume = None
        return int(bookkeeping["epoch"])

    def epochs(
        self,
        phase: str,
        count: int,
        rows_per_epoch: int,
        state: Mapping[str, Stateful],
        monitor: bool = False,
        select: LowestLoss | None = None,
    ) -> Iterator[int]:
        """Yield epoch numbers for one training phase while drawing its progress bar.

        `state` names everything the phase changes (networks, optimizers), for checkpoints. `monitor=True`
        marks the phase that trains the generator: when `fit` was given `monitor_every`, generated rows are
        scored there (see monitor.py), and with `keep_best` the best-scoring weights are restored at its end.
        `select` keeps the weights of the epoch with the lowest held-out loss instead, and may end the phase early.
        """
        watch = self.monitor if monitor else None
        networks = {name: obj for name, obj in state.items() if isinstance(obj, nn.Module)}
        best = lowest = None
        if watch is not None and watch.keep_best:
            best = BestWeights(networks)
            state = {**state, "monitor_best": best}  # the best weights so far travel in each checkpoint
        if select is not None:
            lowest = BestWeights(networks)
            state = {**state, "lowest_loss": lowest}
        start = self._start_epoch(phase, state)
        if start is None:
            return
        records = self.history.setdefault(phase, [])
        curve = self.history.setdefault(CURVE_KEY, []) if watch is not None else []
        monitored = ""
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[figures]}"),
            TimeRemainingColumn(),
            disable=not self.show_progress,
        )
        with progress:
            task = progress.add_task(phase, total=count, completed=start, figures="")
            for epoch in range(start, count):
                started = time.perf_counter()
                self._pending = {}
                yield epoch
                seconds = time.perf_counter() - started
                records.append({"epoch": epoch + 1, **self._pending, "seconds": seconds})
                stale = 0 if select is None else self._select(phase, select, records, lowest)
                if watch is not None and watch.due(epoch + 1, count):
                    checked = watch.measure(epoch + 1)
                    if best is not None and (not curve or checked["score"] > watch.best(curve)["score"]):
                        best.keep()
                    curve.append(checked)
                    fidelity, difference = checked["column_fidelity"], checked["correlation_difference"]
                    monitored = f"  fidelity {fidelity:.3f}  corr diff {difference:.3f}"
                figures = "  ".join(f"{k} {v:.4g}" for k, v in self._pending.items())
                rate = rows_per_epoch / seconds if seconds > 0 else float("inf")
                progress.update(task, advance=1, figures=f"{figures}  {rate:,.0f} rows/s{monitored}")
                if self.checkpointer is not None and self.checkpointer.due(epoch + 1, count):
                    self.checkpointer.save(
                        phase=phase,
                        epoch=epoch + 1,
                        completed=self._completed,
                        objects=state,
                        seed=self.seed,
                        rng=self.rng,
                        noise=self.noise,
                        history=self.history,
                    )
                if select is not None and select.patience is not None and stale >= select.patience:
                    break
        if best is not None and curve:
            best.restore()
        if lowest is not None and lowest.tensors:
            lowest.restore()
        self._completed.append(phase)
