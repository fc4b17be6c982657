"""The main job end to end: flags -> run directory; errors are clear and keep the last good checkpoint."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents import BaseAgent, BaseCallback, RGrVAE
from agents.training.callbacks import TensorBoardCallback
from agents.training.run import CHECKPOINT_NAME, RunConfig, RunError, train

#: the script's flags for a run of seconds (one thread: a shared 2-core machine thrashes with two)
QUICK = ["--batch-size", "16", "--num-envs", "2", "--eval-samples", "8", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def script(train_script):
    return train_script


@pytest.fixture(scope="module")
def finished_run(script, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "rgrvae"
    argv = ["--total-steps", "6", "--checkpoint-every", "4", "--log-every", "2", "--image-every", "4",
            "--run-dir", str(run_dir), *QUICK]
    assert script.main(argv) == 0
    return run_dir


def _tags(run_dir) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {"scalars": [], "images": []}
    for events in run_dir.glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0})
        acc.Reload()
        for kind in tags:
            tags[kind] += acc.Tags()[kind]
    return tags


def test_script_writes_its_run_directory(finished_run):
    names = {p.name for p in finished_run.iterdir()}
    assert {"checkpoint.pt", "metrics.json", "latent_actions.png", "run.json"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert BaseAgent.load(finished_run / "checkpoint.pt").num_steps == 6


def test_tensorboard_has_scalars_images_and_confusion(finished_run):
    tags = _tags(finished_run)
    for tag in ("train/loss", "train/reward", "train/entropy", "train/action_accuracy", "eval/action_accuracy",
                "angles/z0_c+", "angles/z3_c-"):
        assert tag in tags["scalars"], (tag, tags["scalars"])
    for tag in ("images/reconstructions", "images/traversals", "images/latent_actions", "images/confusion"):
        assert tag in tags["images"], (tag, tags["images"])


def test_metrics_json_has_suite_and_acceptance(finished_run):
    record = json.loads((finished_run / "metrics.json").read_text())
    assert record["algo"] == "rgrvae" and record["num_steps"] == 6
    assert "independence" in record["metrics"]["independence"]
    acc, suite = record["acceptance"], record["metrics"]
    estimation = suite["action_estimation"]
    assert acc["action_accuracy"] == estimation["accuracy"] and "accuracy_in_sample" in estimation
    assert acc["relative_equivariance_error"] == suite["equivariance"]["relative_error"]
    assert acc["passed"]["equivariance"] == (acc["relative_equivariance_error"] <= 0.02)
    assert acc["passed"]["action_accuracy"] == (acc["action_accuracy"] >= 0.95)
    assert [r["true_action"] for r in acc["angles"]] == ["left", "right", "up", "down"]
    assert all(abs(r["target"] - 2 * np.pi * 5 / 33) < 1e-9 for r in acc["angles"])
    assert set(acc["passed"]) == {"action_accuracy", "angles", "equivariance", "all"}
    assert record["realignments"] == [] and record["restarts"] == []  # none before update 250; listed even so


def test_resume_trains_only_the_remaining_steps(script, finished_run, tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes((finished_run / "checkpoint.pt").read_bytes())
    assert script.main(["--resume", str(ckpt), "--total-steps", "9", *QUICK]) == 0
    assert BaseAgent.load(ckpt).num_steps == 9
    assert json.loads((tmp_path / "metrics.json").read_text())["num_steps"] == 9


def test_resume_refuses_changed_hyperparameters(script, finished_run, capsys):
    assert script.main(["--resume", str(finished_run / "checkpoint.pt"), "--gamma", "3", *QUICK]) == 2
    assert "--gamma" in capsys.readouterr().err


def test_eval_only_writes_metrics(script, finished_run, tmp_path):
    out = tmp_path / "eval"
    ckpt = str(finished_run / "checkpoint.pt")
    quick = ["--eval-samples", "8", "--threads", "1", "--no-progress"]
    assert script.main(["--eval-only", ckpt, "--run-dir", str(out), *quick]) == 0
    assert json.loads((out / "metrics.json").read_text())["num_steps"] == 6
    assert {p.name for p in out.iterdir()} == {"metrics.json", "latent_actions.png"}
    assert script.main(["--eval-only", ckpt, "--gamma", "2", *quick]) == 2  # would be silently ignored


def _exit_code(script, argv) -> int:
    """The script's exit status, whether it returns it or tyro exits with it while parsing."""
    try:
        return script.main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env-id", "NoSuchWorld-v9"], "not registered"),
        (["--env-id", "CartPole-v1"], "not a symmetry world"),
        (["--batch-size", "0"], "batch_size"),
        (["--lr", "-1"], "lr"),
        (["--lr", "nan"], "lr"),
        (["--total-steps", "-1"], "total_steps"),
        (["--structure", "c+", "bogus"], "structure"),
        (["forward", "--latent-size", "6"], "latent_size"),
        (["vae", "--entropy-weight", "0.1"], "--entropy-weight"),
        (["--eval-samples", "2"], "eval_samples"),
        (["--resume", "/no/such/checkpoint.pt"], "no checkpoint"),
        (["--eval-only", "/no/such/checkpoint.pt"], "no checkpoint"),
        (["--batch-size", "many"], "many"),
        (["--recon-loss", "poisson"], "poisson"),
    ],
)
def test_bad_flags_fail_clearly_before_any_work(script, argv, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _exit_code(script, [*argv, "--run-dir", str(run_dir), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not run_dir.exists()


def test_a_world_suggests_settings_and_a_flag_the_user_passes_wins():
    from agents.rgrvae import RGrVAEConfig
    from agents.training.cli import apply_world_settings, flags_given

    config, applied = apply_world_settings(RGrVAEConfig(), "Sprites-v0", flags_given(["--env-id", "Sprites-v0"]))
    assert applied == {"latent_size": 8, "recon_loss": "bernoulli"}
    assert (config.latent_size, config.recon_loss) == (8, "bernoulli")
    given = flags_given(["--latent-size", "4", "--recon_loss=squared"])
    config, applied = apply_world_settings(RGrVAEConfig(latent_size=4), "Sprites-v0", given)
    assert applied == {} and (config.latent_size, config.recon_loss) == (4, "squared")
    assert apply_world_settings(RGrVAEConfig(), "FlatLand-v0", set()) == (RGrVAEConfig(), {})


def test_the_main_job_says_which_world_settings_it_applied(script, tmp_path, capsys):
    argv = ["--env-id", "Sprites-v0", "--total-steps", "2", "--run-dir", str(tmp_path / "run"), *QUICK]
    assert script.main(argv) == 0
    assert "Sprites-v0 suggests --latent-size 8 --recon-loss bernoulli (applied" in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert (saved["latent_size"], saved["recon_loss"]) == (8, "bernoulli")


def test_rgrvae_on_the_cube_takes_its_so3_suggestion_and_is_judged_by_the_group_relations(script, tmp_path, capsys):
    argv = ["--env-id", "RotatingCube-v0", "--latent-size", "6", "--total-steps", "2", "--run-dir",
            str(tmp_path / "run"), *QUICK]
    assert script.main(argv) == 0
    assert "RotatingCube-v0 suggests --group so3 --tie-angles False --realign False --restart-after 0" in (
        capsys.readouterr().out)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["config"]["group"] == "so3"
    acc = record["acceptance"]
    assert set(acc["passed"]) == {"action_accuracy", "group_relations", "equivariance", "non_commuting", "all"}
    assert acc["group_relation_error"] == record["metrics"]["group_relations"]["max_error"]
    assert record["metrics"]["group_relations"]["world_non_commuting"]  # the cube's x and y turns, and more


def _run(total_steps=8, checkpoint_every=3) -> RunConfig:
    return RunConfig(total_steps=total_steps, checkpoint_every=checkpoint_every, eval_samples=8, progress=False)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original = RGrVAE._loss

    def poisoned(self, batch):
        loss, stats = original(self, batch)
        return (loss * torch.nan if self.num_steps == 5 else loss), stats

    monkeypatch.setattr(RGrVAE, "_loss", poisoned)
    run_dir = tmp_path / "run"
    with pytest.raises(RunError, match=r"loss became nan at update 5.*checkpoint .* \(update 3\) is kept"):
        train(tiny_agent(), _run(), run_dir)
    assert RGrVAE.load(run_dir / CHECKPOINT_NAME).num_steps == 3
    assert not (run_dir / "metrics.json").exists()


def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(tmp_path):
    class CtrlC(BaseCallback):
        def on_step(self, agent, stats, batch, truth) -> bool:
            if agent.num_steps == 2:
                os.kill(os.getpid(), signal.SIGINT)
            return True

    run_dir = tmp_path / "run"
    previous = signal.getsignal(signal.SIGINT)
    result = train(tiny_agent(), _run(checkpoint_every=100), run_dir, extra_callbacks=[CtrlC()])
    assert result.status == "interrupted" and result.agent.num_steps == 2 and result.exit_code == 130
    assert RGrVAE.load(run_dir / CHECKPOINT_NAME).num_steps == 2
    assert signal.getsignal(signal.SIGINT) is previous


def test_keyboard_interrupt_mid_update_still_saves(tmp_path):
    class Raise(BaseCallback):
        def on_step(self, agent, stats, batch, truth) -> bool:
            if agent.num_steps == 3:
                raise KeyboardInterrupt
            return True

    run_dir = tmp_path / "run"
    assert train(tiny_agent(), _run(checkpoint_every=100), run_dir, extra_callbacks=[Raise()]).status == "interrupted"
    assert RGrVAE.load(run_dir / CHECKPOINT_NAME).num_steps == 3


def test_beta_vae_logs_without_latent_actions(tmp_path):
    agent = tiny_agent("vae")
    agent.learn(4, callback=TensorBoardCallback(tmp_path, log_every=2, image_every=2), progress_bar=False)
    tags = _tags(tmp_path)
    assert "train/recon" in tags["scalars"] and "images/traversals" in tags["images"]
    assert not any(t.startswith("angles/") for t in tags["scalars"])


def test_evaluate_script(load_script, finished_run, tmp_path, capsys):
    evaluate = load_script("evaluate")
    out = tmp_path / "eval"
    argv = [str(finished_run / "checkpoint.pt"), "--out-dir", str(out), "--eval-samples", "8", "--no-progress"]
    assert evaluate.main(argv) == 0
    assert "acceptance" in json.loads((out / "metrics.json").read_text())
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert evaluate.main([str(bad)]) == 2
    assert "not a checkpoint of this toolkit" in capsys.readouterr().err
