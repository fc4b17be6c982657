"""Rerun the Sprites study on tuning seeds (experiments/sprites_study.py; docs/method.md, "Sprites").

    python scripts/study_sprites.py --candidates claim6 predicted known-group --seeds 1 2 --updates 3000 --jobs 2
    python scripts/study_sprites.py --pair-probe equivariance inverse --seeds 0 1 --jobs 2
    python scripts/study_sprites.py --supervised relu --pooled       # the encoder that also sees its maps' maxima
    python scripts/study_sprites.py --step-errors runs/reproduce/claim6/forward-recipe_s10{0,1,2}  # planes' misses
    python scripts/study_sprites.py --harmonics     # what a heart's frames carry of its turn (exact, no learner)

Each (candidate, seed) trains ForwardVAE on hearts for --updates and, at every check, records the
learned angles and a labelled probe of what each latent plane holds; runs already kept under
--out are skipped, and the summary table is rewritten from everything kept.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import tyro


@dataclass
class Args:
    candidates: list[str] = field(default_factory=lambda: ["claim6", "predicted"])
    """candidate settings (experiments.sprites_study.CANDIDATES)"""
    seeds: list[int] = field(default_factory=lambda: [1, 2])
    """tuning seeds, all below 100"""
    updates: int = 3000
    """updates per run (96,000 pairs at batch 32)"""
    check_every: int = 1000
    """updates between two checks (of a candidate's run, or of a pair-turn probe)"""
    jobs: int = 1
    """runs at once, each on --threads torch threads"""
    threads: int = 1
    """torch CPU threads per run"""
    out: Path = Path("results/tuning/sprites")
    """where the runs and the summary go"""
    supervised: list[str] = field(default_factory=list)
    """encoder activations (selu, relu) to put through the supervised turn probe instead of training candidates"""
    supervised_updates: int = 6000
    """updates of each supervised turn probe"""
    pair_probe: list[str] = field(default_factory=list)
    """pair objectives (experiments.sprites_study.PAIR_OBJECTIVES) to put through the pair-turn probe, on --seeds,
    instead of training candidates"""
    pair_updates: int = 6000
    """updates of each pair-turn probe"""
    pooled: bool = False
    """give the probes' encoders (--supervised, --pair-probe) the spatial maxima of their conv maps as well"""
    step_errors: list[Path] = field(default_factory=list)
    """ForwardVAE run folders (with checkpoint.pt) on hearts with offset 4: record how each factor's action misses on
    its plane (experiments.sprites_study.orbit_step_errors) instead of training"""
    step_out: Path = Path("results/claim6/step-errors")
    """where --step-errors keeps one JSON per run and its summary.md"""
    harmonics: bool = False
    """instead of training: read the angular harmonics and orbit distances of each shape's frames, exactly over every
    state (experiments.sprite_harmonics; no learner, no seed)"""
    harmonics_out: Path = Path("results/claim6/harmonics")
    """where --harmonics keeps one JSON per shape and summary.md"""


def _one(candidate: str, seed: int, updates: int, check_every: int, threads: int, path: str) -> str:
    import torch

    from experiments.sprites_study import study_run

    torch.set_num_threads(threads)
    record = study_run(candidate, seed, updates, check_every)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1))
    last = record["checks"][-1]
    return f"{candidate} seed {seed}: angles {last['angles']}, R^2 " + " ".join(
        f"{k} {v['r2']}" for k, v in last["probe"].items())


def _supervised(activation: str, updates: int, pooled: bool, threads: int, path: str) -> str:
    import torch

    from experiments.sprites_study import supervised_turn_probe

    torch.set_num_threads(threads)
    record = supervised_turn_probe(activation, updates, pooled=pooled)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1))
    return f"supervised turn probe, {activation}: R^2 " + ", ".join(str(c["turn_r2"]) for c in record["checks"])


def _pair(objective: str, seed: int, updates: int, check_every: int, pooled: bool, threads: int, path: str) -> str:
    import torch

    from experiments.sprites_study import pair_turn_probe

    torch.set_num_threads(threads)
    record = pair_turn_probe(objective, seed, updates, check_every, pooled=pooled)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1))
    return f"pair-turn probe, {objective} seed {seed}: R^2 " + ", ".join(str(c["turn_r2"]) for c in record["checks"])


