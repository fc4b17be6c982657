"""What label-free pairs can and cannot teach about the cube (RotatingCube-v0), on free codes.

RGrVAE has not learned the cube's actions (results/tuning/cube). This study asks why, with the
encoder taken out: each of the 24 states gets a free code (a parameter, as if the encoder could
place every frame anywhere), so what fails here is the objective, not the backbone. Everything
is scored on all 144 transitions (24 states x 6 actions), the whole population, so the numbers
are exact for the codes they score.

1. ``mirror_codes``: the pairs do not fix the labelling. The six quarter turns are one
   conjugacy class, so each transition (g, R_a g) is also (g, g R_b) with R_b = g^-1 R_a g,
   and the world emits the same set of transitions under either labelling
   (:meth:`~flatland_env.finite_group.FiniteGroupSpec.mirror_actions`). The code z(g) = g M is
   exactly equivariant for the world's labels, z(g) = g^-1 M exactly equivariant for the mirror
   labels, with the same six latent rotations and zero latent error; the second scores chance on
   the world's labels. No objective that sees a pair only through the states it joins can prefer
   one.
2. ``free_code_run``: RGrVAE's latent loss with the best latent action per pair (the minimum of
   the relative latent error over the latent actions), learned jointly with six so3 rotations
   from near the identity, on free 3-D codes, optionally with 3 x 3 codes (three columns turned
   together) and a slowness term (below). It reaches neither labelling from these starts.
3. ``slowness_run``: slow features with whitened codes (minimise the mean squared change of the
   code over a transition, with the code's covariance held at the identity) are the Laplacian
   eigenmap of the transition graph. On the cube's Cayley graph the lowest non-constant
   eigenspace (Laplacian eigenvalue 4: 6 - the eigenvalue 2 of the sum of the six quarter turns
   in the 3-D representation) is 9-dimensional and consists of the matrix entries of g; in it
   every action (and every mirror action) acts linearly. The study measures how much of the
   learned code lies in that span and how well one linear map per action fits its transitions.

Labels (the state's group element, the true action) only score the result here; they never
reach an objective.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flatland_env.worlds.cube import cube_spec
from vae.metrics.action_estimation import match_actions
from vae.slow_turns import SlowTurnEstimator, align_to_rotations, pair_turns
from vae.slow_turns import cluster_turns as fit_turn_clusters
from vae.so3 import rotation_log, skew

#: where ``scripts/study_cube.py`` keeps this study
STUDY_DIR = Path("results/tuning/cube/free-codes")
#: the objectives ``free_code_run`` trains: (columns of the 3 x k code, weight of the slowness term)
OBJECTIVES = {
    "latent-loss": (1, 0.0),
    "latent-loss-3-columns": (3, 0.0),
    "latent-loss-3-columns-slowness": (3, 1.0),
}
#: weight of the whitening penalty ||cov - I||_F^2 beside the slowness term
WHITENING = 10.0


def transitions() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every transition of the cube: state g, world action a, next state h, mirror action b; (144,) each."""
    spec = cube_spec()
    g = np.repeat(np.arange(spec.order), spec.num_actions)
    a = np.tile(np.arange(spec.num_actions), spec.order)
    return g, a, spec.table[a, g], spec.mirror_actions()[g, a]


def latent_errors(codes: torch.Tensor, rotations: torch.Tensor, g: Any, h: Any) -> torch.Tensor:
    """||R_i z(g) - z(h)||^2 / spread for every transition and latent rotation i, (N, A).

    ``codes`` (24, 3, k) centred or not (centred here); ``rotations`` (A, 3, 3) act on the 3 rows, every column
    alike; the spread is the codes' mean squared distance from their mean (so shrinking the code gains nothing).
    """
    z = codes - codes.mean(0)
    spread = (z**2).sum((1, 2)).mean()
    moved = torch.einsum("aij,njk->naik", rotations, z[g])
    return ((moved - z[h][:, None]) ** 2).sum((-1, -2)) / spread


