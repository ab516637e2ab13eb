"""medGAN (Choi et al. 2017, "Generating Multi-label Discrete Patient Records using GANs").

A GAN that generates in the 128-d embedding space of an autoencoder pretrained on the real records; the
pretrained decoder (fine-tuned with the generator) maps embeddings back to patient records. The generator
uses batch norm and shortcut connections; the discriminator sees each record beside the minibatch average
so it can spot mode collapse. Every default below is the paper's (and its reference code's).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Literal

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import ColumnKind, Schema
from synthmed.data.sparse import SparseCodeMatrix
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.cooccurrence import CooccurrenceMatch
from synthmed.models.dp import Phase, PrivacyPlan, PrivateTraining
from synthmed.models.layers import SpanHead, start_at_frequencies, warn_if_autoencoder_untrained
from synthmed.models.training import TrainingRun, descend

# TensorFlow's batch_norm(decay=0.99, epsilon=1e-3) in the reference code, in PyTorch terms.
BATCH_NORM_MOMENTUM = 0.01
BATCH_NORM_EPSILON = 1e-3
# The reference code runs the trained generator on 1,000 noise batches in training mode before generating,
# so batch norm's moving averages (decay 0.99) describe the final generator instead of lagging behind it.
# An exact cumulative average over 100 batches estimates the same statistics with less noise, 10x faster.
BURN_IN_BATCHES = 100


def _is_0_1(series: pd.Series) -> bool:
    """A numeric column holding only 0 and 1 (and no missing values): a count that never exceeded one."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return numeric and not series.isna().any() and bool(series.isin([0, 1]).all())


