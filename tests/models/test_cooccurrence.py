"""Co-occurrence matching: exact real rates, a loss that vanishes on the real records, column sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthmed.models import cooccurrence
from synthmed.models.cooccurrence import CooccurrenceMatch


def _records(rows: int = 500, columns: int = 6, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    base = rng.random((rows, columns)) < np.linspace(0.05, 0.5, columns)
    base[:, 1] = base[:, 0] | (rng.random(rows) < 0.02)  # column 1 follows column 0
    return torch.as_tensor(base, dtype=torch.float32)


def test_target_holds_pair_rates_and_column_rates_on_the_diagonal() -> None:
    records = _records()
    match = CooccurrenceMatch(records, torch.arange(6))
    expected = (records.T @ records).numpy() / len(records)
    np.testing.assert_allclose(match.target.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(match.target.diagonal().numpy(), records.mean(0).numpy(), rtol=1e-6)


def test_loss_vanishes_on_the_real_records_and_grows_when_pairs_are_broken() -> None:
    records = _records()
    match = CooccurrenceMatch(records, torch.arange(6))
    rng = np.random.default_rng(0)
    assert match.loss(records, rng).item() == pytest.approx(0.0, abs=1e-10)
    independent = records.mean(0).expand(len(records), -1).clone().requires_grad_(True)
    loss = match.loss(independent, rng)  # right column rates, pairs independent
    assert loss.item() > 1e-3
    loss.backward()
    assert independent.grad is not None and independent.grad.abs().sum() > 0


def test_only_binary_columns_are_matched() -> None:
    records = torch.cat([_records(), torch.rand(500, 2) * 5], dim=1)
    match = CooccurrenceMatch(records, torch.arange(6))
    assert match.target.shape == (6, 6)
    scaled = records.clone()
    scaled[:, 6:] *= 10  # the continuous columns do not enter the loss
    assert match.loss(scaled, np.random.default_rng(0)).item() == pytest.approx(0.0, abs=1e-10)


def test_wide_matrices_keep_the_most_frequent_columns_and_sample_pairs_per_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cooccurrence, "MAX_MATCHED_COLUMNS", 4)
    monkeypatch.setattr(cooccurrence, "COLUMNS_PER_STEP", 2)
    records = _records()
    match = CooccurrenceMatch(records, torch.arange(6))
    assert match.columns.tolist() == [2, 3, 4, 5]  # rates rise with the column index, column 1 follows column 0
    independent = records.mean(0).expand(len(records), -1)
    losses = {round(match.loss(independent, np.random.default_rng(seed)).item(), 8) for seed in range(20)}
    assert len(losses) > 1  # each step scores another pair of columns
