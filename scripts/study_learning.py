"""Rerun the learning study on tuning seeds (experiments/learning_study.py; docs/method.md, "The learning study").

    python scripts/study_learning.py --candidates before policy-angles-realign --seeds 0 1 2 --jobs 2
    python scripts/study_learning.py --orbits runs/reproduce/claim4/k3_s100/checkpoint.pt   # code steps of a run

Each (candidate, seed) trains RGrVAE on FlatLand-v0 for --updates and records label-free
diagnostics and labelled calibration at every check; runs already kept under --out are
skipped, and the summary table is rewritten from everything kept.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import tyro


@dataclass
class Args:
    candidates: list[str] = field(default_factory=lambda: ["before", "policy-angles-realign"])
    """candidate settings (experiments.learning_study.CANDIDATES)"""
    seeds: list[int] = field(default_factory=lambda: list(range(20)))
    """tuning seeds, all below 100"""
    updates: int = 1500
    """updates per run (48,000 pairs at batch 32)"""
    check_every: int = 250
    """updates between two checks"""
    jobs: int = 1
    """runs at once, each on --threads torch threads"""
    threads: int = 1
    """torch CPU threads per run"""
    cap: int = 0
    """full runs: the cap in updates (0: the main job's)"""
    k: int = 1
    """actions between the two frames of a pair; the agent explains each with N = k policy steps"""
    full: bool = False
    """full runs instead: the main job's stopping rule and cap, then criteria (a)-(c) (--updates is ignored)"""
    out: Path = Path("results/tuning/learning_study")
    """where the runs and the summary go"""
    orbits: list[str] = field(default_factory=list)
    """instead of training: checkpoints whose code steps along each factor's orbit (orbit_steps, labelled) are
    written to OUT/orbits.json and the summary"""


def _one(candidate: str, seed: int, updates: int, check_every: int, threads: int, full: bool, k: int, cap: int,
         path: str) -> str:
    import torch

    from experiments.learning_study import full_run, study_run

    torch.set_num_threads(threads)
    record = full_run(candidate, seed, k=k, cap=cap) if full else study_run(candidate, seed, updates, check_every, k=k)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1))
    if full:
        return f"{candidate} seed {seed}: passed {record['acceptance']['passed']['all']}, {record['pairs_seen']} pairs"
    return f"{candidate} seed {seed}: learned early {record['learned_early']}"


def main(argv: list[str] | None = None) -> int:
    from experiments.learning_study import CANDIDATES, check_tuning_seeds, run_path, write_summary

    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        check_tuning_seeds(args.seeds)
        unknown = sorted(set(args.candidates) - set(CANDIDATES))
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
        if min(args.jobs, args.threads, args.updates, args.check_every, args.k) < 1 or args.cap < 0:
            raise ValueError("--jobs, --threads, --updates, --check-every and --k must be positive integers, "
                             "--cap an integer >= 0")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.orbits:
        from agents.files import write_json
        from experiments.learning_study import checkpoint_orbits

        write_json(Path(args.out) / "orbits.json", checkpoint_orbits(args.orbits))
        print(write_summary(args.out))
        return 0
    todo = [(c, s) for c in args.candidates for s in args.seeds
            if not run_path(args.out, c, s, args.full, args.k, args.cap).is_file()]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_one, c, s, args.updates, args.check_every, args.threads, args.full, args.k, args.cap,
                               str(run_path(args.out, c, s, args.full, args.k, args.cap))) for c, s in todo]
        for future in as_completed(futures):
            print(future.result(), flush=True)
    if Path(args.out).is_dir():
        print(write_summary(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
