"""How fast an agent trains, and how close that is to what the machine can do.

Pairs per second count whole updates: drawing the pairs from the source, the forward and
backward passes and the optimiser step. FLOPs per pair are counted by torch's
``FlopCounterMode`` over one update (matrix products and convolutions, forward and
backward), so pairs/s times FLOPs per pair is the achieved arithmetic rate.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from flatland_env.pairs import split_labels


def _check(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def measure_throughput(agent: Any, updates: int, warmup: int = 5) -> float:
    """Training pairs per second over ``updates`` updates (data included), after ``warmup`` untimed ones."""
    agent.learn(_check("warmup", warmup, 0), progress_bar=False)
    start = time.perf_counter()
    agent.learn(_check("updates", updates, 1), progress_bar=False)
    if agent.device.type == "cuda":
        torch.cuda.synchronize(agent.device)
    return updates * agent.config.batch_size / (time.perf_counter() - start)


def flops_per_pair(agent: Any) -> float:
    """FLOPs of one update divided by its batch size (one extra update is trained to count them)."""
    batch, truth = split_labels(agent.source.next_batch(agent.config.batch_size))
    with FlopCounterMode(display=False) as counter:
        agent.train_step(batch, truth.actions if agent.uses_labels else None)
    return counter.get_total_flops() / agent.config.batch_size


def matmul_peak_gflops(size: int = 1024, repeats: int = 10, device: str | torch.device = "cpu") -> float:
    """The float32 matrix-product rate of this device (GFLOP/s): a ceiling for dense training."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
