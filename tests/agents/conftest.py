"""Small, fast agent configs for tests; one torch thread (a shared 2-core machine thrashes with two)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from agent_helpers import TINY

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny() -> dict:
    return dict(TINY)


@pytest.fixture(scope="session")
def train_script(load_script):  # load_script: tests/conftest.py
    return load_script("train_agent")
