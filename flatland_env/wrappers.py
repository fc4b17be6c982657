"""Visual noise of the paper's robustness runs (docs/worlds.md), on env streams and pair batches.

Definitions, in [0, 1] pixel units (frames are uint8, so values are scaled by 255 and
rounded):

- uniform: ``x + u``, ``u ~ U(0, high)`` per pixel (default high 0.1), clipped;
- salt: each pixel set to 1 with probability ``p`` (default 0.1), independent per image;
- background: ``1 - (1 - x)(1 - (bg - 0.1))`` clipped, one background for both frames of
  a pair. Backgrounds are procedural fractal (1/f^alpha, "natural-looking") textures from a seed,
  or images from a user folder.

Pure functions take an explicit ``np.random.Generator``, so everything is deterministic
under a seed; the ObservationWrappers reseed their own generator at ``reset(seed=...)``.
"""

from __future__ import annotations

from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Literal, get_args

import gymnasium as gym
import numpy as np

from flatland_env.transitions import Transition
from flatland_env.validation import check_choice, check_number, check_positive_int

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# -- noise on uint8 images (..., H, W, C) ------------------------------------------------------
def add_uniform_noise(images: np.ndarray, rng: np.random.Generator, high: float = 0.1) -> np.ndarray:
    """``x + U(0, high)`` per pixel and channel, clipped to [0, 1]."""
    check_number("high", high, 0.0, 1.0)
    noise = rng.random(images.shape, dtype=np.float32) * np.float32(high * 255.0)
    return np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)


