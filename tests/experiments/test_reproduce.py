"""The reproduction driver keeps a run that stops with a training error as a result, shows it, and retries it."""

import json
from pathlib import Path
from typing import Any

import pytest

from experiments import reproduce
from experiments.claims import EXPERIMENTS, RunPlan
from experiments.reproduce import Experiment, failed_runs, generated_sections, run_experiment


def test_a_run_that_fails_is_kept_shown_and_retried(tmp_path, monkeypatch):
    plans = lambda seeds: [RunPlan(f"a_s{s}", "rgrvae", s) for s in seeds]  # noqa: E731
    experiment = Experiment("claimX", "a test claim", (1, 2, 3), plans, lambda records: f"{len(records)} kept")
    outcome = {"a_s1": "ok", "a_s2": "diverged"}
    swept = []

    def fake_sweep(runs, out, backend, threads, jobs, retries, address, gpus_per_run):
        swept.append([r.name for r in runs])
        rows = []
        for run in runs:
            if outcome[run.name] != "ok":
                rows.append({"name": run.name, "status": "failed",
                             "error": f"error: training stopped: {outcome[run.name]} at update 7"})
                continue
            (Path(out) / run.name).mkdir(parents=True, exist_ok=True)
            (Path(out) / run.name / reproduce.METRICS_NAME).write_text(json.dumps({"config": {"seed": run.seed}}))
            rows.append({"name": run.name, "status": "finished"})
        return rows

    monkeypatch.setattr(reproduce, "sweep", fake_sweep)
    records = run_experiment(experiment, (1, 2), results_root=tmp_path, work_root=tmp_path / "w", log=lambda _: None)
    assert list(records) == ["a_s1"]
    assert failed_runs(experiment, tmp_path) == {"a_s2": {"run": "a_s2", "seed": 2,
                                                          "error": "training stopped: diverged at update 7"}}
    text = generated_sections({"claimX": experiment}, tmp_path)["claimX"]
    assert text.startswith("1 kept") and "- `a_s2`: training stopped: diverged at update 7" in text
    assert text.endswith("Planned runs not yet run (1; `python scripts/reproduce.py claimX` runs them): `a_s3`.")
    outcome["a_s2"] = "ok"  # rerunning retries the failed run; its success replaces the failure
    assert list(run_experiment(experiment, (1, 2), results_root=tmp_path, work_root=tmp_path / "w",
                               log=lambda _: None)) == ["a_s1", "a_s2"]
    assert swept == [["a_s1", "a_s2"], ["a_s2"]]  # the kept run is not swept again
    assert failed_runs(experiment, tmp_path) == {} and "stopped without" not in generated_sections(
        {"claimX": experiment}, tmp_path)["claimX"]


def test_every_plan_of_every_claim_is_a_command_line_that_asks_for_the_same_run():
    from agents.base import agent_class
    from agents.training.cli import apply_world_settings, flags_given, parse_train_args
    from flatland_env.pairs import PairSourceConfig

    extra = [  # kinds of settings no claim uses today, so that a new claim can use them
        RunPlan("extra_s100", "rgrvae", 100, agent={"logvar_bounds": None, "realign": False, "tie_angles": True,
                                                    "structure": ("c+", "c-"), "lr": 3e-4, "recon_loss": "bernoulli"},
                data={"env_id": "Sprites-v0", "env_kwargs": {"offset": 4, "shapes": "heart"}, "prefetch": "off"}),
        RunPlan("extra-vae_s100", "vae", 100, agent={"output_selu": True, "logvar_bounds": (-6.0, 1.5)},
                data={"k": 2, "num_envs": 3, "env_kwargs": {}}, total_steps=5, eval_samples=16),
    ]
    plans = [p for experiment in EXPERIMENTS.values() for p in experiment.runs((100,))] + extra
    assert {p.model for p in plans} == {"vae", "forward", "rgrvae"} and any(p.eval_noise for p in plans)
    for plan in plans:
        run = reproduce.plan_run(plan)
        assert (run.name, run.seed) == (plan.name, plan.seed)
        model, command, _ = parse_train_args(list(run.argv))
        # the main job then gives unset fields the world's suggestions: none may remain unset
        agent, suggested = apply_world_settings(command.agent, command.data.env_id, flags_given(list(run.argv)))
        assert model == plan.model and suggested == {}, plan.name
        assert agent == agent_class(plan.model).Config(seed=plan.seed, **plan.agent), plan.name
        assert command.data == PairSourceConfig(**plan.data), plan.name
        assert (command.run.total_steps, command.run.eval_samples) == (plan.total_steps, plan.eval_samples)
        assert command.run.progress is False


