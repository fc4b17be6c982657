"""PPO on the goal task from raw pixels or from a trained agent's latents: which features make the task easy?

Each run trains stable-baselines3's PPO on the goal task (``FlatLandGoal-v0`` by default) for a
fixed number of env steps with one kind of features: ``pixels`` (``MultiInputPolicy``'s default,
a NatureCNN per frame), a checkpoint's frozen latents (:class:`agents.sb3.EncoderFeatures`), or,
for a feature named ``<model>-group``, the goal in that checkpoint's own group coordinates
(:class:`agents.sb3.GroupFeatures`).
Every finished episode counts as a success or not; the learning curve is the success rate over
the last ``window`` episodes, sampled every ``curve_every`` env steps, and ``steps_to_90`` is
the first env step at which it reaches 90 % (None if it never does). PPO's hyperparameters are
the same for every kind of features. A feature named ``<model>-calibrated`` gives the goal as an
element of the checkpoint's own group in units of its own actions, read through its planner's
calibration (:class:`agents.sb3.CalibratedGroupFeatures`); ``<model>-read`` gives the same element read by
position readers fitted to the checkpoint's codes along its own calibration walk (:mod:`agents.reading`),
which needs no latent actions: the control that puts a beta-VAE through a calibration.

A frozen checkpoint's features are computed by the env (:class:`agents.sb3.FrozenFeatureObservation`)
and PPO trains an ``MlpPolicy`` on them: the same inputs as the frozen extractor inside the
policy, without rerunning the encoder in every minibatch epoch. Several checkpoints of one
model are named ``<kind>/<label>`` (``rgrvae-group/rgrvae_s100``); tables and curves pool
them by kind.

For a generalisation test, ``goal_region`` restricts the training goals to one half of the
torus (:class:`flatland_env.goal.GoalWrapper`) and ``test_region`` names the other: after
training, the policy (deterministic) plays ``test_episodes`` episodes with goals from each
region, and the run records both success rates.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from flatland_env.goal import GOAL_REGIONS
from flatland_env.validation import check_choice, check_nonnegative_int, check_number, check_positive_int

#: success rate that counts as having learned the task
TARGET = 0.9
#: a feature named ``<model>-group`` reads that checkpoint through GroupFeatures
GROUP_SUFFIX = "-group"
#: a feature named ``<model>-calibrated`` reads it through CalibratedGroupFeatures (its planner's calibration)
CALIBRATED_SUFFIX = "-calibrated"
#: a feature named ``<model>-read`` reads it through CalibratedGroupFeatures with position readers (no rho needed)
READ_SUFFIX = "-read"


@dataclass(frozen=True)
class DownstreamConfig:
    """The task and PPO's settings, shared by every run."""

    env_id: str = "FlatLandGoal-v0"
    horizon: int = 16
    """steps before an episode is cut"""
    max_goal_distance: int = 2
    """goals at most this many actions from the start (2: an easy task that PPO can learn in the budget;
    0: anywhere the actions reach)"""
    steps: int = 50_000
    """env steps per run"""
    n_steps: int = 512
    batch_size: int = 64
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.95
    window: int = 100
    """episodes in the success-rate window"""
    curve_every: int = 1000
    """env steps between two points of the learning curve"""
    shaping: float = 0.0
    """potential-based reward shaping by the shortest distance to the goal (GoalWrapper; 0: sparse reward)"""
    goal_region: str = "all"
    """training goals: all, first-half or second-half (the first factor's lower or upper half)"""
    test_region: str = ""
    """after training, also measure success with goals from this region (empty: no test)"""
    test_episodes: int = 200
    """episodes per region of the test after training"""
    test_seed: int = 10_000
    """seed of the test's first episode (the same episodes for every run)"""

    def __post_init__(self) -> None:
        for name in ("horizon", "steps", "n_steps", "batch_size", "n_epochs", "window", "curve_every",
                     "test_episodes"):
            check_positive_int(name, getattr(self, name))
        check_nonnegative_int("max_goal_distance", self.max_goal_distance)
        check_nonnegative_int("test_seed", self.test_seed)
        check_number("shaping", self.shaping, 0.0, 10.0)
        check_choice("goal_region", self.goal_region, GOAL_REGIONS)
        if self.max_goal_distance > self.horizon:
            raise ValueError(f"horizon {self.horizon} is shorter than max_goal_distance {self.max_goal_distance}: some "
                             f"goals could never be reached")
        if self.test_region:
            check_choice("test_region", self.test_region, GOAL_REGIONS)


def feature_kind(feature: str) -> str:
    """``rgrvae-group/rgrvae_s100`` -> ``rgrvae-group``: the kind of features, without the checkpoint's label."""
    return feature.split("/", 1)[0]


