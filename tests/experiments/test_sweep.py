"""Sweeps: the plan is a product of seeds and grid values; runs are processes that fail alone and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.sweep import parse_grid, plan_sweep, run_state, sweep

REPO = Path(__file__).resolve().parents[2]
#: the main job's flags for a run of seconds
TINY = ["--total-steps", "4", "--batch-size", "4", "--num-envs", "2", "--eval-samples", "8", "--no-progress"]


def test_the_plan_is_every_grid_point_times_every_seed():
    grid = parse_grid(["gamma=10,30", "channels=32 32 32 32,32 64 64 32"])
    runs = plan_sweep("rgrvae", [0, 1], grid, ["--k", "2"])
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    run = next(r for r in runs if r.settings == {"gamma": "30", "channels": "32 64 64 32"} and r.seed == 1)
    assert run.name == "rgrvae_gamma=30_channels=32-64-64-32_s1"
    assert run.argv == ("rgrvae", "--k", "2", "--gamma", "30", "--channels", "32", "64", "64", "32", "--seed", "1")
    assert [r.name for r in plan_sweep("vae", [3], {}, [])] == ["vae_s3"]


@pytest.mark.parametrize("grid, flags, seeds, message", [
    (["gamma"], [], [0], "FLAG=VALUE"),
    (["gamma=1,"], [], [0], "FLAG=VALUE"),
    (["seed=1,2"], [], [0], "set by the sweep"),
    (["lr=1", "lr=2"], [], [0], "given twice"),
    ([], ["--seed", "3"], [0], "leave them out"),
    (["lr=1,2"], ["--lr", "3"], [0], "leave them out"),
    ([], [], [], "seeds"),
    ([], [], [1, 1], "seeds must differ"),
])
def test_bad_sweeps_are_refused_with_what_is_allowed(grid, flags, seeds, message):
    with pytest.raises(ValueError, match=message):
        plan_sweep("rgrvae", seeds, parse_grid(grid), flags)


def test_a_failing_grid_point_is_retried_reported_and_does_not_stop_the_others(tmp_path):
    runs = plan_sweep("rgrvae", [0], parse_grid(["lr=1e-3,5"]), TINY)
    rows = {r["name"]: r for r in sweep(runs, str(tmp_path), "local", threads=1, jobs=2, retries=1)}
    good, bad = rows["rgrvae_lr=1e-3_s0"], rows["rgrvae_lr=5_s0"]
    assert good["status"] == "finished" and good["pairs_seen"] == 16 and good["learned"] is not None
    assert bad["status"] == "failed" and bad["attempts"] == 2 and bad["exit_code"] == 2
    assert "lr must be" in bad["error"]
    table = (tmp_path / "summary.csv").read_text().splitlines()
    assert table[0].startswith("name,seed,lr,status") and len(table) == 3
    assert json.loads((tmp_path / "summary.json").read_text())["rows"][1]["status"] == "failed"


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    (run,) = plan_sweep("rgrvae", [0], {}, TINY)
    argv = [*run.argv, "--total-steps", "2", "--run-dir", str(tmp_path / run.name), "--threads", "1"]
    subprocess.run([sys.executable, str(REPO / "scripts" / "train_agent.py"), *argv], check=True, cwd=REPO,
                   capture_output=True)
    (tmp_path / run.name / "metrics.json").unlink()  # as if stopped after its checkpoint at update 2
    assert run_state(tmp_path / run.name) == "partial"
    (row,) = sweep([run], str(tmp_path), "local", threads=1)
    assert row["status"] == "finished" and row["pairs_seen"] == 16
    assert "--resume" in (tmp_path / "logs" / f"{run.name}.log").read_text()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop", ["ctrl-c", "kill of a background sweep"])
def test_a_killed_sweep_restarts_to_the_end_without_retraining_a_finished_run(tmp_path, stop):
    """Ctrl-C (SIGINT), or ``kill`` (SIGTERM) of a sweep a shell started in the background with SIGINT ignored."""
    cmd = [sys.executable, str(REPO / "scripts" / "sweep.py"), "rgrvae", "--seeds", "0", "1", "--jobs", "1",
           "--out", str(tmp_path), *TINY]
    first = tmp_path / "rgrvae_s0" / "metrics.json"
    background = stop != "ctrl-c"
    sweep_proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=_ignore_sigint if background else None)
    deadline = time.monotonic() + 300
    while not first.exists() and time.monotonic() < deadline and sweep_proc.poll() is None:
        time.sleep(0.2)
    sweep_proc.send_signal(signal.SIGTERM if background else signal.SIGINT)
    out, _ = sweep_proc.communicate(timeout=300)
    assert first.exists(), out
    assert sweep_proc.returncode in (0, 130), out  # a clean stop, never the signal's own death (-15)
    if sweep_proc.returncode == 130:  # stopped midway, as meant (0: the second run beat the signal)
        assert "interrupted" in out
        assert run_state(tmp_path / "rgrvae_s1") != "finished"
    finished_at = first.stat().st_mtime_ns
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert first.stat().st_mtime_ns == finished_at  # not retrained
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["finished", "finished"]


def test_the_ray_backend_runs_the_same_plan(tmp_path):
    pytest.importorskip("ray")
    runs = plan_sweep("rgrvae", [0, 1], {}, TINY)
    rows = sweep(runs, str(tmp_path), "ray", threads=1, gpus_per_run=0.0)
    assert [r["status"] for r in rows] == ["finished", "finished"]
    assert all((tmp_path / r.name / "metrics.json").is_file() for r in runs)
    assert (tmp_path / "summary.csv").is_file()
