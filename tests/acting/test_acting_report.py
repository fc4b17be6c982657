"""Downstream PPO's learning curves and the README's acting section, from records on disk."""

import json

import numpy as np
import pytest

from acting.downstream import DownstreamConfig, success_curve
from acting.report import acting_sections, pooled_downstream_section


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
        return {"feature": feature, "checkpoint": checkpoint, "checkpoint_sha256": downstream.checkpoint_digest(
            checkpoint), "seed": seed, "success_rate": [1.0], "steps_to_90": 1, "steps_per_second": 1.0}

    monkeypatch.setattr(downstream, "train_ppo", fake_ppo)
    out, cfg, logged = tmp_path / "d.json", DownstreamConfig(), []
    (tmp_path / "a.pt").write_text("x")
    downstream.run_all({"pixels": None, "rgrvae": str(tmp_path / "a.pt")}, [0], cfg, out, log=logged.append)
    assert calls == [("pixels", 0), ("rgrvae", 0)]
    downstream.run_all({"pixels": None, "rgrvae": str(tmp_path / "." / "a.pt")}, [0], cfg, out, log=logged.append)
    assert len(calls) == 2  # the same file by another spelling: both runs kept
    (tmp_path / "b.pt").write_text("y")
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0], cfg, out, log=logged.append)
    assert calls[-1] == ("rgrvae", 0) and len(calls) == 3 and any("dropped" in line for line in logged)
    (tmp_path / "b.pt").write_text("retrained")  # the same path, another agent: its kept run no longer counts
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0], cfg, out, log=logged.append)
    assert len(calls) == 4
    kept = json.loads(out.read_text())["runs"]
    assert sorted((r["feature"], r["checkpoint"] is None) for r in kept) == [("pixels", True), ("rgrvae", False)]
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0, 1], cfg, out, log=logged.append, command="python one")
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0, 1, 2], cfg, out, log=logged.append, command="python two")
    downstream.run_all({"rgrvae": str(tmp_path / "b.pt")}, [0], cfg, out, log=logged.append, command="python one")
    assert json.loads(out.read_text())["commands"] == ["python one", "python two"]  # each command that added runs


def test_downstream_script_trains_on_passing_runs_group_features_with_goals_anywhere(tmp_path, load_script, capsys):
    from agent_helpers import tiny_agent

    for name, passed in (("good", True), ("bad", False)):
        (tmp_path / name).mkdir()
        tiny_agent("rgrvae").save(tmp_path / name / "checkpoint.pt")
        (tmp_path / name / "metrics.json").write_text(json.dumps({"acceptance": {"angles": [],
                                                                              "passed": {"all": passed}}}))
    script = load_script("downstream_sb3")
    out = tmp_path / "d.json"
    argv = ["--seeds", "1", "--task.steps", "32", "--task.n-steps", "32", "--task.batch-size", "32",
            "--task.n-epochs", "1", "--task.curve-every", "32", "--task.window", "2", "--task.horizon", "32",
            "--task.max-goal-distance", "0", "--task.goal-region", "first-half", "--task.test-region", "second-half",
            "--task.test-episodes", "3", "--no-pixels", "--group",
            "--rgrvae", str(tmp_path / "good"), str(tmp_path / "bad" / "checkpoint.pt"),
            "--out", str(out), "--png", str(tmp_path / "d.png")]
    assert script.main(argv) == 0
    record = json.loads(out.read_text())
    assert [r["feature"] for r in record["runs"]] == ["rgrvae/good", "rgrvae-group/good"]  # bad: not passed
    kept = record["checkpoints"][str(tmp_path / "good")]
    assert kept["passed"] is True and len(kept["checkpoint_sha256"]) == 64
    assert record["config"]["max_goal_distance"] == 0
    for run in record["runs"]:
        assert set(run["test"]) == {"first-half", "second-half"}
        assert all(0.0 <= v <= 1.0 for v in run["test"].values())
    short = [a if a != "32" else "16" for a in argv]  # a horizon shorter than FlatLand's longest shortest path
    assert script.main(short + ["--seeds", "2"]) == 2  # refused before any run, naming the longest path
    assert len(json.loads(out.read_text())["runs"]) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "good").mkdir()
    tiny_agent("rgrvae").save(tmp_path / "other" / "good" / "checkpoint.pt")
    (tmp_path / "other" / "good" / "metrics.json").write_text((tmp_path / "good" / "metrics.json").read_text())
    both = [a if a != str(tmp_path / "bad" / "checkpoint.pt") else str(tmp_path / "other" / "good") for a in argv]
    assert script.main(both) == 2  # two run folders named good would share a run name
    assert "two run folders share a name" in capsys.readouterr().err
    with pytest.raises(ValueError, match="max_goal_distance"):
        DownstreamConfig(max_goal_distance=-1)
    with pytest.raises(ValueError, match="test_region must be one of"):
        DownstreamConfig(test_region="left")


def test_held_out_success_counts_the_episodes_that_end_at_the_goal():
    from acting.downstream import make_task, success_rate

    env = make_task(DownstreamConfig(max_goal_distance=0, horizon=40), "second-half")
    oracle = env.get_wrapper_attr("oracle")

    class Oracle:  # plays the shortest path, as a model's predict would
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            inner = env.unwrapped
            goal = env.get_wrapper_attr("goal_factors")
            return np.array([oracle.path(inner.factors, goal)[0]]), None

    class Still:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.array([0]), None

    assert success_rate(Oracle(), env, 5, seed=0) == 1.0
    assert success_rate(Still(), make_task(DownstreamConfig(max_goal_distance=0, horizon=32), "all"), 5, 0) < 1.0


