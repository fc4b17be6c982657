"""Hand play runs headless from a scripted key sequence and exits cleanly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import flatland_env  # noqa: F401
from flatland_env.play import key_names, parse_keys, play
from flatland_env.worlds.flatland import flatland_spec
from flatland_env.worlds.sprites import sprites_spec

#: the repository this test file belongs to; the script runs on its packages (PYTHONPATH), not an installed copy
ROOT = Path(__file__).resolve().parents[2]


def test_key_maps_from_action_names():
    assert key_names(flatland_spec().action_names) == ["left", "right", "up", "down"]
    assert key_names(sprites_spec().action_names) == list("12345678")
    assert key_names(["up", "jump", "left", "duck"]) == ["up", "1", "left", "2"]  # arrows where they fit
    with pytest.raises(ValueError, match="distinct names"):
        key_names(["up", "up"])
    assert parse_keys(" right, right  up ") == ["right", "right", "up"]


def test_scripted_flatland_session(tmp_path):
    shot = tmp_path / "shot.png"
    result = play("FlatLand-v0", scale=4, seed=0, keys="right " * 33 + "left right", screenshot=shot)
    assert result.steps == 35 and result.last_action == "right" and shot.stat().st_size > 0
    start = play("FlatLand-v0", scale=2, seed=0, keys="space", max_frames=5)
    assert start.steps == 0 and result.factors == start.factors  # 33 rights, then left right: identity
    reset = play("Sprites-v0", scale=2, seed=0, keys="1 8 r 2 escape 3")
    assert (reset.steps, reset.resets, reset.last_action) == (3, 1, "scale+")


def test_bad_play_input():
    with pytest.raises(ValueError, match="unknown key 'blorp'"):
        play(keys="blorp", max_frames=1)
    with pytest.raises(ValueError, match="scale must be"):
        play(scale=0)
    with pytest.raises(ValueError, match="not a symmetry world"):
        play("CartPole-v1", max_frames=1)


def test_cli_refuses_a_world_without_a_symmetry_spec():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "play.py"), "--headless", "--env", "CartPole-v1"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 2 and "not a symmetry world" in out.stderr and "Traceback" not in out.stderr


def test_cli_runs_headless():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "play.py"), "--headless", "--env", "Sprites-v0", "--keys", "1 2 8",
         "--seed", "0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert "steps=3" in out.stdout
