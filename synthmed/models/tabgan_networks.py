"""TabGAN's networks: a residual conditional generator, a PacGAN critic and the output head that turns the
generator's logits into encoded rows (tempered softmax while training, hard categories when sampling)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.layout import ColumnLayout


class Residual(nn.Module):
    """Linear -> batch norm -> ReLU, concatenated with its input (each layer sees all earlier features)."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, output_dim)
        self.norm = nn.BatchNorm1d(output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.norm(self.linear(x))), x], dim=1)


class Generator(nn.Module):
    """Residual MLP. Its buffer `condition_shares` holds each category's share of the training rows: unconditional
    sampling draws conditions with these frequencies (they ship in the artifact as the table's marginals).

    Its input is the noise followed by the condition, a one-hot vector over every category of every discrete column
    (thousands of dimensions for diagnosis codes), which every layer sees again through the residual concatenation.
    A one-hot condition is multiplied by picking each row's weight column instead of by a matrix product with its
    zeros: the same function, without the work of multiplying thousands of zeros per row.
    """

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], output_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.register_buffer("condition_shares", torch.zeros(condition_dim))
        blocks: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_dims:
            blocks.append(Residual(width, hidden))
            width += hidden
        self.body = nn.Sequential(*blocks, nn.Linear(width, output_dim))
        self.condition_dim = condition_dim

    def forward(self, noise_and_condition: torch.Tensor) -> torch.Tensor:
        conditions = self.condition_dim
        condition = noise_and_condition[:, noise_and_condition.shape[1] - conditions :]
        if not conditions or not _is_one_hot(condition):
            return self.body(noise_and_condition)
        category = condition.argmax(1)
        features = noise_and_condition[:, :-conditions]  # the condition stays last in every layer's input
        *blocks, last = self.body
        for block in blocks:
            features = torch.cat([F.relu(block.norm(_picking(block.linear, features, category))), features], dim=1)
        return _picking(last, features, category)


def _is_one_hot(condition: torch.Tensor) -> bool:
    return bool(((condition == 0) | (condition == 1)).all() and (condition.sum(1) == 1).all())


