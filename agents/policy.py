"""The RGrVAE policy: which latent group action explains a frame pair (docs/method.md)."""

from __future__ import annotations

import torch
from torch import nn


class PairPolicy(nn.Module):
    """pi(a | x1, x2) from the two frames stacked as channels.

    conv k3 s2 (2C->32), ReLU, conv (32->16), ReLU, conv (16->16), ReLU, linear. The last
    layer starts at zero weight and unit bias, so every action starts equally likely;
    probabilities are softmax(|logits|) as in the original. ``orthogonal`` initialises the
    convolutions orthogonally, as the original code did.
    """

    def __init__(self, in_channels: int, num_actions: int, frame_size: int = 64, orthogonal: bool = False) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(2 * in_channels, 32, 3, 2), nn.ReLU(),
            nn.Conv2d(32, 16, 3, 2), nn.ReLU(),
            nn.Conv2d(16, 16, 3, 2), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, 2 * in_channels, frame_size, frame_size)).shape[1]
        if orthogonal:  # as the original code did: gain sqrt(2) for ReLU, zero biases
            for layer in self.convs:
                if isinstance(layer, nn.Conv2d):
                    nn.init.orthogonal_(layer.weight, gain=nn.init.calculate_gain("relu"))
                    nn.init.zeros_(layer.bias)
        self.head = nn.Linear(n_flat, num_actions)
        self.reset_head()

    def reset_head(self) -> None:
        """Zero weight and unit bias: every action equally likely, whatever the frames."""
        with torch.no_grad():
            nn.init.zeros_(self.head.weight)
            nn.init.ones_(self.head.bias)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Action probabilities (B, A); inputs are detached so the policy never shapes the VAE."""
        x = torch.cat([x1.detach(), x2.detach()], dim=1)
        return torch.softmax(self.head(self.convs(x)).float().abs(), dim=-1)
