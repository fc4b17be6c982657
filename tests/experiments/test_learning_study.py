"""The learning study tunes on seeds below 100 only, and its kept summary is what its runs give."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from experiments.learning_study import (
    CANDIDATES,
    check_tuning_seeds,
    plane_offset,
    plane_roundness,
    run_path,
    write_summary,
)

KEPT = Path(__file__).resolve().parents[2] / "results" / "tuning" / "learning_study"


def test_held_out_seeds_are_refused():
    check_tuning_seeds([0, 99])
    with pytest.raises(ValueError, match="kept for reporting"):
        check_tuning_seeds([3, 100])


def test_the_kept_summary_is_regenerated_from_the_kept_runs(tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(KEPT, copy)
    write_summary(copy)
    assert (copy / "summary.md").read_text() == (KEPT / "summary.md").read_text()
    studied = {p.name for p in (KEPT / "early").iterdir()} | {p.name for p in (KEPT / "full").iterdir()}
    assert {re.sub(r"(-k\d+)?(-cap\d+)?$", "", name) for name in studied} <= set(CANDIDATES)


def test_orbit_shape_signals_on_codes_with_a_known_answer():
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t), 3 + 0.5 * np.cos(t), 0.5 * np.sin(t)], 1)
    assert plane_offset(circle) == pytest.approx([0.0, 6.0], abs=1e-3)  # centre 3 over RMS radius 0.5
    ellipse = np.stack([np.cos(t), 0.5 * np.sin(t)], 1)
    assert plane_roundness(circle[:, :2]) == pytest.approx([1.0], abs=1e-3)
    assert plane_roundness(ellipse) == pytest.approx([0.5], abs=1e-3)


def test_runs_on_k_step_pairs_and_with_their_own_cap_are_kept_apart(tmp_path):
    assert run_path(tmp_path, "defaults", 1).parts[-3:] == ("early", "defaults", "s1.json")
    assert run_path(tmp_path, "defaults", 1, k=3).parts[-2] == "defaults-k3"
    assert run_path(tmp_path, "defaults", 1, full=True, k=3, cap=15600).parts[-3:-1] == ("full", "defaults-k3-cap15600")

