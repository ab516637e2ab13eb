"""Output files: checked before any work starts, and written whole or not at all.

Every file synthmed writes goes through `check_output` (before training, so a bad path costs seconds, not
hours) and `atomic_output` (a temporary name beside the destination, renamed into place once complete), so a
full disk or a crash leaves nothing behind and a failed write is a synthmed error with a remedy.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synthmed.errors import OutputError

OVERWRITE_REMEDY = "pass --overwrite (Python: overwrite=True) to replace it, or choose another name"
_REMEDIES = {
    errno.ENOSPC: "free disk space, or write to another disk",
    errno.EDQUOT: "free space within your disk quota, or write elsewhere",
    errno.EFBIG: "the file is larger than this system allows: write to another disk, or write fewer rows",
    errno.EACCES: "choose a location you may write to",
    errno.EPERM: "choose a location you may write to",
    errno.EROFS: "the disk is read-only: choose another location",
}


def _problem(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _remedy(error: OSError) -> str:
    return _REMEDIES.get(error.errno or 0, "check the location and try again")


def _existing_folder(path: Path) -> Path:
    """The nearest folder above `path` that exists (where `mkdir(parents=True)` would start); a file there is
    an error, since no folder can be made inside it."""
    for candidate in path.parents:
        if candidate.exists():
            if not candidate.is_dir():
                raise OutputError(
                    f"cannot write {str(path)!r}: {str(candidate)!r} is a file, not a folder",
                    remedy="choose another location",
                )
            return candidate
    raise OutputError(f"cannot write {str(path)!r}: none of its folders exists", remedy="choose another location")


def check_output(path: str | os.PathLike[str], *, overwrite: bool = True, example: str = "") -> Path:
    """Refuse an output that cannot be written (a folder, an existing file without `overwrite`, a parent that
    is a file, a folder that refuses new files), by trying to create a file there. `example` is a file name
    the remedy suggests."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            f"{str(path)!r} is a folder", remedy="give a file name" + (f", e.g. {example}" if example else "")
        )
    if path.exists() and not overwrite:
        raise OutputError(f"{str(path)!r} already exists", remedy=OVERWRITE_REMEDY)
    folder = _existing_folder(path)
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".synthmed-probe-", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(
            f"cannot write {str(path)!r}: the folder {str(folder)!r} refuses new files ({_problem(error)})",
            remedy=_remedy(error),
        ) from None
    return path


def check_new_folder(path: str | os.PathLike[str]) -> Path:
    """Refuse a folder to be created that exists already or cannot be created."""
    path = Path(path)
    if path.exists():
        raise OutputError(f"{str(path)!r} already exists", remedy="choose a new folder, or remove it")
    check_output(path)
    return path


def check_folder(path: str | os.PathLike[str]) -> Path:
    """Refuse a folder to write into (a checkpoint folder) that is a file or cannot take new files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{str(path)!r} is a file, not a folder", remedy="give a folder name")
    check_output(path / ".synthmed-probe")
    return path


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; it becomes `path` only when the block completes.

    Any failure removes what was written; an OSError (a full disk, a lost permission) becomes an OutputError.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"could not write {str(path)!r}: {_problem(error)}", remedy=_remedy(error)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (JSON, YAML, Markdown) whole or not at all."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
