"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") for any table.

A critic estimates the Wasserstein distance between real and generated records; instead of clipping its
weights (WGAN), a penalty keeps the norm of its gradient near 1 on random points between real and generated
records. The penalty is per record, so the critic has no batch norm (the paper's advice). The generator's
output goes through the layout's head (sigmoid, softmax, ReLU per span), so every column kind is generated
in its own range.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.models.base import Synthesizer
from synthmed.models.dp import Phase, PrivacyPlan, PrivateTraining
from synthmed.models.layers import SpanHead, clip_weights, wasserstein_critic_terms, wasserstein_generator_step
from synthmed.models.training import TrainingRun, descend

# Under DP the critic's Lipschitz bound comes from weight clipping (the original WGAN's value).
PRIVATE_CLIP_VALUE = 0.01


def _mlp(dims: tuple[int, ...], activation: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """ReLU MLP from noise to raw outputs (the layout's head activates them)."""

    def __init__(self, noise_dim: int, hidden_dims: tuple[int, ...], output_dim: int) -> None:
        super().__init__()
        self.body = _mlp((noise_dim, *hidden_dims), nn.ReLU)
        self.output = nn.Linear(hidden_dims[-1], output_dim)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.output(self.body(noise))


class Critic(nn.Module):
    """Leaky-ReLU MLP to one unbounded score per record; no batch norm, so each score depends on its record only."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...]) -> None:
        super().__init__()
        self.body = _mlp((input_dim, *hidden_dims), lambda: nn.LeakyReLU(0.2))
        self.output = nn.Linear(hidden_dims[-1], 1)

    def forward(self, records: torch.Tensor) -> torch.Tensor:
        return self.output(self.body(records)).squeeze(1)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """Per-record (||grad critic(x_hat)|| - 1)^2 at x_hat = mixing * real + (1 - mixing) * fake.

    `mixing` holds one uniform draw per record (shape (n, 1)); 0 = a 1-Lipschitz critic along these lines.
    """
    points = (mixing * real + (1 - mixing) * fake).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return (gradients.norm(2, dim=1) - 1).pow(2)


class WGANGP(Synthesizer):
    """Wasserstein GAN with gradient penalty, MLP generator and critic, for binary, count and mixed tables.

    Hyperparameters (the paper's Algorithm 1 and released code unless marked ours):
        epochs: passes over the data, each of rows / batch_size generator updates (ours: 300).
        batch_size: minibatch (paper: 64).
        noise_dim: generator input size (ours: 128, as medGAN/corGAN).
        generator_dims: generator hidden widths (ours: 256, 256; the paper's toy MLPs use 3 x 512).
        critic_dims: critic hidden widths (ours: 256, 256).
        critic_steps: critic updates per generator update (paper: 5).
        penalty_weight: gradient penalty weight lambda (paper: 10). Under differential privacy the penalty
            gives way to weight clipping at 0.01 (see `_train_privately`).
        learning_rate: Adam step size (paper: 1e-4).
        beta1, beta2: Adam moment decays (0.5, 0.9, the released experiments; Algorithm 1 lists beta1 = 0).
        binary_rounding: "bernoulli" draws binary and categorical values from the generated probabilities;
            "threshold" rounds them at 0.5 / takes the most likely category.
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    >>> import numpy as np
    >>> from synthmed.models import WGANGP
    >>> codes = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(int)
    >>> WGANGP(epochs=2, seed=0).fit(codes, progress=False).sample(5).shape
    (5, 12)
    """

    name = "wgangp"
    generation_weights = ("generator.",)
    positive = frozenset({"batch_size", "noise_dim", "critic_steps", "learning_rate"})

    def __init__(
        self,
        *,
        epochs: int = 300,
        batch_size: int = 64,
        noise_dim: int = 128,
        generator_dims: tuple[int, ...] = (256, 256),
        critic_dims: tuple[int, ...] = (256, 256),
        critic_steps: int = 5,
        penalty_weight: float = 10.0,
        learning_rate: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.9,
        binary_rounding: Literal["bernoulli", "threshold"] = "bernoulli",
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.generator_dims = generator_dims
        self.critic_dims = critic_dims
        self.critic_steps = critic_steps
        self.penalty_weight = penalty_weight
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.binary_rounding = binary_rounding
        self.seed = seed
        self.device = device

    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        self.head_ = SpanHead(layout).to(self._device())
        return {
            "generator": Generator(self.noise_dim, self.generator_dims, layout.width),
            "critic": Critic(layout.width, self.critic_dims),
        }

    def _generated(self, rows: int, run: TrainingRun) -> torch.Tensor:
        return self.head_(self.networks_["generator"](run.normal(rows, self.noise_dim)))

    def _adam(self, network: nn.Module) -> torch.optim.Adam:
        betas = (self.beta1, self.beta2)
        return torch.optim.Adam(network.parameters(), lr=self.learning_rate, betas=betas, foreach=True)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        generator, critic = self.networks_["generator"].train(), self.networks_["critic"].train()
        optimizer_critic, optimizer_generator = self._adam(critic), self._adam(generator)
        n = len(data)
        batch = min(self.batch_size, n)
        state = {**self.networks_, "optimizer_critic": optimizer_critic, "optimizer_generator": optimizer_generator}
        for _ in run.epochs("train", self.epochs, n, state, monitor=True):
            critic_losses, penalties, generator_losses = [], [], []
            for _ in range(max(1, n // batch)):
                for _ in range(self.critic_steps):
                    real = data[torch.as_tensor(run.rng.integers(0, n, batch), device=data.device)]
                    with torch.no_grad():
                        fake = self._generated(batch, run)
                    mixing = torch.rand(batch, 1, generator=run.noise).to(data.device)
                    penalty = gradient_penalty(critic, real, fake, mixing).mean()
                    wasserstein = critic(real).mean() - critic(fake).mean()
                    loss_critic = -wasserstein + self.penalty_weight * penalty
                    optimizer_critic.zero_grad(set_to_none=True)
                    descend(loss_critic, optimizer_critic)
                    critic_losses.append(loss_critic.item())
                    penalties.append(penalty.item())
                fake = self._generated(batch, run)
                generator_losses.append(wasserstein_generator_step(critic, fake, optimizer_generator))
            run.log(
                critic_loss=sum(critic_losses) / len(critic_losses),
                gradient_penalty=sum(penalties) / len(penalties),
                generator_loss=sum(generator_losses) / len(generator_losses),
            )

    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        n = len(data)
        batch = min(self.batch_size, n)
        critic = Phase(batch, self.epochs * max(1, n // batch) * self.critic_steps)
        return PrivacyPlan(
            {"critic": critic}, {"gradient_penalty": f"replaced by weight clipping at {PRIVATE_CLIP_VALUE} (DPGAN)"}
        )

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """DP-SGD on the critic, the one network that reads real records; the generator is post-processing.

        A gradient penalty differentiates the critic's gradient, which has no per-record form that DP-SGD
        could clip, so under DP the critic is kept Lipschitz by clipping its weights to +-0.01, as the
        original WGAN and DPGAN (Xie et al. 2018) do; `privacy.adaptations` records it. Each critic step
        scores a Poisson batch of real records and as many generated ones in one pass.
        """
        generator, network = self.networks_["generator"].train(), self.networks_["critic"].train()
        n = len(data)
        batch = min(self.batch_size, n)
        with private.training("critic", network, self._adam(network)) as critic:
            optimizer_generator = self._adam(generator)
            state = {**self.networks_, "optimizer_critic": critic.optimizer, "optimizer_generator": optimizer_generator}

            def critic_loss(real: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    fake = self._generated(private.expected_batch("critic"), run)
                return wasserstein_critic_terms(critic, real, fake)

            for _ in run.epochs("train", self.epochs, n, state):
                generator_losses = []
                for _ in range(max(1, n // batch)):
                    for _ in range(self.critic_steps):  # one step at a time: the weights are clipped after each
                        critic.descend(run.rng, 1, data, critic_loss, noise_when_empty=False)
                        clip_weights(network, PRIVATE_CLIP_VALUE)
                    with critic.passing_gradients():
                        fake = self._generated(batch, run)
                        generator_losses.append(wasserstein_generator_step(network, fake, optimizer_generator))
                run.log(generator_loss=sum(generator_losses) / len(generator_losses), epsilon=private.logged_epsilon)

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        chunks = [self._generated(min(self.batch_size, n - start), run) for start in range(0, n, self.batch_size)]
        return torch.cat(chunks)

    def _decode_stochastically(self) -> bool:
        return self.binary_rounding == "bernoulli"
