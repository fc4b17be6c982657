"""Evaluating a trained agent: the metric suite, the acceptance criteria, ``metrics.json`` and the PNG summary.

The acceptance criteria of the FlatLand main job (docs/metrics.md, "Acceptance") are read off
the suite's results, nothing measured twice:

- (a) held-out matched action-estimation accuracy >= :data:`MIN_ACTION_ACCURACY`;
- (b) every true action's matched latent action rotates by an |angle| within
  :data:`ANGLE_TOLERANCE` rad of the world's image-continuous angle (FlatLand: 2*pi*5/33);
- (c) relative equivariance error <= :data:`MAX_EQUIVARIANCE_ERROR`.

On a continuous torus (FlatLandContinuous-v0) there are no action classes: every factor's
angle R^2 (vae/metrics/continuous_actions.py) >= :data:`MIN_ANGLE_R2` and a relative
equivariance error <= :data:`MAX_GROUP_EQUIVARIANCE_ERROR` (:func:`continuous_acceptance`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from agents.files import atomic_write_bytes, prepare_dir, write_json
from agents.training.callbacks import has_continuous_actions, has_latent_actions
from agents.training.provenance import provenance
from vae.metrics.suite import evaluate, to_jsonable

MIN_ACTION_ACCURACY = 0.95
ANGLE_TOLERANCE = 0.03
MAX_EQUIVARIANCE_ERROR = 0.02
#: on a finite group that is not a product of cycles (the cube): the largest group-relation error and equivariance
MAX_RELATION_ERROR = 0.05
MAX_GROUP_EQUIVARIANCE_ERROR = 0.05
#: on a continuous torus: the smallest angle R^2 of every factor's plane against the factor's true move
MIN_ANGLE_R2 = 0.95

METRICS_NAME = "metrics.json"
SUMMARY_NAME = "latent_actions.png"


def pixel_targets(spec: Any) -> dict[str, dict[str, float]]:
    """Per action whose angle on the frames differs from the declared one: |angle| on the frames, per value of what
    it depends on (Sprites: per shape); empty where the declared group is the group acting on the frames."""
    if spec.declared_group_is_pixel_group or not hasattr(spec, "pixel_continuous_angles"):
        return {}
    return {name: {k: abs(v) for k, v in per.items()} for name, per in spec.pixel_continuous_angles().items()
            if any(abs(v) != abs(spec.continuous_angle(spec.action_names.index(name))) for v in per.values())}


def angle_target(spec: Any, action: int, on_pixels: dict[str, dict[str, float]]) -> float:
    """The |angle| an action is scored against: the frames' (``on_pixels``, :func:`pixel_targets`) where they repeat
    sooner alike in every state, else the world's image-continuous angle ``spec.continuous_angle``."""
    per = on_pixels.get(spec.action_names[action])
    if per and len(set(per.values())) == 1:
        return next(iter(per.values()))
    return abs(spec.continuous_angle(action))


def acceptance(agent: Any, suite: dict) -> dict:
    """The three criteria, read off the suite's results (see module doc).

    Per true action a, a^ is the latent action standing for it (the suite's equivariance
    map: Hungarian matching for RGrVAE, the identity for ForwardVAE); its |angle| is compared
    with the world's image-continuous angle ``spec.continuous_angle(a)``, or the angle on the
    frames where those repeat sooner and do so alike in every state (:func:`pixel_targets`).
    Accuracy is the held-out one when the suite reports it.
    """
    est, eqv = suite.get("action_estimation", {}), suite.get("equivariance", {})
    accuracy = est.get("accuracy")
    rel_err = eqv.get("relative_error")
    mapping = eqv.get("action_map") or est.get("mapping") or []
    table = agent.angle_table()
    on_pixels = pixel_targets(agent.spec)
    angles = []
    for a, name in enumerate(agent.spec.action_names):
        j = int(mapping[a]) if a < len(mapping) and mapping[a] is not None and mapping[a] >= 0 else None
        theta = table[j]["angle"] if j is not None else float("nan")
        target = angle_target(agent.spec, a, on_pixels)
        row = {"true_action": name, "latent_action": j, "abs_angle": abs(theta)}
        if name in on_pixels and len(set(on_pixels[name].values())) > 1:
            # it differs between, e.g., shapes: no one angle is faithful; the declared one stays
            row["pixel_targets"] = on_pixels[name]
        err = abs(abs(theta) - target) if np.isfinite(theta) else float("nan")
        angles.append({**row, "target": target, "error": err})
    passed = {
        "action_accuracy": accuracy is not None and accuracy >= MIN_ACTION_ACCURACY,
        "angles": bool(angles) and all(np.isfinite(r["error"]) and r["error"] <= ANGLE_TOLERANCE for r in angles),
        "equivariance": rel_err is not None and rel_err <= MAX_EQUIVARIANCE_ERROR,
    }
    passed["all"] = all(passed.values())
    return {
        "action_accuracy": accuracy,
        "angles": angles,
        "relative_equivariance_error": rel_err,
        "independence": suite.get("independence", {}).get("independence"),
        "thresholds": {
            "action_accuracy_min": MIN_ACTION_ACCURACY,
            "angle_tolerance": ANGLE_TOLERANCE,
            "relative_equivariance_error_max": MAX_EQUIVARIANCE_ERROR,
        },
        "passed": passed,
    }


