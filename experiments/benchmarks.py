"""Speed records: what the benchmark scripts keep under ``results/benchmark/`` and the README tables made from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAIN_RECORD = "benchmark/train.json"
ENV_RECORD = "benchmark/env.json"


def _load(results_root: str | Path, name: str) -> dict[str, Any] | None:
    path = Path(results_root) / name
    return json.loads(path.read_text()) if path.is_file() else None


def train_section(record: dict[str, Any]) -> str:
    lines = [
        f"Measured on {record['hardware']} (torch {record['torch']}), {record['env_id']}, "
        f"each model at its default batch, {record['updates']} timed updates after {record['warmup']} warm-up; "
        f"float32 matrix-product peak {record['peak_gflops']:.0f} GFLOP/s; "
        f"`--precision auto` picks **{record['auto_precision']}** here.",
        "",
        "| model | precision | batch | pairs/s | MFLOP per pair | GFLOP/s | share of the fp32 peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        lines.append(f"| {row['model']} | {row['precision']} | {row['batch_size']} | {row['pairs_per_second']:,.0f} | "
                     f"{row['mflop_per_pair']:.1f} | {row['gflops']:.1f} | {row['share_of_peak']:.0%} |")
    return "\n".join(lines)


def env_section(record: dict[str, Any]) -> str:
    """The worlds' speed table; each row's collector rate is also given relative to FlatLand-v0's in the same run,
    which a loaded machine skews less than the rates themselves."""
    load = record.get("load_average")
    lines = [
        f"Measured on {record['hardware']}: one env through `gym.make`, and the transition collector with "
        f"{record['num_envs']} native vector envs (k = {record['k']}, batch {record['batch_size']})"
        + (f"; load average {load:.2f} while it ran." if load is not None else "."),
        "",
        "| world | options | gym.make steps/s | collector transitions/s | collector, relative to FlatLand-v0 |",
        "|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        options = ", ".join(f"{k}={v}" for k, v in (row.get("env_kwargs") or {}).items()) or "defaults"
        relative = row.get("transitions_relative_to_flatland")
        lines.append(f"| {row['env_id']} | {options} | {row['steps_per_second']:,.0f} | "
                     f"{row['transitions_per_second']:,.0f} | {'-' if relative is None else f'{relative:.2f}'} |")
    return "\n".join(lines)


def benchmark_sections(results_root: str | Path = "results") -> dict[str, str]:
    """README sections ``benchmark_train`` and ``benchmark_env`` from the kept benchmark records."""
    out = {}
    for name, file, render, command in (
        ("benchmark_train", TRAIN_RECORD, train_section, "python scripts/benchmark_train.py"),
        ("benchmark_env", ENV_RECORD, env_section, "python scripts/benchmark_env.py"),
    ):
        record = _load(results_root, file)
        out[name] = render(record) if record else f"_No kept record yet: `{command}`._"
    return out
