"""One place that registers symmetry worlds with Gymnasium and builds them back from an id.

A world module calls :func:`register_world` once, at import time, with its single-env and
(optionally) its native vector-env classes; ``import flatland_env`` imports every module
of :mod:`flatland_env.worlds`, so a new world is one new file there and no edit elsewhere.

:func:`make_world` and :func:`make_vector_world` are how the rest of the toolkit builds a
world from an id: they refuse, up front and with a message naming the registered symmetry
worlds, an id that is unknown or whose env has no symmetry spec (``CartPole-v1``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import registry

#: a world of this toolkit never ends on its own; TimeLimit cuts an episode after this many steps
DEFAULT_MAX_EPISODE_STEPS = 1000

#: ids registered through :func:`register_world` (Gymnasium's registry is the other half of this record)
_REGISTERED: set[str] = set()


def register_world(
    env_id: str,
    entry_point: type[gym.Env],
    vector_entry_point: type | None = None,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    **kwargs: Any,
) -> None:
    """Register a symmetry world (idempotent: importing a world module twice registers it once).

    ``entry_point`` must be a :class:`~flatland_env.base.SymmetryWorld` subclass, so that
    every registered world exposes its ground truth the same way.
    """
    from flatland_env.base import SymmetryWorld

    if not (isinstance(entry_point, type) and issubclass(entry_point, SymmetryWorld)):
        raise ValueError(f"entry_point of {env_id!r} must be a SymmetryWorld subclass, got {entry_point!r}")
    _REGISTERED.add(env_id)
    if env_id in registry:
        return
    gym.register(
        id=env_id,
        entry_point=f"{entry_point.__module__}:{entry_point.__qualname__}",
        vector_entry_point=(
            None if vector_entry_point is None else f"{vector_entry_point.__module__}:{vector_entry_point.__qualname__}"
        ),
        max_episode_steps=max_episode_steps,
        kwargs=kwargs,
    )


def register_goal_task(env_id: str, world_id: str, **goal_kwargs: Any) -> None:
    """Register the goal-reaching task on a symmetry world (:class:`~flatland_env.goal.GoalWrapper`; idempotent).

    A task is not a world (its observation holds a goal frame too), so it stays out of
    :func:`symmetry_world_ids`; the wrapper truncates at its own ``horizon``.
    """
    if env_id in registry:
        return
    gym.register(id=env_id, entry_point="flatland_env.goal:make_goal_env",
                 kwargs={"world_id": world_id, **goal_kwargs})


def symmetry_world_ids() -> list[str]:
    """Ids of every world registered with :func:`register_world` (all of them, after ``import flatland_env``)."""
    return sorted(_REGISTERED)


def is_symmetry_world(env_id: str) -> bool:
    """Whether a registered id makes a SymmetryWorld (also for ids registered with ``gym.register`` directly)."""
    from flatland_env.base import SymmetryWorld

    if env_id in _REGISTERED:
        return True
    if env_id not in registry:
        return False
    cls = _entry_class(registry[env_id].entry_point)
    return cls is not None and issubclass(cls, SymmetryWorld)


def check_world_id(env_id: Any) -> str:
    """Return ``env_id`` if it names a registered symmetry world, else raise a ValueError saying which do."""
    if not isinstance(env_id, str):
        raise ValueError(f"env id must be a string, got {type(env_id).__name__}")
    if not is_symmetry_world(env_id):
        known = symmetry_world_ids()
        what = "is not a symmetry world (it has no symmetry spec)" if env_id in registry else "is not registered"
        raise ValueError(f"env id {env_id!r} {what}; registered symmetry worlds: {', '.join(known)}")
    return env_id


def world_agent_settings(env_id: str) -> dict[str, Any]:
    """The agent settings a world suggests (:attr:`~flatland_env.base.SymmetryWorld.agent_settings`), read off
    its class without building it; empty for a world that suggests none."""
    cls = _entry_class(registry[check_world_id(env_id)].entry_point)
    return dict(getattr(cls, "agent_settings", {}) or {})


def make_world(env_id: str, **env_kwargs: Any) -> gym.Env:
    """``gym.make`` of a symmetry world, after checking that the id is one (see :func:`check_world_id`)."""
    return gym.make(check_world_id(env_id), **env_kwargs)


def make_vector_world(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``gym.make_vec`` of a symmetry world: its native vector env where it has one, else ``sync``."""
    check_world_id(env_id)
    native = registry[env_id].vector_entry_point is not None
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=None if native else "sync", **env_kwargs)


def _entry_class(entry_point: Any) -> type | None:
    """The class an entry point names, or None when it is a factory function or cannot be imported."""
    if isinstance(entry_point, type):
        return entry_point
    if not isinstance(entry_point, str) or ":" not in entry_point:
        return None
    module, _, name = entry_point.partition(":")
    try:
        import importlib

        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) else None
