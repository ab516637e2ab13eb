"""visitgpt: whole patient histories (static attributes, then visits with their attributes, gap and codes) generated
token by token by a small causal transformer.

HALO (Theodorou et al., Nature Communications 2023) is the reference: a transformer over visits whose output feeds an
autoregressive head over the whole code vocabulary inside each visit, so every visit costs a pass over thousands of
codes whatever it holds. visitgpt writes a history as one token sequence instead (data/history_tokens.py): attribute
values, then the visit's codes in vocabulary order, so a visit costs as many positions as it has fields and codes
(a Diabetes 130-US encounter: 40 attributes and 3 diagnoses; a MIMIC admission: about 14 codes). Within-visit
co-occurrence and what follows what across visits are both plain next-token prediction, attributes and codes depend on
each other in both directions of time, and a grammar (which tokens each position allows) makes every generated
history well formed. A width of 128 with 3 layers trains on 2 CPU cores in minutes on the shared histories; HALO's
12 layers of 768 need a GPU.

Training minimises next-token cross-entropy over the allowed tokens with AdamW, a linear warm-up and a cosine decay;
batches are patients of similar length up to a token budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from synthmed.data.histories import HistoryRoles, read_histories, to_long
from synthmed.data.history_tokens import BOS, PAD, HistoryTokenizer
from synthmed.data.io import ReadOptions, is_table_source, read_table
from synthmed.data.layout import ColumnLayout
from synthmed.data.schema import Schema
from synthmed.errors import ConfigError
from synthmed.models.base import Synthesizer
from synthmed.models.history_network import Cache, HistoryNetwork
from synthmed.models.training import TrainingRun, descend

TableLike = pd.DataFrame | str | Path
# patients generated together; the key/value cache grows with the longest history still being written
GENERATION_BATCH = 512
INITIAL_CACHE = 256


@dataclass(frozen=True)
class _HistoryInput:
    """What `fit` received, carried through the base class's `fit` to `_prepare`."""

    events: TableLike
    roles: HistoryRoles
    visits: TableLike | None
    patients: TableLike | None


