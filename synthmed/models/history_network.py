"""The network of the history model: a small causal transformer over a patient's tokens (data/history_tokens.py).

Each position's input is its token's embedding plus two structural embeddings: the slot it fills and the slot that
comes next (the grammar fixes both, so the network always knows which field it is writing), and the number of
visits so far. No absolute position is embedded: a history's structure is in its slots and visits, and a code run's
order in its codes. Output logits reuse the token embeddings (tied weights) and are computed only for the tokens a
slot allows. Generation keeps each layer's keys and values (`Cache`), so each new token costs one position's pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# visits beyond this share the last visit-count embedding
MAX_VISIT_EMBEDDINGS = 128


@dataclass
class Cache:
    """Keys and values of every layer for the positions generated so far (batch x heads x positions x dim)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int = 0

    @classmethod
    def empty(cls, layers: int, batch: int, heads: int, capacity: int, head_dim: int, device: torch.device) -> Cache:
        shape = (batch, heads, capacity, head_dim)
        return cls(
            [torch.zeros(shape, device=device) for _ in range(layers)],
            [torch.zeros(shape, device=device) for _ in range(layers)],
        )

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these batch rows (sequences still being generated)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a GELU MLP four times as wide."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.project = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )
        self.dropout = dropout

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(width, dim=2)
        return tuple(t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(x)
        dropout = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        x = x + F.dropout(self.project(attended.transpose(1, 2).reshape(x.shape)), dropout, self.training)
        return x + self.mlp(self.mlp_norm(x))

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: int) -> torch.Tensor:
        """One new position (batch x 1 x width), attending to the cached ones and itself."""
        q, k, v = self._heads(x)
        keys[:, :, position : position + 1] = k
        values[:, :, position : position + 1] = v
        attended = F.scaled_dot_product_attention(q, keys[:, :, : position + 1], values[:, :, : position + 1])
        x = x + self.project(attended.transpose(1, 2).reshape(x.shape))
        return x + self.mlp(self.mlp_norm(x))


class HistoryNetwork(nn.Module):
    """Token, slot, next-slot and visit-count embeddings -> causal transformer -> tied output logits."""

    def __init__(self, vocabulary: int, slots: int, width: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, width)
        self.slots = nn.Embedding(slots + 1, width)  # the last one stands for "no slot" (BOS, padding)
        self.next_slots = nn.Embedding(slots + 1, width)
        self.visits = nn.Embedding(MAX_VISIT_EMBEDDINGS, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.bias = nn.Parameter(torch.zeros(vocabulary))
        self.dropout = nn.Dropout(dropout)
        self.heads, self.width = heads, width
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
        for block in self.blocks:  # GPT-2: residual projections scaled down with depth
            nn.init.normal_(block.project.weight, 0.0, 0.02 / math.sqrt(2 * layers))

    def embed(
        self, tokens: torch.Tensor, slot: torch.Tensor, next_slot: torch.Tensor, visit: torch.Tensor
    ) -> torch.Tensor:
        none = self.slots.num_embeddings - 1
        slot = torch.where(slot < 0, none, slot)
        next_slot = torch.where(next_slot < 0, none, next_slot)
        visit = visit.clamp(max=MAX_VISIT_EMBEDDINGS - 1)
        return self.dropout(self.tokens(tokens) + self.slots(slot) + self.next_slots(next_slot) + self.visits(visit))

    def forward(
        self, tokens: torch.Tensor, slot: torch.Tensor, next_slot: torch.Tensor, visit: torch.Tensor
    ) -> torch.Tensor:
        """Hidden states (batch x positions x width) for whole sequences."""
        x = self.embed(tokens, slot, next_slot, visit)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def step(
        self, tokens: torch.Tensor, slot: torch.Tensor, next_slot: torch.Tensor, visit: torch.Tensor, cache: Cache
    ) -> torch.Tensor:
        """Hidden state (batch x width) of one new position per sequence, using and filling `cache`."""
        x = self.embed(tokens[:, None], slot[:, None], next_slot[:, None], visit[:, None])
        for block, keys, values in zip(self.blocks, cache.keys, cache.values, strict=True):
            x = block.step(x, keys, values, cache.length)
        cache.length += 1
        return self.norm(x)[:, 0]

    def logits(self, hidden: torch.Tensor, low: int, high: int) -> torch.Tensor:
        """Scores of tokens low..high-1 for each hidden state."""
        return hidden @ self.tokens.weight[low:high].t() + self.bias[low:high]