def _run_all(jobs: int, calls: list[tuple]) -> None:
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        for future in as_completed([pool.submit(*call) for call in calls]):
            print(future.result(), flush=True)


def main(args: Args) -> None:
    from experiments.learning_study import check_tuning_seeds
    from experiments.sprites_study import CANDIDATES, run_path, write_summary

    if args.supervised and args.pair_probe:
        raise SystemExit("--supervised and --pair-probe are two studies: give one of them")
    if args.check_every < 1 or args.pair_updates < args.check_every:
        raise SystemExit(f"--check-every must be >= 1 and --pair-updates >= it, got {args.check_every} and "
                         f"{args.pair_updates}")

    if args.harmonics:
        from experiments.sprite_harmonics import write_harmonics

        if args.step_errors or args.supervised or args.pair_probe:
            raise SystemExit("--harmonics reads the world's frames alone; give it without --step-errors, --supervised "
                             "or --pair-probe")
        print(write_harmonics(args.harmonics_out))
        return

    if args.step_errors:
        from experiments.sprites_study import checkpoint_step_errors, write_step_summary

        if args.supervised or args.pair_probe:
            raise SystemExit("--step-errors reads checkpoints; give it without --supervised or --pair-probe")
        records = []
        for run_dir in args.step_errors:  # all read before any is written: a bad folder leaves nothing half-done
            try:
                records.append(checkpoint_step_errors(run_dir))
            except (FileNotFoundError, ValueError) as e:
                raise SystemExit(f"--step-errors {run_dir}: {e}") from e
        names = [r["run"] for r in records]
        if len(set(names)) < len(names):
            raise SystemExit(f"--step-errors: run folders must have distinct names, got {names}")
        args.step_out.mkdir(parents=True, exist_ok=True)  # the records go in before the summary is written
        for record in records:
            (args.step_out / f"{record['run']}.json").write_text(json.dumps(record, indent=1))
        print(write_step_summary(args.step_out))
        return

    if args.supervised:
        from vae.nets import ACTIVATIONS

        bad = [a for a in args.supervised if a not in ACTIVATIONS]
        if bad:
            raise SystemExit(f"unknown activations {bad}; choose from {sorted(ACTIVATIONS)}")
        from experiments.sprites_study import SUPERVISED_DIR

        tag = "-pooled" if args.pooled else ""
        paths = {a: args.out / SUPERVISED_DIR / f"{a}{tag}-{args.supervised_updates}.json" for a in args.supervised}
        _run_all(args.jobs, [(_supervised, a, args.supervised_updates, args.pooled, args.threads, str(p))
                             for a, p in paths.items() if not p.exists()])
        print(write_summary(args.out))
        return

    if args.pair_probe:
        from experiments.sprites_study import PAIR_DIR, PAIR_OBJECTIVES

        bad = [o for o in args.pair_probe if o not in PAIR_OBJECTIVES]
        if bad:
            raise SystemExit(f"unknown pair objectives {bad}; choose from {sorted(PAIR_OBJECTIVES)}")
        check_tuning_seeds(args.seeds)
        tag = "-pooled" if args.pooled else ""
        paths = {(o, s): args.out / PAIR_DIR / f"{o}{tag}-{args.pair_updates}_s{s}.json"
                 for o in args.pair_probe for s in args.seeds}
        _run_all(args.jobs, [(_pair, o, s, args.pair_updates, args.check_every, args.pooled, args.threads, str(p))
                             for (o, s), p in paths.items() if not p.exists()])
        print(write_summary(args.out))
        return

    unknown = [c for c in args.candidates if c not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; choose from {sorted(CANDIDATES)}")
    check_tuning_seeds(args.seeds)
    todo = [(c, s, run_path(args.out, c, s, args.updates)) for c in args.candidates for s in args.seeds]
    todo = [t for t in todo if not t[2].exists()]
    _run_all(args.jobs, [(_one, c, s, args.updates, args.check_every, args.threads, str(p)) for c, s, p in todo])
    print(write_summary(args.out))


if __name__ == "__main__":
    main(tyro.cli(Args))
