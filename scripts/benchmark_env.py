"""Speed of the worlds: steps/s of one env through gym.make, transitions/s of the 8-env collector.

``python scripts/benchmark_env.py`` (targets on a 2-core machine: FlatLand >= 20,000 steps/s,
collector >= 200,000 transitions/s; Sprites' collector >= 50,000). Every discrete world is
measured at its defaults, and each ``--variants`` entry (``Sprites-v0:shapes=heart``,
``Sprites-v0:offset=4,shapes=square,heart``) with its keyword arguments. Each row also gives its
collector rate relative to FlatLand-v0's in the same run, which a loaded machine skews less
than the rates themselves; the record keeps the load average it ran under.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tyro


@dataclass
class Args:
    steps: int = 50_000
    """single-env steps to time per world"""
    transitions: int = 500_000
    """collector transitions to time per world"""
    batch_size: int = 1024
    """collector batch size"""
    num_envs: int = 8
    k: int = 1
    """actions between the two frames of a pair"""
    worlds: tuple[str, ...] = ()
    """ids of the worlds to measure at their defaults (empty: every discrete world)"""
    variants: tuple[str, ...] = ()
    """more rows: ``ID:key=value,...`` (a comma inside a value continues it: ``shapes=square,heart``)"""
    out: str = "results/benchmark/env.json"
    """where the measurements are kept (the README's table is made from it); empty: not written"""


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"Sprites-v0:offset=4,shapes=square,heart"`` -> ("Sprites-v0", {"offset": 4, "shapes": "square,heart"})."""
    env_id, _, rest = text.partition(":")
    kwargs: dict[str, Any] = {}
    key = None
    for part in filter(None, rest.split(",")):
        if "=" in part:
            key, value = part.split("=", 1)
            kwargs[key] = int(value) if value.lstrip("-").isdigit() else value
        elif key is not None and isinstance(kwargs[key], str):
            kwargs[key] += "," + part
        else:
            raise ValueError(f"variant {text!r}: expected ID:key=value,..., got {part!r}")
    return env_id, kwargs


def single_env_rate(env_id: str, steps: int, **env_kwargs: Any) -> float:
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=steps).tolist()
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def collector_rate(env_id: str, transitions: int, batch_size: int, num_envs: int, k: int, **env_kwargs: Any) -> float:
    from flatland_env.transitions import TransitionCollector

    with TransitionCollector(env_id, num_envs=num_envs, k=k, seed=0, **env_kwargs) as collector:
        collector.collect(batch_size)  # warm-up: frame cache or sprite masks, first chunk
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

    ids = args.worlds or [i for i in flatland_env.symmetry_world_ids()
                          if flatland_env.make_world(i).unwrapped.symmetry.is_discrete]  # the collector's worlds
    cases = [(i, {}) for i in ids] + [parse_variant(v) for v in args.variants]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for env_id, kwargs in cases:
        steps = single_env_rate(env_id, args.steps, **kwargs)
        pairs = collector_rate(env_id, args.transitions, args.batch_size, args.num_envs, args.k, **kwargs)
        label = env_id + "".join(f" {key}={value}" for key, value in kwargs.items())
        print(f"{label:<24} gym.make: {steps:>10,.0f} steps/s   "
              f"collector ({args.num_envs} envs, k={args.k}, batch {args.batch_size}): {pairs:>10,.0f} transitions/s")
        rows.append({"env_id": env_id, "env_kwargs": kwargs, "steps_per_second": steps,
                     "transitions_per_second": pairs})
    flat = next((r["transitions_per_second"] for r in rows if r["env_id"] == "FlatLand-v0" and not r["env_kwargs"]),
                None)
    for row in rows:
        row["transitions_relative_to_flatland"] = None if flat is None else row["transitions_per_second"] / flat
    if flat is not None:
        print("collector rate relative to FlatLand-v0: "
              + ", ".join(f"{r['env_id']} {r['transitions_relative_to_flatland']:.2f}" for r in rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"hardware": f"{cpu_name()}, {os.cpu_count()} cores", "load_average": load, "num_envs": args.num_envs,
                  "k": args.k, "batch_size": args.batch_size, "rows": rows}
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        print(f"kept: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
