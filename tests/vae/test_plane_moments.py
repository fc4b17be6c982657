"""The plane-moment penalty on codes with a known answer."""

import math

import pytest
import torch

from vae.plane_moments import plane_moment_penalty


def _circle(angles: torch.Tensor, centre=(0.0, 0.0), radii=(1.0, 1.0)) -> torch.Tensor:
    return torch.stack([centre[0] + radii[0] * torch.cos(angles), centre[1] + radii[1] * torch.sin(angles)], 1)


EVEN = torch.arange(33) * 2 * math.pi / 33


@pytest.mark.parametrize("n", [3, 4, 33])
def test_evenly_spaced_orbits_about_the_origin_score_zero_in_every_plane(n):
    even = torch.arange(n) * 2 * math.pi / n
    codes = torch.cat([_circle(even), _circle(5 * even, radii=(2.0, 2.0))], 1)  # two planes, one winding 5 times
    assert float(plane_moment_penalty(codes)) == pytest.approx(0.0, abs=1e-10)


def test_a_seam_an_offset_centre_and_an_ellipse_each_score_above_zero():
    step = 2 * math.pi / (32 + 7.5)  # 32 even steps and one 7.5 times as large: the k-step seam
    assert float(plane_moment_penalty(_circle(torch.arange(33) * step))) > 0.03
    # centred at (0.3, 0): |mean|^2 = 0.09, and E x^2 - E y^2 = 0.3^2
    offset = _circle(EVEN, centre=(0.3, 0.0))
    assert float(plane_moment_penalty(offset, scale_free=False)) == pytest.approx(0.09 + 0.045**2, rel=1e-5)
    m2 = 1 + 0.09  # the mean square radius of that orbit
    assert float(plane_moment_penalty(offset)) == pytest.approx(0.09 / m2 + 0.045**2 / m2**2, rel=1e-5)
    # radii 1 and 0.5: (E x^2 - E y^2) / 2 = (1/2 - 1/8) / 2
    ellipse = _circle(EVEN, radii=(1.0, 0.5))
    assert float(plane_moment_penalty(ellipse, scale_free=False)) == pytest.approx((3 / 16) ** 2, rel=1e-5)
    assert float(plane_moment_penalty(ellipse)) == pytest.approx((3 / 16) ** 2 / (5 / 8) ** 2, rel=1e-5)


def test_unscaled_a_constant_plane_scores_its_squared_norm_so_it_is_pushed_to_the_origin():
    codes = torch.cat([_circle(EVEN), torch.tensor([[0.3, 0.4]]).expand(33, 2)], 1)
    expected = 0.25 + ((0.09 - 0.16) / 2) ** 2 + 0.12**2
    assert float(plane_moment_penalty(codes, scale_free=False)) == pytest.approx(expected, rel=1e-5)


def test_scale_free_it_cannot_be_lowered_by_shrinking_the_code_and_a_constant_plane_scores_one():
    seam = _circle(torch.arange(33) * 2 * math.pi / (32 + 7.5), centre=(0.2, -0.1), radii=(1.0, 0.7))
    assert float(plane_moment_penalty(0.01 * seam)) == pytest.approx(float(plane_moment_penalty(seam)), rel=1e-4)
    assert float(plane_moment_penalty(0.01 * seam, scale_free=False)) < 1e-3 * float(
        plane_moment_penalty(seam, scale_free=False))
    constant = torch.tensor([[0.3, 0.4]]).expand(33, 2)
    # |mean|^2 / m2 = 1, and the ellipse part ((0.09 - 0.16)^2 / 4 + 0.12^2) / 0.25^2 = 0.25
    assert float(plane_moment_penalty(constant)) == pytest.approx(1.25, rel=1e-5)


def test_its_gradient_closes_a_seam():
    step = 2 * math.pi / (32 + 7.5)
    angles = (torch.arange(33) * step).requires_grad_(True)
    penalty = plane_moment_penalty(_circle(angles))
    penalty.backward()
    before = float(penalty.detach())
    with torch.no_grad():
        after = float(plane_moment_penalty(_circle(angles - 0.05 * angles.grad)))
    assert after < before


@pytest.mark.parametrize("shape", [(4,), (8, 3)])
def test_codes_that_are_not_batches_of_planes_are_refused(shape):
    with pytest.raises(ValueError, match="even latent size"):
        plane_moment_penalty(torch.zeros(shape))
