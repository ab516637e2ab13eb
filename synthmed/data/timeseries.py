"""Multivariate time series as sequence models see them: n sequences x T steps x C channels.

Three input shapes become one `(n, T, C)` float array:

- an sktime/UEA `.ts` file (equal-length series, one per line, channels separated by ':');
- a *long* table, one row per sequence and step, named by `sequence_id` (and ordered by `time`), every
  other column a channel;
- a *recording*, consecutive rows of one long signal (columns are channels), cut into non-overlapping
  windows of `window` steps; a trailing partial window is dropped with a note.

Every check runs here, before training: channels must be numeric and finite, every sequence as long as
the others, and no value missing. Missing values are an error, not silently filled: a gap in a vital-sign
trace is information, and how to fill it (carry forward, interpolate, drop the sequence) is the data
steward's call. Synthetic sequences come back in long format: `sequence`, `step`, then the channels.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from synthmed.data.io import PLAIN_READING, ReadOptions, is_table_source, refuse_duplicated_names
from synthmed.data.layout import ColumnLayout, Span
from synthmed.data.schema import ColumnKind, json_scalar
from synthmed.data.validate import MIN_ROWS
from synthmed.errors import MAX_SHOWN_VALUES, ConfigError, DataError, SynthmedWarning

SEQUENCE_COLUMN = "sequence"
STEP_COLUMN = "step"
# As for tables: below this many sequences a generator can only copy them.
MIN_SEQUENCES = MIN_ROWS
TS_SUFFIX = ".ts"
TS_MISSING = "?"  # the .ts format's missing-value marker
_FILL_REMEDY = (
    "fill or interpolate the gaps before training (pandas: table[channels] = table.groupby(id)[channels].ffill()), "
    "or drop the affected sequences"
)
_FORMAT_REMEDY = (
    "name the sequence and time columns of a long table (--sequence-id COL --time COL; Python: sequence_id=, "
    "time=), or cut a recording into windows (--window T; Python: window=T)"
)


@dataclass(frozen=True)
class Sequences:
    """`values[i, t, c]`: channel c at step t of sequence i; `ids[i]` names sequence i in messages."""

    values: np.ndarray
    channels: tuple[str, ...]
    ids: np.ndarray
    labels: np.ndarray | None = None  # class labels of a .ts file; never modelled

    @property
    def steps(self) -> int:
        return self.values.shape[1]


# ---- readers ---------------------------------------------------------------------------------------------
def _ts_header_and_rows(path: Path) -> tuple[dict[str, str], list[str]]:
    header: dict[str, str] = {}
    rows: list[str] = []
    in_data = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if in_data:
            rows.append(line)
        elif line.lower() == "@data":
            in_data = True
        elif line.startswith("@"):
            key, _, value = line[1:].partition(" ")
            header[key.lower()] = value.strip()
    return header, rows


def read_ts(path: str | Path) -> Sequences:
    """Read an sktime/UEA `.ts` file of equal-length series without time stamps (e.g. BasicMotions).

    Channels are named `dim_0`, `dim_1`, ... as sktime names them; class labels are kept in `labels`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file {str(path)!r} does not exist", remedy="check the path")
    header, rows = _ts_header_and_rows(path)
    if header.get("timestamps", "false").lower() == "true":
        raise DataError(
            f"{str(path)!r} holds time-stamped series, which synthmed does not read from .ts files",
            remedy="export the series as a long CSV and pass --sequence-id and --time",
        )
    if not rows:
        raise DataError(f"{str(path)!r} has no series after its @data line", remedy="check the file")
    has_labels = header.get("classlabel", "false").split(" ")[0].lower() == "true"
    parts = [row.split(":") for row in rows]
    labels = np.array([p.pop() for p in parts]) if has_labels else None
    _check_ts_shape([len(p) for p in parts], "channels")
    series = [dimension.split(",") for p in parts for dimension in p]
    n, channels, steps = len(parts), len(parts[0]), len(series[0])
    _check_ts_shape([len(s) for s in series], "steps", per_series=channels)
    text = pd.Series([value for s in series for value in s]).str.strip()
    numbers = pd.to_numeric(text.mask(text == TS_MISSING), errors="coerce").to_numpy(dtype=np.float64)
    stray = np.isnan(numbers) & (text != TS_MISSING).to_numpy()
    if stray.any():
        raise DataError(
            f"series {int(np.flatnonzero(stray)[0]) // (channels * steps)} of {str(path)!r} holds non-numeric values",
            values=text[stray],
            remedy=f"the .ts format allows numbers and {TS_MISSING!r} (missing) only",
        )
    values = numbers.reshape(n, channels, steps).transpose(0, 2, 1)
    return Sequences(np.ascontiguousarray(values), tuple(f"dim_{c}" for c in range(channels)), np.arange(n), labels)


