"""The shareable generator file: `model.json` + `weights.safetensors`, in a zip or a folder.

Neither part can run code when read (JSON and safetensors, never pickle), and neither holds training rows:
only network weights and the per-column values listed in `synthmed.data.transform`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synthmed.errors import ArtifactError

FORMAT = "synthmed-generator"
FORMAT_VERSION = 1
META_NAME = "model.json"
WEIGHTS_NAME = "weights.safetensors"


def check_output_path(path: str | Path) -> Path:
    """Refuse an unusable destination before hours of training, not after."""
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{str(path)!r} is a folder", remedy="give a file name, e.g. model.smg")
    return path


def write_artifact(path: str | Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """Write a zip archive atomically (temporary name, then rename): a crash never leaves half a model."""
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    document = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **meta}, indent=2)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META_NAME, document)
        archive.writestr(WEIGHTS_NAME, save_tensors(payload))
    partial.replace(path)
    return path


def _read_parts(path: Path) -> tuple[bytes, bytes]:
    if path.is_dir():
        parts = [path / META_NAME, path / WEIGHTS_NAME]
        absent = [p.name for p in parts if not p.is_file()]
        if absent:
            raise ArtifactError(
                f"the folder {str(path)!r} lacks {', '.join(absent)}",
                remedy="point to a folder holding model.json and weights.safetensors",
            )
        return parts[0].read_bytes(), parts[1].read_bytes()
    if not zipfile.is_zipfile(path):
        raise ArtifactError(
            f"{str(path)!r} is not a synthmed generator (expected a zip archive)",
            remedy="pass a file written by `synthmed fit` or `model.save`",
        )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if not {META_NAME, WEIGHTS_NAME} <= names:
            raise ArtifactError(
                f"{str(path)!r} lacks {META_NAME} or {WEIGHTS_NAME}",
                remedy="pass a file written by `synthmed fit` or `model.save`",
            )
        return archive.read(META_NAME), archive.read(WEIGHTS_NAME)


def read_artifact(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read (metadata, weights); only the two named members are read, nothing is extracted to disk."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file {str(path)!r} does not exist", remedy="check the path")
    meta_bytes, weight_bytes = _read_parts(path)
    try:
        meta = json.loads(meta_bytes)
        tensors = load_tensors(weight_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError) as error:
        raise ArtifactError(f"{str(path)!r} is damaged: {error}") from None
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise ArtifactError(
            f"{str(path)!r} has format {meta.get('format')!r} version {meta.get('format_version')!r}; "
            f"this synthmed reads {FORMAT!r} up to version {FORMAT_VERSION}",
            remedy="upgrade synthmed or re-export the generator",
        )
    return meta, tensors
