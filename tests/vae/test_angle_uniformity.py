"""The angle-uniformity penalty on codes with a known answer."""

import math

import pytest
import torch

from vae.angle_uniformity import angle_uniformity_penalty


def _plane(angles: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)


EVEN = torch.arange(33) * 2 * math.pi / 33


@pytest.mark.parametrize("turn", [0.0, 0.3, -2.0])
def test_evenly_spread_angles_score_zero_whatever_the_turn_radius_and_winding(turn):
    codes = torch.cat([_plane(EVEN + turn), _plane(5 * EVEN + turn, radius=3.0)], 1)  # the second winds 5 times
    assert float(angle_uniformity_penalty(codes)) == pytest.approx(0.0, abs=1e-10)


def test_an_arc_scores_its_spacing_variance():
    half = 1.0
    arc = torch.linspace(-half, half, 33)  # evenly spaced on 2 rad of the circle
    quantiles = -math.pi + 2 * math.pi * (torch.arange(33) + 0.5) / 33
    expected = float((arc - quantiles).var(unbiased=False))
    assert float(angle_uniformity_penalty(_plane(arc))) == pytest.approx(expected, rel=1e-5)
    assert expected > 1.0  # far above the floor of a uniform batch of 33, (2 pi)^2 / (12 * 33) = 0.1


def test_a_uniform_batch_scores_about_its_noise_floor():
    g = torch.Generator().manual_seed(0)
    scores = [float(angle_uniformity_penalty(_plane(torch.rand(64, generator=g) * 2 * math.pi))) for _ in range(400)]
    assert sum(scores) / len(scores) == pytest.approx((2 * math.pi) ** 2 / (12 * 64), rel=0.15)


def test_its_gradient_opens_an_arc_towards_the_circle():
    angles = torch.linspace(-1.9, 1.9, 33).requires_grad_(True)
    penalty = angle_uniformity_penalty(_plane(angles))
    penalty.backward()
    with torch.no_grad():
        after = angle_uniformity_penalty(_plane(angles - 0.1 * angles.grad))
        spread_before, spread_after = float(angles.max() - angles.min()), float(
            (angles - 0.1 * angles.grad).max() - (angles - 0.1 * angles.grad).min())
    assert float(after) < float(penalty) and spread_after > spread_before


@pytest.mark.parametrize("shape", [(4,), (8, 3), (1, 4)])
def test_codes_that_are_not_batches_of_planes_are_refused(shape):
    with pytest.raises(ValueError, match="even latent size"):
        angle_uniformity_penalty(torch.zeros(shape))