def test_rho_planning_keeps_only_passing_runs_and_its_table_reads_the_record(tmp_path):
    from acting.report import rho_planning_section
    from acting.rho_planning import passing_runs

    # c passed the criteria of a continuous torus, which has no angle per action to plan with
    for name, acceptance in (("a", {"angles": [], "passed": {"all": True}}),
                             ("b", {"angles": [], "passed": {"all": False}}),
                             ("c", {"min_angle_r2": 1.0, "passed": {"all": True}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint.pt").write_text("x")
        (tmp_path / name / "metrics.json").write_text(json.dumps({"acceptance": acceptance}))
    assert passing_runs([tmp_path / "a", tmp_path / "b", tmp_path / "c"]) == [tmp_path / "a"]
    with pytest.raises(ValueError, match="finished runs"):
        passing_runs([tmp_path])
    root = tmp_path / "acting"
    root.mkdir()
    assert "No kept results yet" in rho_planning_section(root)
    (root / "plan_by_rho.json").write_text(json.dumps({
        "episodes": 10, "seed": 0, "horizon": 100, "given": ["a", "b"], "passed": 1, "command": "python x",
        "runs": [{"seed": 7, "updates": 4500, "cycle": {"success_rate": 1.0}, "arithmetic": {"success_rate": 0.25},
                  "orbit_spacing": [{"step_max_over_median": 1.4}, {"step_max_over_median": 1.25}]}]}))
    text = rho_planning_section(root)
    assert "| 7 | 4,500 | 100.0 % | 25.0 % | 1.40 / 1.25 |" in text and "1 of 2 runs given" in text


def test_pooled_downstream_table_pools_checkpoints_by_kind_and_shows_both_halves(tmp_path):

    def run(feature, final, reached, test):
        return {"feature": feature, "seed": 0, "success_rate": [0.1, final], "steps_to_90": reached, "seconds": 10.0,
                "test": test}

    cfg = {**DownstreamConfig(max_goal_distance=0, horizon=48, goal_region="first-half",
                              test_region="second-half").__dict__}
    runs = [run("pixels", 0.5, None, {"first-half": 0.5, "second-half": 0.25}),
            run("rgrvae-group/a", 1.0, 3000, {"first-half": 1.0, "second-half": 1.0}),
            run("rgrvae-group/b", 0.9, 5000, {"first-half": 0.9, "second-half": 0.8}),
            run("rgrvae-group/c", 0.8, None, {"first-half": 0.8, "second-half": 0.6})]
    (tmp_path / "split.json").write_text(json.dumps({"config": cfg, "runs": runs,
                                                     "commands": ["python made-it", "python and-more"]}))
    text = pooled_downstream_section(tmp_path, "split", "python hint")
    assert "| raw pixels (NatureCNN) | 1, 1 | 50 % (50 %-50 %) | never (0 of 1) | 10 | 50 % (50 %-50 %) |" in text
    assert ("| RGrVAE group features (angle to the goal per plane) | 3, 3 | 90 % (80 %-100 %) | 4,000 (2 of 3) | 10 "
            "| 90 % (80 %-100 %) | 80 % (60 %-100 %) |") in text
    assert "    python made-it\n    python and-more" in text and "held-out goals (second-half)" in text
    assert "training goals (first-half)" in text and "reward shaping" not in text and "sparse reward" in text
    assert "python hint" in pooled_downstream_section(tmp_path, "missing", "python hint")


def test_read_features_put_a_beta_vae_through_the_calibration_in_the_downstream_job(tmp_path, load_script):
    from agent_helpers import tiny_agent

    (tmp_path / "vae_s0").mkdir()
    tiny_agent("vae").save(tmp_path / "vae_s0" / "checkpoint.pt")
    out = tmp_path / "d.json"
    argv = ["--seeds", "1", "--task.steps", "32", "--task.n-steps", "32", "--task.batch-size", "32",
            "--task.n-epochs", "1", "--task.curve-every", "32", "--task.window", "2", "--task.horizon", "32",
            "--task.max-goal-distance", "0", "--no-pixels", "--no-latents", "--read",
            "--vae", str(tmp_path / "vae_s0"), "--out", str(out), "--png", str(tmp_path / "d.png")]
    assert load_script("downstream_sb3").main(argv) == 0
    record = json.loads(out.read_text())
    assert [r["feature"] for r in record["runs"]] == ["vae-read/vae_s0"]
    assert "beta-VAE group element read by position readers" in pooled_downstream_section(tmp_path, "d", "hint")


def test_the_readers_table_pivots_budgets_and_reads_the_record(tmp_path):
    from acting.report import readers_section

    assert "No kept results yet" in readers_section(tmp_path)
    rows = [{"checkpoint": f"runs/{algo}.pt", "algo": algo, "agent_seed": 100, "walks": walks, "reader": "svm",
             "env_steps": steps, "success_rate": rate}
            for algo, rates in (("vae", (0.37, 0.9)), ("rgrvae", (0.6, 1.0)))
            for (walks, steps), rate in zip(((3, 681), (12, 1607)), rates)]
    (tmp_path / "readers_heldout.json").write_text(json.dumps({"command": "python scripts/study_readers.py x",
                                                               "episodes": 10, "seed": 0, "rows": rows}))
    text = readers_section(tmp_path)
    assert "| whose codes | 3 walks per cycle (681 own env steps) | 12 walks per cycle (1,607 own env steps) |" in text
    assert "| beta-VAE seed 100 | 37.0 % | 90.0 % |" in text and "| RGrVAE seed 100 | 60.0 % | 100.0 % |" in text
    assert "python scripts/study_readers.py x" in text
