"""Group representations: cyclic laws, batched application, readable angles, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vae.groups import GroupRepresentation, faithful_angles, nearest_faithful_angle, realised_order


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(2, 40),
    k=st.integers(1, 39),
    planes=st.integers(1, 3),
    structure=st.sampled_from([("c+", "c-"), ("c",), ("c+",)]),
    change_of_basis=st.booleans(),
)
def test_rotation_by_2pi_k_over_n_applied_n_times_is_identity(n, k, planes, structure, change_of_basis):
    rep = GroupRepresentation(2 * planes, structure, change_of_basis=change_of_basis)
    with torch.no_grad():
        rep.angles.fill_(2 * math.pi * k / n)
        if change_of_basis:
            rep.change_of_basis.add_(0.1 * torch.randn_like(rep.change_of_basis))
        actions = torch.arange(rep.num_actions).repeat_interleave(3)  # every action, 3 latents each
        z0 = torch.randn(len(actions), 2 * planes)
        z = z0
        for _ in range(n):
            z = rep(z, actions)
        assert torch.allclose(z, z0, atol=1e-4)
        power = torch.linalg.matrix_power(rep.matrices().double(), n)
        assert torch.allclose(power, torch.eye(2 * planes, dtype=torch.float64).expand_as(power), atol=1e-4)


def test_batched_apply_equals_per_sample_matmul():
    rep = GroupRepresentation(6, ("c+", "c-", "free", "id", "ref"), change_of_basis=True)
    z = torch.randn(64, 6)
    actions = torch.randint(0, rep.num_actions, (64,))
    mats = rep.matrices()
    expected = torch.stack([mats[a] @ z[i] for i, a in enumerate(actions.tolist())])
    assert torch.allclose(rep(z, actions), expected, atol=1e-5)
    assert torch.allclose(rep.apply_all(z)[torch.arange(64), actions], expected, atol=1e-5)


def test_rotation_acts_on_its_own_plane_only():
    rep = GroupRepresentation(4, ("c+", "c-"))
    m = rep.matrices().detach()
    assert torch.allclose(m[0, 2:, 2:], torch.eye(2)) and torch.allclose(m[2, :2, :2], torch.eye(2))
    assert rep.angles[0] >= 0 and rep.angles[1] <= 0  # c+ / c- initial signs


def test_angle_table_and_orders():
    rep = GroupRepresentation(4, ("c+", "free"))
    with torch.no_grad():
        rep.angles[0] = 2 * math.pi * 5 / 33
    row = rep.angle_table()[0]
    assert row["realised_order"] == 33 and row["naive_order_2pi_over_theta"] == pytest.approx(6.6)
    assert math.isnan(rep.angle_table()[1]["angle"])
    assert realised_order(2 * math.pi * 5 / 33) == 33
    assert realised_order(float("nan")) is None
    near = nearest_faithful_angle(0.95, 33)
    assert near["k"] == 5 and near["error"] == pytest.approx(2 * math.pi * 5 / 33 - 0.95)
    assert np.all(np.gcd(np.round(faithful_angles(12) * 12 / (2 * math.pi)).astype(int), 12) == 1)


def test_free_block_penalty_is_zero_for_unit_determinant():
    rep = GroupRepresentation(4, ("free",))
    assert rep.penalty().item() == 0.0
    with torch.no_grad():
        rep.free_blocks.mul_(2.0)
    assert rep.penalty().item() == pytest.approx(2 * 3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"structure": ("c+", "rot")}, "unknown group structure"),
        ({"structure": ()}, "at least one symbol"),
        ({"latent_size": 3}, "even integer"),
        ({"latent_size": True}, "latent_size must be an integer >= 2, got True"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GroupRepresentation(**kwargs)


def test_bad_actions():
    rep = GroupRepresentation(4)
    with pytest.raises(ValueError, match="1-D integer"):
        rep(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        rep(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="n must be >= 1"):
        faithful_angles(0)


def test_tied_angles_make_c_minus_the_inverse_of_c_plus_through_training():
    rep = GroupRepresentation(4, ("c+", "c-"), tied=True, angle_init=0.5)
    np.testing.assert_allclose(rep.effective_angles().detach().numpy(), [0.5, -0.5, 0.5, -0.5])
    opt = torch.optim.Adam(rep.parameters(), lr=0.1)
    z = torch.randn(32, 4)
    target = torch.roll(z, 1, dims=1)
    for _ in range(20):  # any loss: the tie holds whatever the gradients
        loss = (rep(z, torch.arange(32) % 4) - target).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m = rep.matrices().detach()
    for plane in range(2):
        torch.testing.assert_close(m[2 * plane] @ m[2 * plane + 1], torch.eye(4), atol=1e-6, rtol=0)
    rows = rep.angle_table()
    assert rows[0]["angle"] == pytest.approx(-rows[1]["angle"])


def test_untied_random_starts_differ_and_angle_init_sets_them():
    free = GroupRepresentation(4, ("c+", "c-"), generator=torch.Generator().manual_seed(0))
    assert len(set(free.angles.abs().tolist())) == 4
    fixed = GroupRepresentation(4, ("c+", "c-", "c"), angle_init=0.7)
    np.testing.assert_allclose(fixed.angles.detach().numpy(), [0.7, -0.7, 0.7] * 2, rtol=1e-6)


def test_tied_needs_both_directions_and_angle_init_a_finite_angle():
    with pytest.raises(ValueError, match="c\\+ with its c-"):
        GroupRepresentation(4, ("c+",), tied=True)
    with pytest.raises(ValueError, match="angle_init"):
        GroupRepresentation(4, angle_init=-1.0)


@pytest.mark.parametrize("tied", [True, False])
def test_refit_angles_recovers_the_turns_that_made_the_codes(tied):
    """Codes turned by known angles: the closed-form least-squares refit finds them from any start, pooling a tied
    plane's c+ and c- pairs, and leaves an action with no pairs where it was."""
    torch.manual_seed(0)
    rho = GroupRepresentation(6, ("c+", "c-"), tied=tied, angle_init=0.3)
    true = torch.tensor([2.0, -2.0, 0.7, -0.7, 0.4, -0.4])
    z1 = torch.randn(500, 6)
    actions = torch.randint(0, 4, (500,))  # the third plane's actions take no pairs
    actions[actions == 2] = 3  # and the second plane only its c- pairs: tied, they still set its c+
    with torch.no_grad():
        rho.angles.copy_(true)
        z2 = rho(z1, actions) + 0.01 * torch.randn(500, 6)
        rho.angles.copy_(torch.tensor([0.3, -0.3, 0.3, -0.3, 0.3, -0.3]))
    changed = rho.refit_angles(z1, z2, actions)
    angles = rho.effective_angles().detach()
    np.testing.assert_allclose(angles[:2].numpy(), true[:2].numpy(), atol=0.01)
    np.testing.assert_allclose(angles[3].item(), true[3].item(), atol=0.01)
    np.testing.assert_allclose(angles[2].item(), true[2].item() if tied else 0.3, atol=0.01)
    np.testing.assert_allclose(angles[4:].numpy(), [0.3, -0.3], atol=1e-7)
    assert {r["action"] for r in changed} == ({0, 1, 2, 3} if tied else {0, 1, 3})
    with pytest.raises(ValueError, match="change of basis"):
        GroupRepresentation(4, change_of_basis=True).refit_angles(z1[:, :4], z2[:, :4], actions)
