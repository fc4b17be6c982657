"""Play a symmetry world by hand: ``python scripts/play.py --env FlatLand-v0``.

Each key press plays one of the world's hand actions: arrow keys (FlatLand; 1 px moves in
FlatLandContinuous, whose keys 1..4 move 1/4 px) or number keys (Sprites: 1..8,
RotatingCube: 1..6 for x+ x- y+ y- z+ z-); R resets, Esc quits.
``--keys "right right up escape" --headless`` runs a scripted session without a display.
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


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    from flatland_env import play

    if args.headless:
        play.headless()
    try:
        result = play.play(args.env, args.scale, args.seed, args.max_frames, args.keys, args.screenshot)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"steps={result.steps} resets={result.resets} factors={result.factors} last={result.last_action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
