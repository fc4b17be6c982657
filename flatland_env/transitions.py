"""(obs, actions, next_obs) pairs from any registered world, never across a reset.

A :class:`TransitionCollector` rolls N envs through Gymnasium's vector API (NEXT_STEP
autoreset) under a behaviour policy and cuts the rollouts into pairs ``k`` actions apart.
The step after an episode ends returns a fresh start state whose action was ignored, so
any window that contains such a step is dropped: a pair never spans two episodes.

For the native vector envs under the default uniform policy it steps states only
(``advance``) and draws all frames of a rollout chunk in one gather, which is what makes
it fast; any other env or policy goes through ``step``. Batches are plain numpy: a torch
loop can ``torch.from_numpy`` them; this package never imports torch.

A world with a Discrete action space gives integer actions, (B, k) int64, and int64 states;
one with a Box action space (a continuous group, ``FlatLandContinuous-v0``) gives the action
vectors, (B, k, action_dim) float32 (the uniform policy draws them uniformly from the box),
and the spec's float64 states. Either way they are labels, never shown to a learner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Iterator

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from flatland_env.registration import make_vector_world
from flatland_env.spec import GroupSpec, spec_from_json
from flatland_env.validation import check_box_array, check_positive_int
from flatland_env.vector import SymmetryVectorEnv, _generator

#: behaviour policy: (obs (N, H, W, C) uint8, factors (N, F)) -> actions (N,) int, or (N, action_dim) inside a Box
Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Transition:
    """A batch of B pairs; ``actions[b]`` is the sequence of k actions from obs to next_obs."""

    obs: np.ndarray  # (B, H, W, C) uint8
    actions: np.ndarray  # (B, k) int64, or (B, k, action_dim) float32 for a Box action space
    next_obs: np.ndarray  # (B, H, W, C) uint8
    factors: np.ndarray  # (B, F) int64, or float64 for a continuous group
    next_factors: np.ndarray  # (B, F) as factors

    def __post_init__(self) -> None:
        b = len(self.obs)
        for f in fields(self):
            arr = getattr(self, f.name)
            if not isinstance(arr, np.ndarray) or len(arr) != b:
                raise ValueError(f"Transition.{f.name} must be a numpy array with {b} rows, got {type(arr).__name__}"
                                 f" of shape {getattr(arr, 'shape', None)}")
        if self.obs.shape != self.next_obs.shape or self.obs.ndim != 4 or self.obs.dtype != np.uint8:
            raise ValueError(f"obs and next_obs must be uint8 (B, H, W, C), got {self.obs.dtype} {self.obs.shape}"
                             f" and {self.next_obs.dtype} {self.next_obs.shape}")
        if self.actions.ndim not in (2, 3) or self.factors.ndim != 2 or self.factors.shape != self.next_factors.shape:
            raise ValueError(f"actions must be (B, k) or (B, k, action_dim) and factors/next_factors (B, F), got "
                             f"{self.actions.shape}, {self.factors.shape}, {self.next_factors.shape}")

    def __len__(self) -> int:
        return len(self.obs)

    def __getitem__(self, index: Any) -> "Transition":
        """Rows of the batch (a slice, an index array or a mask), still a Transition."""
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        return Transition(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def k(self) -> int:
        """How many actions apart the two frames of each pair are."""
        return self.actions.shape[1]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def concatenate(cls, batches: list["Transition"]) -> "Transition":
        if not batches:
            raise ValueError("need at least one batch to concatenate")
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)})


class TransitionCollector:
    """Pairs from N vector envs under a behaviour policy; ``collect(n)`` or ``stream(batch_size)``.

    ``env`` is a registered symmetry-world id (made with
    :func:`~flatland_env.registration.make_vector_world`: the native vector env where the world
    has one) or a NEXT_STEP-autoreset VectorEnv of a symmetry world. ``policy`` is uniform
    random by default. ``shuffle`` permutes the pairs of each rollout chunk, so a batch mixes
    times and envs. Deterministic under ``seed``; :meth:`state_dict` captures everything the
    coming batches depend on, so a restored collector continues bit for bit.

    ``k`` is bounded by the episode length (a pair must fit inside one episode). The env's
    action space is Discrete (integer actions) or a Box (action vectors, drawn uniformly from
    the box by the default policy, which therefore needs a bounded box).
    """

    def __init__(
        self,
        env: str | VectorEnv = "FlatLand-v0",
        num_envs: int = 8,
        k: int = 1,
        policy: Policy | None = None,
        seed: int | None = None,
        shuffle: bool = False,
        chunk_steps: int = 256,
        vectorization_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        check_positive_int("k", k)
        check_positive_int("chunk_steps", chunk_steps)
        if policy is not None and not callable(policy):
            raise ValueError(
                f"policy must be None (uniform random) or a callable (obs, factors) -> actions, got {policy!r}"
            )
        env_id = env if isinstance(env, str) else None
        if isinstance(env, str):
            if vectorization_mode is None:
                env = make_vector_world(env, num_envs, **env_kwargs)
            else:
                env = gym.make_vec(env, num_envs=num_envs, vectorization_mode=vectorization_mode, **env_kwargs)
        elif env_kwargs or vectorization_mode is not None:
            raise ValueError("env_kwargs and vectorization_mode apply only when env is an id; got a VectorEnv")
        if not isinstance(env, VectorEnv):
            raise ValueError(f"env must be a registered id or a gymnasium VectorEnv, got {type(env).__name__}")
        if env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP) != AutoresetMode.NEXT_STEP:
            raise ValueError(f"the collector needs NEXT_STEP autoreset, got {env.metadata['autoreset_mode']}")
        limit = _episode_limit(env)
        if limit is not None and k > limit:
            env.close()
            raise ValueError(f"k={k} exceeds max_episode_steps={limit}: no pair fits in an episode")
        world_name = repr(env_id) if env_id is not None else "this world"
        self.env = env
        self.spec: GroupSpec = _symmetry_of(env)
        try:
            self._box = _box_bounds(env.single_action_space, world_name, uniform=policy is None)
        except ValueError:
            env.close()
            raise
        #: one env's action in the pairs: an int64 scalar, or a float32 vector of the Box's shape
        self._action_shape = () if self._box is None else self._box[0].shape
        self._action_dtype = np.int64 if self._box is None else np.float32
        # a rollout chunk must hold at least one k-window
        self.k, self.policy, self.shuffle, self.chunk_steps = int(k), policy, shuffle, max(int(chunk_steps), int(k))
        self._rng = np.random.default_rng(seed)
        self._fast = policy is None and isinstance(env.unwrapped, SymmetryVectorEnv)
        obs, info = env.reset(seed=seed)
        n = env.num_envs
        # carried tail of the rollout: the last <= k states (and frames), k-1 actions, reset flags
        self._states = info["factors"][None].astype(self.spec.factor_dtype)
        self._frames = None if self._fast else obs[None]
        self._actions = np.zeros((0, n, *self._action_shape), dtype=self._action_dtype)
        self._resets = np.ones((1, n), dtype=bool)
        self._done = np.zeros(n, dtype=bool)
        self._pending: list[Transition] = []

    def collect(self, n: int) -> Transition:
        """Exactly ``n`` pairs (leftovers of a rollout chunk are kept for the next call)."""
        check_positive_int("n", n)
        have = sum(len(p["factors"]) for p in self._pending)
        while have < n:
            chunk = self._chunk()
            self._pending.append(chunk)
            have += len(chunk["factors"])
        pairs = self._pending[0] if len(self._pending) == 1 else {
            key: np.concatenate([p[key] for p in self._pending]) for key in self._pending[0]
        }
        self._pending = [{key: v[n:] for key, v in pairs.items()}] if have > n else []
        pairs = {key: v[:n] for key, v in pairs.items()}
        if self._fast:  # frames are a pure function of state: draw only the n we return, both ends in one call
            frames = self.env.unwrapped.observe(np.concatenate([pairs["factors"], pairs["next_factors"]]))
            pairs["obs"], pairs["next_obs"] = frames[:n], frames[n:]
        return Transition(**pairs)

    def stream(self, batch_size: int) -> Iterator[Transition]:
        """An endless stream of batches, for a training loop."""
        while True:
            yield self.collect(batch_size)

    def close(self) -> None:
        self.env.close()

    # -- exact resume ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The collector's generator, its carried rollout tail, leftover pairs and the vector env's state.

        Only the fast path (a native vector env under the uniform policy) can be saved: the
        state of other vector envs and policies is not ours to capture.
        """
        if not self._fast:
            raise ValueError("only a collector over a native symmetry vector env with the uniform policy can be saved")
        pending = {key: np.concatenate([p[key] for p in self._pending]) for key in self._pending[0]} if self._pending \
            else {}
        return {
            "rng": json.dumps(self._rng.bit_generator.state),
            "states": self._states.copy(),
            "actions": self._actions.copy(),
            "resets": self._resets.copy(),
            "done": self._done.copy(),
            "pending": pending,
            "env": self.env.unwrapped.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a collector built with the same env, k and chunk size."""
        if not self._fast:
            raise ValueError(
                "only a collector over a native symmetry vector env with the uniform policy can be restored"
            )
        self._rng = _generator(json.loads(state["rng"]))
        self._states = np.asarray(state["states"], dtype=self.spec.factor_dtype).copy()
        self._actions = np.asarray(state["actions"], dtype=self._action_dtype).copy()
        self._resets = np.asarray(state["resets"], dtype=bool).copy()
        self._done = np.asarray(state["done"], dtype=bool).copy()
        pending = {key: np.asarray(v) for key, v in state["pending"].items()}
        self._pending = [pending] if pending and len(pending["factors"]) else []
        self.env.unwrapped.load_state_dict(state["env"])

    def __enter__(self) -> "TransitionCollector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rollouts --------------------------------------------------------------------------
    def _chunk(self) -> dict[str, np.ndarray]:
        """Roll ``chunk_steps`` steps, join them to the carried tail, cut every valid k-window.

        Returns the pairs' arrays; in the fast path without frames (``collect`` draws them).
        """
        steps, n = self.chunk_steps, self.env.num_envs
        if self._fast:
            actions = self._uniform_actions((steps, n))
            states, resets = self.env.unwrapped.rollout(actions)
            frames = None
        else:
            states = np.empty((steps, n, self.spec.num_factors), dtype=self.spec.factor_dtype)
            resets = np.empty((steps, n), dtype=bool)
            actions = np.empty((steps, n, *self._action_shape), dtype=self._action_dtype)
            frames = np.empty((steps, *self._frames.shape[1:]), dtype=self._frames.dtype)
            obs, cur = self._frames[-1], self._states[-1]
            for t in range(steps):
                actions[t] = self._act(obs, cur)
                obs, _, term, trunc, info = self.env.step(actions[t])
                resets[t], self._done = self._done, term | trunc
                frames[t], states[t] = obs, cur = obs, info["factors"]
        s = np.concatenate([self._states, states])
        a = np.concatenate([self._actions, actions])
        r = np.concatenate([self._resets, resets])
        k = self.k
        # pair (j, j+k) of an env is valid iff none of the steps j+1..j+k started an episode
        started = np.concatenate([np.zeros((1, n), np.int64), np.cumsum(r[1:], axis=0)])
        jj, ii = np.nonzero(started[k:] == started[:-k])
        if self.shuffle:
            order = self._rng.permutation(len(jj))
            jj, ii = jj[order], ii[order]
        # (len(a)-k+1, n, k, *action_shape): the window axis comes right after the env axis
        windows = np.moveaxis(np.lib.stride_tricks.sliding_window_view(a, k, axis=0), -1, 2)
        pairs = {"actions": windows[jj, ii], "factors": s[jj, ii], "next_factors": s[jj + k, ii]}
        if frames is not None:
            o = np.concatenate([self._frames, frames])
            pairs.update(obs=o[jj, ii], next_obs=o[jj + k, ii])
            self._frames = o[-k:]
        self._states, self._resets = s[-k:], r[-k:]
        self._actions = a[len(a) - (k - 1):]
        return pairs

    def _uniform_actions(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform random actions for the leading ``shape``: integers, or float32 vectors drawn from the box."""
        if self._box is None:
            return self._rng.integers(0, self.spec.num_actions, size=shape)
        low, high = self._box
        return self._rng.uniform(low, high, size=(*shape, *low.shape)).astype(np.float32)

    def _act(self, obs: np.ndarray, factors: np.ndarray) -> np.ndarray:
        n = self.env.num_envs
        if self.policy is None:
            return self._uniform_actions((n,))
        if self._box is not None:  # recorded as float32, and stepped with exactly those values
            low, high = self._box
            out = check_box_array("policy output", self.policy(obs, factors), (n, *low.shape), low, high)
            return out.astype(np.float32)
        num_actions = self.spec.num_actions
        actions = np.asarray(self.policy(obs, factors))
        bad = actions.shape != (n,) or actions.dtype.kind not in "iu"
        if bad or np.any(actions < 0) or np.any(actions >= num_actions):
            raise ValueError(f"policy must return {n} integers in [0, {num_actions}), got {actions!r}")
        return actions


def _box_bounds(space: spaces.Space, world_name: str, uniform: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) as float64 of a Box action space, None for a Discrete one; any other space is refused.

    The uniform policy draws from the box, so it needs every bound finite.
    """
    if isinstance(space, spaces.Discrete):
        return None
    if not isinstance(space, spaces.Box):
        raise ValueError(f"the collector cuts pairs of Discrete or Box actions, but {world_name} acts by {space}")
    if uniform and not space.is_bounded("both"):
        raise ValueError(f"the uniform random policy draws from the action box, but {world_name}'s {space} is "
                         "unbounded; pass a policy")
    return space.low.astype(np.float64), space.high.astype(np.float64)


def _symmetry_of(env: VectorEnv) -> GroupSpec:
    spec = getattr(env.unwrapped, "symmetry", None)
    if spec is None and hasattr(env, "get_attr"):
        spec = env.get_attr("symmetry")[0]
    if not isinstance(spec, GroupSpec):
        raise ValueError(f"env {env} is not a symmetry world: it has no SymmetrySpec `symmetry`")
    return spec


def _episode_limit(env: VectorEnv) -> int | None:
    """Episode length of a vector env, where it can be known (native attribute or make_vec's spec)."""
    limit = getattr(env.unwrapped, "max_episode_steps", None)
    if limit is None and env.spec is not None:
        limit = env.spec.kwargs.get("max_episode_steps", env.spec.max_episode_steps)
    return None if limit is None or limit < 1 else int(limit)


# -- datasets ------------------------------------------------------------------------------
def save_npz(
    path: str | PathLike,
    batch: Transition,
    spec: GroupSpec,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> None:
    """Write a compressed dataset with the spec (and, when given, the world that made it) embedded as JSON.

    With ``env_id`` recorded, an agent trained on the file can be evaluated on the same world.
    """
    meta = {"env_id": env_id, "env_kwargs": dict(env_kwargs or {})}
    np.savez_compressed(path, **batch.as_dict(), spec=np.array(spec.to_json()), world=np.array(json.dumps(meta)))


@dataclass(frozen=True)
class Dataset:
    """A saved transitions file: its pairs, its spec, and the world it was recorded on (if known)."""

    pairs: Transition
    spec: GroupSpec
    env_id: str | None = None
    env_kwargs: dict[str, Any] | None = None


def load_dataset(path: str | PathLike) -> Dataset:
    """Read a dataset written by :func:`save_npz`; a missing or foreign file raises a clear error."""
    import zipfile

    if not isinstance(path, (str, PathLike)) or not Path(path).is_file():
        raise FileNotFoundError(f"no transitions dataset at {path!r}")
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("it is not a zip archive")
        with np.load(path, allow_pickle=False) as data:
            expected = [f.name for f in fields(Transition)] + ["spec"]
            missing = [key for key in expected if key not in data.files]
            if missing:
                raise ValueError(f"{path} is not a transitions dataset: missing arrays {missing} (has {data.files})")
            batch = Transition(**{f.name: data[f.name] for f in fields(Transition)})
            spec = spec_from_json(str(data["spec"]))
            meta = json.loads(str(data["world"])) if "world" in data.files else {}
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ValueError(f"{path} is not a readable .npz transitions dataset: {e}") from None
    except ValueError as e:
        if "transitions dataset" in str(e):
            raise
        raise ValueError(f"{path} is not a readable .npz transitions dataset: {e}") from None
    return Dataset(batch, spec, meta.get("env_id"), meta.get("env_kwargs") or {})


def load_npz(path: str | PathLike) -> tuple[Transition, GroupSpec]:
    """Read a dataset written by :func:`save_npz`: (pairs, spec)."""
    data = load_dataset(path)
    return data.pairs, data.spec
