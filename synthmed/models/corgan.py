"""corGAN (Torfi & Fox 2020, "CorGAN: Correlation-capturing convolutional GANs for generating synthetic
healthcare records").

A 1-D convolutional autoencoder is pretrained on the real records, so neighbouring codes share filters and
their correlations are captured. A generator then produces 128-d embeddings that the pretrained decoder,
fine-tuned with the generator, turns into records, and a critic scores them in the Wasserstein GAN setting
with weight clipping (Arjovsky et al. 2017). The autoencoder and every training default come from the
paper's reference code.

Any width: the reference decoder turns a length-1 embedding into exactly 1,071 values through transposed
convolutions whose strides multiply to 192. A record of width W is zero-padded on the right to the next
length that stack produces, 192 * k + 111 (k >= 1). The first decoder kernel (k) and the last encoder kernel
(which collapses the strided encoder's output to length 1) are computed from that length. At 1,071 codes this
is exactly the reference network. Generated padding is cut off before the output activations, so the critic
and the sampled table see only the real columns.

Under differential privacy the autoencoder uses group norm too (the critic always does), and both train with
DP-SGD: see corgan_private.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import Schema
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.corgan_private import train_privately
from synthmed.models.dp import PrivacyBudget
from synthmed.models.layers import (
    SpanHead,
    clip_weights,
    start_at_frequencies,
    warn_if_autoencoder_untrained,
    wasserstein_generator_step,
)
from synthmed.models.training import TrainingRun

# Reference autoencoder: channels double from 4 to 128 (the embedding); (kernel, stride) per strided layer.
BASE_CHANNELS = 4
EMBEDDING_DIM = 32 * BASE_CHANNELS
ENCODER_LAYERS = ((5, 2), (5, 2), (5, 3), (5, 3), (5, 3))
DECODER_LAYERS = ((5, 4), (7, 4), (7, 3), (7, 2), (3, 2))  # after the first, length-setting layer
# Our 1-D convolutional generator and critic (the paper gives no shapes): DCGAN-style, halving channels.
GENERATOR_CHANNELS = (128, 64, 32, 16, 8)
CRITIC_CHANNELS = (8, 16, 32, 64, 128)
# Reference MLP variant: residual generator (medGAN's) and a 256-256-256 critic.
MLP_CRITIC_DIMS = (256, 256, 256)
# The reference critic trains 100 steps per generator step for the first 25 and every 500th generator step
# (the WGAN authors' schedule), so the critic is near optimal when the generator leans on it.
WARMUP_GENERATOR_STEPS = 25
WARMUP_PERIOD = 500
# Batch-norm statistics are re-estimated on the trained generator and decoder before sampling (as for medGAN):
# an exact average over 20 batches (10,240 rows at the default batch size).
BURN_IN_BATCHES = 20
# Per-record normalisation (the convolutional critic; under DP the autoencoder too): group norm, at most this
# many groups.
NORM_GROUPS = 4


def _decoded_length(first_kernel: int) -> int:
    length = first_kernel
    for kernel, stride in DECODER_LAYERS:
        length = (length - 1) * stride + kernel
    return length


def padded_width(width: int) -> tuple[int, int]:
    """(padded length, first decoder kernel): the shortest decodable length that holds `width` values."""
    growth = _decoded_length(2) - _decoded_length(1)
    first_kernel = max(1, math.ceil((width - _decoded_length(0)) / growth))
    return _decoded_length(first_kernel), first_kernel


def _strided_length(length: int) -> int:
    for kernel, stride in ENCODER_LAYERS:
        length = (length - kernel) // stride + 1
    return length


def _init_weights(network: nn.Module) -> None:
    """The reference code's initialisation: DCGAN's N(0, 0.02) convolutions, Glorot linears, bias 0.01."""
    for module in network.modules():
        if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm1d) and module.affine:
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.constant_(module.bias, 0.01)


def _norm(channels: int, affine: bool, per_record: bool) -> nn.Module:
    """Batch norm, or group norm, which normalises each record on its own (see ConvCritic; under DP batch norm
    would mix a batch's records, see models/dp.py)."""
    if per_record:
        return nn.GroupNorm(min(NORM_GROUPS, channels), channels, affine=affine)
    return nn.BatchNorm1d(channels, affine=affine)


def _strided_stack(channels: tuple[int, ...], learnable_norm: bool, per_record: bool) -> list[nn.Module]:
    """The encoder's strided convolutions, each but the first followed by a norm, with leaky ReLU."""
    layers: list[nn.Module] = []
    for i, ((kernel, stride), (a, b)) in enumerate(zip(ENCODER_LAYERS, itertools.pairwise(channels), strict=True)):
        norm = [_norm(b, learnable_norm, per_record)] if i else []
        layers += [nn.Conv1d(a, b, kernel, stride), *norm, nn.LeakyReLU(0.2)]
    return layers


class Autoencoder(nn.Module):
    """The reference 1-D convolutional autoencoder; the decoder returns raw outputs (padding included).

    With `column_bias` its output gets a learnable bias per column (synthmed's extension). The reference's last
    transposed convolution has one bias shared by every code, so each code's frequency must be learnt through
    the convolutions, which on a sparse matrix takes most of a short pretraining.
    """

    def __init__(self, padded: int, first_kernel: int, private: bool = False, column_bias: int = 0) -> None:
        super().__init__()
        self.column_bias = nn.Parameter(torch.zeros(column_bias)) if column_bias else None
        channels = tuple(BASE_CHANNELS * 2**i for i in range(6))  # 1 input channel, then 4 ... 128
        self.padded = padded
        self.encoder = nn.Sequential(
            *_strided_stack((1, *channels[:5]), learnable_norm=True, per_record=private),
            nn.Conv1d(channels[4], EMBEDDING_DIM, _strided_length(padded)),
            nn.Tanh(),
        )
        decoder: list[nn.Module] = [nn.ConvTranspose1d(EMBEDDING_DIM, channels[4], first_kernel), nn.ReLU()]
        widths = (*reversed(channels[:5]), 1)
        for (kernel, stride), (a, b) in zip(DECODER_LAYERS, itertools.pairwise(widths), strict=True):
            decoder += [nn.ConvTranspose1d(a, b, kernel, stride)]
            if b != 1:
                decoder += [_norm(b, affine=True, per_record=private), nn.ReLU()]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, records: torch.Tensor) -> torch.Tensor:
        """(n, width) -> (n, 128, 1) embeddings."""
        return self.encoder(F.pad(records, (0, self.padded - records.shape[1])).unsqueeze(1))

    def decode(self, embeddings: torch.Tensor, width: int) -> torch.Tensor:
        """(n, 128, 1) -> (n, width) raw outputs; the padding is cut off."""
        raw = self.decoder(embeddings)[:, 0, :width]
        return raw if self.column_bias is None else raw + self.column_bias


