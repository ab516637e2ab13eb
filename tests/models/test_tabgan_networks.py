"""tabgan's networks take each row's condition as a category number: the same function, and the same gradients, as
the layers reading the condition's one-hot vector."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmed.models.layers import top_sums
from synthmed.models.tabgan_networks import Generator, PackedCritic

NOISE, CONDITIONS, WIDTH, PAC = 6, 9, 11, 5


def _gradients(output: torch.Tensor, inputs: tuple[torch.Tensor, ...], weights: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(output, inputs, weights))


def test_the_generator_picks_the_weight_columns_a_one_hot_condition_multiplies() -> None:
    torch.manual_seed(0)
    generator = Generator(NOISE + CONDITIONS, (8, 4), WIDTH, CONDITIONS).train()
    noise, category = torch.randn(20, NOISE), torch.randint(0, CONDITIONS, (20,))
    dense = torch.cat([noise, F.one_hot(category, CONDITIONS).float()], 1)
    parameters = tuple(generator.parameters())

    def through_one_hot(x: torch.Tensor) -> torch.Tensor:  # every layer multiplies its whole input
        for block in generator.body[:-1]:
            x = torch.cat([F.relu(block.norm(block.linear(x))), x], 1)
        return generator.body[-1](x)

    expected = through_one_hot(dense)
    picked = generator(noise, category)
    torch.testing.assert_close(picked, expected)
    weights = torch.randn_like(expected)
    for got, wanted in zip(
        _gradients(picked, parameters, weights), _gradients(expected, parameters, weights), strict=True
    ):
        torch.testing.assert_close(got, wanted)
    noise.requires_grad_(True)  # drawn noise takes no gradient; noise that does gets it through every layer
    (got,) = torch.autograd.grad(generator(noise, category), noise, weights)
    dense = torch.cat([noise, F.one_hot(category, CONDITIONS).float()], 1)
    (wanted,) = torch.autograd.grad(through_one_hot(dense), noise, weights)
    torch.testing.assert_close(got, wanted)


def test_sampling_logits_are_the_generators_given_dimension_by_dimension() -> None:
    torch.manual_seed(2)
    generator = Generator(NOISE + CONDITIONS, (8, 4), WIDTH, CONDITIONS).eval()
    noise, category = torch.randn(30, NOISE), torch.randint(0, CONDITIONS, (30,))
    by_dimension = generator.logits_by_dimension(noise, category)
    assert by_dimension.is_contiguous() and by_dimension.shape == (WIDTH, 30)
    torch.testing.assert_close(by_dimension.t(), generator(noise, category))
    plain = Generator(NOISE, (8, 4), WIDTH, 0).eval()  # a table without discrete columns has no condition
    torch.testing.assert_close(plain.logits_by_dimension(noise, None).t(), plain(noise, None))


def test_the_critic_scores_rows_and_categories_as_packs_of_rows_and_one_hot_conditions() -> None:
    torch.manual_seed(1)
    critic = PackedCritic(WIDTH + CONDITIONS, (16, 8), PAC)
    rows = torch.randn(4 * PAC, WIDTH, requires_grad=True)
    category = torch.randint(0, CONDITIONS, (4 * PAC,))
    expected = critic(torch.cat([rows, F.one_hot(category, CONDITIONS).float()], 1))
    scores = critic.scores(rows, category)
    torch.testing.assert_close(scores, expected)
    inputs, weights = (rows, *critic.parameters()), torch.randn_like(expected)
    for got, wanted in zip(_gradients(scores, inputs, weights), _gradients(expected, inputs, weights), strict=True):
        torch.testing.assert_close(got, wanted)


def test_the_penalty_sees_the_gradient_over_the_rows_and_their_one_hot_conditions() -> None:
    torch.manual_seed(3)
    critic = PackedCritic(WIDTH + CONDITIONS, (16, 8), PAC)
    rows, category = torch.randn(4 * PAC, WIDTH), torch.randint(0, CONDITIONS, (4 * PAC,))
    dense = torch.cat([rows, F.one_hot(category, CONDITIONS).float()], 1).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(dense).sum(), dense, create_graph=True)
    expected = gradient.reshape(4, -1).norm(dim=1)
    norms = critic.gradient_norms(rows, category)
    torch.testing.assert_close(norms, expected)
    parameters, weights = tuple(critic.parameters()), torch.randn(4)
    for parameter, *gradients in zip(
        parameters,
        *(torch.autograd.grad(n, parameters, weights, allow_unused=True) for n in (norms, expected)),
        strict=True,
    ):  # the first layer's bias moves the penalty through nothing but the piecewise-linear layers' pieces
        mine, theirs = (torch.zeros_like(parameter) if g is None else g for g in gradients)
        torch.testing.assert_close(mine, theirs)
    plain = PackedCritic(WIDTH, (16, 8), PAC)  # a table without discrete columns: the rows alone
    flat = rows.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(plain(flat).sum(), flat, create_graph=True)
    torch.testing.assert_close(plain.gradient_norms(rows, None), gradient.reshape(4, -1).norm(dim=1))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 30),
    columns=st.integers(1, 6),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_sums_add_each_columns_largest_values_and_pass_them_the_gradient(
    rows: int, columns: int, levels: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # few distinct levels, so that ties at the threshold are common
    values = torch.tensor(rng.integers(0, levels, (rows, columns)) / levels, dtype=torch.float32, requires_grad=True)
    counts = torch.as_tensor(rng.integers(0, rows + 1, columns))
    sums = top_sums(values, counts)
    largest = values.detach().sort(dim=0, descending=True).values
    expected = torch.stack([largest[: int(k), j].sum() for j, k in enumerate(counts)])
    torch.testing.assert_close(sums.detach(), expected)
    (gradient,) = torch.autograd.grad(sums.sum(), values)
    # every column hands a total gradient of its count, in [0, 1] per value, and none to values below the threshold
    torch.testing.assert_close(gradient.sum(0), counts.float())
    assert ((gradient >= 0) & (gradient <= 1 + 1e-6)).all()
    threshold = torch.where(counts > 0, largest[(counts - 1).clamp(min=0), torch.arange(columns)], torch.inf)
    assert (gradient[values.detach() < threshold] == 0).all()
