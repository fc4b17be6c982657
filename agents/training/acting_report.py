"""The README's "acting" section, generated from the kept records under ``results/acting/``.

``reach_goal_<model>.json`` come from ``scripts/reach_goal.py --out`` and ``downstream.json``
from ``scripts/downstream_sb3.py``; every number the section shows is read from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agents.training.experiments import fmt, table

#: reach-goal records shown, in this order: (file stem suffix, row label)
REACH_MODELS = (("rgrvae", "RGrVAE"), ("rgrvae_arithmetic", "RGrVAE"), ("forward", "ForwardVAE"),
                ("vae", "beta-VAE"))
#: downstream feature kinds, in this order
FEATURES = (("pixels", "raw pixels (NatureCNN)"), ("rgrvae", "RGrVAE latents"), ("forward", "ForwardVAE latents"),
            ("vae", "beta-VAE latents"))


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f} %"


def reach_goal_section(root: Path) -> str:
    records = [(label, _load(root / f"reach_goal_{name}.json")) for name, label in REACH_MODELS]
    records = [(label, r) for label, r in records if r is not None]
    if not records:
        return "_No kept results yet: `python scripts/reach_goal.py CKPT --out results/acting/reach_goal_rgrvae.json`._"
    rows = []
    for label, r in records:
        a = r["agent"]
        if a["can_plan"]:
            how = "nearest calibrated angle" if a["link"].get("method", "cycle") == "cycle" else "angle arithmetic"
            rows.append([f"{label} ({r['updates']:,} updates), plans by {how}", _pct(a["success_rate"]),
                         f"{a['mean_plan_length']:.2f}", f"{a['mean_oracle_length']:.2f}",
                         f"{a['excess_length_pct']:+.2f} %", f"{a['plan_ms_mean']:.2f} ms",
                         f"{a['link']['env_steps']}"])
        else:
            rows.append([f"{label} ({r['updates']:,} updates)", "cannot plan: no latent actions", "-", "-", "-",
                         "-", "-"])
    first = records[0][1]
    rows.append([f"random actions (within {first['horizon']} steps)", _pct(first["random"]["success_rate"]),
                 fmt(first["random"]["mean_length_of_successes"], 2), "-", "-", "-", "-"])
    shortest = f"{first['oracle']['mean_length']:.2f}"
    rows.append(["oracle (shortest paths)", _pct(first["oracle"]["success_rate"]), shortest, shortest, "-", "-", "-"])
    header = ["who acts", "success", "mean length", "oracle's mean length", "excess length", "time per plan",
              "own env steps to link"]
    commands = "\n".join(f"    {r['command']}" for _, r in records if r.get("command"))
    env = first["env_id"]
    return (f"Reaching goal frames on {env}: {first['episodes']:,} episodes of random (start, goal) pairs "
            f"(seeds {first['seed']}-{first['seed'] + first['episodes'] - 1}), each plan made once from the two "
            f"frames and executed open loop; success means the final frame equals the goal frame.\n\n"
            + table(header, rows) + "\n\nMeasured with:\n\n" + commands)


def downstream_section(root: Path) -> str:
    r = _load(root / "downstream.json")
    if r is None or not r.get("runs"):
        return "_No kept results yet: `python scripts/downstream_sb3.py --rgrvae CKPT --forward CKPT --vae CKPT`._"
    cfg = r["config"]
    rows = []
    for name, label in FEATURES:
        runs = sorted((x for x in r["runs"] if x["feature"] == name), key=lambda x: x["seed"])
        if not runs:
            continue
        finals = [x["success_rate"][-1] for x in runs]
        reached = [x["steps_to_90"] for x in runs]
        shown = ", ".join("never" if s is None else f"{s:,}" for s in reached)
        speed = np.mean([x["steps_per_second"] for x in runs])
        rows.append([label, str(len(runs)), ", ".join(_pct(f, 0) for f in finals), shown, f"{speed:.0f}"])
    header = ["features", "seeds", f"final success (last {cfg['window']} episodes), per seed",
              "env steps to 90 % success, per seed", "env steps / s"]
    return (f"PPO (stable-baselines3, {cfg['steps']:,} env steps per run, n_steps {cfg['n_steps']}, batch "
            f"{cfg['batch_size']}, {cfg['n_epochs']} epochs, gamma {cfg['gamma']}) on {cfg['env_id']} with goals "
            f"at most {cfg['max_goal_distance']} actions away and a horizon of {cfg['horizon']} steps, one CPU "
            f"thread:\n\n" + table(header, rows) + "\n\n![learning curves](results/acting/downstream.png)")


def acting_sections(results_root: str | Path = "results") -> dict[str, str]:
    """README section ``acting``: the reach-goal table and the downstream PPO table."""
    root = Path(results_root) / "acting"
    body = reach_goal_section(root) + "\n\n" + downstream_section(root)
    return {"acting": body}
