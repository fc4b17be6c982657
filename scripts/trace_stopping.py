"""Trace the label-free stopping rule against the labelled acceptance criteria, on tuning seeds.

``python scripts/trace_stopping.py --seeds 0 1`` trains RGrVAE with its defaults (the
stopping rule is only *recorded*, never applied, so each run goes to --total-steps) and,
at every check of the rule, also evaluates the labelled criteria (a)-(c). It writes
``results/tuning/stopping_s<seed>.json``: per check, the update, the pairs seen, the
label-free error, whether the rule would stop there, and the labelled criteria. This is how
the rule's threshold was chosen, on seeds 0-9 only (docs/method.md, "Stopping").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tyro

from experiments.stopping_trace import check_tuning_seeds, replay, trace, trace_path


@dataclass
class Args:
    seeds: list[int] = field(default_factory=lambda: [0])
    """tuning seeds (report seeds are 100 and up: keep them out of here)"""
    total_steps: int = 7800
    """updates per run"""
    out_dir: Path = Path("results/tuning")
    """where the traces go"""
    eval_samples: int = 500
    """sample size of the labelled criteria at each check"""
    threads: int = 0
    """torch CPU threads (0: torch's default)"""
    precision: str = "auto"
    """auto, fp32 or bf16"""
    lr_decay_steps: int = -1
    """cosine-decay the learning rates over this many updates (-1: RGrVAE's default, 0: constant)"""
    tag: str = ""
    """suffix of the output file name, for variants"""
    replay: list[Path] = field(default_factory=list)
    """kept traces to replay with the current default rule instead of training (prints where it stops)"""


def _show(check: dict[str, Any]) -> None:
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in check.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    if args.replay:
        for path in args.replay:
            print(replay(path))
        return 0
    try:
        check_tuning_seeds(args.seeds)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    from agents.files import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    for seed in args.seeds:
        record = trace(seed, args.total_steps, args.eval_samples, args.precision, args.lr_decay_steps, on_check=_show)
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        write_json(trace_path(args.out_dir, seed, args.tag), record)
        print(f"seed {seed}: first pass at {record['first_pass_pairs']} pairs; rule stops at "
              f"{record['rule_stop_pairs']} pairs (passed there: {record['passed_at_rule_stop']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
