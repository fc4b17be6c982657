"""The paper's six claims as experiments (docs/method.md lists them), with their runs, tables and figures.

Seeds: every experiment reports on seeds 100 and up, which were never used to tune
anything; RGrVAE's defaults were tuned on seeds 0-9 (docs/method.md). Baselines run as
stated in their rows: the beta-VAE and ForwardVAE with the paper's hyperparameters, and
ForwardVAE once more with RGrVAE's schedule, so that the comparison separates the method
from the hyperparameters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from agents.training.evaluation import (
    ANGLE_TOLERANCE,
    MAX_EQUIVARIANCE_ERROR,
    MAX_GROUP_EQUIVARIANCE_ERROR,
    MAX_RELATION_ERROR,
    MIN_ACTION_ACCURACY,
    MIN_ANGLE_R2,
)
from agents.training.run import DEFAULT_TOTAL_STEPS
from experiments.reproduce import FIRST_REPORT_SEED, Experiment, RunPlan
from experiments.tables import fmt, table
from flatland_env.wrappers import NOISE_KINDS as WORLD_NOISE_KINDS

#: held-out seeds of the main job (RGrVAE defaults), of each setting of claims 4 and 5, and of the other claims
MAIN_SEEDS = tuple(range(100, 120))
SETTING_SEEDS = tuple(range(100, 105))
CLAIM_SEEDS = (100, 101, 102)

#: the baselines' budget: the paper's batch of 128 for 2,000 updates, 256,000 pairs: RGrVAE's budget of 250,000
BASELINE_STEPS = 2000
#: the paper's hyperparameters for the baselines: constant learning rates (no decay), batch 128
PAPER_VAE = {"batch_size": 128, "lr_decay_steps": 0}
PAPER_FORWARD = {"gamma": 10.0, "angle_lr": 0.1, "lr_decay_steps": 0, "batch_size": 128}
#: ForwardVAE with RGrVAE's tuned schedule and stopping rule (everything but the policy)
TUNED_FORWARD_KEYS = ("gamma", "angle_lr", "lr_decay_steps", "lr_decay_error", "lr_final_frac", "batch_size",
                      "tie_angles", "angle_init", "logvar_bounds", "grad_clip", "stop_error", "stop_check_every",
                      "stop_patience", "stop_min_improvement", "stop_probe_pairs", "stop_min_move")

#: wider middle convolutions for noisy frames, as the paper used
NOISY_CHANNELS = (32, 64, 64, 32)



def _rgrvae_defaults() -> dict[str, Any]:
    from agents.rgrvae import RGrVAEConfig

    default = RGrVAEConfig()
    return {k: getattr(default, k) for k in TUNED_FORWARD_KEYS}


# -- reading records ------------------------------------------------------------------------------
def get(record: dict, *path: Any) -> Any:
    """A value deep in a record, or None where any key is missing."""
    node: Any = record
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def mean_std(values: Sequence[float | None], digits: int = 3) -> str:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return "-"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if v.size > 1 else f"{v[0]:.{digits}f}"


def acceptance_cells(m: dict) -> list[Any]:
    """(a) accuracy, (b) largest angle error, (c) equivariance error, passed, from a metrics.json."""
    acc = m.get("acceptance") or {}
    errs = [r["error"] for r in acc.get("angles", []) if r.get("error") is not None]
    return [acc.get("action_accuracy"), max(errs) if errs else None, acc.get("relative_equivariance_error"),
            get(acc, "passed", "all")]


def pairs_seen(m: dict) -> int | None:
    return m.get("pairs_seen")


def pairs_summary(values: Sequence[int | None]) -> str:
    """Pairs seen over runs: the median and the range, with thousands separators."""
    v = sorted(int(x) for x in values if x is not None)
    if not v:
        return "-"
    median = f"{int(np.median(v)):,}"
    return median if v[0] == v[-1] else f"{median} ({v[0]:,}-{v[-1]:,})"


def by_seed(records: dict[str, dict]) -> list[tuple[str, dict]]:
    return sorted(records.items(), key=lambda kv: (get(kv[1], "metrics", "config", "seed") or 0, kv[0]))


# -- claims 1-3: the model comparison -----------------------------------------------------------------
COMPARISON_ROWS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("action-estimation accuracy (held out)", ("acceptance", "action_accuracy")),
    ("relative equivariance error", ("metrics", "equivariance", "relative_error")),
    ("independence", ("metrics", "independence", "independence")),
    ("D_LSBD", ("metrics", "d_lsbd", "d_lsbd")),
    ("Beta-VAE", ("metrics", "beta_vae", "eval_accuracy")),
    ("FactorVAE", ("metrics", "factor_vae", "eval_accuracy")),
    ("MIG", ("metrics", "mig", "mig")),
    ("DCI disentanglement", ("metrics", "dci", "disentanglement")),
    ("DCI completeness", ("metrics", "dci", "completeness")),
    ("DCI informativeness", ("metrics", "dci", "informativeness_test")),
    ("SAP", ("metrics", "sap", "sap")),
    ("modularity", ("metrics", "modularity_explicitness", "modularity")),
    ("explicitness", ("metrics", "modularity_explicitness", "explicitness_test")),
)


def comparison_table(groups: dict[str, list[dict]]) -> str:
    """Metrics as rows, one column per group of runs (mean ± std over its seeds)."""
    names = list(groups)
    rows: list[list[Any]] = [["runs (seeds)", *[", ".join(str(get(r, "config", "seed")) for r in groups[n])
                                                 for n in names]]]
    passed = []
    for n in names:
        flags = [get(r, "acceptance", "passed", "all") for r in groups[n]]
        passed.append(f"{sum(bool(f) for f in flags)}/{len(flags)}" if any(f is not None for f in flags) else "-")
    rows.append(["passed acceptance (a, b, c)", *passed])
    for label, path in COMPARISON_ROWS:
        rows.append([label, *[mean_std([get(r, *path) for r in groups[n]]) for n in names]])
    fit = [f"{sum(bool(get(r, 'metrics', 'independence', 'fit_ok')) for r in groups[n])}/{len(groups[n])}"
           for n in names]
    rows.append(["independence maps fit (fit_ok)", *fit])
    angles = [mean_std([a.get("angle") for r in groups[n] for a in get(r, "metrics", "independence", "actions") or []])
              for n in names]
    rows.append(["fitted angle per action (rad)", *angles])
    learned = [mean_std([a.get("abs_angle") for r in groups[n] for a in get(r, "acceptance", "angles") or []])
               for n in names]
    rows.append(["learned latent angle, absolute (rad)", *learned])
    return table(["metric", *names], rows)


def comparison_plans(model: str, label: str, settings: Callable[[], dict[str, Any]], steps: int | None = None):
    """Runs of one model with fixed settings, one per seed, named ``<label>_s<seed>``."""

    def plans(seeds: tuple[int, ...]) -> list[RunPlan]:
        total = DEFAULT_TOTAL_STEPS if steps is None else steps
        return [RunPlan(f"{label}_s{s}", model, s, agent=settings(), total_steps=total) for s in seeds]

    return plans


def grouped_table(records: dict[str, dict]) -> str:
    """The comparison table of an experiment's runs, one column per run label (the name before ``_s<seed>``)."""
    return comparison_table(_grouped(records, lambda n: n.rsplit("_s", 1)[0]))


