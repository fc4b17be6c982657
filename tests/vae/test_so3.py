"""The SO(3) representation: rotations, a representation of the cube's group, gradients, bad input."""

import math

import numpy as np
import pytest
import torch

from flatland_env.worlds.cube import cube_spec
from vae.so3 import SO3Representation, rotation_log, skew


@pytest.fixture(scope="module")
def cube():
    return cube_spec()


def cube_rho(cube, latent_size: int = 4) -> SO3Representation:
    """The representation with the cube's true generators: the log of each action matrix (a quarter turn)."""
    rep = SO3Representation(latent_size, cube.num_actions).double()
    with torch.no_grad():
        rep.generators.copy_(rotation_log(torch.tensor(cube.action_matrices, dtype=torch.float64)))
    return rep


@pytest.mark.parametrize("seed", range(4))
def test_every_action_is_a_rotation_whatever_its_generator(seed):
    g = torch.Generator().manual_seed(seed)
    rep = SO3Representation(5, 7, generator=g).double()
    with torch.no_grad():
        rep.generators.mul_(30.0)  # far from the identity, angles beyond 2*pi
    r = rep.rotations()
    eye = torch.eye(3, dtype=torch.float64).expand_as(r)
    torch.testing.assert_close(r @ r.transpose(-1, -2), eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(7, dtype=torch.float64), atol=1e-9, rtol=0)
    m = rep.matrices()
    torch.testing.assert_close(m[:, :3, :3], r)
    torch.testing.assert_close(m[:, 3:, 3:], torch.eye(2, dtype=torch.float64).expand(7, 2, 2))
    assert not m[:, :3, 3:].any() and not m[:, 3:, :3].any()  # the spare dimensions are never moved


def test_the_true_generators_give_the_cubes_action_matrices_and_its_whole_group(cube):
    rep = cube_rho(cube)
    mats = torch.tensor(cube.action_matrices, dtype=torch.float64)
    assert rotation_log(mats).norm(dim=-1).sub(math.pi / 2).abs().max() < 1e-12  # quarter turns
    torch.testing.assert_close(rep.rotations(), mats, atol=1e-12, rtol=0)
    # a representation: rho(a) maps element g to element table[a, g], for every action and element
    elements = torch.tensor(cube.elements, dtype=torch.float64)
    for a in range(cube.num_actions):
        torch.testing.assert_close(rep.rotations()[a] @ elements, elements[cube.table[a].copy()], atol=1e-12, rtol=0)
    assert [row["realised_order"] for row in rep.angle_table()] == [4] * 6


def test_applying_actions_in_turn_is_the_matrix_product_and_the_world_pairs_do_not_commute(cube):
    rep = cube_rho(cube)
    m = rep.matrices()
    z = torch.randn(8, 4, dtype=torch.float64)
    for a in range(cube.num_actions):
        for b in range(cube.num_actions):
            one, two = torch.full((8,), a), torch.full((8,), b)
            torch.testing.assert_close(rep(rep(z, one), two), z @ (m[b] @ m[a]).T)
            commute = torch.allclose(m[a] @ m[b], m[b] @ m[a], atol=1e-9)
            assert commute == cube.commutes(a, b), (a, b)
    assert cube.non_commuting_pairs()  # x+ then y+ is not y+ then x+, in the world and in rho


def test_batched_apply_equals_per_sample_matmul():
    rep = SO3Representation(6, 4, generator=torch.Generator().manual_seed(1))
    z = torch.randn(32, 6)
    actions = torch.randint(0, 4, (32,))
    expected = torch.stack([rep.matrices()[a] @ z[i] for i, a in enumerate(actions.tolist())])
    torch.testing.assert_close(rep(z, actions), expected)
    torch.testing.assert_close(rep.apply_all(z)[torch.arange(32), actions], expected)


def test_gradient_reaches_every_generator():
    rep = SO3Representation(4, 6, generator=torch.Generator().manual_seed(2))
    z = torch.randn(12, 4)
    target = torch.randn(12, 4)
    actions = torch.arange(6).repeat(2)
    (rep(z, actions) - target).pow(2).sum().backward()
    grad = rep.generators.grad
    assert grad is not None and torch.isfinite(grad).all() and (grad.norm(dim=-1) > 0).all()
    assert rep.penalty().item() == 0.0


def test_the_start_is_seeded_near_the_identity_and_distinct():
    a = SO3Representation(4, 6, generator=torch.Generator().manual_seed(3))
    b = SO3Representation(4, 6, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.generators, b.generators, rtol=0, atol=0)
    angles = a.effective_angles().detach()
    assert (angles > 0).all() and (angles < 0.6).all()
    assert torch.cdist(a.generators, a.generators).add(torch.eye(6)).min() > 1e-3
    fixed = SO3Representation(4, 6, generator=torch.Generator().manual_seed(3), angle_init=0.5)
    torch.testing.assert_close(fixed.effective_angles().detach(), torch.full((6,), 0.5))


def test_the_table_says_angle_and_axis_instead_of_a_plane():
    rep = SO3Representation(4, 2)
    with torch.no_grad():
        rep.generators.copy_(torch.tensor([[0.0, 0.0, 2 * math.pi / 3], [0.0, 0.0, 0.0]]))
    rows = rep.angle_table()
    assert rows[0]["plane"] is None and rows[0]["symbol"] == "so3"
    assert rows[0]["angle"] == pytest.approx(2 * math.pi / 3) and rows[0]["realised_order"] == 3
    np.testing.assert_allclose(rows[0]["axis"], [0.0, 0.0, 1.0])
    assert rows[1]["axis"] == [0.0, 0.0, 0.0] and rows[1]["realised_order"] == 1


def test_skew_is_the_cross_product_and_log_inverts_exp():
    w, v = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close((skew(w) @ v[..., None])[..., 0], torch.linalg.cross(w, v))
    w = w / w.norm(dim=-1, keepdim=True) * torch.linspace(0.0, 3.0, 5, dtype=torch.float64)[:, None]
    torch.testing.assert_close(rotation_log(torch.linalg.matrix_exp(skew(w))), w, atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="pi"):
        rotation_log(torch.diag(torch.tensor([1.0, -1.0, -1.0])))  # a half turn: the axis has no sign


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_size": 2}, "latent_size must be an integer >= 3"),
    ({"num_actions": 0}, "num_actions must be a positive integer"),
    ({"init_scale": 0.0}, "init_scale must be a finite number"),
    ({"angle_init": -1.0}, "angle_init must be a finite number"),
])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SO3Representation(**kwargs)


def test_bad_latent_actions_are_refused():
    rep = SO3Representation(4, 3)
    with pytest.raises(ValueError, match="latent actions must be in"):
        rep(torch.zeros(2, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="1-D integer tensor"):
        rep(torch.zeros(2, 4), torch.tensor([0.0, 1.0]))
