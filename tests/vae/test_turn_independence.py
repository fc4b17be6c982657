"""The turn-independence penalty on codes with a known answer: a linear disentangled code of local moves scores
its batch's noise floor; an unevenly traversed circle, a shear of the factors, or a plane whose angle mixes in the
other factor score clearly more."""

import numpy as np
import pytest
import torch

from vae.turn_independence import turn_independence_penalty

B = 4096


def _pairs(kind: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x, y = (torch.rand(B, generator=g) * 2 * np.pi for _ in range(2))
    dx, dy = ((torch.rand(B, generator=g) * 2 - 1) * 0.3 * np.pi for _ in range(2))
    code = lambda a, b: torch.stack([a.cos(), a.sin(), 2 * b.cos(), 2 * b.sin()], 1)  # noqa: E731
    angle = {"linear": lambda x, y: (x, y), "uneven": lambda x, y: (x + 0.6 * torch.sin(x), y),
             "shear": lambda x, y: (x + y, y), "mixed": lambda x, y: (x + 0.6 * torch.sin(y), y)}[kind]
    return code(*angle(x, y)), code(*angle(x + dx, y + dy))


def test_a_linear_code_scores_about_the_noise_floor_and_the_others_clearly_more():
    floor = turn_independence_penalty(*_pairs("linear")).item()
    assert floor < 1.5 * 36 / B  # 36 squared correlations of independent features, each about 1 / B
    for kind, times in (("uneven", 20), ("shear", 20), ("mixed", 3)):
        assert turn_independence_penalty(*_pairs(kind)).item() > times * floor, kind


def test_it_is_scale_free_and_differentiable():
    z1, z2 = _pairs("uneven")
    value = turn_independence_penalty(z1, z2)
    assert turn_independence_penalty(3 * z1, 3 * z2).item() == pytest.approx(value.item(), rel=1e-4)
    z1 = z1.clone().requires_grad_(True)
    turn_independence_penalty(z1, z2).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_bad_shapes_are_refused_by_name():
    with pytest.raises(ValueError, match="even L"):
        turn_independence_penalty(torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="harmonics"):
        turn_independence_penalty(torch.zeros(4, 2), torch.zeros(4, 2), harmonics=0)
