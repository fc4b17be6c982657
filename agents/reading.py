"""Planning without latent actions: position readers fitted to the codes of the agent's own calibration walk.

:mod:`agents.planning` plans with the group an agent learned: rho says which latent plane each
env action turns, and each plane's angle is read as a position on that action's cycle. Any
encoder can be put through a calibration that does not need rho, and that is the control for
the question "does the learned group help, or the calibration?" (docs/acting.md). The agent
walks its world in one episode, where it knows which env action it took and sees every frame:

1. **Cycles from frames.** From the start frame it repeats each env action until the frame
   comes back: that action's cycle, of order n. Actions whose walks visit the same frames
   share a cycle (FlatLand's x+ and x-); the first one is the cycle's generator and numbers its
   positions (position j: j generator steps from the start). Another action's step on the cycle
   is the position its first step reaches. No code is used here: frames and own actions only.
2. **Walk.** For each cycle, ``calibration_walks`` times: a few random steps of the other cycles'
   actions, then once round the cycle with its generator; then ``link_steps`` uniformly random
   steps (the same budget as the latent planner's link walk and tours). On a product of cyclic
   groups (which the planner requires, as :mod:`agents.planning` does) an action of one cycle
   leaves the others' positions alone, so every frame's position on every cycle is known by
   dead reckoning from the actions taken.
3. **Read.** Per cycle, a classifier from the frame's code (the encoder's latent means,
   standardised) to its position in Z_n is fitted to the walk's frames (:data:`READERS`).
4. **Plan.** A start and a goal frame are read on every cycle; the goal's offset is the
   difference, and a breadth-first table over Z_n with the cycle's actions as generators gives a
   shortest word, as in :mod:`agents.planning`.

The reader sees only the agent's codes and its own actions: no factor labels, no rho. A beta-VAE
goes through it as it is; so can RGrVAE, whose codes then compete on the same footing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agents.planning import MAX_CYCLE, CannotPlanError, check_cyclic_world, walk_cycle
from flatland_env.oracle import FactorTable, cycle_table
from flatland_env.registration import make_world
from flatland_env.validation import check_choice, check_nonnegative_int, check_positive_int

#: classifiers from a standardised code to a position on a cycle (scikit-learn each): the nearest calibration
#: frame's position, multinomial logistic regression, a support-vector machine with an RBF kernel, a small MLP
READERS = ("nearest", "logistic", "svm", "mlp")
#: the reader :meth:`ReaderPlanner.build` fits unless told, and its calibration walks per cycle (chosen on tuning
#: seeds: docs/acting.md)
DEFAULT_READER = "svm"
DEFAULT_WALKS = 12


class Encoder(Protocol):
    """What the reader planner uses of an agent: its world and its codes. Any agent has them."""

    spec: Any
    source: Any

    def encode(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Cycle:
    """One cycle of the world as the agent found it from frames: its order, its actions and their steps."""

    index: int
    order: int
    actions: tuple[int, ...]  # env actions moving along this cycle; the first is the generator (step 1)
    steps: tuple[int, ...]  # each action's step on the cycle, in positions (mod order)
    table: FactorTable


def make_reader(kind: str, seed: int):
    """A fresh scikit-learn classifier of kind ``kind`` (one of :data:`READERS`), standardising codes first."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    check_choice("reader", kind, READERS)
    model = {"nearest": lambda: KNeighborsClassifier(n_neighbors=1),
             "logistic": lambda: LogisticRegression(C=10.0, max_iter=5000),
             "svm": lambda: SVC(C=100.0, gamma="scale"),
             "mlp": lambda: MLPClassifier((64,), solver="lbfgs", max_iter=2000, random_state=seed)}[kind]()
    return make_pipeline(StandardScaler(), model)


def find_cycles(env, start: np.ndarray, num_actions: int, names: tuple[str, ...]) -> tuple[list[Cycle], list, int]:
    """Walk each env action round its cycle from frame ``start`` (the env's state); group actions by the frames
    they visit. Returns the cycles, every walked frame with its positions (frame, {cycle: position}) and the steps
    taken. The env ends where it began."""
    walks = [walk_cycle(env, start, e, names[e])[:-1] for e in range(num_actions)]
    keys = [[f.tobytes() for f in w] for w in walks]
    visited = [frozenset(k) for k in keys]
    cycles: list[Cycle] = []
    for e, key in enumerate(keys):
        if len(key) == 1:
            raise CannotPlanError(f"env action {names[e]!r} does not change the frame: it moves no cycle")
        wider = next((a for a in range(num_actions) if visited[e] < visited[a]), None)
        if wider is not None:  # a step that does not generate the cycle it moves along
            raise CannotPlanError(f"env action {names[e]!r} visits only {len(key)} of the {len(keys[wider])} frames "
                                  f"that {names[wider]!r} goes round: its step does not generate that cycle, so "
                                  f"positions on it cannot be counted in its steps")
        if any(visited[e] == visited[c.actions[0]] for c in cycles):
            continue
        members = tuple(a for a in range(num_actions) if visited[a] == visited[e])
        position = {k: j for j, k in enumerate(key)}
        steps = tuple(position[keys[a][1]] for a in members)  # where each member's first step lands
        n = len(key)
        cycles.append(Cycle(len(cycles), n, members, steps, cycle_table(len(cycles), n, list(zip(members, steps)))))
    sightings = []
    for e, frames in enumerate(walks):
        c = next(c for c in cycles if e in c.actions)
        step = c.steps[c.actions.index(e)]
        sightings += [(f, {c.index: (j * step) % c.order}) for j, f in enumerate(frames)]
    return cycles, sightings, sum(len(w) for w in walks)