def main_job_table(records: dict[str, dict]) -> str:
    """Per seed: pairs seen, why it stopped, wall time, the criteria, and the pass."""
    rows = []
    for _, rec in by_seed(records):
        m = rec["metrics"]
        run = m.get("run", {})
        wall = (run.get("train_seconds") or 0) + (run.get("evaluate_seconds") or 0)
        rows.append([get(m, "config", "seed"), pairs_summary([pairs_seen(m)]), run.get("stop_reason"), f"{wall:.0f}",
                     *acceptance_cells(m)[:3], get(m, "metrics", "independence", "independence"),
                     get(m, "metrics", "d_lsbd", "d_lsbd"), fmt(run.get("peak_rss_mb"), 0), acceptance_cells(m)[3]])
    header = ["seed", "pairs seen", "stopped because", "wall s (train + eval)", "(a) accuracy", "(b) max angle error",
              "(c) equivariance error", "independence", "D_LSBD", "peak RSS MiB", "passed"]
    return table(header, rows)


def claim3_table(records: dict[str, dict]) -> str:
    return main_job_table(records)


def setting_outcome(label: str, runs: list[dict]) -> str:
    """One generated line per setting: how many seeds passed (a)-(c), and what each failing run looked like."""
    passed = [get(m, "config", "seed") for m in runs if acceptance_cells(m)[3]]
    line = f"- **{label}**: {len(passed)} of {len(runs)} held-out seeds passed (a)-(c)"
    line += f" (seeds {', '.join(map(str, passed))})" if passed else ""
    failing = []
    for m in runs:
        if acceptance_cells(m)[3]:
            continue
        acc, angle_err, eq, _ = acceptance_cells(m)
        angles = [abs(a["angle"]) for a in get(m, "latent_actions") or [] if a.get("angle") is not None]
        spread = f"{min(angles):.2f}-{max(angles):.2f}" if angles else "-"
        failing.append(f"seed {get(m, 'config', 'seed')}: accuracy {fmt(acc)}, largest angle error {fmt(angle_err)} "
                       f"rad, equivariance error {fmt(eq)}, learned |angles| {spread} rad, "
                       f"{pairs_summary([pairs_seen(m)])} pairs")
    return line + (". Not passed: " + "; ".join(failing) + "." if failing else ".")


# -- claim 4: k-step pairs ---------------------------------------------------------------------------------
K_VALUES = (2, 3, 4)
#: claim 4's settings: (k, cap as a multiple of the main job's). On k-step pairs the angle's pull towards the
#: world's is a slow plateau; a run on tuning seed 0 at k = 3 met (a)-(c) at twice the cap (docs/method.md,
#: "k-step pairs"), so k = 2 and 3 are also run at twice the cap, beside the main job's.
K_SETTINGS: tuple[tuple[int, int], ...] = ((2, 1), (3, 1), (4, 1), (2, 2), (3, 2))


def k_setting_name(k: int, cap_factor: int) -> str:
    """The run-name prefix of a claim-4 setting: k2, or k2-cap2x for twice the main job's cap."""
    return f"k{k}" if cap_factor == 1 else f"k{k}-cap{cap_factor}x"


def claim4_plans(seeds: tuple[int, ...]) -> list[RunPlan]:
    return [RunPlan(f"{k_setting_name(k, f)}_s{s}", "rgrvae", s, agent={"action_steps": k}, data={"k": k},
                    total_steps=f * DEFAULT_TOTAL_STEPS) for k, f in K_SETTINGS for s in seeds]


def claim4_table(records: dict[str, dict]) -> str:
    rows, lines = [], []
    for k, f in K_SETTINGS:
        prefix = k_setting_name(k, f) + "_"
        kept = [r for name, r in by_seed(records) if name.startswith(prefix)]
        if not kept:
            continue
        runs = [r["metrics"] for r in kept]
        cells = [acceptance_cells(m) for m in runs]
        passed = [c[3] for c in cells]
        rows.append([f"{k}", f"{k}", f"{f * DEFAULT_TOTAL_STEPS:,}", len(runs),
                     f"{sum(bool(p) for p in passed)}/{len(runs)}",
                     mean_std([c[0] for c in cells]), mean_std([c[1] for c in cells]),
                     mean_std([c[2] for c in cells]),
                     pairs_summary([pairs_seen(m) for m, p in zip(runs, passed) if p])])
        label = f"k = {k}" + ("" if f == 1 else f", {f}x the cap")
        lines.append(setting_outcome(label, runs))
    header = ["k (actions per pair)", "N (policy steps)", "cap (updates)", "seeds", "passed (a, b, c) on 1-step pairs",
              "(a) accuracy", "(b) max angle error", "(c) equivariance error",
              "pairs seen by passing runs, median (range)"]
    return "\n".join(lines) + "\n\n" + table(header, rows)


