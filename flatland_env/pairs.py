"""Pair sources: where a learner's (obs, next_obs) pairs come from, and the world they come from.

A learner never builds a world from an id itself: it is handed a pair source, which
carries the world's spec, its observation space and a template world to render any state
(for evaluation), and serves batches of pairs. Two sources exist:

- :class:`CollectorSource`: fresh pairs from native vector envs under the uniform policy
  (:class:`~flatland_env.transitions.TransitionCollector`), the world built once;
- :class:`DatasetSource`: pairs from a ``.npz`` written by
  :func:`~flatland_env.transitions.save_npz`, in reshuffled passes.

Both apply the configured visual noise and can save and restore their whole state
(generators, rollout tail, env states, position in the dataset), so an interrupted run
resumes bit for bit. Everything here is numpy; nothing imports torch.

A world with a Box action space (a continuous group) is served like the others: its labels
are the action vectors, (B, k, action_dim) float32, and float64 states, split off by
:func:`split_labels` like integer actions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from flatland_env.base import SymmetryWorld
from flatland_env.registration import check_world_id, make_world
from flatland_env.spec import GroupSpec
from flatland_env.transitions import Transition, TransitionCollector, load_dataset
from flatland_env.validation import check_choice, check_int, check_positive_int
from flatland_env.vector import _generator
from flatland_env.wrappers import NOISE_KINDS, Noise, corrupt_pairs, noise_settings

#: most vector envs a collector source runs (each holds a state and, for FlatLand, a physics body)
MAX_NUM_ENVS = 1024


@dataclass(frozen=True)
class PairBatch:
    """What a learner receives: frame pairs and nothing else (no actions, no factors)."""

    obs: np.ndarray  # (B, H, W, C) uint8
    next_obs: np.ndarray  # (B, H, W, C) uint8


@dataclass(frozen=True)
class GroundTruth:
    """Labels of a batch, for logging and evaluation only: never passed to an unsupervised learner."""

    actions: np.ndarray  # (B, k) int64 true actions between obs and next_obs, or (B, k, action_dim) float32 vectors
    factors: np.ndarray  # (B, F) int64, or float64 for a continuous group
    next_factors: np.ndarray  # (B, F)


def split_labels(batch: Transition) -> tuple[PairBatch, GroundTruth]:
    """A batch of transitions as (what the learner may see, what only logging may see), whatever the actions are."""
    return PairBatch(batch.obs, batch.next_obs), GroundTruth(batch.actions, batch.factors, batch.next_factors)


@dataclass
class PairSourceConfig:
    """Where training pairs come from: a world and how its pairs are cut and corrupted, or a saved dataset."""

    env_id: str = "FlatLand-v0"
    """registered symmetry world producing the pairs"""
    env_kwargs: dict[str, int | float | str] = field(default_factory=dict)
    """keyword arguments of the world, e.g. grid_size 21 obs_mode rgb"""
    num_envs: int = 8
    """vector envs producing transitions"""
    k: int = 1
    """actions between the two frames of a pair (k-step pairs, no intermediate frames)"""
    noise: Noise = "none"
    """visual noise on training pairs: none, uniform, salt, backgrounds"""
    background_dir: str = ""
    """folder of background images for noise=backgrounds (empty: procedural textures)"""
    dataset: str = ""
    """a .npz of pairs written by flatland_env.save_npz; when set, train from it instead of the envs"""
    prefetch: Literal["auto", "on", "off"] = "auto"
    """draw the next batch in a background thread while the model trains (auto: on when training on a GPU)"""

    def __post_init__(self) -> None:
        check_int("num_envs", self.num_envs, 1, MAX_NUM_ENVS)
        check_positive_int("k", self.k)  # its upper bound, the episode length, is checked with the world
        check_choice("prefetch", self.prefetch, ("auto", "on", "off"))
        check_choice("noise", self.noise, NOISE_KINDS)
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a dict of the world's keyword arguments, got {self.env_kwargs!r}")
        self.env_kwargs = dict(self.env_kwargs)
        if self.dataset:
            if not Path(self.dataset).is_file():
                raise ValueError(f"dataset: no file at {self.dataset!r}")
        else:
            check_world_id(self.env_id)
        if self.background_dir:
            if self.noise != "backgrounds":
                raise ValueError("background_dir applies only with noise=backgrounds")
            folder = Path(self.background_dir)
            if not folder.is_dir():
                raise ValueError(f"background_dir: {self.background_dir!r} does not exist or is not a folder")


class PairSource:
    """Batches of pairs of one world, with visual noise applied; see the module docstring."""

    config: PairSourceConfig
    #: the world's ground truth
    spec: GroupSpec
    #: a world that renders any state as an observation (None only for a dataset with no recorded world)
    world: SymmetryWorld | None
    observation_space: spaces.Box

    def __init__(self, config: PairSourceConfig, seed: int, noise_seed: int) -> None:
        self.config = config
        self.seed, self.noise_seed = int(seed), int(noise_seed)
        self._noise_rng = np.random.default_rng(self.noise_seed)
        self._noise: dict[str, Any] = {}
        self._executor = None
        self._pending = None  # a Future of the next batch, while prefetching
        self._buffered: Transition | None = None  # a batch drawn but not yet served

    def _setup_noise(self) -> None:
        """The keyword arguments of corrupt_pairs for the configured noise (backgrounds drawn once)."""
        h, _, c = self.observation_space.shape
        self._noise = noise_settings(self.config.noise, h, c, self.config.background_dir or None, seed=self.seed)

    @property
    def env_id(self) -> str | None:
        return self.config.env_id

    @property
    def k(self) -> int:
        """How many actions apart the frames of a pair are."""
        return self.config.k

    def next_batch(self, batch_size: int) -> Transition:
        """The next ``batch_size`` pairs, noise applied (labels included: split them before learning).

        With :meth:`prefetch` on, the batch was drawn in the background while the caller
        trained on the previous one, and the following one starts now: the same sequence of
        batches as without. If the batch size changes meanwhile, the pairs already drawn are
        served first, none lost or repeated.
        """
        self._settle()
        parts, have = [], 0
        if self._buffered is not None:
            take = min(batch_size, len(self._buffered))
            parts.append(self._buffered[:take])
            self._buffered = self._buffered[take:] if take < len(self._buffered) else None
            have = take
        if have < batch_size:
            parts.append(self._make(batch_size - have))
        batch = parts[0] if len(parts) == 1 else Transition.concatenate(parts)
        if self._executor is not None:
            self._pending = self._executor.submit(self._make, batch_size)
        return batch

    def _make(self, batch_size: int) -> Transition:
        batch = self._draw(batch_size)
        return corrupt_pairs(batch, self._noise_rng, **self._noise) if self._noise else batch

    def prefetch(self, on: bool = True) -> None:
        """Draw each next batch in a background thread while the caller trains (worth it when a GPU trains)."""
        if on and self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pairs")
        elif not on and self._executor is not None:
            self._settle()
            self._executor.shutdown()
            self._executor = None

    def _settle(self) -> None:
        """Wait for a batch in flight and keep it: the source's state then includes it."""
        if self._pending is not None:
            self._buffered = self._pending.result()
            self._pending = None

    def _draw(self, batch_size: int) -> Transition:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Generators, stream positions and any batch already drawn but not yet served."""
        self._settle()
        state = {"noise_rng": json.dumps(self._noise_rng.bit_generator.state), **self._state()}
        if self._buffered is not None:
            state["buffered"] = self._buffered.as_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._settle()
        self._noise_rng = _generator(json.loads(state["noise_rng"]))
        self._load_state(state)
        self._buffered = Transition(**state["buffered"]) if "buffered" in state else None

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Plain data for run records: the config, the seeds and the world's group."""
        return {"kind": type(self).__name__, "config": asdict(self.config), "seed": self.seed,
                "noise_seed": self.noise_seed, "group": self.spec.describe()}

    def close(self) -> None:
        """Stop prefetching and release the envs."""
        self.prefetch(False)


