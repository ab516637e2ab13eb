"""Figures for the time-series report, drawn from the plain dict of `evaluate_sequences(...).to_dict()`.

Same conventions as `plots`: each function returns a PNG data URI, or None when the dict has nothing to draw;
real data in blue, synthetic in orange.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthmed.report.plots import REAL_COLOUR, SYNTHETIC_COLOUR, figure_uri, new_figure, short

# More channels than this are cut from the per-channel panels: a taller figure is no longer readable.
MAX_CHANNEL_PANELS = 8
PANEL_COLUMNS = 3


def _array(values: Any) -> np.ndarray:
    """Nested lists (None = undefined) as a float array."""
    return np.array(values if values is not None else [], dtype=float)


def sample_windows_plot(examples: Mapping[str, Any] | None, channels: Sequence[str]) -> str | None:
    """A few real and synthetic windows, one panel per channel, on shared axes per channel."""
    real = _array((examples or {}).get("real_windows"))
    synthetic = _array((examples or {}).get("synthetic_windows"))
    if real.ndim != 3 or synthetic.ndim != 3 or not channels:
        return None
    shown = list(channels)[:MAX_CHANNEL_PANELS]
    figure = new_figure(7.5, 1.4 * len(shown) + 0.6)
    axes_list = figure.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    for index, (axes, channel) in enumerate(zip(axes_list, shown, strict=True)):
        for windows, colour, label in ((real, REAL_COLOUR, "real (train)"), (synthetic, SYNTHETIC_COLOUR, "synthetic")):
            for number, window in enumerate(windows):
                axes.plot(window[:, index], color=colour, linewidth=1, alpha=0.8, label=label if number == 0 else None)
        axes.set_ylabel(short(channel, 14), fontsize=8)
        axes.tick_params(labelsize=7)
    axes_list[0].legend(fontsize=7, loc="upper right", ncols=2)
    axes_list[-1].set_xlabel("step within the window")
    title = f"{len(real)} real and {len(synthetic)} synthetic windows"
    if len(channels) > len(shown):
        title += f" (first {len(shown)} of {len(channels)} channels)"
    figure.suptitle(title, fontsize=10)
    return figure_uri(figure)


def autocorrelation_plot(autocorrelation: Mapping[str, Any] | None) -> str | None:
    """Mean autocorrelation per lag and channel: real train, real holdout (reference) and synthetic."""
    lags = list((autocorrelation or {}).get("lags") or [])
    train = (autocorrelation or {}).get("train") or {}
    channels = list(train)[:MAX_CHANNEL_PANELS]
    if not lags or not channels:
        return None
    columns = min(PANEL_COLUMNS, len(channels))
    rows = math.ceil(len(channels) / columns)
    figure = new_figure(3.0 * columns + 0.5, 2.4 * rows + 0.5)
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    lines = (
        ("train", "real (train)", REAL_COLOUR, "-"),
        ("holdout", "real holdout (reference)", "grey", "--"),
        ("synthetic", "synthetic", SYNTHETIC_COLOUR, "-"),
    )
    for axes, channel in zip(grid, channels, strict=False):
        for key, label, colour, style in lines:
            values = _array(((autocorrelation or {}).get(key) or {}).get(channel))
            if len(values) == len(lags):
                axes.plot(lags, values, color=colour, linestyle=style, marker=".", label=label)
        axes.axhline(0, color="lightgrey", linewidth=0.8)
        axes.set_ylim(-1.05, 1.05)
        axes.set_title(short(channel, 20), fontsize=9)
        axes.tick_params(labelsize=7)
    for axes in grid[len(channels) :]:
        axes.set_axis_off()
    grid[0].legend(fontsize=7)
    figure.supxlabel("lag (steps)", fontsize=9)
    figure.supylabel("mean autocorrelation", fontsize=9)
    return figure_uri(figure)


def channel_pairs_plot(examples: Mapping[str, Any] | None) -> str | None:
    """Step-by-step scatter of channel pairs (real vs synthetic): the pairs whose correlation differs most."""
    pairs = [pair for pair in (examples or {}).get("pairs") or [] if len(pair.get("channels") or []) == 2]
    if not pairs:
        return None
    figure = new_figure(3.3 * len(pairs) + 0.4, 3.4)
    grid = figure.subplots(1, len(pairs), squeeze=False)[0]
    for axes, pair in zip(grid, pairs, strict=True):
        first, second = pair["channels"]
        for key, label, colour in (("real", "real (train)", REAL_COLOUR), ("synthetic", "synthetic", SYNTHETIC_COLOUR)):
            points = _array(pair.get(key))
            if points.ndim == 2 and len(points) == 2:
                axes.scatter(points[0], points[1], s=5, alpha=0.4, color=colour, label=label, linewidths=0)
        axes.set_xlabel(short(first, 20), fontsize=8)
        axes.set_ylabel(short(second, 20), fontsize=8)
        axes.tick_params(labelsize=7)
    grid[0].legend(fontsize=7, markerscale=2)
    figure.suptitle("Channel against channel at the same step", fontsize=10)
    return figure_uri(figure)