class ConvGenerator(nn.Module):
    """DCGAN-style transposed convolutions: noise (channels, length 1) -> a 128-long signal -> the embedding."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ConvTranspose1d(latent_dim, GENERATOR_CHANNELS[0], 4, bias=False)]
        for a, b in itertools.pairwise(GENERATOR_CHANNELS):  # length 4 doubles to 64
            layers += [nn.BatchNorm1d(a), nn.ReLU(), nn.ConvTranspose1d(a, b, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm1d(GENERATOR_CHANNELS[-1]), nn.ReLU()]
        layers += [nn.ConvTranspose1d(GENERATOR_CHANNELS[-1], 1, 4, 2, 1, bias=False), nn.Tanh()]  # 64 -> 128
        self.body = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.body(noise.unsqueeze(2)).view(len(noise), EMBEDDING_DIM, 1)


class MLPGenerator(nn.Module):
    """The reference code's generator: two residual dense layers with batch norm, ReLU then tanh."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(latent_dim, EMBEDDING_DIM), nn.Linear(EMBEDDING_DIM, EMBEDDING_DIM)])
        self.norms = nn.ModuleList(nn.BatchNorm1d(EMBEDDING_DIM, eps=1e-3, momentum=0.01) for _ in range(2))
        self.activations = (F.relu, torch.tanh)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        h = noise
        for linear, norm, activation in zip(self.linears, self.norms, self.activations, strict=True):
            h = h + activation(norm(linear(h)))
        return h.unsqueeze(2)


