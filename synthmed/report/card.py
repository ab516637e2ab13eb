"""Model card: what a released synthetic dataset came from and how it was judged, generated, never hand-written.

The card names the model and its hyperparameters, seeds, versions, a fingerprint of the training data (a hash,
the row and column counts and the column names; never a value), the privacy budget when training was
differentially private, the evaluation's verdicts and headline figures, and the intended use.
"""

from __future__ import annotations

import hashlib
import platform
from typing import Any

import pandas as pd

INTENDED_USE = (
    "Synthetic records for method development, teaching, software testing and exploratory analysis outside the "
    "secure environment. Not for clinical decisions about any patient, and not a substitute for the real data in "
    "confirmatory research: figures computed on it carry the distortions the fidelity and utility checks report."
)


def table_fingerprint(table: pd.DataFrame) -> dict[str, Any]:
    """A SHA-256 of the table's canonical CSV, its shape and column names: identifies the data, reveals no value."""
    digest = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
    return {"sha256": digest, "rows": len(table), "columns": len(table.columns), "names": list(table.columns)}


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for package in ("synthmed", "torch", "numpy", "pandas", "scikit-learn", "opacus"):
        try:
            found[package] = version(package)
        except Exception:  # a package not installed is simply not listed
            continue
    return found


def _headlines(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        area: {
            "verdict": evaluation[area]["verdict"],
            "checks": [
                {"name": check["name"], "verdict": check["verdict"], "reason": check["reason"]}
                for check in evaluation[area]["checks"]
            ],
        }
        for area in ("fidelity", "utility", "privacy")
    }


def model_card(
    evaluation: dict[str, Any],
    train: pd.DataFrame,
    synthetic_rows: int,
    generator: dict[str, Any] | None,
    k_anonymity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card as JSON-ready data; `generator` is the artifact's model.json, None when a file was vetted;
    `k_anonymity` what making the release k-anonymous changed (k, quasi-identifiers, rows replaced and dropped)."""
    card: dict[str, Any] = {
        "generator": None,
        "training_data": table_fingerprint(train),
        "synthetic_rows": synthetic_rows,
        "evaluation": _headlines(evaluation),
        "evaluation_seed": evaluation["about"]["seed"],
        "differential_privacy": None,
        "versions": _versions(),
        "intended_use": INTENDED_USE,
    }
    if generator is not None:
        card["generator"] = {
            "model": generator["model"],
            "hyperparameters": generator["hyperparameters"],
            "seed": generator["seed"],
            "versions_at_training": generator.get("versions"),
        }
        privacy = generator.get("privacy")
        if privacy:
            card["differential_privacy"] = {
                "epsilon": privacy["epsilon"],
                "delta": privacy["delta"],
                "mechanism": privacy["mechanism"],
                "accountant": privacy["accountant"],
                "adaptations": privacy.get("adaptations", {}),
            }
        rare = generator["transformer"].get("rare") if isinstance(generator.get("transformer"), dict) else None
        if rare is not None:  # a history model: what became of values few patients hold
            card["rare_values"] = {**rare, "changed": generator["transformer"].get("rare_notes", {})}
    if k_anonymity is not None:
        card["k_anonymity"] = k_anonymity
    return card


def card_markdown(card: dict[str, Any]) -> str:
    """MODEL_CARD.md: the same content as model_card.json, for people."""
    lines = ["# Model card: synthetic data release", ""]
    generator = card["generator"]
    if generator is None:
        lines += ["**Generator**: not given (an existing synthetic file was vetted).", ""]
    else:
        lines += [f"**Generator**: `{generator['model']}`, seed {generator['seed']}", "", "| hyperparameter | value |"]
        lines += ["|---|---|", *(f"| {k} | {v} |" for k, v in generator["hyperparameters"].items()), ""]
    data = card["training_data"]
    lines += [
        "## Training data (fingerprint only)",
        f"- SHA-256 of the table: `{data['sha256']}`",
        f"- {data['rows']} rows x {data['columns']} columns: {', '.join(data['names'])}",
        f"- Synthetic rows released: {card['synthetic_rows']}",
    ]
    if "k_anonymity" in card:
        made = card["k_anonymity"]
        lines.append(
            f"- Made {made['k']}-anonymous on {', '.join(made['quasi_identifiers'])}: {made['replaced']} rows "
            f"replaced by newly generated ones, {made['dropped']} dropped"
        )
    if "rare_values" in card:
        rare = card["rare_values"]
        lines.append(
            f"- Values held by fewer than {rare['min_patients']} patients: `{rare['policy']}` "
            f"({'; '.join(f'{column}: {what}' for column, what in rare['changed'].items()) or 'none found'})"
        )
    lines.append("")
    dp = card["differential_privacy"]
    lines += ["## Differential privacy", ""]
    if dp is None:
        lines += ["Not trained with differential privacy.", ""]
    else:
        budget = f"(ε = {dp['epsilon']:.3f}, δ = {dp['delta']:.2g})-DP"
        lines += [f"{budget} by {dp['mechanism']}, {dp['accountant']} accountant."]
        lines += [f"- {name}: {what}" for name, what in dp["adaptations"].items()]
        lines.append("")
    lines += ["## Evaluation", "", f"Seed {card['evaluation_seed']}.", ""]
    for area, result in card["evaluation"].items():
        lines += [f"### {area}: {result['verdict'].upper()}", ""]
        lines += [f"- {check['verdict']}: {check['name']}: {check['reason']}" for check in result["checks"]]
        lines.append("")
    lines += ["## Intended use", "", card["intended_use"], "", "## Versions", ""]
    lines += [f"- {name} {version}" for name, version in card["versions"].items()]
    return "\n".join(lines) + "\n"
