"""Symmetry worlds as Gymnasium environments; importing this registers every world."""

from gymnasium.envs.registration import register, registry

from flatland_env.base import SymmetryWorld
from flatland_env.flatland import FlatLandEnv, flatland_spec
from flatland_env.spec import ActionEffect, SymmetrySpec
from flatland_env.sprites import SpritesEnv, sprites_spec

#: every world this package registers: id -> entry point
WORLDS = {
    "FlatLand-v0": "flatland_env.flatland:FlatLandEnv",
    "Sprites-v0": "flatland_env.sprites:SpritesEnv",
}

for _env_id, _entry in WORLDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry, max_episode_steps=1000)

__all__ = [
    "WORLDS",
    "ActionEffect",
    "FlatLandEnv",
    "SpritesEnv",
    "SymmetrySpec",
    "SymmetryWorld",
    "flatland_spec",
    "sprites_spec",
]