class ConvCritic(nn.Module):
    """The encoder's strided stack (wider channels) on the zero-padded record, down to one score.

    Its norms are per-record group norms without learnable scale. Batch norm would score real and generated
    batches each by its own statistics, so a batch of identical records would normalise to zeros: every collapsed
    batch would get the same score and no gradient, and the generator could not leave a collapse. With batch
    norm, corGAN's defaults at the reference's full budget collapse to one repeated waveform on the
    epileptic-seizure chunks (benchmarks/studies/README.md, study 2b).
    """

    def __init__(self, padded: int) -> None:
        super().__init__()
        self.padded = padded
        self.body = nn.Sequential(
            *_strided_stack((1, *CRITIC_CHANNELS), learnable_norm=False, per_record=True),
            nn.Conv1d(CRITIC_CHANNELS[-1], 1, _strided_length(padded)),
        )

    def forward(self, records: torch.Tensor) -> torch.Tensor:
        return self.body(F.pad(records, (0, self.padded - records.shape[1])).unsqueeze(1)).view(-1)


class MLPCritic(nn.Module):
    """The reference code's critic: three 256-unit ReLU layers and a linear score."""

    def __init__(self, width: int) -> None:
        super().__init__()
        dims = (width, *MLP_CRITIC_DIMS)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, records: torch.Tensor) -> torch.Tensor:
        return self.body(records).view(-1)


def _batch_norms(*networks: nn.Module) -> Iterator[nn.BatchNorm1d]:
    return (m for network in networks for m in network.modules() if isinstance(m, nn.BatchNorm1d))


