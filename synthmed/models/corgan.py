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

Under differential privacy (`CorGAN._train_privately`) two networks read real records: the autoencoder while it
is pretrained, and the critic. Both train with DP-SGD on Poisson batches, accounted together; the autoencoder uses
group norm (the critic always does), since batch norm mixes a batch's records. The critic keeps weight clipping
and the WGAN warm-up schedule, every one of its steps accounted; each step scores a Poisson batch of real records
and as many generated ones in one pass, each row with its own term of the Wasserstein loss. The generator and the
decoder's fine-tuning learn only from the private critic: post-processing. With `quantile_knots`, numbers are
calibrated to histograms of their declared ranges released by the Gaussian mechanism (`MARGINALS_SHARE` of
epsilon, before training; models/dp_histograms.py), not to the data's quantiles.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import Schema
from synthmed.data.transform import TableTransformer
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.corgan_networks import (
    EMBEDDING_DIM,
    Autoencoder,
    ConvCritic,
    ConvGenerator,
    MLPCritic,
    MLPGenerator,
    batch_norms,
    init_weights,
    padded_width,
)
from synthmed.models.dp import Phase, PrivacyBudget, PrivacyPlan, PrivateTraining
from synthmed.models.dp_histograms import (
    HISTOGRAM_BINS,
    MARGINALS_SHARE,
    calibrate_to_histograms,
    numeric_histograms,
    numeric_spans,
    release_histograms,
)
from synthmed.models.layers import (
    SpanHead,
    clip_weights,
    start_at_frequencies,
    warn_if_autoencoder_untrained,
    wasserstein_critic_terms,
    wasserstein_generator_step,
)
from synthmed.models.training import TrainingRun, descend

# The reference critic trains 100 steps per generator step for the first 25 and every 500th generator step
# (the WGAN authors' schedule), so the critic is near optimal when the generator leans on it.
WARMUP_GENERATOR_STEPS = 25
WARMUP_PERIOD = 500
# Batch-norm statistics are re-estimated on the trained generator and decoder before sampling (as for medGAN):
# an exact average over 20 batches (10,240 rows at the default batch size).
BURN_IN_BATCHES = 20


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
            histograms of the declared ranges, released with part of the budget (`_train_privately`), since
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
    generation_weights = ("generator.", "autoencoder.decoder.", "autoencoder.column_bias")
    positive = frozenset(
        {"batch_size", "latent_dim", "critic_steps", "warmup_critic_steps", "clip_value", "learning_rate"}
    )

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
        return TableTransformer(
            schema,
            self.numeric_scaling,
            quantile_knots=0 if self.private_ else self.quantile_knots,
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
        conv = self.architecture == "conv"
        networks: dict[str, nn.Module] = {
            "autoencoder": Autoencoder(
                padded, first_kernel, self.private_, layout.width if self.start_at_frequencies else 0
            ),
            "generator": ConvGenerator(self.latent_dim) if conv else MLPGenerator(self.latent_dim),
            "critic": ConvCritic(padded) if conv else MLPCritic(layout.width),
        }
        for network in networks.values():
            init_weights(network)
        return networks

    def _decode(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.head_(self.networks_["autoencoder"].decode(embeddings, self.width_))

    def _generated(self, rows: int, run: TrainingRun) -> torch.Tensor:
        return self._decode(self.networks_["generator"](run.normal(rows, self.latent_dim)))

    def _adam(self, groups: list[dict[str, object]]) -> torch.optim.Adam:
        return torch.optim.Adam(groups, lr=self.learning_rate, weight_decay=self.l2_weight, foreach=True)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        self._pretrain_autoencoder(data, run)
        self._train_gan(data, run)
        self._burn_in(min(self.batch_size, len(data)), run)

    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        n = len(data)
        batch = min(self.batch_size, n)
        steps_per_epoch = max(1, n // batch)
        generator_steps = self.epochs * steps_per_epoch
        phases = {
            "marginals": Phase(n, 1, share=MARGINALS_SHARE),
            "pretrain": Phase(batch, self.pretrain_epochs * steps_per_epoch),
            "critic": Phase(batch, sum(self._critic_steps(step) for step in range(generator_steps))),
        }
        adaptations = {"norms": "group norm instead of batch norm in the autoencoder (the critic always has it)"}
        if self.quantile_knots and numeric_spans(self.transformer_):
            adaptations["quantile_knots"] = (
                f"numbers calibrated to {HISTOGRAM_BINS}-bin histograms of their declared ranges, released by the "
                f"Gaussian mechanism ({MARGINALS_SHARE:.0%} of epsilon), instead of to the data's quantiles"
            )
        else:
            del phases["marginals"]
        if self.start_at_frequencies:
            adaptations["start_at_frequencies"] = "the column bias starts at 0: the exact frequencies are not read"
        return PrivacyPlan(phases, adaptations)

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """Pretrain the autoencoder, then train the GAN, with DP-SGD wherever real records are read."""
        n = len(data)
        steps_per_epoch = max(1, n // min(self.batch_size, n))
        # with quantile_knots, one histogram per numeric column, released as the plan's "marginals" phase
        histograms = numeric_histograms(data.cpu().numpy(), self.transformer_) if self.quantile_knots else {}
        released = release_histograms(private, histograms) if histograms else {}
        network = self.networks_["autoencoder"].train()
        with private.training("pretrain", network, self._adam([{"params": list(network.parameters())}])) as learner:
            state = {**self.networks_, "optimizer_autoencoder": learner.optimizer}

            def reconstruction(records: torch.Tensor) -> torch.Tensor:
                return self.head_.loss(network.decode(network.encode(records), self.width_), records)

            for _ in run.epochs("pretrain", self.pretrain_epochs, n, state):
                learner.descend(run.rng, steps_per_epoch, data, reconstruction)
                run.log(epsilon=private.logged_epsilon)
        self._train_private_gan(data, run, private, steps_per_epoch)
        if released:
            calibrate_to_histograms(self.transformer_, released, self.quantile_knots)
        self._burn_in(min(self.batch_size, n), run)

    def _train_private_gan(
        self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining, steps_per_epoch: int
    ) -> None:
        generator, decoder = self.networks_["generator"].train(), self.networks_["autoencoder"].decoder.train()
        network = self.networks_["critic"].train()
        groups: list[dict[str, object]] = [{"params": list(generator.parameters())}]
        if self.decoder_learning_rate > 0:
            groups.append({"params": list(decoder.parameters()), "lr": self.decoder_learning_rate})
        batch = private.expected_batch("critic")
        with private.training("critic", network, self._adam([{"params": list(network.parameters())}])) as critic:
            optimizer_generator = self._adam(groups)
            state = {**self.networks_, "optimizer_critic": critic.optimizer, "optimizer_generator": optimizer_generator}

            def critic_loss(real: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    fake = self._generated(batch, run)
                return wasserstein_critic_terms(critic, real, fake)

            for epoch in run.epochs("gan", self.epochs, len(data), state):
                losses = []
                for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
                    for _ in range(self._critic_steps(step)):  # one at a time: the weights are clipped after each
                        critic.descend(run.rng, 1, data, critic_loss, noise_when_empty=False)
                        clip_weights(network, self.clip_value)
                    with critic.passing_gradients():
                        fake = self._generated(batch, run)
                        losses.append(wasserstein_generator_step(network, fake, optimizer_generator))
                run.log(generator_loss=sum(losses) / len(losses), epsilon=private.logged_epsilon)

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
                descend(loss, optimizer)
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
                    descend(loss_critic, optimizer_critic)
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
        momenta = [(norm, norm.momentum) for norm in batch_norms(generator, decoder)]
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
