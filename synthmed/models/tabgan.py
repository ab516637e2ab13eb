"""TabGAN: synthmed's conditional GAN for mixed clinical tables (categorical, numeric, missing values).

Built from published parts, tuned for small clinical tables that must train in seconds on a CPU:
- numeric columns by mode-specific normalisation (Xu et al. 2019; `synthmed/data/modes.py`); integer columns
  with few levels (codes such as chest-pain type, small counts) as categories, so no impossible value is made;
- missing values as data: a missing slot per categorical column and a missingness indicator per numeric one;
- a condition vector over the discrete columns with training-by-sampling (`condition_vectors.py`), which also
  gives exact conditional generation: the condition is fed to the generator and its column is fixed;
- a residual generator whose categories are tempered softmax outputs while training and the most likely category
  when sampling (no Gumbel noise: each category is a function of the input noise, like the numbers), and a
  PacGAN critic (Lin et al. 2018) trained with the Wasserstein loss and gradient penalty (Gulrajani et al. 2017)
  on packs of rows, which lets it see a lack of diversity;
- the generator also matches the real batch's distribution directly: every encoded dimension's, and along random
  directions (sliced Wasserstein, Deshpande et al. 2018), which steadies marginals and pairs when a table has only
  a few hundred rows;
- the kept generator is a moving average of the trained one, and the gradient penalty is applied lazily (every
  4th critic step, scaled up), so a few-hundred-row table trains in seconds on a CPU;
- numeric marginals are calibrated after training (`synthmed/data/modes.py`): a monotone map per column from the
  generator's marginal to the data's quantiles, which keeps every row's ranks and so the dependence between columns.

Under differential privacy several of these parts change (packs, loss, conditions, marginals): see tabgan_private.py.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.condition_vectors import ConditionSampler, TrainingSampler
from synthmed.models.conditions import Given
from synthmed.models.layers import column_order, sort_columns
from synthmed.models.tabgan_private import train_privately
from synthmed.models.training import TrainingRun

# The gradient penalty is applied every this many critic steps (lazy regularisation).
PENALTY_EVERY = 4


class Residual(nn.Module):
    """Linear -> batch norm -> ReLU, concatenated with its input (each layer sees all earlier features)."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, output_dim)
        self.norm = nn.BatchNorm1d(output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.norm(self.linear(x))), x], dim=1)


class Generator(nn.Module):
    """Residual MLP. Its buffer `condition_shares` holds each category's share of the training rows: unconditional
    sampling draws conditions with these frequencies (they ship in the artifact as the table's marginals)."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], output_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.register_buffer("condition_shares", torch.zeros(condition_dim))
        blocks: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_dims:
            blocks.append(Residual(width, hidden))
            width += hidden
        self.body = nn.Sequential(*blocks, nn.Linear(width, output_dim))

    def forward(self, noise_and_condition: torch.Tensor) -> torch.Tensor:
        return self.body(noise_and_condition)


class PackedCritic(nn.Module):
    """Scores packs of `pac` rows at once (their concatenation), so a collapsed generator is visible."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], pac: int) -> None:
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        width = input_dim * pac
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.body(rows.reshape(-1, rows.shape[1] * self.pac)).squeeze(1)


