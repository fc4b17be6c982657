"""PPO on the goal task from raw pixels or from a trained agent's latents: which features make the task easy?

Each run trains stable-baselines3's PPO on the goal task (``FlatLandGoal-v0`` by default) for a
fixed number of env steps with one kind of features: ``pixels`` (``MultiInputPolicy``'s default,
a NatureCNN per frame), a checkpoint's frozen latents (:class:`agents.sb3.EncoderFeatures`), or,
for a feature named ``<model>-group``, the goal in that checkpoint's own group coordinates
(:class:`agents.sb3.GroupFeatures`).
Every finished episode counts as a success or not; the learning curve is the success rate over
the last ``window`` episodes, sampled every ``curve_every`` env steps, and ``steps_to_90`` is
the first env step at which it reaches 90 % (None if it never does). PPO's hyperparameters are
the same for every kind of features.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from flatland_env.validation import check_nonnegative_int, check_positive_int

#: success rate that counts as having learned the task
TARGET = 0.9
#: a feature named ``<model>-group`` reads that checkpoint through GroupFeatures
GROUP_SUFFIX = "-group"


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

    def __post_init__(self) -> None:
        for name in ("horizon", "steps", "n_steps", "batch_size", "n_epochs", "window", "curve_every"):
            check_positive_int(name, getattr(self, name))
        check_nonnegative_int("max_goal_distance", self.max_goal_distance)


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

    from agents.sb3 import EncoderFeatures, GroupFeatures

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
    env = gym.make(cfg.env_id, horizon=cfg.horizon, max_goal_distance=cfg.max_goal_distance or None)
    extractor = GroupFeatures if feature.endswith(GROUP_SUFFIX) else EncoderFeatures
    policy_kwargs = {} if checkpoint is None else dict(
        features_extractor_class=extractor, features_extractor_kwargs=dict(checkpoint=str(checkpoint)))
    model = PPO("MultiInputPolicy", env, n_steps=cfg.n_steps, batch_size=cfg.batch_size, n_epochs=cfg.n_epochs,
                learning_rate=cfg.learning_rate, gamma=cfg.gamma, seed=seed, device="cpu", verbose=0,
                policy_kwargs=policy_kwargs)
    ends = EpisodeEnds()
    t0 = time.perf_counter()
    model.learn(cfg.steps, callback=ends)
    seconds = time.perf_counter() - t0
    env.close()
    return {"feature": feature, "checkpoint": None if checkpoint is None else str(checkpoint),
            "checkpoint_sha256": digest, "seed": seed,
            "seconds": seconds, "steps_per_second": cfg.steps / seconds,
            **success_curve(ends.ends, cfg.steps, cfg.window, cfg.curve_every)}


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
            log=print) -> dict[str, Any]:
    """Every (feature, seed) run missing from ``out``, writing ``out`` after each one (so a killed job resumes).

    A kept run counts only if it used the same task settings and the same checkpoint file, by content (a
    path may have been retrained since); other runs of a feature given now are dropped, so the record never
    mixes two agents under one name."""
    import json

    from agents.files import write_json

    record: dict[str, Any] = {"config": asdict(cfg), "runs": []}
    if out.exists():
        old = json.loads(out.read_text())
        if old.get("config") == record["config"]:
            for r in old["runs"]:
                if r["feature"] not in features or same_checkpoint(r, features[r["feature"]]):
                    record["runs"].append(r)
                else:
                    log(f"dropped the kept {r['feature']} seed {r['seed']} run: it did not use the checkpoint "
                        f"{features[r['feature']]} holds now")
    have = {(r["feature"], r["seed"]) for r in record["runs"]}
    out.parent.mkdir(parents=True, exist_ok=True)
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


def downstream_figure(record: dict[str, Any], path: Path) -> Path:
    """Success-rate learning curves: each seed thin, the mean over seeds thick, one colour per kind of features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    features = list(dict.fromkeys(r["feature"] for r in record["runs"]))
    for i, feature in enumerate(features):
        runs = [r for r in record["runs"] if r["feature"] == feature]
        colour = f"C{i}"
        curves = []
        for r in runs:
            y = np.array([np.nan if v is None else v for v in r["success_rate"]])
            ax.plot(r["timesteps"], y, color=colour, alpha=0.3, lw=0.8)
            curves.append(y)
        ax.plot(runs[0]["timesteps"], np.nanmean(np.stack(curves), 0), color=colour, lw=2,
                label=f"{feature} ({len(runs)} seeds)")
    ax.axhline(TARGET, color="grey", ls=":", lw=1)
    cfg = record["config"]
    where = f"within {cfg['max_goal_distance']}" if cfg["max_goal_distance"] else "anywhere"
    ax.set(xlabel="env steps", ylabel=f"success rate (last {cfg['window']} episodes)", ylim=(0, 1.02),
           title=f"PPO on {cfg['env_id']} (goals {where}, horizon {cfg['horizon']})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
