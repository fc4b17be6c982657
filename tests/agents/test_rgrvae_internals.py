"""RGrVAE's mechanics on hand-built inputs: reward, policy-gradient sign, detachment, returns, regret, acceptance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import BaseCallback
from agents.policy import PairPolicy
from agents.rgrvae import (
    discounted_returns,
    expected_log_terms,
    latent_rewards,
    policy_entropy,
    policy_log_terms,
    reinforce_loss,
    subtract_regret,
)
from agents.training.callbacks import Probe
from agents.training.evaluation import acceptance
from flatland_env.pairs import split_labels
from flatland_env.worlds.flatland import flatland_spec
from vae.groups import GroupRepresentation
from vae.metrics.action_estimation import action_estimation
from vae.preprocess import obs_to_tensor


def test_reward_is_the_drop_in_squared_distance_to_the_target():
    """z = e1, mu2 = e2, a rotation by theta on plane 0: r = ||z - mu2||^2 - ||rho z - mu2||^2 = 2 sin(theta)."""
    rho = GroupRepresentation(4, ("c+", "c-"))
    thetas = torch.tensor([math.pi / 2, -math.pi / 6, 0.3, 1.0])
    with torch.no_grad():
        rho.angles.copy_(thetas)
    z = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    mu2 = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    r = latent_rewards(z, mu2, rho.apply_all(z))
    # plane-0 actions rotate z; plane-1 actions leave it where it is (reward 0)
    expected = torch.tensor([[2 * math.sin(math.pi / 2), 2 * math.sin(-math.pi / 6), 0.0, 0.0]])
    torch.testing.assert_close(r, expected)
    assert not r.requires_grad


@pytest.mark.parametrize("reward, direction", [(1.5, 1), (-1.5, -1)])
def test_a_positive_reward_raises_p_a_and_a_negative_one_lowers_it(reward, direction):
    torch.manual_seed(0)
    policy = PairPolicy(1, 4, 64)
    torch.nn.init.normal_(policy.head.weight, std=0.01)  # away from the exactly uniform start
    x1, x2 = torch.rand(8, 1, 64, 64), torch.rand(8, 1, 64, 64)
    a = torch.full((8,), 2)
    before = policy(x1, x2)[:, 2].detach()
    loss = reinforce_loss([torch.full((8,), reward)], [policy_log_terms(policy(x1, x2), a, torch.full((8,), reward))])
    loss.backward()
    with torch.no_grad():
        for p in policy.parameters():
            p -= 0.05 * p.grad
    after = policy(x1, x2)[:, 2].detach()
    assert torch.all(torch.sign(after - before) == direction), (before, after)


def test_log_terms_use_log_p_for_positive_and_log_one_minus_p_for_negative_rewards():
    probs = torch.tensor([[0.1, 0.9], [0.3, 0.7], [1.0, 0.0]])
    a = torch.tensor([1, 0, 1])
    r = torch.tensor([2.0, -1.0, -3.0])
    terms = policy_log_terms(probs, a, r)
    torch.testing.assert_close(terms, torch.tensor([math.log(0.9), math.log(0.7), math.log1p(-1e-6)]))
    torch.testing.assert_close(reinforce_loss([r], [terms]), -(r.abs() * terms).mean())


def test_the_policy_loss_sends_no_gradient_into_the_representation():
    agent = tiny_agent()
    batch, _ = split_labels(agent.source.next_batch(16))
    fwd = agent._pair_forward(batch)
    probs = agent.policy(fwd.x1, fwd.x2)
    a = probs.argmax(1)
    r = latent_rewards(fwd.z1, fwd.mu2, agent.rho.apply_all(fwd.z1)).gather(1, a[:, None]).squeeze(1)
    loss = reinforce_loss([r], [policy_log_terms(probs, a, r)]) - 0.01 * policy_entropy(probs)
    agent.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    assert all(p.grad is None for p in agent.vae.parameters())
    assert all(p.grad is None for p in agent.rho.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.policy.parameters())


def test_discounted_returns_and_regret_match_hand_computed_values():
    rewards = [torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0])]
    returns = discounted_returns(rewards, 0.5)
    # G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75
    torch.testing.assert_close(torch.cat(returns), torch.tensor([2.75, 3.5, 3.0]))
    r_all = torch.tensor([[1.0, 3.0, -2.0], [0.5, 0.1, 0.2]])
    r = torch.tensor([1.0, 0.5])  # actions 0 and 0: the second is already the best
    torch.testing.assert_close(subtract_regret(r, r_all, 0.5), torch.tensor([0.0, 0.5]))


def test_entropy_of_uniform_and_deterministic_policies():
    torch.testing.assert_close(policy_entropy(torch.full((3, 4), 0.25)), torch.tensor(math.log(4)))
    torch.testing.assert_close(policy_entropy(torch.tensor([[1.0, 0.0, 0.0]])), torch.tensor(0.0))


class _FakeAgent:
    """An agent surface with FlatLand's spec and chosen latent angles, for the acceptance rule alone."""

    spec = flatland_spec()

    def __init__(self, angle_error: float) -> None:
        target = 2 * math.pi * 5 / 33
        self._angles = [target + angle_error, -target, target, -target]

    def angle_table(self):
        return [{"action": i, "angle": a} for i, a in enumerate(self._angles)]


