"""Downstream PPO's learning curves and the README's acting section, from records on disk."""

import json

import pytest

from acting.downstream import DownstreamConfig, success_curve
from acting.report import acting_sections


def test_success_curve_windows_and_the_step_it_first_reaches_ninety_percent():
    ends = [(10 * i, i >= 5) for i in range(1, 21)]  # episodes end every 10 steps; from the 5th on, all succeed
    curve = success_curve(ends, steps=200, window=4, every=50)
    assert curve["timesteps"] == [50, 100, 150, 200]
    assert curve["success_rate"] == [0.25, 1.0, 1.0, 1.0]  # at step 50: episodes 2-5 in the window, one succeeds
    assert curve["steps_to_90"] == 80 and curve["episodes"] == 20  # episodes 5-8 are the first full window
    never = success_curve([(5, False), (9, True)], steps=20, window=2, every=5)
    assert never["success_rate"] == [0.0, 0.5, 0.5, 0.5] and never["steps_to_90"] is None
    assert success_curve([], steps=10, window=2, every=10)["success_rate"] == [None]
    with pytest.raises(ValueError, match="steps"):
        DownstreamConfig(steps=0)


def test_acting_section_reads_every_number_from_the_records(tmp_path):
    assert "No kept results yet" in acting_sections(tmp_path)["acting"]
    root = tmp_path / "acting"
    root.mkdir()
    base = {"env_id": "FlatLand-v0", "episodes": 10, "seed": 0, "horizon": 100, "updates": 6000,
            "command": "python scripts/reach_goal.py x.pt",
            "oracle": {"success_rate": 1.0, "mean_length": 16.25}, "random": {"success_rate": 0.125,
                                                                             "mean_length_of_successes": 41.5}}
    agent = {"can_plan": True, "success_rate": 0.995, "mean_plan_length": 16.5, "mean_oracle_length": 16.25,
             "excess_length_pct": 1.5385, "plan_ms_mean": 2.345, "link": {"env_steps": 388}}
    (root / "reach_goal_zz.json").write_text(json.dumps({**base, "algo": "rgrvae", "agent_seed": 7,
                                                             "agent": agent}))
    (root / "reach_goal_vae.json").write_text(json.dumps({**base, "algo": "vae", "agent": {"can_plan": False}}))
    (root / "downstream.json").write_text(json.dumps({"config": vars(DownstreamConfig()), "runs": [
        {"feature": "pixels", "seed": s, "success_rate": [0.5, 0.25 * s], "steps_to_90": None,
         "steps_per_second": 100.0} for s in (0, 1)]}))
    text = acting_sections(tmp_path)["acting"]
    row = ("| RGrVAE seed 7 (6,000 updates), plans by nearest expected angle | 99.5 % | 16.50 | 16.25 | +1.54 % "
           "| 2.35 ms |")
    assert row + " 388 |" in text
    assert "| beta-VAE (6,000 updates) | cannot plan: no latent actions |" in text
    assert "| random actions (within 100 steps) | 12.5 % | 41.50 |" in text
    assert "| raw pixels (NatureCNN) | 2 | 0 %, 25 % | never, never | 100 |" in text
    assert "python scripts/reach_goal.py x.pt" in text and "ForwardVAE" not in text
    assert text.index("RGrVAE seed 7") < text.index("beta-VAE")  # algorithms in a fixed order: zz sorts after vae
    (root / "reach_goal_other.json").write_text(json.dumps({**base, "seed": 5, "algo": "forward", "agent": agent}))
    with pytest.raises(ValueError, match="different episodes"):
        acting_sections(tmp_path)


def test_downstream_script_runs_and_resumes(tmp_path, load_script):
    script = load_script("downstream_sb3")
    out, png = tmp_path / "d.json", tmp_path / "d.png"
    argv = ["--seeds", "1", "--task.steps", "64", "--task.n-steps", "32", "--task.batch-size", "32",
            "--task.n-epochs", "1", "--task.curve-every", "32", "--task.window", "2", "--task.horizon", "4",
            "--out", str(out), "--png", str(png)]
    assert script.main(argv) == 0 and png.stat().st_size > 0
    first = json.loads(out.read_text())
    assert [(r["feature"], r["seed"], r["timesteps"]) for r in first["runs"]] == [("pixels", 0, [32, 64])]
    assert script.main(argv) == 0 and json.loads(out.read_text()) == first  # nothing left to run
    assert script.main(argv + ["--rgrvae", str(tmp_path / "missing.pt")]) == 2


def test_kept_downstream_runs_are_dropped_only_for_another_checkpoint(tmp_path, monkeypatch):
    from acting import downstream

    calls = []

    def fake_ppo(feature, checkpoint, seed, cfg):
        calls.append((feature, seed))
        return {"feature": feature, "checkpoint": checkpoint, "seed": seed, "success_rate": [1.0],
                "steps_to_90": 1, "steps_per_second": 1.0}

    monkeypatch.setattr(downstream, "train_ppo", fake_ppo)
    out, cfg, logged = tmp_path / "d.json", DownstreamConfig(), []
    (tmp_path / "a.pt").write_text("x")
    downstream.run_all({"pixels": None, "rgrvae": str(tmp_path / "a.pt")}, [0], cfg, out, log=logged.append)
    assert calls == [("pixels", 0), ("rgrvae", 0)]
    downstream.run_all({"pixels": None, "rgrvae": str(tmp_path / "." / "a.pt")}, [0], cfg, out, log=logged.append)
    assert len(calls) == 2  # the same file by another spelling: both runs kept
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0], cfg, out, log=logged.append)
    assert calls[-1] == ("rgrvae", 0) and len(calls) == 3 and any("dropped" in line for line in logged)
    kept = json.loads(out.read_text())["runs"]
    assert sorted((r["feature"], r["checkpoint"] is None) for r in kept) == [("pixels", True), ("rgrvae", False)]
