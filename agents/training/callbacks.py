"""The run layer's training callbacks, SB3-style: TensorBoard logging, checkpoints, signal handling.

A callback sees the agent and, at every update, the update's scalars and the batch's ground
truth (true actions and factors). The ground truth goes to logging only: it is never passed
to a learner, and a callback may not change the weights (``learn`` checks). The base
class is the core's (:mod:`agents.callbacks`).

The TensorBoard callback is the only consumer of the ground truth during training: it
scores the policy's latent actions against the true actions (best one-to-one matching) and
draws the confusion matrix. Those numbers are written to disk, never fed back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from agents.callbacks import BaseCallback
from flatland_env.pairs import GroundTruth, PairBatch
from flatland_env.validation import check_positive_int

#: exit status of a run stopped by a signal: 128 + the signal's number, as shells report it
SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def has_latent_actions(agent: Any) -> bool:
    """Agents with a finite list of latent actions (RGrVAE, ForwardVAE on a finite group); the plain beta-VAE has
    none, and on a continuous world rho(a) depends on the action vector (:func:`has_continuous_actions`)."""
    return (callable(getattr(agent, "action_representations", None)) and callable(getattr(agent, "infer_actions", None))
            and getattr(getattr(agent, "spec", None), "is_discrete", True))


def has_continuous_actions(agent: Any) -> bool:
    """Latent-action agents on a continuous world: ForwardVAE (rho takes action vectors) and RGrVAE (it infers
    each pair's plane turns) on FlatLandContinuous-v0; the beta-VAE has no latent actions."""
    return getattr(agent, "continuous", False) is True


# -- checkpoints and signals ---------------------------------------------------------------------
class CheckpointCallback(BaseCallback):
    """``agent.save(path)`` every ``every`` updates (atomic: a crash never leaves a half-written file)."""

    def __init__(self, path: str | os.PathLike, every: int) -> None:
        self.path = path
        self.every = check_positive_int("every", every)
        self.last_saved: int | None = None

    def on_step(self, agent: Any, stats: dict[str, float], batch: PairBatch, truth: GroundTruth) -> bool:
        if agent.num_steps % self.every == 0:
            agent.save(self.path)
            self.last_saved = agent.num_steps
        return True


class StopOnSignal(BaseCallback):
    """First Ctrl-C (SIGINT) or SIGTERM: finish the current update, then stop (the run saves). Second: stop at once."""

    def __init__(self) -> None:
        self.received: int | None = None

    @property
    def requested(self) -> bool:
        return self.received is not None

    @contextmanager
    def installed(self) -> Iterator["StopOnSignal"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in SIGNAL_EXIT_CODES}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.received = signum
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping after this update and saving a checkpoint (send it again to stop now)",
              file=sys.stderr)

    def on_step(self, agent: Any, stats: dict[str, float], batch: PairBatch, truth: GroundTruth) -> bool:
        return not self.requested

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES.get(self.received, 130)


# -- TensorBoard ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Probe:
    """A fixed set of true transitions rendered once, so pictures are comparable across updates."""

    obs: np.ndarray
    next_obs: np.ndarray
    actions: np.ndarray

    @classmethod
    def sample(cls, agent: Any, n: int, seed: int = 0) -> "Probe":
        rng = np.random.default_rng(seed)
        spec, world = agent.spec, agent.world
        factors = spec.sample_factors(rng, n)
        actions = rng.integers(0, spec.num_actions, size=n)
        return cls(world.render_states(factors), world.render_states(spec.apply(factors, actions)), actions)

    def match(self, agent: Any) -> dict:
        """Confusion matrix, Hungarian mapping and accuracy of the agent's inferred actions."""
        from vae.metrics.action_estimation import match_actions

        latent = agent.infer_actions(self.obs, self.next_obs)
        return match_actions(self.actions, latent, agent.spec.num_actions, agent.num_latent_actions)


def hparam_dict(agent: Any) -> dict[str, Any]:
    """The agent's config, data settings and precision as TensorBoard hparams (scalars and strings only)."""
    out: dict[str, Any] = {"algo": agent.algo, "env_id": agent.source.env_id, "precision_used": agent.precision}
    items = {**dataclasses.asdict(agent.source.config), **dataclasses.asdict(agent.config)}
    for key, value in items.items():
        if isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (tuple, list)):
            out[key] = " ".join(map(str, value))
        else:
            out[key] = json.dumps(value, sort_keys=True)
    return out


