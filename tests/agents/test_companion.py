"""Playing beside an agent: its panels, the latent joystick and the goal mode, driven by scripted keys."""

import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from agent_helpers import tiny_agent, torus_agent
from conftest import REPO

from agents.companion import AgentCompanion, compress
from flatland_env.play import LINE, PANEL_WIDTH, play


def test_watch_mode_infers_links_and_predicts(tmp_path):
    agent = torus_agent()
    made = []

    def factory(env):
        made.append(AgentCompanion(agent, env, "watch"))
        return made[0]

    result = play("FlatLand-v0", scale=2, seed=0, keys="right right up", companion_factory=factory)
    companion = made[0]
    assert result.steps == 3 and companion.inferred == 2  # the latent action linked to "up"
    rows = dict(companion.lines())
    assert rows["inferred"] == "a2 = up" and rows["  left"] == "a0 k=28/33"
    titles = [t for t, _ in companion.frames()]
    assert titles == ["reconstruction", "predicted after up"]
    assert all(f.shape == (64, 64, 1) and f.dtype == np.uint8 for _, f in companion.frames())


def test_joystick_moves_the_imagined_latent_and_goal_mode_follows_the_plan():
    agent = torus_agent()
    made = []

    def joystick(env):
        made.append(AgentCompanion(agent, env, "joystick"))
        return made[-1]

    play("FlatLand-v0", scale=2, seed=0, keys="1 1 3", companion_factory=joystick)  # keys 1..4: a0 twice, a2 once
    c = made[-1]
    z0 = c.z  # the world never moved: number keys only turn the imagination
    rho = agent.action_representations()
    turned = z0 @ rho[0].T @ rho[0].T @ rho[2].T
    np.testing.assert_allclose(c.z_imagined, turned, atol=1e-5)

    def goal(env):
        made.append(AgentCompanion(agent, env, "goal"))
        return made[-1]

    result = play("FlatLand-v0", scale=2, seed=0, keys="p " * 40, companion_factory=goal)
    c = made[-1]
    assert np.array_equal(np.asarray(result.factors), c.goal) and c.plan == []
    assert dict(c.lines())["goal"] == "reached" and 1 <= result.steps <= 32


def test_an_agent_that_cannot_link_still_shows_its_reconstruction():
    companion_of = []
    play("FlatLand-v0", scale=2, seed=0, keys="left",
         companion_factory=lambda env: companion_of.append(AgentCompanion(tiny_agent("vae"), env)) or companion_of[0])
    c = companion_of[0]
    assert [t for t, _ in c.frames()] == ["reconstruction"] and c.lines()[0] == ("cannot link:", "")
    with pytest.raises(ValueError, match="goal mode needs an agent"):
        play("FlatLand-v0", keys="left", companion_factory=lambda env: AgentCompanion(tiny_agent("vae"), env, "goal"))
    with pytest.raises(ValueError, match="mode must be one of"):
        AgentCompanion(tiny_agent("vae"), None, "dance")
    assert compress(["right", "right", "up"]) == "right x2, up" and compress([]) == "-"


def test_cli_screenshot_beside_the_agent(tmp_path):
    ckpt, shot = tmp_path / "agent.pt", tmp_path / "shot.png"
    tiny_agent("rgrvae").save(ckpt)
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "play.py"), "--headless", "--agent", str(ckpt), "--keys",
         "right up", "--scale", "4", "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    side = 64 * 4
    rows = 4 + 2 + 12 + 16  # hand actions, factors, the fixed rows, room for the agent's rows
    assert iio.imread(shot).shape[:2] == (max(side, LINE * rows), side + side // 2 + PANEL_WIDTH)
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "play.py"), "--headless", "--goal"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert bad.returncode == 2 and "need --agent" in bad.stderr
