"""PPO on FlatLandGoal-v0 from raw pixels and from trained agents' latents, over several seeds.

    python scripts/downstream_sb3.py --rgrvae runs/A/checkpoint.pt --forward runs/B/checkpoint.pt \\
        --vae runs/C/checkpoint.pt --seeds 3 --steps 50000
    python scripts/downstream_sb3.py --rgrvae runs/reproduce/claim3/rgrvae_s1* --group \\
        --task.max-goal-distance 0 --task.horizon 48 --out results/acting/downstream_anywhere.json

Each of ``--rgrvae``, ``--forward`` and ``--vae`` takes checkpoints or run folders, as many as
given; RGrVAE and ForwardVAE runs are used only if their run folder's ``metrics.json`` says
they passed (a)-(c) (chosen by that rule, not by hand; the others are named and left out).
Runs are named ``<kind>/<run folder>``.

Writes ``--out`` (results/acting/downstream.json: per kind of features and seed, the success-rate
learning curve and the env steps to 90 % success, or null) after every run, so a killed job
resumes where it stopped, and the learning-curve figure ``--png``. A checkpoint left empty skips
that kind of features; ``--group`` adds the RGrVAE and ForwardVAE checkpoints' group
features; ``--no-pixels`` skips the pixel baseline; ``--task.max-goal-distance 0`` puts goals
anywhere. Exit codes: 0 done, 2 bad flags.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from acting.downstream import CALIBRATED_SUFFIX, GROUP_SUFFIX, READ_SUFFIX, DownstreamConfig


@dataclass
class Args:
    rgrvae: list[str] = field(default_factory=list)
    """RGrVAE checkpoints or run folders (only those that passed (a)-(c) are used)"""
    forward: list[str] = field(default_factory=list)
    """ForwardVAE checkpoints or run folders (only those that passed (a)-(c) are used)"""
    vae: list[str] = field(default_factory=list)
    """beta-VAE checkpoints or run folders"""
    group: bool = False
    """also train from the RGrVAE and ForwardVAE checkpoints' group features (agents.sb3.GroupFeatures): runs
    named rgrvae-group, forward-group"""
    calibrated: bool = False
    """also train from the RGrVAE and ForwardVAE checkpoints' calibrated group element
    (agents.sb3.CalibratedGroupFeatures: the goal in units of their own actions, from their planner's
    calibration walks): runs named rgrvae-calibrated, forward-calibrated"""
    read: bool = False
    """also train from every checkpoint's group element read by position readers fitted to its codes along its own
    calibration walk (agents.reading; no latent actions needed, so the beta-VAE too): runs named rgrvae-read,
    forward-read, vae-read"""
    latents: bool = True
    """train from the checkpoints' raw latents (off: only the kinds --group, --calibrated and --read add)"""
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
    from acting.downstream import downstream_figure, make_task, run_all
    from acting.rho_planning import passed_criteria
    from agents.training.run import set_threads

    features: dict[str, str | None] = {"pixels": None} if args.pixels else {}
    for name in ("rgrvae", "forward", "vae"):
        files = {}  # run folder -> the checkpoint file given (a folder: its checkpoint.pt)
        for given in getattr(args, name):
            path = Path(given)
            if not (path.is_file() or (path / "checkpoint.pt").is_file()):
                print(f"error: --{name} {given} is neither a checkpoint nor a run folder holding one", file=sys.stderr)
                return 2
            files[path.parent if path.is_file() else path] = path if path.is_file() else path / "checkpoint.pt"
        if len({folder.name for folder in files}) < len(files):
            print(f"error: --{name}: two run folders share a name ({sorted(str(f) for f in files)}); runs are named "
                  f"by their folder", file=sys.stderr)
            return 2
        folders = list(files)
        if name != "vae":
            for folder in folders:
                if not (folder / "metrics.json").is_file():
                    print(f"error: --{name}: {folder} has no metrics.json to say whether it passed (a)-(c)",
                          file=sys.stderr)
                    return 2
            chosen = [f for f in folders if passed_criteria(json.loads((f / "metrics.json").read_text()))]
            for folder in folders:
                if folder not in chosen:
                    print(f"left out {folder}: its metrics.json does not say it passed (a)-(c)")
            folders = chosen
        for folder in folders:
            checkpoint = str(files[folder])
            if args.latents:
                features[f"{name}/{folder.name}"] = checkpoint
            if args.group and name != "vae":
                features[f"{name}{GROUP_SUFFIX}/{folder.name}"] = checkpoint
            if args.calibrated and name != "vae":
                features[f"{name}{CALIBRATED_SUFFIX}/{folder.name}"] = checkpoint
            if args.read:
                features[f"{name}{READ_SUFFIX}/{folder.name}"] = checkpoint
    if not features or args.seeds < 1:
        print("error: nothing to run: give at least one checkpoint or --pixels, and --seeds >= 1", file=sys.stderr)
        return 2
    try:  # the task's settings, before any run: a horizon too short for goals anywhere is refused here
        for region in dict.fromkeys(r for r in (args.task.goal_region, args.task.test_region) if r):
            make_task(args.task, region).close()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    set_threads(args.threads)
    given = sys.argv[1:] if argv is None else argv
    record = run_all(features, list(range(args.seeds)), args.task, args.out,
                     command=" ".join(["python scripts/downstream_sb3.py", *given]))
    downstream_figure(record, args.png)
    print(f"wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
