"""The so3 group on RotatingCube-v0, for ForwardVAE and RGrVAE: trains, round-trips, is suggested, refuses plane
options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import AgentConfig, BaseAgent, ForwardVAEConfig, RGrVAEConfig
from agents.training.callbacks import Probe
from flatland_env.pairs import split_labels
from vae.so3 import SO3Representation

CUBE = {"env_id": "RotatingCube-v0"}


def test_a_tiny_forward_vae_with_so3_trains_on_the_cube_and_round_trips(tmp_path):
    agent = tiny_agent("forward", data=CUBE, group="so3")
    assert isinstance(agent.rho, SO3Representation) and agent.num_latent_actions == agent.spec.num_actions == 6
    fast = agent.optimizer.param_groups[1]
    assert fast["params"] == [agent.rho.generators] and fast["lr"] == agent.config.angle_lr
    start = agent.rho.generators.detach().clone()
    losses = []
    for _ in range(3):
        batch, truth = split_labels(agent.source.next_batch(agent.config.batch_size))
        losses.append(agent.train_step(batch, truth.actions))
    assert all(np.isfinite(s["loss"]) and np.isfinite(s["pred"]) for s in losses)
    assert not torch.equal(agent.rho.generators.detach(), start)  # the rotations learn
    mats = agent.action_representations()
    rot = mats[:, :3, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    loaded = BaseAgent.load(path)
    assert loaded.config.group == "so3" and isinstance(loaded.rho, SO3Representation)
    np.testing.assert_array_equal(loaded.action_representations(), mats)
    probe = Probe.sample(agent, 8)
    np.testing.assert_array_equal(loaded.encode(probe.obs), agent.encode(probe.obs))
    np.testing.assert_array_equal(loaded.infer_actions(probe.obs, probe.next_obs),
                                  agent.infer_actions(probe.obs, probe.next_obs))
    np.testing.assert_array_equal(loaded.predict_next(probe.obs, 2), agent.predict_next(probe.obs, 2))
    loaded.learn(1, progress_bar=False)  # the optimiser state came back in its groups


def test_the_cube_suggests_so3_and_no_plane_options_to_the_models_with_them():
    from agents.training.cli import apply_world_settings

    config, applied = apply_world_settings(ForwardVAEConfig(), "RotatingCube-v0", set())
    assert applied == {"group": "so3"} and config.group == "so3"  # its other plane options are off already
    config, applied = apply_world_settings(ForwardVAEConfig(), "RotatingCube-v0", {"group"})
    assert applied == {} and config.group == "planes"  # a flag the user passes wins
    config, applied = apply_world_settings(RGrVAEConfig(), "RotatingCube-v0", set())
    assert applied == {"group": "so3", "tie_angles": False, "realign": False, "restart_after": 0}
    config, applied = apply_world_settings(RGrVAEConfig(), "RotatingCube-v0", {"group"})  # planes, as asked
    assert applied == {} and (config.tie_angles, config.realign) == (True, True)
    with pytest.raises(ValueError, match="--realign"):  # a flag the user set is never turned off: so3 refuses it
        apply_world_settings(RGrVAEConfig(), "RotatingCube-v0", {"realign"})
    assert apply_world_settings(AgentConfig(), "RotatingCube-v0", set()) == (AgentConfig(), {})  # the beta-VAE


@pytest.mark.parametrize("kwargs, message", [
    ({"group": "lie"}, "group must be one of planes, so3"),
    ({"group": "so3", "tie_angles": True}, "--tie-angles"),
    ({"group": "so3", "change_of_basis": True}, "--change-of-basis"),
    ({"group": "so3", "structure": ("c",)}, "--structure"),
    ({"group": "so3", "latent_size": 2}, "latent_size must be >= 3"),
])
def test_plane_options_with_so3_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ForwardVAEConfig(**kwargs)


def test_a_tiny_rgrvae_with_so3_trains_on_the_cube_and_round_trips(tmp_path):
    agent = tiny_agent("rgrvae", data=CUBE, group="so3")
    c = agent.config  # the keyword group=so3 turns the plane options off
    assert (c.tie_angles, c.realign, c.restart_after, c.change_of_basis) == (False, False, 0, False)
    assert isinstance(agent.rho, SO3Representation) and agent.num_latent_actions == 6
    start = agent.rho.generators.detach().clone()
    agent.learn(3, progress_bar=False)
    assert not torch.equal(agent.rho.generators.detach(), start)  # the rotations learn from the policy's choices
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    loaded = BaseAgent.load(path)
    assert loaded.config.group == "so3" and isinstance(loaded.rho, SO3Representation)
    probe = Probe.sample(agent, 8)
    np.testing.assert_array_equal(loaded.infer_actions(probe.obs, probe.next_obs),
                                  agent.infer_actions(probe.obs, probe.next_obs))
    loaded.learn(1, progress_bar=False)


@pytest.mark.parametrize("option", [{"realign": True}, {"restart_after": 100}, {"tie_angles": True},
                                    {"plane_moments": 10.0}])
def test_rgrvae_refuses_its_plane_rescues_with_so3_by_name(option):
    with pytest.raises(ValueError, match="--" + next(iter(option)).replace("_", "-")):
        tiny_agent("rgrvae", data=CUBE, group="so3", **option)


def test_so3_cannot_plan_and_says_why():
    from agents.planning import CannotPlanError

    with pytest.raises(CannotPlanError, match="3-D latent block"):
        tiny_agent("forward", group="so3").planner()  # FlatLand: a cyclic product, but no planes to plan on


def test_relation_acceptance_needs_the_relations_and_a_pair_that_does_not_commute():
    from agents.training.evaluation import relation_acceptance

    def suite(worst, learned_non_commuting):
        return {"action_estimation": {"accuracy": 1.0}, "equivariance": {"relative_error": 0.01},
                "group_relations": {"max_error": worst, "learned_non_commuting": learned_non_commuting,
                                    "world_non_commuting": [["x+", "y+"]]}}

    assert relation_acceptance(suite(0.01, [["x+", "y+"]]))["passed"]["all"]
    commutative = relation_acceptance(suite(0.01, []))["passed"]  # a commutative image: relations alone do not do
    assert not commutative["all"] and not commutative["non_commuting"] and commutative["group_relations"]
    assert not relation_acceptance(suite(0.2, [["x+", "y+"]]))["passed"]["group_relations"]


def test_group_features_refuse_an_agent_whose_rho_is_so3(tmp_path):
    import gymnasium as gym

    from agents.sb3 import GroupFeatures

    tiny_agent("forward", group="so3").save(tmp_path / "so3.pt")
    with pytest.raises(ValueError, match="no latent planes"):
        GroupFeatures(gym.make("FlatLandGoal-v0").observation_space, tmp_path / "so3.pt")
