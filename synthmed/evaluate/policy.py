"""Verdicts: pass / warn / fail / inconclusive per area, from a documented policy a steward can override.

Fidelity and utility are judged against what real data achieves (HOLDOUT compared with TRAIN), so the
thresholds mean the same on easy and hard tables. An attack that does not beat its own baseline (its interval
still covers chance) cannot prove safety when its interval is too wide to pass: that result is
"inconclusive", never "pass" - unless the shadow-model game (evaluate/shadow.py), played with the
release's own training recipe over thousands of trials, passes every one of its attacks: then the small
holdout's uncertainty is settled (`settle_with_shadow_models`). A holdout attack that beats chance is never
settled: a warning or failure stands whatever the shadow models show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from synthmed.errors import ConfigError
from synthmed.evaluate.disclosure import DisclosureRisk
from synthmed.evaluate.intervals import Estimate


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


# worst first: an area's verdict is the worst of its checks
SEVERITY = (Verdict.FAIL, Verdict.WARN, Verdict.INCONCLUSIVE, Verdict.PASS)


def worst(verdicts: list[Verdict]) -> Verdict:
    return min(verdicts, key=SEVERITY.index) if verdicts else Verdict.INCONCLUSIVE


@dataclass(frozen=True)
class Check:
    """One rule applied to one figure, with the reason a reader sees in the report."""

    name: str
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "verdict": self.verdict.value, "reason": self.reason}


@dataclass(frozen=True)
class PrivacyPolicy:
    membership_auc_upper: float = 0.60  # upper 95% bound of every attack's ROC AUC
    membership_tpr_at_1pct_fpr: float = 0.02  # members found at 1% false positives
    exact_copy_margin: float = 0.001  # synthetic copy rate may exceed TRAIN-in-HOLDOUT by 0.1 point
    unique_exact_match: float = 0.0  # rows unique in TRAIN reproduced in the synthetic data
    rare_category_min_count: float = 5  # a category of fewer TRAIN records than this may not appear (data/rare.py)
    disclosure_risk_limit: float = 0.10  # singling out, linkability, attribute inference (evaluate/disclosure.py)


@dataclass(frozen=True)
class FidelityPolicy:
    column_shape_margin_warn: float = 0.05  # mean column similarity below holdout's by more than this: warn
    column_shape_margin_fail: float = 0.15
    correlation_margin_warn: float = 0.05  # mean |correlation difference| above holdout's by more: warn
    correlation_margin_fail: float = 0.15
    detection_auc_warn: float = 0.75  # real-vs-synthetic classifier AUC (0.5 = indistinguishable)
    detection_auc_fail: float = 0.90


@dataclass(frozen=True)
class UtilityPolicy:
    tstr_ratio_warn: float = 0.90  # best model's TSTR / TRTR below this: warn
    tstr_ratio_fail: float = 0.75


@dataclass(frozen=True)
class Policy:
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    fidelity: FidelityPolicy = field(default_factory=FidelityPolicy)
    utility: UtilityPolicy = field(default_factory=UtilityPolicy)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Policy:
        """Defaults overridden by `spec` (e.g. a YAML file); unknown names are refused, listing valid ones."""
        sections = {f.name: f.default_factory() for f in fields(cls)}  # type: ignore[misc]
        unknown = sorted(set(spec) - set(sections))
        if unknown:
            raise ConfigError("unknown policy section", values=unknown, remedy=f"use {', '.join(sections)}")
        chosen = {}
        for name, default in sections.items():
            overrides = spec.get(name) or {}
            valid = {f.name for f in fields(default)}
            if not isinstance(overrides, dict):
                raise ConfigError(f"the {name} policy must map settings to numbers", values=[overrides])
            bad = sorted(set(overrides) - valid)
            if bad:
                raise ConfigError(
                    f"unknown {name} policy setting", values=bad, remedy=f"use {', '.join(sorted(valid))}"
                )
            numbers = {k: v for k, v in overrides.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            if len(numbers) < len(overrides):
                wrong = [k for k in overrides if k not in numbers]
                raise ConfigError(
                    f"{name} policy settings must be numbers", values=wrong, remedy=f"e.g. {wrong[0]}: 0.5"
                )
            chosen[name] = type(default)(**{**asdict(default), **{k: float(v) for k, v in numbers.items()}})
        return cls(**chosen)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"policy file {str(path)!r} does not exist", remedy="check the --policy path")
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ConfigError(f"policy file {str(path)!r} is not valid YAML: {error}") from None
        if not isinstance(spec, dict):
            raise ConfigError(f"policy file {str(path)!r} must map sections to settings")
        return cls.from_dict(spec)


# A true-positive rate at 1% false positives needs at least this many non-members to be measured at all.
MIN_NON_MEMBERS_FOR_LOW_FPR = 100


def membership_check(
    name: str, auc: Estimate, tpr_at_1pct_fpr: Estimate, policy: PrivacyPolicy, non_members: int
) -> Check:
    """One attack against the limits.

    - fail: the AUC is significantly above chance and above its limit, or the TPR at 1% FPR is
      significantly above its limit;
    - pass: the whole AUC interval is below its limit and the TPR at 1% FPR is within its limit;
    - warn: neither, but the attack beats chance (a weak, real leak);
    - inconclusive: neither, and the attack does not beat chance: too uncertain to pass.

    With fewer than 100 scored non-members the 1%-FPR threshold is not measurable, so that figure can
    neither pass nor fail the check.
    """
    figures = f"AUC {auc.value:.3f} [{auc.low:.3f}, {auc.high:.3f}], TPR@1%FPR {tpr_at_1pct_fpr.value:.3f}"
    measurable = non_members >= MIN_NON_MEMBERS_FOR_LOW_FPR
    tpr_limit = policy.membership_tpr_at_1pct_fpr
    if (auc.low > 0.5 and auc.value > policy.membership_auc_upper) or (measurable and tpr_at_1pct_fpr.low > tpr_limit):
        return Check(name, Verdict.FAIL, f"{figures}: the attack identifies training records")
    if auc.high <= policy.membership_auc_upper and measurable and tpr_at_1pct_fpr.value <= tpr_limit:
        return Check(name, Verdict.PASS, f"{figures}: within the limits")
    if auc.low > 0.5 or (measurable and tpr_at_1pct_fpr.low > 0.01):
        return Check(name, Verdict.WARN, f"{figures}: the attack beats chance, though not beyond the limits")
    why = "too uncertain to pass" if measurable else f"only {non_members} holdout records scored"
    return Check(name, Verdict.INCONCLUSIVE, f"{figures}: no better than chance, but {why}")


def limit_check(name: str, value: float, warn: float, fail: float, *, higher_is_worse: bool, detail: str) -> Check:
    """A figure against warn and fail limits (already expressed relative to any baseline)."""
    exceeds = (lambda limit: value > limit) if higher_is_worse else (lambda limit: value < limit)
    verdict = Verdict.FAIL if exceeds(fail) else Verdict.WARN if exceeds(warn) else Verdict.PASS
    return Check(name, verdict, detail)


def correlation_check(name: str, difference: float, holdout_difference: float, rules: FidelityPolicy) -> Check:
    """A mean |correlation difference| judged by how far it exceeds the real holdout's."""
    return limit_check(
        name,
        difference - holdout_difference,
        rules.correlation_margin_warn,
        rules.correlation_margin_fail,
        higher_is_worse=True,
        detail=f"mean |difference| {difference:.3f} (real holdout {holdout_difference:.3f})",
    )


