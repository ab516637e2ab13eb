"""What each column is, inferred from the data or declared by the user.

A `Schema` says how a column is modelled (its kind) and, optionally, its public domain (category list or
numeric range). Values declared here are used instead of values read from the training data, which is how a
data steward keeps data-derived values out of a shared generator (see `TableTransformer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from synthmed.data.files import write_text
from synthmed.errors import SchemaError


class ColumnKind(StrEnum):
    BINARY = "binary"
    CATEGORICAL = "categorical"
    COUNT = "count"
    CONTINUOUS = "continuous"
    DATETIME = "datetime"
    IDENTIFIER = "identifier"
    TEXT = "text"


# Never modelled: an identifier or free text learned as categories would be copied verbatim into the generator
# and its samples (see data/sensitive.py).
EXCLUDED_KINDS = frozenset({ColumnKind.IDENTIFIER, ColumnKind.TEXT})
# What a declared `rare:` does to categories held by fewer than `min_count` training records (data/rare.py).
RARE_ACTIONS = ("merge", "suppress")
# Statistical disclosure control's most common minimum cell size: fewer records than this make a category rare.
RARE_MIN_COUNT = 5
COLUMN_KEYS = (
    "kind",
    "categories",
    "min",
    "max",
    "quasi_identifier",
    "missing",
    "share",
    "format",
    "public",
    "rare",
    "min_count",
)


def json_scalar(value: Any) -> Any:
    """Plain Python scalar for JSON/YAML (numpy scalars and timestamps are not serialisable as they are)."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class ColumnSchema:
    """One column: its kind and, when declared by the user, its public domain."""

    name: str
    kind: ColumnKind
    categories: tuple[Any, ...] | None = None
    minimum: float | str | None = None
    maximum: float | str | None = None
    quasi_identifier: bool = False  # age, sex, zip3...: judged by k-anonymity in the evaluation
    missing: bool | None = None  # declared: whether values may be missing (public; DP reads it, not the data)
    share: float | None = None  # binary: the public share of the second category (calibrated rounding's target)
    format: str | None = None  # datetime: how its text is written ("%d/%m/%Y"; "ISO8601"), when not inferable
    public: bool = False  # binary/categorical: the values are public (a national code list), so they may be learned
    rare: str | None = None  # binary/categorical: "merge" or "suppress" categories of fewer than min_count records
    min_count: int | None = None  # with rare: the smallest count a category keeps (default RARE_MIN_COUNT)
    declared: bool = False  # True when the user's schema named this column

    @property
    def learns_values(self) -> bool:
        """Whether the column's values (its categories) would be read from the data and ship in a generator
        without the user having said they are public."""
        discrete = self.kind in (ColumnKind.BINARY, ColumnKind.CATEGORICAL)
        return discrete and self.categories is None and not self.public

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind.value}
        if self.categories is not None:
            spec["categories"] = [json_scalar(c) for c in self.categories]
        if self.minimum is not None:
            spec["min"] = json_scalar(self.minimum)
        if self.maximum is not None:
            spec["max"] = json_scalar(self.maximum)
        if self.quasi_identifier:
            spec["quasi_identifier"] = True
        if self.missing is not None:
            spec["missing"] = self.missing
        if self.share is not None:
            spec["share"] = self.share
        if self.format is not None:
            spec["format"] = self.format
        if self.public:
            spec["public"] = True
        if self.rare is not None:
            spec["rare"] = self.rare
        if self.min_count is not None:
            spec["min_count"] = self.min_count
        return spec

    @classmethod
    def from_dict(cls, name: str, spec: dict[str, Any] | str, *, declared: bool = True) -> ColumnSchema:
        if isinstance(spec, str):
            spec = {"kind": spec}
        if not isinstance(spec, dict) or "kind" not in spec:
            raise SchemaError(
                "each column needs a mapping with a 'kind'",
                column=name,
                values=[spec],
                remedy=f"write e.g. `{name}: {{kind: categorical}}`; kinds: {', '.join(ColumnKind)}",
            )
        unknown = set(spec) - set(COLUMN_KEYS)
        if unknown:
            raise SchemaError(
                "unknown schema keys", column=name, values=sorted(unknown), remedy=f"use only {', '.join(COLUMN_KEYS)}"
            )
        for key in ("missing", "public", "quasi_identifier"):
            if not isinstance(spec.get(key, False), bool):
                raise SchemaError(f"{key} must be true or false", column=name, values=[spec[key]])
        try:
            kind = ColumnKind(spec["kind"])
        except ValueError:
            raise SchemaError(
                "unknown column kind",
                column=name,
                values=[spec["kind"]],
                remedy=f"use one of: {', '.join(ColumnKind)}",
            ) from None
        categories = spec.get("categories")
        if categories is not None and (not isinstance(categories, list) or not categories):
            raise SchemaError("categories must be a non-empty list", column=name, values=[categories])
        share = spec.get("share")
        if share is not None and (
            kind is not ColumnKind.BINARY
            or isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 <= share <= 1
        ):
            raise SchemaError(
                "share is the share of a binary column's second category, a number from 0 to 1",
                column=name,
                values=[share],
                remedy=f"write e.g. `{name}: {{kind: binary, share: 0.22}}`, or leave share out",
            )
        _check_kind_keys(name, kind, spec)
        return cls(
            name=name,
            kind=kind,
            categories=tuple(categories) if categories is not None else None,
            minimum=spec.get("min"),
            maximum=spec.get("max"),
            quasi_identifier=bool(spec.get("quasi_identifier", False)),
            missing=spec.get("missing"),
            share=None if share is None else float(share),
            format=spec.get("format"),
            public=bool(spec.get("public", False)),
            rare=spec.get("rare"),
            min_count=spec.get("min_count"),
            declared=declared,
        )