def score(codes: torch.Tensor, rotations: torch.Tensor) -> dict[str, float]:
    """Each transition's latent action is the rotation of least latent error; scored on all 144 transitions.

    ``accuracy`` / ``accuracy_mirror``: share of transitions the best one-to-one matching of the world's /
    the mirror's actions to latent rotations explains; ``latent_error``: mean least relative latent error;
    ``separation``: the smallest distance between two states' codes over the root of the spread (0: two states
    share a code, so the code cannot tell them apart).
    """
    g, a, h, b = transitions()
    with torch.no_grad():
        errors = latent_errors(codes, rotations, g, h)
        picked = errors.argmin(1).numpy()
        z = (codes - codes.mean(0)).flatten(1)
        spread = (z**2).sum(1).mean()
        dist = torch.cdist(z, z) + torch.eye(len(z)) * 1e9
        return {
            "accuracy": round(float(match_actions(a, picked, 6, len(rotations))["accuracy_in_sample"]), 4),
            "accuracy_mirror": round(float(match_actions(b, picked, 6, len(rotations))["accuracy_in_sample"]), 4),
            "latent_error": round(float(errors.min(1).values.mean()), 5),
            "separation": round(float(dist.min() / spread.sqrt()), 4),
        }


def mirror_codes(seed: int = 0) -> dict[str, dict[str, float]]:
    """The world's code g M and the mirror code g^-1 M (M a random rotation), scored with the six quarter turns.

    Both are 3 x 3 codes turned on their rows: R_a (g M) is the code of R_a g, and R_b^-1 (g^-1 M) the code of
    g R_b, where R_b^-1 is again a quarter turn; so the six latent rotations fit every transition of both.
    """
    spec = cube_spec()
    rng = np.random.default_rng(seed)
    m, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    elements = spec.elements.astype(np.float64)
    quarter_turns = torch.as_tensor(np.asarray(spec.action_matrices, dtype=np.float64))
    rotations = torch.linalg.matrix_exp(skew(rotation_log(quarter_turns)))  # the turns, through the so3 block's map
    world = torch.as_tensor(elements @ m)  # turned by R_a: z(R_a g) = R_a z(g)
    mirror = torch.as_tensor(np.transpose(elements, (0, 2, 1)) @ m)  # g^-1 M: z(g R_b) = R_b^-1 z(g)
    return {"world code g M": score(world, rotations), "mirror code g^-1 M": score(mirror, rotations)}


