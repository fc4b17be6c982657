"""Label-free turns of a world whose actions rotate a 3-D object: slow features, made rotations, clustered.

The cube's quarter turns (RotatingCube-v0) do not commute, and RGrVAE's latent loss has not
found them (docs/method.md, "The cube"). This estimator finds them from frame pairs alone, in
closed form, in three steps:

1. **Slow features.** Linear slow feature analysis (Wiskott & Sejnowski 2002) of the pairs:
   the frames are reduced by PCA (fitted on the first ``pca_frames`` frames, as an exact SVD of
   every frame costs minutes; components with a share of the first's variance above
   ``variance_floor``), and the nine directions whose value changes least over a pair, for
   unit variance, solve a generalised symmetric eigenproblem (``scipy.linalg.eigh``). This is
   the Laplacian eigenmap of the transition graph; on the cube's Cayley graph its lowest
   non-constant eigenspace (Laplacian eigenvalue 4, 9-fold, then 6) is spanned by the nine
   entries of the state's rotation matrix g, so the features, whitened to covariance I / 3,
   are K vec(g) for some orthogonal K (the 3-D representation is irreducible: vec(g) has
   covariance I / 3). The slow eigenvalues are kept (``slow_eigenvalues``): nine equal ones
   and a gap to the next say, without labels, that the features found that eigenspace.
2. **Rotations.** :func:`align_to_rotations` finds an orthogonal P with each reshaped P z
   nearest a rotation, by alternating projections from random starts (on ``align_codes``
   evenly spaced codes); K^T is such a P.
3. **Turns.** Each pair's turn Y(x') Y(x)^T then takes one value per action, and k-means on
   the turns' nine entries (``sklearn.cluster.KMeans``) names ``num_actions`` latent actions.

No action label is used. The pairs cannot tell the world's labelling from its mirror (each
transition (g, R_a g) is also (g, g R_b), a turn about a body axis; docs/metrics.md), and this
estimator finds one or the other: the transpose of a rotation is one, so steps 2-3 give g or
g^T, and k-means then clusters the world's or the mirror's turns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from flatland_env.validation import check_int, check_number


def nearest_rotations(m: torch.Tensor) -> torch.Tensor:
    """The rotation nearest each 3 x 3 matrix (Frobenius), (..., 3, 3): U V^T from the SVD, det +1."""
    u, _, vt = torch.linalg.svd(m)
    u = u.clone()
    u[..., :, -1] *= torch.sign(torch.linalg.det(u @ vt))[..., None]
    return u @ vt


def whitening(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, W) with (codes - mean) @ W of covariance I / 3, the covariance of vec(g) for a uniform g."""
    z = codes.double()
    mean = z.mean(0)
    var, vecs = torch.linalg.eigh((z - mean).T @ (z - mean) / len(z))
    return mean, vecs @ torch.diag(var.clamp_min(1e-12) ** -0.5) / 3**0.5


def align_to_rotations(codes: torch.Tensor, seed: int = 0, restarts: int = 20,
                       iters: int = 100) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The orthogonal P for which each whitened, reshaped code P z is nearest a rotation.

    ``codes`` (N, 9) are whitened to covariance I / 3 (:func:`whitening`); P is found by alternating projections
    from ``restarts`` random orthogonal starts (each code to its nearest rotation Y, then P the orthogonal
    Procrustes fit of the codes to the Y), and the start with the smallest mean squared residual ||P z - Y||^2
    wins. Returns (Y (N, 3, 3) float32, P (9, 9), residual).
    """
    if codes.ndim != 2 or codes.shape[1] != 9:
        raise ValueError(f"codes must be (N, 9): the nine entries of a 3 x 3 matrix, got shape {tuple(codes.shape)}")
    mean, w = whitening(codes)
    z = (codes.double() - mean) @ w
    gen = torch.Generator().manual_seed(seed)
    best: tuple[torch.Tensor, torch.Tensor, float] | None = None
    for _ in range(restarts):
        p = torch.linalg.qr(torch.randn(9, 9, generator=gen, dtype=torch.float64))[0]
        for _ in range(iters):
            y = nearest_rotations((z @ p.T).reshape(-1, 3, 3))
            u, _, vt = torch.linalg.svd(z.T @ y.reshape(-1, 9))
            p = (u @ vt).T
        y = nearest_rotations((z @ p.T).reshape(-1, 3, 3))
        residual = float((((z @ p.T).reshape(-1, 3, 3) - y) ** 2).sum((1, 2)).mean())
        if best is None or residual < best[2]:
            best = (y.float(), p, residual)
    assert best is not None
    return best


def pair_turns(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
    """Each pair's turn Y(after) Y(before)^T, flattened, (N, 9) float64."""
    return (after @ before.transpose(1, 2)).reshape(len(before), 9).double().numpy()


def cluster_turns(turns: np.ndarray, num_actions: int, seed: int = 0) -> Any:
    """k-means of the flattened turns into ``num_actions`` latent actions (``sklearn.cluster.KMeans``, fitted)."""
    from sklearn.cluster import KMeans

    return KMeans(num_actions, n_init=10, random_state=seed).fit(turns)


