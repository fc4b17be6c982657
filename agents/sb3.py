"""An agent's encoder as stable-baselines3 features for goal tasks (docs/acting.md, "SB3 features").

:class:`EncoderFeatures` turns a goal observation (the Dict of ``observation`` and ``goal``
frames of :class:`~flatland_env.goal.GoalWrapper`, or both stacked along channels) into the
latent means of both frames, concatenated: 2 * latent_size numbers instead of two images. The
encoder is frozen by default (the policy learns on top of a fixed representation) and is
fine-tuned with the policy when ``frozen=False``. :class:`GroupFeatures` gives instead, per
latent plane of the agent's rho, the (cos, sin) of the angle from the current code to the goal
code: the goal in the agent's own group coordinates.

    PPO("MultiInputPolicy", "FlatLandGoal-v0",
        policy_kwargs=dict(features_extractor_class=EncoderFeatures,
                           features_extractor_kwargs=dict(checkpoint="runs/X/checkpoint.pt")))
"""

from __future__ import annotations

import os

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.base import BaseAgent
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

    A plane rotation is what each learned action does, so this angle is how far, and which way, the
    agent's own group says the goal lies along that plane: a policy reads the direction off the sign
    of the sine instead of learning it from products of raw coordinates. Everything comes from the
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
