"""Verdict rules: the documented defaults, overrides, and 'inconclusive, never pass'."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmed.errors import ConfigError
from synthmed.evaluate.disclosure import DisclosureRisk, disclosure_risk
from synthmed.evaluate.intervals import Estimate
from synthmed.evaluate.policy import (
    Policy,
    PrivacyPolicy,
    Verdict,
    disclosure_check,
    limit_check,
    membership_check,
    worst,
)

DEFAULT = PrivacyPolicy()


@pytest.mark.parametrize(
    ("auc", "tpr", "verdict"),
    [
        (Estimate(0.51, 0.47, 0.55), Estimate(0.01, 0.0, 0.03), Verdict.PASS),
        (Estimate(0.52, 0.40, 0.64), Estimate(0.01, 0.0, 0.05), Verdict.INCONCLUSIVE),  # too wide to pass
        (Estimate(0.97, 0.95, 0.99), Estimate(0.60, 0.55, 0.65), Verdict.FAIL),
        (Estimate(0.57, 0.53, 0.61), Estimate(0.015, 0.0, 0.04), Verdict.WARN),  # real but below the limit
        (Estimate(0.55, 0.52, 0.58), Estimate(0.05, 0.03, 0.08), Verdict.FAIL),  # many members at 1% FPR
    ],
)
def test_membership_verdicts(auc: Estimate, tpr: Estimate, verdict: Verdict) -> None:
    check = membership_check("distance attack", auc, tpr, DEFAULT, non_members=500)
    assert check.verdict is verdict
    assert f"AUC {auc.value:.3f}" in check.reason


def test_too_few_non_members_cannot_pass_or_fail_on_the_low_fpr_rate() -> None:
    clean = membership_check("distance", Estimate(0.5, 0.45, 0.55), Estimate(0.0, 0.0, 0.07), DEFAULT, 50)
    assert clean.verdict is Verdict.INCONCLUSIVE and "only 50 holdout records" in clean.reason
    noisy = membership_check("classifier", Estimate(0.57, 0.45, 0.69), Estimate(0.08, 0.03, 0.19), DEFAULT, 50)
    assert noisy.verdict is Verdict.INCONCLUSIVE
    leaking = membership_check("distance", Estimate(0.95, 0.9, 0.99), Estimate(0.5, 0.4, 0.6), DEFAULT, 50)
    assert leaking.verdict is Verdict.FAIL


def test_worst_verdict_wins_and_nothing_is_inconclusive() -> None:
    assert worst([Verdict.PASS, Verdict.WARN, Verdict.INCONCLUSIVE]) is Verdict.WARN
    assert worst([Verdict.PASS, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert worst([Verdict.PASS, Verdict.FAIL, Verdict.WARN]) is Verdict.FAIL
    assert worst([]) is Verdict.INCONCLUSIVE


def test_limit_check_in_both_directions() -> None:
    assert limit_check("detection", 0.95, 0.75, 0.9, higher_is_worse=True, detail="").verdict is Verdict.FAIL
    assert limit_check("detection", 0.80, 0.75, 0.9, higher_is_worse=True, detail="").verdict is Verdict.WARN
    assert limit_check("ratio", 0.95, 0.9, 0.75, higher_is_worse=False, detail="").verdict is Verdict.PASS
    assert limit_check("ratio", 0.70, 0.9, 0.75, higher_is_worse=False, detail="").verdict is Verdict.FAIL


def test_policy_defaults_are_the_documented_ones() -> None:
    policy = Policy().to_dict()
    assert policy["privacy"] == {
        "membership_auc_upper": 0.60,
        "membership_tpr_at_1pct_fpr": 0.02,
        "exact_copy_margin": 0.001,
        "unique_exact_match": 0.0,
        "rare_category_min_count": 5,
        "disclosure_risk_limit": 0.10,
    }


def test_policy_settings_must_be_numbers(tmp_path: Path) -> None:
    for text, fragment in (
        ("privacy:\n  membership_auc_upper: high\n", "must be numbers"),
        ("privacy: [0.5]\n", "must map settings"),
    ):
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=fragment):
            Policy.load(path)
    path.write_bytes(b"privacy:\n  \xff\xfe: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Policy.load(path)


def test_policy_yaml_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("privacy:\n  membership_auc_upper: 0.55\nutility:\n  tstr_ratio_fail: 0.5\n")
    policy = Policy.load(path)
    assert policy.privacy.membership_auc_upper == 0.55
    assert policy.privacy.membership_tpr_at_1pct_fpr == 0.02
    assert policy.utility.tstr_ratio_fail == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("privcy:\n  x: 1\n", "unknown policy section"),
        ("privacy:\n  membership_auc: 0.5\n", "unknown privacy policy setting"),
        ("privacy: [1, 2\n", "not valid YAML"),
        ("- 1\n", "must map sections"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Policy.load(path)


def _risk(name: str, attack: Estimate, control: Estimate) -> DisclosureRisk:
    return DisclosureRisk(name, 100, attack, control, Estimate(0.0, 0.0, 0.04), disclosure_risk(attack, control))


@pytest.mark.parametrize(
    ("attack", "control", "verdict"),
    [
        (Estimate(0.90, 0.85, 0.94), Estimate(0.30, 0.22, 0.38), Verdict.FAIL),  # beyond doubt above the limit
        (Estimate(0.50, 0.42, 0.58), Estimate(0.36, 0.30, 0.41), Verdict.PASS),  # ~0.2, not beyond doubt
        (Estimate(0.60, 0.40, 0.80), Estimate(0.35, 0.20, 0.55), Verdict.PASS),  # a small holdout's noise
        (Estimate(0.31, 0.26, 0.36), Estimate(0.30, 0.25, 0.35), Verdict.PASS),
    ],
)
def test_disclosure_verdicts_count_only_attacks_that_beat_their_control(
    attack: Estimate, control: Estimate, verdict: Verdict
) -> None:
    quiet = _risk("inference: a", Estimate(0.1, 0.05, 0.15), Estimate(0.1, 0.05, 0.15))
    check = disclosure_check("inference", [quiet, _risk("inference: b", attack, control)], DEFAULT)
    assert check.verdict is verdict, check.reason
    assert "(inference: b)" in check.reason and "limit of 0.1" in check.reason