def test_every_distinct_plan_builds_its_agent():
    """A plan that leaves out a setting the world suggests gets the Config's default (the driver pins it): the cube
    plans once left out the so3 block and every run failed to build. Each distinct plan must build (small nets)."""
    from agents.base import agent_class
    from flatland_env.pairs import PairSourceConfig

    seen = set()
    for plan in (p for experiment in EXPERIMENTS.values() for p in experiment.runs((100,))):
        key = (plan.model, repr(sorted(plan.agent.items())), repr(sorted(plan.data.items())))
        if key in seen:
            continue
        seen.add(key)
        data = PairSourceConfig(**{**plan.data, "num_envs": 1})
        agent = agent_class(plan.model)(data, seed=plan.seed, **{**plan.agent, "channels": (4, 4, 4, 4), "hidden": 16})
        agent.source.close()


@pytest.mark.parametrize("plan, message", [
    (RunPlan("a_s1", "rgrvae", 1, agent={"gama": 1.0}), "agent settings \\['gama'\\] are not flags"),
    (RunPlan("a_s1", "rgrvae", 1, agent={"seed": 3}), "agent settings \\['seed'\\]"),
    (RunPlan("a_s1", "rgrvae", 1, data={"noisy": "salt"}), "data settings"),
    (RunPlan("a_s1", "rgrvae", 1, data={"env_kwargs": {"shapes": "4"}}), "cannot pass through"),
    (RunPlan("a_s1", "rgrvae", 1, data={"env_kwargs": {"flag": True}}), "cannot pass through"),
])
def test_a_plan_the_command_line_cannot_carry_is_refused_by_name(plan, message):
    with pytest.raises(ValueError, match=message):
        reproduce.plan_run(plan)


#: a run of seconds: the main job's smallest settings (as tests/experiments/test_sweep.py's TINY)
TINY = {"agent": {"batch_size": 4}, "data": {"num_envs": 2}, "total_steps": 4, "eval_samples": 8}


def _tiny_experiment(**plan: Any) -> Experiment:
    return Experiment("claimT", "a tiny claim", (100,), lambda seeds: [
        RunPlan(f"tiny_s{s}", "rgrvae", s, **{**TINY, **plan}) for s in seeds], lambda records: "")


def test_an_experiment_runs_through_the_sweep_and_keeps_each_runs_records(tmp_path):
    experiment, lines = _tiny_experiment(), []
    records = run_experiment(experiment, results_root=tmp_path / "results", work_root=tmp_path / "work",
                             progress=False, log=lines.append, jobs=1)
    kept = tmp_path / "results" / "claimT" / "tiny_s100"
    assert list(records) == ["tiny_s100"] and records["tiny_s100"]["metrics"]["pairs_seen"] == 16
    assert sorted(p.name for p in kept.iterdir()) == ["metrics.json", "run.json"]
    assert (tmp_path / "work" / "claimT" / "tiny_s100" / "checkpoint.pt").is_file()
    assert (tmp_path / "work" / "claimT" / "logs" / "tiny_s100.log").is_file()
    assert lines[0].startswith("claimT: 1 run(s) on local") and lines[-1].startswith("claimT/tiny_s100: ")
    assert lines[-1].endswith(" s")
    lines.clear()  # run again: the kept result is skipped, nothing is trained
    again = run_experiment(experiment, results_root=tmp_path / "results", work_root=tmp_path / "work",
                           progress=False, log=lines.append)
    assert again == records and len(lines) == 1 and lines[0].startswith("claimT/tiny_s100: kept result, skipped")


