"""Small tables the model tests share."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_patients(n: int = 80, seed: int = 1) -> pd.DataFrame:
    """An identifier, age, sex, ward, BMI (every 9th missing), an admission date and a smoker flag."""
    rng = np.random.default_rng(seed)
    bmi = rng.normal(27, 4, n).round(6)
    bmi[::9] = np.nan
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "ward": rng.choice(["icu", "er", "gp"], n),
            "bmi": bmi,
            "admitted": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "smoker": rng.random(n) < 0.3,
        }
    )
