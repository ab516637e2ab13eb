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

Under differential privacy (`TabGAN._train_privately`) several of these parts change, and why:
- The critic is the one network that reads real records, so it alone trains with DP-SGD, on Poisson batches.
  It scores single rows, not packs: with Poisson sampling one record would shift which rows share a pack, and
  so move several per-sample gradients at once.
- The critic's loss is the logistic (non-saturating) GAN loss, one term per row. A Wasserstein critic needs a
  gradient penalty, which differentiates the critic's input gradient and has no per-record form to clip, or
  weight clipping, which measured worse.
- Marginals: before training, one Gaussian mechanism (`MARGINALS_SHARE` of epsilon) releases every discrete
  column's category counts and a histogram of every numeric column over its declared range
  (models/dp_histograms.py). They are the only summaries of the data that ship: category shares (what
  unconditional sampling draws conditions from) and calibration quantiles.
- Conditions: training-by-sampling picks real rows by their category, which Poisson sampling cannot. Each real
  row is conditioned on its own value in a random discrete column; generated rows draw theirs from the released
  category shares.
- The generator's distribution-matching term compares generated rows with real ones outside DP-SGD, so it is
  off; numeric columns are min-max scaled to the schema's declared ranges (mixture modes would be fitted on the
  data).
- Steps: a private run takes `PRIVATE_STEPS` critic steps (unless `epochs` is given), each on an expected
  `PRIVATE_SAMPLE_RATE` of the rows (at most `batch_size`).
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
from synthmed.models.condition_vectors import ConditionSampler, TrainingSampler, category_codes
from synthmed.models.conditions import Given
from synthmed.models.dp import Phase, PrivacyPlan, PrivateTraining
from synthmed.models.dp_histograms import HISTOGRAM_BINS, MARGINALS_SHARE, calibrate_to_histograms, release_marginals
from synthmed.models.layers import column_order, sort_columns, top_sums
from synthmed.models.tabgan_networks import Generator, OutputHead, PackedCritic
from synthmed.models.training import TrainingRun, descend