def test_a_run_asked_for_noisy_frames_is_measured_on_them_from_its_checkpoint(tmp_path):
    experiment = _tiny_experiment(eval_noise="salt")
    records = run_experiment(experiment, results_root=tmp_path / "results", work_root=tmp_path / "work",
                             progress=False, log=lambda _: None, jobs=1)
    kept = tmp_path / "results" / "claimT" / "tiny_s100"
    assert (kept / reproduce.NOISY_METRICS_NAME).is_file() and (kept / reproduce.METRICS_NAME).is_file()
    noisy = records["tiny_s100"]["noisy"]
    assert noisy["num_steps"] == 4 and noisy["config"]["seed"] == 100
    assert noisy["metrics"] != records["tiny_s100"]["metrics"]["metrics"]


def test_a_work_folder_of_other_code_is_trained_again_and_one_of_todays_code_resumed(tmp_path, monkeypatch):
    plans = lambda seeds: [RunPlan(f"a_s{s}", "rgrvae", s) for s in seeds]  # noqa: E731
    experiment = Experiment("claimX", "a test claim", (1, 2), plans, lambda records: "")
    work = tmp_path / "w" / "claimX"
    for name, record, made_by in (("a_s1", reproduce.METRICS_NAME, "old"), ("a_s2", reproduce.RUN_NAME, "today")):
        (work / name).mkdir(parents=True)
        (work / name / record).write_text(json.dumps({"provenance": made_by}))
    monkeypatch.setattr(reproduce, "changed_since", lambda made_by: "old code" if made_by == "old" else None)
    seen = {}

    def fake_sweep(runs, out, *args):
        seen.update({r.name: sorted(p.name for p in (Path(out) / r.name).glob("*")) for r in runs})
        return [{"name": r.name, "status": "failed", "error": "stopped"} for r in runs]

    monkeypatch.setattr(reproduce, "sweep", fake_sweep)
    lines = []
    run_experiment(experiment, results_root=tmp_path / "r", work_root=tmp_path / "w", log=lines.append)
    assert seen == {"a_s1": [], "a_s2": [reproduce.RUN_NAME]}  # a_s1 starts from scratch, a_s2 resumes
    assert "claimX/a_s1: its work folder was made by other code (old code); training it from scratch" in lines


@pytest.mark.slow
def test_an_experiment_runs_on_ray_too(tmp_path):
    pytest.importorskip("ray")
    records = run_experiment(_tiny_experiment(), results_root=tmp_path / "results", work_root=tmp_path / "work",
                             progress=False, log=lambda _: None, backend="ray", gpus_per_run=0.0)
    assert records["tiny_s100"]["metrics"]["pairs_seen"] == 16
    assert (tmp_path / "results" / "claimT" / "tiny_s100" / "run.json").is_file()


@pytest.mark.parametrize("flags, message", [
    (["--threads", "0"], "threads must be"),
    (["--jobs", "-1"], "jobs must be"),
    (["--gpus-per-run", "2"], "gpus_per_run must be"),
])
def test_bad_sweep_flags_are_refused_before_any_run(tmp_path, capsys, load_script, flags, message):
    script = load_script("reproduce")
    assert script.main(["claim3", "--results-root", str(tmp_path / "r"), "--work-root", str(tmp_path / "w"),
                        "--readme", str(tmp_path / "README.md"), *flags]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "w").exists()


