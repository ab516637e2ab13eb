"""The shareable generator file: `model.json` + `weights.safetensors`, in a zip or a folder.

Neither part can run code when read (JSON and safetensors, never pickle), and neither holds training rows:
only network weights and the per-column values listed in `synthmed.data.transform`. The zip's bytes depend on
its content alone (fixed member timestamps and permissions), so the same data, seed and version give the same
file. A file that cannot be read, whatever the damage, is an `ArtifactError` naming the file and a remedy.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synthmed.data.files import atomic_output, check_output
from synthmed.errors import ArtifactError

FORMAT = "synthmed-generator"
FORMAT_VERSION = 1
META_NAME = "model.json"
WEIGHTS_NAME = "weights.safetensors"
# zip's earliest representable time: a member's timestamp must not depend on when it was written
MEMBER_TIME = (1980, 1, 1, 0, 0, 0)
DAMAGED_REMEDY = "use an undamaged copy of the file (it was corrupted or edited), or fit the generator again"
# What model.json must hold, and of which JSON type, for a generator to be rebuilt from it.
REQUIRED_META = {
    "model": str,
    "hyperparameters": dict,
    "seed": int,
    "data": dict,
    "schema": dict,
    "transformer": dict,
    "history": dict,
}


def check_output_path(path: str | Path, *, overwrite: bool = True) -> Path:
    """Refuse an unusable destination before hours of training, not after (see data/files.py)."""
    return check_output(path, overwrite=overwrite, example="model.smg")


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=MEMBER_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_artifact(
    path: str | Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], *, overwrite: bool = True
) -> Path:
    """Write the zip archive atomically (temporary name, then rename): a failure never leaves half a model."""
    path = check_output_path(path, overwrite=overwrite)
    payload = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    document = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **meta}, indent=2)
    with atomic_output(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        archive.writestr(_member(META_NAME), document)
        archive.writestr(_member(WEIGHTS_NAME), save_tensors(payload))
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


def _check_meta(path: Path, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ArtifactError(f"{str(path)!r} is damaged: {META_NAME} is not a JSON object", remedy=DAMAGED_REMEDY)
    if meta.get("format") != FORMAT or not isinstance(meta.get("format_version"), int):
        raise ArtifactError(
            f"{str(path)!r} is not a synthmed generator ({META_NAME} has format {meta.get('format')!r})",
            remedy="pass a file written by `synthmed fit` or `model.save`",
        )
    if meta["format_version"] > FORMAT_VERSION:
        raise ArtifactError(
            f"{str(path)!r} has format version {meta['format_version']}; this synthmed reads up to {FORMAT_VERSION}",
            remedy="upgrade synthmed",
        )
    wrong = [key for key, kind in REQUIRED_META.items() if not isinstance(meta.get(key), kind)]
    if wrong:
        raise ArtifactError(
            f"{str(path)!r} is damaged: {META_NAME} lacks or garbles {', '.join(map(repr, wrong))}",
            remedy=DAMAGED_REMEDY,
        )
    return meta


def read_artifact(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read (metadata, weights); only the two named members are read, nothing is extracted to disk."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file {str(path)!r} does not exist", remedy="check the path")
    try:
        meta_bytes, weight_bytes = _read_parts(path)
        meta = json.loads(meta_bytes)
        tensors = load_tensors(weight_bytes)
    except ArtifactError:
        raise
    except Exception as error:  # whatever the damage (zip, deflate, JSON, safetensors), one message and remedy
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ArtifactError(f"{str(path)!r} is damaged ({detail[:200]})", remedy=DAMAGED_REMEDY) from None
    return _check_meta(path, meta), tensors
