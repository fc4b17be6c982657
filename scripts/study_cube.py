"""Rerun the cube study on free codes (experiments/cube_study.py; docs/method.md, "The cube").

    python scripts/study_cube.py --seeds 0 1 2 3 4 5 6 7 8 9 --pixel-seeds 0 1
    python scripts/study_cube.py --slow-turns-seeds 0 1 2 3

Writes records.json and summary.md under --out: the exact scores of the world's and the mirror code, then, per
tuning seed, the latent loss on free codes (three objectives), slow features on free codes and the label-free turns
found from them; then, on --pixel-seeds, slow features learned by the backbone's encoder from the cube's frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tyro


@dataclass
class Args:
    seeds: list[int] = field(default_factory=lambda: list(range(10)))
    """tuning seeds, all below 100"""
    steps: int = 2000
    """Adam steps of each free-code run (batch 256 transitions)"""
    pixel_seeds: list[int] = field(default_factory=list)
    """tuning seeds of the slow-features-from-pixels runs (each about 4 minutes on one core)"""
    pixel_updates: int = 3000
    """Adam updates of each pixel run (batch 64 pairs)"""
    slow_turns_seeds: list[int] = field(default_factory=list)
    """seeds of the label-free slow-turn estimator (vae/slow_turns.py) to run and keep under
    results/cube-slow-turns instead of the free-code study (any seed: below 100 tuning, 100 and up held out)"""
    slow_turns_pairs: int = 4000
    """collector pairs each slow-turn estimator is fitted on"""
    threads: int = 1
    """torch CPU threads"""
    out: Path = Path("results/tuning/cube/free-codes")
    """where the free-code study's records.json and summary.md go (the slow-turn runs always go to
    results/cube-slow-turns)"""


def main(args: Args) -> None:
    import torch

    from experiments.cube_study import SLOW_TURNS_DIR, run_slow_turns, run_study

    torch.set_num_threads(args.threads)
    if args.slow_turns_seeds:
        run_slow_turns(args.slow_turns_seeds, args.slow_turns_pairs)
        print((SLOW_TURNS_DIR / "summary.md").read_text())
        return
    run_study(args.seeds, args.steps, args.out, tuple(args.pixel_seeds), args.pixel_updates)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main(tyro.cli(Args))