class CorGAN(Synthesizer):
    """corGAN for binary code matrices (its main use) and, through the data layer, any table.

    Hyperparameters (defaults from Torfi & Fox 2020's reference code unless marked ours):
        epochs: GAN training epochs (1,000: the reference resumes from its epoch-1,000 checkpoint).
        batch_size: minibatch, drawn with replacement (512).
        pretrain_epochs: autoencoder pretraining epochs (100, the reference's MLP script; its CNN script has 1).
        latent_dim: generator noise size (128; the "mlp" generator's shortcuts need it to equal the 128-d
            embedding).
        architecture: "conv" uses 1-D convolutional generator and critic, as the paper describes (layer
            shapes ours: DCGAN-style transposed convolutions to the embedding, and a critic that repeats the
            encoder's strides with 8-128 channels); "mlp" uses the reference code's residual dense generator
            and 256-256-256 critic. The autoencoder is the reference's convolutional one in both.
        critic_steps: critic updates per generator update (5).
        warmup_critic_steps: critic updates for the first 25 and every 500th generator update (100, the
            WGAN schedule in the reference code; set it to critic_steps to turn it off).
        clip_value: critic weights are clipped to [-clip_value, clip_value] after every critic update (0.01).
        learning_rate: Adam step size for the autoencoder, generator and critic (1e-3).
        decoder_learning_rate: Adam step size for fine-tuning the decoder with the generator (1e-4; 0 freezes
            the decoder).
        l2_weight: Adam weight decay on every network (1e-4).
        binary_rounding: "threshold" rounds generated probabilities at 0.5 (reference); "bernoulli" draws them;
            "calibrated" (ours) rounds each binary column at the threshold that gives a generated sample the
            training data's share of ones (data/calibration.py), so the likeliest rows get each code. The shares
            ship in the artifact. Rounding at 0.5 drops every code the decoder gives below even odds, so records
            come out too short; calibrated, they get the data's length and per-code probabilities much closer to
            the data's (measured: benchmarks/studies/README.md, study 2a).
            A share declared in the schema (`share`, e.g. a published prevalence) replaces the data's; under DP
            every binary column must declare one.
        quantile_knots: numeric columns' quantiles (at this many even levels) kept to calibrate generated
            marginals after training, as tabgan does (data/calibration.py); they ship in the artifact. 0, the
            default, keeps none (ours; the reference has no calibration). Min-max scaling squeezes a heavy-tailed
            column's usual values into a narrow band the GAN barely resolves; calibration maps the generated
            marginal onto the data's, but cannot restore shapes the GAN never resolved, so it helps less than
            quantile scaling (measured: benchmarks/studies/README.md, study 2b). Under DP the targets are
            histograms of the declared ranges, released with part of the budget (models/corgan_private.py), since
            the data's quantiles are not accounted.
        numeric_scaling: "minmax" (reference) scales numeric columns to [0, 1] by their range; "quantiles" by
            their levels in the data's distribution (ours; data/quantile_scaling.py), so a heavy-tailed column's
            usual values span the scale instead of a narrow band, which lets generated epileptic-seizure EEG
            chunks train a far better forest than min-max scaling does (measured: benchmarks/studies/README.md,
            study 2b). Refused under DP.
        start_at_frequencies: add a learnable per-column bias to the decoder's output, started at the training
            columns' log-odds (synthmed's extension; see Autoencoder), so a short pretraining on a sparse code
            matrix learns records; without it, the same pretraining ends no better than the code frequencies
            alone (measured: benchmarks/studies/README.md, study 2a). Under DP the bias starts at 0 (the exact
            frequencies would be read outside the accounting).
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    >>> import numpy as np
    >>> from synthmed.models import CorGAN
    >>> codes = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(int)
    >>> model = CorGAN(epochs=1, pretrain_epochs=1, warmup_critic_steps=5, seed=0).fit(codes, progress=False)
    >>> model.sample(5).shape
    (5, 12)
    """

    name = "corgan"
    summary = "corGAN (Torfi & Fox 2020): convolutional autoencoder + Wasserstein GAN, code matrices and any table"
    positive = frozenset(
        {"batch_size", "latent_dim", "critic_steps", "warmup_critic_steps", "clip_value", "learning_rate"}
    )
    private_training = True

    def __init__(
        self,
        *,
        epochs: int = 1000,
        batch_size: int = 512,
        pretrain_epochs: int = 100,
        latent_dim: int = 128,
        architecture: Literal["conv", "mlp"] = "conv",
        critic_steps: int = 5,
        warmup_critic_steps: int = 100,
        clip_value: float = 0.01,
        learning_rate: float = 1e-3,
        decoder_learning_rate: float = 1e-4,
        l2_weight: float = 1e-4,
        binary_rounding: Literal["threshold", "bernoulli", "calibrated"] = "threshold",
        quantile_knots: int = 0,
        numeric_scaling: Literal["minmax", "quantiles"] = "minmax",
        start_at_frequencies: bool = False,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.pretrain_epochs = pretrain_epochs
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.critic_steps = critic_steps
        self.warmup_critic_steps = warmup_critic_steps
        self.clip_value = clip_value
        self.learning_rate = learning_rate
        self.decoder_learning_rate = decoder_learning_rate
        self.l2_weight = l2_weight
        self.binary_rounding = binary_rounding
        self.quantile_knots = quantile_knots
        self.numeric_scaling = numeric_scaling
        self.start_at_frequencies = start_at_frequencies
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        if self.architecture == "mlp" and self.latent_dim != EMBEDDING_DIM:
            raise ConfigError(
                f"the mlp generator adds each layer's input to its output, so latent_dim must equal the "
                f"{EMBEDDING_DIM}-d embedding",
                values=[self.latent_dim],
                remedy=f"use latent_dim={EMBEDDING_DIM}, or architecture='conv' for another noise size",
            )

    def _transformer(self, schema: Schema) -> TableTransformer:
        private = bool(getattr(self, "privacy_", None))
        return TableTransformer(
            schema,
            self.numeric_scaling,
            quantile_knots=0 if private else self.quantile_knots,
            binary_shares=self._calibrated_rounding,
        )

    def _check_private_options(self, budget: PrivacyBudget, monitor_every: int | None, checkpoint: Any) -> None:
        super()._check_private_options(budget, monitor_every, checkpoint)
        if self.numeric_scaling == "quantiles":
            raise ConfigError(
                "quantile scaling reads every numeric column's quantiles outside the privacy budget",
                values=[self.numeric_scaling],
                remedy="use numeric_scaling='minmax' with differential privacy",
            )

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        self.width_ = layout.width
        self.head_ = SpanHead(layout).to(self._device())
        padded, first_kernel = padded_width(layout.width)
        conv, private = self.architecture == "conv", bool(getattr(self, "privacy_", None))
        networks: dict[str, nn.Module] = {
            "autoencoder": Autoencoder(padded, first_kernel, private, layout.width if self.start_at_frequencies else 0),
            "generator": ConvGenerator(self.latent_dim) if conv else MLPGenerator(self.latent_dim),
            "critic": ConvCritic(padded) if conv else MLPCritic(layout.width),
        }
        for network in networks.values():
            _init_weights(network)
        return networks

    def _decode(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.head_(self.networks_["autoencoder"].decode(embeddings, self.width_))

    def _generated(self, rows: int, run: TrainingRun) -> torch.Tensor:
        return self._decode(self.networks_["generator"](run.normal(rows, self.latent_dim)))

    def _adam(self, groups: list[dict[str, object]]) -> torch.optim.Adam:
        return torch.optim.Adam(groups, lr=self.learning_rate, weight_decay=self.l2_weight, foreach=True)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        if run.privacy is not None:
            train_privately(self, data, run)
        else:
            self._pretrain_autoencoder(data, run)
            self._train_gan(data, run)
        self._burn_in(min(self.batch_size, len(data)), run)

    def _critic_steps(self, step: int) -> int:
        """Critic updates before generator update `step` (the WGAN warm-up schedule)."""
        warmup = step < WARMUP_GENERATOR_STEPS or step % WARMUP_PERIOD == 0
        return max(self.critic_steps, self.warmup_critic_steps) if warmup else self.critic_steps

    def _pretrain_autoencoder(self, data: torch.Tensor, run: TrainingRun) -> None:
        autoencoder = self.networks_["autoencoder"].train()
        optimizer = self._adam([{"params": list(autoencoder.parameters())}])
        n = len(data)
        batch = min(self.batch_size, n)
        state = {**self.networks_, "optimizer_autoencoder": optimizer}
        reconstruction: float | None = None
        if autoencoder.column_bias is not None:  # before run.epochs, which restores a checkpointed one over it
            start_at_frequencies(autoencoder.column_bias, self.head_, data)
        for _ in run.epochs("pretrain", self.pretrain_epochs, n, state):
            losses = []
            for _ in range(n // batch):  # the reference draws batches with replacement, dropping the last
                records = data[torch.as_tensor(run.rng.integers(0, n, batch), device=data.device)]
                loss = self.head_.loss(autoencoder.decode(autoencoder.encode(records), self.width_), records)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            reconstruction = sum(losses) / len(losses)
            run.log(reconstruction=reconstruction)
        if reconstruction is not None:  # None: every epoch was restored from a checkpoint
            warn_if_autoencoder_untrained(reconstruction, self.head_.frequency_loss(data), self.pretrain_epochs)

    def _train_gan(self, data: torch.Tensor, run: TrainingRun) -> None:
        generator, critic = self.networks_["generator"].train(), self.networks_["critic"].train()
        decoder = self.networks_["autoencoder"].decoder.train()
        optimizer_critic = self._adam([{"params": list(critic.parameters())}])
        groups: list[dict[str, object]] = [{"params": list(generator.parameters())}]
        if self.decoder_learning_rate > 0:  # the reference fine-tunes the decoder, ten times more gently
            groups.append({"params": list(decoder.parameters()), "lr": self.decoder_learning_rate})
        optimizer_generator = self._adam(groups)
        n = len(data)
        batch = min(self.batch_size, n)
        steps_per_epoch = n // batch
        state = {**self.networks_, "optimizer_critic": optimizer_critic, "optimizer_generator": optimizer_generator}
        for epoch in run.epochs("gan", self.epochs, n, state, monitor=True):
            critic_losses, generator_losses = [], []
            for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
                for _ in range(self._critic_steps(step)):
                    real = data[torch.as_tensor(run.rng.integers(0, n, batch), device=data.device)]
                    with torch.no_grad():
                        fake = self._generated(batch, run)
                    # the critic estimates the Wasserstein distance as E[critic(real)] - E[critic(fake)]
                    loss_critic = critic(fake).mean() - critic(real).mean()
                    optimizer_critic.zero_grad(set_to_none=True)
                    loss_critic.backward()
                    optimizer_critic.step()
                    clip_weights(critic, self.clip_value)
                    critic_losses.append(loss_critic.item())
                fake = self._generated(batch, run)
                generator_losses.append(wasserstein_generator_step(critic, fake, optimizer_generator))
            run.log(
                critic_loss=sum(critic_losses) / len(critic_losses),
                generator_loss=sum(generator_losses) / len(generator_losses),
            )

    def _burn_in(self, batch: int, run: TrainingRun) -> None:
        if not self.epochs:
            return
        generator, decoder = self.networks_["generator"].train(), self.networks_["autoencoder"].decoder.train()
        momenta = [(norm, norm.momentum) for norm in _batch_norms(generator, decoder)]
        for norm, _ in momenta:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average
        with torch.no_grad():
            for _ in range(BURN_IN_BATCHES):
                decoder(generator(run.normal(batch, self.latent_dim)))
        for norm, momentum in momenta:
            norm.momentum = momentum

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        chunks = [self._generated(min(self.batch_size, n - start), run) for start in range(0, n, self.batch_size)]
        return torch.cat(chunks)

    def _decode_stochastically(self) -> bool:
        return self.binary_rounding == "bernoulli"
