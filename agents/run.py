"""A training run as library code: validate -> build or resume -> learn -> checkpoint -> evaluate.

``scripts/train_agent.py`` and ``scripts/evaluate.py`` only parse flags and call into
this module, so the run logic is importable and testable. Every check happens in
:func:`make_spec`, before a run directory, an env or a network exists; what can go wrong
later (a NaN loss) becomes a :class:`RunError` whose message says what was kept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gymnasium as gym
import numpy as np

from agents import AGENTS
from agents.base import AgentConfig, BaseAgent, NonFiniteLossError, check_env_id
from agents.callbacks import BaseCallback
from agents.checkpoint import load_checkpoint
from agents.figures import summary_figure
from agents.logging import CheckpointCallback, Probe, TensorBoardCallback, has_latent_actions, log_final_metrics
from vae.metrics.sampling import check_int
from vae.metrics.suite import evaluate, to_jsonable

#: issue 4's acceptance thresholds on FlatLand (PAPER.md 6-7)
#: updates of a run with no flags: about 11 minutes with the evaluation on a quiet 2-core CPU
#: (RGrVAE at ~1,000 pairs/s), inside the 15-minute budget with room for a busier machine
DEFAULT_TOTAL_STEPS = 7000

MIN_ACTION_ACCURACY = 0.95
ANGLE_TOLERANCE = 0.03
MAX_EQUIVARIANCE_ERROR = 0.02

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
SUMMARY_NAME = "latent_actions.png"


class RunError(RuntimeError):
    """A run stopped for a reason the user must act on; the message says what was kept."""


# -- hyperparameters ------------------------------------------------------------------------
def config_class(model: str) -> type[AgentConfig]:
    if model not in AGENTS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(AGENTS)}")
    return AGENTS[model].Config


def model_defaults(name: str) -> dict[str, Any]:
    """Each model's Config default for hyperparameter ``name`` (models without it are left out)."""
    out = {}
    for model, cls in AGENTS.items():
        f = {f.name: f for f in dataclasses.fields(cls.Config)}.get(name)
        if f is not None and f.default is not dataclasses.MISSING:
            out[model] = " ".join(f.default) if isinstance(f.default, tuple) else f.default
    return out


def build_hparams(model: str, flags: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters from CLI flags: None means "the model's Config default" (so defaults live in one place).

    A flag set for a model that has no such hyperparameter (``--entropy-weight`` with
    ``--model forward``) is an error rather than silently ignored.
    """
    fields = {f.name for f in dataclasses.fields(config_class(model))}
    given = {k: v for k, v in flags.items() if v is not None}
    foreign = sorted(k for k in given if k not in fields)
    if foreign:
        flags_txt = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ValueError(f"--model {model} has no hyperparameter for {flags_txt}")
    return given




def set_threads(threads: int | None) -> None:
    """torch's CPU thread count (None leaves torch's default)."""
    if threads is not None:
        import torch

        torch.set_num_threads(check_int("threads", threads))


# -- the run's plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs, already validated."""

    model: str
    env_id: str
    hparams: dict[str, Any]
    total_steps: int
    run_dir: Path
    checkpoint_every: int = 1000
    log_every: int = 50
    image_every: int = 1000
    eval_samples: int = 1000
    resume: Path | None = None
    progress: bool = True

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME


def default_run_dir(env_id: str, model: str, seed: int, root: str | os.PathLike = "runs") -> Path:
    """CleanRL-style ``runs/<env>__<model>__<seed>__<unix time>``."""
    return Path(root) / f"{env_id}__{model}__{seed}__{int(time.time())}"


def make_spec(
    *,
    model: str,
    env_id: str,
    flags: dict[str, Any],
    total_steps: int,
    run_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    log_every: int = 50,
    image_every: int = 1000,
    eval_samples: int = 1000,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
) -> RunSpec:
    """Check every flag (and a resumed checkpoint) before anything is built; raise ValueError/CheckpointError."""
    check_env_id(env_id)
    hparams = build_hparams(model, flags)
    total_steps = check_int("total_steps", total_steps)
    for name, value in (("checkpoint_every", checkpoint_every), ("log_every", log_every), ("image_every", image_every)):
        check_int(name, value)
    check_int("eval_samples", eval_samples, 4)
    if resume is not None:
        payload = load_checkpoint(resume)
        _check_resume(payload, model, env_id, hparams, total_steps)
        run_dir = Path(resume).parent if run_dir is None else run_dir
        hparams = {"device": hparams["device"]} if "device" in hparams else {}
    else:
        config = config_class(model)(**hparams)
        config.validate()
        if run_dir is None:
            run_dir = default_run_dir(env_id, model, config.seed)
    return RunSpec(
        model, env_id, hparams, total_steps, Path(run_dir), checkpoint_every, log_every, image_every,
        eval_samples, Path(resume) if resume is not None else None, progress,
    )