def verdict(agent: Any, accepted: dict | None) -> dict:
    """Whether the agent learned the world's actions, and if not why and what to try (docs/method.md, "Verdict").

    Label-free first, from the agent's own probe pairs (agents/diagnostics.py); where the
    world has labels, criteria (a)-(c) decide, and a disagreement between the two is said.
    """
    from agents.diagnostics import MAX_PLANE_NORM_CHANGE, MIN_AGREEMENT, MIN_PLANE_SHARE, diagnose

    pairs = agent.probe_pairs()
    diag = diagnose(agent, pairs.obs, pairs.next_obs)
    c = agent.config
    problems, advice = [], []
    one_step = getattr(c, "action_steps", 1) == 1 and agent.source.config.k == 1
    # an so3 block (vae/so3.py) rotates 3 latent dimensions at once: the two plane checks do not apply to it
    planes = all(row["plane"] is not None for row in agent.angle_table())
    if planes and one_step and not diag["plane_share"] >= MIN_PLANE_SHARE:
        problems.append(f"mixed planes: only {diag['plane_share']:.0%} of a pair's latent move lies in one latent "
                        f"plane (a learned action rotates one plane)")
        advice.append("another seed, or --realign if it is off")
    if planes and not diag["plane_norm_change"] <= MAX_PLANE_NORM_CHANGE:
        problems.append(f"mixed planes: pairs change the code's radius on rho's planes by "
                        f"{diag['plane_norm_change']:.3f} of its spread (rotations keep it)")
        advice.append("another seed, or --realign if it is off")
    if not diag["policy_error"] <= MAX_EQUIVARIANCE_ERROR:
        problems.append(f"the latent actions it infers leave a label-free equivariance error of "
                        f"{diag['policy_error']:.3f} (> {MAX_EQUIVARIANCE_ERROR})")
        advice.append("more updates (--total-steps) if the error was still falling")
    if not diag["agreement"] >= MIN_AGREEMENT:
        problems.append(f"its policy picks the best latent action for only {diag['agreement']:.0%} of pairs")
    if not diag["smallest_move"] >= c.stop_min_move:
        problems.append(f"a latent action it uses moves the code by only {diag['smallest_move']:.3f} of its spread: "
                        f"it leaves its plane unmoved")
        advice.append("a larger --angle-init or --gamma")
    label_free = not problems
    out: dict[str, Any] = {"label_free": {"learned": label_free, "diagnostics": diag}}
    if accepted is not None:
        by_labels = bool(accepted["passed"]["all"])
        failed = [name for name, ok in accepted["passed"].items() if name != "all" and not ok]
        if not by_labels:
            problems.append("criteria (a)-(c) not met: " + ", ".join(failed))
        learned, basis = by_labels, "criteria (a)-(c) and the label-free diagnostics"
        if by_labels != label_free:
            problems.append(f"the label-free diagnostics say {'yes' if label_free else 'no'}, the labels "
                            f"{'yes' if by_labels else 'no'}: the labels decide")
    else:
        learned, basis = label_free, "the label-free diagnostics (this world has no criteria)"
    summary = (f"learned the world's actions ({basis})" if learned else
               f"did not learn the world's actions ({basis}): " + "; ".join(problems))
    if not learned and advice:
        summary += ". Try: " + "; ".join(dict.fromkeys(advice))
    out.update({"learned": learned, "problems": problems, "advice": list(dict.fromkeys(advice)), "summary": summary})
    return out


