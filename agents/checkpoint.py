"""Checkpoints that cannot run code, written atomically.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and
dicts. It is read back with ``torch.load(weights_only=True)``, so a crafted file can
never execute code; anything that is not one of ours gets a clear error instead.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "symmetry-agents/1"


class CheckpointError(ValueError):
    """The file is missing, corrupt or not a checkpoint of this toolkit."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, expected_algo: str | None = None) -> dict[str, Any]:
    """Read a checkpoint safely; raise CheckpointError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError) as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or it holds objects other than "
            f"tensors and plain data, which are refused so that loading cannot run code): "
            f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit (expected format {FORMAT!r})")
    if expected_algo is not None and payload.get("algo") != expected_algo:
        raise CheckpointError(f"{path} holds a {payload.get('algo')!r} checkpoint, not {expected_algo!r}")
    return payload
