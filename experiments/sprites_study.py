"""The Sprites study: does each latent plane come to hold its factor on hearts, and does its angle follow?

Claim 6's runs learn x and y but neither scale nor orientation. This study says which half fails:

- the *code*: a labelled probe (calibration only, never read by a learner) fits each factor from
  the codes of fresh frames (gradient-boosted trees, cross-validated R^2; orientation as the
  cosine and sine of its turn) and measures how much of each latent plane's variance the factor's
  values explain (eta^2, one-way ANOVA). A factor the backbone does not see has R^2 near 0.
- the *representation*: the learned angle of each factor's plane against its faithful target.

Candidates are ForwardVAE settings on top of claim 6's (experiments/claims.py), told the true
actions. One of them, ``known-group``, also fixes rho at the world's faithful angles: a reference
told the group as well as the actions, asking whether the code can form when the angles are right.
Only seeds below 100 may be studied (docs/method.md, "Seeds"). ``scripts/study_sprites.py``
drives it and writes ``results/tuning/sprites/<candidate>/s<seed>.json`` and ``summary.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.learning_study import check_tuning_seeds
from experiments.tables import table

#: candidate -> ForwardVAE overrides of claim 6's ForwardVAE settings
CANDIDATES: dict[str, dict[str, Any]] = {
    "claim6": {},
    "backbone-only": {"gamma": 0.0},
    "beta-0.1": {"gamma": 0.0, "beta": 0.1},
    "predicted": {"predicted_recon": 1.0},
    "predicted-gamma-1": {"predicted_recon": 1.0, "gamma": 1.0},
    "known-group": {"fix_angles": True},
    "predicted-known-group": {"predicted_recon": 1.0, "fix_angles": True},
    # levers on the backbone, with everything else given: does any let the code see the heart's turn?
    "known-group-wide": {"predicted_recon": 1.0, "fix_angles": True, "channels": (64, 64, 64, 64)},
    "known-group-beta-0.1": {"predicted_recon": 1.0, "fix_angles": True, "beta": 0.1},
    "known-group-autoencoder": {"predicted_recon": 1.0, "fix_angles": True, "beta": 0.0},
    "known-group-batch-128": {"predicted_recon": 1.0, "fix_angles": True, "batch_size": 128},
    # is it the backbone at all? no latent loss, no KL: does a plain autoencoder's code hold the turn?
    "autoencoder": {"gamma": 0.0, "beta": 0.0},
    "known-group-fp32": {"predicted_recon": 1.0, "fix_angles": True, "precision": "fp32"},
    # ReLU instead of SELU: a supervised regression of the turn learns it with ReLU convolutions, not with SELU
    "autoencoder-relu": {"gamma": 0.0, "beta": 0.0, "activation": "relu"},
    "predicted-known-group-relu": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu"},
    "predicted-relu": {"predicted_recon": 1.0, "activation": "relu"},
    "claim6-relu": {"activation": "relu"},
    # the turn changes a few dozen pixels: weight the pixels that differ between the pair's frames (label-free)
    "predicted-known-group-relu-change-10": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                             "change_weight": 10.0},
    "predicted-known-group-relu-change-100": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                              "change_weight": 100.0},
    # a plane that must be centred and isotropic cannot sit still: with the group given, the only way for the
    # orientation plane to vary and still be turned only by the orientation actions is to hold the turn
    "predicted-known-group-relu-moments-1": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                             "plane_moments": 1.0},
    "predicted-known-group-relu-moments-10": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                              "plane_moments": 10.0},
    "predicted-known-group-relu-moments-100": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                               "plane_moments": 100.0},
    # the encoder also sees its maps' spatial maxima, nearly the same wherever the heart sits: with labels it learns
    # the turn sooner (the supervised probe)
    "autoencoder-relu-pooled": {"gamma": 0.0, "beta": 0.0, "activation": "relu", "pooled_encoder": True},
    "predicted-known-group-relu-pooled": {"predicted_recon": 1.0, "fix_angles": True, "activation": "relu",
                                          "pooled_encoder": True},
    "claim6-relu-pooled": {"activation": "relu", "pooled_encoder": True},
    "predicted-relu-pooled": {"predicted_recon": 1.0, "activation": "relu", "pooled_encoder": True},
    # every action changes the state: a hinge that each pair's codes lie apart pays for a turned pair whose codes
    # coincide, which the latent loss does not; the reconstruction is summed over 4,096 pixels, hence the weight.
    # Each beside its control without the hinge (claim6-relu-pooled, known-group-relu-pooled)
    "claim6-relu-pooled-distinct-1000": {"activation": "relu", "pooled_encoder": True, "distinct": 1000.0,
                                         "distinct_margin": 0.2},
    "known-group-relu-pooled": {"fix_angles": True, "activation": "relu", "pooled_encoder": True},
    "known-group-relu-pooled-distinct-1000": {"fix_angles": True, "activation": "relu", "pooled_encoder": True,
                                              "distinct": 1000.0, "distinct_margin": 0.2},
    # the predicted-frame loss asks each action's plane to hold what the action changes: with the hinge, the turn?
    # (controls: predicted-known-group-relu-pooled, predicted-relu-pooled)
    "predicted-known-group-relu-pooled-distinct-1000": {"predicted_recon": 1.0, "fix_angles": True,
                                                        "activation": "relu", "pooled_encoder": True,
                                                        "distinct": 1000.0, "distinct_margin": 0.2},
    "predicted-relu-pooled-distinct-1000": {"predicted_recon": 1.0, "activation": "relu", "pooled_encoder": True,
                                            "distinct": 1000.0, "distinct_margin": 0.2},
    # the hinge brings the turn into its plane, but its angle may stay near 0 (seed 2) or settle off a faithful one:
    # label-free priors that a uniformly visited orbit's plane is a centred circle (plane moments) or has evenly
    # spread angles (angle uniformity) leave no code that holds the turn without turning (control: the one above)
    "predicted-relu-pooled-distinct-1000-moments-100": {"predicted_recon": 1.0, "activation": "relu",
                                                        "pooled_encoder": True, "distinct": 1000.0,
                                                        "distinct_margin": 0.2, "plane_moments": 100.0},
    "predicted-relu-pooled-distinct-1000-uniformity-100": {"predicted_recon": 1.0, "activation": "relu",
                                                           "pooled_encoder": True, "distinct": 1000.0,
                                                           "distinct_margin": 0.2, "angle_uniformity": 100.0},
    # the hinge's runs with a longer budget and every learning rate cosine-decayed over it, so the angles settle on
    # what the final code implies rather than wander with Adam's steps (for 15,000 updates)
    "predicted-relu-pooled-distinct-1000-decay-15000": {"predicted_recon": 1.0, "activation": "relu",
                                                        "pooled_encoder": True, "distinct": 1000.0,
                                                        "distinct_margin": 0.2, "lr_decay_steps": 15000},
    # the same told the group (rho fixed at the faithful angles): does the orientation plane then turn with the heart,
    # or is forming the code, not learning its angle, what fails? And the latent loss at 100 instead of 30: does a
    # dearer miss make the plane that the hinge fills turn, where at 30 it flips back and forth (its step error)?
    "predicted-known-group-relu-pooled-distinct-1000-decay-15000": {"predicted_recon": 1.0, "fix_angles": True,
                                                                    "activation": "relu", "pooled_encoder": True,
                                                                    "distinct": 1000.0, "distinct_margin": 0.2,
                                                                    "lr_decay_steps": 15000},
    "predicted-relu-pooled-distinct-1000-gamma-100-decay-15000": {"predicted_recon": 1.0, "activation": "relu",
                                                                  "pooled_encoder": True, "distinct": 1000.0,
                                                                  "distinct_margin": 0.2, "gamma": 100.0,
                                                                  "lr_decay_steps": 15000},
    # the recipe on ellipses alone (orientation order 5 on their frames, target 2*pi/5): a heart's turn is carried
    # mostly by its third angular harmonic and is found at three steps (sprite_harmonics); an ellipse's by its
    # second, which is its image-continuous one. Is the turn then found at the target?
    "ellipse-predicted-relu-pooled-distinct-1000-decay-15000": {"shape": "ellipse", "predicted_recon": 1.0,
                                                                "activation": "relu", "pooled_encoder": True,
                                                                "distinct": 1000.0, "distinct_margin": 0.2,
                                                                "lr_decay_steps": 15000},
    # the recipe with claim 6's whole pair budget (31,000 updates of 32 pairs, under 1M): the orientation finds its
    # plane late (after update 3,000 on the tuning seeds), so does it turn steadily once it has twice the updates?
    "predicted-relu-pooled-distinct-1000-decay-31000": {"predicted_recon": 1.0, "activation": "relu",
                                                        "pooled_encoder": True, "distinct": 1000.0,
                                                        "distinct_margin": 0.2, "lr_decay_steps": 31000},
}
#: the acted factors of Sprites-v0 (factor columns 1-4), in the order of their action pairs and latent planes
FACTORS = ("scale", "orientation", "x", "y")
#: where the supervised turn probes are kept, one file per encoder activation
SUPERVISED_DIR = "supervised-turn"


def candidate_settings(candidate: str) -> tuple[dict[str, Any], bool]:
    """A candidate's ForwardVAE settings: claim 6's, with the label-free stop off (a fixed budget) and the
    candidate's overrides; and whether it is told the group (``fix_angles``)."""
    from experiments.claims import SPRITES_AGENT, _rgrvae_defaults

    overrides = dict(CANDIDATES[candidate])
    fix = overrides.pop("fix_angles", False)
    overrides.pop("shape", None)
    return {**_rgrvae_defaults(), **SPRITES_AGENT, "stop_error": 0.0, **overrides}, fix