def headline(record: dict) -> dict[str, float | None]:
    """The few numbers worth a glance (and a TensorBoard scalar)."""
    m = record.get("metrics", {})
    out = {"independence": m.get("independence", {}).get("independence")}
    acc = record.get("acceptance")
    if "min_r2" in m.get("continuous_actions", {}):  # a continuous torus (any model: the codes' angle R^2)
        out["min_angle_r2"] = m["continuous_actions"]["min_r2"]
    if acc and "min_angle_r2" in acc:
        out["relative_equivariance_error"] = acc["relative_equivariance_error"]
    elif acc:
        out["action_accuracy"] = acc["action_accuracy"]
        out["relative_equivariance_error"] = acc["relative_equivariance_error"]
        if "angles" in acc:
            errs = [r["error"] for r in acc["angles"] if r["error"] is not None]
            out["max_angle_error"] = max(errs) if errs else None
        else:
            out["group_relation_error"] = acc["group_relation_error"]
    return out


def relation_acceptance(suite: dict) -> dict:
    """The criteria on a finite group with no angle per action (the cube; docs/metrics.md, "Group-relation error").

    (a) held-out matched accuracy >= :data:`MIN_ACTION_ACCURACY`; (b) every order, inverse and
    commutator relation of the world is measured and holds within :data:`MAX_RELATION_ERROR`; (c)
    relative equivariance error <= :data:`MAX_GROUP_EQUIVARIANCE_ERROR`; and, where the world has
    pairs of actions that do not commute, at least one of those pairs whose learned actions do
    not commute either: a commutative image of the group fails this even if its relations hold.
    """
    est, eqv, rel = (suite.get(k, {}) for k in ("action_estimation", "equivariance", "group_relations"))
    accuracy, rel_err, worst = est.get("accuracy"), eqv.get("relative_error"), rel.get("max_error")
    world_pairs = {tuple(p) for p in rel.get("world_non_commuting") or []}
    learned_pairs = {tuple(p) for p in rel.get("learned_non_commuting") or []}
    passed = {
        "action_accuracy": accuracy is not None and accuracy >= MIN_ACTION_ACCURACY,
        "group_relations": worst is not None and worst <= MAX_RELATION_ERROR and not rel.get("unmeasured"),
        "equivariance": rel_err is not None and rel_err <= MAX_GROUP_EQUIVARIANCE_ERROR,
        "non_commuting": not world_pairs or bool(world_pairs & learned_pairs),
    }
    passed["all"] = all(passed.values())
    return {
        "action_accuracy": accuracy,
        "group_relation_error": worst,
        "group_relation_error_by_kind": rel.get("max_error_by_kind"),
        "relative_equivariance_error": rel_err,
        "learned_non_commuting": rel.get("learned_non_commuting"),
        "thresholds": {"action_accuracy_min": MIN_ACTION_ACCURACY, "group_relation_error_max": MAX_RELATION_ERROR,
                       "relative_equivariance_error_max": MAX_GROUP_EQUIVARIANCE_ERROR},
        "passed": passed,
    }