class CollectorSource(PairSource):
    """Fresh pairs from ``num_envs`` native vector envs under the uniform random policy."""

    def __init__(self, config: PairSourceConfig, seed: int, noise_seed: int) -> None:
        super().__init__(config, seed, noise_seed)
        self.collector = TransitionCollector(
            config.env_id, num_envs=config.num_envs, k=config.k, seed=self.seed, shuffle=True, **config.env_kwargs
        )
        vec = self.collector.env
        self.world = vec.unwrapped.world  # the native vector env's template world: the world is built once
        self.spec = self.collector.spec
        self.observation_space = vec.single_observation_space
        self._setup_noise()

    def _draw(self, batch_size: int) -> Transition:
        return self.collector.collect(batch_size)

    def _state(self) -> dict[str, Any]:
        return {"collector": self.collector.state_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.collector.load_state_dict(state["collector"])

    def close(self) -> None:
        super().close()
        self.collector.close()


class DatasetSource(PairSource):
    """Pairs of a saved dataset, served in passes reshuffled by the source's generator.

    The world used for evaluation is the one the dataset records (``save_npz(..., env_id=)``);
    a dataset without one can train, but has no world to render states (``world`` is None).
    """

    def __init__(self, config: PairSourceConfig, seed: int, noise_seed: int) -> None:
        super().__init__(config, seed, noise_seed)
        data = load_dataset(config.dataset)
        if data.pairs.k != config.k:
            raise ValueError(f"the dataset holds {data.pairs.k}-step pairs; set k={data.pairs.k}")
        if data.env_id is not None and data.env_id != config.env_id:
            raise ValueError(f"the dataset was recorded on {data.env_id!r}; set env_id={data.env_id!r}")
        if data.env_id is not None and data.env_kwargs != config.env_kwargs:
            raise ValueError(f"the dataset was recorded with env_kwargs {data.env_kwargs}; set them to match")
        self.pairs, self.spec = data.pairs, data.spec
        self.world = make_world(data.env_id, **data.env_kwargs).unwrapped if data.env_id is not None else None
        h, w, c = self.pairs.obs.shape[1:]
        self.observation_space = spaces.Box(0, 255, (h, w, c), np.uint8)
        self._rng = np.random.default_rng(self.seed)
        self._order = self._rng.permutation(len(self.pairs))
        self._pos = 0
        self._setup_noise()

    def _draw(self, batch_size: int) -> Transition:
        idx = []
        while len(idx) < batch_size:
            if self._pos == len(self._order):
                self._order, self._pos = self._rng.permutation(len(self.pairs)), 0
            take = min(batch_size - len(idx), len(self._order) - self._pos)
            idx.extend(self._order[self._pos : self._pos + take].tolist())
            self._pos += take
        return self.pairs[np.asarray(idx)]

    def _state(self) -> dict[str, Any]:
        return {"rng": json.dumps(self._rng.bit_generator.state), "order": self._order.copy(), "pos": self._pos}

    def _load_state(self, state: dict[str, Any]) -> None:
        order = np.asarray(state["order"], dtype=np.int64)
        if order.shape != (len(self.pairs),):
            raise ValueError(f"saved position is for a dataset of {len(order)} pairs, this one has {len(self.pairs)}")
        self._rng = _generator(json.loads(state["rng"]))
        self._order, self._pos = order.copy(), int(state["pos"])


class SourceUnavailableError(RuntimeError):
    """A pair source was asked for pairs that it cannot serve (see :class:`DetachedSource`)."""


class DetachedSource(PairSource):
    """Stands in for a pair source that cannot be rebuilt, such as a checkpoint's dataset file that has moved.

    It holds what inference needs, the world's spec, its world (where one is registered) and the
    frame shape, so an agent loaded with it encodes, infers actions, plans and is evaluated; asked
    for pairs to learn from it raises :class:`SourceUnavailableError` saying why.
    """

    def __init__(self, config: PairSourceConfig, spec: GroupSpec, obs_shape: tuple[int, ...],
                 world: SymmetryWorld | None, reason: str) -> None:
        super().__init__(config, 0, 0)
        self.spec, self.world, self.reason = spec, world, reason
        self.observation_space = spaces.Box(0, 255, tuple(obs_shape), np.uint8)

    def _draw(self, batch_size: int) -> Transition:
        raise SourceUnavailableError(f"this agent has no pairs to learn from: {self.reason}; it can encode, infer "
                                     "actions and plan, and learn again once its source is back")

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        pass


def make_pair_source(config: PairSourceConfig, seed: int, noise_seed: int | None = None) -> PairSource:
    """The source a config describes: a dataset when ``config.dataset`` is set, else the vector envs."""
    if not isinstance(config, PairSourceConfig):
        raise ValueError(f"config must be a PairSourceConfig, got {type(config).__name__}")
    noise_seed = seed if noise_seed is None else noise_seed
    return DatasetSource(config, seed, noise_seed) if config.dataset else CollectorSource(config, seed, noise_seed)
