"""Small, fast agent configs for tests; one torch thread (a shared 2-core machine thrashes with two)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from agent_helpers import TINY

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


def load_script(name: str):
    """Import scripts/<name>.py as a module (scripts are not a package)."""
    key = f"scripts_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def train_script():
    return load_script("train_agent")


@pytest.fixture(name="load_script", scope="session")
def load_script_fixture():
    return load_script