def _check_ts_shape(lengths: list[int], what: str, per_series: int = 1) -> None:
    unequal = [i for i, length in enumerate(lengths) if length != lengths[0]]
    if unequal:
        series = unequal[0] // per_series
        raise DataError(
            f"series {series} has {lengths[unequal[0]]} {what}, series 0 has {lengths[0]}",
            remedy=f"synthmed needs series of equal shape: resample or cut them to one number of {what}",
        )


def _channel_matrix(table: pd.DataFrame) -> np.ndarray:
    """The channel columns as one float matrix; a column that is not numbers is refused by name."""
    refuse_duplicated_names(table.columns)
    clashing = [name for name in table.columns if name in (SEQUENCE_COLUMN, STEP_COLUMN)]
    if clashing:
        raise DataError(
            "a channel's name clashes with a column of the long output (sequence, step)",
            column=str(clashing[0]),
            remedy="rename the channel, or name it as the sequence/time column if that is what it is",
        )
    matrix = np.empty(table.shape, dtype=np.float64)
    for index, name in enumerate(table.columns):
        column = table[name]
        if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
            raise DataError(
                "is a date/time column, not a channel",
                column=str(name),
                remedy="name it as the time column (--time), or drop it",
            )
        numbers = pd.to_numeric(column.astype(object) if not _is_number(column) else column, errors="coerce")
        stray = numbers.isna() & column.notna()
        if stray.any():
            raise DataError(
                "a channel holds non-numeric values; every column other than the sequence id and time is a channel",
                column=str(name),
                values=column[stray],
                remedy="drop label or text columns from the table, or declare markers missing with --na-values",
            )
        matrix[:, index] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype)


def from_long(table: pd.DataFrame, sequence_id: str, time: str | None = None) -> Sequences:
    """One row per sequence and step -> sequences; steps are ordered by `time` (row order without it)."""
    for role, name in (("sequence id", sequence_id), ("time", time)):
        if name is not None and name not in table.columns:
            raise DataError(
                f"the {role} column is not in the table",
                column=name,
                values=list(table.columns),
                remedy="pass one of the table's columns (shown above)",
            )
    if table[sequence_id].isna().any():
        raise DataError("has rows without a sequence id", column=sequence_id, remedy="drop or label those rows")
    keys = [sequence_id] if time is None else [sequence_id, time]
    ordered = table.sort_values(keys, kind="stable") if time is not None else table
    if time is not None:
        repeated = ordered.duplicated(keys)
        if repeated.any():
            raise DataError(
                "a sequence has two rows for the same time",
                column=time,
                values=[
                    f"sequence {json_scalar(s)!r} at {json_scalar(t)!r}"
                    for s, t in ordered.loc[repeated, keys].head(MAX_SHOWN_VALUES).itertuples(index=False)
                ],
                remedy="keep one row per sequence and time step",
            )
    # group in order of first appearance, keeping each sequence's rows in time order
    codes, ids = pd.factorize(ordered[sequence_id])
    rows = ordered.iloc[np.argsort(codes, kind="stable")]
    lengths = np.bincount(codes)
    usual = int(np.bincount(lengths).argmax())
    if (lengths != usual).any():
        odd = np.flatnonzero(lengths != usual)
        first = json_scalar(ids[odd[0]])
        raise DataError(
            f"sequences have unequal lengths: sequence {first!r} has {lengths[odd[0]]} steps, most have {usual}",
            column=sequence_id,
            values=ids[odd],
            remedy="cut or pad every sequence to the same number of steps (or cut one recording with --window)",
        )
    channels = rows.drop(columns=keys)
    if channels.shape[1] == 0:
        raise DataError("the table has no channel columns besides the sequence id and time", remedy=_FORMAT_REMEDY)
    matrix = _channel_matrix(channels)
    values = matrix.reshape(len(ids), usual, matrix.shape[1])
    return Sequences(values, tuple(str(c) for c in channels.columns), np.asarray(ids))


