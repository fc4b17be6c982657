"""Symmetry worlds as Gymnasium environments; importing this registers every world."""

from gymnasium.envs.registration import register, registry

from flatland_env.base import SymmetryWorld
from flatland_env.flatland import FlatLandEnv, flatland_spec
from flatland_env.spec import ActionEffect, SymmetrySpec
from flatland_env.sprites import SpritesEnv, sprites_spec
from flatland_env.transitions import Transition, TransitionCollector, load_npz, save_npz
from flatland_env.vector import FlatLandVectorEnv, SpritesVectorEnv, SymmetryVectorEnv

#: every world this package registers: id -> entry point
WORLDS = {
    "FlatLand-v0": "flatland_env.flatland:FlatLandEnv",
    "Sprites-v0": "flatland_env.sprites:SpritesEnv",
}

#: native vector envs (``gym.make_vec`` default); ``vectorization_mode="sync"`` works for every world
VECTOR_ENTRY_POINTS = {
    "FlatLand-v0": "flatland_env.vector:FlatLandVectorEnv",
    "Sprites-v0": "flatland_env.vector:SpritesVectorEnv",
}

for _env_id, _entry in WORLDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point=_entry,
            vector_entry_point=VECTOR_ENTRY_POINTS.get(_env_id),
            max_episode_steps=1000,
        )

__all__ = [
    "VECTOR_ENTRY_POINTS",
    "WORLDS",
    "ActionEffect",
    "FlatLandEnv",
    "FlatLandVectorEnv",
    "SpritesEnv",
    "SpritesVectorEnv",
    "SymmetrySpec",
    "SymmetryVectorEnv",
    "SymmetryWorld",
    "Transition",
    "TransitionCollector",
    "flatland_spec",
    "load_npz",
    "save_npz",
    "sprites_spec",
]
