"""Checkpoints: round trips give identical outputs, resume continues, bad files never run code."""

from __future__ import annotations

import hashlib
import io
import pickle

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import AGENTS, BaseAgent, CheckpointError, RGrVAE
from agents.checkpoint import FORMAT, MAGIC
from agents.training.callbacks import CheckpointCallback, Probe


@pytest.mark.parametrize("model", sorted(AGENTS))
def test_save_load_round_trip_gives_identical_outputs(model, tmp_path):
    agent = tiny_agent(model)
    agent.learn(3, progress_bar=False)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    loaded = BaseAgent.load(path)
    assert type(loaded) is type(agent) and loaded.num_steps == 3
    probe = Probe.sample(agent, 12)
    np.testing.assert_array_equal(loaded.encode(probe.obs), agent.encode(probe.obs))
    z = agent.encode(probe.obs)
    np.testing.assert_array_equal(loaded.decode(z), agent.decode(z))
    if hasattr(agent, "infer_actions"):
        np.testing.assert_array_equal(
            loaded.infer_actions(probe.obs, probe.next_obs), agent.infer_actions(probe.obs, probe.next_obs)
        )
        np.testing.assert_array_equal(loaded.predict_next(probe.obs, 1), agent.predict_next(probe.obs, 1))
        np.testing.assert_array_equal(loaded.action_representations(), agent.action_representations())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from flatland_env.transitions import TransitionCollector, save_npz

    path = tmp_path_factory.mktemp("data") / "pairs.npz"
    with TransitionCollector("FlatLand-v0", num_envs=2, seed=1, shuffle=True) as c:
        save_npz(path, c.collect(40), c.spec, env_id="FlatLand-v0")
    return str(path)


@pytest.mark.parametrize("source", ["collector", "dataset"])
def test_resume_continues_step_count_optimiser_rng_and_data(source, dataset, tmp_path):
    agent = tiny_agent(data={"dataset": dataset} if source == "dataset" else None)
    agent.learn(4, progress_bar=False)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    resumed = RGrVAE.load(path)
    assert resumed.num_steps == 4
    # identical weights after more updates only if Adam's moments, the RNGs and the pair stream came back
    agent.learn(3, progress_bar=False)
    resumed.learn(3, progress_bar=False)
    assert resumed.num_steps == 7
    for name, w in agent.modules().state_dict().items():
        torch.testing.assert_close(resumed.modules().state_dict()[name], w, rtol=0, atol=0)


def test_checkpoint_callback_saves_every_n(tmp_path):
    path = tmp_path / "ckpt.pt"
    saver = CheckpointCallback(path, every=3)
    agent = tiny_agent()
    agent.learn(7, callback=saver, progress_bar=False)
    assert saver.last_saved == 6
    assert RGrVAE.load(path).num_steps == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp files left behind


def test_wrong_algo_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    tiny_agent().save(path)
    with pytest.raises(CheckpointError, match="rgrvae"):
        AGENTS["forward"].load(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint at all", b"PK\x03\x04" + bytes(range(256)) * 4],
    ids=["empty", "text", "broken-zip"],
)
def test_corrupt_file_gives_checkpoint_error(content, tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        BaseAgent.load(path)


def test_truncated_checkpoint_gives_checkpoint_error(tmp_path):
    path = tmp_path / "ckpt.pt"
    tiny_agent().save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        BaseAgent.load(path)


def test_missing_file_gives_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        BaseAgent.load(tmp_path / "nope.pt")


def _touch(path: str) -> None:
    with open(path, "w") as f:
        f.write("code ran")


class _Exploit:
    """Unpickling this calls _touch: a stand-in for arbitrary code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_foreign_pickle_never_runs_code(writer, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ckpt.pt"
    payload = {"format": FORMAT, "algo": "rgrvae", "evil": _Exploit(str(marker))}
    body = io.BytesIO()
    if writer == "torch":
        torch.save(payload, body)
    else:
        pickle.dump(payload, body)
    # a well-formed header and a matching hash: only weights_only loading stands between the file and the code
    raw = body.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(raw).hexdigest().encode() + b"\n" + raw)
    with pytest.raises(CheckpointError):
        BaseAgent.load(path)
    assert not marker.exists()
    # the payload is live: an unsafe loader would have run it
    torch.load(io.BytesIO(raw), weights_only=False) if writer == "torch" else pickle.loads(raw)
    assert marker.read_text() == "code ran"


def test_plain_data_without_our_format_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of this toolkit"):
        BaseAgent.load(path)


def test_a_checkpoint_trained_from_a_dataset_serves_inference_after_the_file_is_gone(dataset, tmp_path):
    import shutil

    from agents.planning import CannotPlanError
    from flatland_env.pairs import DetachedSource, SourceUnavailableError

    data = tmp_path / "moved.npz"
    shutil.copyfile(dataset, data)
    agent = tiny_agent("rgrvae", data={"dataset": str(data)})
    agent.learn(3, progress_bar=False)
    agent.save(tmp_path / "ckpt.pt")
    probe = Probe.sample(agent, 8)
    data.unlink()
    loaded = BaseAgent.load(tmp_path / "ckpt.pt")
    assert isinstance(loaded.source, DetachedSource) and loaded.spec == agent.spec and loaded.world is not None
    np.testing.assert_array_equal(loaded.encode(probe.obs), agent.encode(probe.obs))
    np.testing.assert_array_equal(loaded.infer_actions(probe.obs, probe.next_obs),
                                  agent.infer_actions(probe.obs, probe.next_obs))
    try:  # the planner links through the world, which the checkpoint names: it plans, or says why it cannot
        plan = loaded.plan(probe.obs[0], probe.next_obs[0])
    except CannotPlanError as e:
        assert "plane" in str(e) or "rotation" in str(e)
    else:
        assert all(0 <= a < 4 for a in plan)
    with pytest.raises(SourceUnavailableError, match="moved.npz"):
        loaded.learn(1, progress_bar=False)
    from agents.training.run import resume_agent

    with pytest.raises(ValueError, match="cannot resume .*moved.npz"):
        resume_agent(tmp_path / "ckpt.pt")
