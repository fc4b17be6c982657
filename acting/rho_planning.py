"""Planning by rho alone, on every run that passed (a)-(c): how far does the learned group's angle arithmetic go?

The default planner (agents/planning.py, method ``cycle``) reads positions off its own
calibration walks and uses rho only to choose planes. With ``arithmetic`` it plans by rho
alone: a frame's position on a cycle is its latent angle divided by rho's angle. Both are run
on the same episodes for every run folder whose kept ``metrics.json`` says it passed (a)-(c),
chosen by that rule and not by hand, beside the code's orbit spacing (vae/metrics/orbit_spacing.py:
the largest over the median code step along each factor's orbit, labelled). Angle arithmetic
assumes evenly spaced codes; the spacing says how far each run's code is from that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acting.reaching import evaluate_reaching
from agents.base import BaseAgent
from vae.metrics.orbit_spacing import orbit_spacing

METHODS = ("cycle", "arithmetic")


def passing_runs(folders: list[str | Path]) -> list[Path]:
    """The folders holding a ``checkpoint.pt`` whose ``metrics.json`` says the run passed (a)-(c), in the given
    order (criteria with an angle per action: a product of cycles); a folder without either file is an error
    naming it."""
    out = []
    for folder in map(Path, folders):
        metrics, checkpoint = folder / "metrics.json", folder / "checkpoint.pt"
        if not (metrics.is_file() and checkpoint.is_file()):
            raise ValueError(f"{folder} has no metrics.json and checkpoint.pt: give the run folders of finished runs")
        if passed_criteria(json.loads(metrics.read_text())):
            out.append(folder)
    return out


def passed_criteria(metrics: dict[str, Any]) -> bool:
    """Whether a run's ``metrics.json`` says it passed (a)-(c) with an angle per action (a product of cycles)."""
    accepted = metrics.get("acceptance") or {}
    return bool("angles" in accepted and accepted.get("passed", {}).get("all"))


def plan_by_rho(folders: list[str | Path], episodes: int = 200, seed: int = 0, horizon: int = 100) -> dict[str, Any]:
    """For each run in ``folders`` that passed (a)-(c): the success of both planners and the orbit spacing."""
    chosen = passing_runs(folders)
    rows = []
    for folder in chosen:
        agent = BaseAgent.load(folder / "checkpoint.pt", device="cpu")
        try:
            if agent.world is None:
                raise ValueError(f"the agent in {folder} has no world to plan in (it was trained from a dataset "
                                 f"that records none)")
            row: dict[str, Any] = {"run": str(folder), "seed": agent.config.seed, "updates": agent.num_steps,
                                   "orbit_spacing": orbit_spacing(agent.encode, agent.world)}
            for method in METHODS:
                rec = evaluate_reaching(agent, episodes, seed, horizon, method=method)["agent"]
                row[method] = {k: rec.get(k) for k in ("success_rate", "shortest_fraction", "excess_length_pct")}
        finally:
            agent.source.close()
        rows.append(row)
    return {"episodes": episodes, "seed": seed, "horizon": horizon, "given": [str(f) for f in folders],
            "passed": len(chosen), "runs": rows}
