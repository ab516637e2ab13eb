"""The one exception family synthmed raises for user mistakes.

Every error names what is wrong, where (the column), shows a few offending values and says how to fix it,
so a data steward never has to read a pandas or torch traceback. The CLI turns any `SynthmedError` into a
one-paragraph message and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_SHOWN_VALUES = 3


def format_values(values: Iterable[Any], limit: int = MAX_SHOWN_VALUES) -> str:
    """Show at most `limit` distinct offending values, in first-seen order."""
    shown: list[str] = []
    for value in values:
        text = repr(value.item() if hasattr(value, "item") else value)
        if text not in shown:
            shown.append(text)
        if len(shown) == limit:
            break
    return ", ".join(shown)


class SynthmedError(ValueError):
    """Base class: a problem the user can fix, reported as problem + column + values + remedy."""

    def __init__(
        self,
        problem: str,
        *,
        column: str | None = None,
        values: Iterable[Any] | None = None,
        remedy: str | None = None,
    ) -> None:
        self.problem = problem
        self.column = column
        self.values = format_values(values) if values is not None else None
        self.remedy = remedy
        self.where: str | None = None
        super().__init__(self._message())

    def located(self, where: str) -> SynthmedError:
        """This error, saying which of several inputs it is about ("the holdout table")."""
        self.where = where
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        if self.column is not None:
            first = f"Column {self.column!r}{f' of {self.where}' if self.where else ''}: {self.problem}"
        else:
            first = f"{self.where[0].upper()}{self.where[1:]}: {self.problem}" if self.where else self.problem
        parts = [first]
        if self.values:
            parts.append(f"Offending values: {self.values}.")
        if self.remedy:
            parts.append(f"Remedy: {self.remedy}")
        return " ".join(part if part.endswith(".") else part + "." for part in parts)


class DataError(SynthmedError):
    """The input table cannot be used as it is (empty, too small, infinities, stray markers...)."""


class SchemaError(SynthmedError):
    """A user-supplied schema is malformed or disagrees with the data."""


class UnseenCategoryError(DataError):
    """A value outside the categories the model was fitted (or declared) with."""


class ConfigError(SynthmedError):
    """An invalid hyperparameter or option."""


class ArtifactError(SynthmedError):
    """A saved generator cannot be read (missing file, wrong format, incompatible version)."""


class OutputError(SynthmedError):
    """An output cannot be written: the path is unusable, the file exists, or the disk refused the write."""


class NotFittedError(SynthmedError):
    """A model was asked to sample or save before `fit`."""


class SynthmedWarning(UserWarning):
    """Something synthmed changed on the user's behalf (a dropped column, an excluded identifier)."""
