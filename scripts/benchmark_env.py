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
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from experiments.env_speed import (
    collector_world_ids,
    env_record,
    load_average,
    measure_worlds,
    parse_variant,
    with_relative_rates,
)


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


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    cases = [(i, {}) for i in args.worlds or collector_world_ids()] + [parse_variant(v) for v in args.variants]
    load = load_average()
    rows = []
    for row in measure_worlds(cases, args.steps, args.transitions, args.batch_size, args.num_envs, args.k):
        label = row["env_id"] + "".join(f" {key}={value}" for key, value in row["env_kwargs"].items())
        print(f"{label:<24} gym.make: {row['steps_per_second']:>10,.0f} steps/s   "
              f"collector ({args.num_envs} envs, k={args.k}, batch {args.batch_size}): "
              f"{row['transitions_per_second']:>10,.0f} transitions/s")
        rows.append(row)
    rows = with_relative_rates(rows)
    if any(r["transitions_relative_to_flatland"] is not None for r in rows):
        print("collector rate relative to FlatLand-v0: "
              + ", ".join(f"{r['env_id']} {r['transitions_relative_to_flatland']:.2f}" for r in rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = env_record(rows, args.num_envs, args.k, args.batch_size, load)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        print(f"kept: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
