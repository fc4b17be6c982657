"""Speed of the worlds: steps/s of one env through gym.make, transitions/s of the 8-env collector.

``python scripts/benchmark_env.py`` (targets on a 2-core machine: FlatLand >= 20,000 steps/s,
collector >= 200,000 transitions/s). Sprites is rendered procedurally; its numbers are for
information.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tyro


@dataclass
class Args:
    steps: int = 50_000
    """single-env steps to time (FlatLand; Sprites gets a tenth)"""
    transitions: int = 500_000
    """collector transitions to time (FlatLand; Sprites gets a tenth)"""
    batch_size: int = 1024
    """collector batch size"""
    num_envs: int = 8
    k: int = 1
    """actions between the two frames of a pair"""


def single_env_rate(env_id: str, steps: int) -> float:
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=steps).tolist()
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def collector_rate(env_id: str, transitions: int, batch_size: int, num_envs: int, k: int) -> float:
    from flatland_env.transitions import TransitionCollector

    with TransitionCollector(env_id, num_envs=num_envs, k=k, seed=0) as collector:
        collector.collect(batch_size)  # warm-up: frame cache, first chunk
        start, done = time.perf_counter(), 0
        for batch in collector.stream(batch_size):
            done += len(batch)
            if done >= transitions:
                break
        return done / (time.perf_counter() - start)


def main() -> None:
    args = tyro.cli(Args)
    import flatland_env  # noqa: F401  (registers the worlds)

    for env_id, share in (("FlatLand-v0", 1), ("Sprites-v0", 10)):
        steps = single_env_rate(env_id, args.steps // share)
        pairs = collector_rate(env_id, args.transitions // share, args.batch_size, args.num_envs, args.k)
        print(f"{env_id:<12} gym.make: {steps:>10,.0f} steps/s   "
              f"collector ({args.num_envs} envs, k={args.k}, batch {args.batch_size}): {pairs:>10,.0f} transitions/s")


if __name__ == "__main__":
    main()
