"""Symmetry worlds as Gymnasium environments; importing this registers every world.

Each module of :mod:`flatland_env.worlds` defines one world and registers it itself
(:func:`~flatland_env.registration.register_world`); they are all imported here, so adding
a world is adding a file there.
"""

import importlib
import pkgutil

from flatland_env import worlds as _worlds
from flatland_env.base import SymmetryWorld
from flatland_env.finite_group import FiniteGroupSpec
from flatland_env.registration import (
    check_world_id,
    make_vector_world,
    make_world,
    register_world,
    symmetry_world_ids,
    world_agent_settings,
)
from flatland_env.spec import ActionEffect, GroupSpec, PixelPeriod, SymmetrySpec, spec_from_json
from flatland_env.torus import TorusSpec
from flatland_env.transitions import Transition, TransitionCollector, load_npz, save_npz
from flatland_env.vector import SymmetryVectorEnv

for _module in pkgutil.iter_modules(_worlds.__path__):
    importlib.import_module(f"{_worlds.__name__}.{_module.name}")

__all__ = [
    "ActionEffect",
    "FiniteGroupSpec",
    "GroupSpec",
    "PixelPeriod",
    "SymmetrySpec",
    "SymmetryVectorEnv",
    "SymmetryWorld",
    "TorusSpec",
    "Transition",
    "TransitionCollector",
    "check_world_id",
    "load_npz",
    "make_vector_world",
    "make_world",
    "register_world",
    "save_npz",
    "world_agent_settings",
    "spec_from_json",
    "symmetry_world_ids",
]
