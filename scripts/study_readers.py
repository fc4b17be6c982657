"""Choose the position reader and the calibration budget of planning without latent actions (agents/reading.py).

    python scripts/study_readers.py runs/tuning/acting/vae_s0/checkpoint.pt \\
        runs/tuning/acting/rgrvae_s0/checkpoint.pt --walks 3 6 12 24 \\
        --readers nearest logistic svm mlp --out results/tuning/acting/readers.json

For every checkpoint, calibration budget (--walks cycles per world cycle, plus --link-steps random
steps) and reader, the agent plans --episodes (start, goal) pairs from the readers alone
(acting.reaching.evaluate_reaching with method "readers"); a plan succeeds when its execution
ends on the goal frame. Run it on tuning checkpoints (seeds below 100) to choose; the held-out
numbers come from scripts/reach_goal.py. Writes a JSON record and a Markdown table beside it.
Exit codes: 0 done, 2 bad flags or checkpoint.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tyro


@dataclass
class Args:
    checkpoints: tyro.conf.Positional[list[str]]
    """agents' checkpoint.pt files (any model: the readers need no latent actions)"""
    walks: list[int] = field(default_factory=lambda: [3, 6, 12])
    """calibration walks round each cycle (the budget: see agents/reading.py)"""
    readers: list[str] = field(default_factory=lambda: ["nearest", "logistic", "svm", "mlp"])
    """classifiers to compare (agents.reading.READERS)"""
    episodes: int = 300
    """(start, goal) episodes per setting"""
    seed: int = 0
    """seed of the episodes and of the calibration walk"""
    link_steps: int = 256
    """random steps after the calibration walks"""
    out: Path = Path("results/tuning/acting/readers.json")
    """where the record goes (and the table, with .md)"""
    threads: int = 1
    """CPU threads of torch"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    from acting.reaching import evaluate_reaching
    from agents import BaseAgent, CheckpointError
    from agents.files import write_json
    from agents.reading import READERS
    from agents.training.run import set_threads
    from flatland_env.validation import check_choice

    rows = []
    try:
        for reader in args.readers:
            check_choice("reader", reader, READERS)
        set_threads(args.threads)
        for path in args.checkpoints:
            agent = BaseAgent.load(path, device="cpu")
            for walks in args.walks:
                for reader in args.readers:
                    record = evaluate_reaching(agent, args.episodes, args.seed, link_steps=args.link_steps,
                                               method="readers", calibration_walks=walks, reader=reader)
                    result = record["agent"]
                    if not result["can_plan"]:
                        raise ValueError(f"{path} cannot plan by position readers: {result['reason']}")
                    rows.append({"checkpoint": path, "algo": agent.algo, "agent_seed": agent.config.seed,
                                 "walks": walks, "reader": reader, "env_steps": result["link"]["env_steps"],
                                 "success_rate": result["success_rate"],
                                 "calibration_seconds": result["link_seconds"]})
                    print(f"{path} walks {walks} {reader}: {result['success_rate']:.1%} "
                          f"({result['link']['env_steps']} own steps)", flush=True)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else argv
    command = "python scripts/study_readers.py " + shlex.join(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"command": command, "episodes": args.episodes, "seed": args.seed, "rows": rows})
    lines = [f"Plans from position readers alone, {args.episodes} episodes each (`{command}`).", "",
             "| checkpoint | walks | own env steps | reader | success |", "|---|---|---|---|---|"]
    lines += [f"| {r['checkpoint']} | {r['walks']} | {r['env_steps']} | {r['reader']} | {r['success_rate']:.1%} |"
              for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