def make_task(cfg: DownstreamConfig, region: str) -> gym.Env:
    """The goal task with goals from ``region``; refuses a horizon shorter than the longest shortest path when
    goals may lie anywhere (some goals could then never be reached)."""
    env = gym.make(cfg.env_id, horizon=cfg.horizon, max_goal_distance=cfg.max_goal_distance or None,
                   goal_region=region, shaping=cfg.shaping)
    diameter = env.get_wrapper_attr("oracle").diameter
    if cfg.max_goal_distance == 0 and cfg.horizon < diameter:
        env.close()
        raise ValueError(f"horizon {cfg.horizon} is shorter than {cfg.env_id}'s longest shortest path ({diameter}); "
                         f"with goals anywhere give a horizon of at least {diameter}")
    return env


def success_rate(model: Any, env: gym.Env, episodes: int, seed: int) -> float:
    """Share of ``episodes`` that the deterministic policy ends at the goal (stable-baselines3's ``evaluate_policy``,
    counting ``info["is_success"]`` at each episode's end). ``seed`` seeds the first reset; the later episodes
    follow the env's own generator, so every run plays the same episodes."""
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([lambda: env])
    vec.seed(seed)
    wins: list[bool] = []

    def count(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        if local["done"]:
            wins.append(bool(local["info"].get("is_success", False)))

    evaluate_policy(model, vec, n_eval_episodes=episodes, deterministic=True, callback=count, warn=False)
    vec.close()
    return float(np.mean(wins))


def success_curve(ends: list[tuple[int, bool]], steps: int, window: int, every: int) -> dict[str, Any]:
    """Success rate over the last ``window`` episodes finished by each multiple of ``every`` env steps."""
    at = np.array([t for t, _ in ends], np.int64)
    ok = np.array([s for _, s in ends], float)
    points = np.arange(every, steps + 1, every)
    rates: list[float | None] = []
    for t in points:
        done = ok[at <= t][-window:]
        rates.append(float(done.mean()) if len(done) else None)
    reached = None
    for i in range(len(ok)):  # first episode end at which the full window's success rate reaches the target
        if i + 1 >= window and ok[i + 1 - window : i + 1].mean() >= TARGET:
            reached = int(at[i])
            break
    return {"timesteps": points.tolist(), "success_rate": rates, "episodes": len(ok), "steps_to_90": reached}


def train_ppo(feature: str, checkpoint: str | None, seed: int, cfg: DownstreamConfig) -> dict[str, Any]:
    """One PPO run; returns its learning curve and timing."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.sb3 import FrozenFeatureObservation

    class EpisodeEnds(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[tuple[int, bool]] = []

        def _on_step(self) -> bool:
            for done, info in zip(self.locals["dones"], self.locals["infos"]):
                if done:
                    self.ends.append((self.num_timesteps, bool(info.get("is_success", False))))
            return True

    digest = checkpoint_digest(checkpoint)  # before training: the file the run starts from
    kind = feature_kind(feature)
    features = ("group" if kind.endswith(GROUP_SUFFIX) else "calibrated" if kind.endswith(CALIBRATED_SUFFIX)
                else "read" if kind.endswith(READ_SUFFIX) else "latents")

    def task(region: str) -> gym.Env:
        env = make_task(cfg, region)
        return env if checkpoint is None else FrozenFeatureObservation(env, checkpoint, kind=features)

    env = task(cfg.goal_region)
    model = PPO("MultiInputPolicy" if checkpoint is None else "MlpPolicy", env, n_steps=cfg.n_steps,
                batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, gamma=cfg.gamma,
                seed=seed, device="cpu", verbose=0)
    ends = EpisodeEnds()
    t0 = time.perf_counter()
    model.learn(cfg.steps, callback=ends)
    seconds = time.perf_counter() - t0
    env.close()
    tested = {}
    if cfg.test_region:  # the same episodes (env seeds) for every run
        tested = {"test": {region: success_rate(model, task(region), cfg.test_episodes, seed=cfg.test_seed)
                           for region in dict.fromkeys((cfg.goal_region, cfg.test_region))}}
    return {"feature": feature, "checkpoint": None if checkpoint is None else str(checkpoint),
            "checkpoint_sha256": digest, "seed": seed,
            "seconds": seconds, "steps_per_second": cfg.steps / seconds,
            **success_curve(ends.ends, cfg.steps, cfg.window, cfg.curve_every), **tested}


def checkpoint_digest(path: str | None) -> str | None:
    """SHA-256 of a checkpoint file (None for pixels): what a kept run is matched by, since a path may be retrained."""
    if path is None:
        return None
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def same_checkpoint(kept: dict[str, Any], path: str | None) -> bool:
    """Whether a kept run used the very checkpoint ``path`` holds now (None: pixels): the same digest, or for
    pixels no checkpoint. A kept run without a digest cannot show it and does not count."""
    if path is None or kept.get("checkpoint") is None:
        return path is None and kept.get("checkpoint") is None
    return kept.get("checkpoint_sha256") is not None and kept["checkpoint_sha256"] == checkpoint_digest(path)


def run_all(features: dict[str, str | None], seeds: list[int], cfg: DownstreamConfig, out: Path,
            log=print, command: str | None = None) -> dict[str, Any]:
    """Every (feature, seed) run missing from ``out``, writing ``out`` after each one (so a killed job resumes).

    A kept run counts only if it used the same task settings and the same checkpoint file, by content (a
    path may have been retrained since); other runs of a feature given now are dropped, so the record never
    mixes two agents under one name."""
    import json

    from agents.files import write_json

    record: dict[str, Any] = {"config": asdict(cfg), "runs": [], "commands": [], "checkpoints": {}}
    if out.exists():
        old = json.loads(out.read_text())
        # a record written before a setting existed ran at its default
        if {**asdict(DownstreamConfig()), **old.get("config", {})} == record["config"]:
            record["checkpoints"] = dict(old.get("checkpoints", {}))
            record["commands"] = list(old.get("commands") or ([old["command"]] if old.get("command") else []))
            for r in old["runs"]:
                if r["feature"] not in features or same_checkpoint(r, features[r["feature"]]):
                    record["runs"].append(r)
                else:
                    log(f"dropped the kept {r['feature']} seed {r['seed']} run: it did not use the checkpoint "
                        f"{features[r['feature']]} holds now")
        else:
            log(f"{out} holds runs of other task settings; they are replaced by this record")
    if command and command not in record["commands"]:  # every command that added runs to this record
        record["commands"].append(command)
    record["checkpoints"].update(checkpoint_records(features))
    have = {(r["feature"], r["seed"]) for r in record["runs"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, record)  # the commands and checkpoints, even when no run is missing
    for seed in seeds:  # seeds outermost: every kind of features gets its first seed early
        for feature, checkpoint in features.items():
            if (feature, seed) in have:
                continue
            run = train_ppo(feature, checkpoint, seed, cfg)
            record["runs"].append(run)
            write_json(out, record)
            log(f"{feature} seed {seed}: final success {run['success_rate'][-1]}, steps to 90% "
                f"{run['steps_to_90']}, {run['steps_per_second']:.0f} steps/s")
    return record


def checkpoint_records(features: dict[str, str | None]) -> dict[str, Any]:
    """Per checkpoint used, what its own run folder says of it: the SHA-256 the PPO runs record, its updates and
    whether it passed (a)-(c) (the rule that chose it), so a record's agents stay known after ``runs/`` is gone."""
    import json

    from acting.rho_planning import passed_criteria

    out: dict[str, Any] = {}
    for checkpoint in dict.fromkeys(c for c in features.values() if c is not None):
        folder = Path(checkpoint).parent
        metrics_path = folder / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        out[str(folder)] = {"checkpoint_sha256": checkpoint_digest(checkpoint), "algo": metrics.get("algo"),
                            "updates": metrics.get("num_steps"),
                            "passed": passed_criteria(metrics),
                            "verdict": (metrics.get("verdict") or {}).get("summary")}
    return out


def downstream_figure(record: dict[str, Any], path: Path) -> Path:
    """Success-rate learning curves: each seed thin, the mean over seeds thick, one colour per kind of features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    features = list(dict.fromkeys(feature_kind(r["feature"]) for r in record["runs"]))
    for i, feature in enumerate(features):
        runs = [r for r in record["runs"] if feature_kind(r["feature"]) == feature]
        colour = f"C{i}"
        curves = []
        for r in runs:
            y = np.array([np.nan if v is None else v for v in r["success_rate"]])
            ax.plot(r["timesteps"], y, color=colour, alpha=0.3, lw=0.8)
            curves.append(y)
        ax.plot(runs[0]["timesteps"], np.nanmean(np.stack(curves), 0), color=colour, lw=2,
                label=f"{feature} ({len(runs)} runs)")
    ax.axhline(TARGET, color="grey", ls=":", lw=1)
    cfg = record["config"]
    where = f"within {cfg['max_goal_distance']}" if cfg["max_goal_distance"] else "anywhere"
    if cfg.get("goal_region", "all") != "all":
        where += f", {cfg['goal_region']}"
    ax.set(xlabel="env steps", ylabel=f"success rate (last {cfg['window']} episodes)", ylim=(0, 1.02),
           title=f"PPO on {cfg['env_id']} (goals {where}, horizon {cfg['horizon']})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
