"""Output activations and reconstruction losses driven by the column layout, shared by every model."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.layout import ColumnLayout
from synthmed.errors import SynthmedWarning
from synthmed.models.training import descend

# pretraining must beat the column frequencies by this share of their loss to count as having learnt records
UNTRAINED_AUTOENCODER_MARGIN = 0.05
# column frequencies are kept this far from 0 and 1 before taking their log-odds (a code absent from training)
FREQUENCY_FLOOR = 1e-5


class SpanHead(nn.Module):
    """Turns raw network outputs into table-space rows, span by span (sigmoid, softmax, relu).

    It has no parameters: it only reads the layout, so every model decodes and scores columns the same way.
    """

    def __init__(self, layout: ColumnLayout) -> None:
        super().__init__()
        self.width = layout.width
        for activation in ("sigmoid", "relu", "tanh"):
            index = torch.as_tensor(layout.dimensions(activation), dtype=torch.long)
            self.register_buffer(f"{activation}_index", index, persistent=False)
        bce = [d for s in layout.spans if s.loss == "bce" for d in range(s.start, s.stop)]
        mse = [d for s in layout.spans if s.loss == "mse" for d in range(s.start, s.stop)]
        self.register_buffer("bce_index", torch.as_tensor(bce, dtype=torch.long), persistent=False)
        self.register_buffer("mse_index", torch.as_tensor(mse, dtype=torch.long), persistent=False)
        self.softmax_spans = [(s.start, s.stop) for s in layout.spans if s.activation == "softmax"]
        self.all_sigmoid = len(self.sigmoid_index) == layout.width
        self.all_bce = len(self.bce_index) == layout.width  # then every column is one, in order: no gathering

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.all_sigmoid:  # binary code matrices: the common, fast case
            return torch.sigmoid(logits)
        out = logits.clone()
        out[:, self.sigmoid_index] = torch.sigmoid(logits[:, self.sigmoid_index])
        out[:, self.relu_index] = F.relu(logits[:, self.relu_index])
        out[:, self.tanh_index] = torch.tanh(logits[:, self.tanh_index])
        for start, stop in self.softmax_spans:
            out[:, start:stop] = torch.softmax(logits[:, start:stop], dim=1)
        return out

    def draw_binary(self, activated: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Binary columns drawn as 0/1 from their probabilities, with the straight-through gradient.

        A discriminator shown probabilities tells generated records from real 0/1 ones by their softness, so
        the generator learns to output near-certain values and can only vary records by switching between a few
        modes. Shown drawn values, it must judge the distribution; the gradient passes through the draw as if
        it were the probability (Bengio et al. 2013's straight-through estimator).
        """
        if self.all_sigmoid:  # a binary code matrix: every column drawn, without gathering them
            draws = torch.bernoulli(activated.detach().cpu(), generator=generator).to(activated.device)
            return activated + (draws - activated).detach()
        drawn = activated.clone()
        probabilities = activated[:, self.sigmoid_index]
        draws = torch.bernoulli(probabilities.detach().cpu(), generator=generator).to(activated.device)
        drawn[:, self.sigmoid_index] = probabilities + (draws - probabilities).detach()
        return drawn

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Reconstruction loss summed over dimensions, averaged over rows (medGAN's autoencoder loss)."""
        if self.all_bce:
            per_row = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)
        else:
            per_row = F.binary_cross_entropy_with_logits(
                logits[:, self.bce_index], target[:, self.bce_index], reduction="none"
            ).sum(dim=1)
        if len(self.mse_index):
            activated = self.forward(logits)[:, self.mse_index]
            per_row = per_row + (activated - target[:, self.mse_index]).pow(2).sum(dim=1)
        for start, stop in self.softmax_spans:
            log_probabilities = torch.log_softmax(logits[:, start:stop], dim=1)
            per_row = per_row - (target[:, start:stop] * log_probabilities).sum(dim=1)
        return per_row.mean()

    def logits_for(self, values: torch.Tensor) -> torch.Tensor:
        """Raw outputs that the activations turn into `values` (one row): a decoder bias set to `logits_for(the
        column means)` starts from the average record instead of spending its first updates learning it."""
        raw = values.clone()
        share = values[self.sigmoid_index].clamp(FREQUENCY_FLOOR, 1 - FREQUENCY_FLOOR)
        raw[self.sigmoid_index] = share.log() - (-share).log1p()
        raw[self.tanh_index] = values[self.tanh_index].clamp(-1 + FREQUENCY_FLOOR, 1 - FREQUENCY_FLOOR).atanh()
        for start, stop in self.softmax_spans:
            raw[start:stop] = values[start:stop].clamp_min(FREQUENCY_FLOOR).log()
        return raw  # relu columns: a non-negative mean is its own raw output

    def frequency_loss(self, records: torch.Tensor) -> float:
        """`loss` of reconstructing every record as the column means, in closed form.

        An autoencoder scoring no better has learnt the columns' frequencies and nothing about records: its
        decoder turns any embedding into an average record.
        """
        mean = records.mean(dim=0)
        share = mean[self.bce_index].clamp(1e-7, 1 - 1e-7)
        total = -(share * share.log() + (1 - share) * (1 - share).log()).sum()
        if len(self.mse_index):
            total = total + records.var(dim=0, unbiased=False)[self.mse_index].sum()
        for start, stop in self.softmax_spans:
            frequencies = mean[start:stop]
            total = total - (frequencies * frequencies.clamp_min(1e-12).log()).sum()
        return float(total)


