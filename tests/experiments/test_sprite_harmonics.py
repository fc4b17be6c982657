"""The angular harmonics and orbit distances of Sprites' frames (experiments/sprite_harmonics.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.sprite_harmonics import angular_harmonics, shape_harmonics


def test_two_opposite_pixels_have_only_even_harmonics_at_their_angle():
    """Two lit pixels placed symmetrically about the frame's centre at angle phi: a_1 = a_3 = 0, a_2 = e^(2 i phi)."""
    frame = np.zeros((1, 8, 8))
    frame[0, 2, 1] = frame[0, 5, 6] = 1.0  # (x, y) = (1.5, 2.5) and (6.5, 5.5): centroid (4, 4)
    a = angular_harmonics(frame)
    phi = np.arctan2(2.5 - 4, 1.5 - 4)
    assert abs(a[1][0]) < 1e-12 and abs(a[3][0]) < 1e-12
    np.testing.assert_allclose(a[2][0], np.exp(2j * phi), atol=1e-12)
    assert np.isnan(angular_harmonics(np.zeros((1, 8, 8)))[1][0])  # no lit pixel: no centroid


@pytest.fixture(scope="module")
def readings():
    return {s: shape_harmonics(s, offset=4, position_stride=16) for s in ("heart", "ellipse", "square")}


def _sizes(record, k):
    return np.array([s["harmonics"][str(k)]["size"] for s in record["per_scale"]])


def _residuals(record, k):
    return np.array([s["harmonics"][str(k)]["phase_residual"] for s in record["per_scale"]])


def test_symmetric_shapes_carry_only_the_harmonics_their_symmetry_allows(readings):
    """An ellipse (a half turn's symmetry) carries the 2nd and 4th harmonics, faithfully; a square (a quarter
    turn's) only the 4th; the harmonics their symmetry forbids are small and their phases say nothing."""
    ellipse, square = readings["ellipse"], readings["square"]
    assert (_sizes(ellipse, 2) > 0.6).all() and (_residuals(ellipse, 2) < 0.1).all()
    for k in (1, 3):
        assert (_sizes(ellipse, k) < 0.1).all() and (_residuals(ellipse, k) > 1.0).all()
    assert (_sizes(square, 4) > 0.3).all() and (_residuals(square, 4) < 0.1).all()
    for k in (1, 2, 3):  # small (frames cut by the edge break the symmetry a little) and of no use as a turn
        assert (_sizes(square, k) < 0.1).all() and (_residuals(square, k) > 1.0).all()


def test_a_hearts_turn_is_carried_by_its_third_harmonic_far_more_than_by_its_first(readings):
    """The finding the Sprites study reports: at every scale the heart's outline varies three times per full turn
    about ten times more than once, and that third harmonic follows the turn more closely."""
    heart = readings["heart"]
    assert heart["order"] == 10 and len(heart["per_scale"]) == 6
    assert (_sizes(heart, 3) > 10 * _sizes(heart, 1)).all()
    assert (_residuals(heart, 3) < _residuals(heart, 1)).all()


def test_a_hearts_nearest_turn_is_one_step_and_a_squares_two(readings):
    """In pixels, a heart's nearest frame along its orbit is one step away, three steps a close second; a square
    (order 5 on its frames, 36 of its 90 degrees per step) is nearest two steps away, 72 = -18 degrees."""
    for s in readings["square"]["per_scale"]:
        d = s["orbit_distances"]
        assert len(d) == 4 and d[1] < d[0]
    for s in readings["heart"]["per_scale"]:
        d = s["orbit_distances"]
        assert d[0] == min(d) and d[2] < d[1]


def test_harmonics_are_kept_by_the_script_and_bad_inputs_refused(tmp_path, load_script, monkeypatch):
    import experiments.sprite_harmonics as harmonics

    monkeypatch.setattr(harmonics, "shape_harmonics",
                        lambda shape, offset: shape_harmonics(shape, offset, position_stride=16))  # a quick read
    script = load_script("study_sprites")
    script.main(script.Args(harmonics=True, harmonics_out=tmp_path))
    record = json.loads((tmp_path / "heart-offset-4.json").read_text())
    assert record["shape"] == "heart" and record["position_stride"] == 16
    summary = (tmp_path / "summary.md").read_text()
    assert "| j=1 |" in summary and all(f"## The angular harmonics of a {s}'s frames" in summary
                                       for s in ("heart", "ellipse", "square"))
    assert json.loads((tmp_path / "square-offset-4.json").read_text())["order"] == 5
    with pytest.raises(SystemExit, match="--harmonics"):
        script.main(script.Args(harmonics=True, step_errors=[tmp_path]))
    with pytest.raises(ValueError, match="shapes"):
        shape_harmonics("triangle")
    with pytest.raises(ValueError, match="position_stride"):
        shape_harmonics("heart", position_stride=0)