def _picking(linear: nn.Linear, features: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """`linear` of [features, one-hot(category)]: the features' product plus the category's weight column."""
    weight = linear.weight
    columns = weight.shape[1] - features.shape[1]
    return F.linear(features, weight[:, :-columns], linear.bias) + weight[:, -columns:].index_select(1, category).t()


class PackedCritic(nn.Module):
    """Scores packs of `pac` rows at once (their concatenation), so a collapsed generator is visible."""

    def __init__(self, input_dim: int, hidden_dims: tuple[int, ...], pac: int) -> None:
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        width = input_dim * pac
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.body(rows.reshape(-1, rows.shape[1] * self.pac)).squeeze(1)


class OutputHead:
    """Turns generator logits into rows: tanh scalars, and categories and missing indicators as a deterministic
    function of the logits: a tempered softmax / sigmoid while training, the most likely one-hot / 0-1 when
    sampling.

    No Gumbel or logistic noise is added (CTGAN's Gumbel-softmax adds it), so every discrete value is a function
    of the generator's input noise, which also drives the numeric columns: the generator must carry the
    dependence between a category and the rest of the row in that noise, instead of leaving part of each
    category to noise of its own. On the three shared tables this raises TSTR ROC AUC and lowers the correlation
    difference (measured: benchmarks/studies/README.md, "Figures quoted from earlier runs").

    Rows come out in *training order*: scalars, then missing indicators, then the one-hot spans one after another
    (`order` maps a training position to its layout dimension, `restore` back). Each kind is then one contiguous
    block, so a step needs no scattered indexing however many columns the table has; real rows are put in the
    same order once, before training.
    """

    def __init__(self, layout: ColumnLayout, device: torch.device) -> None:
        # numbers: mode scalars in [-1, 1] (tanh), then min-max values in [0, 1] (a private run's, see
        # TabGAN._train_privately); the 0/1 indicators are the missing-value flags
        tanh = layout.dimensions("tanh")
        unit = [s.start for s in layout.spans if s.role == "value" and s.activation in ("sigmoid", "relu")]
        scalars = np.concatenate([tanh, unit])
        indicators = np.array([s.start for s in layout.spans if s.role == "missing"])
        spans = [s for s in layout.spans if s.activation == "softmax"]
        categories = [np.arange(s.start, s.stop) for s in spans]
        order = np.concatenate([scalars, indicators, *categories]).astype(np.int64)
        self.order = torch.as_tensor(order, device=device)
        self.restore = torch.as_tensor(np.argsort(order), device=device)
        self.scalars, self.tanh = len(scalars), len(tanh)
        self.discrete = self.scalars + len(indicators)  # where the one-hot spans start
        widths = np.array([s.width for s in spans], dtype=np.int64)
        self.span_of = torch.as_tensor(np.repeat(np.arange(len(spans)), widths), device=device)
        self.spans = len(spans)
        self.span_bounds = [(int(a), int(a + w)) for a, w in zip(np.cumsum(widths) - widths, widths, strict=True)]
        widest = int(widths.max(initial=0))
        padded = np.full((len(spans), widest), len(self.span_of), dtype=np.int64)  # padding reads a -inf column
        for i, (start, stop) in enumerate(self.span_bounds):
            padded[i, : stop - start] = np.arange(start, stop)
        self.padded = torch.as_tensor(padded, device=device)

    def span_logits(self, one_hot_logits: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """(rows x widest) logits of one span per row (`span[i]` for row i); padding is -inf."""
        padding = one_hot_logits.new_full((len(one_hot_logits), 1), float("-inf"))
        return torch.cat([one_hot_logits, padding], dim=1).gather(1, self.padded[span])

    def __call__(self, logits: torch.Tensor, temperature: float | None) -> torch.Tensor:
        """Relaxed rows at `temperature` (training), or hard one-hots and 0/1 values with None (sampling)."""
        ordered = logits.index_select(1, self.order)  # backward: index_add, far cheaper than index_put
        scalars = torch.cat(
            [torch.tanh(ordered[:, : self.tanh]), torch.sigmoid(ordered[:, self.tanh : self.scalars])], 1
        )
        indicators, categories = ordered[:, self.scalars : self.discrete], ordered[:, self.discrete :]
        if temperature is None:
            return torch.cat([scalars, (indicators > 0).float(), self._most_likely(categories)], 1)
        return torch.cat([scalars, torch.sigmoid(indicators / temperature), self._softmax(categories / temperature)], 1)

    def _span_max(self, values: torch.Tensor) -> torch.Tensor:
        """Each span's largest value, repeated over the span's dimensions (rows x one-hot dimensions)."""
        index = self.span_of.expand(len(values), -1)
        largest = values.new_zeros(len(values), self.spans).scatter_reduce(1, index, values, "amax", include_self=False)
        return largest.index_select(1, self.span_of)

    def _softmax(self, tempered: torch.Tensor) -> torch.Tensor:
        """Softmax within each span of the one-hot block, as a few whole-block operations (any number of spans)."""
        exponents = (tempered - self._span_max(tempered.detach())).exp()
        totals = exponents.new_zeros(len(tempered), self.spans).index_add(1, self.span_of, exponents)
        return exponents / totals.index_select(1, self.span_of)

    def _most_likely(self, categories: torch.Tensor) -> torch.Tensor:
        """One-hot of each span's largest logit (the first one on a tie), span by span: each span's argmax reads its
        block of the logits in place, where a whole-block formulation gathers every column several times."""
        hard = torch.zeros_like(categories)
        for start, stop in self.span_bounds:
            block = categories[:, start:stop]
            hard[:, start:stop].scatter_(1, block.argmax(1, keepdim=True), 1.0)
        return hard