def _suite(accuracy: float, error: float) -> dict:
    return {"action_estimation": {"accuracy": accuracy, "mapping": [1, 0, 3, 2]},
            "equivariance": {"relative_error": error, "action_map": [1, 0, 3, 2]}}


@pytest.mark.parametrize(
    "accuracy, angle_error, equivariance, passed",
    [
        (0.95, 0.0, 0.02, {"action_accuracy": True, "angles": True, "equivariance": True, "all": True}),
        (0.949, 0.0, 0.02, {"action_accuracy": False, "angles": True, "equivariance": True, "all": False}),
        (0.95, 0.0299, 0.02, {"action_accuracy": True, "angles": True, "equivariance": True, "all": True}),
        (0.95, 0.0301, 0.02, {"action_accuracy": True, "angles": False, "equivariance": True, "all": False}),
        (0.95, 0.0, 0.0201, {"action_accuracy": True, "angles": True, "equivariance": False, "all": False}),
    ],
)
def test_acceptance_passes_and_fails_exactly_at_its_thresholds(accuracy, angle_error, equivariance, passed):
    result = acceptance(_FakeAgent(angle_error), _suite(accuracy, equivariance))
    assert result["passed"] == passed
    # the mapping pairs true action 0 (left) with latent action 1, whose angle is -target: error 0
    assert result["angles"][1]["latent_action"] == 0 and result["angles"][1]["error"] == pytest.approx(angle_error)


@pytest.mark.parametrize("shapes", [("square",), ("ellipse",), ("heart",), ("square", "ellipse", "heart")])
def test_acceptance_targets_the_angle_on_the_frames_where_every_state_agrees_on_it(shapes):
    import gymnasium as gym

    spec = gym.make("Sprites-v0", offset=4, shapes=shapes).unwrapped.symmetry
    on_frames = {"square": 2 * math.pi * 4 / 10, "ellipse": 2 * math.pi * 4 / 20, "heart": 2 * math.pi * 4 / 40}

    class Agent:
        def __init__(self) -> None:
            self.spec = spec

        def angle_table(self):
            return [{"action": i, "angle": spec.continuous_angle(i)} for i in range(spec.num_actions)]

    mapping = list(range(spec.num_actions))
    suite = {"action_estimation": {"accuracy": 1.0}, "equivariance": {"relative_error": 0.0, "action_map": mapping}}
    rows = {r["true_action"]: r for r in acceptance(Agent(), suite)["angles"]}
    turn = rows["orientation+"]
    if len(shapes) == 1:  # one shape: the frames' angle is the target, and the declared angle misses it unless a heart
        assert turn["target"] == pytest.approx(on_frames[shapes[0]]) and "pixel_targets" not in turn
        assert (turn["error"] < 1e-9) == (shapes == ("heart",))
    else:  # shapes disagree on the frames: the declared target stays, and each shape's is recorded beside it
        assert turn["target"] == pytest.approx(on_frames["heart"])
        assert turn["pixel_targets"] == pytest.approx(on_frames)
    assert rows["x+"]["target"] == pytest.approx(2 * math.pi * 4 / 32) and "pixel_targets" not in rows["x+"]


def test_a_callback_that_changes_the_weights_is_stopped():
    class Meddle(BaseCallback):
        def on_step(self, agent, stats, batch, truth) -> bool:
            with torch.no_grad():
                agent.rho.angles.add_(0.1)
            return True

    with pytest.raises(RuntimeError, match="callback changed the agent's weights"):
        tiny_agent().learn(2, callback=Meddle(), progress_bar=False)


def test_a_short_run_beats_chance_on_held_out_pairs():
    """400 updates of a tiny RGrVAE (batch 32, 8-channel convs): the policy tells FlatLand's actions apart."""
    agent = tiny_agent(batch_size=32, precision="fp32", seed=0)
    before = action_estimation(agent.infer_actions, agent.world, np.random.default_rng(1), 400)
    agent.learn(400, progress_bar=False)
    after = action_estimation(agent.infer_actions, agent.world, np.random.default_rng(1), 400)
    assert before["chance"] == 0.25 and before["accuracy"] < 0.35  # held out: near chance before training
    assert after["accuracy"] > 0.6, after["accuracy"]


