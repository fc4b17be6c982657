"""An agent's encoder as SB3 features: the right shapes, frozen or fine-tuned, and usable by PPO on the goal task."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent
from stable_baselines3 import PPO

import flatland_env  # noqa: F401
from agents.sb3 import EncoderFeatures, GroupFeatures


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("sb3") / "agent.pt"
    tiny_agent("rgrvae").save(path)
    return path


def test_features_are_the_latent_means_of_both_frames(checkpoint):
    agent = tiny_agent("rgrvae")
    env = gym.make("FlatLandGoal-v0")
    obs, _ = env.reset(seed=0)
    feats = EncoderFeatures(env.observation_space, checkpoint)
    batch = {k: torch.as_tensor(v[None]).float() / 255 for k, v in obs.items()}
    out = feats(batch)
    assert out.shape == (1, 8) and feats.features_dim == 8
    expected = np.concatenate([agent.encode(obs["observation"][None]), agent.encode(obs["goal"][None])], 1)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-4)
    stacked = gym.make("FlatLandGoal-v0", observation="stacked")
    s_obs, _ = stacked.reset(seed=0)
    s_out = EncoderFeatures(stacked.observation_space, checkpoint)(torch.as_tensor(s_obs[None]).float() / 255)
    np.testing.assert_allclose(s_out.detach().numpy(), expected, atol=1e-4)


def test_frozen_encoder_gets_no_gradient_and_fine_tuned_one_does(checkpoint):
    space = gym.make("FlatLandGoal-v0").observation_space
    batch = {k: torch.rand(2, *s.shape) for k, s in space.spaces.items()}
    frozen, tuned = EncoderFeatures(space, checkpoint), EncoderFeatures(space, checkpoint, frozen=False)
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not frozen.encoder.training
    tuned(batch).sum().backward()
    assert all(p.grad is not None for p in tuned.parameters())
    assert not frozen(batch).requires_grad


def test_ppo_trains_on_the_goal_task_with_the_frozen_features(checkpoint):
    model = PPO("MultiInputPolicy", "FlatLandGoal-v0", n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
                policy_kwargs=dict(features_extractor_class=EncoderFeatures,
                                   features_extractor_kwargs=dict(checkpoint=str(checkpoint))))
    before = [p.detach().clone() for p in model.policy.features_extractor.parameters()]
    learned = tiny_agent("rgrvae").vae.encoder.parameters()
    assert all(torch.equal(a, b) for a, b in zip(before, learned))  # SB3's orthogonal init left the encoder alone
    model.learn(256)
    assert model.num_timesteps == 256
    after = list(model.policy.features_extractor.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # frozen through PPO's updates
    action, _ = model.predict(model.env.reset(), deterministic=True)
    assert action.shape == (1,) and 0 <= int(action[0]) < 4


def test_bad_feature_arguments(checkpoint, tmp_path):
    space = gym.make("FlatLandGoal-v0").observation_space
    with pytest.raises(ValueError, match="frozen"):
        EncoderFeatures(space, checkpoint, frozen="yes")
    with pytest.raises(ValueError, match="64, 64, 1"):
        EncoderFeatures(gym.make("FlatLandGoal-v0", obs_mode="rgb").observation_space, checkpoint)
    with pytest.raises(ValueError, match="'observation' and 'goal'"):
        EncoderFeatures(gym.spaces.Dict({"observation": space["observation"]}), checkpoint)
    with pytest.raises(ValueError):
        EncoderFeatures(space, tmp_path / "missing.pt")


def test_group_features_are_the_angle_to_the_goal_on_each_plane_of_rho(checkpoint):
    agent = tiny_agent("rgrvae")
    env = gym.make("FlatLandGoal-v0")
    obs, _ = env.reset(seed=0)
    feats = GroupFeatures(env.observation_space, checkpoint)
    out = feats({k: torch.as_tensor(v[None]).float() / 255 for k, v in obs.items()}).detach().numpy()
    assert out.shape == (1, 4) and feats.features_dim == 4  # (cos, sin) for each of the 2 planes
    z, g = agent.encode(obs["observation"][None])[0], agent.encode(obs["goal"][None])[0]
    for p in range(2):
        turn = np.angle(complex(*g[2 * p:2 * p + 2]) / complex(*z[2 * p:2 * p + 2]))
        np.testing.assert_allclose(out[0, 2 * p:2 * p + 2], [np.cos(turn), np.sin(turn)], atol=1e-4)
    # the goal equal to the current frame: no turn on any plane
    same = {"observation": torch.as_tensor(obs["observation"][None]).float() / 255}
    same["goal"] = same["observation"]
    np.testing.assert_allclose(feats(same).detach().numpy(), [[1, 0, 1, 0]], atol=1e-5)
    assert not any(p.requires_grad for p in feats.parameters())


def test_group_features_read_the_planes_through_a_learned_change_of_basis(tmp_path):
    agent = tiny_agent("rgrvae", change_of_basis=True)
    with torch.no_grad():
        agent.rho.change_of_basis.copy_(torch.tensor([[0.0, 0, 2, 1], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]))
    agent.save(tmp_path / "cob.pt")
    env = gym.make("FlatLandGoal-v0")
    obs, _ = env.reset(seed=1)
    out = GroupFeatures(env.observation_space, tmp_path / "cob.pt")(
        {k: torch.as_tensor(v[None]).float() / 255 for k, v in obs.items()}).detach().numpy()
    c = agent.rho.change_of_basis.detach().numpy()  # not symmetric: C z and C^-1 z differ
    z, g = (c @ agent.encode(obs[k][None])[0] for k in ("observation", "goal"))  # rho' = C^-1 rho C turns C z
    for p in range(2):
        turn = np.angle(complex(*g[2 * p:2 * p + 2]) / complex(*z[2 * p:2 * p + 2]))
        np.testing.assert_allclose(out[0, 2 * p:2 * p + 2], [np.cos(turn), np.sin(turn)], atol=1e-4)


def test_group_features_refuse_an_agent_without_latent_planes(tmp_path):
    tiny_agent("vae").save(tmp_path / "beta.pt")
    with pytest.raises(ValueError, match="no latent group representation.*EncoderFeatures"):
        GroupFeatures(gym.make("FlatLandGoal-v0").observation_space, tmp_path / "beta.pt")


@pytest.mark.parametrize("group", [False, True])
def test_frozen_feature_observation_is_what_the_extractor_gives_and_ppo_trains_on_it(checkpoint, group):
    kind = "group" if group else "latents"
    from stable_baselines3.common.env_checker import check_env

    from agents.sb3 import FrozenFeatureObservation

    base = gym.make("FlatLandGoal-v0")
    env = FrozenFeatureObservation(gym.make("FlatLandGoal-v0"), checkpoint, kind=kind)
    check_env(env)
    obs, _ = env.reset(seed=3)
    frames, _ = base.reset(seed=3)
    extractor = (GroupFeatures if group else EncoderFeatures)(base.observation_space, checkpoint)
    expected = extractor({k: torch.as_tensor(v[None]).float() / 255 for k, v in frames.items()})[0]
    assert obs.shape == env.observation_space.shape == (extractor.features_dim,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs, expected.detach().numpy(), atol=1e-5)
    step_obs, *_ = env.step(0)
    step_frames, *_ = base.step(0)
    np.testing.assert_allclose(
        step_obs, extractor({k: torch.as_tensor(v[None]).float() / 255 for k, v in step_frames.items()})[0]
        .detach().numpy(), atol=1e-5)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    assert model.num_timesteps == 128
    with pytest.raises(ValueError, match="kind must be one of latents, group, calibrated, read"):
        FrozenFeatureObservation(gym.make("FlatLandGoal-v0"), checkpoint, kind="pixels")


def test_calibrated_group_features_give_the_signed_own_steps_to_the_goal_on_an_exact_torus():
    from agent_helpers import torus_agent

    from agents.sb3 import CalibratedGroupFeatures, FrozenFeatureObservation

    agent = torus_agent(angle_error=0.02)
    features = CalibratedGroupFeatures(agent)
    assert features.features_dim == 4
    env = FrozenFeatureObservation(gym.make("FlatLandGoal-v0"), agent, kind="calibrated")
    oracle = env.get_wrapper_attr("oracle")
    signs = {0: set(), 1: set()}
    for seed in range(40):
        got, info = env.reset(seed=seed)
        path = oracle.path(info["factors"], info["goal_factors"])
        for plane, (minus, plus) in enumerate(((0, 1), (2, 3))):  # FlatLand: left/right on x, up/down on y
            steps = path.count(plus) - path.count(minus)
            turn = np.arctan2(got[2 * plane + 1], got[2 * plane])
            assert np.hypot(got[2 * plane], got[2 * plane + 1]) == pytest.approx(1.0)
            assert abs(abs(turn) - abs(2 * np.pi * steps / 33)) < 1e-5
            if steps:
                signs[plane].add(bool(np.sign(turn) == np.sign(steps)))
    # the sign of the plane's first linked action: one convention per plane, the same for every goal
    assert all(len(s) == 1 for s in signs.values())
    with pytest.raises(ValueError, match="need an agent with latent actions"):
        CalibratedGroupFeatures(tiny_agent("vae"))
