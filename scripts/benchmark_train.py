"""Training throughput of every agent, in float32 and bf16, and how close it is to the machine's limit.

    python scripts/benchmark_train.py                    # all registered agents, both precisions
    python scripts/benchmark_train.py --models rgrvae --batch-size 64

For each model and precision it prints pairs/s (whole updates: data, forward, backward,
optimiser step, timed after a warm-up), FLOPs per pair (torch's FlopCounterMode over one
update), the achieved GFLOP/s, and which precision ``--precision auto`` picks on this machine.
The float32 matrix-product peak of the device is printed as the ceiling. Run it on a quiet
machine: another torch process on the same cores slows both several times.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from agents.files import write_json
from agents.hardware import choose_precision, describe_hardware
from agents.training.run import set_threads
from experiments.throughput import benchmark_agents, check_benchmark, matmul_peak_gflops, train_record


@dataclass
class Args:
    models: tuple[str, ...] = ()
    """agents to time (default: every registered agent)"""
    precisions: tuple[str, ...] = ("fp32", "bf16")
    """precisions to time"""
    env_id: str = "FlatLand-v0"
    """world producing the pairs"""
    batch_size: int = 0
    """pairs per update (0: each model's default, what its main job uses)"""
    updates: int = 30
    """timed updates per model and precision"""
    warmup: int = 5
    """untimed updates first (allocator, first rollouts)"""
    threads: int = 0
    """CPU threads of torch (0: torch's default, one per core)"""
    device: str = "auto"
    """auto, cpu or cuda"""
    out: str = "results/benchmark/train.json"
    """where the measurements are kept (the README's speed table is made from it); empty: not written"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        set_threads(args.threads)
        models, device, data = check_benchmark(args.models, args.precisions, args.batch_size, args.device,
                                               args.env_id)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    auto = choose_precision("auto", device)
    peak = matmul_peak_gflops(device=device)
    hardware = describe_hardware(device)
    print(f"{args.env_id}, {hardware}; precision auto -> {auto}; "
          f"fp32 matmul peak {peak:.0f} GFLOP/s; {args.updates} updates after {args.warmup} warm-up")
    print(f"{'model':8s} {'precision':9s} {'batch':>5s} {'pairs/s':>8s} {'MFLOP/pair':>11s} {'GFLOP/s':>8s} "
          f"{'of peak':>8s}")
    rows = []
    for row in benchmark_agents(models, args.precisions, data, args.batch_size, args.device, args.updates,
                                args.warmup, peak):
        print(f"{row['model']:8s} {row['precision']:9s} {row['batch_size']:5d} {row['pairs_per_second']:8.0f} "
              f"{row['mflop_per_pair']:11.1f} {row['gflops']:8.1f} {row['share_of_peak']:8.0%}", flush=True)
        rows.append(row)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, train_record(rows, hardware, args.env_id, args.updates, args.warmup, peak, auto))
        print(f"kept: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
