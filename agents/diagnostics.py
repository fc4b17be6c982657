"""Label-free diagnostics of a latent-action agent: has it learned the world's actions, and if not, why?

Everything here reads frame pairs and the agent's own outputs (its codes, its representation
rho and the latent actions its policy infers), never the world's action labels, so an agent
may compute them on its own pairs while it learns, and a run can say what happened on a
world that has no labels. On tuning seeds they were calibrated against the labelled criteria
(results/tuning/; docs/method.md, "Diagnostics"). For codes z = mu(x), z' = mu(x'):

- **plane share**: how much of each move z' - z lies in its main latent plane (1: all of it;
  a linearly disentangled code's moves each rotate one plane);
- **best error**: the relative error of the best latent action per pair,
  mean_i min_a ||rho(a) z_i - z'_i||^2 / spread, what the representation can explain at all;
- **policy error**: the same with the latent action the agent infers (the stopping rule's E_self);
- **agreement**: how often the inferred latent action is the best one;
- **spread**: mean ||z - mean z||^2 (failing codes shrink: a small spread makes every error cheap);
- **plane-norm change**: mean_i sum_p (||z'_ip|| - ||z_ip||)^2 / spread, how much a pair changes the
  radius of the code on each of rho's planes. Rotations of the planes keep every radius, whatever
  sequence of them a pair needs, so a code that rho can explain scores 0 on pairs any number of
  actions apart; a code whose factors lie across the planes does not;
- **smallest move**: min over the latent actions the agent uses of mean ||rho(a) z - z||^2 / spread: a
  latent action that leaves its plane unmoved explains nothing, however small the error.
"""

from __future__ import annotations

import numpy as np

from vae.alignment import plane_share

#: a learned code keeps at least this share of a one-step pair's latent move in one plane
MIN_PLANE_SHARE = 0.95
#: a code rho can explain changes the radius of its planes by at most this (plane-norm change, over the spread)
MAX_PLANE_NORM_CHANGE = 0.05
#: a learned policy picks the best latent action (sequence) for at least this share of pairs
MIN_AGREEMENT = 0.9


def latent_action_errors(matrices: np.ndarray, z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """||rho(a) z1_i - z2_i||^2 for every pair i and latent action a, (N, A)."""
    predicted = np.einsum("aij,nj->nai", np.asarray(matrices, np.float64), np.asarray(z1, np.float64))
    return ((predicted - np.asarray(z2, np.float64)[:, None]) ** 2).sum(-1)


def latent_spread(z: np.ndarray) -> float:
    """mean ||z - mean z||^2."""
    z = np.asarray(z, np.float64)
    return float(((z - z.mean(0)) ** 2).sum(-1).mean()) if len(z) else float("nan")


def action_moves(matrices: np.ndarray, z: np.ndarray) -> np.ndarray:
    """mean_i ||rho(a) z_i - z_i||^2 / spread for every latent action a, (A,): how far each one moves the code."""
    spread = latent_spread(z)
    moved = np.einsum("aij,nj->nai", np.asarray(matrices, np.float64), np.asarray(z, np.float64)) - np.asarray(
        z, np.float64)[:, None]
    return (moved ** 2).sum(-1).mean(0) / spread if spread > 0 else np.zeros(len(matrices))


def sequence_products(matrices: np.ndarray, steps: int) -> np.ndarray:
    """rho(a_N) ... rho(a_1) for every sequence of ``steps`` latent actions, (A^steps, L, L), in
    ``np.ravel_multi_index`` order of (a_1, ..., a_N)."""
    matrices = np.asarray(matrices, np.float64)
    products = matrices
    for _ in range(steps - 1):  # the next step acts last and is the fastest-varying index
        products = np.einsum("aij,sjk->saik", matrices, products).reshape(-1, *matrices.shape[1:])
    return products


def plane_norm_change(z1: np.ndarray, z2: np.ndarray) -> float:
    """mean_i sum_p (||z2_ip|| - ||z1_ip||)^2 / spread(z1): 0 when every pair only turns the planes."""
    r1 = np.linalg.norm(np.asarray(z1, np.float64).reshape(len(z1), -1, 2), axis=-1)
    r2 = np.linalg.norm(np.asarray(z2, np.float64).reshape(len(z2), -1, 2), axis=-1)
    spread = latent_spread(z1)
    return float(((r2 - r1) ** 2).sum(-1).mean() / spread) if spread > 0 else float("nan")


def diagnose_codes(matrices: np.ndarray, z1: np.ndarray, z2: np.ndarray, inferred: np.ndarray) -> dict[str, float]:
    """The diagnostics of the module doc from codes of pairs, rho's matrices and the inferred latent actions.

    ``inferred`` holds one latent action per pair, (N,), or the sequence a multi-step agent
    applies, (N, steps); the best error is then the best over every sequence of that length.
    """
    inferred = np.asarray(inferred)
    if inferred.ndim == 1:
        inferred = inferred[:, None]
    steps = inferred.shape[1]
    products = sequence_products(matrices, steps)
    errors = latent_action_errors(products, z1, z2)
    chosen = np.ravel_multi_index(tuple(inferred.T), (len(matrices),) * steps) if len(inferred) else inferred[:, 0]
    spread = latent_spread(z1)
    best = errors.argmin(1)
    # agreement: the inferred sequence does what the best one does (sequences of commuting rotations may differ)
    same = np.abs(products[chosen] - products[best]).reshape(len(best), -1).max(-1) < 1e-6
    used = np.unique(inferred)
    moves = action_moves(matrices, z1)
    scale = spread if spread > 0 else float("nan")
    return {
        "plane_share": plane_share(np.asarray(z2) - np.asarray(z1)),
        "plane_norm_change": plane_norm_change(z1, z2),
        "best_error": float(errors.min(1).mean() / scale),
        "policy_error": float(errors[np.arange(len(errors)), chosen].mean() / scale),
        "agreement": float(same.mean()),
        "spread": spread,
        "smallest_move": float(moves[used].min()) if used.size else float("nan"),
        "latent_actions_used": int(used.size),
    }


def diagnose(agent, obs: np.ndarray, next_obs: np.ndarray) -> dict[str, float]:
    """:func:`diagnose_codes` of an agent with latent actions on frame pairs (no labels)."""
    if hasattr(agent, "policy_rollout"):
        inferred = agent.policy_rollout(obs, next_obs)[2]
    else:
        inferred = agent.infer_actions(obs, next_obs)
    return diagnose_codes(agent.action_representations(), agent.encode(obs), agent.encode(next_obs), inferred)
