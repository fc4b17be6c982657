"""Play a symmetry world by hand: ``python scripts/play.py --env FlatLand-v0``.

Each key press plays one of the world's hand actions: arrow keys (FlatLand; 1 px moves in
FlatLandContinuous, whose keys 1..4 move 1/4 px) or number keys (Sprites: 1..8,
RotatingCube: 1..6 for x+ x- y+ y- z+ z-); R resets, Esc quits.
``--keys "right right up escape" --headless`` runs a scripted session without a display.

``--agent runs/X/checkpoint.pt`` plays the agent's world with the agent beside it: its
reconstruction, the latent action it infers for each key press and the env action linked to
it, and the frame it predicts next; ``--latent-joystick`` lets number keys apply its latent
actions to an imagined z; ``--goal`` shows a goal frame and its plan (p follows the plan, g
draws a new goal). See docs/acting.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class Args:
    env: str = "FlatLand-v0"
    """registered symmetry world (flatland_env.symmetry_world_ids())"""
    scale: int = 8
    """pixels per world pixel"""
    seed: int | None = None
    """seed of the first reset"""
    max_frames: int | None = None
    """stop after this many drawn frames (headless runs)"""
    keys: str | None = None
    """scripted key sequence, e.g. "right right up r"; the run ends when it is used up"""
    screenshot: Path | None = None
    """save the window as a PNG on exit"""
    headless: bool = False
    """use SDL's dummy video/audio drivers (no window)"""
    agent: str | None = None
    """an agent checkpoint to show beside the world (its world replaces --env)"""
    latent_joystick: bool = False
    """with --agent: number keys apply the agent's latent actions to an imagined z"""
    goal: bool = False
    """with --agent: show a goal frame and the agent's plan to it"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    from flatland_env import play

    if args.headless:
        play.headless()
    try:
        env_id, env_kwargs, factory = args.env, None, None
        if args.latent_joystick and args.goal:
            raise ValueError("choose one of --latent-joystick and --goal")
        if (args.latent_joystick or args.goal) and args.agent is None:
            raise ValueError("--latent-joystick and --goal need --agent CHECKPOINT")
        if args.agent is not None:
            from agents import BaseAgent, CheckpointError
            from agents.companion import AgentCompanion

            try:
                agent = BaseAgent.load(args.agent, device="cpu")
            except CheckpointError as e:
                raise ValueError(str(e)) from None
            if agent.source.env_id is None:
                raise ValueError(f"{args.agent} learned from a dataset that records no world to play")
            env_id, env_kwargs = agent.source.env_id, agent.source.config.env_kwargs
            mode = "joystick" if args.latent_joystick else "goal" if args.goal else "watch"

            def factory(env):
                return AgentCompanion(agent, env, mode)

        result = play.play(env_id, args.scale, args.seed, args.max_frames, args.keys, args.screenshot,
                           companion_factory=factory, env_kwargs=env_kwargs)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"steps={result.steps} resets={result.resets} factors={result.factors} last={result.last_action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
