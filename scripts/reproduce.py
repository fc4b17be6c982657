"""Reproduce the paper's claims: train the runs an experiment needs, keep their results, regenerate the README.

    python scripts/reproduce.py claim3                 # the main job on its held-out seeds 100-119
    python scripts/reproduce.py claim4 --seeds 100 101 # k-step pairs, two seeds
    python scripts/reproduce.py claim5 --jobs 2 --threads 4   # two runs at a time, four torch threads each
    python scripts/reproduce.py all                    # every claim (hours on a CPU)
    python scripts/reproduce.py tables                 # only rewrite the README's tables and the figures
    ray start --head   # then, on each other node: ray start --address HEAD:6379
    python scripts/reproduce.py all --backend ray --address auto --work-root /nfs/reproduce

An experiment's runs without a kept result go through the sweep machinery (experiments/sweep.py):
each is a ``train_agent.py`` process in ``WORK_ROOT/<experiment>/<run>/``, its log in
``WORK_ROOT/<experiment>/logs/``, run on a pool here (``--jobs`` at a time, 0: cores //
``--threads``) or as Ray tasks on a cluster (every node needs this package installed and the
work root on a shared file system). A run that fails is retried once from its last checkpoint,
then kept as ``failed.json`` with its error; a rerun retries it. Each finished run's
``metrics.json`` and ``run.json`` are kept under ``results/<experiment>/<run>/`` (committed);
checkpoints and TensorBoard events stay under ``--work-root``. A run whose result is kept is
skipped, and a stopped reproduction (Ctrl-C saves every run's checkpoint) resumes its runs when
started again. After the runs, the README's tables between ``<!-- results:NAME -->`` markers
and each claim's ``results/<claim>/summary.png`` are regenerated from ``results/`` alone.
Exit codes: 0 done (failed runs are shown in the README), 2 bad flags, 130 Ctrl-C or SIGTERM (runs saved).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Literal

import tyro

from experiments.claims import EXPERIMENTS, readme_sections
from experiments.reproduce import check_report_seeds, run_experiment, save_figures, stale_runs, update_readme


@dataclass
class Args:
    experiments: Annotated[tuple[str, ...], tyro.conf.Positional]
    """claim1 ... claim6, continuous, all, or tables (no training)"""
    seeds: tuple[int, ...] = ()
    """seeds to run (default: each experiment's held-out seeds)"""
    results_root: str = "results"
    """where the kept results go"""
    work_root: str = "runs/reproduce"
    """where checkpoints and TensorBoard events go"""
    readme: str = "README.md"
    """the README whose tables are regenerated"""
    runs: str = ""
    """only the runs whose name matches this glob, e.g. "forward-paper_*" (default: all)"""
    backend: Literal["local", "ray"] = "local"
    """local: a pool of runs here; ray: one Ray task per run (on a cluster with --address)"""
    jobs: int = 0
    """runs at a time on the local backend (0: cores // threads)"""
    address: str = ""
    """Ray cluster to join, e.g. auto after `ray start --head` (default: start a local Ray)"""
    threads: int = 1
    """CPU threads of torch in each run (and the CPUs each Ray task asks for)"""
    gpus_per_run: float | None = None
    """share of a GPU each Ray task asks for (default: a quarter where the cluster has GPUs, else none)"""
    progress: bool = True
    """progress bars of the noisy-frame evaluations, which run here (each run's output goes to its log)"""
    tuning: bool = False
    """allow seeds below 100, which are for tuning and never reported"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    names = list(EXPERIMENTS) if "all" in args.experiments else [n for n in args.experiments if n != "tables"]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not args.experiments:
        print(f"error: unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}, all, tables",
              file=sys.stderr)
        return 2
    try:
        check_report_seeds(args.seeds, args.tuning)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        for name in names:
            run_experiment(EXPERIMENTS[name], args.seeds or None, args.results_root, args.work_root, args.threads,
                           args.progress, only=args.runs, backend=args.backend, jobs=args.jobs,
                           address=args.address, gpus_per_run=args.gpus_per_run)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the runs saved their checkpoints. Run the same command to go on", file=sys.stderr)
        return 130
    update_readme(args.readme, readme_sections(args.results_root))
    for path in save_figures(EXPERIMENTS, args.results_root):
        print(f"figure: {path}")
    print(f"README tables regenerated from {args.results_root}/")
    for name, exp in EXPERIMENTS.items():
        stale = stale_runs(exp, args.results_root)
        if stale:
            first, why = next(iter(stale.items()))
            print(f"{name}: {len(stale)} kept result(s) may be stale, e.g. {first}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
