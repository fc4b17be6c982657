"""Plan by rho alone on every finished run that passed (a)-(c), beside the default planner (acting/rho_planning.py).

    python scripts/plan_by_rho.py runs/reproduce/claim3/rgrvae_s1*      # every claim-3 run folder

Writes ``--out`` (results/acting/plan_by_rho.json): per passing run, the success of the default
planner (cycle) and of angle arithmetic on the same episodes, and the code's orbit spacing.
Runs that did not pass are left out by their own metrics.json. Exit codes: 0 done, 2 bad input.
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
    runs: tyro.conf.Positional[list[str]]
    """run folders, each with checkpoint.pt and metrics.json"""
    episodes: int = 200
    """(start, goal) episodes per run and planner"""
    seed: int = 0
    """seed of episode i is seed + i"""
    horizon: int = 100
    """steps before an episode is cut"""
    out: Path = Path("results/acting/plan_by_rho.json")
    """results JSON"""
    threads: int = 1
    """CPU threads of torch"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    from acting.rho_planning import plan_by_rho
    from agents import CheckpointError
    from agents.files import write_json
    from agents.training.run import set_threads

    try:
        set_threads(args.threads)
        record = plan_by_rho(args.runs, args.episodes, args.seed, args.horizon)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    record["command"] = "python scripts/plan_by_rho.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    write_json(args.out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
