"""A training run as library code: validate -> build or resume -> learn -> checkpoint -> evaluate.

``scripts/train_agent.py`` and ``scripts/evaluate.py`` only parse flags and call into this
module, so the run logic is importable and testable. Every check happens before a run
folder exists (configs validate themselves; building the agent checks model and world; the
run folder is checked for writability); what can go wrong later (a NaN loss) becomes a
:class:`RunError` whose message says what was kept.

A run folder holds ``run.json`` (what ran, on what hardware), TensorBoard events,
``checkpoint.pt``, ``metrics.json`` and ``latent_actions.png``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agents.base import AgentConfig, BaseAgent, NonFiniteLossError, agent_class
from agents.checkpoint import CheckpointError, load_checkpoint
from agents.files import prepare_dir, write_json
from agents.hardware import describe_hardware
from agents.training.callbacks import (
    BaseCallback,
    CheckpointCallback,
    StopOnSignal,
    TensorBoardCallback,
    log_final_metrics,
)
from agents.training.evaluation import METRICS_NAME, evaluate_agent, headline
from agents.training.provenance import provenance
from flatland_env.pairs import DetachedSource, PairSourceConfig
from flatland_env.validation import check_int

#: updates of a run with no flags: a cap (RGrVAE usually stops earlier), 7,800 x 32 = 249,600 pairs
DEFAULT_TOTAL_STEPS = 7800

CHECKPOINT_NAME = "checkpoint.pt"
RUN_NAME = "run.json"


class RunError(RuntimeError):
    """A run stopped for a reason the user must act on; the message says what was kept."""


@dataclass
class RunConfig:
    """How a run is driven and recorded (not how the agent learns: that is the agent's Config)."""

    total_steps: int = DEFAULT_TOTAL_STEPS
    """gradient updates in all (a resumed run trains only the remaining ones)"""
    run_dir: str = ""
    """output folder (default runs/<env>__<model>__<seed>__<time>; with --resume the checkpoint's folder)"""
    checkpoint_every: int = 1000
    """updates between checkpoints (one is also written at the end and on Ctrl-C or SIGTERM)"""
    log_every: int = 50
    """updates between TensorBoard scalars"""
    image_every: int = 1000
    """updates between TensorBoard image panels"""
    eval_samples: int = 1000
    """sample size of the final metric suite"""
    resume: str = ""
    """continue training from this checkpoint (its hyperparameters, step count, optimiser, RNG and data state)"""
    eval_only: str = ""
    """only evaluate this checkpoint (metrics.json and the PNG go to its folder, or --run-dir)"""
    progress: bool = True
    """show progress bars"""
    threads: int = 0
    """CPU threads of torch (0: torch's default, one per core; 1 is faster on a machine shared with other jobs)"""

    def __post_init__(self) -> None:
        check_int("total_steps", self.total_steps, 0)
        for name in ("checkpoint_every", "log_every", "image_every"):
            check_int(name, getattr(self, name))
        check_int("eval_samples", self.eval_samples, 4)
        check_int("threads", self.threads, 0)
        if self.resume and self.eval_only:
            raise ValueError("--resume and --eval-only exclude each other")
        for name in ("resume", "eval_only"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"--{name.replace('_', '-')}: no checkpoint file at {path!r}")


@dataclass
class RunResult:
    status: str  # "finished", "interrupted" (by a signal) or "evaluation interrupted"
    agent: BaseAgent
    run_dir: Path
    metrics: dict | None = None
    exit_code: int = 0


def set_threads(threads: int) -> None:
    """torch's CPU thread count (0 leaves torch's default)."""
    if threads:
        torch.set_num_threads(check_int("threads", threads))


def default_run_dir(env_id: str, model: str, seed: int, root: str | os.PathLike = "runs") -> Path:
    """CleanRL-style ``runs/<env>__<model>__<seed>__<unix time>``."""
    return Path(root) / f"{env_id}__{model}__{seed}__{int(time.time())}"


def build_agent(model: str, config: AgentConfig, data: PairSourceConfig) -> BaseAgent:
    """A fresh agent of a registered model; building it is the last validation (model and world must fit)."""
    return agent_class(model)(data, config)


def resume_agent(
    path: str | os.PathLike,
    model: str | None = None,
    config: AgentConfig | None = None,
    data: PairSourceConfig | None = None,
    device: str | None = None,
) -> BaseAgent:
    """The agent of a checkpoint, as saved (step count, optimiser, generators and pair source restored).

    ``model``, ``config`` and ``data`` are what the command line asked for: a resumed run
    keeps its checkpoint's, so any setting that differs from its default *and* from the
    checkpoint is an error naming the flags, rather than silently ignored.
    """
    payload = load_checkpoint(path)
    if model is not None and payload["algo"] != model:
        raise ValueError(f"the checkpoint is a {payload['algo']!r} run; resume it with that model")
    saved = {**json.loads(payload["config"]), **json.loads(payload["source"]["config"])}
    asked: dict[str, Any] = {}
    for obj in (config, data):
        if obj is not None:
            defaults = type(obj)()
            asked.update({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
                          if getattr(obj, f.name) != getattr(defaults, f.name)})
    differ = sorted(k for k, v in asked.items() if k != "device" and _plain(v) != saved.get(k))
    if differ:
        raise ValueError(
            f"--resume continues with the checkpoint's settings; these flags differ from it: "
            f"{', '.join('--' + k.replace('_', '-') for k in differ)} (drop them)"
        )
    agent = BaseAgent.load(path, device=device)
    if isinstance(agent.source, DetachedSource):
        raise ValueError(f"cannot resume {path}: {agent.source.reason} (put it back, then resume)")
    return agent


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def train(
    agent: BaseAgent,
    run: RunConfig,
    run_dir: str | os.PathLike,
    extra_callbacks: list[BaseCallback] | None = None,
    resumed_from: str | None = None,
) -> RunResult:
    """Train the remaining updates up to ``run.total_steps``, checkpoint, evaluate.

    A signal (Ctrl-C, SIGTERM) saves and returns status "interrupted" with the shell's exit
    code (130, 143). Ctrl-C during the evaluation keeps the checkpoint and says how to
    evaluate later. A NaN/inf raises RunError; the last periodic checkpoint on disk is kept.
    """
    if agent.num_steps > run.total_steps:
        raise ValueError(f"the agent is at update {agent.num_steps}, beyond --total-steps {run.total_steps}")
    refit_at = getattr(agent.config, "refit_angles_at", 0)
    if refit_at > run.total_steps:
        raise ValueError(f"refit_angles_at {refit_at} is beyond --total-steps {run.total_steps}: the refit would "
                         f"never run; set it to at most --total-steps (the last update, say)")
    run_dir = prepare_dir(run_dir)
    checkpoint = run_dir / CHECKPOINT_NAME
    write_json(run_dir / RUN_NAME, run_record(agent, run, resumed_from))
    stop = StopOnSignal()
    saver = CheckpointCallback(checkpoint, run.checkpoint_every)
    callbacks = [TensorBoardCallback(run_dir, run.log_every, run.image_every), saver]
    callbacks += [*(extra_callbacks or []), stop]  # stop last: it sees a signal raised during the others
    start, started_at = time.perf_counter(), agent.num_steps
    try:
        with stop.installed():
            agent.learn(run.total_steps - agent.num_steps, callback=callbacks, progress_bar=run.progress)
    except NonFiniteLossError as e:
        kept = (
            f"the last good checkpoint {checkpoint} (update {saver.last_saved}) is kept"
            if saver.last_saved is not None
            else ("the checkpoint it resumed from is kept" if resumed_from else "no checkpoint had been written yet")
        )
        raise RunError(f"training stopped: {e}; {kept}") from None
    except KeyboardInterrupt:
        if not stop.requested:
            stop.received = 2  # SIGINT
    if not stop.requested:
        agent.finish_training()
    agent.save(checkpoint)
    if stop.requested:
        print(f"interrupted at update {agent.num_steps}; checkpoint saved to {checkpoint}; continue with "
              f"--resume {checkpoint}", file=sys.stderr)
        return RunResult("interrupted", agent, run_dir, exit_code=stop.exit_code)
    train_seconds = time.perf_counter() - start
    try:
        metrics = evaluate_agent(agent, run_dir, run.eval_samples, progress=run.progress)
    except KeyboardInterrupt:
        print(f"evaluation interrupted; the trained checkpoint {checkpoint} is kept; evaluate it later with "
              f"python scripts/evaluate.py {checkpoint}", file=sys.stderr)
        return RunResult("evaluation interrupted", agent, run_dir, exit_code=130)
    metrics["run"] = {
        "updates_this_run": agent.num_steps - started_at,
        "train_seconds": round(train_seconds, 1),
        "evaluate_seconds": round(time.perf_counter() - start - train_seconds, 1),
        "stop_reason": getattr(agent, "stop_reason", None) or "reached --total-steps",
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    write_json(run_dir / METRICS_NAME, metrics)
    log_final_metrics(run_dir, agent.num_steps, headline(metrics))
    return RunResult("finished", agent, run_dir, metrics)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports kibibytes, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_record(agent: BaseAgent, run: RunConfig, resumed_from: str | None) -> dict[str, Any]:
    """What ran, with which settings, on which hardware: the run's ``run.json``."""
    return {
        "model": agent.algo,
        "env_id": agent.source.env_id,
        "config": dataclasses.asdict(agent.config),
        "data": dataclasses.asdict(agent.source.config),
        "run": dataclasses.asdict(run),
        "group": agent.spec.describe(),
        "precision": agent.precision,
        "device": str(agent.device),
        "hardware": describe_hardware(agent.device),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "provenance": provenance(),
        "resumed_from": resumed_from,
        "resumed_at": agent.num_steps,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def evaluate_checkpoint(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Load a checkpoint and evaluate it (default output: the checkpoint's folder).

    A corrupt, foreign or non-finite checkpoint raises CheckpointError before anything runs.
    """
    check_int("eval_samples", num_samples, 4)
    out = Path(path).parent if out_dir is None else Path(out_dir)
    prepare_dir(out, "output folder", remove_stale=False)
    agent = BaseAgent.load(path, device=device)
    return evaluate_agent(agent, out, num_samples, seed, progress)


__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "DEFAULT_TOTAL_STEPS",
    "METRICS_NAME",
    "RunConfig",
    "RunError",
    "RunResult",
    "build_agent",
    "default_run_dir",
    "evaluate_checkpoint",
    "resume_agent",
    "run_record",
    "set_threads",
    "train",
]
