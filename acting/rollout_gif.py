"""A planned episode as pictures: the world, what the agent predicts, and its latent angles (docs/acting.md).

:func:`planned_episode` plays one episode of the goal task with the agent's plan and records,
per step, the world frame, the agent's decoded prediction of the next frame (decode(rho(a) z)
for the latent action linked to the planned env action) and every latent plane's angle for the
current frame, the prediction and the goal. :func:`episode_frames` draws each step as one
picture (matplotlib), which ``scripts/rollout_gif.py`` writes as a GIF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.base import BaseAgent
from agents.planning import CannotPlanError, plane_angles
from flatland_env.validation import check_int, check_nonnegative_int


@dataclass(frozen=True)
class Step:
    """One step of a planned episode: what the world shows and what the agent makes of it."""

    frame: np.ndarray  # (H, W, C) uint8 the world's frame before the action
    prediction: np.ndarray  # (H, W, C) uint8 decode(rho(a) z): the frame the agent expects next (or its reconstruction)
    action: str | None  # the planned env action taken from this frame; None at the end
    angles: np.ndarray  # (planes,) the frame's latent angles, in the planner's planes
    predicted_angles: np.ndarray  # (planes,) after the latent action


@dataclass(frozen=True)
class Episode:
    """A planned episode: its steps, the goal, and whether the last frame is the goal frame."""

    steps: list[Step]
    goal: np.ndarray
    goal_angles: np.ndarray
    planes: list[int]
    reached: bool
    shortest: int


def planned_episode(agent: BaseAgent, seed: int = 0, horizon: int = 100) -> Episode:
    """Plan once from the start and goal frames of episode ``seed`` and execute the plan, recording every step."""
    from acting.reaching import goal_env

    check_nonnegative_int("seed", seed)
    if not hasattr(agent, "planner"):  # no latent actions: plan() raises, saying why
        agent.plan(np.zeros(agent.obs_shape, np.uint8), np.zeros(agent.obs_shape, np.uint8))
    planner = agent.planner()  # type: ignore[attr-defined]
    env = goal_env(agent, horizon)
    try:
        obs, info = env.reset(seed=int(seed))
        plan = planner.plan(obs["observation"], obs["goal"])
        link = {lk.env_action: lk.latent_action for lk in planner.links}
        reps = agent.action_representations()  # type: ignore[attr-defined]
        basis = agent.latent_basis()  # type: ignore[attr-defined]
        planes = np.array([c.plane for c in planner.planes])

        def angles(z: np.ndarray) -> np.ndarray:
            return plane_angles((z @ basis.T)[None], planes)[0]

        def record(action: int | None) -> Step:
            z = agent.encode(obs["observation"][None])[0]
            z_next = z if action is None else z @ reps[link[action]].T
            name = None if action is None else env.unwrapped.action_name(action)
            return Step(obs["observation"], agent.decode(z_next[None])[0], name, angles(z), angles(z_next))

        steps = []
        for action in plan:
            steps.append(record(action))
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:  # the goal reached (at the plan's end, or passed on the way) or the horizon
                break
        steps.append(record(None))
        goal = obs["goal"]
        reached = bool(np.array_equal(obs["observation"], goal))
        return Episode(steps, goal, angles(agent.encode(goal[None])[0]), planes.tolist(), reached,
                       int(info["distance"]))
    finally:
        env.close()


def episode_frames(episode: Episode, scale: int = 3) -> list[np.ndarray]:
    """One RGB picture (H, W, 3) uint8 per step: world | predicted next frame | goal, and a circle per plane."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_int("scale", scale, 1, 8)
    planes = len(episode.planes)
    pictures = []
    for t, step in enumerate(episode.steps):
        fig, axes = plt.subplots(1, 3 + planes, figsize=(scale * (3 + planes) * 0.9, scale * 1.3), dpi=60)
        title = f"step {t}/{len(episode.steps) - 1}: " + (step.action or ("goal reached" if episode.reached
                                                                           else "plan ended"))
        fig.suptitle(f"{title}  (shortest path {episode.shortest})", fontsize=10)
        for ax, image, label in zip(axes, (step.frame, step.prediction, episode.goal),
                                    ("world", "agent predicts next" if step.action else "agent reconstructs",
                                     "goal")):
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
            ax.set_title(label, fontsize=9)
            ax.axis("off")
        circle = np.linspace(0, 2 * np.pi, 100)
        for i, ax in enumerate(axes[3:]):
            ax.plot(np.cos(circle), np.sin(circle), color="0.7", lw=1)
            for angle, style, label in ((episode.goal_angles[i], dict(marker="x", color="tab:red", ms=9), "goal"),
                                        (step.predicted_angles[i], dict(marker="o", mfc="none", color="tab:orange",
                                                                        ms=9), "predicted"),
                                        (step.angles[i], dict(marker="o", color="tab:blue", ms=6), "now")):
                ax.plot([np.cos(angle)], [np.sin(angle)], ls="none", label=label, **style)
            ax.set_title(f"latent plane {episode.planes[i]}", fontsize=9)
            ax.set_xlim(-1.3, 1.3)
            ax.set_ylim(-1.3, 1.3)
            ax.set_aspect("equal")
            ax.axis("off")
        handles, labels = axes[-1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower right", ncol=3, fontsize=8, frameon=False)
        fig.canvas.draw()
        pictures.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    return pictures


def episode_summary(episode: Episode) -> dict[str, Any]:
    """Plain data about the episode (printed by the script)."""
    return {"steps": len(episode.steps) - 1, "shortest": episode.shortest, "reached": episode.reached,
            "actions": [s.action for s in episode.steps if s.action]}


__all__ = ["CannotPlanError", "Episode", "Step", "episode_frames", "episode_summary", "planned_episode"]
