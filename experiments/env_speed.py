"""How fast the worlds run: steps/s of one env through ``gym.make``, transitions/s of the transition collector.

This is what ``scripts/benchmark_env.py`` measures and keeps under ``results/benchmark/env.json``;
:mod:`experiments.benchmarks` renders that record as the README's table. Like the worlds it times,
this module never imports torch, so loading it does not slow or skew the measurement.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Iterable, Iterator

import gymnasium as gym
import numpy as np

import flatland_env
from flatland_env.transitions import TransitionCollector

#: the world every collector rate is also given relative to
REFERENCE_WORLD = "FlatLand-v0"


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """One flag names a world and its keyword arguments, so a variant is a row of the table like any world.

    ``"Sprites-v0:offset=4,shapes=square,heart"`` -> ("Sprites-v0", {"offset": 4, "shapes": "square,heart"}):
    integers are converted, and a comma inside a string value continues it.
    """
    env_id, _, rest = text.partition(":")
    if not env_id:
        raise ValueError(f"variant {text!r}: expected ID:key=value,..., got no world id before ':'")
    kwargs: dict[str, Any] = {}
    key = None
    for part in filter(None, rest.split(",")):
        if "=" in part:
            key, value = part.split("=", 1)
            if not key:
                raise ValueError(f"variant {text!r}: expected ID:key=value,..., got {part!r} with no key")
            kwargs[key] = int(value) if value.lstrip("-").isdigit() else value
        elif key is not None and isinstance(kwargs[key], str):
            kwargs[key] += "," + part
        else:
            raise ValueError(f"variant {text!r}: expected ID:key=value,..., got {part!r}")
    return env_id, kwargs


def collector_world_ids() -> list[str]:
    """The worlds measured by default: every registered world with a discrete symmetry (the collector's worlds)."""
    return [i for i in flatland_env.symmetry_world_ids()
            if flatland_env.make_world(i).unwrapped.symmetry.is_discrete]


def single_env_rate(env_id: str, steps: int, **env_kwargs: Any) -> float:
    """Steps/s of one env through ``gym.make`` under uniform random actions: what a Gymnasium user gets."""
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
    """Transitions/s of the collector's stream after one warm-up batch: the rate that feeds training."""
    with TransitionCollector(env_id, num_envs=num_envs, k=k, seed=0, **env_kwargs) as collector:
        collector.collect(batch_size)  # warm-up: frame cache or sprite masks, first chunk
        start, done = time.perf_counter(), 0
        for batch in collector.stream(batch_size):
            done += len(batch)
            if done >= transitions:
                break
        return done / (time.perf_counter() - start)


def measure_worlds(cases: Iterable[tuple[str, dict[str, Any]]], steps: int, transitions: int, batch_size: int,
                   num_envs: int, k: int) -> Iterator[dict[str, Any]]:
    """One row per (world id, keyword arguments), yielded as soon as it is measured so a long run shows progress."""
    for env_id, kwargs in cases:
        yield {"env_id": env_id, "env_kwargs": kwargs,
               "steps_per_second": single_env_rate(env_id, steps, **kwargs),
               "transitions_per_second": collector_rate(env_id, transitions, batch_size, num_envs, k, **kwargs)}


def with_relative_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their collector rate relative to the reference world's in the same run (None without one),
    which a loaded machine skews less than the rates themselves."""
    reference = next((r["transitions_per_second"] for r in rows
                      if r["env_id"] == REFERENCE_WORLD and not r["env_kwargs"]), None)
    return [{**r, "transitions_relative_to_flatland": None if reference is None
             else r["transitions_per_second"] / reference} for r in rows]


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): kept with the rates, which a busy machine lowers."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string: the record says what it ran on."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_record(rows: list[dict[str, Any]], num_envs: int, k: int, batch_size: int,
               load: float | None) -> dict[str, Any]:
    """What ``results/benchmark/env.json`` keeps, in the form :func:`experiments.benchmarks.env_section` reads."""
    return {"hardware": f"{cpu_name()}, {os.cpu_count()} cores", "load_average": load, "num_envs": num_envs,
            "k": k, "batch_size": batch_size, "rows": rows}
