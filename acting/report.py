"""The README's "acting" section, generated from the kept records under ``results/acting/``.

``reach_goal_<model>.json`` come from ``scripts/reach_goal.py --out`` and ``downstream.json``
from ``scripts/downstream_sb3.py``; every number the section shows is read from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments.tables import fmt, table

#: reach-goal records are shown in this order of algorithm, with these labels
ALGO_LABELS = {"rgrvae": "RGrVAE", "forward": "ForwardVAE", "vae": "beta-VAE"}
#: downstream feature kinds, in this order
FEATURES = (("pixels", "raw pixels (NatureCNN)"), ("rgrvae", "RGrVAE latents"), ("forward", "ForwardVAE latents"),
            ("vae", "beta-VAE latents"), ("rgrvae-group", "RGrVAE group features (angle to the goal per plane)"),
            ("forward-group", "ForwardVAE group features (angle to the goal per plane)"),
            ("rgrvae-calibrated", "RGrVAE calibrated group element (own actions to the goal per plane)"),
            ("forward-calibrated", "ForwardVAE calibrated group element (own actions to the goal per plane)"),
            ("rgrvae-read", "RGrVAE group element read by position readers (no rho)"),
            ("forward-read", "ForwardVAE group element read by position readers (no rho)"),
            ("vae-read", "beta-VAE group element read by position readers (the control)"))


#: what makes the pooled downstream records (shown while a record is missing; a record names its own command)
ANYWHERE_HINT = ("python scripts/downstream_sb3.py --rgrvae RUNS --forward RUNS --vae RUNS --group --calibrated --read "
                 "--task.max-goal-distance 0 --task.horizon 48 --task.steps 40000 --task.shaping 1.0 "
                 "--out results/acting/downstream_anywhere.json --png results/acting/downstream_anywhere.png")
SPLIT_HINT = (ANYWHERE_HINT.replace("downstream_anywhere", "downstream_split").replace(" --group", "")
              + " --task.goal-region first-half --task.test-region second-half")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f} %"


def _reach_records(root: Path) -> list[dict]:
    """Every kept ``reach_goal_*.json``: by algorithm, then planning method (cycle first), then the agent's seed."""
    records = [r for r in (_load(path) for path in sorted(root.glob("reach_goal_*.json"))) if r is not None]
    order = list(ALGO_LABELS)

    def key(r: dict) -> tuple:
        method = r["agent"].get("link", {}).get("method", "cycle") if r["agent"].get("can_plan") else "cycle"
        return (order.index(r["algo"]) if r["algo"] in order else len(order), method != "cycle",
                r.get("agent_seed", -1))

    return sorted(records, key=key)


def reach_goal_section(root: Path) -> str:
    records = _reach_records(root)
    if not records:
        return "_No kept results yet: `python scripts/reach_goal.py CKPT --out results/acting/reach_goal_rgrvae.json`._"
    rows = []
    for r in records:
        a = r["agent"]
        seed = f" seed {r['agent_seed']}" if "agent_seed" in r else ""
        who = f"{ALGO_LABELS.get(r['algo'], r['algo'])}{seed} ({r['updates']:,} updates)"
        if a["can_plan"]:
            method = a["link"].get("method", "cycle")
            how = {"cycle": "nearest expected angle", "arithmetic": "angle arithmetic"}.get(
                method, f"position readers ({a['link'].get('reader')})")
            rows.append([f"{who}, plans by {how}", _pct(a["success_rate"]),
                         f"{a['mean_plan_length']:.2f}", f"{a['mean_oracle_length']:.2f}",
                         f"{a['excess_length_pct']:+.2f} %", f"{a['plan_ms_mean']:.2f} ms",
                         f"{a['link']['env_steps']}"])
        else:
            reason = "no latent actions" if r["algo"] not in ("rgrvae", "forward") else a.get("reason", "?")
            rows.append([who, f"cannot plan: {reason}", "-", "-", "-", "-", "-"])
    first = records[0]
    episodes = {(r["env_id"], r["episodes"], r["seed"], r["horizon"]) for r in records}
    if len(episodes) > 1:  # the random and oracle rows are shared: every record must play the same episodes
        raise ValueError(f"reach-goal records under {root} played different episodes (env, count, seed, horizon): "
                         f"{sorted(episodes)}; rerun them with the same --episodes, --seed and --horizon")
    rows.append([f"random actions (within {first['horizon']} steps)", _pct(first["random"]["success_rate"]),
                 fmt(first["random"]["mean_length_of_successes"], 2), "-", "-", "-", "-"])
    shortest = f"{first['oracle']['mean_length']:.2f}"
    rows.append(["oracle (shortest paths)", _pct(first["oracle"]["success_rate"]), shortest, shortest, "-", "-", "-"])
    header = ["who acts", "success", "mean length", "oracle's mean length", "excess length", "time per plan",
              "own env steps to link"]
    commands = "\n".join(f"    {r['command']}" for r in records if r.get("command"))
    env = first["env_id"]
    return (f"Reaching goal frames on {env}: {first['episodes']:,} episodes of random (start, goal) pairs "
            f"(seeds {first['seed']}-{first['seed'] + first['episodes'] - 1}), each plan made once from the two "
            f"frames and executed open loop; success means the final frame equals the goal frame.\n\n"
            + table(header, rows) + "\n\nMeasured with:\n\n" + commands)


