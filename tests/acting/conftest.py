"""The acting tests build their agents with the agents tests' helpers (tests/agents/agent_helpers.py);
one torch thread, as there (a shared 2-core machine thrashes with two)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))  # for `from agent_helpers import ...`
torch.set_num_threads(1)