def from_recording(recording: pd.DataFrame | np.ndarray, window: int) -> Sequences:
    """Consecutive rows of one recording -> non-overlapping windows of `window` steps."""
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ConfigError("the window must be a positive number of steps", values=[window], remedy="e.g. window=100")
    if isinstance(recording, np.ndarray):
        if recording.ndim not in (1, 2):
            raise DataError(
                f"a recording is a 1-D or 2-D array (steps x channels), got shape {recording.shape}",
                remedy="pass an (n, T, C) array without window=, or a 2-D recording with window=",
            )
        columns = [f"x{c}" for c in range(1 if recording.ndim == 1 else recording.shape[1])]
        recording = pd.DataFrame(recording.reshape(len(recording), -1), columns=columns)
    length = len(recording)
    if window > length:
        raise DataError(
            f"the window of {window} steps is longer than the recording ({length} steps)",
            remedy="use a shorter window",
        )
    count = length // window
    if length % window:
        warnings.warn(
            f"dropped the last {length % window} steps of the recording: they do not fill a window of {window}",
            SynthmedWarning,
            stacklevel=3,
        )
    matrix = _channel_matrix(recording.iloc[: count * window])
    values = matrix.reshape(count, window, matrix.shape[1])
    return Sequences(values, tuple(str(c) for c in recording.columns), np.arange(count))


def from_array(values: np.ndarray) -> Sequences:
    """An `(n, T, C)` array, channels named x0, x1, ... (as tables from arrays are)."""
    if values.ndim != 3:
        raise DataError(
            f"expected an (n sequences, T steps, C channels) array, got shape {values.shape}",
            remedy="reshape to 3-D, or pass a 2-D recording with window=T",
        )
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError("the array holds non-numeric values", remedy="pass a numeric array") from None
    return Sequences(numbers, tuple(f"x{c}" for c in range(values.shape[2])), np.arange(len(values)))


def to_sequences(
    data: pd.DataFrame | np.ndarray | str | Path,
    *,
    sequence_id: str | None = None,
    time: str | None = None,
    window: int | None = None,
    reading: ReadOptions = PLAIN_READING,
) -> Sequences:
    """Any accepted input -> validated sequences (see the module docstring for the formats)."""
    if time is not None and sequence_id is None:
        raise ConfigError("a time column needs a sequence id column", values=[time], remedy=_FORMAT_REMEDY)
    if sequence_id is not None and window is not None:
        raise ConfigError(
            "a table is either long (sequence id) or a recording (window), not both",
            values=[sequence_id, window],
            remedy=_FORMAT_REMEDY,
        )
    if isinstance(data, str | Path) and Path(data).suffix.lower() == TS_SUFFIX:
        if sequence_id is not None or window is not None:
            raise ConfigError(
                "a .ts file holds its own sequences", values=[sequence_id or window], remedy="drop the option"
            )
        return check_sequences(read_ts(data))
    if is_table_source(data):
        data = reading.read(data)
    elif isinstance(data, pd.DataFrame) and reading.na_values:
        data = data.replace(list(reading.na_values), np.nan)
    if isinstance(data, np.ndarray) and window is None:
        return check_sequences(from_array(data))
    if not isinstance(data, pd.DataFrame | np.ndarray):
        raise DataError(
            f"cannot train on a {type(data).__name__}",
            remedy="pass an (n, T, C) array, a DataFrame or a CSV/Parquet/.ts path",
        )
    if sequence_id is not None:
        if not isinstance(data, pd.DataFrame):
            raise ConfigError("sequence_id= names a column of a DataFrame", remedy="pass a DataFrame or a path")
        return check_sequences(from_long(data, sequence_id, time))
    if window is None:
        raise ConfigError("cannot tell how the table holds its sequences", remedy=_FORMAT_REMEDY)
    return check_sequences(from_recording(data, window))


def check_sequences(sequences: Sequences) -> Sequences:
    """Refuse missing or infinite values and too few sequences; return the sequences unchanged."""
    values = sequences.values
    for index, name in enumerate(sequences.channels):
        channel = values[:, :, index]
        for bad, what, remedy in (
            (np.isnan(channel), "missing values", _FILL_REMEDY),
            (np.isinf(channel), "infinite values", "replace them with the sensor's real range limits, or drop them"),
        ):
            if bad.any():
                sequence, step = np.argwhere(bad)[0]
                first = json_scalar(sequences.ids[sequence])
                raise DataError(
                    f"has {int(bad.sum())} {what}, the first in sequence {first!r} at step {step}; "
                    "the generator's tanh outputs cannot express them",
                    column=name,
                    remedy=remedy,
                )
    if len(values) < MIN_SEQUENCES:
        raise DataError(
            f"only {len(values)} sequences of {sequences.steps} steps; synthmed needs at least {MIN_SEQUENCES} to "
            "learn a distribution (a generator fitted on a handful can only copy them)",
            remedy="use more data, or a shorter window for a recording",
        )
    return sequences


def to_long(values: np.ndarray, channels: Sequence[str]) -> pd.DataFrame:
    """`(n, T, C)` -> one row per sequence and step: `sequence`, `step`, then the channels.

    >>> to_long(np.zeros((2, 3, 1)), ["hr"]).shape
    (6, 3)
    """
    n, steps, width = values.shape
    table = pd.DataFrame(values.reshape(n * steps, width), columns=list(channels))
    table.insert(0, STEP_COLUMN, np.tile(np.arange(steps, dtype=np.int64), n))
    table.insert(0, SEQUENCE_COLUMN, np.repeat(np.arange(n, dtype=np.int64), steps))
    return table


