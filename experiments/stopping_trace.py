"""The label-free stopping rule traced against the labelled acceptance criteria, on tuning seeds.

A traced run trains RGrVAE with the rule only *recorded*, never applied, and at every check of
the rule also evaluates the labelled criteria (a)-(c): per check, the update, the pairs seen, the
label-free error, whether the rule would stop there, and the criteria. This is how the rule's
threshold was chosen, on seeds 0-9 only (docs/method.md, "Stopping"); a kept trace can be replayed
with the current default rule to see where it stops. ``scripts/trace_stopping.py`` drives it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from agents.callbacks import BaseCallback
from agents.rgrvae import RGrVAE, RGrVAEConfig
from agents.stopping import plateau_reached
from agents.training.evaluation import acceptance
from experiments.reproduce import FIRST_REPORT_SEED
from vae.metrics.suite import evaluate

#: the settings of the rule a trace records, as kept in its file
RULE_FIELDS = ("stop_error", "stop_check_every", "stop_patience", "stop_min_improvement", "stop_probe_pairs")
#: called with each check's row as soon as it is measured (a long trace shows its progress)
OnCheck = Callable[[dict[str, Any]], None]


def check_tuning_seeds(seeds: Iterable[int]) -> None:
    """Seeds from FIRST_REPORT_SEED up are held out for reporting: tuning the rule on them would leak into claims."""
    if any(s >= FIRST_REPORT_SEED for s in seeds):
        raise ValueError(f"seeds {FIRST_REPORT_SEED} and up are held out for reporting; trace tuning seeds only")


def trace_path(out_dir: str | Path, seed: int, tag: str = "") -> Path:
    """Where a seed's trace is kept: one file per seed and variant tag, so traces of variants sit side by side."""
    return Path(out_dir) / f"stopping_s{seed}{tag}.json"


def _would_stop(errors: list[float], rule: RGrVAEConfig) -> bool:
    """The rule's verdict on the errors so far: the one test both the trace and the replay apply."""
    return plateau_reached(errors, rule.stop_error, rule.stop_patience, rule.stop_min_improvement)


class _Checks(BaseCallback):
    """At each check of the rule: the label-free error, the rule's verdict, and the labelled criteria beside them."""

    def __init__(self, rule: RGrVAEConfig, eval_samples: int, on_check: OnCheck | None) -> None:
        self.rule, self.eval_samples, self.on_check = rule, eval_samples, on_check
        self.rows: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def on_step(self, agent: Any, stats: Any, batch: Any, truth: Any) -> bool:
        """Record a check where the rule would check; never stop the run (the rule is traced, not applied)."""
        if agent.num_steps % self.rule.stop_check_every:
            return True
        error = agent.self_equivariance_error()
        errors = [r["self_error"] for r in self.rows] + [error]
        suite = evaluate(agent, agent.world, num_samples=self.eval_samples, seed=1, progress=False,
                         metrics=("action_estimation", "equivariance"))
        acc = acceptance(agent, suite)
        self.rows.append({
            "update": agent.num_steps,
            "pairs_seen": agent.num_steps * agent.config.batch_size,
            "seconds": round(time.perf_counter() - self.started, 1),
            "self_error": error,
            "rule_would_stop": _would_stop(errors, self.rule),
            "accuracy": acc["action_accuracy"],
            "max_angle_error": max(r["error"] for r in acc["angles"]),
            "equivariance_error": acc["relative_equivariance_error"],
            "passed": acc["passed"]["all"],
        })
        if self.on_check is not None:
            self.on_check(self.rows[-1])
        return True


def trace(seed: int, total_steps: int = 7800, eval_samples: int = 500, precision: str = "auto",
          lr_decay_steps: int = -1, on_check: OnCheck | None = None,
          rule: RGrVAEConfig | None = None) -> dict[str, Any]:
    """A run of ``total_steps`` updates with the rule measured at every check but never applied, so the trace shows
    where it would have stopped and whether the criteria held there (``lr_decay_steps`` -1: RGrVAE's default;
    ``rule``: the settings of the rule traced, RGrVAE's defaults unless given)."""
    variant = {"lr_decay_steps": lr_decay_steps} if lr_decay_steps >= 0 else {}
    agent = RGrVAE("FlatLand-v0", seed=seed, stop_error=0.0, precision=precision, **variant)  # measure, never stop
    rule = rule or RGrVAE.Config()
    checks = _Checks(rule, eval_samples, on_check)
    agent.learn(total_steps, callback=checks, progress_bar=False)
    rows = checks.rows
    first_pass = next((r["pairs_seen"] for r in rows if r["passed"]), None)
    first_stop = next((r for r in rows if r["rule_would_stop"]), None)
    return {
        "seed": seed,
        "config": dataclasses.asdict(agent.config),
        "rule": {k: getattr(rule, k) for k in RULE_FIELDS},
        "first_pass_pairs": first_pass,
        "rule_stop_pairs": first_stop["pairs_seen"] if first_stop else None,
        "passed_at_rule_stop": first_stop["passed"] if first_stop else None,
        "checks": rows,
    }


def replay(path: str | Path) -> str:
    """Where RGrVAE's current default rule stops on a kept trace, and whether the criteria held there: a new rule
    is judged on the kept traces without training again."""
    rule = RGrVAE.Config()
    errors = []
    for check in json.loads(Path(path).read_text())["checks"]:
        errors.append(check["self_error"])
        if _would_stop(errors, rule):
            return (f"{path}: the default rule stops at {check['pairs_seen']} pairs; criteria met there: "
                    f"{check['passed']} (equivariance error {check['equivariance_error']:.4f})")
    return f"{path}: the default rule does not stop within the trace"
