"""visitgpt: whole patient histories (static attributes, then visits with their codes, gap and attributes).

HALO (Theodorou et al., Nature Communications 2023) is the reference: a transformer over visits whose output feeds an
autoregressive head over the whole code vocabulary inside each visit, so every visit costs a pass over thousands of
codes whatever it holds. visitgpt keeps the transformer over visits and makes the inside of a visit cheap
(models/history_network.py): whether another visit follows, then the visit's codes one at a time in vocabulary order
(a GRU that may only pick codes after the previous one, and that copies codes the patient's earlier visits held), then
its gap and attributes from a masked autoencoder (MADE) conditioned on the context and the codes. A visit costs as
many steps as it has codes plus one pass per attribute when sampling, and one pass in all when training. The data
arrive as token rows (data/history_tokens.py), taken apart into patients' attributes, visits' fields and codes.
Width 128 with 3 layers trains on 2 CPU cores in minutes on the shared histories; HALO's 12 layers of 768 need a GPU.

Training minimises the histories' negative log-likelihood with AdamW, a linear warm-up and a cosine decay; batches are
patients of similar visit counts. With `validation_share`, as HALO's training script does, a share of the patients is
held out of the gradient steps and the weights kept are those of the epoch with the lowest loss on them. It is off by
default: on the Diabetes 130-US histories that epoch comes early, before the model has learned how many visits a
patient has, and the readmission models trained on its patients lose a tenth of their AUC for a slightly weaker
membership attack (docs/benchmarks/histories.md, weights chosen on held-out patients).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthmed.data.code_groups import cleaned_groups, load_groups
from synthmed.data.histories import (
    Histories,
    HistoryRoles,
    concatenated_ranges,
    read_events,
    read_histories,
    to_long,
)
from synthmed.data.history_groups import grouped_histories
from synthmed.data.history_rare import DEFAULT_MIN_PATIENTS, RarePolicy, check_rare_policy
from synthmed.data.history_records import RecordLayout, as_records, records_as_histories
from synthmed.data.history_tokens import FIRST_TIME, AttributeTokens, HistoryParts, HistoryTokenizer
from synthmed.data.io import ReadOptions
from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import Schema
from synthmed.data.validate import validate_table
from synthmed.errors import ConfigError, SynthmedWarning
from synthmed.models.base import Synthesizer
from synthmed.models.conditions import largest_remainder
from synthmed.models.dp import Phase, PrivacyPlan, PrivateTraining, steps_per_epoch
from synthmed.models.history_network import HistoryLikelihood, HistoryNetwork, gumbel_max
from synthmed.models.registry import DataKind
from synthmed.models.training import LowestLoss, TrainingRun, descend

TableLike = pd.DataFrame | str | Path
# one visit number's generated visits: their patients, the visit number (one per visit), their fields (visits x
# fields), the codes of all of them one visit after another (local indices) and how many each visit holds
GeneratedVisits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# patients generated together
GENERATION_BATCH = 1024
# conditional sampling draws patients' attributes in batches of this many, and gives up after this many per patient
CONDITION_BATCH = 4096
MAX_CONDITION_DRAWS = 1000
# patients whose own gradients are computed at once under DP (each holds a copy of every weight's gradient)
PRIVATE_CHUNK = 32
# fewer held-out patients than this give a loss too noisy to choose weights by: all of them train instead
MIN_VALIDATION_PATIENTS = 10


@dataclass(frozen=True)
class _RareTreatment:
    """What becomes of values fewer than `min_patients` patients hold (data/history_rare.py)."""

    policy: RarePolicy
    min_patients: int


@dataclass(frozen=True)
class _HistoryInput:
    """What `fit` received, carried through the base class's `fit` to `_prepare`."""

    events: TableLike
    roles: HistoryRoles
    visits: TableLike | None
    patients: TableLike | None
    rare: _RareTreatment
    groups: dict[str, tuple[str, ...]] | None


@dataclass(frozen=True)
class _RecordsInput:
    """A table of records (a code matrix) that `fit` reads as one-visit histories (data/history_records.py)."""

    table: TableLike
    rare: _RareTreatment


