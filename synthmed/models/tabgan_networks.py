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

    Its input is the noise and each row's condition, one category of one discrete column (numbered over every
    category of every discrete column: thousands for diagnosis codes). The layers' weights are laid out for the
    noise followed by the condition's one-hot vector, which every layer sees again through the residual
    concatenation; the condition's share of a product is the category's weight column, picked instead of
    multiplying thousands of zeros per row.
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

    def forward(self, noise: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        """Logits of one row per noise row; `category` holds each row's condition, None without discrete columns."""
        features, constant = self._last_features(noise, category)
        last = self.body[-1]
        return last(features) if category is None else _picking(last, features, category, constant)

    def logits_by_dimension(self, noise: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        """`forward`'s logits transposed (dimensions x rows, contiguous): sampling then reads each one-hot span as
        a block of whole rows, where the rows' layout would make it a narrow strided slice of every row."""
        features, _ = self._last_features(noise, category)
        last = self.body[-1]
        if category is None:
            return torch.addmm(last.bias[:, None], last.weight, features.t())
        width = features.shape[1]
        picked = last.weight[:, width:].index_select(1, category)  # each row's category column
        return picked.add_(last.bias[:, None]).addmm_(last.weight[:, :width], features.t())

    def _last_features(self, noise: torch.Tensor, category: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        """The residual blocks' output (the last layer's input without the condition), and how many of its
        features, the noise's, take no gradient (the condition stays last in every layer's input)."""
        features = noise
        constant = 0 if noise.requires_grad else noise.shape[1]  # the noise, last among the features
        for block in self.body[:-1]:
            hidden = (
                block.linear(features) if category is None else _picking(block.linear, features, category, constant)
            )
            features = torch.cat([F.relu(block.norm(hidden)), features], dim=1)
        return features, constant


def _picking(linear: nn.Linear, features: torch.Tensor, category: torch.Tensor, constant: int = 0) -> torch.Tensor:
    """`linear` of [features, one-hot(category)]: the features' product plus the category's weight column. The
    last `constant` features take no gradient (their share of the features' gradient is left at zero)."""
    return _PickingLinear.apply(features, linear.weight, linear.bias, category, constant)


class _PickingLinear(torch.autograd.Function):
    """x @ W[:, :f].T + b + W[:, f + category].T for f features, with the weight's gradient written into one
    buffer: autograd's own backward of the two slices of W allocates, zeroes and adds two weight-sized
    gradients per layer and step."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        features: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        category: torch.Tensor,
        constant: int,
    ) -> torch.Tensor:
        ctx.save_for_backward(features, weight, category)
        ctx.constant = constant
        width = features.shape[1]
        product = F.linear(features, weight[:, :width], bias)
        product += F.embedding(category, weight[:, width:].t())  # each row's category column, as a row
        return product

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        features, weight, category = ctx.saved_tensors
        width = features.shape[1]
        grad_features = None
        if ctx.needs_input_grad[0]:  # zero for the constant features, without multiplying for them
            grad_features = F.pad(grad @ weight[:, : width - ctx.constant], (0, ctx.constant))
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight)
            grad_weight[:, :width] = (features.t() @ grad).t()  # as autograd orders the product
            grad_weight[:, width:].zero_().index_add_(1, category, grad.t())
        grad_bias = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_features, grad_weight, grad_bias, None, None


class _PackedPicking(torch.autograd.Function):
    """The critic's first layer on packs of rows and their conditions' one-hot vectors: the rows' product plus, for
    each row of a pack, the weight column its category picks. The weight's gradient is written into one buffer
    (autograd's own backward of the slices would allocate, zero and add three weight-sized ones per step)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        packs: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        columns: torch.Tensor,
    ) -> torch.Tensor:
        pac = columns.shape[1]
        width = packs.shape[1] // pac
        data_weight = weight.view(len(weight), pac, -1)[:, :, :width].reshape(len(weight), -1)
        ctx.save_for_backward(packs, data_weight, columns)
        ctx.weight_shape = weight.shape
        hidden = torch.addmm(bias, packs, data_weight.t())
        return hidden.add_(F.embedding_bag(columns, weight.t(), mode="sum"))

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        packs, data_weight, columns = ctx.saved_tensors
        grad_packs = grad @ data_weight if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            hidden, inputs = ctx.weight_shape
            pac = columns.shape[1]
            width = packs.shape[1] // pac
            grad_weight = grad.new_empty(hidden, inputs)
            by_row = grad_weight.view(hidden, pac, -1)  # (hidden, row of the pack, row + condition)
            by_row[:, :, :width] = (grad.t() @ packs).view(hidden, pac, width)
            by_row[:, :, width:].zero_()
            repeated = grad.repeat_interleave(pac, dim=0)  # each pack's gradient, once per row of the pack
            grad_weight.index_add_(1, columns.view(-1), repeated.t())
        grad_bias = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_packs, grad_weight, grad_bias, None


class PackedCritic(nn.Module):
    """Scores packs of `pac` rows at once (their concatenation), so a collapsed generator is visible.

    Each row of a pack is a row followed by its condition's one-hot vector (`forward`, the form per-sample
    gradient hooks and the gradient penalty see). `scores` takes the rows and their condition categories instead
    and picks the first layer's weight column of each category: the same function, without multiplying the
    one-hot half of a pack (thousands of zeros per row on a table of diagnosis codes).
    """

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

    def scores(self, rows: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        """`forward` of each row followed by one-hot(category) (global category numbers, None: no condition)."""
        if category is None:
            return self(rows)
        first, *rest = self.body
        packs = len(rows) // self.pac
        columns = self._condition_columns(rows, category)
        hidden = _PackedPicking.apply(rows.reshape(packs, -1), first.weight, first.bias, columns)
        for layer in rest:
            hidden = layer(hidden)
        return hidden.squeeze(1)

    def _condition_columns(self, rows: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """(packs x pac) the first layer's weight column that the category of each pack's j-th row multiplies."""
        stride = self.body[0].in_features // self.pac  # a row and its condition
        offsets = rows.shape[1] + torch.arange(self.pac, device=rows.device) * stride
        return category.view(-1, self.pac) + offsets

    def gradient_norms(self, rows: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        """Per pack, the norm of the gradient of `scores` over everything the critic reads (each row and its
        condition's one-hot vector), differentiable in the weights: what the gradient penalty of `forward` on
        the one-hot inputs gives, without building them.

        The first layer's input gradient is its weight times its output gradient d (the later layers are
        piecewise linear, so d does not change with the input within a piece). Over the rows' dimensions that
        is one product; over the thousands of condition dimensions C its squared norm is d (C C^T) d^T, a
        product with a hidden x hidden matrix.
        """
        first, *rest = self.body
        packs, width = len(rows) // self.pac, rows.shape[1]
        with torch.no_grad():
            if category is None:
                hidden = first(rows.reshape(packs, self.pac * width))
            else:
                columns = self._condition_columns(rows, category)
                hidden = _PackedPicking.apply(rows.reshape(packs, -1), first.weight, first.bias, columns)
        hidden.requires_grad_(True)
        scores = hidden
        for layer in rest:
            scores = layer(scores)
        (output_gradient,) = torch.autograd.grad(scores.sum(), hidden, create_graph=True)
        weight = first.weight.view(len(first.weight), self.pac, -1)  # (hidden, row of the pack, row + condition)
        squares = (output_gradient @ weight[:, :, :width].reshape(len(weight), -1)).pow(2).sum(1)
        if category is not None:
            conditions = weight[:, :, width:].reshape(len(weight), -1)
            squares = squares + ((output_gradient @ (conditions @ conditions.t())) * output_gradient).sum(1)
        return squares.clamp_min(1e-12).sqrt()


class OutputHead:
    """Turns generator logits into rows: tanh scalars, and categories and missing indicators as a deterministic
    function of the logits: a tempered softmax / sigmoid while training, the most likely one-hot / 0-1 when
    sampling.

    No Gumbel or logistic noise is added (CTGAN's Gumbel-softmax adds it), so every discrete value is a function
    of the generator's input noise, which also drives the numeric columns: the generator must carry the
    dependence between a category and the rest of the row in that noise, instead of leaving part of each
    category to noise of its own. On the three shared tables this raises TSTR ROC AUC and lowers the correlation
    difference (measured: benchmarks/studies/README.md, "Figures quoted from earlier runs").

    While training, rows come out in *training order*: scalars, then missing indicators, then the one-hot spans
    one after another (`order` maps a training position to its layout dimension, `restore` back). Each kind is then
    one contiguous block, so a step needs no scattered indexing however many columns the table has; real rows are
    put in the same order once, before training. Sampled rows (`sampled`) come out in the layout's order.
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
        self.layout_spans = [(s.start, s.stop) for s in spans]  # where sampling writes each span

    def span_logits(self, one_hot_logits: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """(rows x widest) logits of one span per row (`span[i]` for row i); padding is -inf."""
        padding = one_hot_logits.new_full((len(one_hot_logits), 1), float("-inf"))
        return torch.cat([one_hot_logits, padding], dim=1).gather(1, self.padded[span])

    def __call__(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """Relaxed rows at `temperature`, in training order (training)."""
        ordered = logits.index_select(1, self.order)  # backward: index_add, far cheaper than index_put
        scalars = torch.cat(
            [torch.tanh(ordered[:, : self.tanh]), torch.sigmoid(ordered[:, self.tanh : self.scalars])], 1
        )
        indicators, categories = ordered[:, self.scalars : self.discrete], ordered[:, self.discrete :]
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

    def write_sampled(self, logits: torch.Tensor, rows: torch.Tensor) -> None:
        """Write hard rows (sampling) from logits given dimension by dimension (dimensions x rows,
        `Generator.logits_by_dimension`) into `rows`, laid out the same way in the layout's order: each span's most
        likely category (the first one on a tie) and 0/1 indicators. Every span is a block of whole rows there,
        so each choice is one reduction over contiguous memory."""
        rows.zero_()
        scalar_dims, indicator_dims = self.order[: self.scalars], self.order[self.scalars : self.discrete]
        scalars = logits[scalar_dims]
        rows[scalar_dims] = torch.cat([torch.tanh(scalars[: self.tanh]), torch.sigmoid(scalars[self.tanh :])])
        rows[indicator_dims] = (logits[indicator_dims] > 0).to(rows.dtype)
        if self.layout_spans:
            # max's indices: the first largest, as argmax, which reduces over the leading dimension far slower
            chosen = torch.stack([logits[start:stop].max(0).indices + start for start, stop in self.layout_spans])
            rows.scatter_(0, chosen, 1.0)
