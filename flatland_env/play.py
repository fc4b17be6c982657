"""Play any registered world by hand: one env step per key press, ground truth on screen.

The playable moves are the world's ``hand_actions()``: (name, env action) pairs, one per
discrete action by default, chosen moves for worlds with continuous actions (a Box). The
key map is built from their names: arrow keys for the names left/right/up/down, number keys
1..9 (then letters) for the others, in order. R resets, Esc quits. A scripted key sequence
(``keys``) drives the same event loop headless, for tests.

A :class:`Companion` (``scripts/play.py --agent``: :class:`agents.companion.AgentCompanion`)
sees every reset and step and draws frames and text beside the world; it may bind keys the
world leaves free. This module stays free of torch: the companion brings its own model.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from flatland_env.registration import make_world
from flatland_env.spec import GroupSpec
from flatland_env.validation import check_int

ARROWS = {"left": "left", "right": "right", "up": "up", "down": "down"}
FALLBACK_KEYS = "123456789abcdfghijklmnopqstuvwxyz"  # no r (reset)
PANEL_WIDTH, FONT_SIZE, LINE = 260, 22, 20


@dataclass(frozen=True)
class PlayResult:
    """What a session did: for scripted runs and tests."""

    steps: int  # env steps taken in total
    resets: int  # resets by R (and after truncation)
    factors: tuple[int | float, ...]  # ground truth at the end
    last_action: str | None
    frames: int  # frames drawn


class Companion:
    """Something that watches the play session and is drawn beside the world; this base draws nothing."""

    title = "companion"

    def bind(self, free_keys: list[str]) -> list[tuple[str, str]]:
        """Take some of the keys the world leaves free: (key name, label) pairs; ``key`` gets their presses."""
        return []

    def reset(self, obs: np.ndarray, info: dict) -> None:
        """A new episode started at frame ``obs``."""

    def step(self, prev_obs: np.ndarray, move: int, obs: np.ndarray, info: dict) -> None:
        """Hand move ``move`` (an index into the world's hand actions) took ``prev_obs`` to ``obs``."""

    def key(self, name: str) -> int | None:
        """A bound key was pressed; return a hand move index to play it in the world, or None."""
        return None

    def frames(self) -> list[tuple[str, np.ndarray]]:
        """(title, uint8 HWC frame) pairs to draw in a column beside the world."""
        return []

    def lines(self) -> list[tuple[str, str]]:
        """(left, right) text rows for the panel."""
        return []


def key_names(action_names: Sequence[str]) -> list[str]:
    """One pygame key name per hand action: arrows for left/right/up/down, the others 1..9 then letters."""
    names = list(action_names)
    if len(set(names)) != len(names):
        raise ValueError(f"hand actions need distinct names to get distinct keys, got {names}")
    others = [n for n in names if n not in ARROWS]
    if len(others) > len(FALLBACK_KEYS):
        raise ValueError(f"at most {len(FALLBACK_KEYS)} non-arrow actions can be played by hand, got {len(others)}")
    fallback = iter(FALLBACK_KEYS)
    return [ARROWS[n] if n in ARROWS else next(fallback) for n in names]


def parse_keys(keys: str) -> list[str]:
    """A scripted key sequence, e.g. ``"right right up r escape"`` (spaces or commas)."""
    return [k for k in re.split(r"[\s,]+", keys.strip().lower()) if k]


def play(
    env_id: str = "FlatLand-v0",
    scale: int = 8,
    seed: int | None = None,
    max_frames: int | None = None,
    keys: str | None = None,
    screenshot: str | Path | None = None,
    fps: int = 30,
    companion_factory: Callable[[Any], Companion] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> PlayResult:
    """Open a window on ``env_id`` and play until Esc, ``max_frames``, or the end of scripted ``keys``.

    ``companion_factory(env)`` builds a :class:`Companion` drawn beside the world (None: none).
    """
    import pygame

    check_int("scale", scale, 1, 32)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be None or >= 1, got {max_frames!r}")
    env = make_world(env_id, render_mode="rgb_array", **(env_kwargs or {}))
    spec: GroupSpec = env.unwrapped.symmetry
    moves: list[tuple[str, Any]] = env.unwrapped.hand_actions()
    pygame.init()
    try:
        action_keys = key_names([name for name, _ in moves])
        key_to_action = {pygame.key.key_code(k): i for i, k in enumerate(action_keys)}
        script = None if keys is None else [_key_code(pygame, k) for k in parse_keys(keys)]
        companion = companion_factory(env) if companion_factory is not None else None
        free = [k for k in FALLBACK_KEYS if k not in action_keys]
        extra = companion.bind(free) if companion is not None else []
        if any(k not in free for k, _ in extra):
            raise ValueError(f"the companion bound keys {[k for k, _ in extra]}, but only {free} are free")
        extra_codes = {pygame.key.key_code(k): k for k, _ in extra}
        session = _Session(env, moves, companion)
        session.reset(seed=seed, counted=False)
        side = env.render().shape[0] * scale
        column = side // 2 if companion is not None else 0
        rows = len(moves) + len(extra) + spec.num_factors + 12 + (16 if companion is not None else 0)
        screen = pygame.display.set_mode((side + column + PANEL_WIDTH, max(side, LINE * rows)))
        pygame.display.set_caption(f"{env_id} - play by hand")
        font = pygame.font.Font(None, FONT_SIZE)
        clock = pygame.time.Clock()
        frames = 0
        running = True
        while running:
            if script is not None:
                if not script:
                    running = False
                else:
                    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=script.pop(0), mod=0))
            for event in pygame.event.get():
                running = session.handle(pygame, event, key_to_action, extra_codes) and running
            _draw(pygame, screen, font, env.render(), scale, env_id, spec, action_keys + [k for k, _ in extra],
                  [n for n, _ in moves] + [label for _, label in extra], session.info["factors"], session.last,
                  session.episode_steps, companion, column)
            pygame.display.flip()
            frames += 1
            if max_frames is not None and frames >= max_frames:
                running = False
            if script is None:
                clock.tick(fps)
        if screenshot is not None:
            pygame.image.save(screen, str(screenshot))
        return PlayResult(session.steps, session.resets, tuple(np.asarray(session.info["factors"]).tolist()),
                          session.last, frames)
    finally:
        env.close()
        pygame.quit()


