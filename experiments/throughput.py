"""How fast an agent trains, and how close that is to what the machine can do.

Pairs per second count whole updates: drawing the pairs from the source, the forward and
backward passes and the optimiser step. FLOPs per pair are counted by torch's
``FlopCounterMode`` over one update (matrix products and convolutions, forward and
backward), so pairs/s times FLOPs per pair is the achieved arithmetic rate. This is what
``scripts/benchmark_train.py`` measures and keeps under ``results/benchmark/train.json``;
:mod:`experiments.benchmarks` renders that record as the README's table.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from agents import AGENTS, agent_class  # importing the package registers every agent
from agents.hardware import resolve_device
from flatland_env.pairs import PairSourceConfig, split_labels
from flatland_env.validation import check_int


def measure_throughput(agent: Any, updates: int, warmup: int = 5) -> float:
    """Training pairs per second over ``updates`` updates (data included), after ``warmup`` untimed ones."""
    agent.learn(check_int("warmup", warmup, 0), progress_bar=False)
    start = time.perf_counter()
    agent.learn(check_int("updates", updates, 1), progress_bar=False)
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


def check_benchmark(models: Sequence[str], precisions: Sequence[str], batch_size: int, device: str,
                    env_id: str) -> tuple[tuple[str, ...], torch.device, PairSourceConfig]:
    """The benchmark's settings checked before anything is timed, so a typo fails at once rather than an hour in:
    the models (default: every registered agent), the device and the pair source to time them on."""
    models = tuple(models) or tuple(sorted(AGENTS))
    for m in models:
        agent_class(m)
    bad = [p for p in precisions if p not in ("fp32", "bf16")]
    if bad:
        raise ValueError(f"precisions must be fp32 or bf16, got {bad}")
    if batch_size < 0:
        raise ValueError(f"batch_size must be >= 0 (0: each model's default), got {batch_size}")
    return models, resolve_device(device), PairSourceConfig(env_id=env_id)


def benchmark_agent(model: str, precision: str, data: PairSourceConfig, batch_size: int, device: str,
                    updates: int, warmup: int, peak: float) -> dict[str, Any]:
    """One row of the training benchmark: pairs/s, FLOPs per pair and the share of ``peak`` (GFLOP/s) they reach,
    at ``batch_size`` pairs per update (0: the model's default, what its main job uses)."""
    batch = {"batch_size": batch_size} if batch_size else {}
    agent = agent_class(model)(data, precision=precision, device=device, **batch)
    rate = measure_throughput(agent, updates, warmup)
    flops = flops_per_pair(agent)
    achieved = rate * flops / 1e9
    return {"model": model, "precision": precision, "batch_size": agent.config.batch_size, "pairs_per_second": rate,
            "mflop_per_pair": flops / 1e6, "gflops": achieved, "share_of_peak": achieved / peak}


def benchmark_agents(models: Sequence[str], precisions: Sequence[str], data: PairSourceConfig, batch_size: int,
                     device: str, updates: int, warmup: int, peak: float) -> Iterator[dict[str, Any]]:
    """:func:`benchmark_agent` for every model and precision, yielded one by one so a long run shows progress."""
    for model in models:
        for precision in precisions:
            yield benchmark_agent(model, precision, data, batch_size, device, updates, warmup, peak)


def train_record(rows: list[dict[str, Any]], hardware: str, env_id: str, updates: int, warmup: int, peak: float,
                 auto_precision: str) -> dict[str, Any]:
    """What ``results/benchmark/train.json`` keeps, in the form :func:`experiments.benchmarks.train_section` reads."""
    return {"hardware": hardware, "torch": torch.__version__, "env_id": env_id, "updates": updates,
            "warmup": warmup, "peak_gflops": peak, "auto_precision": auto_precision, "rows": rows}
