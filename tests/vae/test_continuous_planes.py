"""Latent actions of a continuous torus: the group laws of rho(a) = R(W a), and the closed-form plane angle."""

import math

import numpy as np
import pytest
import torch

from vae.continuous_planes import LinearPlaneRepresentation, plane_rotation_angles, rotate_planes, row_fit_scores


@pytest.fixture
def rho():
    return LinearPlaneRepresentation(6, 2, generator=torch.Generator().manual_seed(0), init_scale=3.0).double()


def _actions(n, seed):
    return (2 * torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 1)


def test_it_is_a_representation_of_the_displacements(rho):
    a, b = _actions(16, 1), _actions(16, 2)
    ra, rb, rab = rho.matrices(a), rho.matrices(b), rho.matrices(a + b)
    eye = torch.eye(6, dtype=torch.float64).expand(16, 6, 6)
    torch.testing.assert_close(rho.matrices(torch.zeros(16, 2, dtype=torch.float64)), eye)
    torch.testing.assert_close(ra @ rb, rab)
    torch.testing.assert_close(ra @ rho.matrices(-a), eye)
    torch.testing.assert_close(ra @ ra.transpose(1, 2), eye)  # rotations: orthogonal, determinant 1
    torch.testing.assert_close(torch.linalg.det(ra), torch.ones(16, dtype=torch.float64))


def test_acting_on_codes_is_the_matrix_product(rho):
    a, z = _actions(16, 3), torch.randn(16, 6, dtype=torch.float64)
    torch.testing.assert_close(rho(z, a), (rho.matrices(a) @ z[..., None])[..., 0])


def test_the_closed_form_angle_recovers_each_planes_turn_whatever_the_radii():
    z = torch.randn(64, 6, dtype=torch.float64)
    angles = (2 * torch.rand(64, 3, dtype=torch.float64) - 1) * (math.pi - 1e-6)
    turned = rotate_planes(z, angles) * torch.tensor([1.0, 1.0, 0.3, 0.3, 2.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(plane_rotation_angles(z, turned), angles)
    assert float(plane_rotation_angles(torch.zeros(1, 2), torch.ones(1, 2))[0, 0]) == 0.0


def test_gradients_reach_w_and_the_codes(rho):
    z = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    rho(z, _actions(8, 4)).pow(2).sum().backward()
    assert rho.weights.grad is not None and z.grad is not None


@pytest.mark.parametrize("bad", [torch.zeros(4, 3), torch.zeros(4, 2, dtype=torch.long), torch.zeros(5, 2)])
def test_action_vectors_of_another_shape_or_type_are_refused(rho, bad):
    with pytest.raises(ValueError, match="action vectors"):
        rho(torch.zeros(4, 6, dtype=torch.float64), bad.double() if bad.is_floating_point() else bad)


def test_an_odd_latent_size_is_refused():
    with pytest.raises(ValueError, match="even"):
        LinearPlaneRepresentation(5, 2)


def test_the_grid_refit_finds_each_planes_turn_per_unit_and_keeps_a_right_row():
    """Codes turned by W_true a (plane 0 winds +1, plane 1 winds -1, radii uneven): the refit recovers W_true from
    rows started anywhere on the grid's span, and leaves rows that are already right alone."""
    g = torch.Generator().manual_seed(0)
    a = 2 * torch.rand(512, 2, generator=g) - 1
    w_true = torch.tensor([[np.pi, 0.0], [0.0, -np.pi]])
    z1 = torch.randn(512, 4, generator=g) * torch.tensor([1.0, 1.0, 3.0, 3.0])
    z2 = rotate_planes(z1, a @ w_true.T) + 0.05 * torch.randn(512, 4, generator=g)
    rho = LinearPlaneRepresentation(4, 2)
    with torch.no_grad():
        rho.weights.copy_(torch.tensor([[np.pi - 7.725, 0.3], [4.55, -1.0]]))
    changed = rho.refit_rows(z1, z2, a)
    assert [c["plane"] for c in changed] == [0, 1]
    np.testing.assert_allclose(rho.weights.detach().numpy(), w_true.numpy(), atol=0.02)
    assert rho.refit_rows(z1, z2, a) == []
    scores = row_fit_scores(z1, z2, a, torch.stack([w_true[0], w_true[1], torch.zeros(2)]))
    assert scores[0, 0] > scores[2, 0] and scores[1, 1] > scores[2, 1]  # the true row beats no turn at all