def start_at_frequencies(bias: nn.Parameter, head: SpanHead, data: torch.Tensor) -> None:
    """Set a decoder's output bias to the raw outputs of the average training record (`logits_for`)."""
    with torch.no_grad():
        bias.copy_(head.logits_for(data.mean(dim=0)))


def warn_if_autoencoder_untrained(reconstruction: float, frequencies: float, pretrain_epochs: int) -> None:
    """Say so when pretraining ended no better than the column frequencies (a budget far below the paper's).

    The GAN can then only produce average records; with 0.5 rounding on a sparse code matrix, empty ones.
    """
    if reconstruction > (1 - UNTRAINED_AUTOENCODER_MARGIN) * frequencies:
        warnings.warn(
            f"after {pretrain_epochs} pretraining epochs the autoencoder reconstructs records no better than the "
            f"column frequencies alone (loss {reconstruction:.4g} per record against {frequencies:.4g}), so the "
            "generator can only produce near-average records (on a sparse code matrix rounded at 0.5, empty ones). "
            "Remedy: pretrain longer (pretrain_epochs; the paper's default is 100), or start the decoder at the column "
            "frequencies (start_at_frequencies=True), which spares it the updates spent learning them.",
            SynthmedWarning,
            stacklevel=3,
        )


def wasserstein_generator_step(critic: nn.Module, fake: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One generator update against a Wasserstein critic (corGAN, WGAN-GP); the critic's weights get no gradients."""
    critic.requires_grad_(False)
    loss = -critic(fake).mean()
    optimizer.zero_grad(set_to_none=True)
    descend(loss, optimizer)
    critic.requires_grad_(True)
    return loss.item()


def wasserstein_critic_terms(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """The critic's Wasserstein loss in one pass, as the mean of each row's own term (-critic(real row),
    +critic(generated row)): per-record gradient clipping (DP-SGD) needs every row's term on its own."""
    signs = torch.cat([-torch.ones(len(real)), torch.ones(len(fake))]).to(real.device)
    return (signs * critic(torch.cat([real, fake]))).mean()


@torch.no_grad()
def clip_weights(network: nn.Module, bound: float) -> None:
    """Clamp every weight to [-bound, bound], the original WGAN's way of keeping a critic (roughly) Lipschitz."""
    for parameter in network.parameters():
        parameter.clamp_(-bound, bound)


def column_order(values: torch.Tensor) -> torch.Tensor:
    """Row indices that sort each column. On the CPU numpy's vectorised sort is several times faster than torch's
    (measured: benchmarks/studies/README.md, "Figures quoted from earlier runs"), which matters where every
    training step sorts a batch."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.argsort(values.detach().numpy(), axis=0))
    return values.detach().argsort(dim=0)


def sort_columns(values: torch.Tensor) -> torch.Tensor:
    """Each column sorted, without gradient (numpy's sort on the CPU, much faster than torch's there)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.detach().numpy(), axis=0))
    return values.detach().sort(dim=0).values


def top_sums(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Each column's sum of its `counts[j]` largest values, with gradient (values tied at the `counts[j]`-th
    largest share theirs evenly). A sort without indices finds the `counts[j]`-th largest value of each column;
    the sum is then one weighted sum (weights found by comparison with it), cheaper than sorting with indices
    and gathering."""
    rows = len(values)
    ascending = sort_columns(values)
    position = (rows - counts).clamp(min=0, max=rows - 1)[None]
    threshold = torch.where(counts > 0, ascending.gather(0, position).squeeze(0), torch.inf)
    with torch.no_grad():  # how much of each value the sum counts: 1 above the threshold, a share of it at it
        above, tied = values > threshold, values == threshold
        share = (counts - above.sum(0)) / tied.sum(0).clamp(min=1)
        counted = torch.where(tied, share.to(values.dtype), above.to(values.dtype))
    return (values * counted).sum(0)
