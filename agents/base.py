"""The surface shared by every agent: learn / encode / decode / save / load.

An agent owns a world (a registered env id), a stream of transitions from vector envs, a
learner (torch modules + one optimiser) and the update loop. Subclasses say only how a
batch becomes a loss. The update loop strips the labels from every batch before the
learner sees it: :class:`PairBatch` has no action field, and the true actions travel
to callbacks (logging) in a separate :class:`GroundTruth`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import flatland_env  # noqa: F401  (registers the worlds)
from agents.callbacks import BaseCallback, GroundTruth, as_callback
from agents.checkpoint import load_checkpoint, save_checkpoint
from flatland_env.spec import SymmetrySpec
from flatland_env.transitions import TransitionCollector
from flatland_env.wrappers import corrupt_pairs, resolve_backgrounds
from vae.model import VAE
from vae.preprocess import obs_to_tensor, tensor_to_frames


@dataclass(frozen=True)
class PairBatch:
    """What a learner receives: frame pairs and nothing else (no actions, no factors)."""

    obs: np.ndarray  # (B, H, W, C) uint8
    next_obs: np.ndarray  # (B, H, W, C) uint8


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss; parameters were left at their last good values."""


@dataclass
class AgentConfig:
    """Hyperparameters shared by all agents (PAPER.md 5 defaults)."""

    latent_size: int = 4
    """latent dimensions (two per plane)"""
    beta: float = 1.0
    """weight of the KL term"""
    capacity: float = 0.0
    """KL capacity C for annealing (0 disables)"""
    capacity_leadin: int = 10_000
    """updates over which the capacity rises to C"""
    lr: float = 1e-3
    """learning rate of the VAE"""
    lr_decay_steps: int = 0
    """cosine-decay every learning rate to lr_final_frac of its value over this many updates (0: constant)"""
    lr_final_frac: float = 0.05
    """final learning rate as a fraction of the initial one, when decaying"""
    batch_size: int = 128
    """pairs per update"""
    num_envs: int = 8
    """vector envs producing transitions"""
    k: int = 1
    """actions between the two frames of a pair"""
    channels: tuple[int, ...] = (32, 32, 32, 32)
    """conv widths of the encoder (the decoder mirrors them)"""
    hidden: int = 256
    """width of the FC layers"""
    output_selu: bool = False
    """SELU on the encoder output as in the original code (flattens latent circles)"""
    bf16: bool = True
    """bfloat16 autocast for the conv nets (latent algebra stays float32)"""
    noise: str = "none"
    """visual noise on training pairs: none, uniform, salt, backgrounds"""
    background_dir: str = ""
    """folder of background images for noise=backgrounds (empty: procedural textures)"""
    seed: int = 0
    """seed of the model, the data and the sampling"""
    device: str = "auto"
    """auto (CUDA when present), cpu or cuda"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of gym.make for the world"""

    def validate(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")

        for name in ("latent_size", "batch_size", "num_envs", "k", "hidden", "capacity_leadin"):
            positive_int(name)
        if isinstance(self.lr_decay_steps, bool) or not isinstance(self.lr_decay_steps, int) or self.lr_decay_steps < 0:
            raise ValueError(f"lr_decay_steps must be an integer >= 0, got {self.lr_decay_steps!r}")
        if not 0 < self.lr_final_frac <= 1:
            raise ValueError(f"lr_final_frac must be in (0, 1], got {self.lr_final_frac!r}")
        if self.latent_size % 2:
            raise ValueError(f"latent_size must be even (latent planes of 2 dims), got {self.latent_size}")
        for name in ("beta", "capacity", "lr"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {self.noise!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")


NOISE_KINDS = ("none", "uniform", "salt", "backgrounds")


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; everything also runs on CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    return torch.device(device)


def check_env_id(env_id: str) -> None:
    """Raise ValueError naming the registered worlds if ``env_id`` is not one."""
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; registered symmetry worlds: {sorted(flatland_env.WORLDS)}")


def make_world(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """gym.make with a clear error naming the registered worlds."""
    check_env_id(env_id)
    return gym.make(env_id, **(env_kwargs or {}))


class BaseAgent:
    """Common machinery; subclasses define ``Config``, ``_build`` and ``_loss``."""

    algo: ClassVar[str] = "base"
    Config: ClassVar[type[AgentConfig]] = AgentConfig

    def __init__(self, env: str = "FlatLand-v0", **hparams: Any) -> None:
        if not isinstance(env, str):
            raise ValueError(f"env must be a registered env id string, got {type(env).__name__}")
        allowed = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(hparams) - allowed)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown} for {self.algo}; allowed: {sorted(allowed)}")
        if "channels" in hparams:
            hparams["channels"] = tuple(hparams["channels"])
        self.config = self.Config(**hparams)
        self.config.validate()
        self.env_id = env
        world = make_world(env, self.config.env_kwargs)
        self.world = world.unwrapped
        self.spec: SymmetrySpec = self.world.symmetry
        self.obs_shape = world.observation_space.shape
        world.close()
        self.device = resolve_device(self.config.device)
        self.num_steps = 0
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.np_rng = np.random.default_rng(self.config.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.vae = VAE(
                in_channels=self.obs_shape[-1],
                latent_size=self.config.latent_size,
                channels=self.config.channels,
                hidden=self.config.hidden,
                frame_size=self.obs_shape[0],
                output_selu=self.config.output_selu,
            )
            self._build()
        self.modules().to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self._param_groups())
        for group in self.optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        self._stream: Iterator | None = None

    # -- what a subclass provides ------------------------------------------------------
    def _build(self) -> None:
        """Create the modules beyond ``self.vae`` (called under the seeded RNG)."""

    def _param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self.vae.parameters(), "lr": self.config.lr}]

    #: only supervised agents (ForwardVAE) set this; their ``_loss`` also takes the true actions
    uses_labels: ClassVar[bool] = False

    def _loss(self, batch: PairBatch, *labels: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def modules(self) -> nn.ModuleDict:
        """Every trainable module, by name (what a checkpoint stores)."""
        return nn.ModuleDict({"vae": self.vae})

    # -- data ------------------------------------------------------------------------
    def _batches(self) -> Iterator[tuple[PairBatch, GroundTruth]]:

        collector = TransitionCollector(
            self.env_id,
            num_envs=self.config.num_envs,
            k=self.config.k,
            seed=int(self.np_rng.integers(2**31)),
            shuffle=True,
            **self.config.env_kwargs,
        )
        noise = self._noise_settings()
        noise_rng = np.random.default_rng(int(self.np_rng.integers(2**31)))
        for t in collector.stream(self.config.batch_size):
            if noise:
                t = corrupt_pairs(t, noise_rng, **noise)
            yield PairBatch(t.obs, t.next_obs), GroundTruth(t.actions, t.factors, t.next_factors)

    def _noise_settings(self) -> dict[str, Any]:
        """Keyword arguments of corrupt_pairs for the configured noise (PAPER.md 6 levels)."""
        kind = self.config.noise
        if kind == "none":
            return {}
        if kind == "uniform":
            return {"uniform": 0.1}
        if kind == "salt":
            return {"salt": 0.1}
        bank = resolve_backgrounds(
            self.config.background_dir or None, self.obs_shape[0], self.obs_shape[-1], seed=self.config.seed
        )
        return {"backgrounds": bank}

    # -- training --------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16)

    def train_step(self, batch: PairBatch, true_actions: np.ndarray | None = None) -> dict[str, float]:
        """One update from one batch; raises NonFiniteLossError before touching parameters.

        ``true_actions`` is accepted only by supervised agents; unsupervised ones refuse it.
        """
        if not isinstance(batch, PairBatch):
            raise ValueError(f"batch must be a PairBatch, got {type(batch).__name__}")
        self.modules().train()
        if self.uses_labels:
            if true_actions is None:
                raise ValueError(f"{self.algo} is supervised: train_step needs the true actions")
            loss, stats = self._loss(batch, true_actions)
        else:
            if true_actions is not None:
                raise ValueError(f"{self.algo} learns without action labels; do not pass true_actions")
            loss, stats = self._loss(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{self.algo}: the loss became {loss.item()} at update {self.num_steps}; parameters kept at "
                f"their last good values (try a lower learning rate or beta)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        scale = self.lr_scale()
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * scale
        self.optimizer.step()
        self.num_steps += 1
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}}

    def lr_scale(self) -> float:
        """Cosine decay from 1 to lr_final_frac over lr_decay_steps updates, then flat (1 when off)."""
        c = self.config
        if c.lr_decay_steps == 0:
            return 1.0
        progress = min(1.0, self.num_steps / c.lr_decay_steps)
        return c.lr_final_frac + (1 - c.lr_final_frac) * 0.5 * (1 + math.cos(math.pi * progress))

    def learn(
        self,
        total_steps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        progress_bar: bool = True,
    ) -> "BaseAgent":
        """Run ``total_steps`` more updates on fresh transitions from the vector envs."""
        if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps < 0:
            raise ValueError(f"total_steps must be an integer >= 0, got {total_steps!r}")
        cb = as_callback(callback)
        if self._stream is None:
            self._stream = self._batches()
        cb.on_training_start(self, int(total_steps))
        bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(total_steps), desc=self.algo, unit="upd", dynamic_ncols=True)
        try:
            for _ in range(int(total_steps)):
                batch, truth = next(self._stream)
                stats = self.train_step(batch, truth.actions if self.uses_labels else None)
                if bar is not None:
                    bar.update(1)
                    if self.num_steps % 10 == 0:
                        bar.set_postfix(self.progress_stats(stats), refresh=False)
                if not cb.on_step(self, stats, batch, truth):
                    break
        finally:
            if bar is not None:
                bar.close()
            cb.on_training_end(self)
        return self

    def progress_stats(self, stats: dict[str, float]) -> dict[str, str]:
        """What the progress bar shows."""
        keys = ("loss", "recon", "pred", "reward", "entropy")
        return {k: f"{stats[k]:.3g}" for k in keys if k in stats}

    # -- inference ---------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, obs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Latent means of uint8 frames (N, H, W, C) -> (N, L) float32."""
        self.modules().eval()
        out = [
            self.vae.encode(obs_to_tensor(obs[i : i + batch_size], self.device))[0].float().cpu()
            for i in range(0, len(obs), batch_size)
        ]
        return torch.cat(out).numpy() if out else np.zeros((0, self.config.latent_size), np.float32)

    @torch.no_grad()
    def decode(self, latents: np.ndarray) -> np.ndarray:
        """uint8 frames (N, H, W, C) decoded from latents (N, L)."""
        self.modules().eval()
        z = torch.as_tensor(np.asarray(latents, np.float32), device=self.device)
        if z.ndim != 2 or z.shape[1] != self.config.latent_size:
            raise ValueError(f"latents must have shape (N, {self.config.latent_size}), got {tuple(z.shape)}")
        return tensor_to_frames(torch.sigmoid(self.vae.decode(z).float()))

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Weights, optimiser, step count and RNG state, written atomically."""
        cfg = dataclasses.asdict(self.config)
        save_checkpoint(
            path,
            {
                "algo": self.algo,
                "env_id": self.env_id,
                "config": json.dumps(cfg),
                "num_steps": self.num_steps,
                "modules": self.modules().state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": self.generator.get_state(),
                "numpy_rng": json.dumps(self.np_rng.bit_generator.state),
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> "BaseAgent":
        """Rebuild an agent from a checkpoint (safe: weights_only loading)."""
        payload = load_checkpoint(path, expected_algo=None if cls is BaseAgent else cls.algo)
        from agents import AGENTS

        algo_cls = AGENTS.get(payload["algo"]) if cls is BaseAgent else cls
        if algo_cls is None:
            raise ValueError(f"checkpoint holds unknown algorithm {payload['algo']!r}; known: {sorted(AGENTS)}")
        cfg = json.loads(payload["config"])
        if device is not None:
            cfg["device"] = device
        agent = algo_cls(payload["env_id"], **cfg)
        agent.modules().load_state_dict(payload["modules"])
        agent.optimizer.load_state_dict(payload["optimizer"])
        agent.num_steps = int(payload["num_steps"])
        agent.generator.set_state(payload["torch_rng"])
        agent.np_rng.bit_generator.state = json.loads(payload["numpy_rng"])
        return agent

