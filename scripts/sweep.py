"""Sweep the main job over seeds and a grid of flags, on this machine or on a Ray cluster.

    python scripts/sweep.py rgrvae --seeds 0 1 2 --out runs/sweep                     # two at a time on 2 cores
    python scripts/sweep.py rgrvae --seeds 0 1 --grid gamma=10,30 --grid lr=1e-3,3e-4 --out runs/grid
    python scripts/sweep.py forward --seeds 0 1 --out runs/fw --k 2 --action-steps 2  # any train_agent flag
    python scripts/sweep.py rgrvae --seeds 0 1 2 3 --backend ray --out runs/sweep     # a local Ray
    ray start --head   # then, on each other node: ray start --address HEAD:6379
    python scripts/sweep.py rgrvae --seeds 0-19 --backend ray --address auto --out /nfs/sweeps/run1

Each run is ``train_agent.py`` with the flags given here, in ``OUT/<model>_<grid values>_s<seed>/``;
its log is ``OUT/logs/<name>.log``. ``OUT/summary.json`` and ``OUT/summary.csv`` list every
run: its settings, status, pairs seen, wall time, verdict and headline metrics. Run the same
command again after a stop: finished runs are skipped, the others resume from their checkpoints.
A run that fails is retried once (``--retries``), then reported, and the others go on.
Exit codes: 0 every run finished, 1 some failed, 2 bad flags, 130 Ctrl-C or SIGTERM (runs saved).
"""

from __future__ import annotations

import argparse
import sys

from experiments.sweep import BACKENDS, parse_grid, plan_sweep, sweep


def _seeds(values: list[str]) -> list[int]:
    """``["0", "1", "5-7"]`` -> ``[0, 1, 5, 6, 7]``."""
    out = []
    for v in values:
        low, sep, high = v.partition("-")
        if not (low.isdigit() and (not sep or high.isdigit())):
            raise ValueError(f"seeds are integers or ranges such as 5-7, got {v!r}")
        out += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Every other flag goes to each run's train_agent.py unchanged.")
    p.add_argument("model", help="the agent: rgrvae, forward, vae (train_agent.py's subcommands)")
    p.add_argument("--seeds", nargs="+", required=True, help="seeds, or ranges such as 0-9")
    p.add_argument("--out", required=True, help="the sweep's folder: one folder per run, logs, the summary")
    p.add_argument("--grid", action="append", default=[], metavar="FLAG=V1,V2",
                   help="values to sweep one flag over (repeat for a product); a value with spaces is a list")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="local: a pool here; ray: Ray tasks")
    p.add_argument("--address", default="", help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run (and CPUs each Ray task asks)")
    p.add_argument("--jobs", type=int, default=0, help="local runs at a time (0: cores // threads)")
    p.add_argument("--gpus-per-run", type=float, default=None,
                   help="share of a GPU each Ray task asks (default: 0.25 where the cluster has GPUs, else 0)")
    p.add_argument("--retries", type=int, default=1, help="times a failed run is tried again")
    return p


def main(argv: list[str] | None = None) -> int:
    args, train_flags = parser().parse_known_args(argv)
    try:
        if args.threads < 1 or args.jobs < 0 or args.retries < 0:
            raise ValueError("--threads must be >= 1, --jobs and --retries >= 0")
        if args.gpus_per_run is not None and not 0 <= args.gpus_per_run <= 1:
            raise ValueError(f"--gpus-per-run must be in [0, 1], got {args.gpus_per_run}")
        runs = plan_sweep(args.model, _seeds(args.seeds), parse_grid(args.grid), train_flags)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"sweep of {len(runs)} runs on {args.backend} into {args.out}")
    try:
        rows = sweep(runs, args.out, args.backend, args.threads, args.jobs, args.retries, args.address,
                     args.gpus_per_run)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; the runs saved their checkpoints. Run the same command to go on ({args.out}/summary.csv)",
              file=sys.stderr)
        return 130
    failed = [r for r in rows if r["status"] != "finished"]
    for r in rows:
        if r["status"] == "finished":
            print(f"{r['name']}: finished; learned (label-free): {r.get('learned')}; (a)-(c): {r.get('passed')}")
        else:
            print(f"{r['name']}: {r['status']}: {r.get('error', '')}")
    print(f"summary: {args.out}/summary.csv")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
