"""The code style is checked with the tests: ruff (config in pyproject.toml, lines of at most 120 characters)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    done = subprocess.run([ruff, "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_reference_to_files_users_do_not_have():
    """Code, docs and outputs cite docs/ and the papers, never internal notes or issue numbers."""
    # a pattern, not the literal names, so that this file does not cite them itself
    internal = re.compile(r"\b(?:PAPER|DESIGN)\.md|\.\./shared\b|\bissue #?\d")
    offenders = []
    for path in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), *REPO.glob("**/*.py")]:
        if ".git" in path.parts:
            continue
        for match in internal.finditer(path.read_text(errors="ignore")):
            offenders.append(f"{path.relative_to(REPO)}: {match.group()}")
    assert not offenders, offenders


def test_integers_are_checked_in_one_place():
    """User input is validated through flatland_env/validation.py, not by inline isinstance chains."""
    inline = re.compile(r"isinstance\([^)]*\bbool\) or not isinstance")
    offenders = [f"{path.relative_to(REPO)}:{n}" for pkg in ("flatland_env", "vae", "agents", "experiments", "acting")
                 for path in (REPO / pkg).rglob("*.py") if path.name != "validation.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if inline.search(line)]
    assert not offenders, offenders


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