def _check_kind_keys(name: str, kind: ColumnKind, spec: dict[str, Any]) -> None:
    """Refuse keys that mean nothing for the column's kind, or values of the wrong type."""
    form = spec.get("format")
    if form is not None and (kind is not ColumnKind.DATETIME or not isinstance(form, str) or not form):
        raise SchemaError(
            'format is how a datetime column\'s text is written, e.g. "%d/%m/%Y"',
            column=name,
            values=[form],
            remedy=f'write e.g. `{name}: {{kind: datetime, format: "%d/%m/%Y"}}`',
        )
    if spec.get("public") and kind not in (ColumnKind.BINARY, ColumnKind.CATEGORICAL):
        raise SchemaError("public applies to binary and categorical columns", column=name, values=[kind.value])
    rare, min_count = spec.get("rare"), spec.get("min_count")
    if rare is not None and (kind not in (ColumnKind.BINARY, ColumnKind.CATEGORICAL) or rare not in RARE_ACTIONS):
        raise SchemaError(
            "rare says what becomes of a categorical or binary column's rare categories: merge or suppress",
            column=name,
            values=[rare],
            remedy=f"write e.g. `{name}: {{kind: categorical, rare: merge, min_count: {RARE_MIN_COUNT}}}`",
        )
    if min_count is not None and (
        rare is None or isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 2
    ):
        raise SchemaError(
            "min_count is the smallest count a category keeps under rare: merge or suppress, an integer of 2 or more",
            column=name,
            values=[min_count],
            remedy=f"write e.g. `{name}: {{kind: categorical, rare: merge, min_count: {RARE_MIN_COUNT}}}`",
        )


@dataclass(frozen=True)
class Schema:
    """The columns of a table in order, each with its kind, and the rules every generated row must obey.

    `exclusive` holds groups of binary columns of which at most one is positive in any row (age bands, one-hot
    flags). They are declared knowledge, never learnt from the data: a generator learns such a structural zero
    only approximately (one record in a few thousand), so `sample` redraws rows that break a rule.
    """

    columns: tuple[ColumnSchema, ...] = field(default_factory=tuple)
    exclusive: tuple[tuple[str, ...], ...] = ()

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(column.name == name for column in self.columns)

    def get(self, name: str) -> ColumnSchema | None:
        """The column called `name`, None when the schema does not name it."""
        return next((column for column in self.columns if column.name == name), None)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def quasi_identifiers(self) -> list[str]:
        return [c.name for c in self.columns if c.quasi_identifier]

    @property
    def modelled(self) -> list[ColumnSchema]:
        """Columns a generator learns: everything but identifiers and free text."""
        return [c for c in self.columns if c.kind not in EXCLUDED_KINDS]

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"columns": {c.name: c.to_dict() for c in self.columns}}
        if self.exclusive:
            spec["exclusive"] = [list(group) for group in self.exclusive]
        return spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any], *, declared: bool = True) -> Schema:
        columns = spec.get("columns") if isinstance(spec, dict) else None
        if not isinstance(columns, dict):
            raise SchemaError(
                "a schema is a mapping with a 'columns' mapping of column name to spec",
                remedy='write e.g. {"columns": {"age": {"kind": "continuous"}}}',
            )
        unknown = set(spec) - {"columns", "exclusive"}
        if unknown:
            raise SchemaError("unknown schema keys", values=sorted(unknown), remedy="use only columns and exclusive")
        return cls(
            tuple(ColumnSchema.from_dict(str(n), s, declared=declared) for n, s in columns.items()),
            _exclusive_groups(spec.get("exclusive", [])),
        )

    def to_yaml(self) -> str:
        """The schema as YAML text, columns in table order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        """Write YAML (.yaml, .yml) or JSON (any other name), whole or not at all."""
        path = Path(path)
        if path.suffix.lower() in {".yaml", ".yml"}:
            write_text(path, self.to_yaml())
        else:
            write_text(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read a JSON or YAML schema file (safe loaders only: a schema never runs code)."""
        path = Path(path)
        if path.is_dir():
            raise SchemaError(f"{str(path)!r} is a folder, not a schema file", remedy="pass a .yaml or .json file")
        if not path.is_file():
            raise SchemaError(f"schema file {str(path)!r} does not exist", remedy="check the --schema path")
        try:
            text = path.read_text(encoding="utf-8")
            spec = yaml.safe_load(text) if path.suffix.lower() in {".yaml", ".yml"} else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            detail = getattr(error, "problem", None) or str(error)
            raise SchemaError(
                f"schema file {str(path)!r} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {where}{detail}",
                remedy="fix the file (synthmed schema DATA -o schema.yaml writes a valid one to start from)",
            ) from None
        return cls.from_dict(spec)


def _exclusive_groups(spec: Any) -> tuple[tuple[str, ...], ...]:
    groups = spec if isinstance(spec, list) else [spec]
    for group in groups:
        names = group if isinstance(group, list) else []
        if len(names) < 2 or not all(isinstance(n, str) for n in names) or len(set(names)) < len(names):
            raise SchemaError(
                "each exclusive group must be a list of two or more distinct column names",
                values=[group],
                remedy="write e.g. `exclusive: [[age_under_18, age_over_65]]`",
            )
    return tuple(tuple(group) for group in groups)
