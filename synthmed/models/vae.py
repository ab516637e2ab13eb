"""Variational autoencoder (Kingma & Welling 2014), the baseline the medGAN and corGAN papers compare with.

An MLP encoder maps a record to a Gaussian over a 128-d latent space; an MLP decoder maps latent samples
back to records. Training maximises the evidence lower bound: the layout's reconstruction loss (BCE for
binary spans, cross-entropy for categorical, MSE for numbers) plus the KL divergence to N(0, I).
Generating is decoding draws from N(0, I).
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.models.base import Synthesizer
from synthmed.models.dp import Phase, PrivacyPlan, PrivateTraining, steps_per_epoch
from synthmed.models.layers import SpanHead
from synthmed.models.training import TrainingRun, descend


def _mlp(dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Record -> mean and log-variance of its latent Gaussian."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.body = _mlp((input_dim, *hidden_dims))
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.log_variance = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, records: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(records)
        return self.mean(hidden), self.log_variance(hidden)


class Decoder(nn.Module):
    """Latent point -> raw outputs (the layout's head turns them into record values)."""

    def __init__(self, latent_dim: int, hidden_dims: tuple[int, ...], output_dim: int) -> None:
        super().__init__()
        widths = tuple(reversed(hidden_dims))
        self.body = _mlp((latent_dim, *widths))
        self.output = nn.Linear(widths[-1], output_dim)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.output(self.body(latent))


class _Autoencoding(nn.Module):
    """Encoder and decoder as one module, so that DP-SGD clips each record's gradient over both at once."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, records: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, log_variance = self.encoder(records)
        return self.decoder(mean + torch.exp(0.5 * log_variance) * noise), mean, log_variance


def _kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, I)), summed over the latent, averaged over records."""
    return 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=1).mean()


class VAE(Synthesizer):
    """Variational autoencoder for binary, count and mixed tables.

    Hyperparameters:
        epochs: passes over the data (ours: 300; a VAE's loss settles far sooner than a GAN's).
        batch_size: minibatch (ours: 100, medGAN's autoencoder batch).
        latent_dim: latent size (128, the embedding size of the medGAN/corGAN baselines).
        hidden_dims: encoder widths, mirrored by the decoder (ours: 256, 128; the papers do not give them).
        learning_rate: Adam step size (1e-3, as for medGAN).
        l2_weight: L2 penalty on the weights (1e-3, as for medGAN).
        kl_weight: weight of the KL term (1 = the ELBO of Kingma & Welling; < 1 trades diversity for detail).
        binary_rounding: "bernoulli" draws binary and categorical values from the decoded probabilities (the
            model's own likelihood); "threshold" rounds them at 0.5 / takes the most likely category.
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    >>> import numpy as np
    >>> from synthmed.models import VAE
    >>> codes = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(int)
    >>> VAE(epochs=2, seed=0).fit(codes, progress=False).sample(5).shape
    (5, 12)
    """

    name = "vae"
    generation_weights = ("decoder.",)
    positive = frozenset({"batch_size", "latent_dim", "learning_rate"})

    def __init__(
        self,
        *,
        epochs: int = 300,
        batch_size: int = 100,
        latent_dim: int = 128,
        hidden_dims: tuple[int, ...] = (256, 128),
        learning_rate: float = 1e-3,
        l2_weight: float = 1e-3,
        kl_weight: float = 1.0,
        binary_rounding: Literal["bernoulli", "threshold"] = "bernoulli",
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.learning_rate = learning_rate
        self.l2_weight = l2_weight
        self.kl_weight = kl_weight
        self.binary_rounding = binary_rounding
        self.seed = seed
        self.device = device

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        self.head_ = SpanHead(layout).to(self._device())
        return {
            "encoder": Encoder(layout.width, self.hidden_dims, self.latent_dim),
            "decoder": Decoder(self.latent_dim, self.hidden_dims, layout.width),
        }

    def _optimizer(self) -> torch.optim.Optimizer:
        parameters = [*self.networks_["encoder"].parameters(), *self.networks_["decoder"].parameters()]
        return torch.optim.Adam(parameters, lr=self.learning_rate, weight_decay=self.l2_weight, foreach=True)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        encoder, decoder = self.networks_["encoder"].train(), self.networks_["decoder"].train()
        optimizer = self._optimizer()
        n = len(data)
        batch = min(self.batch_size, n)
        state = {**self.networks_, "optimizer": optimizer}
        for _ in run.epochs("train", self.epochs, n, state, monitor=True):
            order = torch.as_tensor(run.rng.permutation(n), device=data.device)
            reconstruction_total, kl_total = 0.0, 0.0
            for start in range(0, n, batch):
                records = data[order[start : start + batch]]
                mean, log_variance = encoder(records)
                latent = mean + torch.exp(0.5 * log_variance) * run.normal(*mean.shape)
                reconstruction = self.head_.loss(decoder(latent), records)
                kl = _kl_divergence(mean, log_variance)
                loss = reconstruction + self.kl_weight * kl
                optimizer.zero_grad(set_to_none=True)
                descend(loss, optimizer)
                reconstruction_total += reconstruction.item() * len(records)
                kl_total += kl.item() * len(records)
            run.log(reconstruction=reconstruction_total / n, kl=kl_total / n)

    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        batch = min(self.batch_size, len(data))
        return PrivacyPlan({"train": Phase(batch, self.epochs * steps_per_epoch(len(data), self.batch_size))}, {})

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """DP-SGD over encoder and decoder together: both see real records. Only the epsilon spent is logged:
        losses computed on real records would be released outside the budget."""
        n = len(data)
        network = _Autoencoding(self.networks_["encoder"], self.networks_["decoder"]).train()
        with private.training("train", network, self._optimizer()) as autoencoding:
            state = {**self.networks_, "optimizer": autoencoding.optimizer}

            def loss(records: torch.Tensor) -> torch.Tensor:
                logits, mean, log_variance = autoencoding(records, run.normal(len(records), self.latent_dim))
                return self.head_.loss(logits, records) + self.kl_weight * _kl_divergence(mean, log_variance)

            for _ in run.epochs("train", self.epochs, n, state):
                autoencoding.descend(run.rng, steps_per_epoch(n, self.batch_size), data, loss)
                run.log(epsilon=private.logged_epsilon)

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        decoder = self.networks_["decoder"]
        chunks = [
            self.head_(decoder(run.normal(min(self.batch_size, n - start), self.latent_dim)))
            for start in range(0, n, self.batch_size)
        ]
        return torch.cat(chunks)

    def _decode_stochastically(self) -> bool:
        return self.binary_rounding == "bernoulli"
