"""Differentially private training: DP-SGD (Abadi et al. 2016) through Opacus, accounted with PRV.

Every module that reads real records (a VAE's encoder and decoder, medGAN's autoencoder and discriminator,
WGAN-GP's and tabgan's critics) trains on Poisson-sampled batches: each record joins a step's batch with
probability q on its own, which is what the privacy-amplification analysis assumes. Each record's gradient is clipped to
`max_grad_norm`, and Gaussian noise of `noise_multiplier x max_grad_norm` is added to the batch's sum.

The noise multiplier is calibrated before training so that the planned number of steps spends exactly the
budget (PRV accountant, Gopi et al. 2021); training cannot take a step beyond the plan. The spent epsilon
is the accountant's figure after the steps actually taken, and `epsilon_of` recomputes it from what the
artifact stores (noise multiplier, sample rate, steps, delta).

Every private model trains the same way: it plans its phases (`PrivacyPlan`), `fit` starts one
`PrivateTraining` for the plan, and the model's loop trains each network that reads real records inside
`PrivateTraining.training`, a `PrivateModule`. This module is the only one that knows Opacus.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

from synthmed.errors import ConfigError, SchemaError

# Per-record gradient clipping bound: Opacus's and most DP-SGD papers' default.
DEFAULT_MAX_GRAD_NORM = 1.0
# The PRV accountant returns an upper bound on epsilon within this error: tight for what the artifact stores,
# looser (and faster) for the figures logged during training, which can only overstate what was spent.
STORED_EPSILON_ERROR = 0.01
LOGGED_EPSILON_ERROR = 0.05
# The per-epoch log reads epsilon at the next of this many evenly spaced points of the planned steps (epsilon
# only grows with steps, so that bounds what was spent) instead of evaluating the accountant after every epoch.
LOGGED_EPSILON_POINTS = 32
# Keeps the privacy noise's stream apart from the run's own (seeded with the same seed): DP-SGD's Gaussian noise
# must be fresh, not a replay of the latent or generator noise the model drew.
PRIVACY_NOISE_STREAM = 0x6470


def _quiet_opacus() -> Any:
    """Opacus warns about secure RNG and the PRV accountant's numerics on every run; both are documented here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import opacus
        from opacus.accountants import PRVAccountant
        from opacus.accountants.utils import get_noise_multiplier
    return opacus, PRVAccountant, get_noise_multiplier


@dataclass(frozen=True)
class PrivacyBudget:
    """What the user asks for: (epsilon, delta)-DP, and the per-record clipping bound.

    `delta` defaults to 1 / (10 n) for n training records: below 1/n, as a meaningful delta must be (a
    mechanism that publishes one random record whole is (0, 1/n)-DP).
    """

    epsilon: float
    delta: float | None = None
    max_grad_norm: float = DEFAULT_MAX_GRAD_NORM

    def check(self) -> None:
        if not (isinstance(self.epsilon, int | float) and math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ConfigError(
                "the privacy budget epsilon must be a positive number",
                values=[self.epsilon],
                remedy="e.g. 1, 3 or 10 (smaller is more private)",
            )
        if self.delta is not None and not (0 < self.delta < 1):
            raise ConfigError("delta must be between 0 and 1", values=[self.delta], remedy="e.g. 1e-5, below 1/rows")
        if not self.max_grad_norm > 0:
            raise ConfigError("the clipping bound max_grad_norm must be positive", values=[self.max_grad_norm])

    def delta_for(self, rows: int) -> float:
        return self.delta if self.delta is not None else 1.0 / (10 * rows)


Composition = list[tuple[float, float, int]]  # (noise multiplier, sample rate, steps) per phase


def epsilon_of(composition: Composition, delta: float, error: float = STORED_EPSILON_ERROR) -> float:
    """The epsilon that DP-SGD phases of (noise multiplier, sample rate, steps) spend together (PRV's upper bound)."""
    taken = [(noise, rate, steps) for noise, rate, steps in composition if steps > 0]
    if not taken:
        return 0.0
    _, accountant_class, _ = _quiet_opacus()
    accountant = accountant_class()
    accountant.history = taken
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=delta, eps_error=error))


def stored_composition(privacy: dict[str, Any]) -> Composition:
    """The composition an artifact's `privacy` record describes, for `epsilon_of`."""
    shared = privacy["noise_multiplier"]
    return [
        (phase.get("noise_multiplier", shared), phase["sample_rate"], phase["steps"])
        for phase in privacy["phases"].values()
    ]


