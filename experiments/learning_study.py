"""The learning study: how often does RGrVAE learn FlatLand, and which label-free signal says so early?

Each candidate is a set of RGrVAE settings. For every (candidate, tuning seed) the study
trains for a short budget and, at every check, records

- label-free diagnostics on the agent's own probe pairs (agents/diagnostics.py): what a
  learner or a stopping rule may read;
- labelled calibration on true transitions: the policy's matched action accuracy and the
  matched accuracy of the *best* latent action per pair (what the representation allows).
  Labels never reach the learner; they only say which label-free signal to trust.

A run counts as learned early when its policy's matched accuracy is at least
:data:`EARLY_ACCURACY` at the last check. Only seeds below 100 may be studied: seeds 100 and
up are kept for reporting (docs/method.md, "Seeds"). ``scripts/study_learning.py`` drives it
and writes ``results/tuning/learning_study/<candidate>/s<seed>.json`` plus ``summary.md`` and
``summary.json``; rerunning skips runs already kept.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.reproduce import FIRST_REPORT_SEED
from vae.metrics.orbit_spacing import orbit_spacing

#: FlatLand's image-continuous angle per action, 2*pi*5/33 (flatland_env.spec.SymmetrySpec.continuous_angle)
FLATLAND_ANGLE = 2 * math.pi * 5 / 33
#: policy's matched accuracy at the last check above which a run counts as learned early
EARLY_ACCURACY = 0.95

#: the paper's estimator and the defaults before this study, spelled out so they stay reproducible
BEFORE = {
    "policy_update": "reinforce", "policy_init": "default", "tie_angles": False, "angle_init": 0.0,
    "realign": False, "logvar_bounds": None, "grad_clip": 0.0, "lr_decay_error": 0.0, "lr_decay_steps": 0,
}
#: candidates: name -> RGrVAE settings (overrides of the current defaults)
CANDIDATES: dict[str, dict[str, Any]] = {
    "before": dict(BEFORE),
    "realign": {**BEFORE, "realign": True},
    "policy-angles": {**BEFORE, "policy_update": "expected", "policy_init": "orthogonal", "tie_angles": True,
                      "angle_init": 0.5},
    "policy-angles-realign": {**BEFORE, "policy_update": "expected", "policy_init": "orthogonal",
                              "tie_angles": True, "angle_init": 0.5, "realign": True},
    "stable-decay005": {**BEFORE, "policy_update": "expected", "policy_init": "orthogonal", "tie_angles": True,
                        "angle_init": 0.5, "realign": True, "logvar_bounds": (-12.0, 2.0), "grad_clip": 10.0,
                        "lr_decay_error": 0.05, "lr_decay_steps": 2000},
    "decay-late": {"lr_decay_error": 0.02, "lr_decay_steps": 1000, "lr_final_frac": 0.1},
    "defaults": {},
    "angle-lr-0.01": {"angle_lr": 0.01},
    "path-argmax": {"latent_path": "argmax"},
    "path-best": {"latent_path": "best"},
    "change-of-basis": {"change_of_basis": True},
    "gamma-10": {"gamma": 10.0},
    "angle-init-1.2": {"angle_init": 1.2},
    "path-consistency-10": {"path_consistency": 10.0},
    "plane-moments-sf-30": {"plane_moments": 30.0},
    "plane-moments-sf-100": {"plane_moments": 100.0},
    "uniformity-3": {"angle_uniformity": 3.0},
}


def check_tuning_seeds(seeds: list[int]) -> None:
    bad = [s for s in seeds if not 0 <= s < FIRST_REPORT_SEED]
    if bad:
        raise ValueError(f"the studies tune on seeds 0-{FIRST_REPORT_SEED - 1} only; seeds {bad} are kept "
                         f"for reporting")


def _agent(candidate: str, seed: int, settings: dict[str, Any] | None, k: int, **overrides: Any):
    """RGrVAE on FlatLand-v0 with a candidate's settings, trained from pairs ``k`` actions apart (N = k)."""
    from agents.rgrvae import RGrVAE
    from flatland_env.pairs import PairSourceConfig

    check_tuning_seeds([seed])
    settings = dict(CANDIDATES[candidate] if settings is None else settings)
    steps = {"action_steps": k} if k > 1 else {}
    agent = RGrVAE(PairSourceConfig("FlatLand-v0", k=k), seed=seed, **{**steps, **settings, **overrides})
    return agent, settings


