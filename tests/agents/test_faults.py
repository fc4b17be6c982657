"""Runs survive faults and bad input: finite weights, checked checkpoints, exact resume, signals, clear errors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import BaseAgent, BaseCallback, CheckpointError, NonFiniteLossError, RGrVAE
from agents.checkpoint import MAGIC, load_checkpoint, save_checkpoint
from agents.training import run as runs
from agents.training.run import CHECKPOINT_NAME, RunConfig, train

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--batch-size", "16", "--num-envs", "2", "--channels", "8", "8", "8", "8", "--hidden", "32",
         "--eval-samples", "8", "--threads", "1", "--no-progress"]


def _code(script, argv) -> int:
    try:
        return script.main(argv)
    except SystemExit as e:
        return e.code


def _weights(agent) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in agent.modules().state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _rewrite(path: Path, edit) -> None:
    """Load a checkpoint's payload, edit it, and save it back with a valid hash (a crafted, consistent-looking file)."""
    payload = load_checkpoint(path)
    payload.pop("format")
    edit(payload)
    save_checkpoint(path, payload)


# -- the finite-weight guard ---------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--lr", "--policy-lr", "--angle-lr"])
def test_learning_rates_that_would_overflow_are_refused(train_script, flag, tmp_path, capsys):
    assert _code(train_script, [flag, "1e30", "--run-dir", str(tmp_path / "r"), *QUICK]) == 2
    assert flag.lstrip("-").replace("-", "_") in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_non_finite_gradient_rolls_back_and_stops(monkeypatch):
    agent = tiny_agent()
    agent.learn(2, progress_bar=False)
    before = _weights(agent)
    moments = {k: v.clone() for k, v in agent.optimizer.state[agent.rho.angles].items()}
    handle = agent.rho.angles.register_hook(lambda g: torch.full_like(g, float("nan")))
    with pytest.raises(NonFiniteLossError, match="gradient of rho.angles became non-finite at update 2"):
        agent.learn(1, progress_bar=False)
    handle.remove()
    assert agent.num_steps == 2 and _same(_weights(agent), before)
    for k, v in agent.optimizer.state[agent.rho.angles].items():
        assert torch.equal(v, moments[k])


def test_an_overflowing_step_rolls_back_weights_and_optimiser_state(monkeypatch):
    agent = tiny_agent()
    agent.learn(2, progress_bar=False)
    before = _weights(agent)
    original = agent.optimizer.step

    def overflow(*args, **kwargs):
        original(*args, **kwargs)
        with torch.no_grad():
            agent.vae.encoder.head.weight.fill_(float("inf"))

    monkeypatch.setattr(agent.optimizer, "step", overflow)
    with pytest.raises(NonFiniteLossError, match="vae.encoder.head.weight non-finite"):
        agent.learn(1, progress_bar=False)
    assert _same(_weights(agent), before)


def test_a_non_finite_checkpoint_is_never_written(tmp_path):
    agent = tiny_agent()
    with torch.no_grad():
        agent.vae.decoder.fc[0].bias[0] = float("nan")
    with pytest.raises(CheckpointError, match="vae.decoder.fc.0.bias"):
        agent.save(tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []


def test_loading_and_evaluating_a_non_finite_checkpoint_fail_naming_the_tensor(load_script, tmp_path, capsys):
    path = tmp_path / "c.pt"
    tiny_agent().save(path)
    payload = torch.load(io.BytesIO(path.read_bytes().split(b"\n", 2)[2]), weights_only=True)
    payload["modules"]["rho.angles"][0] = float("inf")
    body = io.BytesIO()
    torch.save(payload, body)
    path.write_bytes(MAGIC + hashlib.sha256(body.getvalue()).hexdigest().encode() + b"\n" + body.getvalue())
    with pytest.raises(CheckpointError, match="rho.angles"):
        BaseAgent.load(path)
    assert _code(load_script("evaluate"), [str(path), "--no-progress"]) == 2
    assert "rho.angles" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


# -- checked checkpoints ------------------------------------------------------------------------------
def test_flipped_bytes_are_detected(tmp_path):
    path = tmp_path / "c.pt"
    tiny_agent().save(path)
    raw = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.choice(np.arange(len(MAGIC) + 70, len(raw)), size=64, replace=False):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        BaseAgent.load(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: p.update(num_steps=-5), "step count must be an integer >= 0"),
        (lambda p: p.update(num_steps="many"), "step count"),
        (lambda p: p.update(config=json.dumps({**json.loads(p["config"]), "latent_size": 6})), "do not match"),
        (lambda p: p.update(config=json.dumps({**json.loads(p["config"]), "hidden": 64})), "do not match"),
        (lambda p: p.update(config=json.dumps({**json.loads(p["config"]), "lr": -1})), "lr must be"),
        (lambda p: p.pop("optimizer"), "no entry 'optimizer'"),
        (lambda p: p["source"].update(config=json.dumps({"env_id": "CartPole-v1"})), "not a symmetry world"),
        (lambda p: p["source"].update(config=json.dumps({"env_kwargs": {"frame_size": 100_000}})), "frame_size"),
    ],
    ids=["negative-steps", "text-steps", "latent-size", "hidden", "bad-lr", "no-optimizer", "cartpole", "huge-frame"],
)
def test_inconsistent_checkpoints_are_refused_with_a_reason(edit, message, tmp_path):
    path = tmp_path / "c.pt"
    tiny_agent().save(path)
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match=message):
        BaseAgent.load(path)