def glorot_init(network: nn.Module) -> None:
    """TensorFlow's default initialiser, which the reference code relies on (PyTorch's is ~2x smaller)."""
    for module in network.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class Autoencoder(nn.Module):
    """One dense layer each way; tanh (binary) or ReLU (count) embedding, as in the paper."""

    def __init__(self, input_dim: int, embedding_dim: int, embedding_activation: nn.Module) -> None:
        super().__init__()
        self.encoder = nn.Linear(input_dim, embedding_dim)
        self.embedding_activation = embedding_activation
        self.decoder = nn.Linear(embedding_dim, input_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding_activation(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw reconstruction outputs (the layout's head turns them into record values)."""
        return self.decoder(self.encode(x))


class Generator(nn.Module):
    """Dense layers without bias, batch norm, and a shortcut (h + layer(h)) around each layer.

    Hidden layers use ReLU; the last one uses the embedding's activation so generated embeddings live
    where the decoder was trained.
    """

    def __init__(
        self, noise_dim: int, hidden_dims: tuple[int, ...], embedding_dim: int, output_activation: nn.Module
    ) -> None:
        super().__init__()
        dims = (noise_dim, *hidden_dims, embedding_dim)
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(b, momentum=BATCH_NORM_MOMENTUM, eps=BATCH_NORM_EPSILON) for b in dims[1:]
        )
        self.output_activation = output_activation

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        h = noise
        last = len(self.linears) - 1
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            activation = self.output_activation if i == last else F.relu
            h = h + activation(norm(linear(h)))
        return h


class Discriminator(nn.Module):
    """ReLU MLP scoring real vs generated records; optionally sees the minibatch average beside each row."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], minibatch_averaging: bool) -> None:
        super().__init__()
        self.minibatch_averaging = minibatch_averaging
        dims = (input_dim * (2 if minibatch_averaging else 1), *hidden_dims)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, records: torch.Tensor) -> torch.Tensor:
        if self.minibatch_averaging:
            records = torch.cat([records, records.mean(dim=0, keepdim=True).expand_as(records)], dim=1)
        return self.body(records).squeeze(1)


class MedGAN(Synthesizer):
    """medGAN for binary or count patient x code matrices, and for mixed tables through the data layer.

    Hyperparameters (defaults from Choi et al. 2017 and its reference implementation):
        epochs: GAN training epochs (paper: 1,000).
        batch_size: GAN minibatch (paper: 1,000).
        pretrain_epochs: autoencoder pretraining epochs (paper: 100).
        pretrain_batch_size: autoencoder minibatch (paper: 100).
        embedding_dim: autoencoder code size (paper: 128).
        noise_dim: generator input size (paper: 128; must equal every generator width for the shortcuts).
        generator_dims: hidden generator widths (paper: 2 x 128; one more layer maps to the embedding).
        discriminator_dims: discriminator hidden widths (paper: 256, 128, then one output).
        minibatch_averaging: feed the batch mean beside each record to the discriminator (paper: on).
        discriminator_steps: discriminator updates per generator update (paper: 2).
        learning_rate: Adam step size for every network (paper: TensorFlow's default, 1e-3).
        l2_weight: L2 penalty on all weights (paper: 1e-3).
        data_type: "binary" or "count" matrices (reference code's --data_type); "auto" picks "count" when every
            column is a count or a 0/1 indicator (a count matrix where some codes never occur twice), "binary"
            when every column is binary, and otherwise trains on the mixed table through the data layer.
        binary_rounding: "threshold" rounds generated probabilities at 0.5 (paper); "bernoulli" draws them;
            "straight_through" draws them in training too, so the discriminator sees 0/1 records like the real
            ones (synthmed's extension against mode collapse, see SpanHead.draw_binary); "calibrated" rounds each
            binary column where a generated sample gets the column's share of ones (the data's, or `share` declared
            in the schema, required under DP; see CorGAN and data/calibration.py).
        cooccurrence_weight: weight of the co-occurrence matching term in the generator's loss (synthmed's
            extension, see synthmed.models.cooccurrence; 0, the paper's, leaves it out). Off under DP: its real
            rates are read outside the privacy accounting.
        start_at_frequencies: start the decoder's output bias at the training columns' log-odds, so pretraining
            begins from the average record (synthmed's extension; the paper's False starts every output at 0.5,
            and on a sparse matrix a short pretraining then spends its updates learning the frequencies instead
            of records; measured: benchmarks/studies/README.md, "Figures quoted from earlier runs"). The bias is a
            trained weight like any other once pretraining starts. Off under DP (the exact frequencies would be
            read outside the accounting).
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    >>> import numpy as np
    >>> from synthmed.models import MedGAN
    >>> codes = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(int)
    >>> model = MedGAN(epochs=2, pretrain_epochs=2, seed=0).fit(codes, progress=False)
    >>> model.sample(5).shape
    (5, 12)
    """

    name = "medgan"
    generation_weights = ("generator.", "autoencoder.decoder.")
    sparse_batches = True
    positive = frozenset(
        {"batch_size", "pretrain_batch_size", "embedding_dim", "noise_dim", "discriminator_steps", "learning_rate"}
    )

    def __init__(
        self,
        *,
        epochs: int = 1000,
        batch_size: int = 1000,
        pretrain_epochs: int = 100,
        pretrain_batch_size: int = 100,
        embedding_dim: int = 128,
        noise_dim: int = 128,
        generator_dims: tuple[int, ...] = (128, 128),
        discriminator_dims: tuple[int, ...] = (256, 128),
        minibatch_averaging: bool = True,
        discriminator_steps: int = 2,
        learning_rate: float = 1e-3,
        l2_weight: float = 1e-3,
        data_type: Literal["auto", "binary", "count"] = "auto",
        binary_rounding: Literal["threshold", "bernoulli", "straight_through", "calibrated"] = "threshold",
        cooccurrence_weight: float = 0.0,
        start_at_frequencies: bool = False,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.embedding_dim = embedding_dim
        self.noise_dim = noise_dim
        self.generator_dims = generator_dims
        self.discriminator_dims = discriminator_dims
        self.minibatch_averaging = minibatch_averaging
        self.discriminator_steps = discriminator_steps
        self.learning_rate = learning_rate
        self.l2_weight = l2_weight
        self.data_type = data_type
        self.binary_rounding = binary_rounding
        self.cooccurrence_weight = cooccurrence_weight
        self.start_at_frequencies = start_at_frequencies
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        widths = {self.noise_dim, *self.generator_dims, self.embedding_dim}
        if len(widths) != 1:
            raise ConfigError(
                "medGAN's shortcut connections add each layer's input to its output, so noise_dim, every "
                "generator_dims entry and embedding_dim must be equal",
                values=[self.noise_dim, *self.generator_dims, self.embedding_dim],
                remedy="use one width for all, e.g. 128 (the paper's)",
            )

    def _model_schema(self, schema: Schema, table: pd.DataFrame) -> Schema:
        columns = schema.modelled
        indicators = [c for c in columns if c.kind is ColumnKind.BINARY and not c.declared and _is_0_1(table[c.name])]
        countable = all(c.kind is ColumnKind.COUNT or c in indicators for c in columns)
        has_counts = any(c.kind is ColumnKind.COUNT for c in columns)
        if self.data_type == "count" or (self.data_type == "auto" and countable and has_counts):
            if not countable:
                raise ConfigError(
                    "data_type='count' needs every column to be a count or a 0/1 indicator",
                    values=[c.name for c in columns if not (c.kind is ColumnKind.COUNT or c in indicators)],
                    remedy="use data_type='auto' for mixed tables",
                )
            count_names = {c.name for c in indicators}
            return replace(
                schema,
                columns=tuple(
                    replace(c, kind=ColumnKind.COUNT) if c.name in count_names else c for c in schema.columns
                ),
            )
        if self.data_type == "binary" and any(c.kind is not ColumnKind.BINARY for c in columns):
            raise ConfigError(
                "data_type='binary' needs every column to be binary",
                values=[c.name for c in columns if c.kind is not ColumnKind.BINARY],
                remedy="build a binary matrix (synthmed ehr-matrix without --counts) or use data_type='auto'",
            )
        return schema

    def _sparse_kind(self, codes: SparseCodeMatrix) -> ColumnKind:
        if self.data_type == "binary" and codes.counts:
            raise ConfigError(
                "data_type='binary' needs a 0/1 matrix, and this sparse matrix holds counts",
                remedy="build it without --counts, or use data_type='auto'",
            )
        return ColumnKind.COUNT if codes.counts or self.data_type == "count" else ColumnKind.BINARY

    def _mode(self, layout: ColumnLayout) -> Literal["binary", "count", "mixed"]:
        if layout.all_spans(ColumnKind.BINARY):
            return "binary"
        if layout.all_spans(ColumnKind.COUNT):
            return "count"
        return "mixed"

    def _embedding_activation(self, layout: ColumnLayout) -> nn.Module:
        # paper: tanh embeddings for binary data, ReLU for counts; mixed tables behave like binary ones
        return nn.ReLU() if self._mode(layout) == "count" else nn.Tanh()

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        self.mode_ = self._mode(layout)
        self.head_ = SpanHead(layout).to(self._device())
        if self.cooccurrence_weight > 0 and not len(self.head_.sigmoid_index):
            raise ConfigError(
                "cooccurrence_weight matches how often binary columns occur together, and this table has none",
                values=[self.cooccurrence_weight],
                remedy="set cooccurrence_weight=0 for count matrices and tables without binary columns",
            )
        networks: dict[str, nn.Module] = {
            "autoencoder": Autoencoder(layout.width, self.embedding_dim, self._embedding_activation(layout)),
            "generator": Generator(
                self.noise_dim, self.generator_dims, self.embedding_dim, self._embedding_activation(layout)
            ),
            "discriminator": Discriminator(layout.width, self.discriminator_dims, self._averages_minibatches()),
        }
        for network in networks.values():
            glorot_init(network)
        return networks

    def _averages_minibatches(self) -> bool:
        """Minibatch averaging mixes the records of a batch, so no per-record gradient exists: off under DP."""
        return self.minibatch_averaging and not self.private_

    def _decode(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.head_(self.networks_["autoencoder"].decoder(embedding))

    def _discriminated(self, decoded: torch.Tensor, run: TrainingRun) -> torch.Tensor:
        """Generated records as the discriminator sees them: probabilities, or 0/1 draws (straight_through)."""
        if self.binary_rounding == "straight_through":
            return self.head_.draw_binary(decoded, run.noise)
        return decoded

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        self._pretrain_autoencoder(data, run)
        self._train_gan(data, run)
        self._burn_in(min(self.batch_size, len(data)), run)

    def _burn_in(self, batch: int, run: TrainingRun) -> None:
        if not self.epochs:
            return
        generator = self.networks_["generator"].train()
        for norm in generator.norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average
        with torch.no_grad():
            for _ in range(BURN_IN_BATCHES):
                generator(run.normal(batch, self.noise_dim))
        for norm in generator.norms:
            norm.momentum = BATCH_NORM_MOMENTUM
        generator.eval()

    def _adam(self, parameters: list[nn.Parameter]) -> torch.optim.Adam:
        # Adam's weight_decay adds l2 * w to the gradient: the gradient of the paper's l2/2 * ||w||^2 term
        return torch.optim.Adam(parameters, lr=self.learning_rate, weight_decay=self.l2_weight, foreach=True)

    def _pretrain_autoencoder(self, data: torch.Tensor, run: TrainingRun) -> None:
        autoencoder = self.networks_["autoencoder"].train()
        optimizer = self._adam(list(autoencoder.parameters()))
        n = len(data)
        batch = min(self.pretrain_batch_size, n)
        state = {**self.networks_, "optimizer": optimizer}
        reconstruction: float | None = None
        if self.start_at_frequencies:  # before run.epochs, which restores a checkpointed decoder over it
            start_at_frequencies(autoencoder.decoder.bias, self.head_, data)
        for _ in run.epochs("pretrain", self.pretrain_epochs, n, state):
            order = torch.as_tensor(run.rng.permutation(n), device=data.device)
            losses = []
            for start in range(0, n, batch):
                records = data[order[start : start + batch]]
                loss = self.head_.loss(autoencoder(records), records)
                optimizer.zero_grad(set_to_none=True)
                descend(loss, optimizer)
                losses.append(loss.item())
            reconstruction = sum(losses) / len(losses)
            run.log(reconstruction=reconstruction)
        if reconstruction is not None:  # None: every epoch was restored from a checkpoint
            warn_if_autoencoder_untrained(reconstruction, self.head_.frequency_loss(data), self.pretrain_epochs)

    def _train_gan(self, data: torch.Tensor, run: TrainingRun) -> None:
        generator, discriminator = self.networks_["generator"], self.networks_["discriminator"]
        decoder = self.networks_["autoencoder"].decoder
        optimizer_d = self._adam(list(discriminator.parameters()))
        # the paper fine-tunes the pretrained decoder together with the generator
        optimizer_g = self._adam([*generator.parameters(), *decoder.parameters()])
        n = len(data)
        batch = min(self.batch_size, n)
        state = {**self.networks_, "optimizer_d": optimizer_d, "optimizer_g": optimizer_g}
        # not in _train_privately: the real rates would be read from every record outside DP-SGD's accounting
        cooccurrences = CooccurrenceMatch(data, self.head_.sigmoid_index) if self.cooccurrence_weight > 0 else None
        for _ in run.epochs("gan", self.epochs, n, state, monitor=True):
            d_losses, g_losses = [], []
            for _ in range(math.ceil(n / batch)):
                # reference code: discriminator steps use the generator's batch-norm moving averages
                generator.eval()
                for _ in range(self.discriminator_steps):
                    real = data[torch.as_tensor(run.rng.choice(n, batch, replace=False), device=data.device)]
                    with torch.no_grad():
                        fake = self._discriminated(self._decode(generator(run.normal(batch, self.noise_dim))), run)
                    loss_d = self._discriminator_loss(discriminator, real, fake)
                    optimizer_d.zero_grad(set_to_none=True)
                    descend(loss_d, optimizer_d)
                    d_losses.append(loss_d.item())
                g_losses.append(self._generator_step(discriminator, batch, optimizer_g, run, cooccurrences))
            run.log(d_loss=sum(d_losses) / len(d_losses), g_loss=sum(g_losses) / len(g_losses))

    def _discriminator_loss(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def _generator_step(
        self,
        discriminator: nn.Module,
        batch: int,
        optimizer: torch.optim.Optimizer,
        run: TrainingRun,
        cooccurrences: CooccurrenceMatch | None = None,
    ) -> float:
        """One generator (and decoder) update with the non-saturating loss -log D(G(z)) (and co-occurrences)."""
        generator = self.networks_["generator"].train()
        discriminator.requires_grad_(False)  # the generator step needs no discriminator gradients
        decoded = self._decode(generator(run.normal(batch, self.noise_dim)))
        fake_logits = discriminator(self._discriminated(decoded, run))
        loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        if cooccurrences is not None:
            loss = loss + self.cooccurrence_weight * cooccurrences.loss(decoded, run.rng)
        optimizer.zero_grad(set_to_none=True)
        descend(loss, optimizer)
        discriminator.requires_grad_(True)
        return loss.item()

    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        n = len(data)
        pretrain_batch, batch = min(self.pretrain_batch_size, n), min(self.batch_size, n)
        phases = {
            "pretrain": Phase(pretrain_batch, self.pretrain_epochs * math.ceil(n / pretrain_batch)),
            "gan": Phase(batch, self.epochs * math.ceil(n / batch) * self.discriminator_steps),
        }
        adaptations = {}
        if self.minibatch_averaging:
            adaptations["minibatch_averaging"] = "off: it mixes the records of a batch"
        if self.cooccurrence_weight > 0:
            adaptations["cooccurrence_weight"] = "off: its real rates would be read outside the accounting"
        if self.start_at_frequencies:
            adaptations["start_at_frequencies"] = "off: the exact frequencies are not read"
        return PrivacyPlan(phases, adaptations)

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """DP-SGD on the two modules that read real records: the autoencoder's pretraining and the discriminator.

        The generator (and the decoder fine-tuned with it) only sees the private discriminator's verdicts on
        generated records: post-processing. Each discriminator step scores a Poisson batch of real records and
        as many generated ones in one pass, each row's gradient clipped on its own. Only epsilon and the
        generator's loss are logged; losses on real records would be released outside the budget.
        """
        n = len(data)
        pretrain_steps = math.ceil(n / min(self.pretrain_batch_size, n))
        gan_steps = math.ceil(n / min(self.batch_size, n))
        network = self.networks_["autoencoder"].train()
        with private.training("pretrain", network, self._adam(list(network.parameters()))) as autoencoder:
            state = {**self.networks_, "optimizer": autoencoder.optimizer}
            for _ in run.epochs("pretrain", self.pretrain_epochs, n, state):
                autoencoder.descend(run.rng, pretrain_steps, data, lambda x: self.head_.loss(autoencoder(x), x))
                run.log(epsilon=private.logged_epsilon)
        generator, decoder = self.networks_["generator"], self.networks_["autoencoder"].decoder
        network = self.networks_["discriminator"].train()
        with private.training("gan", network, self._adam(list(network.parameters()))) as discriminator:
            optimizer_g = self._adam([*generator.parameters(), *decoder.parameters()])
            state = {**self.networks_, "optimizer_d": discriminator.optimizer, "optimizer_g": optimizer_g}

            def discriminator_loss(real: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    fake = self._discriminated(
                        self._decode(generator(run.normal(private.expected_batch("gan"), self.noise_dim))), run
                    )
                labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(data.device)
                return F.binary_cross_entropy_with_logits(discriminator(torch.cat([real, fake])), labels)

            for _ in run.epochs("gan", self.epochs, n, state):
                g_losses = []
                for _ in range(gan_steps):
                    generator.eval()
                    discriminator.descend(
                        run.rng, self.discriminator_steps, data, discriminator_loss, noise_when_empty=False
                    )
                    with discriminator.passing_gradients():
                        batch = min(self.batch_size, n)
                        g_losses.append(self._generator_step(discriminator.module, batch, optimizer_g, run))
                run.log(g_loss=sum(g_losses) / len(g_losses), epsilon=private.logged_epsilon)
        self._burn_in(min(self.batch_size, n), run)

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        generator = self.networks_["generator"]
        chunks = [
            self._decode(generator(run.normal(min(self.batch_size, n - start), self.noise_dim)))
            for start in range(0, n, self.batch_size)
        ]
        return torch.cat(chunks)

    def _decode_stochastically(self) -> bool:
        return self.binary_rounding in ("bernoulli", "straight_through")