def test_the_expected_policy_loss_is_the_exact_mean_of_the_sampled_one():
    """Its gradient equals the probability-weighted mean of the sampled estimator's gradients over every action."""
    torch.manual_seed(0)
    logits = torch.randn(5, 4, requires_grad=True)
    r_all = torch.randn(5, 4)

    def probs():
        return torch.softmax(logits.abs(), -1)

    expected_log_terms(probs(), r_all).backward()
    exact = logits.grad.clone()
    logits.grad = None
    weights = probs().detach()
    for a in range(4):
        actions = torch.full((5,), a)
        r = r_all[:, a]
        per_pair = -(r.abs() * policy_log_terms(probs(), actions, r))  # the sampled loss, pair by pair
        (weights[:, a] * per_pair).mean().backward()
    torch.testing.assert_close(logits.grad, exact)


def test_regret_applies_to_every_action_at_once():
    r_all = torch.tensor([[1.0, 3.0, -2.0]])
    torch.testing.assert_close(subtract_regret(r_all, r_all, 0.5), torch.tensor([[0.0, 3.0, -4.5]]))


def test_realignment_turns_the_code_keeps_decodings_and_survives_a_checkpoint(tmp_path):
    from agents import BaseAgent

    agent = tiny_agent(realign=True, stop_probe_pairs=128).learn(5, progress_bar=False)
    pairs = agent.probe_pairs()
    frames_before = agent.decode(agent.encode(pairs.obs[:8]))
    event = agent.realign_planes(margin=-1.0)  # any orientation counts as better: it turns
    assert event is not None and event["score_after"] >= event["score_before"]
    np.testing.assert_array_equal(agent.decode(agent.encode(pairs.obs[:8])), frames_before)
    probs = agent.policy(*(torch.rand(2, 1, 64, 64) for _ in range(2)))
    torch.testing.assert_close(probs, torch.full_like(probs, 0.25))  # the policy restarts uniform
    agent.learn(2, progress_bar=False)  # trains on from the turned code and moments
    agent.save(tmp_path / "a.pt")
    assert BaseAgent.load(tmp_path / "a.pt").realignments == agent.realignments


def test_realignment_runs_only_at_its_checks():
    agent = tiny_agent(realign=True, realign_every=3, realign_until=6, realign_margin=0.0, stop_probe_pairs=64)
    agent.learn(9, progress_bar=False)
    assert {e["update"] for e in agent.realignments} <= {3, 6}


def test_predict_samples_the_policy_when_not_deterministic_and_leaves_training_s_stream_alone():
    agent = tiny_agent("rgrvae")
    probe = Probe.sample(agent, 400)
    probs = agent.action_probabilities(probe.obs, probe.next_obs)
    np.testing.assert_allclose(probs, 0.25)  # the policy starts uniform
    before = agent.np_rng.bit_generator.state
    sampled, _ = agent.predict((probe.obs, probe.next_obs), deterministic=False)
    counts = np.bincount(sampled, minlength=4)
    assert counts.sum() == 400 and counts.min() > 60  # about 100 each
    assert agent.np_rng.bit_generator.state == before
    greedy, _ = agent.predict((probe.obs, probe.next_obs))
    np.testing.assert_array_equal(greedy, probs.argmax(-1))


@pytest.mark.parametrize("path", ["sampled", "argmax", "best"])
def test_the_latent_path_moves_the_code_by_the_action_it_names(path):
    """sampled draws from the policy, argmax takes its most likely action, best the one with the highest reward."""
    agent = tiny_agent("rgrvae", latent_path=path)
    probs = torch.tensor([[0.1, 0.7, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0]])
    rewards = torch.tensor([[0.0, -1.0, 2.0, 0.5], [3.0, 0.0, 0.0, 0.0]])
    chosen = agent._path_action(probs, rewards)
    expected = {"argmax": [1, 2], "best": [2, 0]}.get(path)
    if expected is None:
        assert chosen[1] == 2 and 0 <= int(chosen[0]) < 4  # a sample; the certain row is certain
    else:
        assert chosen.tolist() == expected


def test_a_latent_path_other_than_sampled_needs_the_expected_policy_loss():
    from agents.rgrvae import RGrVAEConfig

    with pytest.raises(ValueError, match="latent_path must be one of sampled, argmax, best"):
        RGrVAEConfig(latent_path="greedy")
    with pytest.raises(ValueError, match="needs policy_update=expected"):
        RGrVAEConfig(latent_path="best", policy_update="reinforce")


