"""Ground-truth sampling and encoding shared by every metric.

Metrics read ground truth from a world's :class:`SymmetrySpec` and render any factor state
with ``world.render_states``; they never look at pixels to recover factors. This module
holds the checks and the plumbing they all need, so each metric module keeps one job.

``encode_fn`` must be deterministic (it returns latent *means*): :func:`encode_states`
renders and encodes each distinct state once per call and looks the rest up. On FlatLand
(1,089 states) this makes every metric cost at most ~1,100 encoder passes, whatever its
sample size. A stochastic ``encode_fn`` is therefore seen as a random lookup table.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from flatland_env.validation import check_int

EncodeFn = Callable[[np.ndarray], np.ndarray]

#: frames per call to encode_fn / render_states (bounds peak memory)
CHUNK = 512


class World(Protocol):
    symmetry: Any

    def render_states(self, factors: np.ndarray) -> np.ndarray: ...


def resolve_world(world: Any, allow_continuous: bool = False) -> World:
    """The unwrapped world of an env (or the world itself), checked for the metric surface.

    Most metrics sample discrete factor states, so a world with a continuous group is refused
    unless ``allow_continuous`` (the suite, whose registry skips those metrics there).
    """
    inner = getattr(world, "unwrapped", world)
    if not hasattr(inner, "symmetry") or not callable(getattr(inner, "render_states", None)):
        raise ValueError(
            "world must be a symmetry world (or an env wrapping one) with a `.symmetry` spec "
            f"and `.render_states(factors)`, got {type(world).__name__}"
        )
    if not allow_continuous and not getattr(inner.symmetry, "is_discrete", True):
        raise ValueError(
            f"the metrics sample discrete states and actions, but this world's group is continuous "
            f"({inner.symmetry.group_name}); evaluate on a world with a finite group"
        )
    return inner


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def check_encode_fn(encode_fn: Any) -> EncodeFn:
    if not callable(encode_fn):
        raise ValueError(f"encode_fn must be callable: uint8 frames (N, H, W, C) -> latents (N, L), got {encode_fn!r}")
    return encode_fn


def check_inputs(encode_fn: Any, world: Any, rng: Any) -> tuple[World, np.random.Generator]:
    """The checks every metric starts with; returns the resolved world and the generator."""
    check_encode_fn(encode_fn)
    return resolve_world(world), check_rng(rng)


def varying_factors(spec: Any) -> np.ndarray:
    """Indices of the ground-truth factors the classical metrics use: those of size > 1."""
    idx = np.array([i for i, s in enumerate(spec.factor_sizes) if s > 1], dtype=np.int64)
    if idx.size == 0:
        raise ValueError(f"the world has no varying factor (sizes {spec.factor_sizes})")
    return idx


def _encode_frames(encode_fn: EncodeFn, frames: np.ndarray) -> np.ndarray:
    out = [np.asarray(encode_fn(frames[i : i + CHUNK])) for i in range(0, len(frames), CHUNK)]
    z = np.concatenate(out, axis=0) if out else np.zeros((0, 0))
    if z.ndim != 2 or z.shape[0] != len(frames):
        raise ValueError(f"encode_fn must return latents of shape (N, L) = ({len(frames)}, L), got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("encode_fn returned non-finite latents")
    return z.astype(np.float64)


def render(world: World, factors: np.ndarray) -> np.ndarray:
    """Frames of states as the env observes them (``render_states`` matches the observation's channels)."""
    return np.asarray(world.render_states(factors))


def encode_states(encode_fn: EncodeFn, world: World, factors: np.ndarray) -> np.ndarray:
    """Latents of a batch of states (..., F) -> (..., L), rendering each distinct state once."""
    f = np.asarray(factors, dtype=np.int64)
    flat = f.reshape(-1, f.shape[-1])
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    frames = np.concatenate([render(world, uniq[i : i + CHUNK]) for i in range(0, len(uniq), CHUNK)])
    z = _encode_frames(encode_fn, frames)
    return z[inverse.ravel()].reshape(*f.shape[:-1], z.shape[-1])


def sample_latents(
    encode_fn: EncodeFn, world: World, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """n uniformly random states: (latents (n, L), varying factors (n, K))."""
    spec = world.symmetry
    factors = spec.sample_factors(rng, n)
    return encode_states(encode_fn, world, factors), factors[:, varying_factors(spec)]


def train_test_latents(
    encode_fn: EncodeFn, world: Any, rng: Any, num_train: int, num_test: int
) -> tuple[World, np.random.Generator, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Checked (world, rng) and independent random train / test (latents, varying factors)."""
    world, rng = check_inputs(encode_fn, world, rng)
    z_tr, y_tr = sample_latents(encode_fn, world, rng, check_int("num_train", num_train))
    z_te, y_te = sample_latents(encode_fn, world, rng, check_int("num_test", num_test))
    return world, rng, (z_tr, y_tr, z_te, y_te)


def check_batch_inputs(
    encode_fn: Any, world: Any, rng: Any, num_train: Any, num_eval: Any, batch_size: Any, min_batch: int = 1
) -> tuple[World, np.random.Generator, int, int, int]:
    """Checks of the fixed-factor batch metrics (beta-VAE, FactorVAE)."""
    world, rng = check_inputs(encode_fn, world, rng)
    return (
        world,
        rng,
        check_int("num_train", num_train),
        check_int("num_eval", num_eval),
        check_int("batch_size", batch_size, min_batch),
    )


def fixed_factor_batches(
    spec: Any, rng: np.random.Generator, n: int, batch_size: int, pairs: bool
) -> tuple[np.ndarray, np.ndarray]:
    """n batches of random states sharing one varying factor, chosen uniformly per batch.

    Returns labels (n,) (index into the varying factors) and states: with ``pairs``
    (2, n, batch, F), the second state of each pair copying the first's chosen factor
    (beta-VAE score); otherwise (n, batch, F), the whole batch sharing one value (FactorVAE).
    """
    factors_idx = varying_factors(spec)
    labels = rng.integers(0, len(factors_idx), size=n)
    fixed, rows = factors_idx[labels], np.arange(n)
    first = spec.sample_factors(rng, n * batch_size).reshape(n, batch_size, -1)
    if not pairs:
        first[rows, :, fixed] = first[rows, :1, fixed]
        return labels, first
    second = spec.sample_factors(rng, n * batch_size).reshape(n, batch_size, -1)
    second[rows, :, fixed] = first[rows, :, fixed]
    return labels, np.stack([first, second])


def true_transitions(
    encode_fn: EncodeFn, world: World, rng: np.random.Generator, num_states: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random states and every action from each (wraps included).

    Returns factors (N, F), next factors (A, N, F), latents z (N, L) and z' (A, N, L).
    """
    spec = world.symmetry
    factors = spec.sample_factors(rng, num_states)
    nxt = np.stack([spec.apply(factors, np.full(num_states, a)) for a in range(spec.num_actions)])
    z_all = encode_states(encode_fn, world, np.concatenate([factors[None], nxt]))
    return factors, nxt, z_all[0], z_all[1:]


def latent_spread(z: np.ndarray) -> float:
    """mean ||z - mean(z)||^2: the scale relative errors are divided by."""
    return float(np.mean(np.sum((z - z.mean(0)) ** 2, axis=-1)))
