"""TabGAN under differential privacy: what changes from `tabgan.py`, and why (DP-SGD itself: models/dp.py).

- The critic is the one network that reads real records, so it alone trains with DP-SGD, on Poisson batches.
  It scores single rows, not packs: with Poisson sampling one record would shift which rows share a pack, and
  so move several per-sample gradients at once.
- The critic's loss is the logistic (non-saturating) GAN loss, one term per row. A Wasserstein critic needs a
  gradient penalty, which differentiates the critic's input gradient and has no per-record form to clip, or
  weight clipping, which measured worse.
- Marginals: before training, one Gaussian mechanism (`MARGINALS_SHARE` of epsilon) releases every discrete
  column's category counts and a histogram of every numeric column over its declared range. They are the only
  summaries of the data that ship: category shares (what unconditional sampling draws conditions from) and
  calibration quantiles (numbers are mapped onto the released histograms after training, as tabgan's
  `quantile_knots` map them onto the data's quantiles).
- Conditions: training-by-sampling picks real rows by their category, which Poisson sampling cannot. Each real
  row is conditioned on its own value in a random discrete column; generated rows draw theirs from the released
  category shares.
- The generator's distribution-matching term compares generated rows with real ones outside DP-SGD, so it is
  off; numeric columns are min-max scaled to the schema's declared ranges (mixture modes would be fitted on the
  data).
- Steps: a private run takes `PRIVATE_STEPS` critic steps (unless `epochs` is given), each on an expected
  `PRIVATE_SAMPLE_RATE` of the rows (at most `batch_size`). Chosen on the two shared heart tables at epsilon 1
  and 3 over 300 steps at 25% and 600 at 10%, which give lower TSTR AUC on the 460-row half and about the same on
  the 151-row half (measured: benchmarks/studies/README.md, "Figures quoted from earlier runs").
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from synthmed.data.transform import TableTransformer
from synthmed.models.condition_vectors import ConditionSampler, category_codes
from synthmed.models.dp import Phase, PrivateTraining
from synthmed.models.dp_histograms import HISTOGRAM_BINS, MARGINALS_SHARE, calibrate_to_histograms, numeric_histograms
from synthmed.models.training import TrainingRun

if TYPE_CHECKING:
    from synthmed.models.tabgan import TabGAN

# Quantile levels taken from each released histogram for calibration (every 2%, as tabgan's quantile_knots).
CALIBRATION_KNOTS = 51
# Critic steps of a private run, and each Poisson batch's expected share of the rows.
PRIVATE_STEPS = 1200
PRIVATE_SAMPLE_RATE = 0.05


def release_marginals(
    private: PrivateTraining,
    data: np.ndarray,
    codes: np.ndarray,
    transformer: TableTransformer,
    sampler: ConditionSampler,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each category's share of its column, and each number's histogram, released by one Gaussian mechanism.

    A record adds one count to each discrete column's histogram and at most one to each numeric column's
    (models/dp_histograms.py), so the k histograms together move by at most sqrt(k) in L2 norm. Negative noisy
    counts become 0; a column whose counts all vanish gets uniform shares. `codes` holds each row's category
    (global number) in each discrete column.
    """
    histograms = numeric_histograms(data, transformer)
    counts = np.concatenate([np.bincount(codes.ravel(), minlength=sampler.width), *histograms.values()])
    sensitivity = math.sqrt(codes.shape[1] + len(histograms))
    noisy = np.clip(private.noisy_counts("marginals", counts.astype(float), sensitivity), 0, None)
    shares = np.empty(sampler.width)
    for offset, span in zip(sampler.offsets, sampler.spans, strict=True):
        block = noisy[offset : offset + span.width]
        shares[offset : offset + span.width] = block / block.sum() if block.sum() > 0 else 1 / span.width
    bins = noisy[sampler.width :].reshape(len(histograms), HISTOGRAM_BINS)
    return shares, dict(zip(histograms, bins, strict=True))


