"""The matrix as models see it: typed spans that say how each column is encoded, activated and scored."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from synthmed.data.schema import ColumnKind

Activation = Literal["sigmoid", "softmax", "relu", "tanh"]
Loss = Literal["bce", "cross_entropy", "mse"]


@dataclass(frozen=True)
class Span:
    """A contiguous block of matrix dimensions that encodes one aspect of one column."""

    column: str
    role: Literal["value", "mode", "missing"]
    kind: ColumnKind
    start: int
    width: int
    activation: Activation
    loss: Loss

    @property
    def stop(self) -> int:
        return self.start + self.width


@dataclass(frozen=True)
class ColumnLayout:
    """The matrix as models see it: one typed span per column aspect, in order."""

    spans: tuple[Span, ...]

    @property
    def width(self) -> int:
        return self.spans[-1].stop if self.spans else 0

    def all_spans(self, kind: ColumnKind) -> bool:
        """True when every dimension is a complete-data value span of this kind."""
        return bool(self.spans) and all(s.kind is kind and s.role == "value" for s in self.spans)

    def dimensions(self, activation: Activation) -> np.ndarray:
        """Matrix columns whose output uses `activation` (vectorised activations and losses use these)."""
        picked = [np.arange(s.start, s.stop) for s in self.spans if s.activation == activation]
        return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)

    def to_list(self) -> list[dict[str, Any]]:
        return [{**asdict(s), "kind": s.kind.value} for s in self.spans]
