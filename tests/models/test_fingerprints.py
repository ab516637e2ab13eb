"""Refactoring guard: every model, with and without DP, generates the same bytes as the recorded fingerprints.

`fingerprints.json` beside this file holds one recording per environment: the torch, numpy and pandas versions and
the CPU's kind (its vendor and the vector instructions torch uses: MKL and torch's kernels round differently on an
Intel AVX-512 machine than on an AMD AVX2 one), each made with one thread. Training code may change shape freely,
but a change that alters what a fixed seed generates (or what a private run spends) must be deliberate: rerun
`python -m tests.models.test_fingerprints` on each kind of machine and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import synthmed
from synthmed.data.timeseries import to_long
from synthmed.models import MODELS, Synthesizer
from tests.models.tables import mixed_patients

RECORD = Path(__file__).with_name("fingerprints.json")
DP_EPSILON = 3.0


def _mixed() -> pd.DataFrame:
    return mixed_patients().drop(columns="patient_id")


def _codes() -> np.ndarray:
    return (np.random.default_rng(0).random((120, 15)) < 0.3).astype(np.int64)


def _public() -> tuple[pd.DataFrame, synthmed.Schema]:
    """A table whose every domain is declared, as differential privacy requires."""
    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        {
            "age": rng.normal(60, 10, 300).round(1),
            "ward": rng.choice(["cardiology", "oncology", "surgery"], 300),
            "diabetic": rng.integers(0, 2, 300),
        }
    )
    schema = {
        "age": {"kind": "continuous", "min": 0, "max": 120},
        "ward": {"kind": "categorical", "categories": ["cardiology", "oncology", "surgery"]},
        "diabetic": {"kind": "binary", "categories": [0, 1], "share": 0.3},
    }
    return table, synthmed.Schema.from_dict({"columns": schema})


def _waves() -> np.ndarray:
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 2 * np.pi, (24, 1))
    signal = np.sin(2 * np.pi * np.arange(16) / 8 + phase)
    return np.stack([signal, -2.0 * signal + 5.0], axis=2)


FAST = {
    "medgan": {"epochs": 3, "pretrain_epochs": 2, "batch_size": 32, "pretrain_batch_size": 32},
    "vae": {"epochs": 3, "batch_size": 32},
    "corgan": {"epochs": 2, "pretrain_epochs": 2, "batch_size": 32, "warmup_critic_steps": 5},
    "wgangp": {"epochs": 3, "batch_size": 32},
    "tabgan": {"epochs": 3, "batch_size": 40, "generator_dims": [32], "critic_dims": [32], "max_modes": 3},
}
SEQUENCES = {"epochs": 2, "min_steps": 0, "batch_size": 8, "generator_widths": [16, 8], "discriminator_widths": [8, 16]}
EXTENDED = {
    "medgan": {"cooccurrence_weight": 1.0, "binary_rounding": "calibrated", "start_at_frequencies": True},
    "corgan": {"architecture": "mlp", "binary_rounding": "calibrated", "quantile_knots": 11},
}


def fit_case(case: str) -> Synthesizer:
    """The model of one recorded case (`name/variant`), fitted with seed 0."""
    name, variant = case.split("/")
    model_name = name if name in MODELS else "tsgan"
    params = {**FAST.get(model_name, SEQUENCES), **(EXTENDED[model_name] if variant == "extended" else {}), "seed": 0}
    data = {"table": _mixed, "codes": _codes, "extended": _codes, "waves": _waves, "dp": _public}[variant]()
    if model_name == "corgan" and variant == "extended":
        data = _public()
    options: dict[str, Any] = {"dp_epsilon": DP_EPSILON} if variant == "dp" else {}
    if isinstance(data, tuple):
        data, options["schema"] = data
    return MODELS[model_name](**params).fit(data, progress=False, **options)


def fingerprint(model: Synthesizer) -> dict[str, Any]:
    """A digest of 60 rows sampled with seed 5 and, for a private model, what it spent and how."""
    sample = model.sample(60, seed=5)
    if isinstance(sample, np.ndarray) and sample.ndim == 3:
        sample = to_long(sample, model.transformer_.columns)
    raw = sample.to_csv(index=False).encode() if isinstance(sample, pd.DataFrame) else np.ascontiguousarray(sample)
    record: dict[str, Any] = {"sample": hashlib.sha256(raw).hexdigest()}
    if model.privacy_ is not None:
        spent = model.privacy_
        record["privacy"] = {
            "epsilon": round(spent["epsilon"], 6),
            "noise_multiplier": round(spent["noise_multiplier"], 6),
            "phases": spent["phases"],
            "adaptations": sorted(spent["adaptations"]),
        }
    return record


PRIVATE_MODELS = ("medgan", "vae", "wgangp", "corgan", "tabgan")
CASES = sorted(
    [
        *(f"{name}/table" for name in FAST),
        *(f"{name}/codes" for name in ("medgan", "corgan", "vae")),
        "medgan/extended",
        "corgan/extended",
        "tsgan/waves",
        *(f"{name}/dp" for name in PRIVATE_MODELS),  # checked by the common DP suite (test_private_training.py)
    ]
)


def _cpu_vendor() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _environment() -> dict[str, str]:
    cpu = f"{_cpu_vendor()} {torch.backends.cpu.get_cpu_capability()}"
    return {"torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__, "cpu": cpu}


def recorded(case: str) -> dict[str, Any]:
    """The fingerprint recorded for `case` in this environment, or a skip when none was recorded in it."""
    recordings = json.loads(RECORD.read_text())["recordings"]
    for recording in recordings:
        if recording["environment"] == _environment():
            return recording["cases"][case]
    known = [recording["environment"] for recording in recordings]
    pytest.skip(f"fingerprints were recorded in {known}, none in this environment, {_environment()}")


@pytest.mark.parametrize("case", [case for case in CASES if not case.endswith("/dp")])
def test_a_fixed_seed_generates_the_recorded_bytes(case: str) -> None:
    assert fingerprint(fit_case(case)) == recorded(case)


def _record() -> None:
    torch.set_num_threads(1)
    cases = {case: fingerprint(fit_case(case)) for case in CASES}
    others = [r for r in json.loads(RECORD.read_text())["recordings"] if r["environment"] != _environment()]
    recordings = [*others, {"environment": _environment(), "cases": cases}]
    RECORD.write_text(json.dumps({"recordings": recordings}, indent=1) + "\n")


if __name__ == "__main__":
    _record()
