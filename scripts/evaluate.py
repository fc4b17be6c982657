"""Evaluate a saved agent: the metric suite -> metrics.json (+ acceptance block and PNG summary).

    python scripts/evaluate.py runs/X/checkpoint.pt
    python scripts/evaluate.py runs/X/checkpoint.pt --out-dir eval/X --eval-samples 2000

Exit codes: 0 done, 2 bad flags or an unreadable / foreign checkpoint (never executed).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import run  # noqa: E402
from agents.checkpoint import CheckpointError  # noqa: E402


@dataclass
class Args:
    checkpoint: Annotated[str, tyro.conf.Positional]
    """checkpoint written by scripts/train_agent.py"""
    out_dir: str | None = None
    """where metrics.json and latent_actions.png go (default: the checkpoint's folder)"""
    eval_samples: int = 1000
    """sample size of the metric suite"""
    seed: int = 0
    """seed of the evaluation samples"""
    device: str | None = None
    """device to load the agent on (default: the checkpoint's)"""
    threads: int | None = None
    """CPU threads of torch (default: torch's)"""
    progress: bool = True
    """show a progress bar over the metrics"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        run.set_threads(args.threads)
        record = run.evaluate_checkpoint(args.checkpoint, args.out_dir, args.eval_samples, args.seed, args.device,
                                         args.progress)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(run.headline(record), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
