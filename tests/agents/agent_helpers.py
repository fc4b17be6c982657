"""Tiny agents for fast tests: a small network, small batches, two vector envs."""

from __future__ import annotations

from agents import AGENTS, BaseAgent
from flatland_env.pairs import PairSourceConfig

#: a tiny network and small batches: a few dozen updates take seconds on one core
TINY = dict(batch_size=16, channels=(8, 8, 8, 8), hidden=32, seed=0)
#: two vector envs feed it
TINY_DATA = dict(num_envs=2)

def tiny_agent(model: str = "rgrvae", data: dict | None = None, **overrides) -> BaseAgent:
    """A tiny agent of a registered model on FlatLand (data: PairSourceConfig overrides)."""
    return AGENTS[model](PairSourceConfig(**{**TINY_DATA, **(data or {})}), **{**TINY, **overrides})