# -- claim 5: visual noise -----------------------------------------------------------------------------------
#: the kinds of visual noise claim 5 trains on: every kind but none
NOISE_KINDS = tuple(k for k in WORLD_NOISE_KINDS if k != "none")


def claim5_plans(seeds: tuple[int, ...]) -> list[RunPlan]:
    return [RunPlan(f"{kind}_s{s}", "rgrvae", s, agent={"channels": NOISY_CHANNELS}, data={"noise": kind},
                    total_steps=DEFAULT_TOTAL_STEPS, eval_noise=kind) for kind in NOISE_KINDS for s in seeds]


def claim5_table(records: dict[str, dict]) -> str:
    rows = []
    for kind in NOISE_KINDS:
        runs = [r for name, r in by_seed(records) if name.startswith(f"{kind}_")]
        if not runs:
            continue
        clean = [acceptance_cells(r["metrics"]) for r in runs]
        noisy = [acceptance_cells(r.get("noisy", {})) for r in runs]
        rows.append([kind, " ".join(map(str, get(runs[0], "metrics", "config", "channels") or [])), len(runs),
                     f"{sum(bool(c[3]) for c in clean)}/{len(runs)}", mean_std([c[0] for c in clean]),
                     mean_std([c[1] for c in clean]), mean_std([c[2] for c in clean]),
                     mean_std([get(r, "metrics", "metrics", "independence", "independence") for r in runs]),
                     f"{sum(bool(c[3]) for c in noisy)}/{len(runs)}", mean_std([c[0] for c in noisy]),
                     mean_std([c[2] for c in noisy]),
                     pairs_summary([pairs_seen(r["metrics"]) for r in runs])])
    header = ["noise", "conv widths", "seeds", "passed, clean frames", "accuracy, clean", "max angle error, clean",
              "equivariance, clean", "independence, clean", "passed, noisy frames", "accuracy, noisy",
              "equivariance, noisy", "pairs seen, median (range)"]
    lines = [setting_outcome(f"{kind} (clean frames)", [r["metrics"] for name, r in by_seed(records)
                                                        if name.startswith(f"{kind}_")])
             for kind in NOISE_KINDS if any(name.startswith(f"{kind}_") for name in records)]
    return "\n".join(lines) + "\n\n" + table(header, rows)


# -- claim 6: Sprites' four symmetries ------------------------------------------------------------------------
#: Sprites with the paper's action offset, on hearts: the one shape whose frames repeat only when its state does,
#: so the declared group C_3 x C_10 x C_8 x C_8 (scale, orientation, x, y) is the group acting on the frames
#: (squares and ellipses look the same after a quarter and a half turn; docs/worlds.md)
HEARTS = {"env_id": "Sprites-v0", "env_kwargs": {"offset": 4, "shapes": "heart"}}
#: what Sprites-v0 suggests to every agent (SymmetryWorld.agent_settings): 8 latents for its 4 acted factors and
#: the Bernoulli likelihood, whose gradient on a small white sprite does not vanish once the decoder predicts black
SPRITES_AGENT = {"latent_size": 8, "recon_loss": "bernoulli"}
#: claim 6's models, with the world's suggested settings and the same number of updates: the beta-VAE (no actions;
#: its own batch of 128), ForwardVAE (told the true actions, RGrVAE's schedule and stopping rule) and RGrVAE
CLAIM6_MODELS = (("beta-VAE", "vae"), ("forward", "forward"), ("rgrvae", "rgrvae"))
#: the recipe the Sprites study (experiments/sprites_study.py, tuning seeds) found to put all four factors on their own
#: planes: ReLU convolutions with the spatial maxima of their maps (a heart's turn is a few dozen pixels wherever it
#: sits), the predicted-frame loss, and the label-free hinge that keeps each pair's two codes apart (every action
#: changes the frame); a fixed budget with every learning rate cosine-decayed over it, and no label-free stop
CLAIM6_RECIPE_UPDATES = 15_000
SPRITES_RECIPE = {"activation": "relu", "pooled_encoder": True, "predicted_recon": 1.0, "distinct": 1000.0,
                  "distinct_margin": 0.2, "stop_error": 0.0, "lr_decay_steps": CLAIM6_RECIPE_UPDATES}
#: claim 6's models with the recipe, beside the plain rows above
CLAIM6_RECIPE_MODELS = (("forward-recipe", "forward"), ("rgrvae-recipe", "rgrvae"))
#: ForwardVAE with the recipe and, at its last update, rho's angles set to their least-squares best given the code
#: (on the tuning runs scale's angle ended 0.05-0.11 rad off its code's mean step); by default on seeds no design
#: has seen
CLAIM6_REFIT_MODELS = (("forward-recipe-refit", "forward"),)
CLAIM6_REFIT_SEEDS = (103, 104)
#: claim 6's thresholds: held-out accuracy at least, largest angle error and relative equivariance error at most
#: (looser than FlatLand's (a)-(c): Sprites' scale factor moves a small shape by a few pixels)
SPRITES_THRESHOLDS = (0.95, 0.05, 0.05)


def _meets_sprites_thresholds(acc: float | None, angle_err: float | None, eq: float | None) -> bool:
    lo, angle_max, eq_max = SPRITES_THRESHOLDS
    return None not in (acc, angle_err, eq) and acc >= lo and angle_err <= angle_max and eq <= eq_max


def sprites_passed(m: dict) -> bool:
    acc, angle_err, eq, _ = acceptance_cells(m)
    return _meets_sprites_thresholds(acc, angle_err, eq)


def _cycle_orders(m: dict) -> dict[str, int | None]:
    """True action name -> the order of the cycle it generates (from the metric suite's independence actions)."""
    return {a.get("name"): a.get("cycle_order") for a in get(m, "metrics", "independence", "actions") or []}


