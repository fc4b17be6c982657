"""The reproduction driver keeps a run that stops with a training error as a result, shows it, and retries it."""

import json

from conftest import load_script

from agents.training.run import RunError
from experiments import reproduce
from experiments.claims import EXPERIMENTS, RunPlan
from experiments.reproduce import Experiment, failed_runs, generated_sections, run_experiment


def test_a_run_that_fails_is_kept_shown_and_retried(tmp_path, monkeypatch):
    plans = lambda seeds: [RunPlan(f"a_s{s}", "rgrvae", s) for s in seeds]  # noqa: E731
    experiment = Experiment("claimX", "a test claim", (1, 2, 3), plans, lambda records: f"{len(records)} kept")
    outcome = {"a_s1": "ok", "a_s2": "diverged"}

    def fake_run(plan, work, kept, progress):
        if outcome[plan.name] != "ok":
            raise RunError(f"training stopped: {outcome[plan.name]} at update 7")
        kept.mkdir(parents=True, exist_ok=True)
        (kept / reproduce.METRICS_NAME).write_text(json.dumps({"config": {"seed": plan.seed}}))

    monkeypatch.setattr(reproduce, "_run", fake_run)
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
    assert failed_runs(experiment, tmp_path) == {} and "stopped without" not in generated_sections(
        {"claimX": experiment}, tmp_path)["claimX"]


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
    assert sprites_factor_rows(metrics) == [["scale", 0.95, "2.090 2.100", "2.094", "3 -", "0.020 ± 0.010"]]


def test_claims_refuse_tuning_seeds_before_training(tmp_path, capsys):
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
