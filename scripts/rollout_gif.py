"""Write a GIF of one planned episode: the world, the agent's predicted next frame, the goal and its latent angles.

    python scripts/rollout_gif.py runs/X/checkpoint.pt
    python scripts/rollout_gif.py runs/X/checkpoint.pt --seed 7 --out docs/rollout.gif

The agent links and calibrates as for ``scripts/reach_goal.py`` (docs/acting.md), plans once from
the start and goal frames of goal-task episode ``--seed`` and executes the plan. Each GIF frame
shows the world before the step, decode(rho(a) z) for the latent action linked to the planned
env action, the goal frame, and one circle per latent plane with the angle of the current frame
(dot), of the prediction (ring) and of the goal (cross). Exit codes: 0 written, 2 bad flags, a bad
checkpoint, or an agent that cannot plan (the reason is printed).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class Args:
    checkpoint: tyro.conf.Positional[str]
    """an agent's checkpoint.pt (RGrVAE or ForwardVAE: an agent with latent actions)"""
    seed: int = 0
    """goal-task episode to play (its start and goal)"""
    out: Path = Path("rollout.gif")
    """where the GIF goes"""
    fps: float = 3.0
    """GIF frames per second"""
    scale: int = 3
    """size of the pictures (1-8)"""
    device: str = "cpu"
    """torch device of the agent"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    import imageio.v3 as iio

    from acting.rollout_gif import episode_frames, episode_summary, planned_episode
    from agents import BaseAgent, CheckpointError
    from agents.planning import CannotPlanError

    if not args.fps > 0:
        print(f"error: --fps must be > 0, got {args.fps}", file=sys.stderr)
        return 2
    if args.out.suffix.lower() != ".gif":
        print(f"error: --out must name a .gif file, got {str(args.out)!r}", file=sys.stderr)
        return 2
    try:
        agent = BaseAgent.load(args.checkpoint, device=args.device)
        episode = planned_episode(agent, args.seed)
        pictures = episode_frames(episode, args.scale)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except CannotPlanError as e:
        print(f"error: this agent cannot plan: {e}", file=sys.stderr)
        return 2
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(args.out, pictures, duration=1000 / args.fps, loop=0)
    except OSError as e:
        print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
        return 2
    print(json.dumps({**episode_summary(episode), "gif": str(args.out), "frames": len(pictures)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