def claim6_plans(seeds: tuple[int, ...]) -> list[RunPlan]:
    def settings(model: str) -> dict[str, Any]:
        return {**(_rgrvae_defaults() if model == "forward" else {}), **SPRITES_AGENT}

    plain = [RunPlan(f"{label}_s{s}", model, s, agent=settings(model), data=dict(HEARTS),
                     total_steps=DEFAULT_TOTAL_STEPS) for label, model in CLAIM6_MODELS for s in seeds]
    recipe = [RunPlan(f"{label}_s{s}", model, s, agent={**settings(model), **SPRITES_RECIPE}, data=dict(HEARTS),
                      total_steps=CLAIM6_RECIPE_UPDATES) for label, model in CLAIM6_RECIPE_MODELS for s in seeds]
    refit_seeds = CLAIM6_REFIT_SEEDS if tuple(seeds) == CLAIM_SEEDS else seeds  # its own fresh seeds by default
    refit = [RunPlan(f"{label}_s{s}", model, s, data=dict(HEARTS), total_steps=CLAIM6_RECIPE_UPDATES,
                     agent={**settings(model), **SPRITES_RECIPE, "refit_angles_at": CLAIM6_RECIPE_UPDATES})
             for label, model in CLAIM6_REFIT_MODELS for s in refit_seeds]
    return plain + recipe + refit


def without_latent_actions(runs: list[dict]) -> bool:
    """Runs of a model with no latent actions (the beta-VAE): no accuracy or angles to score."""
    return all(m.get("latent_actions") is None for m in runs)


def faithful_angle_error(m: dict) -> float | None:
    """The largest distance of an action's learned |angle| from its nearest faithful angle 2*pi*k/n (k coprime to
    the action's cycle order n, vae.groups.nearest_faithful_angle), where the target is the k = 1 one."""
    from vae.groups import nearest_faithful_angle

    cycles = _cycle_orders(m)
    rows = get(m, "acceptance", "angles") or []
    errs = [nearest_faithful_angle(r["abs_angle"], cycles[r["true_action"]])["error"] for r in rows
            if cycles.get(r["true_action"]) and r.get("abs_angle") is not None and np.isfinite(r["abs_angle"])]
    return max(errs) if rows and len(errs) == len(rows) else None


def sprites_passed_faithful(m: dict) -> bool:
    """:func:`sprites_passed` with each angle scored against its nearest faithful angle instead of the k = 1 one."""
    acc, _, eq, _ = acceptance_cells(m)
    return _meets_sprites_thresholds(acc, faithful_angle_error(m), eq)


def claim6_outcome(records: dict[str, dict]) -> str:
    """One generated line per model: how many held-out seeds met claim 6's thresholds on hearts, and the values;
    and how many would with each angle scored against its nearest faithful one (a turn of k coprime steps)."""
    lines = []
    for label, _ in CLAIM6_MODELS + CLAIM6_RECIPE_MODELS + CLAIM6_REFIT_MODELS:
        runs = [r["metrics"] for name, r in by_seed(records) if _variant(name) == label]
        if not runs:
            continue
        if without_latent_actions(runs):
            lines.append(f"- **{label}** (no latent actions, so no accuracy or angles): independence "
                         f"{mean_std([get(m, 'metrics', 'independence', 'independence') for m in runs])}, D_LSBD "
                         f"{mean_std([get(m, 'metrics', 'd_lsbd', 'd_lsbd') for m in runs])}, DCI disentanglement "
                         f"{mean_std([get(m, 'metrics', 'dci', 'disentanglement') for m in runs])}, seeds "
                         f"{', '.join(str(get(m, 'config', 'seed')) for m in runs)}.")
            continue
        passed = [get(m, "config", "seed") for m in runs if sprites_passed(m)]
        faithful = [get(m, "config", "seed") for m in runs if sprites_passed_faithful(m)]
        cells = [acceptance_cells(m) for m in runs]
        held_out = all((get(m, "config", "seed") or 0) >= FIRST_REPORT_SEED for m in runs)
        lines.append(f"- **{label}**: {len(passed)} of {len(runs)} {'held-out' if held_out else 'tuning'} seeds met "
                     f"accuracy >= "
                     f"{SPRITES_THRESHOLDS[0]}, angle error <= {SPRITES_THRESHOLDS[1]} rad and equivariance error <= "
                     f"{SPRITES_THRESHOLDS[2]}" + (f" (seeds {', '.join(map(str, passed))})" if passed else "")
                     + f"; accuracy {mean_std([c[0] for c in cells])}, largest angle error "
                     f"{mean_std([c[1] for c in cells])}, equivariance error {mean_std([c[2] for c in cells])}, "
                     f"pairs seen {pairs_summary([pairs_seen(m) for m in runs])}; scoring each angle against its "
                     f"nearest faithful angle instead, {len(faithful)} of {len(runs)}"
                     + (f" (seeds {', '.join(map(str, faithful))})" if faithful else "") + ".")
    return "\n".join(lines)


def _variant(name: str) -> str:
    return name.rsplit("_s", 1)[0]