def test_pairs_seen_are_summarised_as_median_and_range():
    from experiments.claims import pairs_summary

    assert pairs_summary([249_600, 104_000, 160_000, None]) == "160,000 (104,000-249,600)"
    assert pairs_summary([249_600, 249_600]) == "249,600"
    assert pairs_summary([None]) == "-"


def test_a_sprites_factor_row_shows_the_target_angle_of_its_realised_order():
    from experiments.claims import sprites_factor_rows

    names = ["scale-", "scale+"]
    metrics = {
        "metrics": {"action_estimation": {"confusion": [[9, 1], [0, 10]], "action_names": names},
                    "equivariance": {"action_map": [0, 1], "per_action": {"scale-": 0.01, "scale+": 0.03}}},
        "latent_actions": [{"angle": -2.09, "realised_order": 3}, {"angle": 2.10, "realised_order": None}],
        "acceptance": {"angles": [{"true_action": a, "target": 2.0944} for a in names]},
    }
    assert sprites_factor_rows(metrics) == [["scale", 0.95, "2.090 2.100", "2.094", "-", "3 -", "0.020 ± 0.010"]]


def test_a_sprites_factor_row_names_the_faithful_angle_nearest_to_a_turn_of_several_steps():
    """An orientation plane turned three steps of 2*pi/10 per action misses the image-continuous target by 1.26 rad
    but is a faithful representation of C_10: the row says k = 3 and how far the angle is from 3 * 2*pi/10."""
    from experiments.claims import sprites_factor_rows

    names = ["orientation-", "orientation+"]
    metrics = {
        "metrics": {"action_estimation": {"confusion": [[10, 0], [0, 10]], "action_names": names},
                    "equivariance": {"action_map": [0, 1], "per_action": {n: 0.02 for n in names}},
                    "independence": {"actions": [{"name": n, "cycle_order": 10} for n in names]}},
        "latent_actions": [{"angle": -1.984, "realised_order": None}, {"angle": 1.984, "realised_order": None}],
        "acceptance": {"angles": [{"true_action": a, "target": 0.6283} for a in names]},
    }
    row = sprites_factor_rows(metrics)[0]
    assert row[:5] == ["orientation", 1.0, "1.984 1.984", "0.628", "3 (0.099) 3 (0.099)"]


def test_a_continuous_run_without_rho_is_scored_by_the_equivariance_its_planes_imply():
    from experiments.claims import continuous_table

    def record(passed: bool, **metric: float) -> dict:
        factors = [{"r2": 0.99, "winding": 1}, {"r2": 0.98, "winding": -1}]
        return {"metrics": {"num_steps": 3000, "acceptance": {"passed": {"all": passed}},
                            "metrics": {"continuous_actions": {"per_factor": factors, **metric}}}}

    text = continuous_table({"rgrvae_s100": record(True, implied_relative_equivariance_error=0.02),
                             "rgrvae-plain_s100": record(False, implied_relative_equivariance_error=0.9),
                             "forward_s100": record(True, relative_equivariance_error=0.03,
                                                    implied_relative_equivariance_error=0.5)})
    assert "**RGrVAE with angle uniformity and turn independence**: 1 of 1 held-out seeds" in text
    assert "**RGrVAE without them (the control)**: 0 of 1 held-out seeds" in text
    assert "| rgrvae | 100 | 3,000 | 0.990 / 0.980 | 1 / -1 | 0.020 | yes |" in text
    assert "| forward | 100 | 3,000 | 0.990 / 0.980 | 1 / -1 | 0.030 | yes |" in text  # rho's own, where it has one


def test_claims_refuse_tuning_seeds_before_training(tmp_path, capsys, load_script):
    from experiments.reproduce import check_report_seeds

    script = load_script("reproduce")
    assert script.main(["claim3", "--seeds", "0", "--results-root", str(tmp_path / "r"),
                        "--work-root", str(tmp_path / "w"), "--readme", str(tmp_path / "README.md")]) == 2
    assert "tuning seeds" in capsys.readouterr().err and not (tmp_path / "w").exists()
    check_report_seeds((100, 101))
    check_report_seeds((0,), tuning=True)


