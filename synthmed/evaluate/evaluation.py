"""The whole evaluation of one synthetic table: fidelity, utility and privacy, each with its verdict.

Every comparison has a real reference beside it: HOLDOUT scored as if it were the synthetic data shows
what a perfect generator (a fresh sample of the same patients' population) would achieve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from synthmed.data.schema import Schema
from synthmed.evaluate.attacks import (
    ExactCopies,
    MembershipAttack,
    attribute_disclosure,
    distance_to_closest_record,
    exact_copies,
    has_inferable_attributes,
    k_anonymity,
    membership_inference,
)
from synthmed.evaluate.disclosure import DisclosureRisk, disclosure_risks
from synthmed.evaluate.encoding import EvaluationTables, prepare_tables
from synthmed.evaluate.fidelity import column_shape_similarity, missing_rate_difference
from synthmed.evaluate.policy import (
    Check,
    Policy,
    PrivacyPolicy,
    Verdict,
    correlation_check,
    disclosure_check,
    limit_check,
    membership_check,
    settle_with_shadow_models,
    worst,
)
from synthmed.evaluate.shadow import ShadowMembership
from synthmed.evaluate.similarity import (
    contingency_similarity,
    correlation_matrices,
    detection,
    dimension_wise_prediction,
    dimension_wise_probability,
)
from synthmed.evaluate.utility import utility

# Correlation matrices are written out in full only for tables a reader can take in (and a JSON file can hold).
MAX_MATRIX_COLUMNS = 60


@dataclass(frozen=True)
class Area:
    """One of fidelity, utility, privacy: the verdict, the checks behind it, and every figure."""

    verdict: Verdict
    checks: tuple[Check, ...]
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "checks": [c.to_dict() for c in self.checks], **self.figures}


@dataclass(frozen=True)
class Evaluation:
    fidelity: Area
    utility: Area
    privacy: Area
    about: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fidelity": self.fidelity.to_dict(),
            "utility": self.utility.to_dict(),
            "privacy": self.privacy.to_dict(),
            "about": self.about,
        }


def _as_reference(tables: EvaluationTables) -> EvaluationTables:
    """The tables with HOLDOUT in place of the synthetic data: what a fresh real sample scores."""
    return replace(tables, synthetic=tables.holdout, synthetic_matrix=tables.holdout_matrix)


def _fidelity(tables: EvaluationTables, policy: Policy, seed: int) -> Area:
    rules = policy.fidelity
    reference = _as_reference(tables)
    shapes = column_shape_similarity(tables.train, tables.synthetic, tables.schema)
    reference_shapes = column_shape_similarity(tables.train, tables.holdout, tables.schema)
    correlations, reference_correlations = correlation_matrices(tables), correlation_matrices(reference)
    detected = detection(tables, seed=seed)
    shape_gap = float(reference_shapes.mean() - shapes.mean())
    checks = (
        limit_check(
            "column shapes",
            shape_gap,
            rules.column_shape_margin_warn,
            rules.column_shape_margin_fail,
            higher_is_worse=True,
            detail=f"mean similarity {shapes.mean():.3f} (real holdout {reference_shapes.mean():.3f})",
        ),
        correlation_check(
            "correlations",
            correlations.mean_absolute_difference,
            reference_correlations.mean_absolute_difference,
            rules,
        ),
        limit_check(
            "detection",
            detected.auc.value,
            rules.detection_auc_warn,
            rules.detection_auc_fail,
            higher_is_worse=True,
            detail=f"real-vs-synthetic classifier AUC {detected.auc.value:.3f}",
        ),
    )
    matrices = correlations.to_dict() if len(correlations.columns) <= MAX_MATRIX_COLUMNS else None
    figures = {
        "column_shapes": {
            "per_column": shapes.to_dict(),
            "mean": float(shapes.mean()),
            "holdout_mean": float(reference_shapes.mean()),
        },
        "missing_rate_difference": missing_rate_difference(tables.train, tables.synthetic, tables.schema).to_dict(),
        "correlation": {
            "mean_absolute_difference": correlations.mean_absolute_difference,
            "holdout_mean_absolute_difference": reference_correlations.mean_absolute_difference,
            "matrices": matrices,
        },
        "contingency": contingency_similarity(tables, seed=seed).to_dict(),
        "dimension_wise_probability": dimension_wise_probability(tables).to_dict(),
        "dimension_wise_prediction": dimension_wise_prediction(tables, seed=seed).to_dict(),
        "detection": detected.to_dict(),
    }
    return Area(worst([c.verdict for c in checks]), checks, figures)


def utility_area(tables: EvaluationTables, target: str | None, policy: Policy, seed: int) -> Area:
    """TSTR against TRTR for `target` (inconclusive without one), judged by the utility policy."""
    if target is None:
        check = Check("utility", Verdict.INCONCLUSIVE, "no target column given (--target)")
        return Area(Verdict.INCONCLUSIVE, (check,), {})
    result = utility(tables, target, seed=seed)
    summary = result.summary
    ratio = summary.tstr_to_trtr.get(summary.best_model) if summary.best_model is not None else None
    if ratio is None:
        check = Check("TSTR / TRTR", Verdict.INCONCLUSIVE, "no model could be trained on the synthetic data")
    else:
        check = limit_check(
            "TSTR / TRTR",
            ratio,
            policy.utility.tstr_ratio_warn,
            policy.utility.tstr_ratio_fail,
            higher_is_worse=False,
            detail=f"best model keeps {ratio:.0%} of its real-data performance",
        )
    return Area(check.verdict, (check,), result.to_dict())


def privacy_checks(copies: ExactCopies, attacks: list[MembershipAttack], rules: PrivacyPolicy) -> list[Check]:
    """Each membership attack, exact copies and unique exact match against the privacy policy."""
    allowed_copies = copies.holdout_in_train.value + rules.exact_copy_margin
    return [
        membership_check(attack.name, attack.auc, attack.tpr_at_1pct_fpr, rules, attack.scored_non_members)
        for attack in attacks
    ] + [
        Check(
            "exact copies",
            Verdict.PASS if copies.synthetic_in_train.value <= allowed_copies else Verdict.FAIL,
            f"{copies.synthetic_in_train.value:.2%} of synthetic rows copy a training row "
            f"(a fresh real sample: {copies.holdout_in_train.value:.2%})",
        ),
        Check(
            "unique exact match",
            Verdict.PASS if copies.unique_exact_match.value <= rules.unique_exact_match else Verdict.FAIL,
            f"{copies.unique_exact_match.value:.2%} of the rows unique in TRAIN appear in the synthetic data",
        ),
    ]


def record_privacy_area(tables: EvaluationTables, policy: Policy, seed: int) -> Area:
    """Exact copies, distances to the closest record and the membership attacks on whole records (a flattened
    window, a patient's history), judged by the privacy policy."""
    copies = exact_copies(tables)
    attacks = membership_inference(tables, seed=seed)
    checks = privacy_checks(copies, attacks, policy.privacy)
    figures = {
        "exact_copies": copies.to_dict(),
        "distance_to_closest_record": distance_to_closest_record(tables, seed=seed).to_dict(),
        "membership_inference": [attack.to_dict() for attack in attacks],
    }
    return Area(worst([c.verdict for c in checks]), tuple(checks), figures)


def rare_category_check(tables: EvaluationTables, min_count: int) -> tuple[Check, dict[str, dict[str, int]]]:
    """Whether any synthetic row holds a category that fewer than `min_count` TRAIN records hold, and the counts
    per column (never the values: the report is shared)."""
    per_column = {}
    for name, rare in tables.rare_in_train.items():
        held = tables.synthetic[name].isin(rare)
        per_column[name] = {
            "rare_categories": len(rare),
            "appearing": int(tables.synthetic.loc[held, name].nunique()),
            "synthetic_rows": int(held.sum()),
        }
    remedy = "declare `rare: merge` or `rare: suppress` for them in the schema"
    unit = RareUnit("row", "a category", "training records", "no column learned from the data has")
    return rare_verdict("rare categories", per_column, unit, min_count, remedy), per_column


@dataclass(frozen=True)
class RareUnit:
    """How a rare-value check counts: synthetic rows or patients, what they hold, and of whom in TRAIN."""

    synthetic: str  # "row", "patient"
    held: str  # "a category", "a code or category"
    owners: str  # "training records"
    nothing_rare: str  # the reason when TRAIN has no rare value at all


def rare_verdict(
    name: str, per_column: dict[str, dict[str, int]], unit: RareUnit, min_count: int, remedy: str
) -> Check:
    """FAIL when a synthetic row (patient) holds a value fewer than `min_count` TRAIN records (patients) hold, naming
    the columns and the remedy; `per_column` counts them under "synthetic_<unit>s"."""
    key = f"synthetic_{unit.synthetic}s"
    found = sum(figures[key] for figures in per_column.values())
    if found:
        columns = ", ".join(repr(column) for column, figures in per_column.items() if figures[key])
        reason = (
            f"{found} synthetic {unit.synthetic}s hold {unit.held} of fewer than {min_count} {unit.owners} "
            f"(columns {columns}): {remedy}"
        )
        return Check(name, Verdict.FAIL, reason)
    where = f"no synthetic {unit.synthetic} holds" if per_column else unit.nothing_rare
    return Check(name, Verdict.PASS, f"{where} {unit.held} of fewer than {min_count} {unit.owners}")


DISCLOSURE_KINDS = ("singling out", "linkability", "attribute inference")


def disclosure_checks(risks: list[DisclosureRisk], rules: PrivacyPolicy) -> list[Check]:
    """One check per kind of risk (singling out, linkability, attribute inference), judged by its worst case."""
    checks = []
    for kind in DISCLOSURE_KINDS:
        found = [risk for risk in risks if risk.name.startswith(kind)]
        if found:
            checks.append(disclosure_check(kind, found, rules))
    return checks


def _privacy(tables: EvaluationTables, quasi_identifiers: list[str] | None, k: int, policy: Policy, seed: int) -> Area:
    copies = exact_copies(tables)
    attacks = membership_inference(tables, seed=seed)
    risks = disclosure_risks(tables, seed=seed)
    rare_check, rare_figures = rare_category_check(tables, int(policy.privacy.rare_category_min_count))
    checks = [*privacy_checks(copies, attacks, policy.privacy), rare_check, *disclosure_checks(risks, policy.privacy)]
    figures: dict[str, Any] = {
        "disclosure_risks": [risk.to_dict() for risk in risks],
        "rare_categories": rare_figures,
        "exact_copies": copies.to_dict(),
        "distance_to_closest_record": distance_to_closest_record(tables, seed=seed).to_dict(),
        "membership_inference": [attack.to_dict() for attack in attacks],
        # it guesses binary/categorical values: a purely numeric table has none to disclose
        "attribute_disclosure": [result.to_dict() for result in attribute_disclosure(tables, seed=seed)]
        if has_inferable_attributes(tables)
        else [],
    }
    if quasi_identifiers:
        figures["k_anonymity"] = k_anonymity(tables, quasi_identifiers, k=k).to_dict()
    return Area(worst([c.verdict for c in checks]), tuple(checks), figures)


def evaluate(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    target: str | None = None,
    schema: Schema | None = None,
    quasi_identifiers: list[str] | None = None,
    k: int = 5,
    policy: Policy | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fidelity, utility (with a target) and privacy of `synthetic`, judged by `policy` (defaults documented).

    k-anonymity uses `quasi_identifiers`, or else the columns the schema marks `quasi_identifier: true`.
    """
    started = time.perf_counter()
    policy = policy or Policy()
    tables = prepare_tables(
        train, holdout, synthetic, schema, seed=seed, rare_min_count=int(policy.privacy.rare_category_min_count)
    )
    fidelity = _fidelity(tables, policy, seed)
    usefulness = utility_area(tables, target, policy, seed)
    privacy = _privacy(tables, quasi_identifiers or tables.schema.quasi_identifiers, k, policy, seed)
    about = {
        "rows": {"train": len(tables.train), "holdout": len(tables.holdout), "synthetic": len(tables.synthetic)},
        "columns": [c.name for c in tables.schema.modelled],
        "target": target,
        "seed": seed,
        "policy": policy.to_dict(),
        "seconds": time.perf_counter() - started,
    }
    return Evaluation(fidelity, usefulness, privacy, about)


def _holdout_attack_names(evaluation: Evaluation) -> set[str]:
    return {attack["name"] for attack in evaluation.privacy.figures.get("membership_inference", [])}


def membership_undecided(evaluation: Evaluation) -> bool:
    """Whether a holdout membership attack was inconclusive: the case the shadow-model game settles."""
    names = _holdout_attack_names(evaluation)
    return any(check.name in names and check.verdict is Verdict.INCONCLUSIVE for check in evaluation.privacy.checks)


def with_shadow_models(evaluation: Evaluation, shadow: ShadowMembership, policy: Policy | None = None) -> Evaluation:
    """`evaluation` with the shadow-model game's attacks as privacy checks and figures, its inconclusive holdout
    attacks settled by them under the policy (policy.settle_with_shadow_models)."""
    rules = (policy or Policy()).privacy
    shadow_checks = [
        membership_check(attack.name, attack.auc, attack.tpr_at_1pct_fpr, rules, attack.scored_non_members)
        for attack in shadow.attacks
    ]
    names = _holdout_attack_names(evaluation)
    holdout = [check for check in evaluation.privacy.checks if check.name in names]
    settled = {check.name: check for check in settle_with_shadow_models(holdout, shadow_checks)}
    checks = [settled.get(check.name, check) for check in evaluation.privacy.checks] + shadow_checks
    figures = {**evaluation.privacy.figures, "shadow_membership": shadow.to_dict()}
    privacy = Area(worst([check.verdict for check in checks]), tuple(checks), figures)
    return replace(evaluation, privacy=privacy)
