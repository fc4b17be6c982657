"""SB3-style training callbacks.

A callback sees the agent and, at every update, the update's scalars and the batch's
ground truth (true actions and factors). The ground truth goes to logging only: it is
never passed to a learner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agents.base import BaseAgent, PairBatch


@dataclass(frozen=True)
class GroundTruth:
    """Labels of a batch, for logging and evaluation only."""

    actions: np.ndarray  # (B, k) true actions between obs and next_obs
    factors: np.ndarray  # (B, F)
    next_factors: np.ndarray  # (B, F)


class BaseCallback:
    """Override any hook; returning False from on_step stops training."""

    def on_training_start(self, agent: "BaseAgent", total_steps: int) -> None:
        pass

    def on_step(self, agent: "BaseAgent", stats: dict[str, float], batch: "PairBatch", truth: GroundTruth) -> bool:
        return True

    def on_training_end(self, agent: "BaseAgent") -> None:
        pass


class CallbackList(BaseCallback):
    def __init__(self, callbacks: list[BaseCallback]) -> None:
        self.callbacks = list(callbacks)

    def on_training_start(self, agent: "BaseAgent", total_steps: int) -> None:
        for c in self.callbacks:
            c.on_training_start(agent, total_steps)

    def on_step(self, agent: "BaseAgent", stats: dict[str, float], batch: "PairBatch", truth: GroundTruth) -> bool:
        return all([c.on_step(agent, stats, batch, truth) for c in self.callbacks])

    def on_training_end(self, agent: "BaseAgent") -> None:
        for c in self.callbacks:
            c.on_training_end(agent)


def as_callback(callback: BaseCallback | list[BaseCallback] | None) -> BaseCallback:
    if callback is None:
        return BaseCallback()
    if isinstance(callback, BaseCallback):
        return callback
    if isinstance(callback, (list, tuple)) and all(isinstance(c, BaseCallback) for c in callback):
        return CallbackList(list(callback))
    raise ValueError(f"callback must be a BaseCallback, a list of them, or None; got {type(callback).__name__}")

