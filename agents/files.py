"""Run outputs on disk: atomic writes with the user's permissions, a writable run folder, no stale temp files.

Every file a run writes goes through a temporary file in the same folder and a rename, so
a crash or a kill never leaves a half-written ``metrics.json`` or ``run.json``; the
temporary files of a crashed run are removed when the next run starts in that folder.
Files get the permissions the user's umask allows (``tempfile`` alone would make them 0600).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: the suffix of every temporary file written here (and by agents.checkpoint)
TMP_SUFFIX = ".tmp"


def umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, with umask-respecting permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic, strict JSON (NaN and inf are refused: convert them to None first)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def prepare_dir(path: str | os.PathLike, what: str = "run folder", remove_stale: bool = True) -> Path:
    """Create a folder (and parents), check it is writable, and remove temp files a crash left there.

    Raises ValueError naming the folder and what is wrong, before anything is written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test.", suffix=TMP_SUFFIX):
            pass
    except OSError as e:
        raise ValueError(f"{what} {str(path)!r} is not writable: {e.strerror or e}") from None
    if remove_stale:
        for stale in path.glob(f"*{TMP_SUFFIX}"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
    return path