# The gradient penalty is applied every this many critic steps (lazy regularisation).
PENALTY_EVERY = 4
# rows generated at a time when sampling: a small working set (16 MiB of logits for 1,000 dimensions); on diabetes
# (1,088 dimensions, 2 CPU threads) 100,000 rows came faster in chunks of 4,096 than of 1,024 or all at once
SAMPLING_CHUNK = 4096
# Quantile levels taken from each released histogram for calibration under DP (every 2%, as quantile_knots).
CALIBRATION_KNOTS = 51
# Critic steps of a private run, and each Poisson batch's expected share of the rows (benchmarks/privacy.py).
PRIVATE_STEPS = 1200
PRIVATE_SAMPLE_RATE = 0.05


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
    generation_weights = ("generator.",)
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
        """Binary columns become two-category columns (they take part in conditions); few-level integers too.

        A declared binary `share` (calibrated rounding's target) has no meaning for a categorical column, and tabgan
        draws categories without it, so it is dropped rather than saved on a column kind that cannot hold it."""

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
                replace(c, kind=ColumnKind.CATEGORICAL, share=None) if as_category(c.kind, c.name, c.declared) else c
                for c in schema.columns
            ),
        )

    def _transformer(self, schema: Schema) -> TableTransformer:
        if self.private_:  # mixture modes and quantiles are fitted on the data: min-max ranges
            return TableTransformer(schema)
        return TableTransformer(schema, numeric="modes", quantile_knots=self.quantile_knots, max_modes=self.max_modes)

    # ---- networks ----------------------------------------------------------------------------------
    def _condition_width(self, layout: ColumnLayout) -> int:
        return sum(s.width for s in layout.spans if s.role == "value" and s.activation == "softmax")

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        condition = self._condition_width(layout)
        return {
            "generator": Generator(self.noise_dim + condition, self.generator_dims, layout.width, condition),
            "critic": PackedCritic(layout.width + condition, self.critic_dims, 1 if self.private_ else self.pac),
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
                logits = generator(run.normal(batch, self.noise_dim), condition)
                fake = head(logits, self.temperature)
                penalise = step % PENALTY_EVERY == 0
                critic_loss = self._critic_update(critic, c_optimizer, real, fake.detach(), condition, run, penalise)

                critic.requires_grad_(False)  # the generator's loss needs no gradients for the critic's weights
                adversarial = -critic.scores(fake, condition).mean()
                critic.requires_grad_(True)
                gap = self._distribution_gap(fake, real, run)
                loss = adversarial + self._condition_loss(logits, column, category) + self.distribution_weight * gap
                g_optimizer.zero_grad(set_to_none=True)
                descend(loss, g_optimizer)
                self._update_average(average, generator)
                totals += (critic_loss.item(), adversarial.item(), gap.item())
            critic_total, generator_total, distribution_total = totals / steps
            run.log(critic=critic_total, generator=generator_total, distribution=distribution_total)
        del self.sampler_, self.head_  # training-only: the sampler indexes training rows, none stay on the model

    def _distribution_gap(self, fake: torch.Tensor, real: torch.Tensor, run: TrainingRun) -> torch.Tensor:
        """How far the generated batch's distribution is from the real batch's, per dimension and jointly.

        Sorting each dimension of both batches and comparing them is the 1-D Wasserstein distance of every
        marginal; doing the same along random directions (sliced Wasserstein, Deshpande et al. 2018) reaches
        the dependence between columns. A real one-hot or indicator dimension holds only 0s and 1s: sorted, its
        k ones come last, so the generated dimension's squared distance to it is (sum of squares - 2 x the sum of
        its k largest values + k) / rows, which needs each dimension's k-th largest value, not a sort with indices.
        """
        directions = torch.randn(fake.shape[1], self.projections, generator=run.noise).to(run.device)
        directions = directions / directions.norm(dim=0, keepdim=True)
        scalars = self.head_.scalars
        real_sorted = torch.cat([sort_columns(real[:, :scalars]), sort_columns(real @ directions)], 1)
        fake_continuous = torch.cat([fake[:, :scalars], fake @ directions], 1)  # scalars, then projections
        fake_sorted = fake_continuous.gather(0, column_order(fake_continuous))
        continuous = (fake_sorted - real_sorted).pow(2).mean(0).sum()
        binary, ones = fake[:, scalars:], real[:, scalars:].sum(0)
        squares = binary.pow(2).sum(0) - 2 * top_sums(binary, ones.long()) + ones
        return continuous + squares.sum() / len(real)

    @torch.no_grad()
    def _update_average(self, average: nn.Module, generator: nn.Module) -> None:
        torch._foreach_lerp_(list(average.parameters()), list(generator.parameters()), 1.0 - self.average_decay)
        for kept, trained in zip(average.buffers(), generator.buffers(), strict=True):
            kept.copy_(trained)  # batch-norm statistics are averages already

    def _training_batch(
        self, data: torch.Tensor, run: TrainingRun, batch: int
    ) -> tuple[torch.Tensor | None, np.ndarray, np.ndarray, torch.Tensor]:
        """Each row's condition category (None without discrete columns), its column and category, and real rows."""
        if not self.sampler_.spans:  # no discrete column: plain uniform minibatches, no condition
            rows = torch.as_tensor(run.rng.integers(len(data), size=batch), device=data.device)
            return None, np.zeros(0, int), np.zeros(0, int), data[rows]
        column, category, rows = self.sampler_.training_batch(run.rng, batch)
        condition = torch.as_tensor(category, device=data.device)
        return condition, column, category, data[torch.as_tensor(rows, device=data.device)]

    def _critic_update(
        self,
        critic: PackedCritic,
        optimizer: torch.optim.Optimizer,
        real: torch.Tensor,
        fake: torch.Tensor,
        condition: torch.Tensor | None,
        run: TrainingRun,
        penalise: bool,
    ) -> torch.Tensor:
        """One Wasserstein step of the critic; the gradient penalty is applied lazily (Karras et al. 2020:
        every `PENALTY_EVERY` steps with its weight scaled up to match), which costs a quarter as much."""
        both = None if condition is None else torch.cat([condition, condition])
        fake_scores, real_scores = critic.scores(torch.cat([fake, real]), both).chunk(2)  # one pass over both
        loss = fake_scores.mean() - real_scores.mean()
        total = loss
        if penalise:
            # the penalty is taken per pack, on points between packs of real and generated rows (which share
            # their conditions), and on the gradient over every input the critic reads, the condition's one-hot
            # vector included
            mix = torch.rand(len(real) // self.pac, 1, 1, generator=run.noise).to(run.device)
            mix = mix.expand(-1, self.pac, real.shape[1]).reshape(real.shape)
            norms = critic.gradient_norms(mix * real + (1 - mix) * fake, condition)
            total = loss + PENALTY_EVERY * self.gradient_penalty * (norms - 1).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        descend(total, optimizer)
        return loss.detach()

    def _condition_loss(self, logits: torch.Tensor, column: np.ndarray, category: np.ndarray) -> torch.Tensor:
        """Cross-entropy of each row's conditioned column against the asked-for category."""
        if not self.sampler_.spans:
            return logits.new_zeros(())
        one_hot_logits = logits.index_select(1, self.head_.order[self.head_.discrete :])
        chosen = self.head_.span_logits(one_hot_logits, torch.as_tensor(column, device=logits.device))
        wanted = torch.as_tensor(category - self.sampler_.offsets[column], device=logits.device)
        return F.cross_entropy(chosen, wanted)

    # ---- training under differential privacy ----------------------------------------------------------
    def _private_schedule(self, n: int) -> tuple[int, int, int]:
        """Expected Poisson batch, steps per epoch and epochs of a private run."""
        batch = max(1, min(self.batch_size, round(PRIVATE_SAMPLE_RATE * n)))
        steps_per_epoch = max(1, round(n / batch))
        epochs = self.epochs if self.epochs is not None else math.ceil(PRIVATE_STEPS / steps_per_epoch)
        return batch, steps_per_epoch, epochs

    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        n = len(data)
        batch, steps_per_epoch, epochs = self._private_schedule(n)
        phases = {"marginals": Phase(n, 1, share=MARGINALS_SHARE), "critic": Phase(batch, epochs * steps_per_epoch)}
        return PrivacyPlan(
            phases,
            {
                "critic": "one row per pack; logistic GAN loss instead of Wasserstein loss with gradient penalty",
                "conditions": "real rows conditioned on their own value of a random discrete column; generated "
                "rows on released category shares",
                "marginals": f"category counts and {HISTOGRAM_BINS}-bin histograms of the numbers' declared ranges, "
                f"released by the Gaussian mechanism ({MARGINALS_SHARE:.0%} of epsilon); numbers calibrated to the "
                "histograms",
                "distribution_matching": "off (it compares generated rows with real ones outside DP-SGD)",
                "numeric_columns": "min-max scaled to the schema's ranges, no mixture modes",
            },
        )

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """DP-SGD on the critic; the generator learns only from the private critic and the private shares."""
        layout = self.transformer_.layout_
        average, network = self.networks_["generator"], self.networks_["critic"].train()
        n = len(data)
        batch, steps_per_epoch, epochs = self._private_schedule(n)
        probe = ConditionSampler(layout, np.ones(self._condition_width(layout)))
        matrix = data.cpu().numpy()
        codes = category_codes(matrix, probe.spans)
        head = self.head_ = OutputHead(layout, run.device)
        ordered = data[:, head.order]
        shares, histograms = release_marginals(private, matrix, codes, self.transformer_, probe)
        average.condition_shares.copy_(torch.as_tensor(shares, dtype=torch.float32))
        self.sampler_ = ConditionSampler(layout, shares)
        real_codes = torch.as_tensor(codes, device=data.device) if probe.spans else None
        generator = copy.deepcopy(average).train()
        adam = {"lr": self.learning_rate, "betas": (0.5, 0.9)}
        g_optimizer = torch.optim.Adam(generator.parameters(), **adam)
        state = {**self.networks_, "trained_generator": generator, "generator_optimizer": g_optimizer}

        def generated(rows: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
            if probe.spans:
                column, category = self.sampler_.generation_batch(run.rng, rows)
                chosen = torch.as_tensor(category, device=data.device)
                condition = self.sampler_.one_hot(category, data.device)
            else:
                column, category, condition, chosen = np.zeros(0, int), np.zeros(0, int), data.new_zeros(rows, 0), None
            logits = generator(run.normal(rows, self.noise_dim), chosen)
            return logits, torch.cat([head(logits, self.temperature), condition], 1), column, category

        with private.training("critic", network, torch.optim.Adam(network.parameters(), **adam)) as critic:

            def critic_loss(records: torch.Tensor) -> torch.Tensor:
                real = ordered[records]
                if real_codes is not None:
                    pick = torch.as_tensor(run.rng.integers(len(probe.spans), size=len(records)), device=data.device)
                    own = real_codes[records].gather(1, pick[:, None]).squeeze(1)
                    real = torch.cat([real, self.sampler_.one_hot(own, data.device)], 1)
                with torch.no_grad():
                    _, fake, _, _ = generated(batch)
                scores = critic(torch.cat([real, fake]))
                return torch.cat([F.softplus(-scores[: len(real)]), F.softplus(scores[len(real) :])]).mean()

            rows = torch.arange(n, device=data.device)
            for _ in run.epochs("train", epochs, n, state):
                losses = []
                for _ in range(steps_per_epoch):
                    critic.descend(run.rng, 1, rows, critic_loss, noise_when_empty=False)
                    with critic.passing_gradients():
                        logits, fake, column, category = generated(batch)
                        adversarial = F.softplus(-network(fake)).mean()
                        loss = adversarial + self._condition_loss(logits, column, category)
                        g_optimizer.zero_grad(set_to_none=True)
                        descend(loss, g_optimizer)
                    self._update_average(average, generator)
                    losses.append(adversarial.item())
                run.log(generator=sum(losses) / len(losses), epsilon=private.logged_epsilon)
        del self.sampler_, self.head_  # training-only, as in `_train`
        calibrate_to_histograms(self.transformer_, histograms, CALIBRATION_KNOTS)

    # ---- generation --------------------------------------------------------------------------------
    def _sampler(self) -> ConditionSampler:
        return ConditionSampler(self.transformer_.layout_, self.networks_["generator"].condition_shares.cpu().numpy())

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        sampler = self._sampler()
        if sampler.spans:
            _, category = sampler.generation_batch(run.rng, n)
            return self._generate_with(n, torch.as_tensor(category, device=run.device), run)
        return self._generate_with(n, None, run)

    def _generate_with(self, n: int, condition: torch.Tensor | None, run: TrainingRun) -> torch.Tensor:
        """`n` hard rows in the layout's order, each row conditioned on its `condition` category (None: none).

        The rows are made `SAMPLING_CHUNK` at a time, dimension by dimension, into one buffer; they come back as its
        transposed view (rows x dimensions)."""
        generator, head = self.networks_["generator"], OutputHead(self.transformer_.layout_, run.device)
        noise = run.normal(n, self.noise_dim)
        rows = torch.empty(self.transformer_.layout_.width, n, device=run.device)
        for start in range(0, n, SAMPLING_CHUNK):
            chunk = slice(start, start + SAMPLING_CHUNK)
            logits = generator.logits_by_dimension(noise[chunk], None if condition is None else condition[chunk])
            head.write_sampled(logits, rows[:, chunk])
        return rows.t()

    def _generate_given(self, n: int, run: TrainingRun, given: Given) -> torch.Tensor:
        """Exact conditional generation: the rarest asked-for category goes into the condition vector and its
        column is set to it; any further conditions are met by the base class's filtering."""
        sampler = self._sampler()
        index = {span.column: (span, offset) for span, offset in zip(sampler.spans, sampler.offsets, strict=True)}
        column = min(given, key=lambda name: sampler.shares[index[name][1] + given[name]])
        span, offset = index[column]
        rows = self._generate_with(n, torch.full((n,), offset + given[column], device=run.device), run)
        chosen = torch.full((n,), given[column], device=rows.device)
        rows[:, span.start : span.stop] = F.one_hot(chosen, span.width).float()
        return rows

    def _decode_stochastically(self) -> bool:
        return False  # _generate already picks hard categories and 0/1 indicators

    def _generates_one_hot(self) -> bool:
        return True