def sprites_factor_rows(m: dict) -> list[list[Any]]:
    """Per acted factor: matched accuracy of its two actions, learned |angles|, their target 2πk/n and the nearest
    faithful angle (any k coprime to the action's cycle order n is a faithful representation of C_n; the target is
    the image-continuous one), orders."""
    from vae.groups import nearest_faithful_angle

    confusion = np.asarray(get(m, "metrics", "action_estimation", "confusion") or [[0]])
    mapping = get(m, "metrics", "equivariance", "action_map") or []
    if confusion.ndim == 2 and mapping and confusion.shape[1] <= max(mapping):  # latent actions never predicted
        confusion = np.pad(confusion, ((0, 0), (0, max(mapping) + 1 - confusion.shape[1])))
    names = get(m, "metrics", "action_estimation", "action_names") or []
    table_rows = get(m, "latent_actions") or []
    per_action = get(m, "metrics", "equivariance", "per_action") or {}
    targets = {a["true_action"]: a.get("target") for a in get(m, "acceptance", "angles") or []}
    cycles = _cycle_orders(m)
    rows = []
    for f in range(0, len(names), 2):
        pair = [f, f + 1]
        matched = [a for a in pair if a < len(mapping) and mapping[a] >= 0]
        correct = sum(int(confusion[a, mapping[a]]) for a in matched)
        total = int(confusion[pair].sum()) if confusion.ndim == 2 and confusion.shape[0] > f + 1 else 0
        angles = [abs(table_rows[mapping[a]]["angle"]) for a in matched]
        orders = [table_rows[mapping[a]].get("realised_order") for a in matched]
        factor = names[f].rstrip("+-")
        target, n = targets.get(names[f]), cycles.get(names[f])
        nearest = [nearest_faithful_angle(a, n) for a in angles] if n else []
        rows.append([factor, correct / total if total else None, " ".join(f"{a:.3f}" for a in angles),
                     fmt(target), " ".join(f"{r['k']} ({r['error']:.3f})" for r in nearest) or "-",
                     " ".join(fmt(o) for o in orders) or "-",
                     mean_std([per_action.get(names[a]) for a in pair])])
    return rows


def claim6_table(records: dict[str, dict]) -> str:
    outcome = claim6_outcome(records)
    rows = []
    ordered = sorted(records.items(), key=lambda kv: (_variant(kv[0]), get(kv[1], "metrics", "config", "seed") or 0))
    for name, rec in ordered:
        m = rec["metrics"]
        run = f"{_variant(name)} (gamma {fmt(get(m, 'config', 'gamma'), 0)})"
        for row in sprites_factor_rows(m):
            rows.append([run, get(m, "config", "seed"), *row])
        rows.append([run, get(m, "config", "seed"), "all 8 actions", get(m, "acceptance", "action_accuracy"),
                     "", "", "", "", fmt(get(m, "metrics", "equivariance", "relative_error"))])
    header = ["run", "seed", "factor", "matched accuracy", "learned abs. angles (rad)", "target 2πk/n (rad)",
              "nearest faithful k (error)", "realised orders", "equivariance error"]
    extra = []
    for name, rec in ordered:
        m = rec["metrics"]
        extra.append([_variant(name), get(m, "config", "seed"), get(m, "metrics", "equivariance", "latent_spread"),
                      get(m, "metrics", "independence", "independence"), get(m, "metrics", "independence", "fit_ok"),
                      get(m, "metrics", "d_lsbd", "d_lsbd"), pairs_summary([pairs_seen(m)])])
    return (outcome + "\n\n" if outcome else "") + table(header, rows) + "\n\n" + table(
        ["run", "seed", "latent spread", "independence", "maps fit", "D_LSBD", "pairs seen"], extra)


# -- figures ------------------------------------------------------------------------------------------------
def _scatter_figure(groups: dict[str, list[dict]], path: Path, title: str) -> None:
    """Accuracy, largest angle error and equivariance error per group, seeds as points."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), dpi=100)
    panels = [("held-out action accuracy", 0, (MIN_ACTION_ACCURACY, "min")),
              ("largest angle error (rad)", 1, (ANGLE_TOLERANCE, "max")),
              ("relative equivariance error", 2, (MAX_EQUIVARIANCE_ERROR, "max"))]
    labels = list(groups)
    for i, (ylabel, col, (threshold, _)) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        for x, label in enumerate(labels):
            ys = [acceptance_cells(m)[col] for m in groups[label]]
            ys = [y for y in ys if y is not None]
            ax.scatter([x] * len(ys), ys, s=18, alpha=0.8)
        ax.axhline(threshold, color="tab:red", lw=1, ls="--")
        ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if col > 0:
            ax.set_yscale("log")
    save_figure(fig, title, path)


def _grouped(records: dict[str, dict], key: Callable[[str], str]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for name, rec in by_seed(records):
        groups.setdefault(key(name), []).append(rec["metrics"])
    return groups


def comparison_figure(records: dict[str, dict], path: Path) -> None:
    _scatter_figure(_grouped(records, lambda n: n.rsplit("_s", 1)[0]), path, "acceptance criteria, seeds as points")


def claim4_figure(records: dict[str, dict], path: Path) -> None:
    _scatter_figure(_grouped(records, lambda n: n.split("_")[0]), path, "RGrVAE on k-step pairs (N = k)")


def claim5_figure(records: dict[str, dict], path: Path) -> None:
    _scatter_figure(_grouped(records, lambda n: n.split("_")[0]), path, "RGrVAE on noisy frames (clean metrics)")


def claim6_figure(records: dict[str, dict], path: Path) -> None:
    """Per acted Sprites factor: matched action accuracy and equivariance error, seeds as points."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2), dpi=100)
    acc, eq = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    factors: list[str] = []
    variants = sorted({_variant(name) for name in records})
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    for name, rec in by_seed(records):
        colour = colours[_variant(name)]
        for row in sprites_factor_rows(rec["metrics"]):
            if row[0] not in factors:
                factors.append(row[0])
            x = factors.index(row[0])
            if row[1] is not None:
                acc.scatter([x], [row[1]], s=18, color=colour, alpha=0.8)
            per_action = get(rec["metrics"], "metrics", "equivariance", "per_action") or {}
            errors = [v for k, v in per_action.items() if k.rstrip("+-") == row[0] and v is not None]
            eq.scatter([x] * len(errors), errors, s=18, color=colour, alpha=0.8)
    for ax, label in ((acc, "matched action accuracy (held out)"), (eq, "relative equivariance error")):
        ax.set_xticks(range(len(factors)), factors, fontsize=8)
        ax.set_ylabel(label, fontsize=8)
    acc.axhline(MIN_ACTION_ACCURACY, color="tab:red", lw=1, ls="--")
    acc.set_ylim(0, 1.05)
    eq.axhline(MAX_EQUIVARIANCE_ERROR, color="tab:red", lw=1, ls="--")
    eq.set_yscale("log")
    for v in variants:
        acc.scatter([], [], s=18, color=colours[v], label=v)
    acc.legend(fontsize=7, loc="upper right")
    save_figure(fig, "Sprites-v0, per acted factor, seeds as points", path)


