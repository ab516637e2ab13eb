"""synthmed's measured extensions to the papers' models, as named presets a user (or a study) asks for by name.

Each model class keeps its paper's defaults; a preset is a model plus the hyperparameters synthmed changes, and
optionally a training budget: a number of optimiser updates per phase, turned into epochs for the table at hand
(never more than the model's default epochs). The figures behind each preset are in benchmarks/studies/README.md,
beside the commands that produced them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from synthmed.errors import ConfigError
from synthmed.models.registry import get_model_class


@dataclass(frozen=True)
class Budget:
    """`updates` optimiser steps for the phase whose epochs are `epochs` and whose minibatch is `batch`."""

    epochs: str
    batch: str
    updates: int


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    description: str
    settings: Mapping[str, Any]
    budgets: tuple[Budget, ...] = field(default=())

    def hyperparameters(self, rows: int) -> dict[str, Any]:
        """The preset's settings, with each budget's epochs for a table of `rows` rows."""
        parameters = get_model_class(self.model).hyperparameters()
        defaults = {name: parameter.default for name, parameter in parameters.items()}
        chosen = dict(self.settings)
        for budget in self.budgets:
            batch = min(int(chosen.get(budget.batch, defaults[budget.batch])), max(1, rows))
            steps_per_epoch = max(1, rows // batch)
            chosen[budget.epochs] = min(int(defaults[budget.epochs]), math.ceil(budget.updates / steps_per_epoch))
        return chosen


# Study 1's budget, with which medGAN's extensions meet every bar of the NHDS discharge study: 7,500 generator and
# 7,500 autoencoder updates (100 and 10 epochs of its 75,775 records), at most the paper's epochs. One discriminator
# step per generator step (the paper takes 2) met those bars on two seeds in two thirds of the time; on study 2a's
# three code matrices it moved probability R^2 by -0.012 to +0.003 and F1 by -0.005 to +0.064
# (benchmarks/studies/README.md, study 1).
_STUDY_1_BUDGET = (Budget("epochs", "batch_size", 7_500), Budget("pretrain_epochs", "pretrain_batch_size", 7_500))

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "medgan-extended",
            "medgan",
            "medGAN against mode collapse: the discriminator sees drawn 0/1 records, the generator also matches the "
            "real co-occurrence rates, the decoder starts at the column frequencies; one discriminator step per "
            "generator step; study 1's update budget",
            {
                "binary_rounding": "straight_through",
                "cooccurrence_weight": 300.0,
                "start_at_frequencies": True,
                "discriminator_steps": 1,
            },
            _STUDY_1_BUDGET,
        ),
        Preset(
            "corgan-extended",
            "corgan",
            "corGAN whose decoder starts at the column frequencies and sees numbers as quantile levels, calibrated "
            "to the data's quantiles after training (study 2b)",
            {"start_at_frequencies": True, "quantile_knots": 51, "numeric_scaling": "quantiles"},
        ),
        Preset(
            "corgan-calibrated",
            "corgan",
            "corgan-extended with the reference's dense generator and critic and each code rounded where the "
            "generated records get its training share; study 2a's update budget",
            {
                "start_at_frequencies": True,
                "quantile_knots": 51,
                "numeric_scaling": "quantiles",
                "architecture": "mlp",
                "binary_rounding": "calibrated",
            },
            (Budget("epochs", "batch_size", 1_000), Budget("pretrain_epochs", "batch_size", 1_000)),
        ),
        Preset(
            "tsgan-adam",
            "tsgan",
            "tsgan with DCGAN's published optimiser (Adam at 2e-4) in place of the white paper's SGD (study 3)",
            {"optimizer": "adam", "learning_rate": 2e-4},
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("unknown preset", values=[name], remedy=f"choose one of: {', '.join(PRESETS)}") from None