def test_a_result_made_by_older_code_is_reported_stale(tmp_path, monkeypatch):
    import subprocess

    from agents.training import provenance as prov
    from experiments.reproduce import stale_runs

    repo = tmp_path / "repo"
    (repo / "agents").mkdir(parents=True)
    (repo / "agents" / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "old"], check=True)
    monkeypatch.setattr(prov, "REPO", repo)
    made = prov.provenance()
    assert made["commit"] and made["dirty"] is False and made["packages"]["torch"]
    assert prov.changed_since(made) is None
    experiment = EXPERIMENTS["claim3"]
    for name, record in (("rgrvae_s100", made), ("rgrvae_s101", None)):
        (tmp_path / "results" / "claim3" / name).mkdir(parents=True)
        metrics = {"provenance": record} if record else {}
        (tmp_path / "results" / "claim3" / name / "metrics.json").write_text(json.dumps(metrics))
    assert stale_runs(experiment, tmp_path / "results") == {"rgrvae_s101": "it records no code version"}
    (repo / "agents" / "code.py").write_text("x = 2\n")  # the code changes under the kept result
    assert prov.provenance()["dirty"] is True
    subprocess.run([*git, "-C", str(repo), "commit", "-qam", "new"], check=True)
    assert stale_runs(experiment, tmp_path / "results")["rgrvae_s100"].startswith("the code changed since")


def test_a_turn_of_three_faithful_steps_passes_claim_6_only_when_scored_against_the_nearest_faithful_angle():
    """The outcome line's second count: an orientation plane turned three steps of 2*pi/10 (1.89 rad) misses the
    k = 1 target by 1.26 rad but its nearest faithful angle, 3 * 2*pi/10, by 0.005."""
    import math

    from experiments.claims import faithful_angle_error, sprites_passed, sprites_passed_faithful

    names = ["orientation-", "orientation+"]
    metrics = {
        "metrics": {"independence": {"actions": [{"name": n, "cycle_order": 10} for n in names]}},
        "acceptance": {"action_accuracy": 0.99, "relative_equivariance_error": 0.03,
                       "angles": [{"true_action": n, "abs_angle": 1.89, "target": 0.6283, "error": 1.2617}
                                  for n in names]},
    }
    assert abs(faithful_angle_error(metrics) - abs(1.89 - 3 * 2 * math.pi / 10)) < 1e-9
    assert not sprites_passed(metrics) and sprites_passed_faithful(metrics)
    metrics["acceptance"]["angles"][0]["abs_angle"] = float("nan")  # an unmatched action: no angle to score
    assert faithful_angle_error(metrics) is None and not sprites_passed_faithful(metrics)


def test_the_refit_row_is_the_recipe_with_the_closing_refit_on_its_own_seeds():
    from experiments.claims import CLAIM6_RECIPE_UPDATES, CLAIM6_REFIT_SEEDS, claim6_plans

    plans = {p.name: p for p in claim6_plans(CLAIM6_REFIT_SEEDS)}
    seed = CLAIM6_REFIT_SEEDS[0]
    refit, recipe = plans[f"forward-recipe-refit_s{seed}"], plans[f"forward-recipe_s{seed}"]
    assert refit.agent == {**recipe.agent, "refit_angles_at": CLAIM6_RECIPE_UPDATES}
    assert refit.total_steps == CLAIM6_RECIPE_UPDATES and refit.data == recipe.data
    from experiments.claims import CLAIM_SEEDS

    default = [p.name for p in claim6_plans(CLAIM_SEEDS) if p.name.startswith("forward-recipe-refit_")]
    assert default == [f"forward-recipe-refit_s{s}" for s in CLAIM6_REFIT_SEEDS]  # not on the recipe's seeds
