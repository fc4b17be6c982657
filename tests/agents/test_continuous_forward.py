"""ForwardVAE on a continuous torus (FlatLandContinuous-v0): rho(a) = R(W a) trains, learns, round-trips,
evaluates; what needs a finite list of actions is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import BaseAgent, ForwardVAE
from agents.latent_actions import PairForward
from agents.training.evaluation import evaluate_agent
from flatland_env.pairs import split_labels
from vae.continuous_planes import LinearPlaneRepresentation
from vae.metrics.continuous_actions import continuous_action_metrics
from vae.preprocess import obs_to_tensor

CONTINUOUS = {"env_id": "FlatLandContinuous-v0"}


@pytest.fixture(scope="module")
def agent():
    return tiny_agent("forward", data=CONTINUOUS)


def test_it_trains_on_action_vectors_and_round_trips(agent, tmp_path):
    assert isinstance(agent.rho, LinearPlaneRepresentation) and agent.rho.weights.shape == (2, 2)
    fast = agent.optimizer.param_groups[1]
    assert fast["params"] == [agent.rho.weights] and fast["lr"] == agent.config.angle_lr
    start = agent.rho.weights.detach().clone()
    batch, truth = split_labels(agent.source.next_batch(agent.config.batch_size))
    assert truth.actions.dtype.kind == "f" and truth.actions.shape == (16, 1, 2)
    stats = agent.train_step(batch, truth.actions)
    assert np.isfinite(stats["loss"]) and np.isfinite(stats["pred"])
    assert not torch.equal(agent.rho.weights.detach(), start)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    loaded = BaseAgent.load(path)
    assert isinstance(loaded.rho, LinearPlaneRepresentation)
    z, a = agent.encode(batch.obs), truth.actions[:, 0]
    np.testing.assert_array_equal(loaded.encode(batch.obs), z)
    np.testing.assert_array_equal(loaded.predict_latents(z, a), agent.predict_latents(z, a))
    loaded.learn(2, progress_bar=False)  # and resumes
    assert loaded.num_steps == agent.num_steps + 2


class ExactTorusForward(ForwardVAE):
    """A ForwardVAE whose codes are the torus itself: (cos, sin) of 2 pi x / 33 and of 2 pi y / 33, the disc's
    position read off the frame (its centroid), so only W learns, from the action vectors it is told."""

    offset = None

    def _code(self, frames: torch.Tensor) -> torch.Tensor:
        w = frames[:, 0].double()  # (B, H, W) coverage
        rows = torch.arange(w.shape[1], dtype=torch.float64)
        cy = (w.sum(2) * rows).sum(1) / w.sum((1, 2))
        cx = (w.sum(1) * rows).sum(1) / w.sum((1, 2))
        t = 2 * np.pi * (torch.stack([cx, cy], 1) - self.offset) / 33.0
        return torch.stack([t.cos(), t.sin()], -1).flatten(1).float()

    def encode(self, obs, batch_size=512):
        return self._code(obs_to_tensor(obs, self.device)).numpy()

    def _pair_forward(self, batch):
        x1, x2 = obs_to_tensor(batch.obs, self.device), obs_to_tensor(batch.next_obs, self.device)
        z1, z2 = self._code(x1), self._code(x2)
        zero = torch.zeros(())
        return PairForward(x1, x2, z1, z1, z2, {"loss": zero, "recon": zero, "kl": zero})


def exact_agent(k: int = 1, shuffle: bool = False) -> ExactTorusForward:
    agent = tiny_agent("forward", data={**CONTINUOUS, "k": k})
    agent.__class__ = ExactTorusForward
    origin = obs_to_tensor(agent.world.render_states(np.zeros((1, 2))), agent.device)[:, 0].double()
    rows = torch.arange(origin.shape[1], dtype=torch.float64)
    agent.offset = torch.stack([(origin.sum(1) * rows).sum(1), (origin.sum(2) * rows).sum(1)], 1) / origin.sum()
    if shuffle:  # the control: each pair told another pair's action vectors
        loss = agent._loss
        agent._loss = lambda batch, actions: loss(batch, np.asarray(actions)[::-1].copy())
    return agent


def test_told_the_action_vectors_w_learns_the_torus_turn_and_told_shuffled_ones_it_does_not():
    """On exact torus codes, W goes to pi * I (half a turn per action unit) and the error of rho with the true
    action vectors falls to about 0; told another pair's action vectors, it does not."""
    agent = exact_agent()
    agent.learn(150, progress_bar=False)
    np.testing.assert_allclose(agent.rho.weights.detach().numpy(), np.pi * np.eye(2), atol=0.05)
    out = continuous_action_metrics(agent, agent.world, np.random.default_rng(0), 300)
    assert out["relative_equivariance_error"] < 0.01 and out["min_r2"] > 0.99 and out["faithful"]
    control = exact_agent(shuffle=True)
    control.learn(150, progress_bar=False)
    out = continuous_action_metrics(control, control.world, np.random.default_rng(0), 300)
    assert out["relative_equivariance_error"] > 0.3