@dataclass
class _Session:
    """One play session's world, companion and counters, and what each key press does to them."""

    env: Any
    moves: list[tuple[str, Any]]
    companion: Companion | None
    obs: Any = None
    info: dict = field(default_factory=dict)
    steps: int = 0
    episode_steps: int = 0
    resets: int = 0
    last: str | None = None

    def reset(self, seed: int | None = None, counted: bool = True) -> None:
        self.obs, self.info = self.env.reset(seed=seed)
        self.episode_steps, self.resets = 0, self.resets + int(counted)
        if self.companion is not None:
            self.companion.reset(self.obs, self.info)

    def act(self, move: int) -> None:
        name, action = self.moves[move]
        prev = self.obs
        self.obs, _, terminated, truncated, self.info = self.env.step(action)
        self.steps, self.episode_steps, self.last = self.steps + 1, self.episode_steps + 1, name
        if self.companion is not None:
            self.companion.step(prev, move, self.obs, self.info)
        if terminated or truncated:
            self.reset()

    def handle(self, pygame: Any, event: Any, key_to_action: dict[int, int], extra_codes: dict[int, str]) -> bool:
        """Apply one event; False when it asks to quit."""
        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
            return False
        if event.type == pygame.KEYDOWN and event.key == pygame.K_r:
            self.reset()
            self.last = None
        elif event.type == pygame.KEYDOWN and (event.key in key_to_action or event.key in extra_codes):
            move = (key_to_action[event.key] if event.key in key_to_action
                    else self.companion.key(extra_codes[event.key]))
            if move is not None:
                self.act(move)
        return True


def _key_code(pygame, name: str) -> int:
    try:
        return pygame.key.key_code(name)
    except ValueError:
        raise ValueError(f"unknown key {name!r} in the scripted keys; use pygame key names like "
                         f"'left', '1', 'r', 'escape'") from None


def format_factor(value: Any) -> str:
    """A ground-truth value for the panel: integers as they are, reals to 3 decimals."""
    v = np.asarray(value)
    return str(int(v)) if v.dtype.kind in "iub" else f"{float(v):.3f}"


def _draw(pygame, screen, font, frame: np.ndarray, scale: int, env_id: str, spec: GroupSpec,
          action_keys: list[str], move_names: list[str], factors: np.ndarray, last: str | None, step: int,
          companion: Companion | None = None, column: int = 0) -> None:
    """The world scaled up on the left, the companion's frames beside it; title, group, state and key map in a panel
    on the right (the companion's lines under them)."""
    screen.fill((32, 32, 40))
    side = frame.shape[0] * scale
    _blit_frame(pygame, screen, frame, (0, 0), side)
    white, gold, blue = (230, 230, 230), (255, 220, 120), (140, 220, 255)
    extra_rows = []
    if companion is not None:
        shown = companion.frames()
        size = min(column, (screen.get_height() - LINE * len(shown)) // max(1, len(shown))) if shown else 0
        y = 0
        for title, image in shown:
            screen.blit(font.render(title, True, gold), (side + 6, y + 2))
            _blit_frame(pygame, screen, to_rgb(image), (side + (column - size) // 2, y + LINE), size)
            y += size + LINE
        extra_rows = [(companion.title, "", gold), *[(f"  {a}", b, blue) for a, b in companion.lines()]]
    rows = [  # (left column, right column, colour)
        (env_id, "", gold),
        ("step", str(step), white),
        ("last action", last or "-", white),
        ("group", "", gold),
        *[(f"  {line}", "", white) for line in textwrap.wrap(spec.group_name, 28)],
        ("factors", "", gold),
        *[(f"  {n}", format_factor(v), blue) for n, v in zip(spec.factor_names, factors)],
        ("keys", "", gold),
        *[(f"  {k}", name, white) for k, name in zip(action_keys, move_names)],
        ("  r", "reset", white),
        ("  esc", "quit", white),
        *extra_rows,
    ]
    x, y = side + column + 12, 10
    for left, right, colour in rows:
        screen.blit(font.render(left, True, colour), (x, y))
        if right:
            screen.blit(font.render(right, True, colour), (x + 110, y))
        y += LINE


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """A grey (H, W, 1) or RGB frame as RGB, for drawing."""
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame


def _blit_frame(pygame, screen, frame: np.ndarray, at: tuple[int, int], side: int) -> None:
    surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
    screen.blit(pygame.transform.scale(surf, (side, side)), at)


def headless() -> None:
    """Use SDL's dummy drivers (no display, no sound), e.g. for scripted runs in CI."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
