"""The learning study tunes on seeds below 100 only, and its kept summary is what its runs give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.learning_study import CANDIDATES, check_tuning_seeds, write_summary

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
    assert studied <= set(CANDIDATES)