def candidate_shape(candidate: str) -> str:
    """The one Sprites shape a candidate trains on (hearts unless it says otherwise)."""
    return CANDIDATES[candidate].get("shape", "heart")


def _agent(candidate: str, seed: int):
    """ForwardVAE on the candidate's shape (offset 4, as claim 6) with :func:`candidate_settings`."""
    import torch

    from agents.forward import ForwardVAE
    from experiments.claims import HEARTS
    from flatland_env.pairs import PairSourceConfig
    check_tuning_seeds([seed])
    settings, fix = candidate_settings(candidate)
    world = {**HEARTS["env_kwargs"], "shapes": candidate_shape(candidate)}
    agent = ForwardVAE(PairSourceConfig(HEARTS["env_id"], env_kwargs=world), seed=seed, **settings)
    if fix:  # told the group: each action's faithful angle, fixed
        with torch.no_grad():
            agent.rho.angles.copy_(torch.as_tensor(_signed_targets(agent.spec), dtype=torch.float32))
        agent.rho.angles.requires_grad_(False)
    return agent, {**settings, "fix_angles": fix}


def probe_frames(n: int = 3000, seed: int | np.random.Generator = 0,
                 shape: str = "heart") -> tuple[np.ndarray, np.ndarray]:
    """Fresh frames of one shape with uniformly drawn factors (labelled; for the probes only). The orientation is
    given modulo the shape's period, the turns its frames can tell apart (a heart's: all 40)."""
    from flatland_env.worlds.sprites import NUM_ORIENTATIONS, NUM_POSITIONS, NUM_SCALES, SHAPE_PERIODS, render_sprites

    rng = np.random.default_rng(seed)
    factors = np.stack([np.zeros(n, int), rng.integers(0, NUM_SCALES, n), rng.integers(0, NUM_ORIENTATIONS, n),
                        rng.integers(0, NUM_POSITIONS, n), rng.integers(0, NUM_POSITIONS, n)], 1)
    factors[:, 2] %= SHAPE_PERIODS[shape]
    return render_sprites(factors, 64, (shape,)), factors


