"""corGAN under differential privacy: what changes from `corgan.py` (DP-SGD itself: models/dp.py).

Two networks read real records: the autoencoder while it is pretrained (encoder and decoder), and the critic.
Both train with DP-SGD on Poisson batches, accounted together. Their norms are group norms (built so in
`corgan.py`; the convolutional critic's always are), since batch norm mixes a batch's records. The critic keeps
corGAN's own Lipschitz device, weight clipping, and its WGAN warm-up schedule; every one of its steps is
accounted. Each critic step scores a Poisson batch of real records and as many generated ones in one pass, each
row with its own term of the Wasserstein loss. The generator and the decoder's fine-tuning learn only from the
private critic: post-processing. Transposed convolutions have no per-record gradient rule in Opacus; it derives
one with functorch.
With `quantile_knots`, numbers are calibrated to histograms of their declared ranges released by the Gaussian
mechanism (`MARGINALS_SHARE` of epsilon, before training; models/dp_histograms.py), not to the data's quantiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from synthmed.models.dp import Phase
from synthmed.models.dp_histograms import (
    HISTOGRAM_BINS,
    MARGINALS_SHARE,
    calibrate_to_histograms,
    numeric_histograms,
    release_histograms,
)
from synthmed.models.layers import clip_weights, wasserstein_critic_terms, wasserstein_generator_step
from synthmed.models.training import TrainingRun

if TYPE_CHECKING:
    from synthmed.models.corgan import CorGAN


def train_privately(model: CorGAN, data: torch.Tensor, run: TrainingRun) -> None:
    """Pretrain the autoencoder, then train the GAN, with DP-SGD wherever real records are read."""
    n = len(data)
    batch = min(model.batch_size, n)
    steps_per_epoch = max(1, n // batch)
    generator_steps = model.epochs * steps_per_epoch
    histograms = numeric_histograms(data.cpu().numpy(), model.transformer_) if model.quantile_knots else {}
    marginals = {"marginals": Phase(n, 1, share=MARGINALS_SHARE)} if histograms else {}
    private = run.private_training(
        n,
        **marginals,
        pretrain=Phase(batch, model.pretrain_epochs * steps_per_epoch),
        critic=Phase(batch, sum(model._critic_steps(step) for step in range(generator_steps))),
    )
    private.adaptations["norms"] = "group norm instead of batch norm in the autoencoder (the critic always has it)"
    released = release_histograms(private, histograms) if histograms else {}
    if released:
        private.adaptations["quantile_knots"] = (
            f"numbers calibrated to {HISTOGRAM_BINS}-bin histograms of their declared ranges, released by the "
            f"Gaussian mechanism ({MARGINALS_SHARE:.0%} of epsilon), instead of to the data's quantiles"
        )
    if model.start_at_frequencies:
        private.adaptations["start_at_frequencies"] = "the column bias starts at 0: the exact frequencies are not read"
    autoencoder = private.wrap(model.networks_["autoencoder"].train())
    optimizer = private.optimizer("pretrain", model._adam([{"params": list(autoencoder.parameters())}]))
    state = {**model.networks_, "optimizer_autoencoder": optimizer}

    def reconstruction(records: torch.Tensor) -> torch.Tensor:
        inner = autoencoder._module
        return model.head_.loss(inner.decode(inner.encode(records), model.width_), records)

    for _ in run.epochs("pretrain", model.pretrain_epochs, n, state):
        private.descend("pretrain", run.rng, steps_per_epoch, data, autoencoder, optimizer, reconstruction)
        run.log(epsilon=private.logged_epsilon)
    autoencoder._close()
    _train_gan(model, data, run, steps_per_epoch)
    if released:
        calibrate_to_histograms(model.transformer_, released, model.quantile_knots)


def _train_gan(model: CorGAN, data: torch.Tensor, run: TrainingRun, steps_per_epoch: int) -> None:
    private = run.private
    generator, decoder = model.networks_["generator"].train(), model.networks_["autoencoder"].decoder.train()
    critic = private.wrap(model.networks_["critic"].train())
    optimizer_critic = private.optimizer("critic", model._adam([{"params": list(critic.parameters())}]))
    groups: list[dict[str, object]] = [{"params": list(generator.parameters())}]
    if model.decoder_learning_rate > 0:
        groups.append({"params": list(decoder.parameters()), "lr": model.decoder_learning_rate})
    optimizer_generator = model._adam(groups)
    batch = private.expected_batch("critic")
    state = {**model.networks_, "optimizer_critic": optimizer_critic, "optimizer_generator": optimizer_generator}

    def critic_loss(real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fake = model._generated(batch, run)
        return wasserstein_critic_terms(critic, real, fake)

    for epoch in run.epochs("gan", model.epochs, len(data), state):
        losses = []
        for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
            for _ in range(model._critic_steps(step)):  # one at a time: the weights are clipped after each
                private.descend(
                    "critic", run.rng, 1, data, critic, optimizer_critic, critic_loss, noise_when_empty=False
                )
                clip_weights(critic, model.clip_value)
            with private.paused(critic):
                losses.append(wasserstein_generator_step(critic, model._generated(batch, run), optimizer_generator))
        run.log(generator_loss=sum(losses) / len(losses), epsilon=private.logged_epsilon)
    critic._close()
