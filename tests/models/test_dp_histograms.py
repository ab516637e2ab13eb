"""Released numeric histograms: what one record can move, and which columns count as numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthmed.data import Schema
from synthmed.data.transform import TableTransformer
from synthmed.models.dp_histograms import HISTOGRAM_BINS, numeric_histograms


def test_each_present_number_adds_one_count_in_its_bin_and_other_columns_none() -> None:
    table = pd.DataFrame(
        {
            "age": [0.0, 5.9, 6.0, 119.0, 120.0, np.nan],
            "stay_days": [1, 2, 3, 4, 5, 6],
            "diabetic": [0, 1, 0, 1, 0, 1],
            "ward": ["a", "b", "a", "b", "a", "b"],
        }
    )
    schema = Schema.from_dict(
        {
            "columns": {
                "age": {"kind": "continuous", "min": 0, "max": 120, "missing": True},
                "stay_days": {"kind": "count", "min": 0, "max": 60},
                "diabetic": {"kind": "binary"},
                "ward": {"kind": "categorical", "categories": ["a", "b"]},
            }
        }
    )
    transformer = TableTransformer(schema).fit(table)
    histograms = numeric_histograms(transformer.transform(table), transformer)
    assert set(histograms) == {"age", "stay_days"}  # 0/1 and category columns are not numbers
    age = histograms["age"]
    assert len(age) == HISTOGRAM_BINS and age.sum() == 5  # the missing age adds no count
    # bins of 6 years over the declared 0-120: 0 and 5.9 share the first, 6 opens the second, 120 joins the last
    np.testing.assert_array_equal(np.flatnonzero(age), [0, 1, HISTOGRAM_BINS - 1])
    np.testing.assert_array_equal(age[[0, 1, HISTOGRAM_BINS - 1]], [2, 1, 2])
    np.testing.assert_array_equal(histograms["stay_days"][:3], [2, 3, 1])  # 3-day bins over the declared 0-60
    assert histograms["stay_days"].sum() == len(table)
