"""A planned episode recorded and drawn: exact on a known torus encoder; the GIF script's outputs and errors."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from agent_helpers import tiny_agent, torus_agent

import agents
from acting.rollout_gif import episode_frames, planned_episode
from agents.planning import CannotPlanError


def test_a_planned_episode_is_recorded_step_by_step_and_reaches_the_goal():
    episode = planned_episode(torus_agent(), seed=5)
    assert episode.reached and len(episode.steps) == episode.shortest + 1 > 2
    assert [s.action for s in episode.steps][-1] is None
    assert all(s.action in ("left", "right", "up", "down") for s in episode.steps[:-1])
    np.testing.assert_allclose(np.cos(episode.steps[-1].angles), np.cos(episode.goal_angles), atol=1e-5)
    np.testing.assert_array_equal(episode.steps[-1].frame, episode.goal)
    for before, after in zip(episode.steps, episode.steps[1:]):  # the exact encoder's rho predicts the next angles
        np.testing.assert_allclose(np.exp(1j * before.predicted_angles), np.exp(1j * after.angles), atol=1e-4)
    pictures = episode_frames(episode, scale=1)
    assert len(pictures) == len(episode.steps)
    assert {p.shape for p in pictures} == {pictures[0].shape} and pictures[0].dtype == np.uint8
    assert pictures[0].shape[2] == 3 and pictures[0].std() > 0
    with pytest.raises(ValueError, match="scale"):
        episode_frames(episode, scale=0)
    with pytest.raises(ValueError, match="seed"):
        planned_episode(torus_agent(), seed=-1)


def test_an_episode_cut_by_the_horizon_ends_with_the_agents_own_reconstruction():
    cut = planned_episode(torus_agent(), seed=5, horizon=2)
    assert not cut.reached and len(cut.steps) == 3 and cut.steps[-1].action is None
    last = cut.steps[-1]
    np.testing.assert_allclose(last.angles, last.predicted_angles)  # no action: the prediction is the frame itself


def test_the_script_writes_a_gif_or_says_why_it_cannot(tmp_path, load_script, monkeypatch, capsys):
    script = load_script("rollout_gif")
    vae = tmp_path / "vae.pt"
    tiny_agent("vae").save(vae)
    assert script.main([str(vae), "--out", str(tmp_path / "v.gif")]) == 2
    assert "cannot plan" in capsys.readouterr().err and not (tmp_path / "v.gif").exists()
    assert script.main([str(tmp_path / "missing.pt")]) == 2
    torus = torus_agent()
    monkeypatch.setattr(agents.BaseAgent, "load", classmethod(lambda cls, *a, **k: torus))
    out = tmp_path / "gifs" / "r.gif"
    assert script.main(["any.pt", "--seed", "2", "--scale", "1", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    frames = iio.imread(out)
    assert printed["reached"] and frames.shape[0] == printed["frames"] == printed["steps"] + 1
    assert script.main(["any.pt", "--fps", "0"]) == 2
    assert script.main(["any.pt", "--out", str(tmp_path / "r.png")]) == 2 and not (tmp_path / "r.png").exists()
    assert script.main(["any.pt", "--scale", "9"]) == 2


def test_an_agent_without_latent_actions_cannot_be_recorded():
    with pytest.raises(CannotPlanError, match="no latent actions"):
        planned_episode(tiny_agent("vae"))