def train_privately(model: TabGAN, data: torch.Tensor, run: TrainingRun) -> None:
    """DP-SGD on the critic; the generator learns only from the private critic and the private shares."""
    from synthmed.models.tabgan import OutputHead

    layout = model.transformer_.layout_
    average, critic = model.networks_["generator"], model.networks_["critic"].train()
    n = len(data)
    batch = max(1, min(model.batch_size, round(PRIVATE_SAMPLE_RATE * n)))
    steps_per_epoch = max(1, round(n / batch))
    epochs = model.epochs if model.epochs is not None else math.ceil(PRIVATE_STEPS / steps_per_epoch)
    probe = ConditionSampler(layout, np.ones(model._condition_width(layout)))
    matrix = data.cpu().numpy()
    codes = category_codes(matrix, probe.spans)
    private = run.private_training(
        n, marginals=Phase(n, 1, share=MARGINALS_SHARE), critic=Phase(batch, epochs * steps_per_epoch)
    )
    private.adaptations.update(
        critic="one row per pack; logistic GAN loss instead of Wasserstein loss with gradient penalty",
        conditions="real rows conditioned on their own value of a random discrete column; generated rows on "
        "released category shares",
        marginals=f"category counts and {HISTOGRAM_BINS}-bin histograms of the numbers' declared ranges, released "
        f"by the Gaussian mechanism ({MARGINALS_SHARE:.0%} of epsilon); numbers calibrated to the histograms",
        distribution_matching="off (it compares generated rows with real ones outside DP-SGD)",
        numeric_columns="min-max scaled to the schema's ranges, no mixture modes",
    )
    head = model.head_ = OutputHead(layout, run.device)
    ordered = data[:, head.order]
    shares, histograms = release_marginals(private, matrix, codes, model.transformer_, probe)
    average.condition_shares.copy_(torch.as_tensor(shares, dtype=torch.float32))
    model.sampler_ = ConditionSampler(layout, shares)
    real_codes = torch.as_tensor(codes, device=data.device) if probe.spans else None

    generator = copy.deepcopy(average).train()
    adam = {"lr": model.learning_rate, "betas": (0.5, 0.9)}
    g_optimizer = torch.optim.Adam(generator.parameters(), **adam)
    wrapped = private.wrap(critic)
    c_optimizer = private.optimizer("critic", torch.optim.Adam(wrapped.parameters(), **adam))
    state = {**model.networks_, "trained_generator": generator, "generator_optimizer": g_optimizer}

    def generated(rows: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        if probe.spans:
            column, category = model.sampler_.generation_batch(run.rng, rows)
            condition = model.sampler_.one_hot(category, data.device)
        else:
            column, category, condition = np.zeros(0, int), np.zeros(0, int), data.new_zeros(rows, 0)
        logits = generator(torch.cat([run.normal(rows, model.noise_dim), condition], 1))
        return logits, torch.cat([head(logits, model.temperature), condition], 1), column, category

    def critic_loss(records: torch.Tensor) -> torch.Tensor:
        real = ordered[records]
        if real_codes is not None:
            pick = torch.as_tensor(run.rng.integers(len(probe.spans), size=len(records)), device=data.device)
            own = real_codes[records].gather(1, pick[:, None]).squeeze(1)
            real = torch.cat([real, model.sampler_.one_hot(own, data.device)], 1)
        with torch.no_grad():
            _, fake, _, _ = generated(batch)
        scores = wrapped(torch.cat([real, fake]))
        return torch.cat([F.softplus(-scores[: len(real)]), F.softplus(scores[len(real) :])]).mean()

    rows = torch.arange(n, device=data.device)
    for _ in run.epochs("train", epochs, n, state):
        losses = []
        for _ in range(steps_per_epoch):
            private.descend("critic", run.rng, 1, rows, wrapped, c_optimizer, critic_loss, noise_when_empty=False)
            with private.paused(wrapped):
                logits, fake, column, category = generated(batch)
                adversarial = F.softplus(-wrapped(fake)).mean()
                loss = adversarial + model._condition_loss(logits, column, category)
                g_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                g_optimizer.step()
            model._update_average(average, generator)
            losses.append(adversarial.item())
        run.log(generator=sum(losses) / len(losses), epsilon=private.logged_epsilon)
    wrapped._close()
    del model.sampler_, model.head_
    calibrate_to_histograms(model.transformer_, histograms, CALIBRATION_KNOTS)