@pytest.mark.parametrize("k", [2, 3])
def test_a_k_step_pair_is_explained_by_the_sum_of_its_action_vectors(k):
    agent = exact_agent(k)
    agent.rho.weights.data[:] = torch.tensor(np.pi * np.eye(2), dtype=torch.float32)
    batch, truth = split_labels(agent.source.next_batch(64))
    assert truth.actions.shape == (64, k, 2)
    pred = lambda actions: agent._loss(batch, actions)[1]["pred"].item()  # noqa: E731
    assert pred(truth.actions) < 1e-3
    assert pred(truth.actions[:, :1]) > 0.1  # the first step alone does not explain the pair
    agent.rho.weights.data[0, 0] = -np.pi  # nor does the turn of the wrong sign
    assert pred(truth.actions) > 0.1


def test_evaluation_writes_the_continuous_criteria_and_a_verdict(agent, tmp_path):
    record = evaluate_agent(agent, tmp_path, num_samples=100, progress=False)
    acc = record["acceptance"]
    assert set(acc["passed"]) == {"angle_r2", "faithful", "equivariance", "all"}
    assert acc["min_angle_r2"] == record["metrics"]["continuous_actions"]["min_r2"]
    assert record["verdict"]["learned"] == acc["passed"]["all"]
    assert "continuous" in record["metrics"]["action_estimation"]["skipped"]
    assert [row["plane"] for row in record["latent_actions"]] == [0, 1]


def test_what_needs_a_finite_list_of_actions_is_refused_by_name(agent):
    with pytest.raises(ValueError, match="stop_error"):
        tiny_agent("forward", data=CONTINUOUS, stop_error=0.01)
    with pytest.raises(ValueError, match="group"):
        tiny_agent("forward", data=CONTINUOUS, group="so3")
    with pytest.raises(ValueError, match="angle_init"):
        tiny_agent("forward", data=CONTINUOUS, angle_init=0.5)
    with pytest.raises(ValueError, match="latent_size must be >= 4"):
        tiny_agent("forward", data=CONTINUOUS, latent_size=2)
    with pytest.raises(ValueError, match="no finite list"):
        agent.num_latent_actions
    with pytest.raises(ValueError, match="no finite list"):
        agent.action_representations()
    with pytest.raises(ValueError, match="vectors, not classes"):
        agent.infer_actions(np.zeros((1, 64, 64, 1), np.uint8), np.zeros((1, 64, 64, 1), np.uint8))
    finite = tiny_agent("forward")
    with pytest.raises(ValueError, match="only a continuous world"):
        finite.predict_latents(np.zeros((1, 4)), np.zeros((1, 2)))


def test_the_beta_vae_trains_on_it_too():
    vae = tiny_agent("vae", data=CONTINUOUS)
    vae.learn(2, progress_bar=False)
    assert vae.num_steps == 2


