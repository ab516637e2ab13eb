"""1-D convolutional GAN for multivariate time series (the white paper's haul-truck sensor GAN).

"Obscuring and Analyzing Sensitive Information With Generative Adversarial Networks" generates windows of
six sensor channels with a DCGAN whose convolutions are one-dimensional: each channel is a row of a
depth-wise stack of length-T vectors, so convolutions see the channels' correlation and each one's
autocorrelation at once. Its discriminator does not down-sample ("the quality of generated samples was
degraded by down-sampling"): every one of the T steps reaches the final dense layer.

The generator maps noise to a short sequence with a dense layer, then doubles its length with each
transposed convolution (kernel 4, stride 2, padding 1 doubles exactly), and crops to T. Starting from
ceil(T / 2^k) steps makes any window length work, with at most 2^k - 1 steps cropped.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.io import ReadOptions
from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema
from synthmed.data.timeseries import SequenceScaler, to_long, to_sequences
from synthmed.errors import ConfigError, SchemaError
from synthmed.models.base import Synthesizer
from synthmed.models.monitor import SequenceReference
from synthmed.models.training import TrainingRun

SequenceLike = pd.DataFrame | np.ndarray | str | Path
# the paper: LeakyReLU with a scale factor of 0.2 at every layer but the two networks' last ones
LEAKY_SLOPE = 0.2
# A transposed convolution with kernel 4, stride 2 and padding 1 outputs exactly twice its input length.
UPSAMPLE_KERNEL = 4
# DCGAN: every convolution and dense weight drawn from N(0, 0.02), biases zero.
INIT_STD = 0.02
# Batch norm's running averages lag behind a generator that is still changing; before sampling they are
# re-estimated as an exact average over this many noise batches from the trained generator.
BATCH_NORM_BATCHES = 100


@dataclass(frozen=True)
class _SequenceInput:
    """What `fit` received, carried through the base class's `fit` to `_prepare`."""

    data: SequenceLike
    sequence_id: str | None
    time: str | None
    window: int | None


