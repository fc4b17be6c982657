"""The callback protocol of ``learn``, SB3-style: the base class and a list of callbacks.

A callback sees the agent and, at every update, the update's scalars and the batch's ground
truth (true actions and factors). The ground truth goes to logging only: it is never passed
to a learner, and a callback may not change the weights (``learn`` checks). The callbacks
that log, checkpoint and handle signals live in the run layer, :mod:`agents.training.callbacks`.
"""

from __future__ import annotations

from typing import Any

from flatland_env.pairs import GroundTruth, PairBatch


class BaseCallback:
    """Override any hook; returning False from on_step stops training."""

    def on_training_start(self, agent: Any, total_steps: int) -> None:
        pass

    def on_step(self, agent: Any, stats: dict[str, float], batch: PairBatch, truth: GroundTruth) -> bool:
        return True

    def on_training_end(self, agent: Any) -> None:
        pass


class CallbackList(BaseCallback):
    """Several callbacks in order; training stops when any one asks to."""

    def __init__(self, callbacks: list[BaseCallback]) -> None:
        self.callbacks = list(callbacks)

    def on_training_start(self, agent: Any, total_steps: int) -> None:
        for c in self.callbacks:
            c.on_training_start(agent, total_steps)

    def on_step(self, agent: Any, stats: dict[str, float], batch: PairBatch, truth: GroundTruth) -> bool:
        return all([c.on_step(agent, stats, batch, truth) for c in self.callbacks])

    def on_training_end(self, agent: Any) -> None:
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