def test_a_row_of_w_stuck_on_the_losss_second_lobe_is_refit_to_the_codes_turn():
    """The failure of a held-out seed, replayed on exact codes: the expected loss of a row is 2 - 2 sinc(w - pi)
    for actions uniform in [-1, 1], with a local minimum where sinc has its second peak (w - pi = -7.725).
    Gradient descent stays there; the grid refit (refit_every) finds pi, the codes' turn per unit."""
    stuck = np.array([[np.pi, 0.0], [0.0, np.pi - 7.725]], dtype=np.float32)
    plain = exact_agent()
    plain.rho.weights.data[:] = torch.as_tensor(stuck)
    plain.learn(100, progress_bar=False)
    assert abs(plain.rho.weights[1, 1].item() - np.pi) > 5  # still on the second lobe
    refit = exact_agent()
    refit.config.refit_every = 25
    refit.rho.weights.data[:] = torch.as_tensor(stuck)
    refit.learn(100, progress_bar=False)
    np.testing.assert_allclose(refit.rho.weights.detach().numpy(), np.pi * np.eye(2), atol=0.05)
    assert {r["plane"] for r in refit.refits} == {1} and refit.refits[0]["update"] == 25


def test_refit_is_for_continuous_worlds_and_must_be_a_count():
    with pytest.raises(ValueError, match="refit_every"):
        tiny_agent("forward", refit_every=10)
    with pytest.raises(ValueError, match="refit_every"):
        tiny_agent("forward", data=CONTINUOUS, refit_every=-1)


def test_the_continuous_world_suggests_the_refit_to_forward_vae_only():
    from agents.betavae import BetaVAE
    from agents.forward import ForwardVAEConfig
    from agents.training.cli import apply_world_settings

    config, applied = apply_world_settings(ForwardVAEConfig(), "FlatLandContinuous-v0", set())
    assert applied == {"refit_every": 250} and config.refit_every == 250 and config.refit_until == 2000
    config, applied = apply_world_settings(ForwardVAEConfig(refit_every=0), "FlatLandContinuous-v0", {"refit_every"})
    assert config.refit_every == 0  # a flag the user passes wins
    assert apply_world_settings(BetaVAE.Config(), "FlatLandContinuous-v0", set())[1] == {}


def test_refit_angles_sets_a_lagging_angle_to_the_codes_turn_and_runs_at_its_update():
    """The Sprites runs' failure, on exact codes: rho's angle 0.08 rad short of the turn its codes make (Adam's
    decayed steps left it there). The closing refit sets it to the codes' turn; in training it runs once, at
    refit_angles_at, and is kept in ``refits``."""
    from agent_helpers import N, torus_agent

    agent = torus_agent(angle_error=-0.08)
    agent.refit_angles()
    theta = 2 * np.pi * 5 / N
    np.testing.assert_allclose(agent.rho.effective_angles().detach().numpy(), [-theta, theta, -theta, theta],
                               atol=1e-4)
    trained = tiny_agent("forward", refit_angles_at=2)
    trained.learn(3, progress_bar=False)
    assert trained.refits and {r["update"] for r in trained.refits} == {2} and trained.angles_refit_update == 2


def test_a_refit_due_when_training_stopped_runs_before_the_run_is_saved(tmp_path):
    """A checkpoint saved at the refit's update (a signal right after it) and resumed with nothing left to train:
    no update runs stop_check, so the run's end does the refit, once; a refit beyond the budget is refused."""
    from agents.training.run import RunConfig, train

    agent = tiny_agent("forward", refit_angles_at=2)
    agent.learn(1, progress_bar=False)
    agent.num_steps = 2  # as if the signal came at update 2, before its check
    result = train(agent, RunConfig(total_steps=2, eval_samples=64, progress=False), tmp_path / "run")
    assert result.agent.angles_refit_update == 2 and {r["update"] for r in result.agent.refits} == {2}
    result.agent.finish_training()
    assert {r["update"] for r in result.agent.refits} == {2}  # once
    with pytest.raises(ValueError, match="refit_angles_at 5 is beyond --total-steps 3"):
        train(tiny_agent("forward", refit_angles_at=5), RunConfig(total_steps=3, progress=False), tmp_path / "late")


def test_refit_angles_is_for_one_step_pairs_of_plane_rotations():
    with pytest.raises(ValueError, match="refit_angles_at"):
        tiny_agent("forward", refit_angles_at=-1)
    with pytest.raises(ValueError, match="refit_angles_at"):
        tiny_agent("forward", data={"k": 2}, refit_angles_at=5)
    with pytest.raises(ValueError, match="refit_angles_at"):
        tiny_agent("forward", change_of_basis=True, refit_angles_at=5)
    with pytest.raises(ValueError, match="refit_angles_at"):
        tiny_agent("forward", data=CONTINUOUS, refit_angles_at=5)
