"""Reach goal frames with a trained agent's latent actions: success rate, plan length vs the oracle, time per plan.

    python scripts/reach_goal.py runs/X/checkpoint.pt
    python scripts/reach_goal.py runs/X/checkpoint.pt --episodes 1000 --out results/acting/reach_goal_rgrvae.json

The agent links env actions to its latent actions from its own interaction (--link-steps random
env steps plus --calibration-walks cycles per env action), then plans each episode once from the start and goal
frames and executes the plan. Random actions (within --horizon) and the oracle's shortest
paths play the same episodes. An agent without latent actions (beta-VAE) gets a row saying why
it cannot plan by its latent actions; with ``--method readers`` every agent plans from position
readers fitted to the codes of its own calibration walk (agents/reading.py).
Exit codes: 0 done, 2 bad flags or checkpoint.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class Args:
    checkpoint: tyro.conf.Positional[str]
    """an agent's checkpoint.pt"""
    episodes: int = 1000
    """(start, goal) episodes"""
    seed: int = 0
    """seed of episode i is seed + i; also seeds the agent's link walk"""
    horizon: int = 100
    """steps before an episode is cut (FlatLand's longest shortest path is 32)"""
    link_steps: int = 256
    """random env steps the agent takes to link env actions to its latent actions"""
    calibration_walks: int | None = None
    """cycles the agent walks per env action (per cycle with --method readers) to calibrate (docs/acting.md);
    default: 3 for the latent planner, 12 for readers"""
    method: str = "cycle"
    """how a frame becomes a cycle position: cycle (nearest expected latent angle: calibrated, corrected for the
    other planes), arithmetic (angle over the unit), or readers (classifiers fitted to the codes of the agent's own
    calibration walk, no latent actions needed: any agent, a beta-VAE included; agents/reading.py)"""
    reader: str | None = None
    """with --method readers: the classifier, nearest, logistic, svm or mlp (default svm)"""
    out: Path | None = None
    """write the numbers here as JSON, e.g. results/acting/reach_goal_rgrvae.json"""
    device: str = "cpu"
    """torch device of the agent"""
    threads: int = 1
    """CPU threads of torch"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    from acting.reaching import evaluate_reaching
    from agents import BaseAgent, CheckpointError
    from agents.files import write_json
    from agents.training.run import set_threads

    try:
        set_threads(args.threads)
        if args.reader is not None and args.method != "readers":
            raise ValueError(f"--reader applies to --method readers only, not to --method {args.method}")
        agent = BaseAgent.load(args.checkpoint, device=args.device)
        record = evaluate_reaching(agent, args.episodes, args.seed, args.horizon, args.link_steps, args.method,
                                   args.calibration_walks, args.reader or "svm")
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else argv
    record["command"] = "python scripts/reach_goal.py " + shlex.join(argv)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, record)
    shown = {k: v for k, v in record.items() if k != "agent"}
    shown["agent"] = {k: v for k, v in record["agent"].items() if k != "link"}
    print(json.dumps(shown, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
