"""The privacy section of a report: copies, distances, membership and attribute inference against a baseline.

Tables and sequences are attacked the same way, so both kinds of report show this section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synthmed.report import html, plots


def privacy_section(area: Mapping[str, Any]) -> str:
    parts = []
    copies = area.get("exact_copies") or {}
    if copies:
        parts.append("<h3>Exact copies</h3>")
        parts.append(
            html.table(
                ("Figure", "Synthetic", "Real holdout (reference)"),
                [
                    (
                        "Rows that copy a training row",
                        html.estimate(copies.get("synthetic_in_train"), html.percent),
                        html.estimate(copies.get("holdout_in_train"), html.percent),
                    ),
                    (
                        "Rows unique in training data that reappear",
                        html.estimate(copies.get("unique_exact_match"), html.percent),
                        html.estimate(copies.get("unique_exact_match_baseline"), html.percent),
                    ),
                ],
            )
        )
    distances = area.get("distance_to_closest_record") or {}
    if distances:
        parts.append("<h3>Distance to closest record</h3>")
        parts.append(
            html.table(
                ("Figure", "Synthetic", "Fresh real rows"),
                [
                    (
                        "Chance a row lies nearer a training row than a holdout row lies",
                        html.estimate(distances.get("nearer_than_holdout"), html.percent),
                        "50%",
                    ),
                    (
                        "Rows nearer a training row than the 5% nearest holdout rows",
                        html.estimate(distances.get("near_copy_share"), html.percent),
                        "5%",
                    ),
                    (
                        "Rows closer to a training row than to any holdout row",
                        html.estimate(distances.get("closer_to_train_share"), html.percent),
                        "50%",
                    ),
                ],
            )
        )
        parts.append(
            html.figure(
                plots.distance_to_closest_record_plot(distances),
                "Quantiles of distance from synthetic rows to the closest training and holdout row",
            )
        )
    attacks = area.get("membership_inference") or []
    if attacks:
        parts.append("<h3>Membership inference</h3>")
        rows = [
            (
                html.text(str(attack.get("name", "")).replace("_", " ")),
                html.estimate(attack.get("auc")),
                html.estimate(attack.get("tpr_at_1pct_fpr")),
                html.estimate(attack.get("advantage")),
                html.text(f"{attack.get('scored_members', 'n/a')} / {attack.get('scored_non_members', 'n/a')}"),
            )
            for attack in attacks
        ]
        parts.append(
            html.table(("Attack", "AUC (0.5 = chance)", "TPR at 1% FPR", "Advantage", "Members / non-members"), rows)
        )
        parts.append(html.figure(plots.membership_roc_plot(attacks), "ROC curves of the membership-inference attacks"))
    risks = area.get("disclosure_risks") or []
    if risks:
        parts.append(_disclosure_section(risks))
    shadow = area.get("shadow_membership")
    if shadow:
        parts.append(_shadow_section(shadow))
    anonymity = area.get("k_anonymity")
    if anonymity:
        parts.append("<h3>k-anonymity of the synthetic data</h3>")
        rows = [
            ("Quasi-identifiers", html.text(", ".join(str(q) for q in anonymity.get("quasi_identifiers") or []))),
            ("k", html.text(anonymity.get("k", "n/a"))),
            ("Smallest group", html.text(anonymity.get("smallest_class", "n/a"))),
            ("Groups smaller than k", html.text(anonymity.get("rare_classes", "n/a"))),
            ("Rows in groups smaller than k", html.percent(anonymity.get("rare_row_share"))),
            ("Of those groups, also rare in training data", html.text(anonymity.get("rare_classes_in_train", "n/a"))),
        ]
        parts.append(html.table(("Figure", "Value"), rows))
    disclosures = area.get("attribute_disclosure") or []
    if disclosures:
        parts.append("<h3>Attribute disclosure</h3>")
        rows = [
            (
                html.text(result.get("known_attributes", "n/a")),
                html.text(result.get("attacked_records", "n/a")),
                html.estimate(result.get("precision")),
                html.estimate(result.get("baseline_precision")),
                html.estimate(result.get("sensitivity")),
                html.estimate(result.get("baseline_sensitivity")),
            )
            for result in disclosures
        ]
        parts.append(
            html.table(
                (
                    "Attributes known",
                    "Records attacked",
                    "Precision",
                    "Baseline precision",
                    "Sensitivity",
                    "Baseline sensitivity",
                ),
                rows,
                numeric_from=0,
            )
        )
        parts.append(
            '<p class="muted">The baseline uses real holdout data in place of the synthetic data: '
            "disclosure above it is what the synthetic data adds.</p>"
        )
    return "".join(parts)


def _shadow_section(shadow: Mapping[str, Any]) -> str:
    """The shadow-model game: attacks over every (record, generator) trial, and the empirical epsilon."""
    attacks = shadow.get("attacks") or []
    rows = [
        (
            html.text(str(attack.get("name", ""))),
            html.estimate(attack.get("auc")),
            html.estimate(attack.get("tpr_at_1pct_fpr")),
            html.estimate(attack.get("atypical_auc")),
            html.text(f"{attack.get('scored_members', 'n/a')} / {attack.get('scored_non_members', 'n/a')}"),
        )
        for attack in attacks
    ]
    return "".join(
        [
            "<h3>Membership inference on shadow models</h3>",
            f'<p class="muted">{html.text(shadow.get("models", "n/a"))} generators trained the released way on '
            f"random halves of {html.text(shadow.get('records', 'n/a'))} real records (training and holdout): "
            "each record is a member of half of them. Empirical epsilon (95% lower bound): "
            f"{html.number(shadow.get('empirical_epsilon'), 2)}; "
            f"the game took {html.number(shadow.get('seconds'), 0)} s.</p>",
            html.table(
                ("Attack", "AUC (0.5 = chance)", "TPR at 1% FPR", "AUC on outliers", "Member / non-member trials"),
                rows,
            ),
            html.figure(plots.membership_roc_plot(attacks), "ROC curves of the shadow-model attacks"),
        ]
    )


def _disclosure_section(risks: list[Mapping[str, Any]]) -> str:
    """Singling out, linkability and attribute inference (Giomi et al. 2023), each beside its control and baseline."""
    rows = [
        (
            html.text(risk.get("name", "")),
            html.text(risk.get("attacks", "n/a")),
            html.estimate(risk.get("attack_rate"), html.percent),
            html.estimate(risk.get("control_rate"), html.percent),
            html.estimate(risk.get("baseline_rate"), html.percent),
            html.estimate(risk.get("risk")),
        )
        for risk in risks
    ]
    return "".join(
        [
            "<h3>Disclosure risks</h3>",
            html.table(
                ("Attack", "Attacks", "Success on training records", "On holdout (control)", "By chance", "Risk"),
                rows,
            ),
            '<p class="muted">Risk = (success - control) / (1 - control), 0 = nothing disclosed beyond what any good '
            "synthetic data tells about the population (Giomi et al. 2023, the method of anonymeter).</p>",
        ]
    )