def _check_resume(payload: dict, model: str, env_id: str, hparams: dict[str, Any], total_steps: int) -> None:
    """A resumed run keeps its checkpoint's world, model and hyperparameters; say so if flags differ."""
    if payload["algo"] != model or payload["env_id"] != env_id:
        raise ValueError(
            f"the checkpoint is a {payload['algo']!r} run on {payload['env_id']!r}; resume it with "
            f"--model {payload['algo']} --env-id {payload['env_id']}"
        )
    saved = json.loads(payload["config"])
    differ = sorted(k for k, v in hparams.items() if k != "device" and _plain(v) != saved.get(k))
    if differ:
        raise ValueError(
            f"--resume continues with the checkpoint's hyperparameters; these flags differ from it: "
            f"{', '.join('--' + k.replace('_', '-') for k in differ)} (drop them)"
        )
    if int(payload["num_steps"]) > total_steps:
        raise ValueError(f"the checkpoint is at update {payload['num_steps']}, beyond --total-steps {total_steps}")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- building / loading ---------------------------------------------------------------------------
def make_agent(spec: RunSpec) -> BaseAgent:
    """A fresh agent, or the resumed one (step count, optimiser and RNG state restored)."""
    if spec.resume is not None:
        return AGENTS[spec.model].load(spec.resume, device=spec.hparams.get("device"))
    return AGENTS[spec.model](spec.env_id, **spec.hparams)


def load_agent(path: str | os.PathLike, device: str | None = None) -> BaseAgent:
    """Any agent from a checkpoint; a corrupt or foreign file raises CheckpointError."""
    return BaseAgent.load(path, device=device)


# -- training ---------------------------------------------------------------------------------------
class StopOnSigint(BaseCallback):
    """First Ctrl-C: finish the current update, then stop (the run saves). Second: stop at once."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self) -> Iterator["StopOnSigint"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this update and saving a checkpoint (Ctrl-C again to stop now)", file=sys.stderr)

    def on_step(self, agent, stats, batch, truth) -> bool:
        return not self.requested


@dataclass
class RunResult:
    status: str  # "finished" or "interrupted"
    agent: BaseAgent
    run_dir: Path
    metrics: dict | None = None


def train(spec: RunSpec, agent: BaseAgent | None = None, extra_callbacks: list[BaseCallback] | None = None) -> RunResult:
    """Train the remaining updates up to ``spec.total_steps``, checkpoint, evaluate.

    ``agent`` is ``make_agent(spec)`` when not given (building it is the last validation
    step: group structures and model/world compatibility are checked there). Ctrl-C saves
    and returns status "interrupted" (no evaluation). A NaN/inf loss raises RunError; the
    last periodic checkpoint on disk is left untouched.
    """
    agent = make_agent(spec) if agent is None else agent
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(spec.run_dir / "run.json", {"model": spec.model, "env_id": spec.env_id,
                                            "config": dataclasses.asdict(agent.config),
                                            "total_steps": spec.total_steps,
                                            "resumed_from": str(spec.resume) if spec.resume else None,
                                            "resumed_at": agent.num_steps})
    remaining = spec.total_steps - agent.num_steps
    stop = StopOnSigint()
    saver = CheckpointCallback(spec.checkpoint, spec.checkpoint_every)
    callbacks = [TensorBoardCallback(spec.run_dir, spec.log_every, spec.image_every), saver]
    callbacks += [*(extra_callbacks or []), stop]  # stop last: it sees a Ctrl-C raised during the others
    try:
        with stop.installed():
            agent.learn(remaining, callback=callbacks, progress_bar=spec.progress)
    except NonFiniteLossError as e:
        kept = (
            f"the last good checkpoint {spec.checkpoint} (update {saver.last_saved}) is kept"
            if saver.last_saved is not None
            else ("the checkpoint it resumed from is kept" if spec.resume else "no checkpoint had been written yet")
        )
        raise RunError(f"training stopped: {e}; {kept}") from None
    except KeyboardInterrupt:
        stop.requested = True
    agent.save(spec.checkpoint)
    if stop.requested:
        print(f"interrupted at update {agent.num_steps}; checkpoint saved to {spec.checkpoint}; continue with "
              f"--resume {spec.checkpoint}", file=sys.stderr)
        return RunResult("interrupted", agent, spec.run_dir)
    metrics = evaluate_agent(agent, spec.run_dir, spec.eval_samples, progress=spec.progress)
    log_final_metrics(spec.run_dir, agent.num_steps, headline(metrics))
    return RunResult("finished", agent, spec.run_dir, metrics)


# -- evaluation -----------------------------------------------------------------------------------------
def evaluate_agent(
    agent: BaseAgent, out_dir: str | os.PathLike, num_samples: int = 1000, seed: int = 0, progress: bool = True
) -> dict:
    """Run the metric suite; write ``metrics.json`` (with the acceptance block) and the PNG summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = _world(agent)
    suite = evaluate(agent, world, num_samples=num_samples, seed=seed, progress=progress)
    record: dict[str, Any] = {
        "algo": agent.algo,
        "env_id": agent.env_id,
        "num_steps": agent.num_steps,
        "config": dataclasses.asdict(agent.config),
        "metrics": suite,
    }
    estimation = suite.get("action_estimation", {})
    if has_latent_actions(agent):
        record["latent_actions"] = agent.angle_table()
        record["acceptance"] = acceptance(agent, suite)
    record = to_jsonable(record)
    _write_json(out_dir / METRICS_NAME, record)
    if has_latent_actions(agent):
        start = Probe.sample(agent, 1, seed).obs
        fig = summary_figure(agent, start, estimation.get("confusion"), agent.spec.action_names, estimation.get("mapping"))
        fig.savefig(out_dir / SUMMARY_NAME)
    return record