@pytest.mark.parametrize("where", ["--resume", "--eval-only", "evaluate.py"])
def test_a_text_file_as_checkpoint_is_a_clear_error(train_script, load_script, where, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    if where == "evaluate.py":
        code = _code(load_script("evaluate"), [str(text)])
    else:
        flags = QUICK if where == "--resume" else ["--no-progress"]
        code = _code(train_script, [where, str(text), "--run-dir", str(tmp_path / "r"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and "not a checkpoint of this toolkit" in err and "Traceback" not in err


# -- bad input, before any run folder exists -------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env-id", "CartPole-v1"], "not a symmetry world"),
        (["--k", "1001"], "max_episode_steps"),
        (["--noise", "backgrounds", "--background-dir", "/no/such/folder"], "does not exist"),
        (["--env-kwargs", "frame_size", "100000"], "frame_size"),
        (["--num-envs", "100000"], "num_envs"),
    ],
)
def test_bad_input_exits_2_before_the_run_folder_exists(train_script, argv, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _code(train_script, [*QUICK, *argv, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not run_dir.exists()


def test_an_empty_background_folder_is_refused_before_the_run_folder(train_script, tmp_path, capsys):
    (tmp_path / "bg").mkdir()
    argv = ["--noise", "backgrounds", "--background-dir", str(tmp_path / "bg"), "--run-dir", str(tmp_path / "run")]
    assert _code(train_script, [*argv, *QUICK]) == 2
    assert "has no images" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_k_300_pairs_train(train_script, tmp_path):
    argv = ["--k", "300", "--action-steps", "1", "--total-steps", "2", "--run-dir", str(tmp_path / "r"), *QUICK]
    assert _code(train_script, argv) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["data"]["k"] == 300


@pytest.mark.parametrize("kind", ["a-file", "unwritable"])
def test_a_run_folder_that_cannot_be_written_is_a_clear_error(train_script, kind, tmp_path, capsys):
    if kind == "a-file":
        target = tmp_path / "file"
        target.write_text("x")
    elif os.geteuid() == 0:  # root ignores permission bits; sysfs refuses new folders to everyone
        target = Path("/sys/symmetry-worlds-test-run")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        target = tmp_path / "ro" / "run"
    assert _code(train_script, ["--run-dir", str(target), *QUICK]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "Traceback" not in err


def test_a_full_disk_mid_run_is_a_clear_error(train_script, monkeypatch, tmp_path, capsys):
    from agents import checkpoint

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full)
    argv = ["--total-steps", "4", "--checkpoint-every", "2", "--run-dir", str(tmp_path / "r"), *QUICK]
    assert _code(train_script, argv) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


def test_an_unwritable_evaluation_folder_is_a_clear_error(load_script, tmp_path, capsys):
    path = tmp_path / "c.pt"
    tiny_agent().save(path)
    (tmp_path / "out").write_text("x")
    assert _code(load_script("evaluate"), [str(path), "--out-dir", str(tmp_path / "out")]) == 2
    assert "not a folder" in capsys.readouterr().err


# -- worlds with rgb frames evaluate -------------------------------------------------------------
def test_an_rgb_agent_trains_and_evaluates(tmp_path):
    from agents.training.evaluation import evaluate_agent

    agent = tiny_agent(data={"env_kwargs": {"obs_mode": "rgb"}})
    assert agent.obs_shape == (64, 64, 3)
    assert agent.world.render_states(np.array([[1, 2]])).shape == (1, 64, 64, 3)
    agent.learn(2, progress_bar=False)
    record = evaluate_agent(agent, tmp_path, num_samples=8, progress=False)
    assert record["metrics"]["action_estimation"]["accuracy"] is not None


# -- signals and files -----------------------------------------------------------------------------------
def _quick_run(total: int = 8, every: int = 100) -> RunConfig:
    return RunConfig(total_steps=total, checkpoint_every=every, eval_samples=8, progress=False)


class _Signal(BaseCallback):
    def __init__(self, signum: int, at: int) -> None:
        self.signum, self.at = signum, at

    def on_step(self, agent, stats, batch, truth) -> bool:
        if agent.num_steps == self.at:
            os.kill(os.getpid(), self.signum)
        return True


def test_sigterm_saves_and_exits_143(tmp_path):
    previous = signal.getsignal(signal.SIGTERM)
    result = train(tiny_agent(), _quick_run(), tmp_path, extra_callbacks=[_Signal(signal.SIGTERM, 3)])
    assert result.status == "interrupted" and result.exit_code == 143
    assert RGrVAE.load(tmp_path / CHECKPOINT_NAME).num_steps == 3
    assert signal.getsignal(signal.SIGTERM) is previous


def test_ctrl_c_during_evaluation_keeps_the_checkpoint_and_says_how_to_evaluate(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "evaluate_agent", interrupted)
    result = train(tiny_agent(), _quick_run(total=3), tmp_path)
    assert result.status == "evaluation interrupted" and result.exit_code == 130
    assert RGrVAE.load(tmp_path / CHECKPOINT_NAME).num_steps == 3
    assert f"scripts/evaluate.py {tmp_path / CHECKPOINT_NAME}" in capsys.readouterr().err


def test_stale_temp_files_are_removed_and_outputs_get_the_umask(tmp_path):
    (tmp_path / "checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    old = os.umask(0o027)
    try:
        train(tiny_agent(), _quick_run(total=2), tmp_path)
    finally:
        os.umask(old)
    assert not list(tmp_path.glob("*.tmp"))
    for name in ("checkpoint.pt", "metrics.json", "run.json", "latent_actions.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


# -- exact resume -----------------------------------------------------------------------------------------
def test_interrupted_then_resumed_equals_straight_bit_for_bit(train_script, tmp_path):
    """N + M updates with a Ctrl-C after N give the same weights as N + M straight updates (CPU)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _code(train_script, ["--total-steps", "10", "--run-dir", str(straight), *QUICK]) == 0
    agent = tiny_agent(batch_size=16)
    result = train(agent, RunConfig(total_steps=10, eval_samples=8, progress=False), split,
                   extra_callbacks=[_Signal(signal.SIGINT, 4)])
    assert result.status == "interrupted" and result.agent.num_steps == 4
    assert _code(train_script, ["--resume", str(split / CHECKPOINT_NAME), "--total-steps", "10", *QUICK]) == 0
    a, b = BaseAgent.load(straight / CHECKPOINT_NAME), BaseAgent.load(split / CHECKPOINT_NAME)
    assert a.num_steps == b.num_steps == 10
    assert _same(_weights(a), _weights(b))


def test_killed_run_resumes_from_its_last_checkpoint_exactly(train_script, tmp_path):
    """SIGKILL a training process; resume from its last periodic checkpoint; the result equals a straight run."""
    script = str(REPO / "scripts" / "train_agent.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    common = ["--checkpoint-every", "5", *QUICK]
    proc = subprocess.Popen([sys.executable, script, "--total-steps", "100000", "--run-dir", str(killed), *common],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300  # generous: on a loaded machine the first checkpoint can take minutes
        while not (killed / CHECKPOINT_NAME).exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    ckpt = killed / CHECKPOINT_NAME
    at = BaseAgent.load(ckpt).num_steps
    assert at > 0 and at % 5 == 0
    total = str(at + 5)
    subprocess.run([sys.executable, script, "--resume", str(ckpt), "--total-steps", total, *common], env=env,
                   check=True, capture_output=True)
    assert _code(train_script, ["--total-steps", total, "--run-dir", str(straight), *common]) == 0
    assert _same(_weights(BaseAgent.load(ckpt)), _weights(BaseAgent.load(straight / CHECKPOINT_NAME)))
