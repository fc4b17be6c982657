"""The surface shared by every agent: learn / predict / encode / decode / save / load.

An agent owns a pair source (the world's pairs, see :mod:`flatland_env.pairs`), a learner
(torch modules and one optimiser) and the update loop. Subclasses say only how a batch
becomes a loss. The update loop strips the labels from every batch before the learner sees
it: :class:`~flatland_env.pairs.PairBatch` has no action field, and the true actions travel
to callbacks (logging) in a separate :class:`~flatland_env.pairs.GroundTruth`.

Every agent class registers itself under its ``algo`` name in :data:`AGENTS` when its
module is imported (``import agents`` imports them all), which is where the CLI, the
benchmarks and checkpoint loading find it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from agents.callbacks import BaseCallback, as_callback
from agents.checkpoint import CheckpointError, load_checkpoint, numpy_to_torch, save_checkpoint, torch_to_numpy
from agents.hardware import PRECISIONS, Precision, choose_precision, resolve_device
from flatland_env.pairs import (
    DetachedSource,
    PairBatch,
    PairSource,
    PairSourceConfig,
    make_pair_source,
    split_labels,
)
from flatland_env.registration import make_world
from flatland_env.spec import spec_from_json
from flatland_env.validation import check_choice, check_nonnegative_int, check_number, check_positive_int
from vae.model import RECON_LOSSES, VAE, ReconLoss
from vae.nets import ACTIVATIONS
from vae.preprocess import obs_to_tensor, tensor_to_frames

#: algorithm name (the CLI subcommand, the checkpoint's "algo") -> agent class
AGENTS: dict[str, type["BaseAgent"]] = {}

#: the largest learning rate any optimiser here accepts: Adam's steps scale with it, and far above 1 they overflow
MAX_LR = 1.0


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss, gradient or weight; the parameters were rolled back to their last
    finite values."""


# -- validation shared by every Config ---------------------------------------------------------
def check_lr(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, MAX_LR, low_open=True)


@dataclass
class AgentConfig:
    """Hyperparameters of every agent: the backbone VAE, its optimiser and the run's seed and hardware."""

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
    channels: tuple[int, ...] = (32, 32, 32, 32)
    """conv widths of the encoder (the decoder mirrors them)"""
    hidden: int = 256
    """width of the FC layers"""
    output_selu: bool = False
    """SELU on the encoder output as in the original code (flattens latent circles)"""
    activation: Literal["selu", "relu"] = "selu"
    """hidden activation of the encoder and decoder: SELU as in the original code, or ReLU (trained with
    labels, only the ReLU encoder learned a small sprite's turn; docs/method.md "Sprites")"""
    pooled_encoder: bool = False
    """also feed the encoder's FC layers the spatial maxima of its last two conv maps: a view of a small object
    that is nearly the same at every position (trained with labels, it learns a heart's turn sooner;
    docs/method.md "Sprites")"""
    recon_loss: ReconLoss = "squared"
    """reconstruction term: squared (the paper's (sigmoid(logits) - x)^2) or bernoulli (cross-entropy with
    logits, whose gradient does not vanish on small objects the decoder has written off)"""
    logvar_bounds: tuple[float, float] | None = None
    """soft bounds (low, high) on the encoder's log-variance (None: unbounded, as in the paper)"""
    grad_clip: float = 0.0
    """clip the global norm of all gradients at this multiple of its median over the last 100 updates, so one
    wild batch cannot throw the weights or Adam's moments far (0: no clipping)"""
    precision: Precision = "auto"
    """auto (bf16 only where the hardware computes it natively), fp32 or bf16 autocast for the conv nets"""
    seed: int = 0
    """seed of the model, the data and the sampling"""
    device: str = "auto"
    """auto (CUDA when present), cpu, cuda or cuda:N"""

    def __post_init__(self) -> None:
        for name in ("latent_size", "batch_size", "hidden", "capacity_leadin"):
            check_positive_int(name, getattr(self, name))
        if self.latent_size % 2:
            raise ValueError(f"latent_size must be even (latent planes of 2 dims), got {self.latent_size}")
        self.channels = tuple(self.channels)
        if not self.channels:
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {self.channels!r}")
        self.channels = tuple(check_positive_int(f"channels[{i}]", c) for i, c in enumerate(self.channels))
        self.lr_decay_steps = check_nonnegative_int("lr_decay_steps", self.lr_decay_steps)
        check_number("lr_final_frac", self.lr_final_frac, 0.0, 1.0, low_open=True)
        check_number("beta", self.beta)
        check_number("capacity", self.capacity)
        check_number("grad_clip", self.grad_clip)
        if self.logvar_bounds is not None:
            bounds = tuple(self.logvar_bounds)
            if len(bounds) != 2 or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds) \
                    or bounds[0] >= bounds[1]:
                raise ValueError(f"logvar_bounds must be two finite numbers low < high, or None, got {bounds!r}")
            self.logvar_bounds = (float(bounds[0]), float(bounds[1]))
        check_lr("lr", self.lr)
        self.seed = check_nonnegative_int("seed", self.seed)
        check_choice("recon_loss", self.recon_loss, RECON_LOSSES)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("precision", self.precision, PRECISIONS)
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")


