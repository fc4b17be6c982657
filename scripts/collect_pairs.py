"""Record a dataset of pairs from a world, to train from later (``train_agent.py --dataset FILE``).

    python scripts/collect_pairs.py --out flatland_pairs.npz --num-pairs 50000
    python scripts/collect_pairs.py --env-id Sprites-v0 --env-kwargs offset 4 --k 2 --out sprites_k2.npz

The file holds the frames, the true actions and factors of every pair, the world's spec
and the world's id and keyword arguments, so a model trained on it can be evaluated on the
same world. Pairs come from native vector envs under the uniform random policy and never
span an episode reset.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from flatland_env.registration import check_world_id
from flatland_env.transitions import TransitionCollector, save_npz


@dataclass
class Args:
    out: str
    """where to write the .npz"""
    env_id: str = "FlatLand-v0"
    """registered symmetry world"""
    env_kwargs: dict[str, int | float | str] = field(default_factory=dict)
    """keyword arguments of the world"""
    num_pairs: int = 10_000
    """pairs to record"""
    num_envs: int = 8
    """vector envs rolled in parallel"""
    k: int = 1
    """actions between the two frames of a pair"""
    seed: int = 0
    """seed of the rollouts"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        check_world_id(args.env_id)
        if args.num_pairs < 1:
            raise ValueError(f"num_pairs must be >= 1, got {args.num_pairs}")
        out = Path(args.out)
        if out.suffix != ".npz":
            raise ValueError(f"out must end in .npz, got {args.out!r}")
        if not out.parent.is_dir():
            raise ValueError(f"out: folder {str(out.parent)!r} does not exist")
        with TransitionCollector(args.env_id, num_envs=args.num_envs, k=args.k, seed=args.seed, shuffle=True,
                                 **args.env_kwargs) as collector:
            pairs = collector.collect(args.num_pairs)
            save_npz(out, pairs, collector.spec, env_id=args.env_id, env_kwargs=args.env_kwargs)
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(pairs)} {args.k}-step pairs of {args.env_id} -> {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