def test_path_consistency_asks_each_intermediate_code_to_be_the_code_of_its_decoded_frame():
    torch.manual_seed(0)
    agent = tiny_agent("rgrvae", data={"k": 2}, action_steps=2, path_consistency=5.0)
    batch, _ = split_labels(agent.source.next_batch(8))
    state = agent.generator.get_state()
    loss, stats = agent._loss(batch)
    assert stats["path_consistency"] > 0  # an untrained encoder does not give back the codes it decodes from
    agent.config.path_consistency = 0.0  # the same update without the term (same samples: the generator rewound)
    agent.generator.set_state(state)
    plain_loss, plain_stats = agent._loss(batch)
    assert "path_consistency" not in plain_stats  # off: the paper's loss
    assert float(loss - plain_loss) == pytest.approx(5.0 * stats["path_consistency"], rel=1e-3)
    with pytest.raises(ValueError, match="action_steps"):  # N = 1: no intermediate code to weigh
        tiny_agent("rgrvae", path_consistency=5.0)


@pytest.mark.parametrize("model", ["rgrvae", "forward"])
def test_plane_moments_add_the_weighted_penalty_of_both_frames_codes(model):
    from vae.plane_moments import plane_moment_penalty

    torch.manual_seed(0)
    agent = tiny_agent(model, plane_moments=7.0)
    batch, truth = split_labels(agent.source.next_batch(8))
    labels = (truth.actions,) if agent.uses_labels else ()
    state = agent.generator.get_state()
    loss, stats = agent._loss(batch, *labels)
    frames = torch.cat([obs_to_tensor(o, agent.device) for o in (batch.obs, batch.next_obs)])
    with torch.no_grad(), agent.autocast():
        codes = agent.vae.encode(frames)[0].float()  # both frames in one pass, as the update encodes them
    assert stats["plane_moments"] == pytest.approx(float(plane_moment_penalty(codes)), rel=1e-3)
    assert stats["plane_moments"] > 0  # an untrained encoder's codes are not centred circles
    agent.config.plane_moments = 0.0
    agent.generator.set_state(state)
    plain_loss, plain_stats = agent._loss(batch, *labels)
    assert "plane_moments" not in plain_stats  # off: the paper's loss
    assert float(loss - plain_loss) == pytest.approx(7.0 * stats["plane_moments"], rel=1e-3)


@pytest.mark.parametrize("model", ["rgrvae", "forward"])
def test_distinct_adds_the_weighted_hinge_on_each_pair_s_two_codes(model):
    from vae.pair_distinctness import pair_distinctness_penalty

    torch.manual_seed(0)
    agent = tiny_agent(model, distinct=3.0, distinct_margin=1.5)
    batch, truth = split_labels(agent.source.next_batch(8))
    labels = (truth.actions,) if agent.uses_labels else ()
    state = agent.generator.get_state()
    loss, stats = agent._loss(batch, *labels)
    with torch.no_grad(), agent.autocast():
        mu1, mu2 = (agent.vae.encode(obs_to_tensor(o, agent.device))[0].float() for o in (batch.obs, batch.next_obs))
    assert stats["distinct"] == pytest.approx(float(pair_distinctness_penalty(mu1, mu2, 1.5)), rel=1e-2, abs=1e-4)
    assert stats["distinct"] > 0  # the margin is set above what an untrained encoder gives
    agent.config.distinct = 0.0
    agent.generator.set_state(state)
    plain_loss, plain_stats = agent._loss(batch, *labels)
    assert "distinct" not in plain_stats  # off: the paper's loss
    assert float((loss - plain_loss).detach()) == pytest.approx(3.0 * stats["distinct"], rel=1e-3)


@pytest.mark.parametrize("margin", [0.0, 2.5, float("nan")])
def test_the_agents_refuse_a_distinctness_margin_outside_its_range(margin):
    with pytest.raises(ValueError, match="distinct_margin"):
        tiny_agent("forward", distinct=1.0, distinct_margin=margin)


def test_a_pooled_encoder_agent_saves_and_loads_with_its_encoder(tmp_path):
    agent = tiny_agent("forward", pooled_encoder=True)
    assert agent.vae.encoder.pooled
    agent.save(tmp_path / "a.pt")
    loaded = type(agent).load(tmp_path / "a.pt")
    assert loaded.config.pooled_encoder and loaded.vae.encoder.pooled
    for key, value in agent.vae.state_dict().items():
        assert torch.equal(value, loaded.vae.state_dict()[key]), key