@contextmanager
def _seeded_dropout(seed: int, device: torch.device) -> Iterator[None]:
    """Dropout draws from torch's global generator: seed it for one epoch (from the run's checkpointed stream, so a
    resumed run draws the same masks) and give the caller's state back afterwards."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _local_token(attribute: AttributeTokens, value: Any) -> int:
    """The token of `value` among an attribute's (None: missing); a value given as text matches by its text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        if attribute.missing:
            return attribute.size - 1
    elif attribute.values is not None:
        for index, known in enumerate(attribute.values):
            if known == value or str(known) == str(value):
                return index
    elif attribute.edges is not None:
        raise ConfigError(
            "conditions on a number binned into ranges are not supported", column=attribute.name, values=[value]
        )
    raise ConfigError(
        "a value the training patients do not hold",
        column=attribute.name,
        values=[value],
        remedy=f"choose among: {', '.join(map(str, attribute.values or []))}",
    )


def _note_rare(tokenizer: HistoryTokenizer) -> None:
    """Say at fit which columns had values fewer than k patients hold, and what became of them."""
    if not tokenizer.rare_notes_:
        return
    policy, k = tokenizer.rare_["policy"], tokenizer.rare_["min_patients"]
    listed = "; ".join(f"{column}: {what}" for column, what in tokenizer.rare_notes_.items())
    if policy == "keep":
        message = (
            f"Values held by fewer than {k} patients (rare) ship in the generator and can appear in samples, where "
            f"each points to a few real patients ({listed}); `evaluate` fails on them. Leave rare_values at 'merge' "
            "(--rare-values merge) unless these values are public."
        )
    else:
        merged = "become their column's '(other)' code" if policy == "merge" else "are dropped"
        message = (
            f"Only values at least {k} patients hold ship in the generator (rare codes {merged}, rare categories "
            f"'(other)' or missing, numbers top- and bottom-coded to values {k} patients reach): {listed}. "
            "rare_values='keep' (--rare-values keep) ships every value."
        )
    warnings.warn(message, SynthmedWarning, stacklevel=4)


