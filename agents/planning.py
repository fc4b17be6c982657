"""Planning to a goal frame with the latent group actions an agent learned (docs/acting.md).

An agent with latent actions (RGrVAE, ForwardVAE) learned rotations rho(a) on latent planes,
but not which *env* action each one is: RGrVAE never saw an action label. Before it can
plan it links the two, from its own interaction with the world, where it knows which env
action it took:

1. **Link.** It takes ``link_steps`` uniformly random env steps (256 by default), runs its own
   :meth:`~agents.latent_actions.LatentActionAgent.infer_actions` on the pairs it saw (the
   policy for RGrVAE; for ForwardVAE, which has no policy, the latent action whose rho best
   maps z(obs) to z(next_obs)) and links each env action to its majority latent action, and
   so to that action's latent plane.
2. **Calibrate.** A learned angle can be slightly off, and 2*pi/angle is not the order of the
   cycle. For each env action it repeats that action until the frame comes back (the
   cycle's order n: 33 on FlatLand), encodes the walk and measures the action's mean
   per-step rotation of its plane: k units of 2*pi/n. It refuses to plan if the action also
   turns another plane.
   The walk also visits every position of the cycle: the agent keeps the angle at which it
   saw each one (position j*k mod n after j steps). It walks each action's cycle
   ``calibration_walks`` times (3 by default), on one tour per plane: between two walks it
   takes 1 to n random steps of the actions linked to other planes, so the other factors
   differ from walk to walk while this plane's numbering stays the same. (That rests on the
   agent's own evidence that those actions do not turn this plane: their walks' off-plane
   rotation is below half a unit. On FlatLand the tours take 12 * 33 env steps plus at most
   10 * 33 between walks. A factor whose cycle length depends on another one, such as a
   sprite's orientation, whose order depends on its shape's symmetry, is calibrated at the
   shape the tour starts from.)
3. **Correct for the other planes.** A learned encoder is not exactly a product: the angle at
   which a plane shows position j shifts a little with the other factors (on FlatLand, by up
   to half a unit near the wrap-around edge, enough to misread a position). Per position the
   agent fits that shift as a first-order Fourier series in the other planes' angles (ridge
   least squares over its calibration walks and its dead-reckoned link walk), so the angle
   it expects for position j depends on what the rest of the frame's code says.
4. **Plan.** For a start and a goal frame, each plane's angle of z(obs) and of z(goal) gives a
   position in Z_n, and the goal's offset m is their difference. ``method="cycle"`` (the
   default) takes the position whose expected angle (calibrated, corrected for the frame's
   other planes) is nearest; ``"arithmetic"`` divides the angle difference by the unit
   2*pi/n and rounds, which assumes the latent circle is evenly spaced (a learned one is not
   quite: at FlatLand's wrap-around edges the angles are off by up to a quarter radian, more
   than half a unit). A breadth-first table over Z_n,
   built once with each linked action's k as a generator, gives a shortest word reaching m
   (so the shorter way round the cycle). The plan is the planes' words, one after the
   other: on a product of cyclic groups they commute.

On any other group (the cube's rotations, which do not commute; the continuous torus) or
with latent actions that are not rotations, this arithmetic does not apply and planning
raises :class:`CannotPlanError` saying why. A plain beta-VAE has no latent actions at all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from flatland_env.oracle import FactorTable, cycle_table
from flatland_env.registration import make_world
from flatland_env.validation import check_choice, check_nonnegative_int, check_positive_int


class LatentActionAgent(Protocol):
    """What the planner uses of an agent with latent actions (:class:`agents.latent_actions.LatentActionAgent`):
    its world, codes, inferred latent actions and their angles. An interface, so planning imports no agent."""

    spec: Any
    source: Any
    config: Any
    obs_shape: tuple[int, ...]
    num_latent_actions: int

    def encode(self, obs: np.ndarray) -> np.ndarray: ...

    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray: ...

    def angle_table(self) -> list[dict[str, Any]]: ...

    def latent_basis(self) -> np.ndarray: ...

#: env steps of the random walk whose pairs link env actions to latent actions
LINK_STEPS = 256
#: the longest cycle calibration walks before giving up
MAX_CYCLE = 512
#: calibration walks round each env action's cycle (one tour per plane, see the module docstring)
CALIBRATION_WALKS = 3
#: ridge weight of the cross-plane correction's Fourier coefficients (not of its offset)
CORRECTION_RIDGE = 0.1
#: how a frame's angle becomes a position on its plane's cycle (see the module docstring)
METHODS = ("cycle", "arithmetic")


class CannotPlanError(RuntimeError):
    """The agent cannot plan in this world with what it learned; the message says why."""


@dataclass(frozen=True)
class ActionLink:
    """What the agent found out about one env action from its own interaction."""

    env_action: int
    name: str
    latent_action: int  # majority of its own infer_actions over the pairs of this env action
    agreement: float  # fraction of those pairs inferred as latent_action
    plane: int  # the latent plane latent_action rotates
    rho_angle: float  # the learned angle of latent_action (radians)
    order: int  # env steps until the frame came back: the order of the cycle the action generates
    measured_angle: float  # mean per-step rotation of the plane along that walk (radians)
    units: int  # measured_angle in units of 2*pi/order, mod order
    off_plane: float  # largest mean per-step rotation of any other plane (radians)


@dataclass(frozen=True)
class PlaneCycle:
    """A latent plane as the cycle Z_order, with the linked env actions as generators."""

    plane: int
    order: int
    table: FactorTable
    angles: np.ndarray  # (order,) the angle at which the agent saw each position of the cycle
    others: np.ndarray  # the other planes, whose angles shift this plane's expected angle
    correction: np.ndarray  # (order, 1 + 2 * len(others)) per position: coefficients on fourier_features

    def expected_angles(self, other_angles: np.ndarray) -> np.ndarray:
        """(N, order): the angle at which each position should show, given each frame's other planes' angles."""
        return self.angles[None] + fourier_features(other_angles) @ self.correction.T


@dataclass(frozen=True)
class Calibration:
    """One env action's calibration walk: its link, and the angle of every position it visited on its plane."""

    link: ActionLink
    angles: np.ndarray  # (order,) angle of position u (u = j * units mod order after j steps from the walk's start)
    context: np.ndarray  # (order, planes) the angles of every plane where the walk saw position u