def settle_with_shadow_models(holdout_checks: list[Check], shadow_checks: list[Check]) -> list[Check]:
    """The holdout membership checks, each inconclusive one passed when every shadow-model attack passes.

    Only "inconclusive" is settled: it means the attack did not beat chance but its interval was too wide
    to pass, which is what many more trials decide. Shadow checks that do not all pass settle nothing.
    """
    if not shadow_checks or any(check.verdict is not Verdict.PASS for check in shadow_checks):
        return holdout_checks
    return [
        Check(check.name, Verdict.PASS, f"{check.reason}; settled by the shadow-model attacks, which pass")
        if check.verdict is Verdict.INCONCLUSIVE
        else check
        for check in holdout_checks
    ]


def disclosure_check(name: str, risks: list[DisclosureRisk], policy: PrivacyPolicy) -> Check:
    """The worst of one kind of disclosure risk (Giomi et al. 2023) against the limit: fail when an attack on TRAIN
    records beats the same attack on HOLDOUT records beyond doubt (their success rates' intervals do not overlap)
    and its risk's whole interval lies above the limit; pass otherwise.

    There is no warning zone: the attacks' trials share a handful of records (every predicate is read against the
    same TRAIN), so their intervals understate the uncertainty, and on a small table a fresh real sample's estimate
    crosses the limit by chance. The estimate, its interval and the limit are in the reason whatever the verdict.
    """
    limit = policy.disclosure_risk_limit
    counted = [r for r in risks if r.attack_rate.low > r.control_rate.high]
    shown = max(counted or risks, key=lambda r: (r.risk.low, r.risk.value))
    figures = f"highest risk {shown.risk.value:.3f} [{shown.risk.low:.3f}, {shown.risk.high:.3f}] ({shown.name})"
    if any(r.risk.low > limit for r in counted):
        return Check(name, Verdict.FAIL, f"{figures}: above the limit of {limit:g}")
    if shown.risk.value > limit:
        return Check(name, Verdict.PASS, f"{figures}: not beyond doubt above the limit of {limit:g}")
    return Check(name, Verdict.PASS, f"{figures}: within the limit of {limit:g}")
