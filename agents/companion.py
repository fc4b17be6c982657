"""A trained agent beside a person playing its world (``scripts/play.py --agent``; docs/acting.md).

Three modes:

- ``watch``: the agent's reconstruction of the current frame; after each key press, the latent
  action its own inference finds for the (previous, current) pair and the env action linked to
  it; and the frame it predicts, decode(rho(a) z), for pressing the same key again.
- ``joystick``: number keys apply the learned latent actions straight to an imagined latent z,
  which the decoder draws; world keys step the world *and* apply their linked latent action to
  z, so the imagination can be watched drifting from (or keeping up with) the world.
- ``goal``: a goal frame and the agent's plan to it, replanned after every step; ``p`` plays the
  next planned action, ``g`` draws a new goal.

Linking env actions to latent actions is the planner's (agents/planning.py); an agent that cannot
link (a beta-VAE, or an untrained agent) still shows its reconstruction in ``watch`` mode.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy as np

from agents.base import BaseAgent
from agents.planning import CannotPlanError, plane_angles
from flatland_env.oracle import CyclicOracle
from flatland_env.play import Companion

MODES = ("watch", "joystick", "goal")


def compress(names: list[str]) -> str:
    """``["right", "right", "up"]`` -> ``"right x2, up"``."""
    parts = [(n, len(list(g))) for n, g in groupby(names)]
    return ", ".join(n if k == 1 else f"{n} x{k}" for n, k in parts) or "-"


class AgentCompanion(Companion):
    """Draws what an agent makes of a play session; see the module docstring for the modes."""

    def __init__(self, agent: BaseAgent, env: Any, mode: str = "watch") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.agent, self.mode, self.world = agent, mode, env.unwrapped
        self.title = f"agent: {agent.algo}, {mode}"
        self.moves: list[tuple[str, Any]] = self.world.hand_actions()
        self.planner, self.why = None, ""
        try:
            self.planner = agent.planner() if hasattr(agent, "planner") else agent.plan(None, None)
        except CannotPlanError as e:
            self.why = str(e)
        if mode != "watch" and self.planner is None:
            raise ValueError(f"{mode} mode needs an agent whose latent actions are linked to the world's: {self.why}")
        self.link = {} if self.planner is None else {link.env_action: link.latent_action
                                                     for link in self.planner.links}
        self.oracle = CyclicOracle(self.world.symmetry) if mode == "goal" else None
        self.latent_keys: list[str] = []
        self.obs = self.z = self.z_imagined = self.goal = self.goal_frame = None
        self.inferred: int | None = None
        self.last_move = 0
        self.plan: list[int] = []

    # -- the play loop's hooks ---------------------------------------------------------------
    def bind(self, free_keys: list[str]) -> list[tuple[str, str]]:
        if self.mode == "joystick":
            n = self.agent.num_latent_actions
            if n > len(free_keys):
                raise ValueError(f"{n} latent actions but only {len(free_keys)} free keys")
            self.latent_keys = free_keys[:n]
            names = {a: self.moves[e][0] for e, a in self.link.items() if e < len(self.moves)}
            return [(k, f"z <- rho(a{i}) z" + (f" ~{names[i]}" if i in names else "")) for i, k in
                    enumerate(self.latent_keys)]
        if self.mode == "goal":
            if not {"p", "g"} <= set(free_keys):
                raise ValueError("goal mode needs the keys p and g free")
            return [("p", "follow the plan"), ("g", "new goal")]
        return []

    def reset(self, obs: np.ndarray, info: dict) -> None:
        self.obs, self.inferred = obs, None
        self.z = self.agent.encode(obs[None])
        self.z_imagined = self.z.copy()
        if self.mode == "goal":
            self._new_goal(np.asarray(info["factors"]))

    def step(self, prev_obs: np.ndarray, move: int, obs: np.ndarray, info: dict) -> None:
        self.obs, self.last_move = obs, move
        self.z = self.agent.encode(obs[None])
        if hasattr(self.agent, "infer_actions") and self.agent.spec.is_discrete:  # a continuous world has no classes
            self.inferred = int(self.agent.infer_actions(prev_obs[None], obs[None])[0])
        latent = self.link.get(self.moves[move][1])
        if self.mode == "joystick" and latent is not None:
            self.z_imagined = self._rotate(self.z_imagined, latent)
        if self.mode == "goal":
            self.plan = self.agent.plan(obs, self.goal_frame)

    def key(self, name: str) -> int | None:
        if name in self.latent_keys:
            self.z_imagined = self._rotate(self.z_imagined, self.latent_keys.index(name))
            return None
        if name == "g":
            self._new_goal(np.asarray(self.world.factors))
            return None
        if name == "p" and self.plan:
            return next(i for i, (_, action) in enumerate(self.moves) if action == self.plan[0])
        return None

    def frames(self) -> list[tuple[str, np.ndarray]]:
        shown = [("reconstruction", self.agent.decode(self.z)[0])]
        if self.mode == "joystick":
            shown.insert(0, ("imagined: decode(z)", self.agent.decode(self.z_imagined)[0]))
        elif self.mode == "goal":
            shown.insert(0, ("goal", self.goal_frame))
        elif self.link:
            name, action = self.moves[self.last_move]
            latent = self.link.get(action)
            if latent is not None:
                shown.append((f"predicted after {name}", self.agent.predict_next(self.obs[None], latent)[0]))
        return shown

    def lines(self) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        if self.planner is None:
            return [("cannot link:", ""), *[(w, "") for w in _wrap(self.why, 30)[:6]]]
        if self.inferred is not None:
            matched = [self.moves[e][0] for e, a in self.link.items() if a == self.inferred] or ["?"]
            rows.append(("inferred", f"a{self.inferred} = {'/'.join(matched)}"))
        rows.append(("linked", f"{self.planner.env_steps} own steps"))
        rows += [(f"  {link.name}", f"a{link.latent_action} k={link.units}/{link.order}")
                 for link in self.planner.links]
        if self.mode == "joystick":
            planes = np.arange(self.agent.config.latent_size // 2)
            angles = plane_angles(self.z_imagined @ self.agent.latent_basis().T, planes)[0]
            rows.append(("imagined z", " ".join(f"{a:+.2f}" for a in angles)))
        if self.mode == "goal":
            dist = self.oracle.distance(self.world.factors, self.goal)
            reached = np.array_equal(self.world.factors, self.goal)
            rows += [("goal", "reached" if reached else f"{dist} steps (oracle)"),
                     ("plan", f"{len(self.plan)} steps"),
                     *[(f"  {part}", "") for part in compress([self.world.action_name(a) for a in self.plan]
                                                              ).split(", ")[:6]]]
        return rows

    # -- helpers -----------------------------------------------------------------------------
    def _rotate(self, z: np.ndarray, latent: int) -> np.ndarray:
        return z @ self.agent.action_representations()[latent].T

    def _new_goal(self, start: np.ndarray) -> None:
        offsets = self.oracle.reachable_offsets()
        offset = offsets[self.world.np_random.integers(len(offsets))]
        self.goal = (start + offset) % np.asarray(self.world.symmetry.factor_sizes)
        self.goal_frame = self.world.render_states(self.goal[None])[0]
        self.plan = self.agent.plan(self.obs, self.goal_frame)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)