def downstream_section(root: Path) -> str:
    from acting.downstream import feature_kind

    r = _load(root / "downstream.json")
    if r is None or not r.get("runs"):
        return "_No kept results yet: `python scripts/downstream_sb3.py --rgrvae CKPT --forward CKPT --vae CKPT`._"
    cfg = r["config"]
    where = f"at most {cfg['max_goal_distance']} actions away" if cfg["max_goal_distance"] else "anywhere"
    rows = []
    for name, label in FEATURES:
        runs = sorted((x for x in r["runs"] if feature_kind(x["feature"]) == name), key=lambda x: x["seed"])
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
            f"{where} and a horizon of {cfg['horizon']} steps, one CPU "
            f"thread:\n\n" + table(header, rows) + "\n\n![learning curves](results/acting/downstream.png)")


def _median(values: list[float]) -> float:
    return float(np.median(values))


def pooled_downstream_section(root: Path, name: str, hint: str) -> str:
    """A downstream record with several checkpoints per kind of features (``<kind>/<run>``), pooled by kind: the
    median over every (checkpoint, PPO seed) run, and for a generalisation record the success on each region's
    goals after training."""
    from acting.downstream import feature_kind

    r = _load(root / f"{name}.json")
    if r is None or not r.get("runs"):
        return f"_No kept results yet: `{hint}`._"
    cfg = r["config"]
    commands = r.get("commands") or ([r["command"]] if r.get("command") else [hint])
    where = f"at most {cfg['max_goal_distance']} actions away" if cfg["max_goal_distance"] else "anywhere"
    tested = bool(cfg.get("test_region"))
    rows = []
    for kind, label in FEATURES:
        runs = [x for x in r["runs"] if feature_kind(x["feature"]) == kind]
        if not runs:
            continue
        checkpoints = len({x["feature"] for x in runs})
        finals = [x["success_rate"][-1] or 0.0 for x in runs]
        reached = [x["steps_to_90"] for x in runs if x["steps_to_90"] is not None]
        steps = f"{_median(reached):,.0f} ({len(reached)} of {len(runs)})" if reached else f"never (0 of {len(runs)})"
        row = [label, f"{checkpoints}, {len(runs)}",
               f"{_pct(_median(finals), 0)} ({_pct(min(finals), 0)}-{_pct(max(finals), 0)})", steps,
               f"{np.mean([x['seconds'] for x in runs]):.0f}"]
        if tested:
            for region in (cfg["goal_region"], cfg["test_region"]):
                got = [x["test"][region] for x in runs]
                row.append(f"{_pct(_median(got), 0)} ({_pct(min(got), 0)}-{_pct(max(got), 0)})")
        rows.append(row)
    header = ["features", "checkpoints, runs (checkpoint x PPO seed)",
              f"final success (last {cfg['window']} episodes): median (range)",
              "env steps to 90 % success: median of the runs that reach it", "wall seconds per run"]
    goals = ""
    if tested:
        header += [f"success, training goals ({cfg['goal_region']})",
                   f"success, held-out goals ({cfg['test_region']})"]
        trained = ("on goals anywhere" if cfg["goal_region"] == "all"
                   else f"on goals whose x lies in the {cfg['goal_region']} of its cycle")
        goals = f"; trained {trained}, then {cfg['test_episodes']} episodes per region with the deterministic policy"
    shaped = f", reward shaping {cfg['shaping']}" if cfg.get("shaping") else ", sparse reward"
    return (f"PPO ({cfg['steps']:,} env steps per run, n_steps {cfg['n_steps']}, batch {cfg['batch_size']}, "
            f"{cfg['n_epochs']} epochs, gamma {cfg['gamma']}) on {cfg['env_id']} with goals {where}, a horizon of "
            f"{cfg['horizon']} steps{shaped}{goals}; frozen features computed by the env, one CPU thread:\n\n"
            + table(header, rows) + f"\n\n![learning curves](results/acting/{name}.png)\n\nMeasured with:\n\n"
            + "\n".join(f"    {c}" for c in commands))


