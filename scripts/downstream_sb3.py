"""PPO on FlatLandGoal-v0 from raw pixels and from trained agents' latents, over several seeds.

    python scripts/downstream_sb3.py --rgrvae runs/A/checkpoint.pt --forward runs/B/checkpoint.pt \\
        --vae runs/C/checkpoint.pt --seeds 3 --steps 50000

Writes ``--out`` (results/acting/downstream.json: per kind of features and seed, the success-rate
learning curve and the env steps to 90 % success, or null) after every run, so a killed job
resumes where it stopped, and the learning-curve figure ``--png``. A checkpoint left empty skips
that kind of features; ``--group`` adds the RGrVAE and ForwardVAE checkpoints' group
features; ``--no-pixels`` skips the pixel baseline; ``--task.max-goal-distance 0`` puts goals
anywhere. Exit codes: 0 done, 2 bad flags.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from acting.downstream import GROUP_SUFFIX, DownstreamConfig


@dataclass
class Args:
    rgrvae: str = ""
    """RGrVAE checkpoint (empty: skip)"""
    forward: str = ""
    """ForwardVAE checkpoint (empty: skip)"""
    vae: str = ""
    """beta-VAE checkpoint (empty: skip)"""
    group: bool = False
    """also train from the RGrVAE and ForwardVAE checkpoints' group features (agents.sb3.GroupFeatures): runs
    named rgrvae-group, forward-group"""
    pixels: bool = True
    """also train from raw pixels (NatureCNN)"""
    seeds: int = 3
    """PPO seeds 0 .. seeds-1 per kind of features"""
    task: DownstreamConfig = field(default_factory=DownstreamConfig)
    out: Path = Path("results/acting/downstream.json")
    """results JSON (runs already in it, with the same task settings, are kept and skipped)"""
    png: Path = Path("results/acting/downstream.png")
    """learning-curve figure"""
    threads: int = 1
    """CPU threads of torch"""


def main(argv: list[str] | None = None) -> int:
    try:
        args = tyro.cli(Args, args=argv, description=__doc__)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from acting.downstream import downstream_figure, run_all
    from agents.training.run import set_threads

    features: dict[str, str | None] = {"pixels": None} if args.pixels else {}
    for name in ("rgrvae", "forward", "vae"):
        path = getattr(args, name)
        if path:
            if not Path(path).is_file():
                print(f"error: --{name} {path} is not a file", file=sys.stderr)
                return 2
            features[name] = path
            if args.group and name != "vae":
                features[name + GROUP_SUFFIX] = path
    if not features or args.seeds < 1:
        print("error: nothing to run: give at least one checkpoint or --pixels, and --seeds >= 1", file=sys.stderr)
        return 2
    set_threads(args.threads)
    record = run_all(features, list(range(args.seeds)), args.task, args.out)
    downstream_figure(record, args.png)
    print(f"wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