# ---- scaling ---------------------------------------------------------------------------------------------
class SequenceScaler:
    """Per-channel min/max scaling of `(n, T, C)` arrays to [-1, 1], the generator's tanh range.

    It remembers the window length T and the channel names, and ships inside a saved generator with each
    channel's min and max (`domain: "data"`), or the declared range (`domain: "schema"`) when `ranges`
    gives both ends, which keeps the data's extremes out of the file. A constant channel maps to 0.

    >>> scaler = SequenceScaler().fit(np.array([[[0.0], [5.0]], [[10.0], [5.0]]]), ["hr"])
    >>> scaler.transform(np.array([[[0.0], [10.0]]])).ravel().tolist()
    [-1.0, 1.0]
    """

    def __init__(self, ranges: Mapping[str, tuple[float | None, float | None]] | None = None) -> None:
        self.ranges = dict(ranges or {})

    def fit(self, values: np.ndarray, channels: Sequence[str]) -> Self:
        self.channels_ = tuple(channels)
        unknown = sorted(set(self.ranges) - set(self.channels_))
        if unknown:
            raise DataError(
                "a declared range names a column that is not a channel",
                column=unknown[0],
                values=self.channels_,
                remedy="declare ranges for the channels listed above",
            )
        self.steps_ = values.shape[1]
        low, high = values.min(axis=(0, 1)), values.max(axis=(0, 1))
        self.minimum_, self.maximum_ = low.astype(np.float64), high.astype(np.float64)
        for index, name in enumerate(self.channels_):
            declared_low, declared_high = self.ranges.get(name, (None, None))
            if declared_low is not None:
                self.minimum_[index] = float(declared_low)
            if declared_high is not None:
                self.maximum_[index] = float(declared_high)
            if low[index] < self.minimum_[index] or high[index] > self.maximum_[index]:
                channel = values[:, :, index]
                raise DataError(
                    f"values outside the declared range [{declared_low}, {declared_high}]",
                    column=name,
                    values=channel[(channel < self.minimum_[index]) | (channel > self.maximum_[index])],
                    remedy="widen the range in the schema",
                )
        return self

    @property
    def columns(self) -> list[str]:
        return list(self.channels_)

    @property
    def layout_(self) -> ColumnLayout:
        """One continuous tanh/MSE span per channel: how the generator's output channels are read."""
        return ColumnLayout(
            tuple(
                Span(name, "value", ColumnKind.CONTINUOUS, i, 1, "tanh", "mse") for i, name in enumerate(self.columns)
            )
        )

    def _check_shape(self, values: np.ndarray) -> None:
        expected = (self.steps_, len(self.channels_))
        if values.ndim != 3 or values.shape[1:] != expected:
            raise DataError(
                f"expected sequences of shape (n, {expected[0]}, {expected[1]}), got {values.shape}",
                remedy="scale sequences with the window and channels the scaler was fitted on",
            )

    def _spread(self) -> np.ndarray:
        spread = self.maximum_ - self.minimum_
        return np.where(spread > 0, spread, 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        self._check_shape(values)
        scaled = 2.0 * (values - self.minimum_) / self._spread() - 1.0
        return np.where(self.maximum_ > self.minimum_, scaled, 0.0)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Back to each channel's units (in float64, whatever the generated dtype), clipped to its range (so outputs
        never leave the known domain)."""
        self._check_shape(scaled)
        return (np.clip(np.asarray(scaled, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0 * (
            self.maximum_ - self.minimum_
        ) + self.minimum_

    def to_dict(self) -> dict[str, Any]:
        channels = []
        for index, name in enumerate(self.channels_):
            declared = all(end is not None for end in self.ranges.get(name, (None, None)))
            channels.append(
                {
                    "name": name,
                    "min": float(self.minimum_[index]),
                    "max": float(self.maximum_[index]),
                    "domain": "schema" if declared else "data",
                }
            )
        return {"steps": self.steps_, "channels": channels}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> SequenceScaler:
        channels = state["channels"]
        scaler = cls({c["name"]: (c["min"], c["max"]) for c in channels if c["domain"] == "schema"})
        scaler.channels_ = tuple(c["name"] for c in channels)
        scaler.steps_ = int(state["steps"])
        scaler.minimum_ = np.array([c["min"] for c in channels], dtype=np.float64)
        scaler.maximum_ = np.array([c["max"] for c in channels], dtype=np.float64)
        return scaler