class ReaderPlanner:
    """Plans from any encoder's codes, read as positions by classifiers fitted to its own calibration walk."""

    method = "readers"

    def __init__(self, agent: Encoder, cycles: list[Cycle], frames: np.ndarray, positions: np.ndarray,
                 env_steps: int, reader: str = DEFAULT_READER, seed: int = 0, calibration_walks: int | None = None,
                 link_steps: int | None = None) -> None:
        """``calibration_walks`` and ``link_steps``: the budget that gathered ``frames``, for the report."""
        check_choice("reader", reader, READERS)
        self.agent, self.cycles, self.env_steps, self.reader = agent, cycles, env_steps, reader
        self.calibration_walks, self.link_steps = calibration_walks, link_steps
        self.orders = np.array([c.order for c in cycles], np.int64)
        z = agent.encode(frames)
        self.readers = [make_reader(reader, seed).fit(z, positions[:, c.index]) for c in cycles]
        self.calibration_frames = len(frames)

    @classmethod
    def build(cls, agent: Encoder, link_steps: int = 256, seed: int = 0, calibration_walks: int = DEFAULT_WALKS,
              reader: str = DEFAULT_READER) -> "ReaderPlanner":
        """Find the cycles, walk them and ``link_steps`` random steps in one episode, and fit the readers."""
        check_positive_int("link_steps", link_steps)
        check_positive_int("calibration_walks", calibration_walks)
        check_nonnegative_int("seed", seed)
        check_choice("reader", reader, READERS)
        check_cyclic_world(agent)
        spec = agent.spec
        names = tuple(spec.action_names)
        env = make_world(agent.source.env_id, max_episode_steps=int(link_steps) + (2 + 2 * int(calibration_walks))
                         * MAX_CYCLE * spec.num_actions, **agent.source.config.env_kwargs)
        try:
            rng = np.random.default_rng(seed)
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            cycles, sightings, steps = find_cycles(env, obs, spec.num_actions, names)
            frames = [f for f, _ in sightings]
            positions = [[seen.get(c.index, 0) for c in cycles] for _, seen in sightings]
            here = np.zeros(len(cycles), np.int64)  # dead reckoning from the start frame
            move = {a: (c.index, s) for c in cycles for a, s in zip(c.actions, c.steps)}

            def take(a: int) -> None:
                nonlocal obs, steps
                obs = env.step(int(a))[0]
                steps += 1
                c, s = move[int(a)]
                here[c] = (here[c] + s) % cycles[c].order
                frames.append(obs)
                positions.append(here.tolist())

            for c in cycles:
                others = [a for a in move if move[a][0] != c.index]
                for _ in range(int(calibration_walks)):
                    for _ in range(int(rng.integers(1, c.order + 1)) if others else 0):
                        take(int(rng.choice(others)))
                    for _ in range(c.order):
                        take(c.actions[0])
            for a in rng.integers(spec.num_actions, size=int(link_steps)):
                take(int(a))
        finally:
            env.close()
        return cls(agent, cycles, np.stack(frames), np.array(positions, np.int64), steps, reader, seed,
                   int(calibration_walks), int(link_steps))

    def read(self, z: np.ndarray) -> np.ndarray:
        """(N, cycles) each code's position on each cycle, in Z_order."""
        return np.stack([r.predict(z) for r in self.readers], axis=1).astype(np.int64)

    def offsets(self, z: np.ndarray, z_goal: np.ndarray) -> np.ndarray:
        """Per cycle, the goal's offset in generator steps, (N, cycles) in Z_order."""
        return (self.read(z_goal) - self.read(z)) % self.orders

    def generators(self) -> list[tuple[int, int]]:
        """Per cycle, (order, the generator's step): the generator numbers the positions, so its step is 1."""
        return [(c.order, 1) for c in self.cycles]

    def plan(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[int]:
        """A shortest list of env actions from frame ``obs`` to the frame ``goal_obs`` as the readers see them."""
        return self.plan_batch(np.asarray(obs)[None], np.asarray(goal_obs)[None])[0]

    def plan_batch(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[list[int]]:
        """:meth:`plan` for (N, H, W, C) frames, encoded in one pass."""
        offsets = self.offsets(self.agent.encode(obs), self.agent.encode(goal_obs))
        return [[a for c, m in zip(self.cycles, row) for a in c.table.word(int(m))] for row in offsets]

    def report(self) -> dict[str, Any]:
        """Plain data: the cycles found, the reader and the env steps of the calibration."""
        names = self.agent.spec.action_names
        return {"env_steps": self.env_steps, "method": self.method, "reader": self.reader,
                "calibration_walks": self.calibration_walks, "link_steps": self.link_steps,
                "calibration_frames": self.calibration_frames,
                "cycles": [{"order": c.order, "actions": [names[a] for a in c.actions], "steps": list(c.steps),
                            "diameter": int(c.table.distance.max())} for c in self.cycles]}
