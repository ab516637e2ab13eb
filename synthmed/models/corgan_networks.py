"""corGAN's networks: the reference 1-D convolutional autoencoder (any width, padded), and the convolutional
or MLP generator and critic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

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


def init_weights(network: nn.Module) -> None:
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


def batch_norms(*networks: nn.Module) -> Iterator[nn.BatchNorm1d]:
    return (m for network in networks for m in network.modules() if isinstance(m, nn.BatchNorm1d))
