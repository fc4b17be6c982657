"""Pictures of what an agent learned: image grids for TensorBoard and the run's PNG summary.

Everything here reads a trained agent and draws; nothing trains. Grids are uint8 HWC
arrays (TensorBoard's ``add_image(..., dataformats="HWC")``); figures are matplotlib
``Figure`` objects built without pyplot, so no display or global backend is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from agents.base import BaseAgent

#: how many times each latent action is applied in the rollout pictures (the paper's figure)
ROLLOUT_STEPS = 12


def frame_grid(rows: Sequence[np.ndarray], pad: int = 2) -> np.ndarray:
    """Rows of uint8 frames (each (N, H, W, C), same N) -> one (H', W', 3) uint8 image.

    Grey frames are repeated to RGB; ``pad`` pixels of mid-grey separate the cells so
    black frames stay distinguishable.
    """
    if not rows:
        raise ValueError("frame_grid needs at least one row")
    n, h, w, c = rows[0].shape
    out = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), 128, np.uint8)
    for i, row in enumerate(rows):
        if row.shape != (n, h, w, c):
            raise ValueError(f"row {i} has shape {row.shape}, expected {(n, h, w, c)}")
        rgb = row if c == 3 else np.repeat(row[..., :1], 3, axis=-1)
        for j, frame in enumerate(rgb):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = frame
    return out


def reconstruction_rows(agent: "BaseAgent", obs: np.ndarray) -> list[np.ndarray]:
    """[inputs, reconstructions from the latent means]."""
    return [obs, agent.decode(agent.encode(obs))]


def traversal_rows(agent: "BaseAgent", obs: np.ndarray, steps: int = 9, span: float = 2.5) -> list[np.ndarray]:
    """One row per latent dimension: that dimension swept over mu +/- span, the rest fixed at mu(obs)."""
    mu = agent.encode(obs[:1])[0]
    offsets = np.linspace(-span, span, steps, dtype=np.float32)
    rows = []
    for d in range(mu.shape[0]):
        z = np.repeat(mu[None], steps, axis=0)
        z[:, d] += offsets
        rows.append(agent.decode(z))
    return rows


def action_rollouts(agent: "BaseAgent", start: np.ndarray, steps: int = ROLLOUT_STEPS) -> list[np.ndarray]:
    """Per latent action a: decode rho(a)^t mu(start) for t = 0..steps (one row per latent action)."""
    mats = agent.action_representations().astype(np.float64)  # (A, L, L)
    z = agent.encode(start[:1])[0].astype(np.float64)
    rows = []
    for m in mats:
        path = [z]
        for _ in range(steps):
            path.append(m @ path[-1])
        rows.append(agent.decode(np.stack(path).astype(np.float32)))
    return rows


def confusion_figure(
    confusion: np.ndarray,
    true_names: Sequence[str],
    mapping: Sequence[int] | None = None,
    title: str = "policy vs true actions",
) -> Figure:
    """Heat map of a (true x latent) count matrix, row-normalised, counts in the cells, matched cells outlined."""
    conf = np.asarray(confusion)
    fig = Figure(figsize=(1.2 + 0.9 * conf.shape[1], 1.0 + 0.7 * conf.shape[0]), dpi=100)
    ax = fig.add_subplot()
    _draw_confusion(ax, conf, true_names, mapping, title)
    fig.tight_layout()
    return fig


def _draw_confusion(ax, conf: np.ndarray, true_names: Sequence[str], mapping: Sequence[int] | None, title: str) -> None:
    from matplotlib.patches import Rectangle

    frac = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
    for (i, j), v in np.ndenumerate(conf):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if frac[i, j] > 0.5 else "black", fontsize=8)
    if mapping is not None:
        matched = [(i, int(j)) for i, j in enumerate(mapping) if j is not None and j >= 0]
        for i, j in matched:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2))
        title = f"{title}\nmatched accuracy {sum(conf[i, j] for i, j in matched) / max(conf.sum(), 1):.3f}"
    ax.set_xticks(range(conf.shape[1]), [f"z{j}" for j in range(conf.shape[1])])
    ax.set_yticks(range(conf.shape[0]), list(true_names)[: conf.shape[0]])
    ax.set_xlabel("latent action (policy argmax)")
    ax.set_ylabel("true action")
    ax.set_title(title, fontsize=9)


def summary_figure(
    agent: "BaseAgent",
    start: np.ndarray,
    confusion: np.ndarray | None = None,
    true_names: Sequence[str] = (),
    mapping: Sequence[int] | None = None,
    steps: int = ROLLOUT_STEPS,
) -> Figure:
    """The run's PNG: each latent action applied repeatedly (label: angle, realised order) + confusion."""
    rows = action_rollouts(agent, start, steps)
    table = agent.angle_table()
    has_conf = confusion is not None
    fig = Figure(figsize=(1.0 + 0.8 * (steps + 1) + (4.0 if has_conf else 0.0), 0.9 * len(rows) + 1.0), dpi=100)
    grid = fig.add_gridspec(1, 2 if has_conf else 1, width_ratios=[steps + 1, 5] if has_conf else None)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(frame_grid(rows))
    h = rows[0].shape[1] + 2
    labels = []
    for row in table:
        theta, order = row["angle"], row["realised_order"]
        angle = f"{theta:+.3f} rad" if np.isfinite(theta) else row["symbol"]
        where = f"plane {row['plane']}" if row["plane"] is not None else "axis " + " ".join(
            f"{v:+.2f}" for v in row.get("axis", ()))
        labels.append(f"z{row['action']} ({row['symbol']}, {where})\n{angle}, order {order or '-'}")
    ax.set_yticks([2 + h * i + h / 2 for i in range(len(rows))], labels, fontsize=7)
    ax.set_xticks([])
    title = f"latent actions applied {steps} times to a start frame ({agent.algo}, update {agent.num_steps})"
    ax.set_title(title, fontsize=9)
    if has_conf:
        conf_ax = fig.add_subplot(grid[0, 1])
        _draw_confusion(conf_ax, np.asarray(confusion), true_names, mapping, "policy vs true actions")
    fig.tight_layout()
    return fig