class OutputHead:
    """Turns generator logits into rows: tanh scalars, and categories and missing indicators as a deterministic
    function of the logits: a tempered softmax / sigmoid while training, the most likely one-hot / 0-1 when
    sampling.

    No Gumbel or logistic noise is added (CTGAN's Gumbel-softmax adds it), so every discrete value is a function
    of the generator's input noise, which also drives the numeric columns: the generator must carry the
    dependence between a category and the rest of the row in that noise, instead of leaving part of each
    category to noise of its own. On the three shared tables this raises TSTR ROC AUC and lowers the correlation
    difference (measured: benchmarks/studies/README.md, "Figures quoted from earlier runs").

    Rows come out in *training order*: scalars, then missing indicators, then the one-hot spans one after another
    (`order` maps a training position to its layout dimension, `restore` back). Each kind is then one contiguous
    block, so a step needs no scattered indexing however many columns the table has; real rows are put in the
    same order once, before training.
    """

    def __init__(self, layout: ColumnLayout, device: torch.device) -> None:
        # numbers: mode scalars in [-1, 1] (tanh), then min-max values in [0, 1] (a private run's, see
        # tabgan_private.py); the 0/1 indicators are the missing-value flags
        tanh = layout.dimensions("tanh")
        unit = [s.start for s in layout.spans if s.role == "value" and s.activation in ("sigmoid", "relu")]
        scalars = np.concatenate([tanh, unit])
        indicators = np.array([s.start for s in layout.spans if s.role == "missing"])
        spans = [s for s in layout.spans if s.activation == "softmax"]
        categories = [np.arange(s.start, s.stop) for s in spans]
        order = np.concatenate([scalars, indicators, *categories]).astype(np.int64)
        self.order = torch.as_tensor(order, device=device)
        self.restore = torch.as_tensor(np.argsort(order), device=device)
        self.scalars, self.tanh = len(scalars), len(tanh)
        self.discrete = self.scalars + len(indicators)  # where the one-hot spans start
        widths = np.array([s.width for s in spans], dtype=np.int64)
        self.span_of = torch.as_tensor(np.repeat(np.arange(len(spans)), widths), device=device)
        self.spans = len(spans)
        self.span_start = torch.as_tensor(np.cumsum(widths) - widths, device=device)
        widest = int(widths.max(initial=0))
        padded = np.full((len(spans), widest), len(self.span_of), dtype=np.int64)  # padding reads a -inf column
        for i, (first, width) in enumerate(zip(np.cumsum(widths) - widths, widths, strict=True)):
            padded[i, :width] = np.arange(first, first + width)
        self.padded = torch.as_tensor(padded, device=device)

    def span_logits(self, one_hot_logits: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """(rows x widest) logits of one span per row (`span[i]` for row i); padding is -inf."""
        padding = one_hot_logits.new_full((len(one_hot_logits), 1), float("-inf"))
        return torch.cat([one_hot_logits, padding], dim=1).gather(1, self.padded[span])

    def __call__(self, logits: torch.Tensor, temperature: float | None) -> torch.Tensor:
        """Relaxed rows at `temperature` (training), or hard one-hots and 0/1 values with None (sampling)."""
        ordered = logits.index_select(1, self.order)  # backward: index_add, far cheaper than index_put
        scalars = torch.cat(
            [torch.tanh(ordered[:, : self.tanh]), torch.sigmoid(ordered[:, self.tanh : self.scalars])], 1
        )
        indicators, categories = ordered[:, self.scalars : self.discrete], ordered[:, self.discrete :]
        if temperature is None:
            return torch.cat([scalars, (indicators > 0).float(), self._most_likely(categories)], 1)
        return torch.cat([scalars, torch.sigmoid(indicators / temperature), self._softmax(categories / temperature)], 1)

    def _span_max(self, values: torch.Tensor) -> torch.Tensor:
        """Each span's largest value, repeated over the span's dimensions (rows x one-hot dimensions)."""
        index = self.span_of.expand(len(values), -1)
        largest = values.new_zeros(len(values), self.spans).scatter_reduce(1, index, values, "amax", include_self=False)
        return largest.index_select(1, self.span_of)

    def _softmax(self, tempered: torch.Tensor) -> torch.Tensor:
        """Softmax within each span of the one-hot block, as a few whole-block operations (any number of spans)."""
        exponents = (tempered - self._span_max(tempered.detach())).exp()
        totals = exponents.new_zeros(len(tempered), self.spans).index_add(1, self.span_of, exponents)
        return exponents / totals.index_select(1, self.span_of)

    def _most_likely(self, categories: torch.Tensor) -> torch.Tensor:
        """One-hot of each span's largest logit (the first one on a tie)."""
        hits = (categories == self._span_max(categories)).to(torch.int64)
        running = hits.cumsum(1)
        before = (running - hits).index_select(1, self.span_start).index_select(1, self.span_of)
        return (hits.bool() & (running - before == 1)).to(categories.dtype)


class TabGAN(Synthesizer):
    """Conditional Wasserstein GAN for mixed-type tables with missing values.

    Hyperparameters (sources in brackets; "ours" = chosen on the shared heart tables and kept general; the
    measurements behind them: benchmarks/studies/README.md, "Figures quoted from earlier runs"):
        epochs: passes over the data; None = `min_epochs` passes, but at least `min_steps` and at most `max_steps`
            generator updates (a table of a few hundred rows needs more passes, a large one fewer) [ours].
        batch_size: rows per step, a multiple of `pac` [CTGAN: 500].
        min_steps: the fewest generator updates when `epochs` is None [ours: 600; more overfit the 150-460-row
            tables].
        min_epochs: passes over the data when `epochs` is None [CTGAN and TVAE: 300; on two 2,000-row tables
            (diabetes 130-US, PhysioNet 2012 stays) 600 updates give lower TSTR AUC than 1,200].
        max_steps: the most generator updates when `epochs` is None, so a 100,000-row table trains in minutes
            [ours: 5,000].
        noise_dim: generator input noise [CTGAN: 128].
        generator_dims: residual generator widths [ours: one layer of 128; on four shared tables (three small,
            one 2,000-row extract of the 50-column diabetes table) a second layer, or CTGAN's 256, 256, costs
            more time for no gain].
        critic_dims: critic widths [ours: 128, 128; CTGAN: 256, 256].
        pac: rows per critic pack [ours: 5; PacGAN/CTGAN: 10, which lowers pair trends and TSTR on the
            150-460-row shared tables].
        learning_rate: Adam step size, both networks [ours: 1e-3; CTGAN: 2e-4, which needs many more steps].
        gradient_penalty: weight of the Wasserstein gradient penalty [Gulrajani et al.: 10].
        average_decay: the generator kept is an exponential moving average of the trained one, with this decay
            per step (Yazici et al. 2019: averaging damps GAN oscillations); 0 keeps the last weights [ours: 0.98;
            0.995 loses pair trends and TSTR on the shared tables].
        distribution_weight: weight of the distribution-matching term of the generator [ours: 1].
        projections: random directions of the sliced Wasserstein term [ours: 64; over 32 it raises TSTR AUC on
            the three shared tables, at slightly lower Cleveland pair trends and a little more time].
        temperature: softmax / sigmoid temperature of categories and missing indicators while training [CTGAN's
            Gumbel-softmax: 0.2; 0.5 and 1.0 measured no better].
        max_modes: mixture components per numeric column [CTGAN: 10].
        category_levels: integer columns with at most this many distinct values are modelled as categories [ours:
            20; a declared schema kind always wins].
        quantile_knots: numeric columns' quantiles (at this many even levels) kept to calibrate generated
            marginals; they ship in the artifact; 0 keeps none and does not calibrate [ours: 51, every 2%:
            calibration raises column shape on the shared tables; 21 knots raise it slightly less].
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    >>> import pandas as pd
    >>> from synthmed.models import TabGAN
    >>> table = pd.DataFrame({"sex": ["F", "M"] * 50, "age": list(range(20, 70)) * 2})
    >>> TabGAN(epochs=2, seed=0).fit(table, progress=False).sample(4).columns.tolist()
    ['sex', 'age']
    """

    name = "tabgan"
    summary = "Conditional WGAN-GP for mixed tables: mode-specific normalisation, missing values, conditions"
    positive = frozenset(
        {
            "batch_size",
            "min_steps",
            "min_epochs",
            "max_steps",
            "noise_dim",
            "pac",
            "learning_rate",
            "temperature",
            "max_modes",
        }
    )
    private_training = True

    def __init__(
        self,
        *,
        epochs: int | None = None,
        batch_size: int = 500,
        min_steps: int = 600,
        min_epochs: int = 300,
        max_steps: int = 5000,
        noise_dim: int = 128,
        generator_dims: tuple[int, ...] = (128,),
        critic_dims: tuple[int, ...] = (128, 128),
        pac: int = 5,
        learning_rate: float = 1e-3,
        gradient_penalty: float = 10.0,
        average_decay: float = 0.98,
        distribution_weight: float = 1.0,
        projections: int = 64,
        temperature: float = 0.2,
        max_modes: int = 10,
        category_levels: int = 20,
        quantile_knots: int = 51,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.min_steps = min_steps
        self.min_epochs = min_epochs
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.generator_dims = generator_dims
        self.critic_dims = critic_dims
        self.pac = pac
        self.learning_rate = learning_rate
        self.gradient_penalty = gradient_penalty
        self.average_decay = average_decay
        self.distribution_weight = distribution_weight
        self.projections = projections
        self.temperature = temperature
        self.max_modes = max_modes
        self.category_levels = category_levels
        self.quantile_knots = quantile_knots
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        if self.average_decay >= 1:
            raise ConfigError(
                "hyperparameter 'average_decay' must be below 1", values=[self.average_decay], remedy="e.g. 0.99"
            )

    # ---- data --------------------------------------------------------------------------------------
    def _model_schema(self, schema: Schema, table: pd.DataFrame) -> Schema:
        """Binary columns become two-category columns (they take part in conditions); few-level integers too."""

        def as_category(column_kind: ColumnKind, name: str, declared: bool) -> bool:
            if column_kind is ColumnKind.BINARY:
                return True
            if column_kind not in (ColumnKind.COUNT, ColumnKind.CONTINUOUS) or declared:
                return False
            values = table[name].dropna()
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            if not numeric:
                return False
            numbers = values.to_numpy(dtype=float)
            return bool(np.all(numbers == np.round(numbers))) and len(np.unique(numbers)) <= self.category_levels

        return replace(
            schema,
            columns=tuple(
                replace(c, kind=ColumnKind.CATEGORICAL) if as_category(c.kind, c.name, c.declared) else c
                for c in schema.columns
            ),
        )

    def _transformer(self, schema: Schema) -> TableTransformer:
        if getattr(self, "privacy_", None):  # mixture modes and quantiles are fitted on the data: min-max ranges
            return TableTransformer(schema)
        return TableTransformer(schema, numeric="modes", quantile_knots=self.quantile_knots, max_modes=self.max_modes)

    # ---- networks ----------------------------------------------------------------------------------
    def _condition_width(self, layout: ColumnLayout) -> int:
        return sum(s.width for s in layout.spans if s.role == "value" and s.activation == "softmax")

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        condition = self._condition_width(layout)
        return {
            "generator": Generator(self.noise_dim + condition, self.generator_dims, layout.width, condition),
            "critic": PackedCritic(layout.width + condition, self.critic_dims, 1 if self.privacy_ else self.pac),
        }

    def _batch(self, n: int) -> int:
        """Rows per step: the batch size, at most about the table, rounded to whole packs."""
        return max(self.pac, min(self.batch_size, math.ceil(n / self.pac) * self.pac) // self.pac * self.pac)

    def _epochs(self, n: int) -> int:
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = max(1, n // self._batch(n))
        steps = min(max(self.min_epochs * steps_per_epoch, self.min_steps), max(self.max_steps, self.min_steps))
        return math.ceil(steps / steps_per_epoch)

    # ---- training ----------------------------------------------------------------------------------
    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        if run.privacy is not None:
            train_privately(self, data, run)
            return
        layout = self.transformer_.layout_
        average, critic = self.networks_["generator"], self.networks_["critic"].train()
        self.sampler_ = TrainingSampler(data.cpu().numpy(), layout)
        average.condition_shares.copy_(torch.as_tensor(self.sampler_.shares, dtype=torch.float32))
        # the optimiser trains `generator`; the shipped (and monitored) one is its exponential moving average
        generator = copy.deepcopy(average).train()
        head = self.head_ = OutputHead(layout, run.device)
        ordered = data[:, head.order]  # real rows in the head's training order
        # fused: one kernel for all parameters, faster than foreach for networks this small
        adam = {"lr": self.learning_rate, "betas": (0.5, 0.9), "weight_decay": 1e-6, "fused": True}
        g_optimizer = torch.optim.Adam(generator.parameters(), **adam)
        c_optimizer = torch.optim.Adam(critic.parameters(), **adam)
        n = len(data)
        batch = self._batch(n)
        state = {
            **self.networks_,
            "trained_generator": generator,
            "generator_optimizer": g_optimizer,
            "critic_optimizer": c_optimizer,
        }
        steps = max(1, n // batch)
        for epoch in run.epochs("train", self._epochs(n), n, state, monitor=True):
            totals = np.zeros(3)
            for step in range(epoch * steps, (epoch + 1) * steps):
                # one generated batch serves the critic's update (detached) and then the generator's
                condition, column, category, real = self._training_batch(ordered, run, batch)
                logits = generator(torch.cat([run.normal(batch, self.noise_dim), condition], 1))
                fake = head(logits, self.temperature)
                penalise = step % PENALTY_EVERY == 0
                critic_loss = self._critic_update(critic, c_optimizer, real, fake.detach(), condition, run, penalise)

                critic.requires_grad_(False)  # the generator's loss needs no gradients for the critic's weights
                adversarial = -critic(torch.cat([fake, condition], 1)).mean()
                critic.requires_grad_(True)
                gap = self._distribution_gap(fake, real, run)
                loss = adversarial + self._condition_loss(logits, column, category) + self.distribution_weight * gap
                g_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                g_optimizer.step()
                self._update_average(average, generator)
                totals += (critic_loss.item(), adversarial.item(), gap.item())
            critic_total, generator_total, distribution_total = totals / steps
            run.log(critic=critic_total, generator=generator_total, distribution=distribution_total)
        del self.sampler_, self.head_  # training-only: the sampler indexes training rows, none stay on the model

    def _distribution_gap(self, fake: torch.Tensor, real: torch.Tensor, run: TrainingRun) -> torch.Tensor:
        """How far the generated batch's distribution is from the real batch's, per dimension and jointly.

        Sorting each dimension of both batches and comparing them is the 1-D Wasserstein distance of every
        marginal; doing the same along random directions (sliced Wasserstein, Deshpande et al. 2018) reaches
        the dependence between columns. A real one-hot or indicator dimension holds only 0s and 1s, so its
        sorted form is its count of 1s: only the scalars and the projections of the real batch are sorted.
        """
        directions = torch.randn(fake.shape[1], self.projections, generator=run.noise).to(run.device)
        directions = directions / directions.norm(dim=0, keepdim=True)
        scalars = self.head_.scalars
        ones = real[:, scalars:].sum(0)
        positions = torch.arange(len(real), device=real.device, dtype=real.dtype)[:, None]
        real_sorted = torch.cat(
            [
                sort_columns(real[:, :scalars]),
                (positions >= len(real) - ones).to(real.dtype),
                sort_columns(real @ directions),
            ],
            1,
        )
        fake_all = torch.cat([fake, fake @ directions], 1)  # scalars, then 0/1 dimensions, then projections
        fake_sorted = fake_all.gather(0, column_order(fake_all))
        return (fake_sorted - real_sorted).pow(2).mean(0).sum()

    @torch.no_grad()
    def _update_average(self, average: nn.Module, generator: nn.Module) -> None:
        torch._foreach_lerp_(list(average.parameters()), list(generator.parameters()), 1.0 - self.average_decay)
        for kept, trained in zip(average.buffers(), generator.buffers(), strict=True):
            kept.copy_(trained)  # batch-norm statistics are averages already

    def _training_batch(
        self, data: torch.Tensor, run: TrainingRun, batch: int
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, torch.Tensor]:
        if not self.sampler_.spans:  # no discrete column: plain uniform minibatches, empty condition
            rows = torch.as_tensor(run.rng.integers(len(data), size=batch), device=data.device)
            return data.new_zeros(batch, 0), np.zeros(0, int), np.zeros(0, int), data[rows]
        column, category, rows = self.sampler_.training_batch(run.rng, batch)
        condition = self.sampler_.one_hot(category, data.device)
        return condition, column, category, data[torch.as_tensor(rows, device=data.device)]

    def _critic_update(
        self,
        critic: nn.Module,
        optimizer: torch.optim.Optimizer,
        real: torch.Tensor,
        fake: torch.Tensor,
        condition: torch.Tensor,
        run: TrainingRun,
        penalise: bool,
    ) -> torch.Tensor:
        """One Wasserstein step of the critic; the gradient penalty is applied lazily (Karras et al. 2020:
        every `PENALTY_EVERY` steps with its weight scaled up to match), which costs a quarter as much."""
        real_in, fake_in = torch.cat([real, condition], 1), torch.cat([fake, condition], 1)
        fake_scores, real_scores = critic(torch.cat([fake_in, real_in])).chunk(2)  # one pass over both
        loss = fake_scores.mean() - real_scores.mean()
        total = loss
        if penalise:
            # the penalty is taken per pack, on points between packs of real and generated rows
            mix = torch.rand(len(real) // self.pac, 1, 1, generator=run.noise).to(run.device)
            mix = mix.expand(-1, self.pac, real_in.shape[1]).reshape(real_in.shape)
            between = (mix * real_in + (1 - mix) * fake_in).requires_grad_(True)
            (gradient,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
            norms = gradient.reshape(-1, self.pac * real_in.shape[1]).norm(dim=1)
            total = loss + PENALTY_EVERY * self.gradient_penalty * (norms - 1).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return loss.detach()

    def _condition_loss(self, logits: torch.Tensor, column: np.ndarray, category: np.ndarray) -> torch.Tensor:
        """Cross-entropy of each row's conditioned column against the asked-for category."""
        if not self.sampler_.spans:
            return logits.new_zeros(())
        one_hot_logits = logits.index_select(1, self.head_.order[self.head_.discrete :])
        chosen = self.head_.span_logits(one_hot_logits, torch.as_tensor(column, device=logits.device))
        wanted = torch.as_tensor(category - self.sampler_.offsets[column], device=logits.device)
        return F.cross_entropy(chosen, wanted)

    # ---- generation --------------------------------------------------------------------------------
    def _sampler(self) -> ConditionSampler:
        return ConditionSampler(self.transformer_.layout_, self.networks_["generator"].condition_shares.cpu().numpy())

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        sampler = self._sampler()
        if sampler.spans:
            _, category = sampler.generation_batch(run.rng, n)
            return self._generate_with(sampler.one_hot(category, run.device), run)
        return self._generate_with(torch.zeros(n, 0, device=run.device), run)

    def _generate_with(self, condition: torch.Tensor, run: TrainingRun) -> torch.Tensor:
        layout = self.transformer_.layout_
        n = len(condition)
        logits = self.networks_["generator"](torch.cat([run.normal(n, self.noise_dim), condition], 1))
        head = OutputHead(layout, run.device)
        return head(logits, None)[:, head.restore]

    def _generate_given(self, n: int, run: TrainingRun, given: Given) -> torch.Tensor:
        """Exact conditional generation: the rarest asked-for category goes into the condition vector and its
        column is set to it; any further conditions are met by the base class's filtering."""
        sampler = self._sampler()
        index = {span.column: (span, offset) for span, offset in zip(sampler.spans, sampler.offsets, strict=True)}
        column = min(given, key=lambda name: sampler.shares[index[name][1] + given[name]])
        span, offset = index[column]
        condition = sampler.one_hot(np.full(n, offset + given[column]), run.device)
        rows = self._generate_with(condition, run)
        chosen = torch.full((n,), given[column], device=rows.device)
        rows[:, span.start : span.stop] = F.one_hot(chosen, span.width).float()
        return rows

    def _decode_stochastically(self) -> bool:
        return False  # _generate already picks hard categories and 0/1 indicators
