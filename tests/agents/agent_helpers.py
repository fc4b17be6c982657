"""Tiny agents for fast tests (a small network, small batches, two vector envs), and an agent with an exact encoder."""

from __future__ import annotations

import math

import numpy as np

from agents import AGENTS, BaseAgent, ForwardVAE
from flatland_env.pairs import PairSourceConfig

#: a tiny network and small batches: a few dozen updates take seconds on one core
TINY = dict(batch_size=16, channels=(8, 8, 8, 8), hidden=32, seed=0)
#: two vector envs feed it
TINY_DATA = dict(num_envs=2)

def tiny_agent(model: str = "rgrvae", data: dict | None = None, **overrides) -> BaseAgent:
    """A tiny agent of a registered model on FlatLand (data: PairSourceConfig overrides)."""
    return AGENTS[model](PairSourceConfig(**{**TINY_DATA, **(data or {})}), **{**TINY, **overrides})


N = 33


class TorusAgent(ForwardVAE):
    """A ForwardVAE whose encoder is FlatLand's exact torus embedding: angle 2*pi*k*index/33 on each plane.

    The disc's lattice index is read off the frame (its centroid), so the agent knows nothing the
    frames do not show; ``k`` picks which faithful representation it holds, ``mix`` entangles the planes.
    """

    k = 1
    mix = 0.0
    warp = 0.0  # a latent circle that is not evenly spaced: position i sits warp * sin(2*pi*i/33) rad off
    cross = 0.0  # not quite a product: the x plane's angle sits cross * sin(2*pi*y/33) rad off
    ignore_y = False  # an encoder that ignores y: its plane holds one point

    def encode(self, obs, batch_size=512):
        frames = np.asarray(obs)[..., 0] > 0
        rows, cols = np.arange(frames.shape[1]), np.arange(frames.shape[2])
        cy = (frames.sum(2) * rows).sum(1) / frames.sum((1, 2))
        cx = (frames.sum(1) * cols).sum(1) / frames.sum((1, 2))
        ix, iy = np.rint(cx - 15.5), np.rint(cy - 15.5)  # the aliased disc's centroid is half a pixel up-left
        ax = (2 * np.pi * self.k * ix / N + self.mix * iy + self.warp * np.sin(2 * np.pi * ix / N)
              + self.cross * np.sin(2 * np.pi * iy / N))
        ay = 0 * iy if self.ignore_y else 2 * np.pi * self.k * iy / N
        return np.stack([np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)], 1).astype(np.float32)


def torus_agent(k=1, mix=0.0, angle_error=0.0, warp=0.0, cross=0.0, ignore_y=False, **overrides):
    agent = tiny_agent("forward", **overrides)
    agent.__class__ = type("Torus", (TorusAgent,), {"k": k, "mix": mix, "warp": warp, "cross": cross,
                                                    "ignore_y": ignore_y})
    theta = 2 * math.pi * k * 5 / N + angle_error  # learned angles a little off: calibration corrects them
    agent.rho.angles.data[:] = agent.rho.angles.new_tensor([-theta, theta, -theta, theta])
    return agent
