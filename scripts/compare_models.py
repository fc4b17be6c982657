"""Train several models over several seeds and print one side-by-side table (README tables).

    python scripts/compare_models.py --models vae forward --seeds 0 1 2 --total-steps 4000
    python scripts/compare_models.py --models rgrvae --seeds 0 1 2      # issue 4's acceptance runs

Each (model, seed) trains into ``<out>/<model>_s<seed>`` exactly as ``train_agent.py``
would with default flags (plus --total-steps); a run whose ``metrics.json`` already
exists is reused, so an interrupted comparison continues where it stopped. The table
(mean ± std over seeds) is printed and written to ``<out>/table.md``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import report, run  # noqa: E402


@dataclass
class Args:
    models: list[Literal["rgrvae", "forward", "vae"]] = field(default_factory=lambda: ["vae", "forward", "rgrvae"])
    """models to compare"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """seeds per model"""
    env_id: str = "FlatLand-v0"
    """registered symmetry world"""
    total_steps: int | None = None
    """updates per run (default: train_agent.py's default)"""
    out: str = "runs/compare"
    """folder of the runs and the table"""
    eval_samples: int = 1000
    """sample size of each run's metric suite"""
    threads: int | None = None
    """CPU threads of torch"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    total = run.DEFAULT_TOTAL_STEPS if args.total_steps is None else args.total_steps
    run.set_threads(args.threads)
    records: dict[str, list[dict]] = {}
    for model in args.models:
        for seed in args.seeds:
            run_dir = Path(args.out) / f"{model}_s{seed}"
            if not (run_dir / run.METRICS_NAME).is_file():
                spec = run.make_spec(model=model, env_id=args.env_id,
                                     flags={"seed": seed, "lr_decay_steps": total}, total_steps=total,
                                     run_dir=run_dir, eval_samples=args.eval_samples, progress=False)
                start = time.perf_counter()
                result = run.train(spec)
                print(f"{model} seed {seed}: {time.perf_counter() - start:.0f} s, {run.headline(result.metrics)}")
            records.setdefault(model, []).append(report.load_record(run_dir))
    table = report.markdown_table(records)
    (Path(args.out) / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