def add_salt_noise(images: np.ndarray, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """Each pixel (all its channels) set to white with probability ``p``."""
    check_number("p", p, 0.0, 1.0)
    salt = rng.random((*images.shape[:-1], 1)) < p
    return np.where(salt, np.uint8(255), images)


def blend_backgrounds(images: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """``1 - (1 - x)(1 - (bg - 0.1))`` clipped to [0, 1]; ``backgrounds`` in [0, 1], broadcast to images."""
    x = images.astype(np.float32) / 255.0
    out = 1.0 - (1.0 - x) * (1.0 - (np.asarray(backgrounds, dtype=np.float32) - 0.1))
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


# -- backgrounds: (M, H, W, C) float32 in [0, 1] ----------------------------------------------------
def procedural_backgrounds(
    num: int = 10, frame_size: int = 64, channels: int = 1, seed: int | None = 0
) -> np.ndarray:
    """Grey fractal textures from a seed: amplitude spectrum 1/f^alpha, alpha in [1.4, 2.0] (clouds, bark, terrain)."""
    check_positive_int("num", num)
    _check_channels(channels)
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(frame_size)[:, None]
    fx = np.fft.rfftfreq(frame_size)[None, :]
    freq = np.hypot(fx, fy)
    freq[0, 0] = 1.0  # the mean is set by the normalisation below
    alpha = rng.uniform(1.4, 2.0, size=(num, 1, 1))
    spectrum = (rng.standard_normal((num, *freq.shape)) + 1j * rng.standard_normal((num, *freq.shape)))
    field = np.fft.irfft2(spectrum / freq**alpha, s=(frame_size, frame_size))
    lo = np.percentile(field, 1, axis=(1, 2), keepdims=True)
    hi = np.percentile(field, 99, axis=(1, 2), keepdims=True)
    grey = np.clip((field - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return np.repeat(grey[..., None], channels, axis=-1)


def load_backgrounds(folder: str | PathLike, frame_size: int = 64, channels: int = 1) -> np.ndarray:
    """Every image of a folder, resized to the frame, grey (channels=1) or RGB (3), in [0, 1]."""
    import imageio.v3 as iio
    from PIL import Image

    _check_channels(channels)
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"background folder {str(path)!r} does not exist or is not a folder")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"background folder {str(path)!r} has no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    out = []
    for f in files:
        img = np.asarray(iio.imread(f), dtype=np.float32)
        img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)
        scale = 255.0 if img.max() > 1.0 else 1.0
        resized = np.stack([
            np.asarray(Image.fromarray(img[..., c]).resize((frame_size, frame_size), Image.BILINEAR))
            for c in range(3)
        ], axis=-1) / scale
        out.append(resized.mean(axis=-1, keepdims=True) if channels == 1 else resized)
    return np.clip(np.stack(out), 0.0, 1.0).astype(np.float32)


def resolve_backgrounds(
    backgrounds: np.ndarray | str | PathLike | None, frame_size: int, channels: int, seed: int | None = 0
) -> np.ndarray:
    """None -> 10 procedural textures; a path -> the folder's images; an array -> itself, checked."""
    if backgrounds is None:
        return procedural_backgrounds(10, frame_size, channels, seed)
    if isinstance(backgrounds, (str, PathLike)):
        return load_backgrounds(backgrounds, frame_size, channels)
    bank = np.asarray(backgrounds, dtype=np.float32)
    if bank.ndim != 4 or bank.shape[1:3] != (frame_size, frame_size) or bank.shape[3] not in (1, channels):
        raise ValueError(
            f"backgrounds must be (M, {frame_size}, {frame_size}, 1 or {channels}) in [0, 1], got {bank.shape}"
        )
    return bank


# -- the paper's settings --------------------------------------------------------------------------
#: the kinds of visual noise on training pairs (one home: the CLI, the configs and the checks read it)
Noise = Literal["none", "uniform", "salt", "backgrounds"]
NOISE_KINDS: tuple[str, ...] = get_args(Noise)
#: the noise levels of the paper's robustness runs (docs/worlds.md)
UNIFORM_HIGH, SALT_P = 0.1, 0.1


def noise_settings(
    kind: str, frame_size: int, channels: int, background_dir: str | PathLike | None = None, seed: int | None = 0
) -> dict[str, Any]:
    """Keyword arguments of :func:`corrupt_pairs` / :func:`corrupt_frames` for a named kind of noise."""
    check_choice("noise", kind, NOISE_KINDS)
    if kind == "uniform":
        return {"uniform": UNIFORM_HIGH}
    if kind == "salt":
        return {"salt": SALT_P}
    if kind == "backgrounds":
        return {"backgrounds": resolve_backgrounds(background_dir or None, frame_size, channels, seed=seed)}
    return {}


def corrupt_frames(
    frames: np.ndarray,
    rng: np.random.Generator,
    uniform: float = 0.0,
    salt: float = 0.0,
    backgrounds: np.ndarray | None = None,
) -> np.ndarray:
    """Noisy copy of a batch of frames (N, H, W, C): one random background per frame, then uniform, then salt."""
    if backgrounds is not None:
        frames = blend_backgrounds(frames, backgrounds[rng.integers(0, len(backgrounds), size=len(frames))])
    if uniform:
        frames = add_uniform_noise(frames, rng, uniform)
    if salt:
        frames = add_salt_noise(frames, rng, salt)
    return frames


class NoisyWorld:
    """A world seen through visual noise: ``render_states`` returns corrupted observations.

    For measuring a model on noisy frames with the metric suite: each rendered frame gets its
    own noise (and, for backgrounds, its own random background) from the adapter's generator.
    Everything else (the spec, the observation space) is the clean world's.
    """

    def __init__(self, world: Any, kind: str, seed: int = 0, background_dir: str | PathLike | None = None) -> None:
        world = getattr(world, "unwrapped", world)
        h, _, c = world.observation_space.shape
        self.world, self.kind = world, kind
        self.symmetry = world.symmetry
        self.observation_space = world.observation_space
        self._noise = noise_settings(kind, h, c, background_dir, seed)
        self._rng = np.random.default_rng([seed, 0x6E6F69737921])

    def render_states(self, factors: np.ndarray) -> np.ndarray:
        return corrupt_frames(self.world.render_states(factors), self._rng, **self._noise)


# -- pairs ----------------------------------------------------------------------------------------
def corrupt_pairs(
    batch: Transition,
    rng: np.random.Generator,
    uniform: float = 0.0,
    salt: float = 0.0,
    backgrounds: np.ndarray | None = None,
) -> Transition:
    """Noisy copy of a batch: background (one per pair, shared by both frames), then uniform, then salt.

    ``uniform`` and ``salt`` are the noise levels (0 turns a kind off); ``backgrounds`` is a
    bank (M, H, W, C) from :func:`resolve_backgrounds`, or None for no background.
    """
    frames = [batch.obs, batch.next_obs]
    if backgrounds is not None:
        bg = backgrounds[rng.integers(0, len(backgrounds), size=len(batch))]
        frames = [blend_backgrounds(x, bg) for x in frames]
    if uniform:
        frames = [add_uniform_noise(x, rng, uniform) for x in frames]
    if salt:
        frames = [add_salt_noise(x, rng, salt) for x in frames]
    return replace(batch, obs=frames[0], next_obs=frames[1])


# -- gymnasium wrappers ----------------------------------------------------------------------
class _SeededNoise(gym.ObservationWrapper):
    """An ObservationWrapper with its own generator, reseeded by ``reset(seed=...)``."""

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        self._noise_rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:  # a stream apart from the env's own, so noise never shifts its states
            self._noise_rng = np.random.default_rng([seed, 0x6E6F697365])
        self._on_reset()
        return self.observation(obs), info

    def _on_reset(self) -> None:
        """Hook for noise drawn once per episode."""


class _LevelNoise(_SeededNoise):
    """Per-pixel noise of one level in [0, 1], applied by ``noise(images, rng, level)``."""

    level_name: str
    noise: Callable[[np.ndarray, np.random.Generator, float], np.ndarray]

    def __init__(self, env: gym.Env, level: float, seed: int | None = None) -> None:
        check_number(self.level_name, level, 0.0, 1.0)
        super().__init__(env, seed)
        self.level = level

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return type(self).noise(observation, self._noise_rng, self.level)


class UniformNoise(_LevelNoise):
    """Observations plus U(0, high) per pixel."""

    level_name, noise = "high", staticmethod(add_uniform_noise)

    def __init__(self, env: gym.Env, high: float = 0.1, seed: int | None = None) -> None:
        super().__init__(env, high, seed)


class SaltNoise(_LevelNoise):
    """Observations with each pixel set to white with probability p."""

    level_name, noise = "p", staticmethod(add_salt_noise)

    def __init__(self, env: gym.Env, p: float = 0.1, seed: int | None = None) -> None:
        super().__init__(env, p, seed)


class BackgroundNoise(_SeededNoise):
    """Observations blended onto a background drawn once per episode, so every pair of an episode shares it."""

    def __init__(self, env: gym.Env, backgrounds: np.ndarray | str | PathLike | None = None,
                 seed: int | None = None) -> None:
        super().__init__(env, seed)
        h, w, c = env.observation_space.shape
        if h != w:
            raise ValueError(f"BackgroundNoise needs square frames, got {h}x{w}")
        self.backgrounds = resolve_backgrounds(backgrounds, h, c, seed=0 if seed is None else seed)
        self._current = self.backgrounds[0]

    def _on_reset(self) -> None:
        self._current = self.backgrounds[self._noise_rng.integers(len(self.backgrounds))]

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return blend_backgrounds(observation, self._current)


def _check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (rgb), got {channels!r}")