def dcgan_init(network: nn.Module) -> None:
    """DCGAN's initialisation; PyTorch's default lets the discriminator win the toy tests' sine waves early."""
    for module in network.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.ConvTranspose1d):
            nn.init.normal_(module.weight, 0.0, INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _same_padding(kernel_size: int) -> int:
    return (kernel_size - 1) // 2  # odd kernels: a stride-1 convolution keeps the length


class Generator(nn.Module):
    """Noise -> (channels, T): dense to ceil(T / 2^k) steps, k length-doubling blocks, crop, tanh."""

    def __init__(self, noise_dim: int, widths: tuple[int, ...], kernel_size: int, channels: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        start = math.ceil(steps / 2 ** (len(widths) - 1))
        layers: list[nn.Module] = [
            nn.Linear(noise_dim, widths[0] * start, bias=False),
            nn.Unflatten(1, (widths[0], start)),
            nn.BatchNorm1d(widths[0]),
            nn.LeakyReLU(LEAKY_SLOPE),
        ]
        for a, b in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose1d(a, b, UPSAMPLE_KERNEL, stride=2, padding=1, bias=False),
                nn.BatchNorm1d(b),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
        self.body = nn.Sequential(*layers)
        self.output = nn.Conv1d(widths[-1], channels, kernel_size, padding=_same_padding(kernel_size))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.output(self.body(noise)[:, :, : self.steps]))


class Discriminator(nn.Module):
    """(channels, T) -> one logit; convolutions without pooling, then a dense layer over every step left.

    With stride 1 (the paper) all T steps reach the dense layer; a larger stride down-samples as DCGAN's
    discriminator does. With `spectral` every layer's spectral norm is bounded; without it, batch norm follows
    every convolution but the first, as in DCGAN.
    """

    def __init__(
        self, channels: int, widths: tuple[int, ...], kernel_size: int, stride: int, steps: int, spectral: bool
    ) -> None:
        super().__init__()
        padding = _same_padding(kernel_size)
        bound = nn.utils.parametrizations.spectral_norm if spectral else (lambda module: module)
        layers: list[nn.Module] = []
        length = steps
        for index, (a, b) in enumerate(itertools.pairwise((channels, *widths))):
            layers.append(bound(nn.Conv1d(a, b, kernel_size, stride=stride, padding=padding)))
            if index and not spectral:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
            length = (length + 2 * padding - kernel_size) // stride + 1
        self.body = nn.Sequential(*layers, nn.Flatten(), bound(nn.Linear(widths[-1] * length, 1)))

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.body(sequences).squeeze(1)


class TimeSeriesGAN(Synthesizer):
    """1-D convolutional DCGAN for multivariate time series: windows of T steps x C channels.

    Channels are scaled to [-1, 1] per channel (the paper's scaling, the generator's tanh range); the
    min/max ship with the generator, or come from a schema's declared `min`/`max`.

    Hyperparameters (paper = the white paper's sensor GAN; DCGAN = Radford et al. 2016, which it follows):
        epochs: passes over the sequences (paper: 200).
        batch_size: sequences per step (ours: 32; the paper does not say). A last partial batch is skipped
            each epoch (batch norm needs whole batches); batches are reshuffled every epoch.
        min_steps: the fewest updates of each network; with few sequences an epoch is one or two steps, and
            training goes on past `epochs` until this many (ours: 2,000. The paper's 1,533 sequences in batches
            of 32 give ~9,600 in 200 epochs; on the 40 BasicMotions series 200 epochs are 200 steps, which leave
            the samples noise).
        noise_dim: generator input size (DCGAN: 100).
        generator_widths: feature maps of the generator, from the dense layer on; each one after the first
            doubles the sequence length (ours, DCGAN-shaped: 256, 128, 64).
        discriminator_widths: feature maps of the discriminator's convolutions (ours: 64, 128, 256).
        kernel_size: convolution kernel, odd so that stride-1 convolutions keep the length (DCGAN: 5).
        discriminator_stride: 1 keeps all T steps to the dense layer (paper: no down-sampling); 2 halves the
            length per convolution like DCGAN, for long windows.
        spectral_norm: bound each discriminator layer's spectral norm (Miyato et al. 2018) instead of DCGAN's
            batch norm (ours: True). The paper warns that the discriminator can overpower the generator; with
            the paper's SGD and batch norm it does so early on BasicMotions, and the generator's tanh outputs
            saturate at the channels' extremes for good. Bounded layers keep its gradients in scale.
        optimizer: "sgd" (paper) or "adam" (DCGAN's Adam, betas 0.5 and 0.999; `momentum` is then unused).
            Adam at 2e-4 trains better on both series sets of study 3: forests trained on generated series come
            closer to real-trained ones than with SGD (measured: benchmarks/studies/README.md, study 3).
        learning_rate: step size for both networks (paper: 5e-4 with SGD, fixed; DCGAN: 2e-4 with Adam).
        momentum: SGD momentum (paper: 0.9).
        seed: seed for weights, batches and noise; None picks one and records it.
        device: "auto" (CUDA when available), "cpu" or "cuda".

    The discriminator's sigmoid output is folded into the binary cross-entropy (the same loss, computed
    stably); the generator is trained to have its sequences labelled real (the paper's Figure 2).

    >>> import numpy as np
    >>> from synthmed.models import TimeSeriesGAN
    >>> amplitude = np.random.default_rng(0).uniform(0.5, 1.0, (40, 1, 1))
    >>> waves = amplitude * np.sin(np.linspace(0, 6, 24))[None, :, None]  # 40 sequences x 24 steps x 1 channel
    >>> model = TimeSeriesGAN(epochs=2, generator_widths=(32, 16), discriminator_widths=(16, 32), seed=0)
    >>> model.fit(waves, progress=False).sample(5).shape
    (5, 24, 1)
    """

    name = "tsgan"
    generation_weights = ("generator.",)
    positive = frozenset({"batch_size", "noise_dim", "kernel_size", "discriminator_stride", "learning_rate"})

    def __init__(
        self,
        *,
        epochs: int = 200,
        batch_size: int = 32,
        min_steps: int = 2000,
        noise_dim: int = 100,
        generator_widths: tuple[int, ...] = (256, 128, 64),
        discriminator_widths: tuple[int, ...] = (64, 128, 256),
        kernel_size: int = 5,
        discriminator_stride: int = 1,
        optimizer: Literal["sgd", "adam"] = "sgd",
        learning_rate: float = 5e-4,
        momentum: float = 0.9,
        spectral_norm: bool = True,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.min_steps = min_steps
        self.noise_dim = noise_dim
        self.generator_widths = generator_widths
        self.discriminator_widths = discriminator_widths
        self.kernel_size = kernel_size
        self.discriminator_stride = discriminator_stride
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.spectral_norm = spectral_norm
        self.seed = seed
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        if self.kernel_size % 2 == 0:
            raise ConfigError(
                "kernel_size must be odd, so that stride-1 convolutions keep the sequence length",
                values=[self.kernel_size],
                remedy="e.g. 5 (DCGAN's)",
            )
        widths = [*self.generator_widths, *self.discriminator_widths]
        if min(widths) < 1:
            raise ConfigError(
                "every generator/discriminator width must be at least 1", values=widths, remedy="e.g. 64,128"
            )

    # ---- data: sequences instead of a flat table ---------------------------------------------------------
    def fit(  # type: ignore[override]
        self,
        data: SequenceLike,
        *,
        sequence_id: str | None = None,
        time: str | None = None,
        window: int | None = None,
        **options: Any,
    ) -> Self:
        """Train on sequences: an (n, T, C) array; a long table with `sequence_id` (and `time`) columns;
        a recording (DataFrame, 1-D/2-D array or file) cut into windows of `window` steps; or a `.ts` path.

        `options` are those of `Synthesizer.fit` (schema, na_values, encoding, progress, checkpoint, ...).
        A schema may declare channels' `min`/`max` (kind continuous), which then replace the data's.
        """
        return super().fit(_SequenceInput(data, sequence_id, time, window), **options)

    def _prepare(self, data: Any, schema: Schema | str | Path | None, reading: ReadOptions) -> np.ndarray:
        source = data if isinstance(data, _SequenceInput) else _SequenceInput(data, None, None, None)
        sequences = to_sequences(
            source.data,
            sequence_id=source.sequence_id,
            time=source.time,
            window=source.window,
            reading=reading,
        )
        declared = Schema.load(schema) if isinstance(schema, str | Path) else (schema or Schema())
        self.input_format_ = "array" if isinstance(source.data, np.ndarray) else "frame"
        self.transformer_ = SequenceScaler(_declared_ranges(declared)).fit(sequences.values, sequences.channels)
        self.schema_ = Schema(
            tuple(
                declared[name] if name in declared else ColumnSchema(name, ColumnKind.CONTINUOUS)
                for name in sequences.channels
            )
        )
        return self.transformer_.transform(sequences.values).astype(np.float32)

    def _to_output(self, matrix: np.ndarray, run: TrainingRun) -> pd.DataFrame | np.ndarray:
        values = self.transformer_.inverse_transform(matrix)
        return values if self.input_format_ == "array" else to_long(values, self.transformer_.columns)

    def _fidelity_reference(self, matrix: np.ndarray) -> SequenceReference:
        return SequenceReference(matrix, self.seed_)

    def _load_transform(self, meta: dict[str, Any]) -> None:
        self.schema_ = Schema.from_dict(meta["schema"], declared=False)
        self.transformer_ = SequenceScaler.from_dict(meta["transformer"])

    # ---- networks, training, generation ----------------------------------------------------------------------
    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        steps = self.transformer_.steps_
        networks: dict[str, nn.Module] = {
            "generator": Generator(self.noise_dim, self.generator_widths, self.kernel_size, layout.width, steps),
            "discriminator": Discriminator(
                layout.width,
                self.discriminator_widths,
                self.kernel_size,
                self.discriminator_stride,
                steps,
                self.spectral_norm,
            ),
        }
        for network in networks.values():
            dcgan_init(network)
        return networks

    def _optimizer(self, network: nn.Module) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(network.parameters(), lr=self.learning_rate, betas=(0.5, 0.999), foreach=True)
        return torch.optim.SGD(network.parameters(), lr=self.learning_rate, momentum=self.momentum, foreach=True)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        sequences = data.transpose(1, 2).contiguous()  # (n, C, T): Conv1d wants channels first
        generator, discriminator = self.networks_["generator"].train(), self.networks_["discriminator"].train()
        optimizer_d, optimizer_g = self._optimizer(discriminator), self._optimizer(generator)
        n = len(sequences)
        batch = min(self.batch_size, n)
        real_labels, fake_labels = torch.ones(batch, device=data.device), torch.zeros(batch, device=data.device)
        state = {**self.networks_, "optimizer_d": optimizer_d, "optimizer_g": optimizer_g}
        epochs = max(self.epochs, math.ceil(self.min_steps / (n // batch)))
        for _ in run.epochs("gan", epochs, n, state, monitor=True):
            order = torch.as_tensor(run.rng.permutation(n), device=data.device)
            d_losses, g_losses = [], []
            for start in range(0, n - batch + 1, batch):
                real = sequences[order[start : start + batch]]
                fake = generator(run.normal(batch, self.noise_dim))
                loss_d = F.binary_cross_entropy_with_logits(
                    discriminator(real), real_labels
                ) + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), fake_labels)
                optimizer_d.zero_grad(set_to_none=True)
                loss_d.backward()
                optimizer_d.step()
                discriminator.requires_grad_(False)  # the generator step needs no discriminator gradients
                loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), real_labels)
                optimizer_g.zero_grad(set_to_none=True)
                loss_g.backward()
                optimizer_g.step()
                discriminator.requires_grad_(True)
                d_losses.append(loss_d.item())
                g_losses.append(loss_g.item())
            run.log(d_loss=sum(d_losses) / len(d_losses), g_loss=sum(g_losses) / len(g_losses))
        self._reestimate_batch_norm(batch, run)

    def _reestimate_batch_norm(self, batch: int, run: TrainingRun) -> None:
        generator = self.networks_["generator"].train()
        norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm1d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average
        with torch.no_grad():
            for _ in range(BATCH_NORM_BATCHES):
                generator(run.normal(batch, self.noise_dim))
        for norm in norms:
            norm.momentum = 0.1  # PyTorch's default, as built
        generator.eval()

    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        generator = self.networks_["generator"]
        chunks = [
            generator(run.normal(min(self.batch_size, n - start), self.noise_dim))
            for start in range(0, n, self.batch_size)
        ]
        return torch.cat(chunks).transpose(1, 2)  # back to (n, T, C)


def _declared_ranges(declared: Schema) -> dict[str, tuple[float | None, float | None]]:
    """A schema's channel ranges; tsgan models every channel as a continuous signal."""
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for column in declared.columns:
        if column.kind is not ColumnKind.CONTINUOUS:
            raise SchemaError(
                "tsgan models every channel as a continuous signal; a schema can only declare a channel's range",
                column=column.name,
                values=[column.kind.value],
                remedy=f"write `{column.name}: {{kind: continuous, min: ..., max: ...}}`",
            )
        try:
            ranges[column.name] = tuple(None if end is None else float(end) for end in (column.minimum, column.maximum))
        except ValueError:
            raise SchemaError(
                "a channel's min and max must be numbers",
                column=column.name,
                values=[column.minimum, column.maximum],
            ) from None
    return ranges
