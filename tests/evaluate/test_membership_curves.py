import numpy as np
import pytest

from synthmed.errors import ConfigError, DataError
from synthmed.evaluate.membership_curves import membership_curves


def _population(rows: int, codes: int = 60, seed: int = 0) -> np.ndarray:
    """Sparse records with enough codes each that two patients rarely lie within 2 codes of each other."""
    rng = np.random.default_rng(seed)
    return (rng.random((rows, codes)) < 0.15).astype(np.uint8)


def test_copies_of_training_records_are_claimed_with_high_precision():
    train, holdout = _population(400, seed=1), _population(400, seed=2)
    curves = membership_curves(train, holdout, train.copy(), synthetic_sizes=(100, 400), known_shares=(0.1, 0.5))
    full = curves.by_synthetic_records[-1]
    assert full.precision.value > 0.95
    assert full.recall.value == pytest.approx(1.0)
    # a release of 100 of the 400 copies holds only a quarter of the members
    assert curves.by_synthetic_records[0].recall.value == pytest.approx(0.25, abs=0.1)


def test_fresh_records_from_the_population_give_chance_precision():
    # few codes per record: many near matches, from members and non-members alike
    rng = np.random.default_rng(0)
    population = (rng.random((3_000, 12)) < 0.1).astype(np.uint8)
    train, holdout, synthetic = population[:1_000], population[1_000:2_000], population[2_000:]
    curves = membership_curves(train, holdout, synthetic, synthetic_sizes=(1_000,), known_shares=(0.5,))
    point = curves.by_known_share[0]
    assert point.recall.value > 0.5
    assert 0.42 < point.precision.value < 0.58
    assert curves.member_share == pytest.approx(0.5)


def test_smaller_known_shares_and_releases_are_prefixes():
    train, holdout = _population(300, seed=3), _population(300, seed=4)
    curves = membership_curves(train, holdout, train, synthetic_sizes=(50, 150, 300), known_shares=(0.05, 0.2, 1.0))
    assert [p.synthetic_records for p in curves.by_synthetic_records] == [50, 150, 300]
    assert [p.known_records for p in curves.by_known_share] == [30, 120, 600]
    recalls = [p.recall.value for p in curves.by_synthetic_records]
    assert recalls == sorted(recalls)  # more released copies never hide a member already matched
    assert curves.to_dict()["by_known_share"][-1]["known_members"] == 300


def test_counts_are_refused_and_bad_curves_named():
    counts = np.full((10, 5), 2)
    with pytest.raises(DataError, match="0/1 code matrix"):
        membership_curves(counts, counts, counts)
    ones = np.ones((10, 5), dtype=np.uint8)
    with pytest.raises(ConfigError, match="known shares"):
        membership_curves(ones, ones, ones, known_shares=(0.0,))
    with pytest.raises(DataError, match="same code columns"):
        membership_curves(ones, ones, np.ones((10, 4), dtype=np.uint8))