def plane_angles(z: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """The angle of each latent point in each given plane, (N, len(planes))."""
    return np.arctan2(z[:, 2 * planes + 1], z[:, 2 * planes])


def wrap(angle: np.ndarray | float) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def circular_mean(angles: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.angle(np.exp(1j * angles).mean(axis=axis))


def fourier_features(angles: np.ndarray) -> np.ndarray:
    """(N, 1 + 2 * K) from (N, K) angles: 1, then cos and sin of each angle."""
    angles = np.asarray(angles, np.float64)
    return np.concatenate([np.ones((len(angles), 1)), np.cos(angles), np.sin(angles)], axis=1)


def fit_correction(positions: np.ndarray, residuals: np.ndarray, other_angles: np.ndarray, order: int,
                   ridge: float = CORRECTION_RIDGE) -> np.ndarray:
    """Per position, ridge least squares of the angle's residual on fourier_features of the other planes' angles.

    ``residuals[t]`` is how far sighting t's angle sits from its position's mean angle; the offset is not
    shrunk, the Fourier coefficients are (so a position seen at few other-plane values keeps a small
    correction). Returns (order, 1 + 2 * K).
    """
    features = fourier_features(other_angles)
    penalty = ridge * np.eye(features.shape[1])
    penalty[0, 0] = 0.0
    coef = np.zeros((order, features.shape[1]))
    for u in range(order):
        rows = positions == u
        if rows.sum() == 0:
            continue
        x, y = features[rows], residuals[rows]
        coef[u] = np.linalg.solve(x.T @ x + penalty + 1e-9 * np.eye(len(penalty)), x.T @ y)
    return coef


class LatentPlanner:
    """Plans with an agent's latent actions once they are linked to env actions and calibrated."""

    def __init__(self, agent: LatentActionAgent, walks: list[Calibration], env_steps: int,
                 method: str = "cycle", link_walk: LinkWalk | None = None) -> None:
        check_choice("method", method, METHODS)
        self.agent, self.env_steps, self.method = agent, env_steps, method
        self.links = sorted(first_links(walks), key=lambda link: link.env_action)
        self.calibration_walks = len(walks) // max(len(self.links), 1)
        self.planes = self._cycles(walks, link_walk)
        self._plane_ids = np.array([c.plane for c in self.planes])

    @classmethod
    def build(cls, agent: LatentActionAgent, link_steps: int = LINK_STEPS, seed: int = 0,
              method: str = "cycle", calibration_walks: int = CALIBRATION_WALKS) -> "LatentPlanner":
        """Link and calibrate from ``link_steps`` + ``calibration_walks`` cycles per env action of its own env steps."""
        check_positive_int("link_steps", link_steps)
        check_positive_int("calibration_walks", calibration_walks)
        check_nonnegative_int("seed", seed)
        check_choice("method", method, METHODS)
        check_plannable(agent)
        env = make_world(agent.source.env_id, max_episode_steps=int(link_steps) + 1 + 2 * MAX_CYCLE * int(
            calibration_walks) * agent.spec.num_actions, **agent.source.config.env_kwargs)
        try:
            rng = np.random.default_rng(seed)
            walk = link_pairs(agent, env, int(link_steps), rng)
            links = []  # (env action, majority latent action, agreement)
            for e in range(agent.spec.num_actions):
                taken = walk.inferred[walk.actions == e]
                if len(taken) == 0:
                    raise CannotPlanError(f"env action {e} was never taken in {link_steps} random steps; "
                                          f"use more link steps")
                votes = np.bincount(taken, minlength=agent.num_latent_actions)
                links.append((e, int(votes.argmax()), float(votes.max() / len(taken))))
            walks, steps = calibration_tours(agent, env, links, int(calibration_walks), rng)
            steps += int(link_steps)
        finally:
            env.close()
        return cls(agent, walks, steps, method, walk)

    @staticmethod
    def _cycles(walks: list[Calibration], link_walk: LinkWalk | None) -> list[PlaneCycle]:
        cycles = []
        linked = sorted({w.link.plane for w in walks})
        for plane in linked:
            on_plane = [w for w in walks if w.link.plane == plane]
            on = first_links(on_plane)
            orders = {link.order for link in on}
            if len(orders) > 1:
                raise CannotPlanError(
                    f"env actions {[link.name for link in on]} all turn latent plane {plane} but generate cycles of "
                    f"different orders {sorted(orders)}: the plane does not hold one cyclic factor"
                )
            n = orders.pop()
            seen_angles = np.stack([w.angles for w in on_plane])  # (walks, n), one numbering: see calibration_tours
            context = np.stack([w.context for w in on_plane])  # (walks, n, planes)
            angles = circular_mean(seen_angles, axis=0)
            positions = np.tile(np.arange(n), len(on_plane))
            seen, around = seen_angles.reshape(-1), context.reshape(len(positions), -1)
            if link_walk is not None:  # dead reckoning: the link walk's frames at positions known from its actions
                units = {link.env_action: link.units for link in on}
                moved = np.array([units.get(int(a), 0) for a in link_walk.actions])
                walk_angles = plane_angles(link_walk.z, np.arange(context.shape[-1]))
                walked = np.concatenate([[0], np.cumsum(moved)]) % n
                walked, angles = refine_cycle(angles, walked, walk_angles[:, plane], len(on_plane))
                positions = np.concatenate([positions, walked])
                seen = np.concatenate([seen, walk_angles[:, plane]])
                around = np.concatenate([around, walk_angles])
            others = np.array([q for q in linked if q != plane], np.int64)  # unused planes hold no factor
            correction = fit_correction(positions, wrap(seen - angles[positions]), around[:, others], n)
            table = cycle_table(plane, n, [(link.env_action, link.units) for link in on])
            cycles.append(PlaneCycle(plane, n, table, angles, others, correction))
        return cycles

    def plan(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[int]:
        """A shortest list of env actions taking frame ``obs`` to frame ``goal_obs`` ((H, W, C) uint8 each)."""
        shape = tuple(self.agent.obs_shape)
        for name, x in (("obs", obs), ("goal_obs", goal_obs)):
            if not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != np.uint8:
                raise ValueError(f"{name} must be one uint8 frame of shape {shape}, got "
                                 f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        return self.plan_batch(obs[None], goal_obs[None])[0]

    def plan_batch(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[list[int]]:
        """:meth:`plan` for a batch of (start, goal) frames, (N, H, W, C) each, encoded in one pass."""
        obs, goal_obs = np.asarray(obs), np.asarray(goal_obs)
        if obs.shape != goal_obs.shape or obs.shape[1:] != tuple(self.agent.obs_shape):
            raise ValueError(f"obs and goal_obs must both have shape (N, *{tuple(self.agent.obs_shape)}), got "
                             f"{obs.shape} and {goal_obs.shape}")
        offsets = self.offsets(self.agent.encode(obs), self.agent.encode(goal_obs))
        plans = []
        for row in offsets:
            words = []
            for cycle, m in zip(self.planes, row):
                if cycle.table.distance[m] < 0:
                    raise CannotPlanError(f"offset {m} on latent plane {cycle.plane} (Z_{cycle.order}) is not "
                                          f"reachable with the actions linked to it")
                words += cycle.table.word(int(m))
            plans.append(words)
        return plans

    def offsets(self, z: np.ndarray, z_goal: np.ndarray) -> np.ndarray:
        """Per plane, the goal's offset in units of 2*pi/order, (N, planes) in Z_order."""
        basis = self.agent.latent_basis()
        z, z_goal = z @ basis.T, z_goal @ basis.T
        a, b = plane_angles(z, self._plane_ids), plane_angles(z_goal, self._plane_ids)
        orders = np.array([c.order for c in self.planes])
        if self.method == "arithmetic":
            return np.rint(wrap(b - a) / (2 * np.pi / orders)).astype(np.int64) % orders
        every = np.arange(z.shape[1] // 2)
        around = [plane_angles(z, every), plane_angles(z_goal, every)]
        out = np.empty(a.shape, np.int64)
        for i, c in enumerate(self.planes):  # nearest expected angle: (N, order) distances per plane
            near = [np.abs(wrap(x[:, i, None] - c.expected_angles(q[:, c.others]))).argmin(1)
                    for x, q in zip((a, b), around)]
            out[:, i] = (near[1] - near[0]) % c.order
        return out

    def generators(self) -> list[tuple[int, int]]:
        """Per plane, (order, step): the first env action linked to the plane generates its cycle, moving it by
        ``step`` positions (mod order) each time; :meth:`offsets` are in positions."""
        firsts: dict[int, ActionLink] = {}
        for link in self.links:
            firsts.setdefault(link.plane, link)
        out = []
        for cycle in self.planes:
            link = firsts[cycle.plane]
            if math.gcd(link.units, cycle.order) != 1:  # calibrate() refuses these; kept as a guard
                raise CannotPlanError(f"env action {link.name} moves latent plane {cycle.plane} by {link.units} of "
                                      f"{cycle.order} positions, which does not generate its cycle")
            out.append((cycle.order, link.units))
        return out

    def report(self) -> dict[str, Any]:
        """Plain data: the links, the calibrated cycles and the env steps it took to find them."""
        return {"env_steps": self.env_steps, "method": self.method, "calibration_walks": self.calibration_walks,
                "links": [asdict(link) for link in self.links],
                "planes": [{"plane": c.plane, "order": c.order, "diameter": int(c.table.distance.max())}
                           for c in self.planes]}


def check_cyclic_world(agent) -> None:
    """Refuse, with the reason, an agent whose world is not a product of cyclic groups or that has no world to act
    in: what any planner on cycles (this one, or position readers) needs."""
    spec = agent.spec
    if not getattr(spec, "is_cyclic_product", False):
        raise CannotPlanError(
            f"the world's group {spec.group_name} is not a product of cyclic groups: its shortest paths are not "
            f"per-cycle arithmetic (and commuting latent rotations can hold at best a commutative image of it)"
        )
    if agent.source.env_id is None:
        raise CannotPlanError("the agent learned from a dataset that records no world: it has nothing to act in")


def check_plannable(agent: LatentActionAgent) -> None:
    """Refuse, with the reason, worlds and representations where per-plane arithmetic cannot plan."""
    check_cyclic_world(agent)
    if any(row["plane"] is None for row in agent.angle_table()):
        raise CannotPlanError("the agent's latent actions rotate one 3-D latent block (group=so3), not latent planes: "
                              "there is no per-plane angle to plan with")


@dataclass(frozen=True)
class LinkWalk:
    """The agent's random link walk: the env actions it took, what it inferred for each pair, its latents."""

    actions: np.ndarray  # (T,) env actions taken
    inferred: np.ndarray  # (T,) latent action the agent's own inference found for each pair
    z: np.ndarray  # (T + 1, L) latent means of the frames, in the rotations' basis


def link_pairs(agent: LatentActionAgent, env, steps: int, rng: np.random.Generator) -> LinkWalk:
    """A random walk of ``steps`` env steps, with the agent's inference on each pair and its latents."""
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    actions = rng.integers(agent.spec.num_actions, size=steps)
    frames = [obs]
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(int(a))
        frames.append(obs)
        if terminated or truncated:
            raise CannotPlanError("the world ended the link walk early; use fewer link steps")
    frames = np.stack(frames)
    z = agent.encode(frames) @ agent.latent_basis().T
    return LinkWalk(actions, agent.infer_actions(frames[:-1], frames[1:]), z)


def first_links(walks: list[Calibration]) -> list[ActionLink]:
    """One link per env action (its first walk's), in the order the actions were first walked."""
    links: dict[int, ActionLink] = {}
    for w in walks:
        links.setdefault(w.link.env_action, w.link)
    return list(links.values())


def refine_cycle(angles: np.ndarray, positions: np.ndarray, seen: np.ndarray,
                 weight: int) -> tuple[np.ndarray, np.ndarray]:
    """Average more sightings into a cycle's angles: ``seen[t]`` at ``positions[t]``, numbered from an unknown start
    (fitted: the circular shift that matches ``angles`` best); the calibrated angles count ``weight`` times.
    Returns the sightings' positions on the cycle's numbering and the refined angles."""
    n = len(angles)
    shift = min(range(n), key=lambda c: np.abs(wrap(angles[(positions + c) % n] - seen)).sum())
    placed = (positions + shift) % n
    total = weight * np.exp(1j * angles)
    np.add.at(total, placed, np.exp(1j * seen))
    return placed, np.angle(total)


def calibration_tours(agent: LatentActionAgent, env, links: list[tuple[int, int, float]], walks_per_action: int,
                      rng: np.random.Generator) -> tuple[list[Calibration], int]:
    """Per latent plane, one tour of its own: from a random state, walk each env action linked to the plane round
    its cycle ``walks_per_action`` times, and before every walk but the first take a few random steps of the
    actions linked to *other* planes. Those move the other factors (so the walks see this plane at other values
    of them) but not this plane's position, so every walk of the tour numbers the plane's positions from the same
    start and no walk has to be aligned to another by its angles. Returns the walks and the env steps taken."""
    table = agent.angle_table()
    plane_of = {e: int(table[latent]["plane"]) for e, latent, _ in links}
    walks, steps = [], 0
    for plane in dict.fromkeys(plane_of[e] for e, _, _ in links):
        movers = [e for e, q in plane_of.items() if q != plane]
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        for e, latent, agreement in (link for link in links if plane_of[link[0]] == plane):
            first = None
            for _ in range(walks_per_action):
                if (walks and walks[-1].link.plane == plane) and movers:
                    for _ in range(int(rng.integers(1, walks[-1].link.order + 1))):
                        obs = env.step(int(rng.choice(movers)))[0]
                        steps += 1
                cal = calibrate(agent, env, obs, e, latent, agreement)
                steps += cal.link.order
                if first is None:
                    first = cal.link
                elif (cal.link.order, cal.link.units) != (first.order, first.units):
                    raise CannotPlanError(
                        f"env action {first.name!r} turned its plane by {first.units} units of 2*pi/{first.order} "
                        f"on one walk and {cal.link.units} of 2*pi/{cal.link.order} on another: its latent rotation "
                        f"depends on the other factors")
                walks.append(cal)
    return walks, steps


def walk_cycle(env, start: np.ndarray, env_action: int, name: str) -> list[np.ndarray]:
    """Repeat ``env_action`` from the env's current state (frame ``start``) until the frame comes back: the frames
    from ``start`` to its return (order + 1 of them)."""
    frames = [start]
    while len(frames) <= MAX_CYCLE:
        frames.append(env.step(env_action)[0])
        if np.array_equal(frames[-1], start):
            return frames
    raise CannotPlanError(f"env action {name!r} did not bring the frame back within {MAX_CYCLE} steps")


def calibrate(agent: LatentActionAgent, env, start: np.ndarray, env_action: int, latent_action: int,
              agreement: float) -> Calibration:
    """Walk ``env_action`` round its cycle from the env's current state (frame ``start``); measure its order and
    per-step rotation. The walk ends where it began."""
    row = agent.angle_table()[latent_action]
    name = agent.spec.action_names[env_action]
    if row["symbol"] not in ("c+", "c-", "c"):
        raise CannotPlanError(f"env action {name!r} links to latent action {latent_action}, a {row['symbol']!r} "
                              f"block, not a rotation: there is no angle to plan with")
    frames = walk_cycle(env, start, env_action, name)
    order = len(frames) - 1
    z = agent.encode(np.stack(frames)) @ agent.latent_basis().T
    planes = np.arange(agent.config.latent_size // 2)
    steps = circular_mean(wrap(np.diff(plane_angles(z, planes), axis=0)))
    plane = int(row["plane"])
    off = float(np.abs(np.delete(steps, plane)).max(initial=0.0))
    unit = 2 * math.pi / order
    units = int(round(float(steps[plane]) / unit)) % order
    if units == 0:
        raise CannotPlanError(f"env action {name!r} links to latent plane {plane}, but turns it by "
                              f"{float(steps[plane]):+.3f} rad per step: less than half a unit 2*pi/{order}")
    if off > unit / 2:
        raise CannotPlanError(f"env action {name!r} turns latent planes other than its own ({plane}) by up to "
                              f"{off:.3f} rad per step: the representation is not disentangled enough to plan in")
    if math.gcd(units, order) != 1:
        raise CannotPlanError(f"env action {name!r} moves {units} units of 2*pi/{order} per step, which does not "
                              f"generate the whole cycle its frames go round")
    every = plane_angles(z[:-1], planes)  # (order, planes)
    visited = (np.arange(order) * units) % order
    angles, context = np.empty(order), np.empty_like(every)
    angles[visited], context[visited] = every[:, plane], every
    link = ActionLink(env_action, name, latent_action, agreement, plane, float(row["angle"]), order,
                      float(steps[plane]), units, off)
    return Calibration(link, angles, context)