class SlowTurnEstimator:
    """Fit on frame pairs (no actions), then name each pair's latent action; see the module docstring.

    ``infer_actions(obs, next_obs)`` has the signature the action-estimation metric takes
    (vae/metrics/action_estimation.py). ``rotation_residual`` (how far the aligned features are from rotations)
    and ``turn_spread`` (mean squared distance of a turn from its cluster's centre) are label-free checks: both
    near 0 when the features found the rotations.
    """

    #: slow features: the nine entries of a 3 x 3 rotation
    dims = 9

    def __init__(self, num_actions: int = 6, max_components: int = 64, variance_floor: float = 1e-7,
                 restarts: int = 20, pca_frames: int = 512, align_codes: int = 1024, seed: int = 0) -> None:
        self.num_actions = check_int("num_actions", num_actions, 1)
        self.max_components = check_int("max_components", max_components, self.dims)
        self.variance_floor = check_number("variance_floor", variance_floor, 0.0, 1.0, low_open=True)
        self.restarts = check_int("restarts", restarts, 1)
        self.pca_frames = check_int("pca_frames", pca_frames, 2 * max_components)
        self.align_codes = check_int("align_codes", align_codes, 2 * self.dims)
        self.seed = check_int("seed", seed, 0)
        self._fitted: dict[str, Any] | None = None
        self.rotation_residual: float | None = None  # set by fit
        self.turn_spread: float | None = None
        self.slow_eigenvalues: list[float] | None = None  # the 12 slowest, over the slowest (x 4, the cube's scale)

    @staticmethod
    def _flat(frames: np.ndarray) -> np.ndarray:
        return np.asarray(frames, dtype=np.float32).reshape(len(frames), -1) / np.float32(255.0)

    def fit(self, obs: np.ndarray, next_obs: np.ndarray) -> "SlowTurnEstimator":
        """Slow features, rotations and turn clusters from the pairs (obs[i], next_obs[i]), uint8 frames."""
        import scipy.linalg
        from sklearn.decomposition import PCA

        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        if obs.dtype != np.uint8 or next_obs.dtype != np.uint8 or obs.shape != next_obs.shape or obs.ndim < 2:
            raise ValueError(f"obs and next_obs must be uint8 frames of one shape, got {obs.dtype} {obs.shape} and "
                             f"{next_obs.dtype} {next_obs.shape}")
        if len(obs) < 2 * self.max_components:
            raise ValueError(f"need at least {2 * self.max_components} pairs, got {len(obs)}")
        x1, x2 = self._flat(obs), self._flat(next_obs)
        if x1.shape[1] < self.max_components:
            raise ValueError(f"frames of {x1.shape[1]} values are fewer than max_components={self.max_components}")
        pca = PCA(min(self.max_components, 2 * len(x1) - 1), svd_solver="full", random_state=self.seed)
        half = self.pca_frames // 2
        pca.fit(np.concatenate([x1[:half], x2[:half]]))
        keep = pca.explained_variance_ > self.variance_floor * pca.explained_variance_[0]
        if keep.sum() < self.dims:
            raise ValueError(f"the frames span only {int(keep.sum())} directions above the variance floor, fewer than "
                             f"the {self.dims} slow features needed")
        p1, p2 = pca.transform(x1)[:, keep], pca.transform(x2)[:, keep]
        both = np.concatenate([p1, p2]).astype(np.float64)
        cov = np.cov(both.T)
        diff = (p1 - p2).astype(np.float64)
        change = diff.T @ diff / len(diff)
        values, vecs = scipy.linalg.eigh(change, cov + 1e-12 * np.trace(cov) * np.eye(len(cov)))
        self.slow_eigenvalues = [round(float(4 * v / values[0]), 3) for v in values[:12]]
        slow = vecs[:, : self.dims]  # the slowest directions (eigenvalues ascending)
        codes = torch.as_tensor(both @ slow)
        sample = codes[:: max(1, len(codes) // self.align_codes)]  # the alignment needs the states, not every pair
        _, p, residual = align_to_rotations(sample, self.seed, self.restarts)
        mean, w = whitening(sample)
        self._fitted = {"pca": pca, "keep": keep, "slow": slow, "mean": mean, "map": w @ p.T}
        turns = self.turns(obs, next_obs)
        km = cluster_turns(turns, self.num_actions, self.seed)
        self._fitted["kmeans"] = km
        self.rotation_residual = residual
        self.turn_spread = float(km.inertia_ / len(turns))
        return self

    def rotations(self, frames: np.ndarray) -> torch.Tensor:
        """Each frame's state as the rotation nearest its aligned slow features, (N, 3, 3)."""
        if self._fitted is None:
            raise RuntimeError("call fit(obs, next_obs) first")
        f = self._fitted
        codes = torch.as_tensor(f["pca"].transform(self._flat(frames))[:, f["keep"]].astype(np.float64) @ f["slow"])
        return nearest_rotations(((codes - f["mean"]) @ f["map"]).reshape(-1, 3, 3))

    def turns(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Each pair's turn Y(next) Y(obs)^T, flattened, (N, 9)."""
        return pair_turns(self.rotations(obs), self.rotations(next_obs))

    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The latent action (turn cluster) of each pair, (N,) int64."""
        if self._fitted is None or "kmeans" not in self._fitted:
            raise RuntimeError("call fit(obs, next_obs) first")
        return self._fitted["kmeans"].predict(self.turns(obs, next_obs)).astype(np.int64)