class VisitGPT(Synthesizer):
    """Patient histories: fit on long-form events, sample `n` synthetic patients' histories in the same layout."""

    name = "visitgpt"

    def __init__(
        self,
        *,
        width: int = 128,
        layers: int = 3,
        heads: int = 4,
        dropout: float = 0.1,
        epochs: int = 80,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        validation_share: float = 0.0,
        patience: int | None = 10,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        """Hyperparameters (synthmed's choices; HALO's own are 12 layers of width 768 on a GPU):

        width, layers, heads: the visit transformer's size; dropout: in its attention and MLP layers.
        epochs: passes over the patients; batch_size: patients per step (grouped by visit count).
        learning_rate, weight_decay: AdamW's; the rate warms up linearly over `warmup_steps` steps, then decays
        along a cosine to a tenth of itself by the last step.
        validation_share: the share of patients held out of training to choose the epoch whose weights are kept
        (the lowest loss on them); 0, fits of fewer than 10 / validation_share patients and private fits (whose
        losses on real patients would be released outside the privacy budget): every patient trains and the last
        epoch is kept. patience: epochs without a lower held-out loss before training stops (None: never).
        """
        self.width, self.layers, self.heads, self.dropout = width, layers, heads, dropout
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.weight_decay, self.warmup_steps = learning_rate, weight_decay, warmup_steps
        self.validation_share, self.patience = validation_share, patience
        self.seed, self.device = seed, device

    positive = frozenset({"width", "layers", "heads", "epochs", "batch_size", "learning_rate", "patience"})

    def _check_params(self) -> None:
        super()._check_params()
        if self.width % self.heads:
            raise ConfigError(
                "width must be a multiple of heads", values=[self.width, self.heads], remedy="e.g. 128, 4"
            )
        if self.dropout >= 1:
            raise ConfigError("dropout must be below 1", values=[self.dropout], remedy="e.g. 0.1")
        if self.validation_share >= 0.5:
            raise ConfigError(
                "validation_share must be below 0.5: most patients must train",
                values=[self.validation_share],
                remedy="e.g. 0.1, or 0 to train on every patient",
            )

    # ---- data ------------------------------------------------------------------------------------------
    def fit(  # type: ignore[override]
        self,
        events: TableLike,
        *,
        patient_column: str | None = None,
        codes: Sequence[str] | None = None,
        visit_column: str | None = None,
        time: str | None = None,
        visits: TableLike | None = None,
        patients: TableLike | None = None,
        exclude: Sequence[str] = (),
        rare_values: RarePolicy = "merge",
        min_patients: int = DEFAULT_MIN_PATIENTS,
        groups: Mapping[str, Sequence[str]] | str | Path | None = None,
        **options: Any,
    ) -> Self:
        """Learn histories from long-form `events` (one row per visit, or per code): `patient_column`, the visit
        id (`visit_column`) and/or `time`, and the `codes` columns; every other column is a patient attribute when
        constant within each patient, else a visit attribute. `visits` and `patients` are optional tables joined
        by the visit id and the patient id. Codes, categories and numbers' extremes held by fewer than
        `min_patients` patients are generalised (`rare_values`: merge, suppress or keep; data/history_rare.py).
        `groups` (a groups file or {name: prefixes}) replaces codes by the groups they fall in
        (data/history_groups.py). `options` are the base `fit`'s (progress, checkpoint, ...).

        Without any of the history arguments, `events` is a table of records (a code matrix): each record is a
        patient with one visit whose codes are the 0/1 columns holding 1, and `sample` writes that table's columns
        (data/history_records.py)."""
        check_rare_policy(rare_values, min_patients)
        rare = _RareTreatment(rare_values, min_patients)
        described = (patient_column, codes, visit_column, time, visits, patients, groups)
        if all(value is None for value in described) and not exclude:
            return super().fit(_RecordsInput(events, rare), **options)
        if patient_column is None or not codes:
            raise ConfigError(
                "patient histories need the patient column and the code columns named",
                remedy="give patient_column and codes (--patient-column, --codes), or none of the history options "
                "to read a code matrix as one-visit histories",
            )
        roles = HistoryRoles(patient_column, tuple(codes), visit_column, time, tuple(exclude))
        named = None
        if groups is not None:
            named = load_groups(groups) if isinstance(groups, str | Path) else cleaned_groups(groups)
        return super().fit(_HistoryInput(events, roles, visits, patients, rare, named), **options)

    def _prepare(self, data: Any, schema: Schema | str | Path | None, reading: ReadOptions) -> np.ndarray:
        if not isinstance(data, _HistoryInput | _RecordsInput):
            raise ConfigError(
                "visitgpt learns patient histories or records of codes",
                remedy="call fit(events, patient_column=..., codes=[...], visit_column=... or time=...), or fit(table)",
            )
        if schema is not None:
            raise ConfigError(
                "visitgpt infers each attribute's kind; it takes no schema yet", remedy="leave out schema"
            )
        if self.private_ and data.rare.policy == "keep":
            raise ConfigError(
                "under differential privacy the values a history model ships must each be held by several patients",
                remedy="leave rare_values at 'merge' (or 'suppress') when training with dp_epsilon",
            )
        records: RecordLayout | None = None
        if isinstance(data, _RecordsInput):
            table, self.input_format_ = self._as_table(data.table, reading)  # a frame or an array, as for tables
            histories, records = records_as_histories(validate_table(table, None, reading.decimal))
        else:
            histories = self._read_histories(data, reading)
            self.input_format_ = "histories"
        tokenizer, histories, static, visits = HistoryTokenizer().fit(
            histories, data.rare.policy, data.rare.min_patients
        )
        tokenizer.records_ = records
        self.transformer_, self.schema_ = tokenizer, tokenizer.schema_
        _note_rare(tokenizer)
        return tokenizer.encode(histories, static, visits)

    @staticmethod
    def _read_histories(data: _HistoryInput, reading: ReadOptions) -> Histories:
        roles = data.roles
        histories = read_histories(
            read_events(data.events, reading, roles.codes),
            roles,
            visits=None if data.visits is None else read_events(data.visits, reading),
            patients=None if data.patients is None else read_events(data.patients, reading),
        )
        return histories if data.groups is None else grouped_histories(histories, data.groups)

    def generates(self) -> DataKind:
        """Histories, or a table when fitted on records of codes."""
        return "histories" if getattr(self, "input_format_", "histories") == "histories" else "table"

    @classmethod
    def learns(cls, kind: DataKind) -> bool:
        """Histories, and tables of records of codes (as one-visit histories)."""
        return kind in ("histories", "table")

    def _load_transform(self, meta: dict[str, Any]) -> None:
        self.schema_ = Schema.from_dict(meta["schema"], declared=False)
        self.transformer_ = HistoryTokenizer.from_dict(meta["transformer"], self.schema_)

    def _to_output(self, matrix: np.ndarray, run: TrainingRun) -> pd.DataFrame | np.ndarray:
        histories = self.transformer_.decode(matrix.astype(np.int64), run.rng)
        records = self.transformer_.records_
        if records is None:
            return to_long(histories)
        table = as_records(histories, records)
        return table.to_numpy() if self.input_format_ == "array" else table

    # ---- network and training ----------------------------------------------------------------------------
    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        tokens = self.transformer_
        statics, fields = tokens.field_ranges()
        network = HistoryNetwork(
            tokens.size_,
            len(tokens.vocabulary_),
            statics,
            fields,
            self.width,
            self.layers,
            self.heads,
            self.dropout,
        )
        return {"network": network}

    def _likelihood(self) -> HistoryLikelihood:
        """The training objective over the network (history_network.py)."""
        network = self.networks_["network"]
        return HistoryLikelihood(network, self.transformer_.code_start_, self._following(), self._code_keys()[0])

    def _padded(self, parts: HistoryParts, patients: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """These patients as `HistoryLikelihood` takes them: statics, fields, visit counts, codes and code counts,
        padded to the longest history and the fullest visit among them (padding: valid tokens, never scored)."""
        tokens = self.transformer_
        counts = np.diff(parts.visit_offsets)[patients]
        rows = concatenated_ranges(parts.visit_offsets[patients], counts)
        owner = np.repeat(np.arange(len(patients)), counts)
        step = concatenated_ranges(np.zeros(len(patients)), counts)
        shape = (len(patients), int(counts.max(initial=1)))
        fields = np.empty((*shape, parts.fields.shape[1]), dtype=np.int64)
        fields[...] = np.asarray(tokens.attribute_starts_[tokens.statics_ :], dtype=np.int64)
        fields[owner, step] = parts.fields[rows]
        per_visit = np.diff(parts.code_indptr)[rows]
        codes = np.zeros((*shape, int(per_visit.max(initial=0))), dtype=np.int64)
        visit_of_code = np.repeat(np.arange(len(rows)), per_visit)
        rank = concatenated_ranges(np.zeros(len(rows)), per_visit)
        code_rows = concatenated_ranges(parts.code_indptr[rows], per_visit)
        codes[owner[visit_of_code], step[visit_of_code], rank] = parts.code_tokens[code_rows] - tokens.code_start_
        code_counts = np.zeros(shape, dtype=np.int64)
        code_counts[owner, step] = per_visit
        arrays = (parts.statics[patients], fields, counts, codes, code_counts)
        return tuple(torch.as_tensor(np.asarray(a, dtype=np.int64), device=device) for a in arrays)

    def _code_keys(self) -> tuple[np.ndarray, int]:
        """Each code's key, and how many keys: the same code text in any code column shares one (diag_1=428 and
        diag_2=428)."""
        texts, keys = np.unique([code for _, code in self.transformer_.vocabulary_], return_inverse=True)
        return keys.astype(np.int64), len(texts)

    def _batches(self, visit_counts: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Patients of similar visit counts together (little padding), `batch_size` at a time, in random order."""
        order = np.lexsort((rng.random(len(visit_counts)), visit_counts))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _rate(self, step: int, steps: int) -> float:
        """The learning rate at optimizer step `step` of `steps`: a linear warm-up, then a cosine decay to a tenth.
        A function of the step alone, so a run resumed from a checkpoint continues on the same schedule."""
        warmup = max(1, min(self.warmup_steps, steps // 2))
        if step < warmup:
            return self.learning_rate * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        network: HistoryNetwork = self.networks_["network"].train()
        likelihood = self._likelihood()
        parts = self.transformer_.split(data.cpu().numpy())
        trained, held = self._validation_split(len(parts.visit_offsets) - 1, run.rng)
        counts = np.diff(parts.visit_offsets)[trained]
        held = held[np.argsort(np.diff(parts.visit_offsets)[held], kind="stable")]  # by visit count: little padding
        per_epoch = math.ceil(len(counts) / self.batch_size)
        optimizer = self._optimizer(network)
        state = {"network": network, "optimizer": optimizer}
        select = LowestLoss("validation_nll", self.patience) if len(held) else None
        for epoch in run.epochs("train", self.epochs, len(counts), state, select=select):
            total = 0.0
            with _seeded_dropout(int(run.rng.integers(2**31)), run.device):
                for step, batch in enumerate(self._batches(counts, run.rng), start=epoch * per_epoch):
                    for group in optimizer.param_groups:
                        group["lr"] = self._rate(step, self.epochs * per_epoch)
                    loss = likelihood(*self._padded(parts, trained[batch], run.device))
                    optimizer.zero_grad(set_to_none=True)
                    descend(loss / len(batch), optimizer)
                    total += loss.item()
            figures = {"nll": total / len(counts)}
            if len(held):
                figures["validation_nll"] = self._held_out_loss(likelihood, parts, held, run.device)
            run.log(**figures)

    def _validation_split(self, patients: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The patients that train and those held out to choose the kept epoch by (none when too few)."""
        held = int(self.validation_share * patients)
        if held < MIN_VALIDATION_PATIENTS:
            if self.validation_share:
                warnings.warn(
                    f"validation_share={self.validation_share} holds out {held} of {patients} patients, fewer than "
                    f"{MIN_VALIDATION_PATIENTS}: every patient trains and the last epoch's weights are kept",
                    SynthmedWarning,
                    stacklevel=2,
                )
            return np.arange(patients), np.zeros(0, dtype=np.int64)
        order = rng.permutation(patients)
        return np.sort(order[held:]), np.sort(order[:held])

    def _held_out_loss(
        self, likelihood: HistoryLikelihood, parts: HistoryParts, held: np.ndarray, device: torch.device
    ) -> float:
        """The mean negative log-likelihood per held-out patient (`held`: ordered by visit count), without dropout."""
        network = self.networks_["network"].eval()
        with torch.no_grad():
            total = sum(
                likelihood(*self._padded(parts, held[start : start + self.batch_size], device)).item()
                for start in range(0, len(held), self.batch_size)
            )
        network.train()
        return total / len(held)

    # ---- differential privacy ------------------------------------------------------------------------------
    def _privacy_plan(self, data: torch.Tensor) -> PrivacyPlan:
        n, k = len(data), self.transformer_.rare_["min_patients"]
        adaptations = {
            "unit": "one clipped gradient per patient: the whole history (every visit, code and attribute)",
            "batches": "Poisson samples of patients, their gradients computed in chunks of similar visit counts",
            "shipped values": "codes, categories, numbers' values and bin edges and the longest history come from "
            f"the data, each held by at least {k} patients (rare_values): outside the privacy budget",
        }
        phase = Phase(min(self.batch_size, n), self.epochs * steps_per_epoch(n, self.batch_size))
        return PrivacyPlan({"train": phase}, adaptations)

    def _train_privately(self, data: torch.Tensor, run: TrainingRun, private: PrivateTraining) -> None:
        """DP-SGD with one clipped gradient per patient (models/dp.py: per-record gradients by torch.func); only
        the epsilon spent is logged, as losses on real histories would be released outside the budget."""
        if self.validation_share:
            warnings.warn(
                "a private fit trains on every patient and keeps the last epoch's weights: losses on held-out "
                "patients would be released outside the privacy budget (validation_share is ignored)",
                SynthmedWarning,
                stacklevel=2,
            )
        network: HistoryNetwork = self.networks_["network"].train()
        parts = self.transformer_.split(data.cpu().numpy())
        counts = np.diff(parts.visit_offsets)
        per_epoch, optimizer = steps_per_epoch(len(counts), self.batch_size), self._optimizer(network)

        def chunks(patients: np.ndarray) -> Iterator[tuple[torch.Tensor, ...]]:
            ordered = patients[np.argsort(counts[patients], kind="stable")]  # little padding within a chunk
            for start in range(0, len(ordered), PRIVATE_CHUNK):
                yield self._padded(parts, ordered[start : start + PRIVATE_CHUNK], run.device)

        with private.training_per_record("train", self._likelihood(), optimizer) as training:
            state = {"network": network, "optimizer": training.optimizer}
            for epoch in run.epochs("train", self.epochs, len(counts), state):
                with _seeded_dropout(int(run.rng.integers(2**31)), run.device):
                    for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
                        for group in optimizer.param_groups:
                            group["lr"] = self._rate(step, self.epochs * per_epoch)
                        training.descend(run.rng, 1, chunks)
                run.log(epsilon=private.logged_epsilon)

    def _optimizer(self, network: HistoryNetwork) -> torch.optim.Optimizer:
        return torch.optim.AdamW(network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)

    def _following(self) -> np.ndarray:
        """The first code allowed after each code (local indices): the next one, or with one row per visit the first
        of the next code column (at most one code per column and visit)."""
        tokens = self.transformer_
        if not tokens.vocabulary_:  # END alone is ever drawn; the masked lookups still need an entry
            return np.zeros(1, dtype=np.int64)
        if tokens.one_row_per_visit_:
            return (tokens.code_end_ - tokens.code_start_).astype(np.int64)
        return np.arange(1, len(tokens.vocabulary_) + 1, dtype=np.int64)

    # ---- generation ----------------------------------------------------------------------------------------
    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        forced = self._forced_statics(n, getattr(self, "_requests", {}), run.rng)
        statics, made = [], []
        for start in range(0, n, GENERATION_BATCH):
            batch_statics, batch_made = self._generate_batch(forced[start : start + GENERATION_BATCH], run)
            statics.append(batch_statics.cpu().numpy())
            made += [(patients + start, *visits) for patients, *visits in batch_made]
        return torch.as_tensor(self.transformer_.join(self._parts(n, np.concatenate(statics), made)).astype(np.int64))

    def _forced_statics(
        self, n: int, requests: dict[int, list[tuple[int, float]]], rng: np.random.Generator
    ) -> np.ndarray:
        """(n x static fields): the token each new patient must have, -1 where free; a mix's counts follow its
        shares (largest remainders), in random order."""
        forced = np.full((n, self.transformer_.statics_), -1, dtype=np.int64)
        for field, asked in requests.items():
            counts = largest_remainder(n, [share for _, share in asked])
            forced[:, field] = rng.permutation(np.repeat([token for token, _ in asked], counts))
        return forced

    def _draw_statics(self, network: HistoryNetwork, forced: np.ndarray, run: TrainingRun) -> torch.Tensor:
        """Patients' static attributes from the model, drawn again until each matches its forced tokens."""
        n = len(forced)
        draw = lambda rows: network.statics.sample(network.start.expand(rows, -1), run.noise)  # noqa: E731
        if (forced < 0).all():
            return draw(n)
        statics = torch.empty(n, forced.shape[1], dtype=torch.long, device=run.device)
        patterns, pattern_of = np.unique(forced, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            rows = np.flatnonzero(pattern_of.ravel() == number)
            fixed = np.flatnonzero(pattern >= 0)
            wanted = torch.as_tensor(pattern[fixed], device=run.device)
            found, tried = [], 0
            while sum(len(f) for f in found) < len(rows):
                if tried >= MAX_CONDITION_DRAWS * len(rows):
                    raise ConfigError(
                        "the generator rarely produces patients with these attributes: "
                        f"{sum(len(f) for f in found)} of {tried} draws matched",
                        values=[self.transformer_.static_[j].name for j in fixed],
                        remedy="ask for attributes the training patients hold more often",
                    )
                candidates = draw(CONDITION_BATCH)
                tried += CONDITION_BATCH
                found.append(candidates[(candidates[:, fixed] == wanted).all(1)])
            statics[torch.as_tensor(rows, device=run.device)] = torch.cat(found)[: len(rows)]
        return statics

    def _generate_batch(self, forced: np.ndarray, run: TrainingRun) -> tuple[torch.Tensor, list[GeneratedVisits]]:
        """New histories, one per row of `forced` (see `_forced_statics`): static attributes, then visit after
        visit until each history stops (or reaches the longest training history's visit count). Returns the static
        tokens and, per visit number, the visits made (`GeneratedVisits`, patients numbered from 0)."""
        tokens = self.transformer_
        network: HistoryNetwork = self.networks_["network"]
        device = run.device
        n = len(forced)
        statics = self._draw_statics(network, forced, run)
        sequence = network.summary(statics)[:, None]
        alive = torch.arange(n, device=device)
        keys, key_count = self._code_keys()
        keys = torch.as_tensor(keys, device=device)
        held = torch.zeros(n, 2, key_count, device=device)  # keys of the previous visit, of any earlier one
        made: list[GeneratedVisits] = []
        for visit in range(tokens.max_visits_):
            context = network.visits(sequence[alive])[:, -1]
            if visit > 0:  # every history has a first visit
                count = torch.full((len(alive),), visit, device=device)
                go_on = torch.rand(len(alive), generator=run.noise).to(device) < torch.sigmoid(
                    network.continues(context, count)
                )
                alive, context = alive[go_on], context[go_on]
            if len(alive) == 0:
                break
            drawn = self._sample_codes(network, context, held[alive][:, :, keys], run)
            present = drawn < network.codes.codes  # END pads each visit's codes
            code_visit, flat = torch.nonzero(present)[:, 0], drawn[present]
            now = torch.zeros(len(alive), key_count, device=device)
            now[code_visit, keys[flat]] = 1.0
            held[alive, 0] = now
            held[alive, 1] = torch.maximum(held[alive, 1], now)
            bag = network.code_bag(torch.where(present, drawn, 0) + tokens.code_start_, present)
            fields = network.fields.sample(
                torch.cat([context, network.code_norm(bag)], 1), run.noise, self._gap_rule(visit == 0, device)
            )
            summary = network.summary(fields, bag)
            grown = sequence.new_zeros(n, sequence.shape[1] + 1, sequence.shape[2])
            grown[:, :-1] = sequence
            grown[alive, -1] = summary
            sequence = grown
            visits = (alive, torch.full_like(alive, visit), fields, flat, present.sum(1))
            made.append(tuple(part.cpu().numpy().astype(np.int64) for part in visits))
        return statics, made

    def _gap_rule(self, first: bool, device: torch.device) -> dict[int, torch.Tensor] | None:
        """A first visit has no gap (the gap's missing value), a later one has one: no two visits share a time."""
        gap = self.transformer_.gap_
        if gap is None:
            return None
        widest = self.networks_["network"].fields.padded.shape[1]
        no_gap = torch.arange(widest, device=device) == gap.size - 1
        return {0: no_gap if first else ~no_gap & (torch.arange(widest, device=device) < gap.size)}

    def _parts(self, n: int, statics: np.ndarray, made: list[GeneratedVisits]) -> HistoryParts:
        """Generated visits (made visit number by visit number) -> `HistoryParts`, grouped by patient in order."""
        patients, steps, fields, codes, counts = (np.concatenate(part) for part in zip(*made, strict=True))
        order = np.lexsort((steps, patients))
        first_code = np.cumsum(counts) - counts  # each visit's first code in `codes`, in the order made
        return HistoryParts(
            statics=statics,
            fields=fields[order],
            code_indptr=np.concatenate([[0], np.cumsum(counts[order])]).astype(np.int64),
            code_tokens=codes[concatenated_ranges(first_code[order], counts[order])] + self.transformer_.code_start_,
            visit_offsets=np.concatenate([[0], np.cumsum(np.bincount(patients, minlength=n))]).astype(np.int64),
        )

    def _sample_codes(
        self, network: HistoryNetwork, context: torch.Tensor, seen: torch.Tensor, run: TrainingRun
    ) -> torch.Tensor:
        """Each visit's codes (local indices, increasing), drawn one at a time until END, as a (visits x steps) table
        padded with END; `seen`: what the patient's earlier visits held (see CodeDecoder)."""
        end = network.codes.codes
        following = torch.as_tensor(self._following(), device=context.device)
        visits = len(context)
        previous = torch.full((visits,), end, dtype=torch.long, device=context.device)
        low = torch.zeros(visits, dtype=torch.long, device=context.device)
        done = torch.zeros(visits, dtype=torch.bool, device=context.device)
        drawn, state = [], None
        candidates = torch.arange(end + 1, device=context.device)[None, :]
        for step in range(self.transformer_.max_codes_ + 1):
            logits, state = network.codes.step(state, context, previous, seen)
            allowed = candidates >= low[:, None]
            if step == self.transformer_.max_codes_:
                allowed = candidates == end
            chosen = gumbel_max(logits.masked_fill(~allowed, float("-inf")), run.noise)
            chosen = torch.where(done, end, chosen)
            drawn.append(chosen)
            done = done | (chosen == end)
            if bool(done.all()):
                break
            previous = torch.where(chosen < end, chosen, previous)
            low = torch.where(chosen < end, following[chosen.clamp(max=end - 1)], low)
        return torch.stack(drawn, 1)

    # ---- sampling ------------------------------------------------------------------------------------------
    def sample(  # type: ignore[override]
        self,
        n: int,
        seed: int | None = None,
        *,
        conditions: Mapping[str, Any] | None = None,
        proportions: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> pd.DataFrame:
        """`n` synthetic patients' histories as one long table, in the layout of the training events.

        `conditions` fixes patient attributes ({"gender": "Female"}), `proportions` one patient attribute's mix
        ({"gender": {"Female": 0.5, "Male": 0.5}}); the model's patients are drawn until they match (rejection, so
        the rest of each history follows the model's own distribution given those attributes)."""
        self._check_fitted()
        self._requests = self._static_requests(conditions or {}, proportions or {})
        try:
            return super().sample(n, seed)
        finally:
            del self._requests

    def _static_requests(
        self, conditions: Mapping[str, Any], proportions: Mapping[str, Mapping[Any, float]]
    ) -> dict[int, list[tuple[int, float]]]:
        """Static field -> the tokens asked for and their shares."""
        tokens = self.transformer_
        statics = {a.name: j for j, a in enumerate(tokens.static_) if a.name != FIRST_TIME}
        requests: dict[int, list[tuple[int, float]]] = {}
        asked = [(column, {value: 1.0}) for column, value in conditions.items()] + list(proportions.items())
        for column, mix in asked:
            if column not in statics:
                raise ConfigError(
                    "conditions and proportions apply to patient attributes (constant within each patient)",
                    column=str(column),
                    remedy=f"choose among: {', '.join(statics) or 'none (this model has no patient attributes)'}",
                )
            if not isinstance(mix, Mapping) or not mix:
                raise ConfigError("proportions map values to shares", column=str(column), remedy='e.g. {"F": 0.5}')
            shares = np.array([float(share) for share in mix.values()])
            if (shares < 0).any() or shares.sum() <= 0 or not np.isfinite(shares).all():
                raise ConfigError("shares must be non-negative with a positive sum", column=str(column), values=shares)
            j = statics[column]
            attribute = tokens.static_[j]
            requests[j] = [
                (tokens.attribute_starts_[j] + _local_token(attribute, value), share / shares.sum())
                for value, share in zip(mix, shares, strict=True)
            ]
        return requests

    def sample_blocks(self, n: int, seed: int | None = None, **options: Any) -> Iterator[pd.DataFrame]:
        """As the base class's blocks, with patient (and visit) numbers running on across blocks."""
        if self.transformer_.records_ is not None:
            yield from super().sample_blocks(n, seed, **options)
            return
        roles = self.transformer_.roles_
        patients = visits = 0
        for block in super().sample_blocks(n, seed, **options):
            block[roles.patient] += patients
            patients = max(patients, int(block[roles.patient].max())) if len(block) else patients
            if roles.visit is not None:
                block[roles.visit] += visits
                visits = max(visits, int(block[roles.visit].max())) if len(block) else visits
            yield block
