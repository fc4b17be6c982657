"""An agent's encoder as stable-baselines3 features for goal tasks (docs/acting.md, "SB3 features").

:class:`EncoderFeatures` turns a goal observation (the Dict of ``observation`` and ``goal``
frames of :class:`~flatland_env.goal.GoalWrapper`, or both stacked along channels) into the
latent means of both frames, concatenated: 2 * latent_size numbers instead of two images. The
encoder is frozen by default (the policy learns on top of a fixed representation) and is
fine-tuned with the policy when ``frozen=False``.

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
from vae.nets import Encoder


class EncoderFeatures(BaseFeaturesExtractor):
    """Latent means of the current and the goal frame, from an agent checkpoint's encoder."""

    def __init__(self, observation_space: spaces.Space, checkpoint: str | os.PathLike, frozen: bool = True) -> None:
        if not isinstance(frozen, bool):
            raise ValueError(f"frozen must be True or False, got {frozen!r}")
        agent = BaseAgent.load(checkpoint, device="cpu")
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
        super().__init__(observation_space, features_dim=2 * agent.config.latent_size)
        self.channels_last = shape == pair
        self.channels = frame[2]
        self.frozen = frozen
        self.encoder: Encoder = agent.vae.encoder
        self.encoder.requires_grad_(not frozen)
        agent.source.close()

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