# -- beyond the paper: a continuous torus ----------------------------------------------------------------
#: FlatLandContinuous-v0's seeds: held out, as the claims'; the refit runs add 103-105, which no design touched
#: (the refit was built after seed 102's run stopped in a local minimum)
CONTINUOUS_SEEDS = tuple(range(100, 106))
#: ForwardVAE's grid refit of W (agents/forward.py): every 250 updates up to 2,000, as in its tuning run on seed 0
#: (results/tuning/continuous)
CONTINUOUS_REFIT = {"refit_every": 250, "refit_until": 2000}
#: updates of the continuous runs: twice the 1,500 of the tuning run on seed 0 (results/tuning/continuous);
#: ForwardVAE has no stopping rule on a continuous world
CONTINUOUS_STEPS = 3000


#: RGrVAE's world: moves of up to 0.3 half turns (about 5 px), so that a pair's frames say something about each
#: other (docs/method.md, "Continuous latent actions")
CONTINUOUS_LOCAL = {"env_id": "FlatLandContinuous-v0", "env_kwargs": {"max_move": 0.3}}
#: RGrVAE infers each pair's turns in closed form: the options that act on a finite list of latent actions off
#: (what the world suggests), and the latent loss at 100 (the radii kept), as its tuning runs on seeds 0 and 1 chose
CONTINUOUS_RGRVAE_OFF = {"stop_error": 0.0, "realign": False, "restart_after": 0}
CONTINUOUS_RGRVAE_BASE = {**CONTINUOUS_RGRVAE_OFF, "gamma": 100.0}
#: ... and the two label-free terms (results/tuning/continuous)
CONTINUOUS_RGRVAE = {**CONTINUOUS_RGRVAE_BASE, "angle_uniformity": 10.0, "turn_independence": 30.0}
#: RGrVAE's first design, kept: the predicted-frame loss as well and the latent loss at its default 30; it failed on
#: seeds 100-102, and the design above was then chosen on tuning seeds (so it also runs on 103-105)
CONTINUOUS_RGRVAE_PREDICTED_BASE = {**CONTINUOUS_RGRVAE_OFF, "predicted_recon": 1.0}
CONTINUOUS_RGRVAE_PREDICTED = {**CONTINUOUS_RGRVAE_PREDICTED_BASE, "angle_uniformity": 10.0, "turn_independence": 30.0}


def continuous_plans(seeds: tuple[int, ...]) -> list[RunPlan]:
    """ForwardVAE (told the action vectors) with and without the grid refit of W on all seeds, and, as the control,
    the beta-VAE (no actions) on the seeds of the first runs; RGrVAE (no actions) on pairs of local moves with its
    two label-free terms on all seeds, and without them as their control on the first seeds; and its first design,
    with the predicted-frame loss, with its control, on the first seeds."""
    data = {"env_id": "FlatLandContinuous-v0"}
    first = [s for s in seeds if s < 103]
    plans = [RunPlan(f"{label}_s{s}", model, s, data=data, total_steps=CONTINUOUS_STEPS, agent=dict(agent))
             for label, model, agent, on in (("forward", "forward", {}, first), ("beta-VAE", "vae", {}, first),
                                             ("forward-refit", "forward", CONTINUOUS_REFIT, seeds))
             for s in on]
    return plans + [RunPlan(f"{label}_s{s}", "rgrvae", s, data=dict(CONTINUOUS_LOCAL), total_steps=CONTINUOUS_STEPS,
                            agent=dict(agent))
                    for label, agent, on in (("rgrvae", CONTINUOUS_RGRVAE, seeds),
                                             ("rgrvae-plain", CONTINUOUS_RGRVAE_BASE, first),
                                             ("rgrvae-predicted", CONTINUOUS_RGRVAE_PREDICTED, first),
                                             ("rgrvae-predicted-plain", CONTINUOUS_RGRVAE_PREDICTED_BASE, first))
                    for s in on]


def continuous_equivariance(m: dict) -> float | None:
    """rho's relative equivariance error with the true action vectors, or, for a model without such a rho (RGrVAE
    infers each pair's turn; the beta-VAE has none), that of the representation its matched planes imply."""
    err = m.get("relative_equivariance_error")
    return m.get("implied_relative_equivariance_error") if err is None else err


#: the continuous table's models, in order, and what each summary line calls them (the beta-VAE has no line)
CONTINUOUS_MODELS = {"forward": "ForwardVAE", "forward-refit": "ForwardVAE with the grid refit of W",
                     "rgrvae": "RGrVAE with angle uniformity and turn independence",
                     "rgrvae-plain": "RGrVAE without them (the control)",
                     "rgrvae-predicted": "RGrVAE's first design (the two terms and the predicted-frame loss)",
                     "rgrvae-predicted-plain": "The first design's control (the predicted-frame loss alone)",
                     "beta-VAE": None}


