"""The slow-turn estimator: exact on known codes, label-free on the cube's pixel pairs, clear refusals."""

import numpy as np
import pytest
import torch

from flatland_env import TransitionCollector
from flatland_env.worlds.cube import RotatingCubeEnv, cube_spec
from vae.metrics.action_estimation import action_estimation
from vae.slow_turns import SlowTurnEstimator, align_to_rotations, nearest_rotations


def test_nearest_rotations_are_rotations_and_fix_rotations():
    m = torch.randn(50, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = nearest_rotations(m)
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3), atol=1e-10)
    assert torch.allclose(torch.linalg.det(r), torch.ones(50, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(nearest_rotations(r), r, atol=1e-10)


def test_alignment_undoes_an_orthogonal_mixing_of_the_group_elements():
    elements = torch.tensor(cube_spec().elements, dtype=torch.float64).reshape(24, 9)
    mix = torch.linalg.qr(torch.randn(9, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64))[0]
    y, p, residual = align_to_rotations(3.0 * elements @ mix - 1.0, seed=0)
    assert residual < 1e-8 and p.shape == (9, 9)
    turns = {tuple(np.round((y[h] @ y[g].T).numpy(), 3).ravel()) for g, h in _edges()}
    assert len(turns) == 6  # every transition's turn is one of six rotations
    with pytest.raises(ValueError, match=r"codes must be \(N, 9\)"):
        align_to_rotations(torch.zeros(24, 4))


def _edges():
    table = cube_spec().table
    return [(g, int(table[a, g])) for g in range(24) for a in range(6)]


def test_the_estimator_finds_one_labelling_of_the_cube_from_pixel_pairs_without_actions():
    pairs = TransitionCollector("RotatingCube-v0", num_envs=8, k=1, seed=5).collect(1500)
    est = SlowTurnEstimator(seed=5).fit(pairs.obs, pairs.next_obs)  # frames only
    assert est.rotation_residual < 0.05 and est.turn_spread < 0.1
    assert est.slow_eigenvalues[9] - est.slow_eigenvalues[8] > 0.5, est.slow_eigenvalues  # the gap after nine (4 vs 6)
    r = action_estimation(est.infer_actions, RotatingCubeEnv(), np.random.default_rng(5), 600)
    assert max(r["accuracy"], r["accuracy_mirror"]) >= 0.95 and min(r["accuracy"], r["accuracy_mirror"]) < 0.4
    # unrelated frames (each next frame shuffled) have no slow rotations: the label-free checks say so
    shuffled = pairs.next_obs[np.random.default_rng(0).permutation(len(pairs.next_obs))]
    assert SlowTurnEstimator(restarts=3, seed=5).fit(pairs.obs, shuffled).turn_spread > 0.2


def test_refusals_name_what_is_wrong():
    frames = np.zeros((200, 8, 8, 1), dtype=np.uint8)
    with pytest.raises(RuntimeError, match="call fit"):
        SlowTurnEstimator().infer_actions(frames[:2], frames[:2])
    with pytest.raises(ValueError, match="at least 128 pairs"):
        SlowTurnEstimator().fit(frames[:10], frames[:10])
    with pytest.raises(ValueError, match="fewer than the 9 slow features"):
        SlowTurnEstimator().fit(frames, frames + 1)  # two frames: one direction
    with pytest.raises(ValueError, match="uint8 frames of one shape"):
        SlowTurnEstimator().fit(frames, frames[:, :4])
    with pytest.raises(ValueError, match="max_components"):
        SlowTurnEstimator(max_components=4)
