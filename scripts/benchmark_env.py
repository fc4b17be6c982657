"""Speed of the worlds: steps/s of one env through gym.make, transitions/s of the 8-env collector.

``python scripts/benchmark_env.py`` (targets on a 2-core machine: FlatLand >= 20,000 steps/s,
collector >= 200,000 transitions/s). Every discrete world is measured; procedurally drawn ones
(Sprites) get a tenth of the steps.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
    out: str = "results/benchmark/env.json"
    """where the measurements are kept (the README's table is made from it); empty: not written"""


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


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    import flatland_env

    rows = []
    for env_id in flatland_env.symmetry_world_ids():
        world = flatland_env.make_world(env_id).unwrapped
        if not world.symmetry.is_discrete:
            continue  # the collector serves discrete actions only
        share = 1 if env_id.startswith("FlatLand") else 10  # procedural drawing is slower: fewer steps
        steps = single_env_rate(env_id, args.steps // share)
        pairs = collector_rate(env_id, args.transitions // share, args.batch_size, args.num_envs, args.k)
        print(f"{env_id:<16} gym.make: {steps:>10,.0f} steps/s   "
              f"collector ({args.num_envs} envs, k={args.k}, batch {args.batch_size}): {pairs:>10,.0f} transitions/s")
        rows.append({"env_id": env_id, "steps_per_second": steps, "transitions_per_second": pairs})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"hardware": f"{cpu_name()}, {os.cpu_count()} cores", "num_envs": args.num_envs, "k": args.k,
                  "batch_size": args.batch_size, "rows": rows}
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        print(f"kept: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