def _read(source: TableLike, reading: ReadOptions, codes: Sequence[str] = ()) -> pd.DataFrame:
    """A table; code columns of a CSV file are read as text, so '0389' keeps its zero."""
    if not is_table_source(source):
        return source
    table = reading.read(source)
    numeric = [c for c in codes if c in table.columns and pd.api.types.is_numeric_dtype(table[c])]
    if numeric and str(source).lower().split(".")[-1] not in ("parquet", "pq"):
        text = read_table(source, na_values=reading.na_values, encoding=reading.encoding, as_text=True)
        table[numeric] = text[numeric]
    return table


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
        epochs: int = 30,
        batch_tokens: int = 16_384,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        seed: int | None = None,
        device: str = "auto",
    ) -> None:
        """Hyperparameters (synthmed's choices; HALO's own are 12 layers of width 768 on a GPU):

        width, layers, heads: the transformer's size; dropout on embeddings, attention and MLP outputs.
        epochs: passes over the patients; batch_tokens: tokens (patients x longest history) per step.
        learning_rate, weight_decay: AdamW's; the rate warms up linearly over `warmup_steps` steps, then decays
        along a cosine to a tenth of itself by the last step.
        """
        self.width, self.layers, self.heads, self.dropout = width, layers, heads, dropout
        self.epochs, self.batch_tokens = epochs, batch_tokens
        self.learning_rate, self.weight_decay, self.warmup_steps = learning_rate, weight_decay, warmup_steps
        self.seed, self.device = seed, device

    positive = frozenset({"width", "layers", "heads", "epochs", "batch_tokens", "learning_rate"})

    def _check_params(self) -> None:
        super()._check_params()
        if self.width % self.heads:
            raise ConfigError(
                "width must be a multiple of heads", values=[self.width, self.heads], remedy="e.g. 128, 4"
            )
        if self.dropout >= 1:
            raise ConfigError("dropout must be below 1", values=[self.dropout], remedy="e.g. 0.1")

    # ---- data ------------------------------------------------------------------------------------------
    def fit(  # type: ignore[override]
        self,
        events: TableLike,
        *,
        patient_column: str,
        codes: Sequence[str],
        visit_column: str | None = None,
        time: str | None = None,
        visits: TableLike | None = None,
        patients: TableLike | None = None,
        exclude: Sequence[str] = (),
        **options: Any,
    ) -> Self:
        """Learn histories from long-form `events` (one row per visit, or per code): `patient_column`, the visit
        id (`visit_column`) and/or `time`, and the `codes` columns; every other column is a patient attribute when
        constant within each patient, else a visit attribute. `visits` and `patients` are optional tables joined
        by the visit id and the patient id. `options` are the base `fit`'s (progress, checkpoint, ...)."""
        roles = HistoryRoles(patient_column, tuple(codes), visit_column, time, tuple(exclude))
        return super().fit(_HistoryInput(events, roles, visits, patients), **options)

    def _prepare(self, data: Any, schema: Schema | str | Path | None, reading: ReadOptions) -> np.ndarray:
        if not isinstance(data, _HistoryInput):
            raise ConfigError(
                "visitgpt learns patient histories",
                remedy="call fit(events, patient_column=..., codes=[...], visit_column=... or time=...)",
            )
        if schema is not None:
            raise ConfigError(
                "visitgpt infers each attribute's kind; it takes no schema yet", remedy="leave out schema"
            )
        roles = data.roles
        histories = read_histories(
            _read(data.events, reading, roles.codes),
            roles,
            visits=None if data.visits is None else _read(data.visits, reading),
            patients=None if data.patients is None else _read(data.patients, reading),
        )
        self.input_format_ = "histories"
        tokenizer, static, visits = HistoryTokenizer().fit(histories)
        self.transformer_, self.schema_ = tokenizer, tokenizer.schema_
        return tokenizer.encode(histories, static, visits)

    def _load_transform(self, meta: dict[str, Any]) -> None:
        self.schema_ = Schema.from_dict(meta["schema"], declared=False)
        self.transformer_ = HistoryTokenizer.from_dict(meta["transformer"], self.schema_)

    def _to_output(self, matrix: np.ndarray, run: TrainingRun) -> pd.DataFrame:
        return to_long(self.transformer_.decode(matrix.astype(np.int64), run.rng))

    # ---- network and training ----------------------------------------------------------------------------
    def _build(self, layout: ColumnLayout) -> dict[str, nn.Module]:
        tokens = self.transformer_
        return {
            "network": HistoryNetwork(tokens.size_, tokens.slots, self.width, self.layers, self.heads, self.dropout)
        }

    def _structure(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Per position: slot, next slot, visits so far, and the allowed range of the token there."""
        grammar = self.transformer_.grammar(rows)
        next_slot = np.concatenate([grammar.slot[:, 1:], np.full((len(rows), 1), -1)], 1)
        visits = np.cumsum(rows == self.transformer_.visit_token_, axis=1)
        arrays = {"slot": grammar.slot, "next_slot": next_slot, "visit": visits, "low": grammar.low}
        return {name: torch.as_tensor(array.astype(np.int64)) for name, array in arrays.items()}

    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Patients sorted by length, cut into batches of at most `batch_tokens` padded tokens."""
        order = np.argsort(lengths, kind="stable")
        batches, start = [], 0
        while start < len(order):
            longest = lengths[order[start]]
            stop = start + 1
            while stop < len(order) and (stop - start + 1) * max(longest, lengths[order[stop]]) <= self.batch_tokens:
                longest = max(longest, lengths[order[stop]])
                stop += 1
            batches.append(order[start:stop])
            start = stop
        return batches

    def _schedule(self, optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        warmup = max(1, min(self.warmup_steps, steps // 2))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, steps - warmup))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def _train(self, data: torch.Tensor, run: TrainingRun) -> None:
        network = self.networks_["network"].train()
        rows = data.cpu().numpy()
        lengths = (rows != PAD).sum(1)
        structure = {k: v.to(run.device) for k, v in self._structure(rows).items()}
        batches = self._batches(lengths)
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        scheduler = self._schedule(optimizer, self.epochs * len(batches))
        state = {"network": network, "optimizer": optimizer, "scheduler": scheduler}
        ranges = self.transformer_.slot_ranges()
        for _ in run.epochs("train", self.epochs, len(rows), state):
            total, count = 0.0, 0
            for index in run.rng.permutation(len(batches)):
                patients = torch.as_tensor(batches[index], device=run.device)
                length = int(lengths[batches[index]].max())
                tokens = data[patients, :length].long()
                parts = {k: v[patients, :length] for k, v in structure.items()}
                hidden = network(tokens, parts["slot"], parts["next_slot"], parts["visit"])
                loss, targets = self._loss(network, hidden[:, :-1], tokens[:, 1:], parts, ranges)
                optimizer.zero_grad(set_to_none=True)
                descend(loss / targets, optimizer)
                scheduler.step()
                total, count = total + loss.item(), count + targets
            run.log(nll=total / count)

    def _loss(
        self,
        network: HistoryNetwork,
        hidden: torch.Tensor,
        targets: torch.Tensor,
        parts: Mapping[str, torch.Tensor],
        ranges: np.ndarray,
    ) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy of each target over the tokens its slot allows, and the number of targets."""
        slot = parts["slot"][:, 1:]
        valid = slot >= 0
        slot, hidden, targets, low = slot[valid], hidden[valid], targets[valid], parts["low"][:, 1:][valid]
        order = torch.argsort(slot, stable=True)
        counts = torch.bincount(slot, minlength=len(ranges)).tolist()
        total = hidden.new_zeros(())
        start = 0
        code_slot = self.transformer_.code_slot_
        for number, count in enumerate(counts):
            pick = order[start : start + count]
            start += count
            first, stop = (int(v) for v in ranges[number])
            if count == 0 or stop - first == 1:
                continue  # a forced token costs nothing
            logits = network.logits(hidden[pick], first, stop)
            if number == code_slot:
                allowed = torch.arange(first, stop, device=logits.device)[None, :] >= low[pick][:, None]
                logits = logits.masked_fill(~allowed, float("-inf"))
            total = total + F.cross_entropy(logits, targets[pick] - first, reduction="sum")
        return total, int(valid.sum())

    # ---- generation ----------------------------------------------------------------------------------------
    def _generate(self, n: int, run: TrainingRun) -> torch.Tensor:
        capacity = int(self.transformer_.max_length_)
        rows = torch.full((n, capacity), PAD, dtype=torch.long)
        for start in range(0, n, GENERATION_BATCH):
            stop = min(n, start + GENERATION_BATCH)
            rows[start:stop] = self._generate_batch(stop - start, capacity, run)
        return rows

    def _generate_batch(self, n: int, capacity: int, run: TrainingRun) -> torch.Tensor:
        """Token rows of `n` new histories, written in lockstep; finished ones leave the batch."""
        tokens = self.transformer_
        network: HistoryNetwork = self.networks_["network"]
        device = run.device
        ranges = torch.as_tensor(tokens.slot_ranges())
        out = torch.full((n, capacity), PAD, dtype=torch.long)
        out[:, 0] = BOS
        alive = torch.arange(n)
        current = torch.full((n,), BOS, dtype=torch.long, device=device)
        slot = torch.full((n,), -1, dtype=torch.long, device=device)
        visits = torch.zeros(n, dtype=torch.long, device=device)
        since_visit = torch.zeros(n, dtype=torch.long, device=device)
        low = torch.full((n,), tokens.code_start_, dtype=torch.long, device=device)
        column_end = torch.as_tensor(tokens.code_end_, device=device)
        head_dim = self.width // self.heads
        cache = Cache.empty(self.layers, n, self.heads, min(INITIAL_CACHE, capacity), head_dim, device)
        statics, fields, code_slot = tokens.statics_, tokens.visit_fields_, tokens.code_slot_
        for position in range(capacity - 1):
            if position < statics + 1:
                next_slot = torch.full_like(slot, position)
            else:
                next_slot = torch.where(since_visit < fields, statics + 1 + since_visit, code_slot)
            self._grow(cache, capacity)
            hidden = network.step(current, slot, next_slot, visits, cache)
            chosen = self._choose(network, hidden, next_slot, low, ranges, capacity - position - 2, run)
            out[alive, position + 1] = chosen.cpu()
            is_code = (chosen >= tokens.code_start_) & (chosen < tokens.visit_token_)
            following = (
                column_end[(chosen - tokens.code_start_).clamp(0, max(len(column_end) - 1, 0))]
                if tokens.one_row_per_visit_ and len(column_end)
                else chosen + 1
            )
            low = torch.where(is_code, following, tokens.code_start_)
            is_visit = chosen == tokens.visit_token_
            visits = visits + is_visit.long()
            since_visit = torch.where(is_visit, 0, since_visit + 1)
            current, slot = chosen, next_slot
            going = chosen != tokens.eos_
            if not bool(going.all()):
                keep = torch.nonzero(going).squeeze(1)
                if len(keep) == 0:
                    break
                alive = alive[keep.cpu()]
                current, slot, visits, since_visit, low = (t[keep] for t in (current, slot, visits, since_visit, low))
                cache.keep(keep)
        return out

    @staticmethod
    def _grow(cache: Cache, capacity: int) -> None:
        """Double the cache's room when it is full (never beyond the longest history)."""
        room = cache.keys[0].shape[2]
        if cache.length < room:
            return
        extra = min(room, capacity - room)
        pad = lambda t: torch.cat([t, t.new_zeros(*t.shape[:2], extra, t.shape[3])], 2)  # noqa: E731
        cache.keys, cache.values = [pad(k) for k in cache.keys], [pad(v) for v in cache.values]

    def _choose(
        self,
        network: HistoryNetwork,
        hidden: torch.Tensor,
        next_slot: torch.Tensor,
        low: torch.Tensor,
        ranges: torch.Tensor,
        remaining: int,
        run: TrainingRun,
    ) -> torch.Tensor:
        """Draw each sequence's next token among those its slot allows (Gumbel-max, noise from the run's stream).
        Near the capacity a new visit is barred and at the end only EOS is left, so every history closes."""
        tokens = self.transformer_
        chosen = torch.empty(len(hidden), dtype=torch.long, device=hidden.device)
        for number in torch.unique(next_slot).tolist():
            pick = torch.nonzero(next_slot == number).squeeze(1)
            first, stop = (int(v) for v in ranges[number])
            logits = network.logits(hidden[pick], first, stop)
            if number == tokens.code_slot_:
                candidates = torch.arange(first, stop, device=logits.device)[None, :]
                allowed = (candidates >= low[pick][:, None]) | (candidates >= tokens.visit_token_)
                if remaining < tokens.visit_fields_ + 1:
                    allowed &= candidates != tokens.visit_token_
                if remaining < 1:
                    allowed = candidates == tokens.eos_
                logits = logits.masked_fill(~allowed, float("-inf"))
            uniform = torch.rand(logits.shape, generator=run.noise).clamp_min(1e-12).to(logits.device)
            chosen[pick] = first + (logits - torch.log(-torch.log(uniform))).argmax(1)
        return chosen

    # ---- sampling ------------------------------------------------------------------------------------------
    def sample(  # type: ignore[override]
        self,
        n: int,
        seed: int | None = None,
        *,
        conditions: Mapping[str, Any] | None = None,
        proportions: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> pd.DataFrame:
        """`n` synthetic patients' histories as one long table, in the layout of the training events."""
        if conditions or proportions:
            raise ConfigError(
                "visitgpt samples without conditions or proportions yet", remedy="leave out --condition/--proportions"
            )
        return super().sample(n, seed)

    def sample_blocks(self, n: int, seed: int | None = None, **options: Any) -> Iterator[pd.DataFrame]:
        """As the base class's blocks, with patient (and visit) numbers running on across blocks."""
        roles = self.transformer_.roles_
        patients = visits = 0
        for block in super().sample_blocks(n, seed, **options):
            block[roles.patient] += patients
            patients = int(block[roles.patient].max(initial=patients))
            if roles.visit is not None:
                block[roles.visit] += visits
                visits = int(block[roles.visit].max(initial=visits))
            yield block
