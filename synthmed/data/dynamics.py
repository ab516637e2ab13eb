"""How a sequence moves: the autocorrelation statistics that both the training monitor and the evaluation score."""

from __future__ import annotations

import numpy as np

# Lags of the autocorrelation function scored at most (later lags rest on few step pairs).
MAX_LAGS = 10


def default_lags(window_length: int) -> int:
    """Lags 1..L with L = 10, or a quarter of the window when shorter (later lags rest on few step pairs)."""
    return max(1, min(MAX_LAGS, window_length // 4))


def autocorrelation(windows: np.ndarray, lags: int) -> np.ndarray:
    """Mean autocorrelation function over windows, shape (lags, channels), lag 1 first; values in [-1, 1].

    Each window is centred on its own mean (the ACF of one recording). Windows constant in a channel have no
    ACF and are left out of its mean; a channel constant in every window gets NaN.
    """
    centred = windows - windows.mean(axis=1, keepdims=True)
    energy = np.einsum("ntc,ntc->nc", centred, centred)
    varying = energy > 0
    lagged = np.stack(
        [np.einsum("ntc,ntc->nc", centred[:, lag:], centred[:, :-lag]) for lag in range(1, lags + 1)], axis=1
    )
    ratios = np.where(varying[:, None, :], lagged / np.where(varying, energy, 1.0)[:, None, :], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ratios.sum(axis=0) / varying.sum(axis=0)