def evaluate_checkpoint(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Load a checkpoint and evaluate it (default output: the checkpoint's folder)."""
    check_int("eval_samples", num_samples, 4)
    agent = load_agent(path, device=device)
    return evaluate_agent(agent, Path(path).parent if out_dir is None else out_dir, num_samples, seed, progress)


def _world(agent: BaseAgent) -> gym.Env:
    from agents.base import make_world

    return make_world(agent.env_id, agent.config.env_kwargs)


def acceptance(agent: BaseAgent, suite: dict) -> dict:
    """Issue 4's three criteria, read off the suite's results (nothing is measured twice).

    Per true action a, a^ is the latent action standing for it (the suite's equivariance
    map: Hungarian matching for RGrVAE, the training map for ForwardVAE); its |angle| is
    compared with the world's image-continuous angle ``spec.continuous_angle(a)``.
    """
    est, eqv = suite.get("action_estimation", {}), suite.get("equivariance", {})
    accuracy = est.get("accuracy")
    rel_err = eqv.get("relative_error")
    mapping = eqv.get("action_map") or est.get("mapping") or []
    table = agent.angle_table()
    angles = []
    for a, name in enumerate(agent.spec.action_names):
        j = int(mapping[a]) if a < len(mapping) and mapping[a] is not None and mapping[a] >= 0 else None
        theta = table[j]["angle"] if j is not None else float("nan")
        target = abs(agent.spec.continuous_angle(a))
        err = abs(abs(theta) - target) if np.isfinite(theta) else float("nan")
        angles.append({"true_action": name, "latent_action": j, "abs_angle": abs(theta), "target": target, "error": err})
    angle_ok = bool(angles) and all(np.isfinite(r["error"]) and r["error"] <= ANGLE_TOLERANCE for r in angles)
    passed = {
        "action_accuracy": accuracy is not None and accuracy >= MIN_ACTION_ACCURACY,
        "angles": angle_ok,
        "equivariance": rel_err is not None and rel_err <= MAX_EQUIVARIANCE_ERROR,
    }
    passed["all"] = all(passed.values())
    return {
        "action_accuracy": accuracy,
        "angles": angles,
        "relative_equivariance_error": rel_err,
        "independence": suite.get("independence", {}).get("independence"),
        "thresholds": {
            "action_accuracy_min": MIN_ACTION_ACCURACY,
            "angle_tolerance": ANGLE_TOLERANCE,
            "relative_equivariance_error_max": MAX_EQUIVARIANCE_ERROR,
        },
        "passed": passed,
    }


def headline(record: dict) -> dict[str, float | None]:
    """The few numbers worth a glance (and a TensorBoard scalar)."""
    m = record.get("metrics", {})
    out = {"independence": m.get("independence", {}).get("independence")}
    acc = record.get("acceptance")
    if acc:
        out["action_accuracy"] = acc["action_accuracy"]
        out["relative_equivariance_error"] = acc["relative_equivariance_error"]
        errs = [r["error"] for r in acc["angles"] if r["error"] is not None]
        out["max_angle_error"] = max(errs) if errs else None
    return out


def _write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (strict: NaN/inf become null)."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# -- throughput ---------------------------------------------------------------------------------------
def measure_throughput(agent: BaseAgent, updates: int, warmup: int = 5) -> float:
    """Training pairs per second over ``updates`` updates (data collection included), after a warm-up."""
    agent.learn(check_int("warmup", warmup), progress_bar=False)
    start = time.perf_counter()
    agent.learn(check_int("updates", updates), progress_bar=False)
    return updates * agent.config.batch_size / (time.perf_counter() - start)
