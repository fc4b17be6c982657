"""Encoder and decoder of the backbone VAE (Painter et al. 2020; docs/method.md).

Four k4 s2 p1 convolutions down to 4x4, two hidden FC layers, and a linear head for the
mean and log-variance; the decoder mirrors it with transposed convolutions and outputs
logits. Widths are configurable (noisy-data variants double the middle convolutions).

The hidden activation is SELU, as in the original code, or ReLU (``activation="relu"``). With
SELU a supervised regression of a small heart's turn from these convolutions barely moves in
thousands of updates, where ReLU learns it (docs/method.md, "Sprites"); FlatLand's defaults
keep SELU, with which they were tuned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flatland_env.validation import check_choice, check_positive_int

#: hidden activations the backbone offers
ACTIVATIONS = {"selu": nn.SELU, "relu": nn.ReLU}


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        check_positive_int(name, v)


def _activation(name: str) -> type[nn.Module]:
    return ACTIVATIONS[check_choice("activation", name, tuple(ACTIVATIONS))]


class Encoder(nn.Module):
    """x (B, C, 64, 64) -> (mu, logvar), each (B, latent_size).

    ``output_selu`` reproduces the original's SELU on the output layer; it floors the means
    at -1.758 and flattens the latent circles, so it is off by default (docs/method.md).

    ``pooled`` also feeds the spatial maximum of each channel of the last two conv maps to the FC layers. That
    view is nearly the same wherever a small object sits, so its shape (a heart's turn) is learned once for every
    position, where the flattened map alone must learn it per grid cell (docs/method.md, "The backbone").
    """

    def __init__(
        self,
        in_channels: int = 1,
        latent_size: int = 4,
        channels: tuple[int, ...] = (32, 32, 32, 32),
        hidden: int = 256,
        frame_size: int = 64,
        output_selu: bool = False,
        logvar_bounds: tuple[float, float] | None = None,
        activation: str = "selu",
        pooled: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, latent_size=latent_size, hidden=hidden, frame_size=frame_size)
        act = _activation(activation)
        if logvar_bounds is not None and not (math.isfinite(logvar_bounds[0]) and math.isfinite(logvar_bounds[1])
                                              and logvar_bounds[0] < logvar_bounds[1]):
            raise ValueError(f"logvar_bounds must be two finite numbers, low < high, got {logvar_bounds!r}")
        self.logvar_bounds = logvar_bounds
        if len(channels) < 1 or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels!r}")
        if frame_size % (2 ** len(channels)) != 0:
            raise ValueError(f"frame_size {frame_size} must be divisible by 2**{len(channels)} (one halving per conv)")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), act()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.pooled = bool(pooled)
        side = frame_size // 2 ** len(channels)
        width = c_in * side * side + (sum(int(c) for c in channels[-2:]) if self.pooled else 0)
        # Flatten is a no-op on features(); it is kept so that saved state dicts keep their keys
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), act(), nn.Linear(hidden, hidden), act())
        self.head = nn.Linear(hidden, 2 * latent_size)
        self.output_act = nn.SELU() if output_selu else nn.Identity()
        self.latent_size = latent_size

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The FC layers' input: the last conv map flattened, then (``pooled``) the last two maps' maxima."""
        if not self.pooled:
            return self.convs(x).flatten(1)
        maps = []
        for i, layer in enumerate(self.convs):
            x = layer(x)
            if i % 2 == 1:  # after each conv's activation
                maps.append(x)
        return torch.cat([x.flatten(1)] + [m.amax((2, 3)) for m in maps[-2:]], 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.fc(self.features(x))
        # the posterior head runs in float32 even under bf16 autocast: the log-variance is exponentiated
        with torch.autocast(x.device.type, enabled=False):
            h = self.output_act(self.head(features.float()))
        mu, logvar = h.chunk(2, dim=-1)
        if self.logvar_bounds is not None:
            logvar = soft_clamp(logvar, *self.logvar_bounds)
        return mu, logvar


def soft_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """low + softplus(x - low) - softplus(x - high): about x well inside (low, high), smoothly bounded by both.

    Bounding the log-variance keeps one bad update from inflating the posterior variance by e^30 (the
    divergences of docs/method.md begin that way), while its gradient never vanishes inside the bounds.
    """
    return low + F.softplus(x - low) - F.softplus(x - high)


class Decoder(nn.Module):
    """z (B, latent_size) -> logits (B, C, 64, 64)."""

    def __init__(
        self,
        out_channels: int = 1,
        latent_size: int = 4,
        channels: tuple[int, ...] = (32, 32, 32, 32),
        hidden: int = 256,
        frame_size: int = 64,
        activation: str = "selu",
    ) -> None:
        super().__init__()
        act = _activation(activation)
        _check_positive(out_channels=out_channels, latent_size=latent_size, hidden=hidden, frame_size=frame_size)
        if frame_size % (2 ** len(channels)) != 0:
            raise ValueError(f"frame_size {frame_size} must be divisible by 2**{len(channels)}")
        self.side = frame_size // 2 ** len(channels)
        self.c0 = channels[0]
        self.fc = nn.Sequential(
            nn.Linear(latent_size, hidden), act(), nn.Linear(hidden, self.c0 * self.side * self.side), act()
        )
        layers: list[nn.Module] = []
        outs = list(channels[1:]) + [out_channels]
        c_in = self.c0
        for i, c in enumerate(outs):
            layers.append(nn.ConvTranspose2d(c_in, c, 4, 2, 1))
            if i < len(outs) - 1:
                layers.append(act())
            c_in = c
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.c0, self.side, self.side).contiguous(memory_format=torch.channels_last)
        return self.deconvs(h)