@dataclass(frozen=True)
class Phase:
    """One training phase that reads real records: Poisson batches of expected size `batch_size`, `steps` of them.

    A phase with a `share` (of epsilon) has a noise multiplier of its own, the least that spends at most that
    share on its own: a one-off release such as noisy category counts (`noisy_counts`: batch = all rows, one
    step) that must stay accurate whatever the training phases take. The training phases share the rest.
    """

    batch_size: int
    steps: int
    share: float | None = None


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Poisson batches of expected size min(`batch_size`, `rows`) that read every record once per epoch in
    expectation (at least one)."""
    return max(1, round(rows / min(batch_size, rows)))


@dataclass(frozen=True)
class PrivacyPlan:
    """What a model plans for a private fit: its phases that read real records, and what it changes to train
    privately (recorded as `adaptations` in the artifact)."""

    phases: dict[str, Phase]
    adaptations: dict[str, str]


class PrivateTraining:
    """DP-SGD for the phases of one `fit` that read real records: batches, noised updates, the accountant.

    Every phase uses the same noise multiplier, calibrated so that all the planned steps together spend the
    whole budget. Each network that reads real records trains inside `training(phase, network, optimizer)`,
    which hands back a `PrivateModule`; a model's loop otherwise stays as it is. This module is the only place
    that knows Opacus.
    """

    def __init__(self, budget: PrivacyBudget, rows: int, phases: dict[str, Phase], seed: int) -> None:
        if rows < 2 or not phases or min(phase.steps for phase in phases.values()) < 1:
            raise ConfigError(
                "private training needs at least 2 records and a step in each phase",
                values=[rows, *(phase.steps for phase in phases.values())],
            )
        self.budget = budget
        self.delta = budget.delta_for(rows)
        self.rows = rows
        self.sample_rates = {name: min(1.0, phase.batch_size / rows) for name, phase in phases.items()}
        self.planned = {name: phase.steps for name, phase in phases.items()}
        self.steps = dict.fromkeys(phases, 0)
        self._check_shares(phases)
        self.fixed_noise = {
            name: self._least_noise(self.sample_rates[name], phase.steps, phase.share * budget.epsilon)
            for name, phase in phases.items()
            if phase.share is not None
        }
        self.noise_multiplier = self._calibrate(budget.epsilon)
        # what the whole plan spends, at the stored precision: it bounds every figure logged on the way
        self.planned_epsilon = epsilon_of(self._composition(self.noise_multiplier, self.planned), self.delta)
        (noise_seed,) = np.random.SeedSequence([seed, PRIVACY_NOISE_STREAM]).generate_state(1)
        self.noise = torch.Generator().manual_seed(int(noise_seed))
        self.adaptations: dict[str, str] = {}  # what the model changed to train privately, for the artifact
        self._spent: dict[tuple[tuple[int, ...], float], float] = {}

    @staticmethod
    def _check_shares(phases: dict[str, Phase]) -> None:
        shares = [phase.share for phase in phases.values() if phase.share is not None]
        if any(not 0 < share < 1 for share in shares) or sum(shares) >= 1 or len(shares) == len(phases):
            raise ConfigError(
                "the budget shares of fixed-noise phases must be between 0 and 1, leave a share for training, "
                "and at least one phase must train",
                values=shares,
            )

    def _composition(self, noise: float, steps: dict[str, int]) -> Composition:
        return [(self.fixed_noise.get(name, noise), self.sample_rates[name], count) for name, count in steps.items()]

    def _least_noise(self, rate: float, steps: int, target: float) -> float:
        """The least noise multiplier for which `steps` full-data releases alone spend at most `target` (to 0.1%).

        k Gaussian releases of noise z are one of noise z / sqrt(k), whose exact (epsilon, delta) curve is
        analytic (Balle & Wang 2018), so no accountant call is needed here.
        """
        if rate < 1:
            raise ConfigError("a phase with its own budget share must read every record", values=[rate])

        def spent_delta(noise: float) -> float:
            z = noise / math.sqrt(steps)
            return float(norm.cdf(0.5 / z - target * z) - math.exp(target) * norm.cdf(-0.5 / z - target * z))

        low, high = 0.0, 1.0
        while spent_delta(high) > self.delta:
            low, high = high, 2 * high
        while high - low > 1e-3 * high:
            middle = 0.5 * (low + high)
            low, high = (low, middle) if spent_delta(middle) <= self.delta else (middle, high)
        return high

    def _calibrate(self, target: float) -> float:
        """The least noise whose stored epsilon bound for all planned steps stays within `target`.

        Opacus's search at the quicker precision brackets it (for the longest phase alone when there are
        several); bisection at the stored precision then finds it to 0.1%, so that a run spends all but a
        sliver of its budget and never more.
        """
        _, _, get_noise_multiplier = _quiet_opacus()
        shared = [name for name in self.planned if name not in self.fixed_noise]
        longest = max(shared, key=lambda name: self.planned[name] * self.sample_rates[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quick = get_noise_multiplier(
                target_epsilon=target,
                target_delta=self.delta,
                sample_rate=self.sample_rates[longest],
                steps=self.planned[longest],
                accountant="prv",
                epsilon_tolerance=0.01,
                eps_error=LOGGED_EPSILON_ERROR,
            )

        def within(noise: float) -> bool:
            return epsilon_of(self._composition(noise, self.planned), self.delta) <= target

        low, high = 0.8 * quick, quick
        while not within(high):
            low, high = high, 1.1 * high
        while low > 1e-2 and within(low):
            low, high = 0.8 * low, low
        while high - low > 1e-3 * high:
            middle = 0.5 * (low + high)
            low, high = (low, middle) if within(middle) else (middle, high)
        return float(high)

    def noisy(self, phase: str, optimizer: torch.optim.Optimizer) -> Any:
        """`optimizer` stepping on per-record gradients clipped to the budget's bound plus the calibrated noise, for
        Poisson batches of `phase` (Opacus's DPOptimizer; gradients of a mean loss)."""
        opacus, _, _ = _quiet_opacus()
        return opacus.optimizers.DPOptimizer(
            optimizer,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.budget.max_grad_norm,
            expected_batch_size=self.expected_batch(phase),
            loss_reduction="mean",
            generator=self.noise,
        )

    def expected_batch(self, phase: str) -> int:
        return max(1, round(self.sample_rates[phase] * self.rows))

    @contextmanager
    def training(self, phase: str, module: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[PrivateModule]:
        """`module` trained by DP-SGD in `phase` with `optimizer` (built on its parameters) while the block runs."""
        private = PrivateModule(self, phase, module, optimizer)
        try:
            yield private
        finally:
            private.close()

    @contextmanager
    def training_per_record(
        self, phase: str, objective: nn.Module, optimizer: torch.optim.Optimizer
    ) -> Iterator[PrivateObjective]:
        """`objective` (a module whose output is the loss summed over the records it is given) trained by DP-SGD in
        `phase`, each record's gradient computed on its own by torch.func: for networks whose layers do not see one
        row per record (a patient's history runs through visits and codes)."""
        yield PrivateObjective(self, phase, objective, optimizer)

    def batches(self, phase: str, rng: np.random.Generator, count: int) -> Iterator[np.ndarray]:
        """`count` Poisson-sampled batches of record indices (possibly empty), each one an accounted step."""
        for _ in range(count):
            if self.steps[phase] >= self.planned[phase]:
                raise ConfigError(
                    f"private training asked for a step of phase {phase!r} beyond its planned budget",
                    values=[self.planned[phase]],
                    remedy="this is a bug in the model's training loop; please report it",
                )
            self.steps[phase] += 1
            yield np.flatnonzero(rng.random(self.rows) < self.sample_rates[phase])

    def noisy_counts(self, phase: str, counts: np.ndarray, sensitivity: float) -> np.ndarray:
        """`counts` plus Gaussian noise of the phase's multiplier x `sensitivity` (the Gaussian mechanism).

        `sensitivity` is the L2 norm by which adding or removing one record can move `counts` (sqrt(k) for
        one count in each of k histograms); the phase must be planned as one step over all rows.
        """
        (_,) = self.batches(phase, np.random.default_rng(0), 1)  # accounts the step; the batch is every row
        scale = self.fixed_noise.get(phase, self.noise_multiplier) * sensitivity
        noise = torch.normal(0.0, scale, (len(counts),), generator=self.noise, dtype=torch.float64)
        return np.asarray(counts, dtype=float) + noise.numpy()

    def _epsilon(self, error: float) -> float:
        key = (tuple(self.steps.values()), error)
        if key not in self._spent:
            self._spent[key] = epsilon_of(self._composition(self.noise_multiplier, self.steps), self.delta, error)
        return self._spent[key]

    @property
    def epsilon(self) -> float:
        """The epsilon spent by the steps taken so far."""
        return self._epsilon(STORED_EPSILON_ERROR)

    @property
    def logged_epsilon(self) -> float:
        """An upper bound on the epsilon spent so far, for the per-epoch log; after the last step, the stored figure.

        It is the epsilon at the next of `LOGGED_EPSILON_POINTS` evenly spaced points of the plan (phases in the
        order they were planned), at the quicker precision: at most that many accountant calls per run, however
        many epochs there are. Phases taken out of order get the exact figure. What the whole plan spends bounds
        every figure too, so the quicker precision never shows more than the budget.
        """
        if self.steps == self.planned:
            return self.epsilon
        total, planned = sum(self.steps.values()), sum(self.planned.values())
        point = math.ceil(total * LOGGED_EPSILON_POINTS / planned) * planned / LOGGED_EPSILON_POINTS
        ahead = self._in_plan_order(math.ceil(point))
        if any(ahead[name] < self.steps[name] for name in self.steps):
            return min(self._epsilon(LOGGED_EPSILON_ERROR), self.planned_epsilon)
        key = (tuple(ahead.values()), LOGGED_EPSILON_ERROR)
        if key not in self._spent:
            composition = self._composition(self.noise_multiplier, ahead)
            self._spent[key] = epsilon_of(composition, self.delta, LOGGED_EPSILON_ERROR)
        return min(self._spent[key], self.planned_epsilon)

    def _in_plan_order(self, total: int) -> dict[str, int]:
        """Steps per phase after `total` steps taken phase after phase, in the planned order."""
        taken = {}
        for name, steps in self.planned.items():
            taken[name] = min(steps, total)
            total -= taken[name]
        return taken

    def summary(self) -> dict[str, Any]:
        """What `model.json` stores under "privacy": enough to recompute epsilon (`stored_composition`)."""
        return {
            "mechanism": "DP-SGD (Opacus), Poisson sampling",
            "accountant": "prv",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "target_epsilon": self.budget.epsilon,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.budget.max_grad_norm,
            "phases": {
                name: {
                    "sample_rate": self.sample_rates[name],
                    "steps": self.steps[name],
                    **({"noise_multiplier": self.fixed_noise[name]} if name in self.fixed_noise else {}),
                }
                for name in self.steps
            },
            "adaptations": self.adaptations,
        }


@contextmanager
def _silenced() -> Iterator[None]:
    """Opacus's per-record gradient hooks make PyTorch warn on every backward pass; they are expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
        yield


class PrivateModule:
    """A network that reads real records, trained by DP-SGD in one phase of a `PrivateTraining`.

    Calling it runs the network while recording each record's gradient (Opacus's GradSampleModule);
    `optimizer` steps on those gradients clipped to the budget's bound plus calibrated Gaussian noise; every
    Poisson batch `descend` draws is one accounted step of the phase. Batch norm mixes the records of a batch,
    so no per-record gradient exists where it is: such a module is refused (use group or layer norm).
    """

    def __init__(
        self, private: PrivateTraining, phase: str, module: nn.Module, optimizer: torch.optim.Optimizer
    ) -> None:
        norms = [type(m).__name__ for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if norms:
            raise ConfigError(
                "batch norm mixes the records of a batch, so it cannot train under differential privacy",
                values=norms[:3],
                remedy="use group norm (nn.GroupNorm) or layer norm in the modules that read real records",
            )
        opacus, _, _ = _quiet_opacus()
        self.module = module
        self._private, self._phase = private, phase
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._recording = opacus.GradSampleModule(module)
        self.optimizer = private.noisy(phase, optimizer)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self._recording(*inputs)

    def descend(
        self,
        rng: np.random.Generator,
        count: int,
        data: torch.Tensor,
        loss: Callable[[torch.Tensor], torch.Tensor],
        *,
        noise_when_empty: bool = True,
    ) -> None:
        """`count` DP-SGD steps on `loss(records)`, records being Poisson batches of `data`.

        An empty batch takes a step of pure noise, unless `noise_when_empty` is off: a loss that also scores
        generated rows (a discriminator's, a critic's) still has rows to learn from.
        """
        for indices in self._private.batches(self._phase, rng, count):
            if noise_when_empty and not len(indices):
                _noise_only_step(self._private, self._phase, self.module, self.optimizer)
                continue
            value = loss(data[torch.as_tensor(indices, device=data.device)])
            self.optimizer.zero_grad(set_to_none=True)
            with _silenced():
                value.backward()
            self.optimizer.step()

    @contextmanager
    def passing_gradients(self) -> Iterator[None]:
        """No per-record gradients while the module only passes gradients on (a generator's step through it)."""
        self._recording.disable_hooks()
        try:
            yield
        finally:
            self._recording.enable_hooks()

    def close(self) -> None:
        """Remove the per-record gradient hooks: the module trains or generates as a plain network again."""
        self._recording._close()


def _noise_only_step(private: PrivateTraining, phase: str, module: nn.Module, optimizer: Any) -> None:
    """An empty Poisson batch still takes a step of pure noise, as the mechanism it is accounted as does."""
    for parameter in module.parameters():
        if not parameter.requires_grad:
            continue
        noise = torch.normal(
            0.0, private.noise_multiplier * private.budget.max_grad_norm, parameter.shape, generator=private.noise
        )
        parameter.grad = (noise / private.expected_batch(phase)).to(parameter.device)
    optimizer.original_optimizer.step()
    optimizer.zero_grad(set_to_none=True)


class PrivateObjective:
    """A loss module trained by DP-SGD with per-record gradients from torch.func (vmap of grad over records).

    Opacus's optimizer clips each record's gradient, adds the calibrated noise and steps; a batch too large to hold
    every record's gradient at once comes in chunks whose clipped gradients it accumulates before the one noisy
    step (its virtual steps). Every Poisson batch `descend` draws is one accounted step of the phase.
    """

    def __init__(self, private: PrivateTraining, phase: str, objective: nn.Module, optimizer: torch.optim.Optimizer):
        self.objective = objective
        self._private, self._phase = private, phase
        self.optimizer = private.noisy(phase, optimizer)
        self._names = [name for name, parameter in objective.named_parameters() if parameter.requires_grad]

    def _per_record(self, records: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """Each record's gradient of the objective (records along the first dimension of every tensor)."""
        from torch.func import functional_call, grad, vmap

        trainable = dict(self.objective.named_parameters())
        fixed = {name: value for name, value in trainable.items() if name not in self._names}
        fixed |= dict(self.objective.named_buffers())
        weights = {name: trainable[name].detach() for name in self._names}

        def loss(weights: dict[str, torch.Tensor], *record: torch.Tensor) -> torch.Tensor:
            return functional_call(self.objective, {**weights, **fixed}, tuple(part[None] for part in record))

        with warnings.catch_warnings():  # batching rules torch lacks fall back to a loop inside torch
            warnings.filterwarnings("ignore", message="There is a performance drop", category=UserWarning)
            mapped = vmap(grad(loss), in_dims=(None, *([0] * len(records))), randomness="different")
            return mapped(weights, *records)

    def descend(
        self, rng: np.random.Generator, count: int, chunks: Callable[[np.ndarray], Iterator[tuple[torch.Tensor, ...]]]
    ) -> None:
        """`count` DP-SGD steps, each on a Poisson batch of record indices that `chunks` turns into the objective's
        inputs, a few records at a time; an empty batch takes a step of pure noise."""
        parameters = dict(self.objective.named_parameters())
        for indices in self._private.batches(self._phase, rng, count):
            if not len(indices):
                _noise_only_step(self._private, self._phase, self.objective, self.optimizer)
                continue
            parts = list(chunks(indices))
            for number, records in enumerate(parts):
                for name, gradient in self._per_record(records).items():
                    parameters[name].grad_sample = gradient
                self.optimizer.signal_skip_step(do_skip=number < len(parts) - 1)
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)


def _is_public(column: dict[str, Any]) -> bool:
    """A column whose shipped domain says nothing about the data: declared, or binary 0/1 by definition, and
    without a share read from the data (calibrated rounding's target)."""
    if column.get("rounding", {}).get("source") == "data":
        return False
    if column.get("domain") != "data":
        return True
    return column.get("kind") == "binary" and set(column.get("categories", [])) <= {0, 1}


def check_declared_domains(transformer_state: dict[str, Any]) -> None:
    """Refuse DP training while a category list, min/max or share that ships with the generator comes from the data.

    Those values would be released outside the privacy budget (a rare category names a patient's value).
    """
    undeclared = [c["column"] for c in transformer_state.get("columns", []) if not _is_public(c)]
    if undeclared:
        raise SchemaError(
            "with differential privacy every column's domain must come from public metadata; these columns would "
            "ship a category list, min/max or share taken from the data",
            values=undeclared[:5],
            remedy="declare each column's categories (or min and max) in the schema (--schema), "
            "e.g. `age: {kind: continuous, min: 0, max: 110}`, and with calibrated rounding each binary column's "
            "share (`flag: {kind: binary, share: 0.2}`)",
        )