def _slowness(codes: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Mean squared change from ``before`` to ``after`` codes, plus the whitening penalty on the centred ``codes``."""
    cov = codes.T @ codes / len(codes)
    change = ((before - after) ** 2).sum(1).mean()
    return change + WHITENING * ((cov - torch.eye(codes.shape[1])) ** 2).sum()


def _walk_pairs(gen: torch.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random-walk pairs of the cube (uniform state, uniform action): states g and h = R_a g."""
    spec = cube_spec()
    g = torch.randint(0, spec.order, (batch,), generator=gen)
    return g, torch.as_tensor(np.array(spec.table))[torch.randint(0, spec.num_actions, (batch,), generator=gen), g]


def free_code_run(objective: str, seed: int, steps: int = 2000, lr: float = 0.01, batch: int = 256,
                  init_scale: float = 0.1) -> dict[str, Any]:
    """Free codes and six so3 rotations (from init_scale * N(0, I) rotation vectors) trained by ``objective``.

    Each step draws ``batch`` uniform transitions (a random walk's pairs) and minimises the least relative latent
    error over the latent rotations (RGrVAE's best latent action), plus the slowness term where the objective has
    one; Adam at ``lr``. Returns the objective, seed, steps and :func:`score` of the result.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
    columns, slowness = OBJECTIVES[objective]
    spec = cube_spec()
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randn(spec.order, 3, columns, generator=gen).requires_grad_()
    vectors = (init_scale * torch.randn(spec.num_actions, 3, generator=gen)).requires_grad_()
    opt = torch.optim.Adam([codes, vectors], lr=lr)
    for _ in range(steps):
        g, h = _walk_pairs(gen, batch)
        loss = latent_errors(codes, torch.linalg.matrix_exp(skew(vectors)), g, h).min(1).values.mean()
        if slowness:
            flat = (codes - codes.mean(0)).flatten(1)
            loss = loss + slowness * _slowness(flat, flat[g], flat[h])
        opt.zero_grad()
        loss.backward()
        opt.step()
    rotations = torch.linalg.matrix_exp(skew(vectors.detach()))
    return {"objective": objective, "seed": seed, "steps": steps, **score(codes.detach(), rotations)}


def slowness_run(seed: int, steps: int = 2000, lr: float = 0.01, batch: int = 256, dims: int = 9) -> dict[str, Any]:
    """Slow features of the random walk on free ``dims``-D codes; how much of them is the span of g's entries.

    ``in_span``: share of the centred codes' energy in the span of the 9 matrix entries of g (1: all);
    ``linear_residual_world`` / ``_mirror``: the worst, over actions, relative residual of the least-squares
    linear map z(g) -> z(h) fitted to that action's 24 transitions (0: every action acts linearly on the code).
    """
    spec = cube_spec()
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randn(spec.order, dims, generator=gen).requires_grad_()
    opt = torch.optim.Adam([codes], lr=lr)
    for _ in range(steps):
        g, h = _walk_pairs(gen, batch)
        z = codes - codes.mean(0)
        loss = _slowness(z, z[g], z[h])
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = (codes - codes.mean(0)).detach().double()
    entries = torch.as_tensor(np.array(spec.elements, dtype=np.float64).reshape(spec.order, -1))
    in_span = ((entries @ torch.linalg.pinv(entries) @ z) ** 2).sum() / (z**2).sum()
    g, a, h, b = (torch.as_tensor(x) for x in transitions())

    def worst_residual(labels: torch.Tensor) -> float:
        out = []
        for k in range(spec.num_actions):
            x, y = z[g[labels == k]], z[h[labels == k]]
            fit = x @ torch.linalg.lstsq(x, y).solution
            out.append(float(((fit - y) ** 2).sum() / (y**2).sum()))
        return round(max(out), 5)

    return {"objective": "slowness", "seed": seed, "steps": steps, "dims": dims,
            "in_span": round(float(in_span), 5),
            "linear_residual_world": worst_residual(a), "linear_residual_mirror": worst_residual(b),
            "estimate": label_free_estimate(z, seed) if dims == 9 else None}


def pixel_slowness_run(seed: int, updates: int = 1500, batch: int = 64, lr: float = 1e-3,
                       activation: str = "selu") -> dict[str, Any]:
    """Slow features from pixels: the backbone's encoder (9-D means) trained on the cube's frames, then aligned.

    Each update draws ``batch`` random-walk pairs (uniform state, uniform action: what the collector's random
    policy gives), encodes both RGB frames, and minimises the mean squared change of the code over the pair plus
    the whitening penalty on the batch's 2 * batch codes; Adam at ``lr``. The 24 frames' codes then go through
    :func:`label_free_estimate`. The action and the state only choose the pairs; they never enter the loss.
    """
    from flatland_env.worlds.cube import RotatingCubeEnv
    from vae.nets import Encoder

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    world = RotatingCubeEnv()
    frames = torch.as_tensor(world.render_states(world.symmetry.all_acted_states())).permute(0, 3, 1, 2) / 255.0
    encoder = Encoder(in_channels=3, latent_size=9, activation=activation)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    for _ in range(updates):
        g, h = _walk_pairs(gen, batch)
        z = encoder(frames[torch.cat([g, h])])[0]
        z = z - z.mean(0)
        loss = _slowness(z, z[:batch], z[batch:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        codes = encoder(frames)[0].double()
    return {"objective": "pixel-slowness", "seed": seed, "updates": updates, "batch": batch, "lr": lr,
            "activation": activation, "estimate": label_free_estimate(codes, seed)}


def cluster_turns(rotations: torch.Tensor, g: Any, h: Any, num_actions: int = 6) -> tuple[np.ndarray, float]:
    """Each transition's turn Y(h) Y(g)^T, clustered into ``num_actions`` latent actions (k-means on the 9 entries).

    Returns the latent action of each transition and the mean squared distance of a turn from its cluster's centre
    (0 when the turns take exactly ``num_actions`` values).
    """
    turns = pair_turns(rotations[g], rotations[h])
    km = fit_turn_clusters(turns, num_actions)
    return km.labels_, float(km.inertia_ / len(turns))


def label_free_estimate(codes: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Slow 9-D codes -> rotations (:func:`align_to_rotations`) -> clustered turns, scored on all 144 transitions."""
    g, a, h, b = transitions()
    rotations, _, residual = align_to_rotations(codes, seed)
    labels, spread = cluster_turns(rotations, g, h)
    return {
        "rotation_residual": round(residual, 5),
        "turn_spread": round(spread, 5),
        "accuracy": round(float(match_actions(a, labels, 6, 6)["accuracy_in_sample"]), 4),
        "accuracy_mirror": round(float(match_actions(b, labels, 6, 6)["accuracy_in_sample"]), 4),
    }


def slow_turns_run(seed: int, num_pairs: int = 4000, eval_samples: int = 1000) -> dict[str, Any]:
    """:class:`~vae.slow_turns.SlowTurnEstimator` fitted on ``num_pairs`` pairs of the collector (seeded by
    ``seed``; frames only), scored by the action-estimation metric on ``eval_samples`` fresh transitions."""
    from flatland_env import TransitionCollector
    from flatland_env.worlds.cube import RotatingCubeEnv
    from vae.metrics.action_estimation import action_estimation

    pairs = TransitionCollector("RotatingCube-v0", num_envs=8, k=1, seed=seed).collect(num_pairs)
    estimator = SlowTurnEstimator(seed=seed).fit(pairs.obs, pairs.next_obs)
    scores = action_estimation(estimator.infer_actions, RotatingCubeEnv(), np.random.default_rng(seed), eval_samples)
    return {"seed": seed, "pairs": num_pairs, "rotation_residual": round(estimator.rotation_residual, 5),
            "turn_spread": round(estimator.turn_spread, 5), "slow_eigenvalues": estimator.slow_eigenvalues,
            "accuracy": scores["accuracy"],
            "accuracy_mirror": scores["accuracy_mirror"], "chance": scores["chance"]}


SLOW_TURNS_DIR = Path("results/cube-slow-turns")


def run_slow_turns(seeds: list[int], num_pairs: int = 4000, out: Path = SLOW_TURNS_DIR) -> list[dict[str, Any]]:
    """:func:`slow_turns_run` on every seed (kept runs of other seeds stay); writes records.json and summary.md."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.json"
    kept = {r["seed"]: r for r in (json.loads(path.read_text()) if path.exists() else [])}
    for seed in seeds:
        kept[seed] = slow_turns_run(seed, num_pairs)
    records = [kept[s] for s in sorted(kept)]
    path.write_text(json.dumps(records, indent=1))
    (out / "summary.md").write_text(slow_turns_summary(records))
    return records


def slow_turns_summary(records: list[dict[str, Any]]) -> str:
    """The slow-turn estimator's table: tuning seeds (below 100) and held-out seeds apart."""
    lines = ["# Label-free turns of the cube from pixels (SlowTurnEstimator)", "",
             "Written by `python scripts/study_cube.py --slow-turns-seeds ...`; vae/slow_turns.py says what the "
             "estimator does, experiments/cube_study.py `slow_turns_run` how it is scored: fitted on the collector's "
             "pairs (frames only), then the action-estimation metric on 1,000 fresh transitions (held-out matching), "
             "against the world's labels and the mirror's. A run finds a labelling when its accuracy against it is "
             "at least 0.95.", ""]
    for title, runs in (("Tuning seeds", [r for r in records if r["seed"] < 100]),
                        ("Held-out seeds", [r for r in records if r["seed"] >= 100])):
        if not runs:
            continue
        found = ["world" if r["accuracy"] >= 0.95 else "mirror" if r["accuracy_mirror"] >= 0.95 else "neither"
                 for r in runs]
        lines += [f"## {title}", "",
                  f"{len(runs) - found.count('neither')} of {len(runs)} runs found one of the two labellings "
                  f"(world: {found.count('world')}, mirror: {found.count('mirror')}).", "",
                  "| seed | pairs | rotation residual | turn spread | accuracy (world labels) "
                  "| accuracy (mirror labels) | chance | labelling found | slow eigenvalues 9 and 10 (x 4 / first) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['seed']} | {r['pairs']:,} | {r['rotation_residual']} | {r['turn_spread']} | {r['accuracy']} "
                  f"| {r['accuracy_mirror']} | {r['chance']:.3f} | {f} "
                  f"| {r['slow_eigenvalues'][8]} / {r['slow_eigenvalues'][9]} |" for r, f in zip(runs, found)]
        lines.append("")
    return "\n".join(lines)


def run_study(seeds: list[int], steps: int = 2000, out: Path = STUDY_DIR, pixel_seeds: tuple[int, ...] = (),
              pixel_updates: int = 3000) -> dict[str, Any]:
    """Every part of the study on ``seeds`` (and slow features from pixels on ``pixel_seeds``); writes
    records.json and summary.md under ``out``."""
    if any(s >= 100 for s in [*seeds, *pixel_seeds]):
        raise ValueError(f"the cube study runs on tuning seeds (below 100), got {seeds} and {pixel_seeds}")
    record = {
        "mirror_codes": mirror_codes(),
        "free_codes": [free_code_run(o, s, steps) for o in OBJECTIVES for s in seeds],
        "slowness": [slowness_run(s, steps) for s in seeds],
        "pixel_slowness": [pixel_slowness_run(s, pixel_updates) for s in pixel_seeds],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "records.json").write_text(json.dumps(record, indent=1))
    (out / "summary.md").write_text(summary(record))
    return record


def summary(record: dict[str, Any]) -> str:
    """The study's tables, from its record."""
    lines = [
        "# The cube on free codes (tuning seeds)",
        "",
        "Written by `python scripts/study_cube.py`; experiments/cube_study.py says what each part and column is.",
        "Every number is over all 144 transitions of RotatingCube-v0. A run meets a labelling when its accuracy",
        "against it is at least 0.95.",
        "",
        "## The pairs do not fix the labelling",
        "",
        "| code | accuracy (world labels) | accuracy (mirror labels) | latent error | separation |",
        "|---|---|---|---|---|",
    ]
    for name, s in record["mirror_codes"].items():
        lines.append(f"| {name} | {s['accuracy']} | {s['accuracy_mirror']} | {s['latent_error']} | {s['separation']} |")
    lines += ["", "## The latent loss on free codes", "",
              "| objective | runs | met world labels | met mirror labels | accuracy (world / mirror) per seed "
              "| latent error per seed | separation per seed |", "|---|---|---|---|---|---|---|"]
    for objective in OBJECTIVES:
        runs = [r for r in record["free_codes"] if r["objective"] == objective]
        if not runs:
            continue
        accuracies = ", ".join("s{} {:.2f}/{:.2f}".format(r["seed"], r["accuracy"], r["accuracy_mirror"]) for r in runs)
        errors = ", ".join("{:.3f}".format(r["latent_error"]) for r in runs)
        separations = ", ".join("{:.2f}".format(r["separation"]) for r in runs)
        met = sum(r["accuracy"] >= 0.95 for r in runs), sum(r["accuracy_mirror"] >= 0.95 for r in runs)
        lines.append(f"| {objective} | {len(runs)} | {met[0]} | {met[1]} | {accuracies} | {errors} | {separations} |")
    runs = record["slowness"]
    lines += ["", "## Slow features on free codes", "",
              "| seeds | dims | steps | share in the span of g's entries (min) | worst linear residual, world actions "
              "(max) | worst linear residual, mirror actions (max) |", "|---|---|---|---|---|---|",
              "| " + ", ".join(str(r["seed"]) for r in runs) + f" | {runs[0]['dims']} | {runs[0]['steps']} "
              f"| {min(r['in_span'] for r in runs)} | {max(r['linear_residual_world'] for r in runs)} "
              f"| {max(r['linear_residual_mirror'] for r in runs)} |", ""]
    lines += ["## Label-free turns from slow features", "",
              "The slow codes whitened and turned into rotations (`align_to_rotations`), each transition's turn "
              "Y(h) Y(g)^T clustered into six latent actions (`cluster_turns`); no labels until the scores.", "",
              "| codes | seed | rotation residual | turn spread | accuracy (world / mirror) | labelling found |",
              "|---|---|---|---|---|---|"]
    for kind, runs in (("free", record["slowness"]), ("pixels", record.get("pixel_slowness", []))):
        for r in runs:
            e = r["estimate"]
            found = "world" if e["accuracy"] >= 0.95 else "mirror" if e["accuracy_mirror"] >= 0.95 else "neither"
            where = kind if kind == "free" else f"pixels, {r['updates']:,} updates"
            lines.append(f"| {where} | {r['seed']} | {e['rotation_residual']} | {e['turn_spread']} "
                         f"| {e['accuracy']} / {e['accuracy_mirror']} | {found} |")
    lines.append("")
    return "\n".join(lines)