def continuous_acceptance(suite: dict) -> dict:
    """The criteria on a continuous torus (docs/metrics.md, "Continuous actions"): each factor's angle R^2 >=
    :data:`MIN_ANGLE_R2`, up to sign and the factor-to-plane matching, with winding +-1 (a k-fold cover is not
    faithful), and a relative equivariance error of rho with the true action vectors (for a model without one,
    RGrVAE: of the representation its matched planes imply) <= :data:`MAX_GROUP_EQUIVARIANCE_ERROR` (not
    measured: not met)."""
    m = suite.get("continuous_actions", {})
    r2, err = m.get("min_r2"), m.get("relative_equivariance_error")
    source = "the model's rho with the true action vectors"
    if err is None:  # a model with no rho of action vectors (RGrVAE infers each pair's turn)
        err, source = m.get("implied_relative_equivariance_error"), "the representation the matched planes imply"
    passed = {"angle_r2": r2 is not None and r2 >= MIN_ANGLE_R2,
              "faithful": bool(m.get("faithful")),
              "equivariance": err is not None and err <= MAX_GROUP_EQUIVARIANCE_ERROR}
    passed["all"] = all(passed.values())
    return {"min_angle_r2": r2, "per_factor": m.get("per_factor"), "relative_equivariance_error": err,
            "equivariance_of": source, "thresholds": {"angle_r2_min": MIN_ANGLE_R2,
                           "relative_equivariance_error_max": MAX_GROUP_EQUIVARIANCE_ERROR},
            "passed": passed}


def continuous_verdict(accepted: dict) -> dict:
    """The verdict on a continuous torus: the labelled criteria decide (the label-free diagnostics read a finite
    list of latent actions, which such a world has not)."""
    failed = [name for name, ok in accepted["passed"].items() if name != "all" and not ok]
    learned = not failed
    problems = [] if learned else ["criteria not met: " + ", ".join(failed)]
    basis = "angle R^2 and the equivariance of " + accepted.get("equivariance_of",
                                                                "the model's rho with the true action vectors")
    summary = (f"learned the world's actions ({basis})" if learned else
               f"did not learn the world's actions ({basis}): " + "; ".join(problems))
    return {"learned": learned, "problems": problems, "advice": [], "summary": summary}


def evaluate_agent(
    agent: Any, out_dir: str | os.PathLike, num_samples: int = 1000, seed: int = 0, progress: bool = True
) -> dict:
    """Run the metric suite on the agent's world; write ``metrics.json`` (with the acceptance block) and the PNG."""
    if agent.world is None:
        raise ValueError("the agent has no world to evaluate on (it was trained from a dataset that records none)")
    out_dir = prepare_dir(out_dir, "output folder", remove_stale=False)
    suite = evaluate(agent, agent.world, num_samples=num_samples, seed=seed, progress=progress)
    record: dict[str, Any] = {
        "algo": agent.algo,
        "env_id": agent.source.env_id,
        "num_steps": agent.num_steps,
        "pairs_seen": agent.num_steps * agent.config.batch_size,
        "config": dataclasses.asdict(agent.config),
        "data": dataclasses.asdict(agent.source.config),
        "precision": agent.precision,
        "provenance": provenance(),
        "metrics": suite,
    }
    cyclic = agent.spec.is_cyclic_product
    if has_continuous_actions(agent):
        record["latent_actions"] = agent.angle_table()
        record["acceptance"] = continuous_acceptance(suite)
        record["verdict"] = continuous_verdict(record["acceptance"])
    if has_latent_actions(agent):
        record["latent_actions"] = agent.angle_table()
        if cyclic:
            record["acceptance"] = acceptance(agent, suite)
        elif agent.spec.is_discrete and "max_error" in suite.get("group_relations", {}):
            record["acceptance"] = relation_acceptance(suite)
        record["verdict"] = verdict(agent, record.get("acceptance"))
    # RGrVAE's label-free rescues and ForwardVAE's refits of W, each an event with its update
    for rescue in ("realignments", "restarts", "refits"):
        if hasattr(agent, rescue):
            record[rescue] = list(getattr(agent, rescue))
    record = to_jsonable(record)
    write_json(out_dir / METRICS_NAME, record)
    if has_latent_actions(agent):
        write_summary(agent, out_dir / SUMMARY_NAME, suite.get("action_estimation", {}), seed)
    return record


def write_summary(agent: Any, path: Path, estimation: dict, seed: int = 0) -> None:
    """The run's PNG: each latent action applied repeatedly to a start frame, beside the confusion matrix."""
    import io

    from agents.training.callbacks import Probe
    from agents.training.figures import summary_figure

    start = Probe.sample(agent, 1, seed).obs
    fig = summary_figure(agent, start, estimation.get("confusion"), agent.spec.action_names, estimation.get("mapping"))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
