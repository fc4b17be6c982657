"""The pair-distinctness hinge on codes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae.pair_distinctness import pair_distinctness_penalty


def _sprites_pair_codes(orientation_blind: bool, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Faithful codes of Sprites-v0 heart pairs (offset 4): scale, orientation, x, y each on its own unit circle,
    every pair moving one factor by +-4; optionally with the orientation plane held at a constant. Also the
    share of pairs that turn the heart."""
    rng = np.random.default_rng(0)
    sizes = np.array([6, 40, 32, 32])
    f = np.stack([rng.integers(0, k, n) for k in sizes], 1)
    factor, step = rng.integers(0, 4, n), rng.choice([-4, 4], n)
    g = f.copy()
    g[np.arange(n), factor] = (f[np.arange(n), factor] + step) % sizes[factor]

    def code(v: np.ndarray) -> torch.Tensor:
        angles = 2 * np.pi * v / sizes
        if orientation_blind:
            angles[:, 1] = 0.0
        return torch.as_tensor(np.stack([np.cos(angles), np.sin(angles)], 2).reshape(n, 8), dtype=torch.float32)

    return code(f), code(g), float(np.mean(factor == 1))


def test_a_faithful_code_meets_the_default_margin_and_a_turn_blind_one_does_not():
    mu1, mu2, _ = _sprites_pair_codes(orientation_blind=False)
    assert float(pair_distinctness_penalty(mu1, mu2, 0.2)) == 0.0  # the agents' default margin
    blind1, blind2, turns = _sprites_pair_codes(orientation_blind=True)
    # the pairs that turn the heart keep their code and each pays the whole margin; the others are apart
    assert float(pair_distinctness_penalty(blind1, blind2, 0.2)) == pytest.approx(0.2 * turns, rel=1e-3)


def test_the_hinge_is_scale_free():
    rng = torch.Generator().manual_seed(0)
    mu1 = torch.randn(64, 8, generator=rng)
    mu2 = mu1 + 0.01 * torch.randn(64, 8, generator=rng)
    value = pair_distinctness_penalty(mu1, mu2, 0.5)
    assert float(value) == pytest.approx(float(pair_distinctness_penalty(10 * mu1, 10 * mu2, 0.5)), rel=1e-5)


@pytest.mark.parametrize("gap", [1e-3, 1e-1])
def test_its_push_on_nearly_coinciding_codes_does_not_fade_with_their_difference(gap):
    """The hinge is on the distance, not its square: the gradient on a pair's second code has the same size
    whether the codes are a thousandth or a tenth apart, and points away from the first code."""
    rng = torch.Generator().manual_seed(0)
    mu1 = torch.randn(64, 8, generator=rng)
    direction = torch.nn.functional.normalize(torch.randn(64, 8, generator=rng), dim=1)
    mu2 = (mu1 + gap * direction).requires_grad_(True)
    pair_distinctness_penalty(mu1, mu2, 0.5).backward()
    rms = float(torch.cat([mu1, mu2.detach()]).var(0, unbiased=False).sum().sqrt())
    size = mu2.grad.norm(dim=1) * 64 * rms  # each pair's share of the mean, in units of the code's spread
    assert torch.allclose(size, torch.ones(64), atol=0.02)
    assert ((mu2.grad * direction).sum(1) < 0).all()  # descent moves mu2 further from mu1


def test_coinciding_codes_pay_the_margin_with_a_finite_gradient():
    mu1 = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    mu2 = mu1.clone().requires_grad_(True)
    value = pair_distinctness_penalty(mu1, mu2, 0.2)
    value.backward()
    assert float(value) == pytest.approx(0.2, rel=1e-3) and torch.isfinite(mu2.grad).all()


def test_codes_of_two_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        pair_distinctness_penalty(torch.zeros(4, 8), torch.zeros(4, 6), 0.05)
