"""The shadow-model membership game, played with the release's own training recipe (evaluate/shadow.py scores it).

Every real record the release knows (TRAIN and HOLDOUT) is a member of half of `models` generators, each trained
with the released generator's model, hyperparameters and privacy budget on its half, and asked for as many
synthetic rows as it trained on. Each generator sees half of the records rather than TRAIN's share of them: a
smaller training set leaks more, so the game errs on the cautious side.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthmed.data.schema import Schema
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.evaluate.encoding import encode_population
from synthmed.evaluate.shadow import ShadowMembership, half_memberships, shadow_membership
from synthmed.models.base import Synthesizer

# (training rows, seed) -> as many synthetic rows, made the way the released generator was
Recipe = Callable[[pd.DataFrame, int], pd.DataFrame]

SHADOW_MODELS = 8
# shadow generator k is seeded away from the release's own seed
SEED_OFFSET = 10_000


def privacy_budget(model: Synthesizer) -> dict[str, float]:
    """The budget `model` trained under, as `fit`'s keyword arguments (none without differential privacy)."""
    privacy: dict[str, Any] = getattr(model, "privacy_", None) or {}
    return {"dp_epsilon": privacy["target_epsilon"], "dp_delta": privacy["delta"]} if privacy else {}


def recipe_of(model: Synthesizer, schema: Schema | None = None) -> Recipe:
    """How `model` was made: its class, hyperparameters and (if it trained privately) privacy budget."""
    params, budget = model.get_params(), privacy_budget(model)

    def train_and_sample(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        shadow = type(model).from_params({**params, "seed": seed})
        with warnings.catch_warnings():  # the notes about the data were shown when the released model trained
            warnings.simplefilter("ignore", SynthmedWarning)
            shadow.fit(rows, schema=schema, progress=False, **budget)
        sample = shadow.sample(len(rows), seed=seed)
        return sample if isinstance(sample, pd.DataFrame) else pd.DataFrame(sample, columns=rows.columns)

    return train_and_sample


def check_shadow_models(models: int) -> None:
    if isinstance(models, bool) or not isinstance(models, int) or models < 0 or models in (1, 2) or models % 2:
        raise ConfigError(
            "the shadow-model game needs an even number of generators, at least 4 (or 0 to skip it)",
            values=[models],
            remedy=f"e.g. --shadow-models {SHADOW_MODELS}",
        )


def shadow_game(
    recipe: Recipe,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    schema: Schema | None = None,
    models: int = SHADOW_MODELS,
    seed: int = 0,
    progress: bool = True,
) -> ShadowMembership:
    """Train `models` generators with `recipe` on random halves of TRAIN and HOLDOUT together, and score how
    well an attacker tells each record's generators that trained on it from those that did not."""
    population = pd.concat([train, holdout], ignore_index=True)

    def train_on(members: np.ndarray, shadow_seed: int) -> pd.DataFrame:
        return recipe(population.iloc[members].reset_index(drop=True), shadow_seed)

    return members_game(train_on, population, schema=schema, models=models, seed=seed, progress=progress)


def members_game(
    train_on: Callable[[np.ndarray, int], pd.DataFrame],
    population: pd.DataFrame,
    *,
    schema: Schema | None = None,
    models: int = SHADOW_MODELS,
    seed: int = 0,
    progress: bool = True,
) -> ShadowMembership:
    """The game over any population: `train_on(members, seed)` trains a generator on the members (positions in
    `population`, one row per member as the attacks see it) and returns its sample in `population`'s columns."""
    check_shadow_models(models)
    started = time.perf_counter()
    member = half_memberships(len(population), models, seed)
    samples = []
    shown = Progress(
        TextColumn("shadow models"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=True,
    )
    with shown:
        task = shown.add_task("shadow", total=models)
        for index in range(models):
            samples.append(train_on(np.flatnonzero(member[:, index]), seed + SEED_OFFSET + index))
            shown.advance(task)
    encoded, sample_matrices, weights = encode_population(population, samples, schema)
    return shadow_membership(
        encoded, member, sample_matrices, weights, seed=seed, seconds=time.perf_counter() - started
    )
