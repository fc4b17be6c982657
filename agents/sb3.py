"""An agent's encoder as stable-baselines3 features for goal tasks (docs/acting.md, "SB3 features").

:class:`EncoderFeatures` turns a goal observation (the Dict of ``observation`` and ``goal``
frames of :class:`~flatland_env.goal.GoalWrapper`, or both stacked along channels) into the
latent means of both frames, concatenated: 2 * latent_size numbers instead of two images. The
encoder is frozen by default (the policy learns on top of a fixed representation) and is
fine-tuned with the policy when ``frozen=False``. :class:`GroupFeatures` gives instead, per
latent plane of the agent's rho, the (cos, sin) of the angle from the current code to the goal
code: the goal in the agent's own group coordinates. :class:`CalibratedGroupFeatures` gives the
goal as a number of the agent's own actions per cycle, read through its planner's calibration
(``calibration="rho"``) or through position readers fitted to its codes, which any encoder can
be put through (``calibration="readers"``, :mod:`agents.reading`).

    PPO("MultiInputPolicy", "FlatLandGoal-v0",
        policy_kwargs=dict(features_extractor_class=EncoderFeatures,
                           features_extractor_kwargs=dict(checkpoint="runs/X/checkpoint.pt")))

A frozen extractor gives the same numbers whether the policy calls it or the env does:
:class:`FrozenFeatureObservation` wraps the goal env so each observation *is* those features,
computed once per env step. SB3 then trains an ``MlpPolicy`` on them and never runs the
encoder again in its minibatch epochs.

    PPO("MlpPolicy", FrozenFeatureObservation(gym.make("FlatLandGoal-v0"), "runs/X/checkpoint.pt", kind="group"))
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.base import BaseAgent
from flatland_env.validation import check_choice
from vae.continuous_planes import plane_rotation_angles
from vae.nets import Encoder


class EncoderFeatures(BaseFeaturesExtractor):
    """Latent means of the current and the goal frame, from an agent checkpoint's encoder."""

    def __init__(self, observation_space: spaces.Space, checkpoint: str | os.PathLike, frozen: bool = True) -> None:
        if not isinstance(frozen, bool):
            raise ValueError(f"frozen must be True or False, got {frozen!r}")
        agent = BaseAgent.load(checkpoint, device="cpu")
        features_dim = self._features_dim_of(agent, checkpoint)
        frame = tuple(agent.obs_shape)  # (H, W, C)
        channels_first = (frame[2], frame[0], frame[1])
        if isinstance(observation_space, spaces.Dict):
            shapes = {k: tuple(s.shape) for k, s in observation_space.spaces.items()}
            if set(shapes) != {"observation", "goal"} or len(set(shapes.values())) != 1:
                raise ValueError(f"the Dict observation must hold 'observation' and 'goal' frames of one shape, got "
                                 f"{shapes}")
            shape = shapes["observation"]
            self.stacked = False
        elif isinstance(observation_space, spaces.Box):
            shape = tuple(observation_space.shape)
            self.stacked = True
        else:
            raise ValueError(f"observations must be a Dict or a Box of frames, got {type(observation_space).__name__}")
        pair = (frame[0], frame[1], 2 * frame[2]) if self.stacked else frame
        pair_first = (2 * frame[2], frame[0], frame[1]) if self.stacked else channels_first
        if shape not in (pair, pair_first):
            raise ValueError(f"the agent in {checkpoint} encodes {frame} frames; these observations have shape "
                             f"{shape}")
        super().__init__(observation_space, features_dim=features_dim)
        self._from_agent(agent)
        self.channels_last = shape == pair
        self.channels = frame[2]
        self.frozen = frozen
        self.encoder: Encoder = agent.vae.encoder
        self.encoder.requires_grad_(not frozen)
        agent.source.close()

    def _features_dim_of(self, agent: BaseAgent, checkpoint: str | os.PathLike) -> int:
        """The number of features for this agent (subclasses check here that the agent suits them)."""
        return 2 * agent.config.latent_size

    def _from_agent(self, agent: BaseAgent) -> None:
        """Keep what forward needs from the agent beyond its encoder (nothing here)."""

    def apply(self, fn) -> "EncoderFeatures":
        """``fn`` on this module only: SB3's orthogonal initialisation (``ortho_init``, on by default) applies itself
        to every layer of the features extractor and would overwrite the learned encoder."""
        fn(self)
        return self

    def train(self, mode: bool = True) -> "EncoderFeatures":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.encoder(x.float())[0]

    def forward(self, observations: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        if self.stacked:
            dim = 3 if self.channels_last else 1
            now, goal = torch.split(observations, self.channels, dim=dim)
        else:
            now, goal = observations["observation"], observations["goal"]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return torch.cat([self._mean(now), self._mean(goal)], dim=1)


class GroupFeatures(EncoderFeatures):
    """The goal relative to the current frame in the agent's own group coordinates: per latent plane of its rho,
    (cos, sin) of the angle from the current code to the goal code.

    A plane rotation is what each learned action does, so for a goal a few actions away this angle is
    how far, and which way, the agent's own group says it lies along that plane: a policy reads the
    direction off the sign of the sine instead of learning it from products of raw coordinates. The
    angle is only known modulo a full turn, so for goals further away it no longer says which way is
    shorter (:class:`CalibratedGroupFeatures`). Everything comes from the
    checkpoint (its encoder, its planes and, if it learned one, its change of basis); no labels. It
    needs rho as rotations of latent planes (RGrVAE, ForwardVAE with planes); other agents are
    refused, naming why. The encoder stays frozen: the planes are the checkpoint's.
    """

    def __init__(self, observation_space: spaces.Space, checkpoint: str | os.PathLike) -> None:
        super().__init__(observation_space, checkpoint, frozen=True)

    def _features_dim_of(self, agent: BaseAgent, checkpoint: str | os.PathLike) -> int:
        rho = getattr(agent, "rho", None)
        planes = getattr(rho, "num_planes", None)
        if planes is None:
            agent.source.close()
            what = "has no latent group representation" if rho is None else "has no latent planes (its rho is so3)"
            raise ValueError(f"group features need rho as rotations of latent planes, but the {agent.algo} agent in "
                             f"{checkpoint} {what}; use EncoderFeatures for its raw latents")
        return 2 * planes

    def _from_agent(self, agent: BaseAgent) -> None:
        basis = agent.rho.change_of_basis
        self.register_buffer("basis", None if basis is None else basis.detach().clone())

    def forward(self, observations: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        now, goal = torch.chunk(super().forward(observations), 2, dim=1)
        if self.basis is not None:  # rho' = C^-1 rho C acts on the planes of C z
            now, goal = now @ self.basis.T, goal @ self.basis.T
        angle = plane_rotation_angles(now, goal)
        return torch.stack([torch.cos(angle), torch.sin(angle)], -1).flatten(1)


#: how :class:`CalibratedGroupFeatures` reads frames as cycle positions: the latent planner (rho) or position
#: readers fitted to the agent's codes (agents.reading)
CALIBRATIONS = ("rho", "readers")


class CalibratedGroupFeatures:
    """The goal as an element of the agent's own group, in units of its own actions: per latent plane of its
    planner, (cos, sin) of 2*pi*s/n, with n the plane's cycle order and s the signed number of steps of the
    plane's first linked action (negative: of its inverse) on a shortest way to the goal.

    :class:`GroupFeatures` gives the angle from the current to the goal code, which is the learned
    rotation's angle times the number of steps only modulo a full turn: on FlatLand one step turns a
    plane by 2*pi*5/33, so goals a few steps apart in either direction sit next to each other on the
    circle, and the way to go alternates around it. Here the agent's planner
    (:mod:`agents.planning`) first links its latent actions to env actions and calibrates each
    plane's cycle from its own walks (under a thousand of its own env steps on FlatLand, no labels), then reads
    each frame's position on each cycle; s is the offset divided by the generator's step in Z_n,
    taken in (-n/2, n/2], and the sign of the sine is the shorter way round. With ``calibration="readers"``
    the positions come from position readers instead (:mod:`agents.reading`): a cycle per group of env actions
    found from frames, numbered in its first action's steps, no rho needed.
    """

    def __init__(self, checkpoint: "str | os.PathLike | BaseAgent", seed: int = 0, calibration: str = "rho",
                 calibration_walks: int | None = None) -> None:
        """``calibration``: ``rho`` (the latent planner: rho links env actions to planes) or ``readers`` (position
        readers fitted to the codes of its own calibration walk, :mod:`agents.reading`, with ``calibration_walks``
        walks per cycle, 12 unless given: any agent, a beta-VAE included)."""
        from agents.planning import CannotPlanError
        from agents.reading import DEFAULT_WALKS, ReaderPlanner

        check_choice("calibration", calibration, CALIBRATIONS)
        loaded = not isinstance(checkpoint, BaseAgent)
        agent = BaseAgent.load(checkpoint, device="cpu") if loaded else checkpoint
        if loaded:
            agent.source.close()  # the planner walks its own env; encoding needs no pair source
        if calibration == "rho" and not hasattr(agent, "planner"):
            raise ValueError(f"calibrated group features need an agent with latent actions to link and calibrate; "
                             f"the {agent.algo} agent in {checkpoint} has none (calibration='readers' needs none)")
        try:
            self.planner = (agent.planner(seed=seed) if calibration == "rho" else ReaderPlanner.build(
                agent, seed=seed, calibration_walks=DEFAULT_WALKS if calibration_walks is None else calibration_walks))
            generators = self.planner.generators()
        except CannotPlanError as e:
            raise ValueError(f"calibrated group features: the agent in {checkpoint} cannot be calibrated: {e}") from e
        self.agent = agent
        self.orders = np.array([order for order, _ in generators], np.int64)
        # per cycle: the inverse of its generator's step in Z_order, to count generator steps
        self.inverses = np.array([pow(step, -1, order) for order, step in generators], np.int64)
        self.features_dim = 2 * len(self.orders)

    def __call__(self, now: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """(N, features_dim) float32 for uint8 frames ``now`` and ``goal``, (N, H, W, C) each."""
        z = self.agent.encode(np.concatenate([now, goal]))  # both frames in one encoder pass
        offsets = self.planner.offsets(z[: len(now)], z[len(now):])
        steps = (offsets * self.inverses) % self.orders  # generator steps reaching each offset
        steps = np.where(steps > self.orders // 2, steps - self.orders, steps)  # the shorter way: (-n/2, n/2]
        turn = 2 * np.pi * steps / self.orders
        return np.stack([np.cos(turn), np.sin(turn)], -1).reshape(len(offsets), -1).astype(np.float32)


#: what :class:`FrozenFeatureObservation` can give: the latent means of both frames, the angle to the goal per
#: plane (:class:`GroupFeatures`), or the goal as a group element in the agent's own action units
#: (:class:`CalibratedGroupFeatures`, calibrated through rho, or ``read`` through position readers)
FEATURE_KINDS = ("latents", "group", "calibrated", "read")


class FrozenFeatureObservation(gym.ObservationWrapper):
    """A goal env whose observations are a frozen checkpoint's features, one of :data:`FEATURE_KINDS`.

    The frames are scaled to [0, 1] as SB3 scales image observations before its extractors, so a policy
    trained on this env sees exactly what the frozen extractor would have given it."""

    def __init__(self, env: gym.Env, checkpoint: "str | os.PathLike | BaseAgent", kind: str = "latents") -> None:
        """``checkpoint``: a path, or for ``calibrated`` and ``read`` also an agent in memory."""
        super().__init__(env)
        check_choice("kind", kind, FEATURE_KINDS)
        space = env.observation_space
        self.kind = kind
        if kind in ("calibrated", "read"):
            self.calibrated = CalibratedGroupFeatures(checkpoint, calibration="rho" if kind == "calibrated"
                                                      else "readers")
            dim = self.calibrated.features_dim
        else:
            self.extractor = (GroupFeatures(space, checkpoint) if kind == "group"
                              else EncoderFeatures(space, checkpoint)).eval()
            dim = self.extractor.features_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    @staticmethod
    def _frames(x: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x)[None]).float()
        return t / 255 if np.asarray(x).dtype == np.uint8 else t

    def observation(self, observation):
        if self.kind in ("calibrated", "read"):
            if isinstance(observation, dict):
                now, goal = observation["observation"], observation["goal"]
            else:
                now, goal = np.split(np.asarray(observation), 2, axis=-1)
            return self.calibrated(np.asarray(now)[None], np.asarray(goal)[None])[0]
        if isinstance(observation, dict):
            batch = {k: self._frames(v) for k, v in observation.items()}
        else:
            batch = self._frames(observation)
        with torch.no_grad():
            return self.extractor(batch)[0].numpy().astype(np.float32)
