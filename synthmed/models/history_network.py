"""The networks of the history model (models/visitgpt.py), built on the token vocabulary of data/history_tokens.py.

- `VisitTransformer`: a causal transformer over a patient's visits. Position 0 summarises the static attributes,
  position t the t-th visit (its field embeddings and its code embeddings, each summed and normalised, plus a
  visit-count embedding).
  Its output at position t is the context from which visit t+1 is generated.
- `CodeDecoder`: a GRU that writes a visit's codes one at a time in vocabulary order, from the context; each step
  scores only the codes after the previous one (and END), so a visit's codes are a set, and adds to a code's score
  what the patient's previous and earlier visits held of it (a copy mechanism: diagnoses recur).
- `FieldChain`: a masked autoencoder for distribution estimation (MADE; Germain et al. 2015) over a record's fields
  (the static attributes; a visit's gap and attributes), conditioned on the context and, for a visit, its codes:
  one pass scores every field given the fields before it, and sampling takes one pass per field.

Each visit's factorisation: whether it happens at all (`continues`, from the context and the visit count), its
codes, then its fields.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# visits beyond this share the last visit-count embedding
MAX_VISIT_EMBEDDINGS = 128


def _init(module: nn.Module) -> None:
    for sub in module.modules():
        if isinstance(sub, nn.Linear | nn.Embedding):
            nn.init.normal_(sub.weight, 0.0, 0.02)
            if isinstance(sub, nn.Linear) and sub.bias is not None:
                nn.init.zeros_(sub.bias)


class VisitTransformer(nn.Module):
    """Pre-norm causal transformer over visit summaries (batch x positions x width)."""

    def __init__(self, width: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.visits = nn.Embedding(MAX_VISIT_EMBEDDINGS, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, summaries: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(summaries.shape[1], device=summaries.device).clamp(max=MAX_VISIT_EMBEDDINGS - 1)
        mask = nn.Transformer.generate_square_subsequent_mask(summaries.shape[1], device=summaries.device)
        return self.norm(self.body(summaries + self.visits(positions), mask=mask, is_causal=True))


class CodeDecoder(nn.Module):
    """Context -> a visit's codes in increasing order, then END (the last of `codes + 1` outputs).

    Diagnoses recur from visit to visit, so each step also scores a code by whether the patient's previous visit
    held it, or any earlier visit did, in any code column (a copy mechanism: two gains the step's state sets, times
    0/1 indicators over the vocabulary); `seen` carries those indicators, (visits x 2 x codes), or None.
    """

    def __init__(self, width: int, codes: int) -> None:
        super().__init__()
        self.start = nn.Linear(width, width)
        self.embed = nn.Embedding(codes + 1, width)  # the last one is "no code yet"
        self.cell = nn.GRU(width, width, batch_first=True)
        self.out = nn.Linear(width, codes + 1)
        self.copy = nn.Linear(width, 2)
        self.codes = codes

    def _scores(self, hidden: torch.Tensor, seen: torch.Tensor | None) -> torch.Tensor:
        logits = self.out(hidden)
        if seen is None:
            return logits
        gains = self.copy(hidden)  # (visits [x steps] x 2): previous visit, any earlier visit
        copied = torch.bmm(gains if gains.dim() == 3 else gains[:, None], seen).reshape(logits[..., :-1].shape)
        return torch.cat([logits[..., :-1] + copied, logits[..., -1:]], -1)

    def forward(self, context: torch.Tensor, previous: torch.Tensor, seen: torch.Tensor | None) -> torch.Tensor:
        """Logits (visits x steps x codes + 1) given each step's previous code (`codes` at the first step)."""
        hidden, _ = self.cell(self.embed(previous), torch.tanh(self.start(context))[None])
        return self._scores(hidden, seen)

    def step(
        self, state: torch.Tensor | None, context: torch.Tensor, previous: torch.Tensor, seen: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for each visit: (logits, new state)."""
        initial = torch.tanh(self.start(context))[None] if state is None else state
        hidden, state = self.cell(self.embed(previous)[:, None], initial)
        return self._scores(hidden[:, 0], seen), state


def _made_degrees(sizes: list[int], hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Input/output degree of every field token (field k has degree k + 1) and hidden degrees 0..fields-1."""
    fields = len(sizes)
    token_degrees = np.repeat(np.arange(1, fields + 1), sizes)
    hidden_degrees = np.arange(hidden) % max(fields, 1)
    return token_degrees, hidden_degrees


class FieldChain(nn.Module):
    """MADE over fields with token ranges `ranges` (contiguous, in order), conditioned on a context vector."""

    def __init__(self, ranges: list[tuple[int, int]], context: int, hidden: int) -> None:
        super().__init__()
        self.first = ranges[0][0] if ranges else 0
        sizes = [stop - start for start, stop in ranges]
        self.sizes, self.total = sizes, int(sum(sizes))
        token, unit = _made_degrees(sizes, hidden)
        self.register_buffer("in_mask", torch.as_tensor(token[None, :] <= unit[:, None], dtype=torch.float32))
        self.register_buffer("mid_mask", torch.as_tensor(unit[None, :] <= unit[:, None], dtype=torch.float32))
        self.register_buffer("out_mask", torch.as_tensor(unit[None, :] < token[:, None], dtype=torch.float32))
        with warnings.catch_warnings():  # a record without fields has zero-width layers, which nothing calls
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self.inputs = nn.Linear(self.total, hidden)
            self.outputs = nn.Linear(hidden, self.total)
        self.context = nn.Linear(context, hidden)
        self.middle = nn.Linear(hidden, hidden)
        starts = np.cumsum([0, *sizes])[:-1].astype(np.int64)
        widest = max(sizes, default=1)
        padded = np.full((len(sizes), widest), self.total, dtype=np.int64)  # padding reads a -inf column
        for k, (start, size) in enumerate(zip(starts, sizes, strict=True)):
            padded[k, :size] = start + np.arange(size)
        self.register_buffer("padded", torch.as_tensor(padded))
        self.register_buffer("starts", torch.as_tensor(starts))

    def logits(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(rows x fields x widest) logits of each field given the fields before it; padding is -inf."""
        empty = torch.zeros(len(tokens), self.total + 1, device=context.device)
        one_hot = empty.scatter(1, tokens - self.first, 1.0)  # out of place: per-patient gradients map over it
        hidden = F.relu(
            F.linear(one_hot[:, : self.total], self.inputs.weight * self.in_mask, self.inputs.bias)
            + self.context(context)
        )
        hidden = F.relu(F.linear(hidden, self.middle.weight * self.mid_mask, self.middle.bias))
        flat = F.linear(hidden, self.outputs.weight * self.out_mask, self.outputs.bias)
        flat = torch.cat([flat, flat.new_full((len(flat), 1), float("-inf"))], 1)
        return flat[:, self.padded]

    def row_losses(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Each row's cross-entropy summed over its fields (rows,)."""
        if not self.sizes:
            return context.new_zeros(len(context))
        logits = self.logits(tokens, context)
        local = tokens - self.first - self.starts
        return F.cross_entropy(logits.flatten(0, 1), local.flatten(), reduction="none").view(len(tokens), -1).sum(1)

    def loss(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of every field of every row."""
        return self.row_losses(tokens, context).sum()

    def sample(
        self, context: torch.Tensor, noise: torch.Generator, allowed: dict[int, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Draw every field in order, one pass per field (rows x fields token ids); `allowed` restricts field k to
        the values marked True in its (widest,) mask."""
        tokens = (self.first + self.starts).expand(len(context), -1).clone()
        for k in range(len(self.sizes)):
            logits = self.logits(tokens, context)[:, k]
            if allowed is not None and k in allowed:
                logits = logits.masked_fill(~allowed[k], float("-inf"))
            tokens[:, k] = self.first + self.starts[k] + gumbel_max(logits, noise)
        return tokens


def gumbel_max(logits: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
    """A draw from softmax(logits) per row, with uniforms from a CPU generator (the same on any device)."""
    uniform = torch.rand(logits.shape, generator=noise).clamp_min(1e-12).to(logits.device)
    return (logits - torch.log(-torch.log(uniform))).argmax(-1)


class HistoryNetwork(nn.Module):
    """Everything visitgpt learns: token embeddings, the visit transformer, the code decoder and the two chains."""

    def __init__(
        self,
        vocabulary: int,
        codes: int,
        static_ranges: list[tuple[int, int]],
        field_ranges: list[tuple[int, int]],
        width: int,
        layers: int,
        heads: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, width)
        self.start = nn.Parameter(torch.zeros(width))  # the context of the static attributes
        self.summary_norm = nn.LayerNorm(width)
        self.code_norm = nn.LayerNorm(width)
        self.visits = VisitTransformer(width, layers, heads, dropout)
        # whether another visit follows: from the context and the number of visits so far
        self.visit_count = nn.Embedding(MAX_VISIT_EMBEDDINGS, width)
        self.stop_head = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, 1))
        self.codes = CodeDecoder(width, codes)
        self.statics = FieldChain(static_ranges, width, 2 * width)
        self.fields = FieldChain(field_ranges, 2 * width, 2 * width)
        _init(self)
        for layer in self.visits.body.layers:  # GPT-2: residual projections scaled down with depth
            nn.init.normal_(layer.linear2.weight, 0.0, 0.02 / math.sqrt(2 * layers))

    def summary(self, tokens: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """A record's summary: its field tokens' embeddings summed, plus its code set's, each normalised on its own
        so that three diagnoses weigh as much as forty attributes."""
        total = self.summary_norm(self.tokens(tokens).sum(-2))
        return total if codes is None else total + self.code_norm(codes)

    def continues(self, context: torch.Tensor, visits: torch.Tensor) -> torch.Tensor:
        """Logit that another visit follows, given the context after `visits` visits."""
        count = self.visit_count(visits.clamp(max=MAX_VISIT_EMBEDDINGS - 1))
        return self.stop_head(torch.cat([context, count], -1)).squeeze(-1)

    def code_bag(self, code_tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Each visit's code embeddings summed (... x width), from its code tokens padded along the last dimension
        (`present` marks the codes; padding must still be valid tokens)."""
        return (self.tokens(code_tokens) * present[..., None]).sum(-2)


class HistoryLikelihood(nn.Module):
    """The negative log-likelihood of whole histories under a `HistoryNetwork`, summed over the patients given.

    Patients come padded to a common shape (`forward`), so that the same computation serves a batch of patients of
    similar visit counts and, mapped over patients one at a time (torch.func.vmap, models/dp.py), each patient's own
    gradient for DP-SGD. Nothing in it depends on the values of the data for its shapes, and nothing is in place.
    """

    def __init__(self, network: HistoryNetwork, code_start: int, after: np.ndarray, keys: np.ndarray) -> None:
        """`after[c]`: the first code allowed after code c (local indices); `keys[c]`: c's key, shared by the same
        code text in any code column (the copy mechanism's unit)."""
        super().__init__()
        self.network = network
        self.code_start = code_start
        self.key_count = int(keys.max(initial=-1)) + 1
        self.register_buffer("after", torch.as_tensor(after, dtype=torch.long))
        self.register_buffer("keys", torch.as_tensor(keys, dtype=torch.long))

    def forward(
        self,
        statics: torch.Tensor,
        fields: torch.Tensor,
        visits: torch.Tensor,
        codes: torch.Tensor,
        code_counts: torch.Tensor,
    ) -> torch.Tensor:
        """Summed NLL of patients given as statics (P x S) tokens, fields (P x V x F) tokens, visit counts (P,), codes
        (P x V x C) local indices and code counts (P x V); positions past a count are padding of any valid value."""
        net = self.network
        patients, most, width = fields.shape[0], fields.shape[1], net.tokens.embedding_dim
        device = fields.device
        visit_mask = torch.arange(most, device=device)[None, :] < visits[:, None]
        code_mask = torch.arange(codes.shape[2], device=device)[None, None, :] < code_counts[..., None]
        safe = torch.where(code_mask, codes, 0)
        bag = net.code_bag(safe + self.code_start, code_mask)
        sequence = torch.cat([net.summary(statics)[:, None], net.summary(fields, bag)], 1)
        hidden = net.visits(sequence)
        # does another visit follow? yes before each visit, no after the last, nothing asked past it
        positions = torch.arange(most + 1, device=device)[None, :]
        asked, go_on = (positions <= visits[:, None]).float(), (positions < visits[:, None]).float()
        continues = net.continues(hidden, positions.expand(patients, -1))
        loss = (F.binary_cross_entropy_with_logits(continues, go_on, reduction="none") * asked).sum()
        context = hidden[:, :most]
        flat = patients * most
        seen = self._seen(safe, code_mask).reshape(flat, 2, -1)
        loss = loss + self._code_loss(context.reshape(flat, width), codes, code_counts, visit_mask, seen)
        conditioned = torch.cat([context, net.code_norm(bag)], -1).reshape(flat, 2 * width)
        fields_loss = net.fields.row_losses(fields.reshape(flat, -1), conditioned) * visit_mask.reshape(flat)
        return loss + fields_loss.sum() + net.statics.loss(statics, net.start.expand(patients, -1))

    def _seen(self, codes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Per visit, which codes the patient's previous visit held and which any earlier one did (P x V x 2 x codes),
        by key."""
        keys = torch.where(present, self.keys[codes], self.key_count)  # absent codes go to a spare column
        empty = torch.zeros(*codes.shape[:2], self.key_count + 1, device=codes.device)
        held = empty.scatter(2, keys, 1.0)[..., : self.key_count]
        previous = torch.cat([torch.zeros_like(held[:, :1]), held[:, :-1]], 1)
        earlier = ((held.cumsum(1) - held) > 0).float()
        return torch.stack([previous, earlier], 2)[..., self.keys]

    def _code_loss(
        self,
        context: torch.Tensor,
        codes: torch.Tensor,
        code_counts: torch.Tensor,
        visit_mask: torch.Tensor,
        seen: torch.Tensor,
    ) -> torch.Tensor:
        """Each visit's codes in order, then END, each scored among the codes after the previous one."""
        end = self.network.codes.codes
        flat, device = len(context), context.device
        counts = code_counts.reshape(flat, 1)
        rank = torch.arange(codes.shape[2] + 1, device=device)[None, :]
        written = torch.cat([codes.reshape(flat, -1), torch.full((flat, 1), end, device=device)], 1)
        targets = torch.where(rank < counts, written, torch.where(rank == counts, end, -100))
        targets = torch.where(visit_mask.reshape(flat, 1), targets, -100)
        previous = torch.cat(
            [torch.full((flat, 1), end, device=device), torch.where(targets[:, :-1] >= 0, targets[:, :-1], end)], 1
        )
        logits = self.network.codes(context, previous, seen)
        low = torch.where(previous == end, 0, self.after[previous.clamp(max=end - 1)])
        allowed = torch.arange(end + 1, device=device)[None, None, :] >= low[..., None]
        logits = logits.masked_fill(~allowed, float("-inf"))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