def angle_errors(agent: Any) -> list[float]:
    """Per plane, ||angle| - the world's continuous angle| (labelled calibration: FlatLand's two factors share
    one angle, 2*pi*5/33)."""
    target = abs(agent.spec.continuous_angle(0))
    return [round(abs(abs(float(a)) - target), 4) for a in agent.rho.effective_angles().detach().cpu()[::2]]


def plane_roundness(z: np.ndarray) -> list[float]:
    """Per latent plane, the ratio of the smaller to the larger standard deviation of the codes in it (1: a
    round orbit; label-free). A rotation cannot map an elongated orbit onto itself, so its best angle is off."""
    out = []
    for p in range(z.shape[1] // 2):
        ev = np.linalg.eigvalsh(np.cov(z[:, 2 * p:2 * p + 2].T))
        out.append(round(float(np.sqrt(max(ev[0], 0.0) / max(ev[1], 1e-12))), 4))
    return out


def plane_offset(z: np.ndarray) -> list[float]:
    """Per latent plane, how far the codes' centre sits from the origin, over their RMS distance from that centre
    (0: centred; label-free). rho rotates about the origin, so an off-centre orbit pulls its best angle down."""
    out = []
    for p in range(z.shape[1] // 2):
        plane = z[:, 2 * p:2 * p + 2]
        centre = plane.mean(0)
        rms = np.sqrt(((plane - centre) ** 2).sum(1).mean())
        out.append(round(float(np.linalg.norm(centre) / max(rms, 1e-12)), 4))
    return out


def orbit_steps(agent: Any, world: Any, other: int = 7) -> list[dict[str, float]]:
    """Per factor (labelled calibration): how evenly the code spaces the factor's action orbit, the other factor
    held at ``other`` (vae/metrics/orbit_spacing.py). A code that closes its circle with a seam, short steps and
    one long jump where the object crosses the frame's edge, scores well above 1, and rho's angle settles near
    the short step."""
    return [{k: v for k, v in row.items() if k != "factor"} for row in orbit_spacing(agent.encode, world, other)]


def study_run(candidate: str, seed: int, updates: int, check_every: int, probe_size: int = 512,
              settings: dict[str, Any] | None = None, k: int = 1) -> dict[str, Any]:
    """Train one candidate on one tuning seed for ``updates`` and record every check (see module doc)."""
    from agents.diagnostics import diagnose
    from agents.training.callbacks import Probe
    from vae.metrics.action_estimation import match_actions

    agent, settings = _agent(candidate, seed, settings, k, stop_error=0.0)
    truth = Probe.sample(agent, probe_size, seed=10_000 + seed)  # labelled, for calibration only
    own = agent.probe_pairs()  # the agent's own pairs, no labels
    checks, started = [], time.perf_counter()
    while agent.num_steps < updates:
        agent.learn(min(check_every, updates - agent.num_steps), progress_bar=False)
        diag = diagnose(agent, own.obs, own.next_obs)
        codes = agent.encode(own.obs)  # the orbit-shape signals share one encoding of the agent's own frames
        z1, z2 = agent.encode(truth.obs), agent.encode(truth.next_obs)
        predicted = np.einsum("aij,nj->nai", agent.action_representations(), z1)
        best = ((predicted - z2[:, None]) ** 2).sum(-1).argmin(1)
        inferred = agent.infer_actions(truth.obs, truth.next_obs)
        n_true, n_latent = agent.spec.num_actions, agent.num_latent_actions
        checks.append({
            "update": agent.num_steps,
            "pairs_seen": agent.num_steps * agent.config.batch_size,
            "seconds": round(time.perf_counter() - started, 1),
            **{k: float(v) for k, v in diag.items()},
            "angles": [round(float(a), 4) for a in agent.rho.effective_angles().detach().cpu()],
            "labelled_angle_errors": angle_errors(agent) if agent.config.tie_angles else None,
            "plane_roundness": plane_roundness(codes),
            "plane_offset": plane_offset(codes),
            "labelled_orbit_steps": orbit_steps(agent, agent.world),
            "realignments": len(agent.realignments),
            "labelled_accuracy": match_actions(truth.actions, inferred, n_true, n_latent)["accuracy"],
            "labelled_best_accuracy": match_actions(truth.actions, best, n_true, n_latent)["accuracy"],
        })
    return {"candidate": candidate, "seed": seed, "k": k, "settings": settings, "updates": updates,
            "precision": agent.precision, "checks": checks,
            "learned_early": checks[-1]["labelled_accuracy"] >= EARLY_ACCURACY}


def full_run(candidate: str, seed: int, settings: dict[str, Any] | None = None, eval_samples: int = 1000,
             work: Path | None = None, k: int = 1, cap: int = 0) -> dict[str, Any]:
    """Train one candidate on one tuning seed as the main job does (its stopping rule, the default cap), then
    evaluate it: pairs seen, why it stopped, wall time, the verdict and criteria (a)-(c)."""
    import tempfile

    from agents.training.run import RunConfig, train

    agent, settings = _agent(candidate, seed, settings, k)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunConfig(progress=False, eval_samples=eval_samples, **({"total_steps": cap} if cap else {}))
        result = train(agent, run, Path(work or tmp) / "run")
    m = result.metrics
    return {"candidate": candidate, "seed": seed, "k": k, "settings": settings, "precision": agent.precision,
            "pairs_seen": m["pairs_seen"], "run": m["run"], "acceptance": m.get("acceptance"),
            "verdict": m.get("verdict"), "self_checks": agent.self_checks, "realignments": agent.realignments,
            "lr_decay_start": agent.lr_decay_start, "latent_actions": m.get("latent_actions")}


def run_path(out: Path, candidate: str, seed: int, full: bool = False, k: int = 1, cap: int = 0) -> Path:
    """Where one run is kept; runs on k-step pairs go under ``<candidate>-k<k>``, full runs with their own cap
    under ``...-cap<updates>``."""
    name = candidate + (f"-k{k}" if k > 1 else "") + (f"-cap{cap}" if full and cap else "")
    return Path(out) / ("full" if full else "early") / name / f"s{seed}.json"


def _runs_by_candidate(root: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Each candidate's folder under ``root`` with its kept runs, in seed order; empty folders are left out."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        runs = [json.loads(f.read_text()) for f in sorted(folder.glob("s*.json"), key=lambda f: int(f.stem[1:]))]
        if runs:
            found.append((folder, runs))
    return found


def summarise(out: Path) -> dict[str, Any]:
    """Per candidate: runs, how many learned early, and the median diagnostics at the first and last check."""
    rows = {}
    for folder, runs in _runs_by_candidate(Path(out) / "early"):
        learned = [r["seed"] for r in runs if r["learned_early"]]
        first_pass = [next((c["pairs_seen"] for c in r["checks"] if c["labelled_accuracy"] >= EARLY_ACCURACY), None)
                      for r in runs]

        def median(key: str, index: int) -> float:
            return float(np.median([r["checks"][index][key] for r in runs]))

        rows[folder.name] = {
            "runs": len(runs), "learned_early": len(learned), "seeds": [r["seed"] for r in runs],
            "failed_seeds": [r["seed"] for r in runs if not r["learned_early"]],
            "updates": runs[0]["updates"], "settings": runs[0]["settings"],
            "median_pairs_to_accuracy": _median_or_none(first_pass),
            "first_check": {k: median(k, 0) for k in ("plane_share", "agreement", "policy_error", "spread",
                                                        "labelled_best_accuracy")},
            "last_check": {k: median(k, -1) for k in ("plane_share", "agreement", "policy_error", "spread",
                                                       "labelled_accuracy")},
            "calibration": calibration(runs),
        }
    return rows


def _median_or_none(values: list[int | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def calibration(runs: list[dict]) -> dict[str, Any]:
    """How well the label-free verdict at the last check (plane share >= 0.95 and agreement >= 0.9) matches
    the labelled one (policy accuracy >= EARLY_ACCURACY): counts of the four cases."""
    from agents.diagnostics import MIN_AGREEMENT, MIN_PLANE_SHARE

    counts = {"both_yes": 0, "both_no": 0, "label_free_only": 0, "labels_only": 0}
    for r in runs:
        last = r["checks"][-1]
        free = last["plane_share"] >= MIN_PLANE_SHARE and last["agreement"] >= MIN_AGREEMENT
        labelled = last["labelled_accuracy"] >= EARLY_ACCURACY
        key = "both_yes" if free and labelled else "both_no" if not (free or labelled) else (
            "label_free_only" if free else "labels_only")
        counts[key] += 1
    return counts


def summary_table(rows: dict[str, Any]) -> str:
    def f(x: float | None, digits: int = 3) -> str:
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"

    lines = ["| candidate | updates | learned early (acc >= 0.95 at the end) | failed seeds | median pairs to "
             "acc >= 0.95 | first check: plane share / best-action acc (labelled) | last check: plane share / "
             "agreement / label-free error / spread | label-free verdict = labelled (of runs) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        fc, lc, cal = r["first_check"], r["last_check"], r["calibration"]
        agree = cal["both_yes"] + cal["both_no"]
        lines.append(
            f"| {name} | {r['updates']} | {r['learned_early']}/{r['runs']} | "
            f"{', '.join(map(str, r['failed_seeds'])) or '-'} | {f(r['median_pairs_to_accuracy'], 0)} | "
            f"{f(fc['plane_share'])} / {f(fc['labelled_best_accuracy'])} | {f(lc['plane_share'])} / "
            f"{f(lc['agreement'])} / {f(lc['policy_error'])} / {f(lc['spread'])} | {agree}/{r['runs']} |")
    return "\n".join(lines)


def summarise_full(out: Path) -> dict[str, Any]:
    """Per candidate of the full runs: passes of (a)-(c), pairs seen and wall time."""
    rows = {}
    for folder, runs in _runs_by_candidate(Path(out) / "full"):
        passed = [r["seed"] for r in runs if (r.get("acceptance") or {}).get("passed", {}).get("all")]
        pairs = [r["pairs_seen"] for r in runs]
        rows[folder.name] = {
            "runs": len(runs), "passed": len(passed), "seeds": [r["seed"] for r in runs],
            "failed_seeds": [r["seed"] for r in runs if r["seed"] not in passed],
            "median_pairs": float(np.median(pairs)), "max_pairs": int(max(pairs)),
            "median_train_seconds": float(np.median([r["run"]["train_seconds"] for r in runs])),
            "stopped_by_rule": sum(r["run"]["stop_reason"] != "reached --total-steps" for r in runs),
            "verdict_agrees": sum(bool((r.get("verdict") or {}).get("label_free", {}).get("learned"))
                                  == (r["seed"] in passed) for r in runs),
            "settings": runs[0]["settings"],
        }
    return rows


def full_table(rows: dict[str, Any]) -> str:
    lines = ["| candidate | runs | passed (a)-(c) | failed seeds | pairs seen, median (max) | stopped by the rule | "
             "train s, median (1 thread, 2 runs sharing 2 cores) | label-free verdict = labelled |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['runs']} | {r['passed']}/{r['runs']} | "
                     f"{', '.join(map(str, r['failed_seeds'])) or '-'} | {r['median_pairs']:,.0f} "
                     f"({r['max_pairs']:,}) | {r['stopped_by_rule']}/{r['runs']} | {r['median_train_seconds']:.0f} | "
                     f"{r['verdict_agrees']}/{r['runs']} |")
    return "\n".join(lines)


def angle_table(out: Path) -> str:
    """Per run that tied its angles: the learned |angle| of each plane at the last check, its labelled error
    against the world's 2*pi*5/33, and the label-free shape of the code's orbits (roundness, centre offset)."""
    lines = ["| candidate | seed | updates | learned abs. angles (rad) | labelled angle error, max | "
             "plane roundness | plane centre offset | code step, largest / median, per factor (labelled) |",
             "|---|---|---|---|---|---|---|---|"]
    for folder, runs in _runs_by_candidate(Path(out) / "early"):
        for r in runs:
            last = r["checks"][-1]
            tied = r["settings"].get("tie_angles", True)
            if not tied or not last.get("angles"):
                continue
            errors = last.get("labelled_angle_errors") or [abs(abs(a) - FLATLAND_ANGLE) for a in last["angles"][::2]]
            cells = [" ".join(f"{abs(a):.3f}" for a in last["angles"][::2]), f"{max(errors):.3f}",
                     " ".join(f"{x:.2f}" for x in last.get("plane_roundness") or []) or "-",
                     " ".join(f"{x:.2f}" for x in last.get("plane_offset") or []) or "-",
                     " ".join(f"{o['step_max_over_median']:.2f}" for o in last.get("labelled_orbit_steps") or [])
                     or "-"]
            lines.append(f"| {folder.name} | {r['seed']} | {last['update']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def checkpoint_orbits(paths: list[str]) -> list[dict[str, Any]]:
    """:func:`orbit_steps` and the learned angles of saved agents (labelled; a diagnosis of finished runs, whatever
    their seeds: it trains nothing), with their updates and pairs k actions apart."""
    from agents.base import BaseAgent

    out = []
    for path in paths:
        agent = BaseAgent.load(path, device="cpu")
        try:
            out.append({"checkpoint": str(path), "seed": agent.config.seed, "k": agent.source.config.k,
                        "updates": agent.num_steps,
                        "angles": [round(float(a), 4) for a in agent.rho.effective_angles().detach()[::2]],
                        "orbit_steps": orbit_steps(agent, agent.world)})
        finally:
            agent.source.close()
    return out


def orbit_table(out: Path) -> str:
    """The kept ``orbits.json`` (:func:`checkpoint_orbits`) as a table, or "" if there is none."""
    path = Path(out) / "orbits.json"
    if not path.is_file():
        return ""
    lines = ["| checkpoint | seed | k | updates | learned abs. angles (rad) | code step, largest / median, "
             "per factor |", "|---|---|---|---|---|---|"]
    for r in json.loads(path.read_text()):
        steps = " ".join(f"{o['step_max_over_median']:.2f}" for o in r["orbit_steps"])
        lines.append(f"| `{r['checkpoint']}` | {r['seed']} | {r['k']} | {r['updates']} | "
                     f"{' '.join(f'{abs(a):.3f}' for a in r['angles'])} | {steps} |")
    return "\n".join(lines)


def write_summary(out: Path) -> str:
    rows, full = summarise(out), summarise_full(out)
    text = "## Early runs (a short budget, every check recorded)\n\n" + summary_table(rows)
    angles = angle_table(out)
    if angles:
        text += ("\n\n## Learned angles at the last check (runs with tied angles; `-k<k>`: pairs k actions apart, "
                 "N = k)\n\n" + angles)
    orbits = orbit_table(out)
    if orbits:
        text += ("\n\n## Code steps of finished runs (`--orbits`; labelled diagnosis of saved agents, trains "
                 "nothing)\n\n" + orbits)
    if full:
        text += "\n\n## Full runs (the main job's stopping rule and cap, then criteria (a)-(c))\n\n" + full_table(full)
    (Path(out) / "summary.json").write_text(json.dumps({"early": rows, "full": full}, indent=1))
    (Path(out) / "summary.md").write_text(
        "# Learning study (tuning seeds; written by scripts/study_learning.py)\n\n" + text + "\n")
    return text