def continuous_table(records: dict[str, dict]) -> str:
    """Per run: each factor's angle R^2 and winding (closed-form plane angles), the relative equivariance error (of
    rho with the true action vectors for ForwardVAE, implied by the matched planes otherwise), and whether it meets
    the criteria."""
    rows, lines = [], []
    for label, title in CONTINUOUS_MODELS.items():
        kept = [(n, r) for n, r in by_seed(records) if n.rsplit("_s", 1)[0] == label]
        if not kept:
            continue
        passed = [n for n, r in kept if get(r, "metrics", "acceptance", "passed", "all")]
        if title:
            seeds = ", ".join(n.rsplit("_s", 1)[1] for n in passed)
            lines.append(f"- **{title}**: {len(passed)} of {len(kept)} held-out seeds met angle R^2 >= "
                         f"{MIN_ANGLE_R2} with winding +-1 on every factor and equivariance error <= "
                         f"{MAX_GROUP_EQUIVARIANCE_ERROR}"
                         + (f" (seeds {seeds})." if passed else "."))
        for name, rec in kept:
            m = get(rec, "metrics", "metrics", "continuous_actions") or {}
            factors = m.get("per_factor") or []
            rows.append([label, name.rsplit("_s", 1)[1], f"{get(rec, 'metrics', 'num_steps') or 0:,}",
                         " / ".join(fmt(f.get("r2")) for f in factors),
                         " / ".join("-" if f.get("winding") is None else str(f["winding"]) for f in factors),
                         fmt(continuous_equivariance(m)),
                         {True: "yes", False: "no"}.get(get(rec, "metrics", "acceptance", "passed", "all"), "-")])
    header = ["model", "seed", "updates", "angle R^2, x / y", "winding, x / y", "equivariance error", "passed"]
    return "\n".join(lines) + ("\n\n" if lines else "") + table(header, rows)


def continuous_figure(records: dict[str, dict], path: Path) -> None:
    """Per model: each factor's angle R^2 and rho's equivariance error, seeds as points."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), dpi=100)
    r2_ax, eq_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = sorted({name.rsplit("_s", 1)[0] for name in records})
    for x, label in enumerate(labels):
        for name, rec in by_seed(records):
            if name.rsplit("_s", 1)[0] != label:
                continue
            m = get(rec, "metrics", "metrics", "continuous_actions") or {}
            r2 = [f["r2"] for f in m.get("per_factor") or [] if f.get("r2") is not None]
            r2_ax.scatter([x] * len(r2), r2, s=18, color="C0", alpha=0.8)
            if continuous_equivariance(m) is not None:
                eq_ax.scatter([x], [continuous_equivariance(m)], s=18, color="C1", alpha=0.8)
    r2_ax.axhline(MIN_ANGLE_R2, color="grey", lw=0.8, ls="--")
    eq_ax.axhline(MAX_GROUP_EQUIVARIANCE_ERROR, color="grey", lw=0.8, ls="--")
    for ax, title in ((r2_ax, "angle R^2 per factor"), (eq_ax, "equivariance error (rho's, or implied)")):
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(title, fontsize=9)
    save_figure(fig, "FlatLandContinuous-v0, held-out seeds as points", path)


# -- beyond the paper: the cube's non-commutative rotations ---------------------------------------------------------
#: RotatingCube-v0's held-out seeds
CUBE_SEEDS = tuple(range(100, 103))
#: ForwardVAE on the cube, as in its tuning runs on seed 0 (results/tuning/cube): the so3 block the world suggests
#: (a plan states it: the driver pins what a plan leaves out to the Config's defaults), batch 32, the
#: predicted-frame loss and a cosine decay over the run
CUBE_FORWARD = {"group": "so3", "batch_size": 32, "predicted_recon": 1.0, "lr_decay_steps": 3000}
CUBE_STEPS = 3000


def cube_plans(seeds: tuple[int, ...]) -> list[RunPlan]:
    """ForwardVAE (told the true actions) with one learned 3-D rotation per action on the rotating cube."""
    return [RunPlan(f"forward_s{s}", "forward", s, agent=dict(CUBE_FORWARD), data={"env_id": "RotatingCube-v0"},
                    total_steps=CUBE_STEPS) for s in seeds]


def cube_table(records: dict[str, dict]) -> str:
    """Per run: held-out accuracy, group-relation error (worst, and per kind), equivariance error, whether some
    learned actions fail to commute as the world's do, and whether it meets the criteria."""
    rows, lines = [], []
    for label in sorted({_variant(n) for n in records}):
        kept = [(n, r) for n, r in by_seed(records) if _variant(n) == label]
        passed = [n.rsplit("_s", 1)[1] for n, r in kept if get(r, "metrics", "acceptance", "passed", "all")]
        lines.append(f"- **{label}**: {len(passed)} of {len(kept)} held-out seeds met accuracy >= "
                     f"{MIN_ACTION_ACCURACY}, group-relation error <= {MAX_RELATION_ERROR}, equivariance error <= "
                     f"{MAX_GROUP_EQUIVARIANCE_ERROR} and non-commuting learned actions"
                     + (f" (seeds {', '.join(passed)})." if passed else "."))
        for name, rec in kept:
            acc = get(rec, "metrics", "acceptance") or {}
            kinds = acc.get("group_relation_error_by_kind") or {}
            rows.append([label, name.rsplit("_s", 1)[1], f"{get(rec, 'metrics', 'num_steps') or 0:,}",
                         fmt(acc.get("action_accuracy")), fmt(acc.get("group_relation_error")),
                         " / ".join(fmt(kinds.get(k)) for k in ("order", "inverse", "commutator")),
                         fmt(acc.get("relative_equivariance_error")),
                         {True: "yes", False: "no"}.get(get(acc, "passed", "non_commuting"), "-"),
                         {True: "yes", False: "no"}.get(get(acc, "passed", "all"), "-")])
    header = ["model", "seed", "updates", "accuracy", "group-relation error", "order / inverse / commutator",
              "equivariance error", "learned actions fail to commute", "passed"]
    return "\n".join(lines) + ("\n\n" if lines else "") + table(header, rows)