def rho_planning_section(root: Path) -> str:
    """Planning by rho alone against the default planner, on every kept run that passed (a)-(c)."""
    r = _load(root / "plan_by_rho.json")
    if r is None or not r.get("runs"):
        return "_No kept results yet: `python scripts/plan_by_rho.py runs/reproduce/claim3/rgrvae_s1*`._"
    rows = [[str(x["seed"]), f"{x['updates']:,}", _pct(x["cycle"]["success_rate"]),
             _pct(x["arithmetic"]["success_rate"]),
             " / ".join(f"{o['step_max_over_median']:.2f}" for o in x["orbit_spacing"])] for x in r["runs"]]
    header = ["run seed", "updates", "default planner (calibration walks)", "angle arithmetic (rho alone)",
              "orbit spacing per factor (largest / median code step; 1: even)"]
    return (f"Planning by ρ alone, on each of the {r['passed']} of {len(r['given'])} runs given that passed (a)-(c) "
            f"({r['episodes']} episodes each, the same for both planners, seeds {r['seed']}-"
            f"{r['seed'] + r['episodes'] - 1}):\n\n" + table(header, rows)
            + f"\n\nMeasured with:\n\n    {r['command']}")


def readers_section(root: Path) -> str:
    """Planning without latent actions (position readers) on held-out checkpoints, per calibration budget."""
    r = _load(root / "readers_heldout.json")
    if r is None or not r.get("rows"):
        return ("_No kept results yet: `python scripts/study_readers.py CKPT ... --readers svm "
                "--out results/acting/readers_heldout.json`._")
    budgets = sorted({(x["walks"], x["env_steps"]) for x in r["rows"]})
    readers = sorted({x["reader"] for x in r["rows"]})
    rows = []
    for path, reader in dict.fromkeys((x["checkpoint"], x["reader"]) for x in r["rows"]):
        mine = [x for x in r["rows"] if x["checkpoint"] == path and x["reader"] == reader]
        got = {(x["walks"], x["env_steps"]): x["success_rate"] for x in mine}
        who = f"{ALGO_LABELS.get(mine[0]['algo'], mine[0]['algo'])} seed {mine[0]['agent_seed']}"
        rows.append([who + (f" ({reader})" if len(readers) > 1 else ""), *(_pct(got.get(b)) for b in budgets)])
    header = ["whose codes", *(f"{w} walks per cycle ({steps:,} own env steps)" for w, steps in budgets)]
    return (f"Planning without latent actions: position readers ({', '.join(readers)}) fitted to each agent's codes "
            f"along its own calibration walk, {r['episodes']:,} episodes each (seeds {r['seed']}-"
            f"{r['seed'] + r['episodes'] - 1}):\n\n" + table(header, rows)
            + f"\n\nMeasured with:\n\n    {r['command']}")


def acting_sections(results_root: str | Path = "results") -> dict[str, str]:
    """README section ``acting``: the reach-goal table, planning by rho alone, planning by position readers and the
    downstream PPO tables."""
    root = Path(results_root) / "acting"
    body = (reach_goal_section(root) + "\n\n" + rho_planning_section(root) + "\n\n" + readers_section(root) + "\n\n"
            + downstream_section(root))
    anywhere = pooled_downstream_section(root, "downstream_anywhere", ANYWHERE_HINT)
    split = pooled_downstream_section(root, "downstream_split", SPLIT_HINT)
    return {"acting": body + "\n\n" + anywhere + "\n\n" + split}