class TensorBoardCallback(BaseCallback):
    """Scalars every ``log_every`` updates, image panels every ``image_every``, hparams at the end.

    Scalars are means over the updates since the last write (as SB3 does), so they are not
    one noisy batch. ``train/action_accuracy`` scores the current batch, ``eval/*`` a fixed
    probe set of ``probe_size`` true transitions; both only for agents with latent actions
    and for one-action pairs (k = 1), where one latent action should explain a pair.
    Agents trained from a dataset with no recorded world get scalars only.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        log_every: int = 50,
        image_every: int = 1000,
        probe_size: int = 256,
        num_frames: int = 8,
    ) -> None:
        self.log_dir = str(log_dir)
        self.log_every = check_positive_int("log_every", log_every)
        self.image_every = check_positive_int("image_every", image_every)
        self.probe_size = check_positive_int("probe_size", probe_size)
        self.num_frames = check_positive_int("num_frames", num_frames)
        self.writer = None
        self.last_metrics: dict[str, float] = {}

    # -- hooks -----------------------------------------------------------------------------
    def on_training_start(self, agent: Any, total_steps: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run drops events logged after its checkpoint (they belong to a lost future)
        self.writer = SummaryWriter(self.log_dir, purge_step=agent.num_steps or None)
        self.pictures = agent.world is not None and agent.spec.is_discrete
        self.probe = Probe.sample(agent, self.probe_size) if self.pictures else None
        self.scored = self.pictures and has_latent_actions(agent) and agent.source.k == 1
        self._sums: dict[str, float] = defaultdict(float)
        self._count = 0
        self._last_images = -1
        if agent.num_steps == 0:
            self.log_images(agent)

    def on_step(self, agent: Any, stats: dict[str, float], batch: PairBatch, truth: GroundTruth) -> bool:
        for key, value in stats.items():
            self._sums[key] += value
        self._count += 1
        step = agent.num_steps
        if step % self.log_every == 0:
            self.log_scalars(agent, batch, truth)
        if step % self.image_every == 0:
            self.log_images(agent)
        return True

    def on_training_end(self, agent: Any) -> None:
        if self.writer is None:
            return
        if self._count:
            self.log_scalars(agent)
        if self._last_images != agent.num_steps:
            self.log_images(agent)
        metrics = {f"hparam/{k}": v for k, v in self.last_metrics.items() if np.isfinite(v)}
        self.writer.add_hparams(hparam_dict(agent), metrics, run_name=".", global_step=agent.num_steps)
        self.writer.close()
        self.writer = None

    # -- what gets written ---------------------------------------------------------------------
    def log_scalars(self, agent: Any, batch: PairBatch | None = None, truth: GroundTruth | None = None) -> None:
        from vae.metrics.action_estimation import match_actions

        step = agent.num_steps
        for key, total in self._sums.items():
            mean = total / max(self._count, 1)
            self.writer.add_scalar(f"train/{key}", mean, step)
            self.last_metrics[key] = mean
        self._sums.clear()
        self._count = 0
        if has_latent_actions(agent):
            for row in agent.angle_table():
                if np.isfinite(row["angle"]):
                    self.writer.add_scalar(f"angles/z{row['action']}_{row['symbol']}", row["angle"], step)
        if self.scored and batch is not None and truth is not None:
            latent = agent.infer_actions(batch.obs, batch.next_obs)
            acc = match_actions(truth.actions[:, 0], latent, agent.spec.num_actions, agent.num_latent_actions)
            self.writer.add_scalar("train/action_accuracy", acc["accuracy"], step)

    def log_images(self, agent: Any) -> None:
        if not self.pictures:
            return
        from agents.training.figures import (
            action_rollouts,
            confusion_figure,
            frame_grid,
            reconstruction_rows,
            traversal_rows,
        )

        step = agent.num_steps
        frames = self.probe.obs[: self.num_frames]
        w = self.writer
        w.add_image("images/reconstructions", frame_grid(reconstruction_rows(agent, frames)), step, dataformats="HWC")
        w.add_image("images/traversals", frame_grid(traversal_rows(agent, frames)), step, dataformats="HWC")
        if has_latent_actions(agent):
            w.add_image("images/latent_actions", frame_grid(action_rollouts(agent, frames)), step, dataformats="HWC")
        if self.scored:
            m = self.probe.match(agent)
            w.add_scalar("eval/action_accuracy", m["accuracy"], step)
            self.last_metrics["action_accuracy"] = m["accuracy"]
            w.add_figure("images/confusion", confusion_figure(m["confusion"], agent.spec.action_names, m["mapping"]),
                         step)
        w.flush()
        self._last_images = step


def log_final_metrics(log_dir: str | os.PathLike, step: int, scalars: dict[str, float | None]) -> None:
    """Write end-of-run evaluation numbers (``eval/<name>``) next to the training curves."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(log_dir)) as writer:
        for key, value in scalars.items():
            if value is not None and np.isfinite(value):
                writer.add_scalar(f"eval/{key}", float(value), step)
