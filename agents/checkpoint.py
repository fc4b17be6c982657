"""Checkpoints that cannot run code, are written atomically, and are verified when read.

A checkpoint file is a short header, the SHA-256 of the payload, then one ``torch.save``
payload holding only tensors, numbers, strings, lists and dicts. It is read back with
``torch.load(weights_only=True)``, so a crafted file can never execute code, and only after
the hash matches, so a corrupted file gets a clear error instead of silently wrong weights.
Every tensor must be finite: a checkpoint with NaN or inf weights is never written, and
one that holds them is refused on load, naming the tensor.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from agents.files import atomic_write_bytes

FORMAT = "symmetry-agents/2"
MAGIC = b"SYMMETRY-AGENTS-CHECKPOINT\n"


class CheckpointError(ValueError):
    """The file is missing, corrupt, non-finite or not a checkpoint of this toolkit."""


def _tensors(obj: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{path}[{i}]")


def first_non_finite(obj: Any) -> str | None:
    """The path of the first floating tensor in ``obj`` holding NaN or inf, or None."""
    for name, t in _tensors(obj):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def numpy_to_torch(obj: Any) -> Any:
    """numpy arrays -> tensors, recursively (weights_only loading accepts tensors, not arrays)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, dict):
        return {k: numpy_to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [numpy_to_torch(v) for v in obj]
    return obj


def torch_to_numpy(obj: Any) -> Any:
    """The inverse of :func:`numpy_to_torch`."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: torch_to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [torch_to_numpy(v) for v in obj]
    return obj


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file in the same folder, then rename).

    Raises CheckpointError, writing nothing, if a tensor is not finite.
    """
    bad = first_non_finite(payload)
    if bad is not None:
        raise CheckpointError(f"refusing to save a checkpoint whose tensor {bad!r} holds NaN or inf")
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    body = buffer.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def load_checkpoint(path: str | os.PathLike, expected_algo: str | None = None) -> dict[str, Any]:
    """Read a checkpoint safely; raise CheckpointError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    if not raw.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit (format {FORMAT!r})")
    digest, _, body = raw[len(MAGIC):].partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise CheckpointError(f"{path} is corrupt: its content does not match the hash it was saved with")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError) as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (it holds objects other than tensors and plain data, which are "
            f"refused so that loading cannot run code): {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit (expected format {FORMAT!r})")
    if expected_algo is not None and payload.get("algo") != expected_algo:
        raise CheckpointError(f"{path} holds a {payload.get('algo')!r} checkpoint, not {expected_algo!r}")
    bad = first_non_finite(payload)
    if bad is not None:
        raise CheckpointError(f"{path} holds non-finite values (NaN or inf) in tensor {bad!r}; it cannot be used")
    return payload
