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

import torch
import tyro

from agents.base import AGENTS, agent_class
from agents.files import write_json
from agents.hardware import choose_precision, describe_hardware, resolve_device
from agents.training.run import set_threads
from experiments.throughput import flops_per_pair, matmul_peak_gflops, measure_throughput
from flatland_env.pairs import PairSourceConfig


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
    import agents  # noqa: F401  (registers every agent)

    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        set_threads(args.threads)
        models = args.models or tuple(sorted(AGENTS))
        for m in models:
            agent_class(m)
        bad = [p for p in args.precisions if p not in ("fp32", "bf16")]
        if bad:
            raise ValueError(f"precisions must be fp32 or bf16, got {bad}")
        if args.batch_size < 0:
            raise ValueError(f"batch_size must be >= 0 (0: each model's default), got {args.batch_size}")
        device = resolve_device(args.device)
        data = PairSourceConfig(env_id=args.env_id)
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
    for model in models:
        for precision in args.precisions:
            batch = {"batch_size": args.batch_size} if args.batch_size else {}
            agent = agent_class(model)(data, precision=precision, device=args.device, **batch)
            rate = measure_throughput(agent, args.updates, args.warmup)
            flops = flops_per_pair(agent)
            achieved = rate * flops / 1e9
            print(f"{model:8s} {precision:9s} {agent.config.batch_size:5d} {rate:8.0f} {flops / 1e6:11.1f} "
                  f"{achieved:8.1f} {achieved / peak:8.0%}", flush=True)
            rows.append({"model": model, "precision": precision, "batch_size": agent.config.batch_size,
                         "pairs_per_second": rate,
                         "mflop_per_pair": flops / 1e6, "gflops": achieved, "share_of_peak": achieved / peak})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, {"hardware": hardware, "torch": torch.__version__, "env_id": args.env_id,
                              "updates": args.updates, "warmup": args.warmup,
                              "peak_gflops": peak, "auto_precision": auto, "rows": rows})
        print(f"kept: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
