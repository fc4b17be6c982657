"""Orbit spacing: an evenly spaced code scores 1, a code with a seam at the frame's edge scores its jump."""

import numpy as np
import pytest
from vae_synthetic import TableEncoder

from vae.metrics import evaluate, orbit_spacing


def test_an_even_code_scores_one_and_winds_once_per_cycle_of_the_action(flatland, perfect):
    rows = orbit_spacing(perfect, flatland)
    assert [r["factor"] for r in rows] == ["x", "y"]
    assert [r["winding"] for r in rows] == [5.0, 5.0]  # the step-5 action's orbit goes 5 times round the 33 places
    assert [r["step_max_over_median"] for r in rows] == pytest.approx([1.0, 1.0])


def test_a_seam_where_the_object_crosses_the_edge_scores_the_jump_over_the_short_step(flatland):
    short = 0.16  # rad per place; the circle closes with one long jump from place 32 back to 0

    def embed(f):
        th = short * f
        return np.stack([np.cos(th), np.sin(th)], -1).reshape(len(f), -1)

    rows = orbit_spacing(TableEncoder(flatland, embed), flatland)
    jump = (4 * short + 2 * np.pi - 32 * short) / (5 * short)  # an action across the edge: 4 places + the jump
    assert [r["step_max_over_median"] for r in rows] == pytest.approx([jump, jump], abs=1e-3)


def test_the_suite_reports_it_on_cyclic_worlds(flatland, perfect):
    class Model:
        encode = staticmethod(perfect)

    r = evaluate(Model(), flatland, num_samples=10, seed=0, metrics=["orbit_spacing"])
    assert [row["step_max_over_median"] for row in r["orbit_spacing"]["per_factor"]] == pytest.approx([1.0, 1.0])
