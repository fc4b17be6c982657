"""Which code made a result: the git commit, whether the source tree differed from it, the package versions.

Recorded in every run's ``run.json`` and ``metrics.json``, so that the reproduction driver can
tell a kept result made by the current code from one the code has since changed under
(:func:`changed_since`). Outside a git checkout the commit is None and nothing is called stale
for want of one.
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: the repository: the folder above this package
REPO = Path(__file__).resolve().parents[2]

#: the folders whose code makes results; a change elsewhere (docs, results, tests) changes no result
SOURCE_DIRS = ("agents", "vae", "flatland_env", "experiments")

#: the installed distributions whose versions a result records
PACKAGES = ("torch", "numpy", "gymnasium", "stable-baselines3", "scipy", "scikit-learn", "tyro")


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    return {p: _version(p) for p in PACKAGES}


def provenance() -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": whether the source folders differ from it, "packages": versions}``."""
    head = _git("rev-parse", "HEAD")
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else None
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--", *SOURCE_DIRS)
        dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return {"commit": commit, "dirty": dirty, "packages": package_versions()}


def changed_since(made_by: dict[str, Any] | None) -> str | None:
    """Why a result made by ``made_by`` (a :func:`provenance` record) may not be what today's code gives, or None
    when its source folders are the same. Unknown provenance is a reason; no git here is not."""
    if not made_by or not made_by.get("commit"):
        return "it records no code version"
    commit = made_by["commit"]
    if made_by.get("dirty"):
        return f"it was made from uncommitted changes on top of {commit[:10]}"
    diff = _git("diff", "--quiet", commit, "--", *SOURCE_DIRS)
    if diff is None or diff.returncode not in (0, 1):
        return None if _git("rev-parse", "HEAD") is None else f"its commit {commit[:10]} is not in this checkout"
    return f"the code changed since its commit {commit[:10]}" if diff.returncode == 1 else None