def cube_figure(records: dict[str, dict], path: Path) -> None:
    """Per run: accuracy, group-relation error and equivariance error, seeds as points, thresholds dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.8), dpi=100)
    panels = (("action_accuracy", "held-out accuracy", MIN_ACTION_ACCURACY),
              ("group_relation_error", "group-relation error", MAX_RELATION_ERROR),
              ("relative_equivariance_error", "equivariance error", MAX_GROUP_EQUIVARIANCE_ERROR))
    labels = sorted({_variant(n) for n in records})
    for i, (key, title, line) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        for x, label in enumerate(labels):
            values = [get(r, "metrics", "acceptance", key) for n, r in by_seed(records) if _variant(n) == label]
            values = [v for v in values if v is not None]
            ax.scatter([x] * len(values), values, s=18, color=f"C{i}", alpha=0.8)
        ax.axhline(line, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(title, fontsize=9)
    save_figure(fig, "RotatingCube-v0, held-out seeds as points", path)


def save_figure(fig: Any, title: str, path: Path) -> None:
    """Title a summary figure, lay it out and write it (its folder made if need be)."""
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def _both(*plans: Callable[[tuple[int, ...]], list[RunPlan]]) -> Callable[[tuple[int, ...]], list[RunPlan]]:
    return lambda seeds: [p for make in plans for p in make(seeds)]


EXPERIMENTS: dict[str, Experiment] = {
    "claim1": Experiment(
        "claim1", "A plain beta-VAE does not learn a linearly disentangled representation.", CLAIM_SEEDS,
        comparison_plans("vae", "beta-VAE", lambda: dict(PAPER_VAE), BASELINE_STEPS), grouped_table,
        comparison_figure,
    ),
    "claim2": Experiment(
        "claim2", "ForwardVAE, supervised by the true actions, induces one.", CLAIM_SEEDS,
        _both(comparison_plans("forward", "forward-paper", lambda: dict(PAPER_FORWARD), BASELINE_STEPS),
              comparison_plans("forward", "forward-tuned", _rgrvae_defaults)),
        grouped_table, comparison_figure,
    ),
    "claim3": Experiment(
        "claim3", "RGrVAE induces one without action labels (the main job, its defaults).", MAIN_SEEDS,
        comparison_plans("rgrvae", "rgrvae", dict), claim3_table, comparison_figure,
    ),
    "claim4": Experiment("claim4", "RGrVAE learns from pairs k actions apart, with N = k policy steps.",
                         SETTING_SEEDS, claim4_plans, claim4_table, claim4_figure),
    "claim5": Experiment("claim5", "RGrVAE is robust to visual noise.", SETTING_SEEDS, claim5_plans, claim5_table,
                         claim5_figure),
    "claim6": Experiment("claim6", "RGrVAE learns Sprites' four symmetries from pixels.", CLAIM_SEEDS, claim6_plans,
                         claim6_table, claim6_figure),
    "continuous": Experiment("continuous", "ForwardVAE learns the continuous torus SO(2) x SO(2) from action vectors; "
                                           "RGrVAE learns it without them.",
                             CONTINUOUS_SEEDS, continuous_plans, continuous_table, continuous_figure),
    "cube": Experiment("cube", "ForwardVAE learns the cube's non-commutative rotations with a 3-D rotation block.",
                       CUBE_SEEDS, cube_plans, cube_table, cube_figure),
}


def comparison_section(results_root: str | Path = "results") -> str:
    """Claims 1-3 side by side: every baseline and RGrVAE, mean ± std over their held-out seeds."""
    from experiments.reproduce import kept_records

    groups: dict[str, list[dict]] = {}
    for name in ("claim1", "claim2", "claim3"):
        groups.update(_grouped(kept_records(EXPERIMENTS[name], results_root), lambda n: n.rsplit("_s", 1)[0]))
    return comparison_table(groups) if groups else "_No kept results yet: `python scripts/reproduce.py claim1`._"


def main_job_section(results_root: str | Path = "results") -> str:
    """One paragraph: how many pairs the main job needed, how long it took, on what, and whether it passed."""
    from experiments.reproduce import kept_records

    records = [r for _, r in by_seed(kept_records(EXPERIMENTS["claim3"], results_root))]
    if not records:
        return "_No kept results yet: `python scripts/reproduce.py claim3`._"
    pairs = np.array([pairs_seen(r["metrics"]) or 0 for r in records], dtype=float)
    wall = np.array([(get(r, "metrics", "run", "train_seconds") or 0) + (get(r, "metrics", "run", "evaluate_seconds")
                      or 0) for r in records])
    rss = [get(r, "metrics", "run", "peak_rss_mb") for r in records]
    passed = sum(bool(get(r, "metrics", "acceptance", "passed", "all")) for r in records)
    seeds = ", ".join(str(get(r, "metrics", "config", "seed")) for r in records)
    hardware = get(records[0], "run", "hardware") or "this machine"
    precision = get(records[0], "metrics", "precision")
    lines = [
        f"- **{passed} of {len(records)}** held-out seeds ({seeds}) meet the acceptance criteria (a)-(c).",
        f"- Pairs seen before the run stopped (machine-independent): median {np.median(pairs):,.0f}, "
        f"range {pairs.min():,.0f}-{pairs.max():,.0f}.",
        f"- Wall time, train + evaluate, on {hardware}, {precision}, with several runs sharing the machine: "
        f"median {np.median(wall):.0f} s, range {wall.min():.0f}-{wall.max():.0f} s.",
    ]
    from experiments.benchmarks import TRAIN_RECORD, _load

    bench = _load(results_root, TRAIN_RECORD)
    rows = [r for r in (bench or {}).get("rows", []) if r["model"] == "rgrvae" and r["precision"] == precision]
    if rows:
        rate = rows[0]["pairs_per_second"]
        lines.append(f"- On a quiet machine (the training benchmark below: {rate:,.0f} pairs/s, {bench['hardware']}), "
                     f"the median run's pairs take {np.median(pairs) / rate / 60:.1f} min of training.")
    lines.append(f"- Peak memory (RSS): at most {max(x for x in rss if x is not None):.0f} MiB.")
    return "\n".join(lines)


def readme_sections(results_root: str | Path = "results") -> dict[str, str]:
    """Every README section generated from ``results/``: one per claim, the comparison, and the benchmarks."""
    from acting.report import acting_sections
    from experiments.benchmarks import benchmark_sections
    from experiments.reproduce import generated_sections

    sections = generated_sections(EXPERIMENTS, results_root)
    sections["comparison"] = comparison_section(results_root)
    sections["main_job"] = main_job_section(results_root)
    sections.update(benchmark_sections(results_root))
    sections.update(acting_sections(results_root))
    return sections