def agent_class(name: str) -> type["BaseAgent"]:
    """The registered agent class of an algorithm name, with an error naming the registered ones."""
    if name not in AGENTS:
        raise ValueError(f"unknown model {name!r}; registered agents: {', '.join(sorted(AGENTS))}")
    return AGENTS[name]


def _refuse_continuous(source: PairSource, agent: type["BaseAgent"]) -> PairSource:
    """The source, if its world's group is finite or the agent learns continuous ones (closed and refused otherwise).

    Pair sources serve a continuous world too (action vectors as labels); ForwardVAE learns from it.
    """
    if source.spec.is_discrete or agent.learns_continuous:
        return source
    source.close()
    able = sorted(name for name, cls in AGENTS.items() if cls.learns_continuous)
    raise ValueError(f"{agent.algo or agent.__name__} learns discrete actions, but the group of {source.env_id!r} is "
                     f"continuous ({source.spec.group_name}); train it on a world with a finite group, or use "
                     f"{', '.join(able) or 'an agent that learns continuous groups'}")


class BaseAgent:
    """Common machinery; subclasses define ``algo``, ``Config``, ``_build`` and ``_loss``."""

    algo: ClassVar[str] = ""
    Config: ClassVar[type[AgentConfig]] = AgentConfig
    #: only supervised agents (ForwardVAE) set this; their ``_loss`` also takes the true actions
    uses_labels: ClassVar[bool] = False
    #: agents that also learn a world whose group is continuous (action vectors); the others refuse one
    learns_continuous: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("algo"):
            AGENTS[cls.algo] = cls

    def __init__(
        self,
        source: PairSource | PairSourceConfig | str = "FlatLand-v0",
        config: AgentConfig | None = None,
        **hparams: Any,
    ) -> None:
        """``source``: a pair source, its config, or a registered world id (its default pair source).

        Hyperparameters are either a ``config`` (this agent's ``Config``) or keyword
        overrides of its defaults, e.g. ``RGrVAE("FlatLand-v0", seed=1, gamma=10)``.
        """
        self.config = self._make_config(config, hparams)
        self.device = resolve_device(self.config.device)
        self.precision = choose_precision(self.config.precision, self.device)
        self.num_steps = 0
        #: why the last ``learn`` stopped before its budget (None: it used the budget or was interrupted)
        self.stop_reason: str | None = None
        #: (update, label-free equivariance error) of every check of the stopping rule so far
        self.self_checks: list[tuple[int, float]] = []
        #: update at which the learning-rate decay began (None: not yet; agents may start it on a signal)
        self.lr_decay_start: int | None = 0
        #: global gradient norms of the last updates, the scale of the gradient clipping
        self.grad_norms: list[float] = []
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.np_rng = np.random.default_rng(self.config.seed)
        self.source = _refuse_continuous(self._make_source(source), type(self))
        self.spec = self.source.spec
        self.world = self.source.world
        self.obs_shape: tuple[int, ...] = tuple(self.source.observation_space.shape)
        try:
            self._check_world()
        except ValueError:
            self.source.close()
            raise
        self._init_learner(self.config.seed)

    def _init_learner(self, init_seed: int) -> None:
        """Fresh networks (initialised from ``init_seed``), optimiser and finite-value guard."""
        self._init_seed = int(init_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._init_seed)
            self.vae = VAE(
                in_channels=self.obs_shape[-1],
                latent_size=self.config.latent_size,
                channels=self.config.channels,
                hidden=self.config.hidden,
                frame_size=self.obs_shape[0],
                output_selu=self.config.output_selu,
                logvar_bounds=self.config.logvar_bounds,
                activation=self.config.activation,
                pooled_encoder=self.config.pooled_encoder,
            )
            self._build()
        self.modules().to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self._param_groups())
        for group in self.optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        self._guard = FiniteGuard(self)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def _make_config(cls, config: AgentConfig | None, hparams: dict[str, Any]) -> AgentConfig:
        if config is not None:
            if hparams:
                raise ValueError("pass either a config or keyword hyperparameters, not both")
            if not isinstance(config, cls.Config):
                raise ValueError(f"{cls.algo} takes a {cls.Config.__name__}, got {type(config).__name__}")
            return dataclasses.replace(config)  # a copy, validated again
        allowed = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(hparams) - allowed)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown} for {cls.algo}; allowed: {sorted(allowed)}")
        return cls.Config(**hparams)

    def _make_source(self, source: PairSource | PairSourceConfig | str) -> PairSource:
        """A built source as is; a config or world id built with seeds drawn from the agent's generator."""
        if isinstance(source, PairSource):
            return source
        if isinstance(source, str):
            source = PairSourceConfig(env_id=source)
        if not isinstance(source, PairSourceConfig):
            raise ValueError(
                f"source must be a PairSource, a PairSourceConfig or a registered world id, got {type(source).__name__}"
            )
        seed = int(self.np_rng.integers(2**31))
        return make_pair_source(source, seed=seed, noise_seed=int(self.np_rng.integers(2**31)))

    def _check_world(self) -> None:
        """Hook: refuse worlds the algorithm cannot learn, with a clear error (before any network exists)."""

    # -- what a subclass provides ------------------------------------------------------------
    def _build(self) -> None:
        """Create the modules beyond ``self.vae`` (called under the seeded RNG)."""

    def _param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self.vae.parameters(), "lr": self.config.lr}]

    def _loss(self, batch: PairBatch, *labels: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def modules(self) -> nn.ModuleDict:
        """Every trainable module, by name (what a checkpoint stores)."""
        return nn.ModuleDict({"vae": self.vae})

    # -- training ----------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def train_step(self, batch: PairBatch, true_actions: np.ndarray | None = None) -> dict[str, float]:
        """One update from one batch.

        A NaN or inf loss, gradient, weight or optimiser state raises NonFiniteLossError with
        the parameters and optimiser state rolled back to their values before this update.
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
        self._guard.check_loss(loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._guard.check_gradients()
        if self.config.grad_clip > 0:
            self._clip_gradients()
        scale = self.lr_scale()
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * scale
        self.optimizer.step()
        self._guard.check_step()
        self.num_steps += 1
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}}

    def _clip_gradients(self, history: int = 100) -> None:
        """Clip the global gradient norm at grad_clip x its median over the last ``history`` updates."""
        limit = self.config.grad_clip * float(np.median(self.grad_norms)) if self.grad_norms else math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(self._guard.params, limit))
        self.grad_norms = (self.grad_norms + [min(norm, limit)])[-history:]

    def lr_scale(self) -> float:
        """Cosine decay from 1 to lr_final_frac over lr_decay_steps updates from ``lr_decay_start``, then flat
        (1 when off or not yet started)."""
        c = self.config
        if c.lr_decay_steps == 0 or self.lr_decay_start is None:
            return 1.0
        progress = min(1.0, max(0, self.num_steps - self.lr_decay_start) / c.lr_decay_steps)
        return c.lr_final_frac + (1 - c.lr_final_frac) * 0.5 * (1 + math.cos(math.pi * progress))

    def learn(
        self,
        total_steps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        progress_bar: bool = True,
    ) -> "BaseAgent":
        """Run up to ``total_steps`` more updates on pairs from the source; a callback may stop earlier.

        Callbacks see each update's scalars, the batch and its ground truth; they may not
        change the weights (a callback that does raises RuntimeError).
        """
        check_nonnegative_int("total_steps", total_steps)
        cb = as_callback(callback)
        self.stop_reason = None
        mode = self.source.config.prefetch
        self.source.prefetch(mode == "on" or (mode == "auto" and self.device.type == "cuda"))
        cb.on_training_start(self, int(total_steps))
        bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(total_steps), desc=self.algo, unit="upd", dynamic_ncols=True)
        try:
            for _ in range(int(total_steps)):
                batch, truth = split_labels(self.source.next_batch(self.config.batch_size))
                stats = self.train_step(batch, truth.actions if self.uses_labels else None)
                if bar is not None:
                    bar.update(1)
                    if self.num_steps % 10 == 0:
                        bar.set_postfix(self.progress_stats(stats), refresh=False)
                versions = self._guard.weight_versions()
                keep_going = cb.on_step(self, stats, batch, truth)
                if self._guard.weight_versions() != versions:
                    raise RuntimeError(f"a callback changed the agent's weights at update {self.num_steps}")
                if not keep_going:
                    break
                reason = self.stop_check()
                if reason is not None:
                    self.stop_reason = reason
                    break
        finally:
            if bar is not None:
                bar.close()
            cb.on_training_end(self)
        return self

    def stop_check(self) -> str | None:
        """Hook, called after every update: a reason to stop training now, or None (the base agent never stops)."""
        return None

    def finish_training(self) -> None:
        """Hook, called once a run has trained its whole budget (not when a signal stopped it), before it is saved
        and evaluated: work due at the end that the last update's :meth:`stop_check` may not have done."""

    def _extra_state(self) -> dict[str, Any]:
        """JSON-able state beyond weights and generators that a checkpoint keeps; subclasses add theirs."""
        return {"grad_norms": self.grad_norms, "lr_decay_start": self.lr_decay_start}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` saved."""
        self.grad_norms = [float(g) for g in state.get("grad_norms", [])]
        if "lr_decay_start" in state:
            self.lr_decay_start = state["lr_decay_start"]

    def progress_stats(self, stats: dict[str, float]) -> dict[str, str]:
        """What the progress bar shows."""
        keys = ("loss", "recon", "pred", "reward", "entropy")
        return {k: f"{stats[k]:.3g}" for k in keys if k in stats}

    # -- inference ---------------------------------------------------------------------------
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

    def plan(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[int]:
        """Env actions from ``obs`` to ``goal_obs``: only agents with latent actions can plan (agents/planning.py)."""
        from agents.planning import CannotPlanError

        raise CannotPlanError(
            f"{self.algo or type(self).__name__} has no latent actions: its latents say what a frame shows, but "
            f"nothing in it says which action moves one latent towards another (RGrVAE and ForwardVAE can plan)"
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Weights, optimiser, step count, every generator and the pair source's state, written atomically."""
        save_checkpoint(
            path,
            {
                "algo": self.algo,
                "config": json.dumps(dataclasses.asdict(self.config)),
                "num_steps": self.num_steps,
                "modules": self.modules().state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": self.generator.get_state(),
                "numpy_rng": json.dumps(self.np_rng.bit_generator.state),
                "agent_state": json.dumps(self._extra_state()),
                "source": {
                    "config": json.dumps(dataclasses.asdict(self.source.config)),
                    "seed": self.source.seed,
                    "noise_seed": self.source.noise_seed,
                    "state": numpy_to_torch(self.source.state_dict()),
                    # what inference needs when the source cannot be rebuilt (a dataset that has moved)
                    "world": json.dumps({"spec": self.spec.to_json(), "obs_shape": list(self.obs_shape),
                                         "has_world": self.world is not None}),
                },
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> "BaseAgent":
        """Rebuild an agent from a checkpoint (safe: weights_only loading of a hash-checked file).

        The pair source is rebuilt and restored too, so ``learn`` continues exactly as the
        saved agent would have. When it cannot be (the dataset it trained from has moved), the
        agent gets a :class:`~flatland_env.pairs.DetachedSource` instead: it encodes, infers
        actions, plans and is evaluated from the checkpoint alone, and ``learn`` says what is
        missing. Any inconsistency raises CheckpointError saying what is wrong.
        """
        payload = load_checkpoint(path, expected_algo=None if cls is BaseAgent else cls.algo)
        try:
            algo_cls = agent_class(payload["algo"]) if cls is BaseAgent else cls
            cfg = json.loads(payload["config"])
            if device is not None:
                cfg["device"] = device
            steps = check_nonnegative_int("its step count", payload["num_steps"])
            src = payload["source"]
            source = _rebuild_source(src)
            agent = algo_cls(source, **cfg)
            agent.modules().load_state_dict(payload["modules"])
            agent.optimizer.load_state_dict(payload["optimizer"])
            if not isinstance(source, DetachedSource):
                source.load_state_dict(torch_to_numpy(src["state"]))
            agent.num_steps = steps
            agent.generator.set_state(payload["torch_rng"])
            agent.np_rng.bit_generator.state = json.loads(payload["numpy_rng"])
            agent._load_extra_state(json.loads(payload.get("agent_state", "{}")))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"{path} does not describe a consistent agent: {_explain(e)}") from None
        agent._guard.snapshot()
        return agent


def _rebuild_source(src: dict[str, Any]) -> PairSource:
    """A checkpoint's pair source; a :class:`DetachedSource` when its dataset file is gone and the checkpoint says
    what inference needs."""
    config = json.loads(src["config"])
    dataset = config.get("dataset") or ""
    if not dataset or Path(dataset).is_file() or "world" not in src:
        return make_pair_source(PairSourceConfig(**config), int(src["seed"]), int(src["noise_seed"]))
    world_record = json.loads(src["world"])
    stand_in = PairSourceConfig(**{**config, "dataset": ""})  # the world's settings, without the missing file
    world = make_world(stand_in.env_id, **stand_in.env_kwargs).unwrapped if world_record["has_world"] else None
    return DetachedSource(stand_in, spec_from_json(world_record["spec"]), tuple(world_record["obs_shape"]), world,
                          f"its dataset {dataset!r} is not there")


def _explain(error: Exception) -> str:
    """One line saying what is inconsistent in a checkpoint, from the error that loading it raised."""
    if isinstance(error, KeyError):
        return f"it has no entry {error}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = [line for line in lines if "size mismatch" in line or "Missing key" in line or "Unexpected key" in line]
    if detail:
        return "its tensors do not match its config: " + "; ".join(detail[:2])[:400]
    return (lines[0] if lines else type(error).__name__)[:400]


class FiniteGuard:
    """Keeps training finite: checks the loss, the gradients and, after each step, weights and optimiser state.

    It holds a copy of the last finite parameters and optimiser moments (refreshed after
    every good step with fused copies) and restores them when a check fails, so the agent
    is always left at its last finite state.
    """

    def __init__(self, agent: BaseAgent) -> None:
        self.agent = agent
        self.params = [p for g in agent.optimizer.param_groups for p in g["params"]]
        self._names = {id(p): n for n, p in agent.modules().named_parameters()}
        self._saved: list[torch.Tensor] | None = None

    def _state_tensors(self) -> list[torch.Tensor]:
        out = list(self.params)
        for p in self.params:
            st = self.agent.optimizer.state.get(p, {})
            out += [v for k, v in st.items() if isinstance(v, torch.Tensor) and v.is_floating_point() and k != "step"]
        return out

    def snapshot(self) -> None:
        tensors = self._state_tensors()
        if self._saved is None or len(self._saved) != len(tensors):
            self._saved = [t.detach().clone() for t in tensors]
        else:
            torch._foreach_copy_(self._saved, [t.detach() for t in tensors])

    def _fail(self, what: str) -> None:
        if self._saved is not None:
            tensors = self._state_tensors()
            with torch.no_grad():
                if len(tensors) == len(self._saved):
                    torch._foreach_copy_(tensors, self._saved)
                else:  # the failing step was the optimiser's first: it had no state before
                    torch._foreach_copy_(self.params, self._saved[: len(self.params)])
                    self.agent.optimizer.state.clear()
        self.agent.optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(
            f"{self.agent.algo}: {what} at update {self.agent.num_steps}; parameters and optimiser state were rolled "
            f"back to their last finite values (try a lower learning rate or beta)"
        )

    def check_loss(self, loss: torch.Tensor) -> None:
        if self._saved is None:
            self.snapshot()
        if not bool(torch.isfinite(loss)):
            self._fail(f"the loss became {loss.item()}")

    def check_gradients(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads and not _all_finite(grads):
            bad = next(self._names.get(id(p), "?") for p in self.params if p.grad is not None
                       and not bool(torch.isfinite(p.grad).all()))
            self._fail(f"the gradient of {bad} became non-finite")

    def check_step(self) -> None:
        tensors = self._state_tensors()
        if not _all_finite(tensors):
            bad = next((self._names.get(id(p), "optimiser state") for p in self.params
                        if not bool(torch.isfinite(p).all())), "optimiser state")
            self._fail(f"the optimiser step made {bad} non-finite")
        self.snapshot()

    def weight_versions(self) -> int:
        """A counter that changes whenever any parameter is modified in place."""
        return sum(p._version for p in self.params)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """One fused reduction over many tensors: the largest |value| of each is finite iff all its elements are."""
    peaks = torch._foreach_norm([t.detach() for t in tensors], ord=math.inf)
    return bool(torch.isfinite(torch.stack(peaks)).all())