def plane_eta2(codes: np.ndarray, values: np.ndarray) -> list[float]:
    """Per latent plane, the share of its variance that the factor's values explain (eta^2; 1: the plane is a
    function of the factor, 0: it ignores it)."""
    out = []
    for p in range(codes.shape[1] // 2):
        plane = codes[:, 2 * p:2 * p + 2]
        total = ((plane - plane.mean(0)) ** 2).sum()
        between = sum(((plane[values == v].mean(0) - plane.mean(0)) ** 2).sum() * (values == v).sum()
                      for v in np.unique(values))
        out.append(round(float(between / max(total, 1e-12)), 3))
    return out


def factor_r2(codes: np.ndarray, target: np.ndarray, seed: int = 0) -> float:
    """Cross-validated R^2 of gradient-boosted trees fitting ``target`` from the codes (0 or less: not encoded)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import cross_val_score

    model = HistGradientBoostingRegressor(max_iter=200, random_state=seed)
    return round(float(cross_val_score(model, codes, target, cv=3, scoring="r2").mean()), 3)


def code_probe(codes: np.ndarray, factors: np.ndarray, period: int = 40) -> dict[str, dict[str, Any]]:
    """Per acted factor: R^2 from the whole code and eta^2 per plane; orientation as the cosine and sine of its
    turn (``period`` orientations look alike again: 40, a full turn, for a heart), so the wrap is no jump."""
    out = {}
    for i, name in enumerate(FACTORS):
        values = factors[:, i + 1]
        if name == "orientation":
            turn = 2 * np.pi * values / period
            r2 = round((factor_r2(codes, np.cos(turn)) + factor_r2(codes, np.sin(turn))) / 2, 3)
        else:
            r2 = factor_r2(codes, values.astype(float))
        out[name] = {"r2": r2, "plane_eta2": plane_eta2(codes, values)}
    return out


def orbit_step_errors(code_of: Any, matrices: np.ndarray, bases: int = 6, seed: int = 1) -> list[dict[str, float]]:
    """Per acted factor: by what angle the factor's "+" action misses on its own plane, over whole orbits (labels:
    calibration only).

    From ``bases`` random states of one shape, each factor is stepped by its "+" action (offset 4) around every orbit it
    has; the miss of one step is the signed wrapped angle from rho(+) z to the next state's code z', both on the
    factor's plane. Returns, per factor, the median |miss| (``median``), the circular mean of the signed misses
    (``mean``) and their resultant length (``resultant``, 1: every step misses by the same angle, 0: the misses
    scatter). A plane that turns by its learned angle at every step scores 0, 0, 1; one that turns steadily by
    another angle (a sign flip at every step is a turn by pi) misses by the difference at every step (resultant
    near 1); one whose codes scatter along the orbit has a resultant near 0. A plane can hold a factor (eta^2 near
    1) and still miss.
    ``code_of`` maps factor rows (N, 5) to codes (N, L); ``matrices`` are rho's (num_actions, L, L)."""
    from flatland_env.worlds.sprites import NUM_ORIENTATIONS, NUM_POSITIONS, NUM_SCALES

    sizes, offset = (NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS), 4
    rng = np.random.default_rng(seed)
    base = np.stack([np.zeros(bases, int)] + [rng.integers(0, k, bases) for k in sizes], 1)
    out = []
    for i, size in enumerate(sizes):
        values = [(start + offset * np.arange(size // np.gcd(size, offset))) % size for start in range(offset)]
        orbits = []  # every coset from every base state (repeated where the offset does not split the factor)
        for state in base:
            for v in values:
                orbit = np.repeat(state[None], len(v), 0)
                orbit[:, i + 1] = v
                orbits.append(orbit)
        codes = code_of(np.concatenate(orbits)).reshape(len(orbits), len(values[0]), -1)
        plane = slice(2 * i, 2 * i + 2)
        predicted = (codes @ matrices[2 * i + 1].T)[..., plane]
        following = np.roll(codes, -1, axis=1)[..., plane]  # each orbit closes: its last state steps to its first
        miss = np.angle((following[..., 0] + 1j * following[..., 1])
                        * np.conj(predicted[..., 0] + 1j * predicted[..., 1])).ravel()
        mean = np.exp(1j * miss).mean()
        out.append({"median": round(float(np.median(np.abs(miss))), 3), "mean": round(float(np.angle(mean)), 3),
                    "resultant": round(float(np.abs(mean)), 3)})
    return out


def _factor_angles(agent: Any) -> list[float]:
    """|rho's angle| of each acted factor's "+" action (one per plane)."""
    return [round(abs(float(a)), 4) for a in agent.rho.effective_angles().detach().cpu()[::2]]


def _agent_step_errors(agent: Any, shape: str = "heart") -> list[dict[str, float]]:
    """:func:`orbit_step_errors` of a ForwardVAE on one shape: its own encoder on rendered frames, its own rho."""
    from flatland_env.worlds.sprites import render_sprites

    return orbit_step_errors(lambda f: agent.encode(render_sprites(f, 64, (shape,))), agent.action_representations())


def study_run(candidate: str, seed: int, updates: int, check_every: int) -> dict[str, Any]:
    """Train one candidate on one tuning seed for ``updates`` and probe the code and the angles at every check."""
    from flatland_env.worlds.sprites import SHAPE_PERIODS

    agent, settings = _agent(candidate, seed)
    shape = candidate_shape(candidate)
    frames, factors = probe_frames(shape=shape)
    checks, started = [], time.perf_counter()
    while agent.num_steps < updates:
        agent.learn(min(check_every, updates - agent.num_steps), progress_bar=False)
        codes = agent.encode(frames)
        checks.append({
            "update": agent.num_steps,
            "pairs_seen": agent.num_steps * agent.config.batch_size,
            "seconds": round(time.perf_counter() - started, 1),
            "angles": _factor_angles(agent),
            "code_spread": round(float(codes.std(0).mean()), 3),
            "probe": code_probe(codes, factors, SHAPE_PERIODS[shape]),
            "step_errors": _agent_step_errors(agent, shape),
        })
    return {"candidate": candidate, "seed": seed, "updates": updates, "shape": shape, "settings": settings,
            "precision": agent.precision, "targets": [round(float(t), 4) for t in _targets(agent)], "checks": checks}


def supervised_turn_probe(activation: str, updates: int = 6000, check_every: int = 1000, seed: int = 0,
                          batch_size: int = 32, lr: float = 1e-3, pooled: bool = False) -> dict[str, Any]:
    """Can the backbone's encoder see a heart's turn at all? It is trained *supervised* (labels, calibration
    only) to regress the cosine and sine of the turn from fresh heart frames; R^2 on 1,000 held-out frames at
    every check. A backbone that cannot learn this with labels cannot be asked to learn it without them."""
    import torch

    from flatland_env.worlds.sprites import NUM_ORIENTATIONS
    from vae.nets import Encoder

    rng = np.random.default_rng(seed)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        frames, f = probe_frames(n, rng)  # the generator goes on drawing: fresh frames every call
        x = torch.as_tensor(frames, dtype=torch.float32).permute(0, 3, 1, 2) / 255
        turn = 2 * np.pi * f[:, 2] / NUM_ORIENTATIONS
        return x, torch.as_tensor(np.stack([np.cos(turn), np.sin(turn)], 1), dtype=torch.float32)

    torch.manual_seed(seed)
    encoder = Encoder(1, 2, activation=activation, pooled=pooled)  # its 2 means regress (cos, sin)
    optimizer = torch.optim.Adam(encoder.parameters(), lr)
    test_x, test_y = batch(1000)
    checks, started = [], time.perf_counter()
    for update in range(1, updates + 1):
        x, y = batch(batch_size)
        loss = ((encoder(x)[0] - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % check_every == 0:
            with torch.no_grad():
                pred = encoder(test_x)[0]
            r2 = 1 - float(((pred - test_y) ** 2).sum() / ((test_y - test_y.mean(0)) ** 2).sum())
            seconds = round(time.perf_counter() - started, 1)
            checks.append({"update": update, "turn_r2": round(r2, 3), "seconds": seconds})
    return {"activation": activation, "pooled": pooled, "seed": seed, "updates": updates, "batch_size": batch_size,
            "lr": lr, "checks": checks}


#: the label-free pair objectives the pair-turn probe can put on one latent plane, and a labelled reference
PAIR_OBJECTIVES = {
    "equivariance": "||R(t_a) f(x) - f(x')||^2 / the plane's spread, plus the scale-free plane-moment penalty: "
                    "ForwardVAE's latent loss on the orientation plane alone, blind to the code's scale",
    "equivariance-absolute": "the same error not divided by the spread (the plane may shrink)",
    "equivariance-large": "the relative error, with turn pairs turned by 1-5 action steps instead of 1",
    "equivariance-distinct": "the relative error, plus 10 times the pair-distinctness hinge on turn pairs, "
                             "relu(0.5 - ||f(x') - f(x)|| / rms), rms over the batch's turn pairs "
                             "(vae/pair_distinctness.py): a turn changes the frame, so only a plane that sees the turn "
                             "can tell the two apart; a plane holding the turn meets it (its pairs lie "
                             "sqrt(2 - 2 cos t) = 0.62 rms apart)",
    "inverse": "labels (a reference): cross-entropy of turn+ / turn- / other classified from the two codes",
}
#: where the pair-turn probes are kept, one file per (objective, seed)
PAIR_DIR = "pair-turn"


def pair_objective(objective: str, z1: Any, z2: Any, turn: Any, head: Any = None) -> tuple[Any, Any]:
    """One batch's loss under ``objective`` (:data:`PAIR_OBJECTIVES`) for planes z1, z2 (B, 2) of a pair's frames
    and each pair's true rotation ``turn`` (B,); also the relative error ||R(turn) z1 - z2||^2 / spread
    (detached). ``inverse`` needs the classifier ``head`` (4 -> 3)."""
    import torch

    from vae.continuous_planes import rotate_planes
    from vae.pair_distinctness import pair_distinctness_penalty
    from vae.plane_moments import plane_moment_penalty

    z = torch.cat([z1, z2])
    predicted = rotate_planes(z1, turn[:, None].to(z1.dtype))
    error = (predicted - z2).pow(2).sum(1).mean()
    spread = (z - z.mean(0)).pow(2).sum(1).mean().clamp_min(1e-6)
    if objective == "inverse":
        label = torch.where(turn > 0, 0, torch.where(turn < 0, 1, 2))
        loss = torch.nn.functional.cross_entropy(head(torch.cat([z1, z2], 1)), label)
    elif objective == "equivariance-absolute":
        loss = error + plane_moment_penalty(z)
    elif objective == "equivariance-distinct":
        turned = turn != 0
        hinge = pair_distinctness_penalty(z1[turned], z2[turned], 0.5) if turned.any() else error * 0
        loss = error / spread + plane_moment_penalty(z) + 10 * hinge
    else:
        loss = error / spread + plane_moment_penalty(z)
    return loss, (error / spread).detach()


def pair_turn_probe(objective: str, seed: int, updates: int = 6000, check_every: int = 500,
                    batch_size: int = 32, lr: float = 1e-3, pooled: bool = False) -> dict[str, Any]:
    """Can a pair objective find a heart's turn, when the supervised probe can?

    The backbone's ReLU encoder maps a frame to one latent plane, trained on pairs that change one acted
    factor by +-offset (the world's pairs, drawn from factors) with the true rotation of each pair given
    (t = the faithful angle for a turn, 0 for any other factor): the most that ForwardVAE is told. The global
    minimum of every objective here is a plane holding the turn; the question is whether gradient descent
    from the encoder's start reaches it. The turn's linear R^2 from the plane is read on 1,000 fresh frames
    at every check (labels: calibration only)."""
    import torch

    from flatland_env.worlds.sprites import NUM_ORIENTATIONS, NUM_POSITIONS, NUM_SCALES, render_sprites
    from vae.nets import Encoder

    if objective not in PAIR_OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(PAIR_OBJECTIVES)}, got {objective!r}")
    if not (isinstance(check_every, int) and isinstance(updates, int) and 1 <= check_every <= updates):
        raise ValueError(f"updates and check_every must be ints with 1 <= check_every <= updates, got {updates!r} "
                         f"and {check_every!r}")
    check_tuning_seeds([seed])
    offset, sizes = 4, np.array([1, NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS])
    step_angle = 2 * np.pi * offset / NUM_ORIENTATIONS
    rng = np.random.default_rng(seed)

    def frames(f: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(render_sprites(f, 64, ("heart",)), dtype=torch.float32).permute(0, 3, 1, 2) / 255

    def pairs(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = np.stack([np.zeros(n, int)] + [rng.integers(0, k, n) for k in sizes[1:]], 1)
        factor, steps = rng.integers(1, 5, n), rng.choice([-1, 1], n)
        if objective == "equivariance-large":
            steps = steps * np.where(factor == 2, rng.integers(1, 6, n), 1)
        g = f.copy()
        rows = np.arange(n)
        g[rows, factor] = (f[rows, factor] + offset * steps) % sizes[factor]
        turn = np.where(factor == 2, steps * step_angle, 0.0)
        return frames(f), frames(g), torch.as_tensor(turn, dtype=torch.float32)

    torch.manual_seed(seed)
    encoder = Encoder(1, 2, activation="relu", pooled=pooled)
    head = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    params = list(encoder.parameters()) + (list(head.parameters()) if objective == "inverse" else [])
    optimizer = torch.optim.Adam(params, lr)
    test = np.stack([np.zeros(1000, int)] + [rng.integers(0, k, 1000) for k in sizes[1:]], 1)
    test_x, test_turn = frames(test), 2 * np.pi * test[:, 2] / NUM_ORIENTATIONS
    test_y = np.stack([np.cos(test_turn), np.sin(test_turn)], 1)
    checks, started = [], time.perf_counter()
    for update in range(1, updates + 1):
        x1, x2, turn = pairs(batch_size)
        z = encoder(torch.cat([x1, x2]))[0]
        loss, relative = pair_objective(objective, z[:batch_size], z[batch_size:], turn, head)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % check_every == 0:
            with torch.no_grad():
                plane = encoder(test_x)[0].numpy()
            design = np.c_[plane, np.ones(len(plane))]
            fit = design @ np.linalg.lstsq(design, test_y, rcond=None)[0]
            r2 = 1 - float(((fit - test_y) ** 2).sum() / ((test_y - test_y.mean(0)) ** 2).sum())
            checks.append({"update": update, "turn_r2": round(r2, 3), "turn_eta2": plane_eta2(plane, test[:, 2])[0],
                           "loss": round(float(loss.detach()), 4),
                           "relative_error": round(float(relative), 4),
                           "seconds": round(time.perf_counter() - started, 1)})
    return {"objective": objective, "about": PAIR_OBJECTIVES[objective], "seed": seed, "pooled": pooled,
            "updates": updates, "batch_size": batch_size, "lr": lr, "checks": checks}


def pair_table(out: Path) -> str:
    """One row per kept pair-turn probe: the turn's R^2 from the plane every 1,000 updates, the last loss."""
    runs = [json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{PAIR_DIR}/*.json"))]
    runs = [r for r in runs if r["checks"]]  # a probe shorter than its check interval measured nothing
    runs.sort(key=lambda r: (r["objective"], bool(r.get("pooled")), r["seed"]))
    if not runs:
        return ""
    lines = ["| objective | encoder | seed | updates | turn R^2 every 1,000 updates | best turn R^2 | orientation "
             "eta^2 at the end | relative error at the end |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        kept = [c for c in r["checks"] if c["update"] % 1000 == 0]
        eta2 = r["checks"][-1].get("turn_eta2")  # probes kept before it was measured have none
        lines.append(f"| {r['objective']} | {_encoder(r)} | {r['seed']} | {r['updates']:,} | "
                     + ", ".join(f"{c['turn_r2']:.3f}" for c in kept)
                     + f" | {max(c['turn_r2'] for c in r['checks']):.3f} | {'-' if eta2 is None else f'{eta2:.2f}'} | "
                     f"{r['checks'][-1]['relative_error']:.3f} |")
    return "\n".join(lines)


def _encoder(record: dict[str, Any]) -> str:
    """A probe's encoder in words: its activation (relu for the pair probes), and whether it saw the maxima."""
    return record.get("activation", "relu") + (", pooled" if record.get("pooled") else "")


def supervised_table(out: Path) -> str:
    """One row per kept supervised probe: the turn's R^2 at every check."""
    runs = [json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{SUPERVISED_DIR}/*.json"))]
    if not runs:
        return ""
    updates = [c["update"] for c in runs[0]["checks"]]
    lines = ["| encoder | seed | updates | R^2 at each check (" + ", ".join(f"{u:,}" for u in updates)
             + ") |", "|---|---|---|---|"]
    lines += [f"| {_encoder(r)} | {r['seed']} | {r['updates']:,} | "
              + ", ".join(f"{c['turn_r2']:.3f}" for c in r["checks"]) + " |" for r in runs]
    return "\n".join(lines)


def _signed_targets(spec: Any) -> list[float]:
    """Each action's angle 2*pi*offset/n (wrapped), the angle claim 6 scores against."""
    return [spec.continuous_angle(i) for i in range(spec.num_actions)]


def _targets(agent: Any) -> list[float]:
    """Each factor's |target|: the declared angle, or the frames' where they repeat sooner (an ellipse's turn)."""
    from agents.training.evaluation import angle_target, pixel_targets

    on_pixels = pixel_targets(agent.spec)
    return [angle_target(agent.spec, a, on_pixels) for a in range(0, agent.spec.num_actions, 2)]


def run_path(out: Path, candidate: str, seed: int, updates: int) -> Path:
    return Path(out) / f"{candidate}-{updates}" / f"s{seed}.json"


def summary_table(out: Path) -> str:
    """One row per kept run at its last check: angles against targets, R^2 per factor and the own plane's eta^2."""
    rows = []
    for path in sorted(Path(out).glob("*/s*.json")):
        if path.parent.name in (SUPERVISED_DIR, PAIR_DIR):  # the turn probes have their own tables
            continue
        run = json.loads(path.read_text())
        last = run["checks"][-1]
        cells = [path.parent.name, str(run["seed"]), f"{last['update']:,}", f"{last['code_spread']:.2f}"]
        for i, name in enumerate(FACTORS):
            probe = last["probe"][name]
            cells.append(f"{last['angles'][i]:.3f} / {run['targets'][i]:.3f}")
            cells.append(f"{probe['r2']:.2f}, {probe['plane_eta2'][i]:.2f}")
        steps = last.get("step_errors")  # recorded from the orbit-step check on; earlier runs have none
        cells.append("; ".join(_step_cell(e) for e in steps) if steps else "-")
        rows.append(cells)
    header = ["candidate-updates", "seed", "update", "code spread"]
    for name in FACTORS:
        header += [f"{name} angle / target", f"{name} R^2, own plane eta^2"]
    header.append("step miss (rad): median (mean, resultant); scale, orientation, x, y")
    return table(header, rows)


def checkpoint_step_errors(run_dir: str | Path) -> dict[str, Any]:
    """:func:`orbit_step_errors` of a ForwardVAE run on hearts with offset 4, read from its folder's checkpoint after
    training (an evaluation: labels read the result only)."""
    from agents.forward import ForwardVAE

    run_dir = Path(run_dir)
    agent = ForwardVAE.load(run_dir / "checkpoint.pt")
    try:
        kwargs = agent.source.config.env_kwargs
        from flatland_env.worlds.sprites import SHAPES, check_shapes

        if (agent.source.env_id != "Sprites-v0" or check_shapes(kwargs.get("shapes", SHAPES)) != ("heart",)
                or kwargs.get("offset") != 4):
            raise ValueError(f"{run_dir}: the step misses are defined for ForwardVAE on Sprites hearts with offset 4 "
                             f"(--env-kwargs offset 4 shapes heart), got {agent.source.env_id} {dict(kwargs)}")
        return {"run": run_dir.name, "run_dir": str(run_dir), "seed": agent.config.seed, "updates": agent.num_steps,
                "angles": _factor_angles(agent), "step_errors": _agent_step_errors(agent)}
    finally:
        agent.source.close()


#: what the step-miss cells say, in both summaries
STEP_MISS_ABOUT = ("the signed angle by which each factor's \"+\" action misses the next state's code on the "
                   "factor's own plane over whole orbits (`orbit_step_errors`), as the median of its size, its "
                   "circular mean and the resultant length: 0 (+0.00, 1.00) for a plane that turns by rho's angle; a "
                   "resultant near 1 with a mean away from 0 for one that turns steadily by another angle; a "
                   "resultant near 0 where its codes scatter along the orbit")


def step_table(out: Path) -> str:
    rows = []
    for path in sorted(Path(out).glob("*.json")):
        r = json.loads(path.read_text())
        rows.append([r["run"], str(r["seed"]), f"{r['updates']:,}",
                     *(f"{a:.3f}: {_step_cell(e)}" for a, e in zip(r["angles"], r["step_errors"]))])
    return table(["run", "seed", "updates", *(f"{f}: angle: median (mean, resultant)" for f in FACTORS)], rows)


def write_step_summary(out: Path) -> str:
    """``out``/summary.md: the step misses of the checkpoints kept in ``out``."""
    rows = step_table(out)
    _write_markdown(out,
        "# Do the trained planes turn with their factor? (ForwardVAE checkpoints on hearts)\n\n"
        "Written by `python scripts/study_sprites.py --step-errors <run folders>` from each run's checkpoint, after "
        "the run was made (an evaluation: labels read the result only). Per factor: rho's learned angle, then the "
        f"step miss: {STEP_MISS_ABOUT}.\n\n{rows}\n")
    return rows


def _write_markdown(out: Path, text: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "summary.md").write_text(text)


def _step_cell(miss: dict[str, float] | float) -> str:
    """One factor's step miss; the first runs that recorded it kept the median alone."""
    if isinstance(miss, dict):
        return f"{miss['median']:.2f} ({miss['mean']:+.2f}, {miss['resultant']:.2f})"
    return f"{miss:.2f}"


def write_summary(out: Path) -> str:
    rows = summary_table(out)
    _write_markdown(out,
        "# The Sprites study (ForwardVAE on hearts, or the shape a candidate names; tuning seeds)\n\n"
        "Written by `python scripts/study_sprites.py`; experiments/sprites_study.py says what each column is. "
        "R^2: the labelled probe's fit of the factor from the whole code (orientation: mean of its cosine and sine "
        f"fits); eta^2: the share of the factor's own latent plane's variance that the factor explains; step miss: "
        f"{STEP_MISS_ABOUT}.\n\n{rows}\n" + _supervised_part(out) + _pair_part(out))
    return rows


def _supervised_part(out: Path) -> str:
    table = supervised_table(out)
    if not table:
        return ""
    return ("\n## Can the encoder see the turn? (supervised, labels)\n\n"
            "Written by `python scripts/study_sprites.py --supervised selu relu` (and `--supervised relu --pooled`): "
            "the backbone's encoder trained to regress the cosine and sine of a heart's turn (batch 32, Adam 1e-3, "
            "fresh frames), R^2 on 1,000 held-out frames (one R^2 over both), one seed each. `pooled`: the encoder "
            "also feeds its FC layers the spatial maxima of its last two conv maps (`--pooled-encoder`).\n\n"
            + table + "\n")


def _pair_part(out: Path) -> str:
    table = pair_table(out)
    if not table:
        return ""
    about = "\n".join(f"- `{k}`: {v}" for k, v in PAIR_OBJECTIVES.items())
    return ("\n## Can a pair objective find the turn? (one latent plane, the true rotations given)\n\n"
            "Written by `python scripts/study_sprites.py --pair-probe <objectives> --seeds <seeds>` (`--pooled` for "
            "the pooled encoder): the ReLU encoder maps a heart frame to one latent plane and is trained on the "
            "world's pairs (batch 32, Adam 1e-3) with each pair's true rotation given; the turn's linear R^2 from "
            "the plane on 1,000 fresh frames, and the orientation's eta^2 there: the share of the plane's variance "
            "that the orientation explains, as any function, not only as a turn (labels read the result only, "
            "except in `inverse`). The global minimum of each objective is a plane holding the turn.\n\n"
            + about + "\n\n" + table + "\n")
