"""The shadow-model game for patient histories: a patient is the unit, as in the history evaluation.

Every TRAIN and HOLDOUT patient is a member of half of the shadow generators, each a copy of the released history
model (its hyperparameters, rare-value policy and privacy budget) trained on its half of the patients' histories and
asked for as many patients. The attacks read the same one row per patient as the evaluation's (patient_table), so a
holdout too small to decide membership (the MIMIC-III demo's 100 patients) is settled the way a table's is.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from synthmed.data.histories import Histories, HistoryRoles, read_histories, to_long
from synthmed.errors import SynthmedWarning
from synthmed.evaluate.history_evaluation import frequent_codes, patient_table
from synthmed.evaluate.shadow import ShadowMembership
from synthmed.models.base import Synthesizer
from synthmed.workflows.shadow import SHADOW_MODELS, members_game, privacy_budget


def _events(parts: list[Histories], roles: HistoryRoles) -> pd.DataFrame:
    """Histories as one long table, each part's patients and visits numbered after the previous parts'."""
    tables, patients, visits = [], 0, 0
    for part in parts:
        if not part.n_patients:
            continue
        table = to_long(part)
        table[roles.patient] += patients
        if roles.visit is not None:
            table[roles.visit] += visits
        tables.append(table)
        patients, visits = patients + part.n_patients, visits + len(part.visits)
    return pd.concat(tables, ignore_index=True)


def history_game(
    model: Synthesizer,
    train: Histories,
    holdout: Histories,
    *,
    models: int = SHADOW_MODELS,
    seed: int = 0,
    progress: bool = True,
) -> ShadowMembership:
    """Train `models` copies of the history `model` on random halves of TRAIN's and HOLDOUT's patients and score how
    well an attacker tells the generators that trained on a patient from those that did not."""
    tokens = model.transformer_
    roles, rare = tokens.roles_, tokens.rare_
    params, budget = model.get_params(), privacy_budget(model)
    codes = frequent_codes(train)
    population = pd.concat([patient_table(train, codes), patient_table(holdout, codes)], ignore_index=True)
    first_holdout = train.n_patients

    def train_on(members: np.ndarray, shadow_seed: int) -> pd.DataFrame:
        in_holdout = members >= first_holdout
        parts = [train.take(members[~in_holdout]), holdout.take(members[in_holdout] - first_holdout)]
        shadow = type(model).from_params({**params, "seed": shadow_seed})
        with warnings.catch_warnings():  # the notes about the data were shown when the released model trained
            warnings.simplefilter("ignore", SynthmedWarning)
            shadow.fit(
                _events(parts, roles),
                patient_column=roles.patient,
                codes=list(roles.codes),
                visit_column=roles.visit,
                time=roles.time,
                rare_values=rare["policy"],
                min_patients=rare["min_patients"],
                progress=False,
                **budget,
            )
        sample = shadow.sample(len(members), seed=shadow_seed)
        return patient_table(read_histories(sample, roles), codes)

    return members_game(train_on, population, models=models, seed=seed, progress=progress)
