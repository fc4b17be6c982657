"""Trace the label-free stopping rule against the labelled acceptance criteria, on tuning seeds.

``python scripts/trace_stopping.py --seeds 0 1`` trains RGrVAE with its defaults (the
stopping rule is only *recorded*, never applied, so each run goes to --total-steps) and,
at every check of the rule, also evaluates the labelled criteria (a)-(c). It writes
``results/tuning/stopping_s<seed>.json``: per check, the update, the pairs seen, the
label-free error, whether the rule would stop there, and the labelled criteria. This is how
the rule's threshold was chosen, on seeds 0-9 only (docs/method.md, "Stopping").
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tyro


@dataclass
class Args:
    seeds: list[int] = field(default_factory=lambda: [0])
    """tuning seeds (report seeds are 100 and up: keep them out of here)"""
    total_steps: int = 7800
    """updates per run"""
    out_dir: Path = Path("results/tuning")
    """where the traces go"""
    eval_samples: int = 500
    """sample size of the labelled criteria at each check"""
    threads: int = 0
    """torch CPU threads (0: torch's default)"""
    precision: str = "auto"
    """auto, fp32 or bf16"""
    lr_decay_steps: int = -1
    """cosine-decay the learning rates over this many updates (-1: RGrVAE's default, 0: constant)"""
    tag: str = ""
    """suffix of the output file name, for variants"""
    replay: list[Path] = field(default_factory=list)
    """kept traces to replay with the current default rule instead of training (prints where it stops)"""


def trace(seed: int, args: Args) -> dict:
    from agents.callbacks import BaseCallback
    from agents.rgrvae import RGrVAE
    from agents.stopping import plateau_reached
    from agents.training.evaluation import acceptance
    from vae.metrics.suite import evaluate

    variant = {"lr_decay_steps": args.lr_decay_steps} if args.lr_decay_steps >= 0 else {}
    # measure the rule without applying it
    agent = RGrVAE("FlatLand-v0", seed=seed, stop_error=0.0, precision=args.precision, **variant)
    rule = RGrVAE.Config()  # the default rule's settings
    rows: list[dict] = []
    started = time.perf_counter()

    class Checks(BaseCallback):
        def on_step(self, agent, stats, batch, truth) -> bool:
            if agent.num_steps % rule.stop_check_every:
                return True
            error = agent.self_equivariance_error()
            errors = [r["self_error"] for r in rows] + [error]
            suite = evaluate(agent, agent.world, num_samples=args.eval_samples, seed=1, progress=False,
                             metrics=("action_estimation", "equivariance"))
            acc = acceptance(agent, suite)
            rows.append({
                "update": agent.num_steps,
                "pairs_seen": agent.num_steps * agent.config.batch_size,
                "seconds": round(time.perf_counter() - started, 1),
                "self_error": error,
                "rule_would_stop": plateau_reached(errors, rule.stop_error, rule.stop_patience,
                                                   rule.stop_min_improvement),
                "accuracy": acc["action_accuracy"],
                "max_angle_error": max(r["error"] for r in acc["angles"]),
                "equivariance_error": acc["relative_equivariance_error"],
                "passed": acc["passed"]["all"],
            })
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
            return True

    agent.learn(args.total_steps, callback=Checks(), progress_bar=False)
    first_pass = next((r["pairs_seen"] for r in rows if r["passed"]), None)
    first_stop = next((r for r in rows if r["rule_would_stop"]), None)
    return {
        "seed": seed,
        "config": dataclasses.asdict(agent.config),
        "rule": {k: getattr(rule, k) for k in ("stop_error", "stop_check_every", "stop_patience",
                                                 "stop_min_improvement", "stop_probe_pairs")},
        "first_pass_pairs": first_pass,
        "rule_stop_pairs": first_stop["pairs_seen"] if first_stop else None,
        "passed_at_rule_stop": first_stop["passed"] if first_stop else None,
        "checks": rows,
    }


def replay(path: Path) -> str:
    """Where RGrVAE's current default rule stops on a kept trace, and whether the criteria held there."""
    import json

    from agents.rgrvae import RGrVAE
    from agents.stopping import plateau_reached

    rule = RGrVAE.Config()
    errors = []
    for check in json.loads(Path(path).read_text())["checks"]:
        errors.append(check["self_error"])
        if plateau_reached(errors, rule.stop_error, rule.stop_patience, rule.stop_min_improvement):
            return (f"{path}: the default rule stops at {check['pairs_seen']} pairs; criteria met there: "
                    f"{check['passed']} (equivariance error {check['equivariance_error']:.4f})")
    return f"{path}: the default rule does not stop within the trace"


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    if args.replay:
        for path in args.replay:
            print(replay(path))
        return 0
    if any(s >= 100 for s in args.seeds):
        print("error: seeds 100 and up are held out for reporting; trace tuning seeds only", file=sys.stderr)
        return 2
    import torch

    from agents.files import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    for seed in args.seeds:
        record = trace(seed, args)
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out_dir) / f"stopping_s{seed}{args.tag}.json", record)
        print(f"seed {seed}: first pass at {record['first_pass_pairs']} pairs; rule stops at "
              f"{record['rule_stop_pairs']} pairs (passed there: {record['passed_at_rule_stop']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
