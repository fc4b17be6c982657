"""Checkpoints: round trips give identical outputs, resume continues, bad files never run code."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from agents import AGENTS, BaseAgent, CheckpointError, RGrVAE
from agents.logging import CheckpointCallback, Probe


@pytest.mark.parametrize("model", sorted(AGENTS))
def test_save_load_round_trip_gives_identical_outputs(model, tiny, tmp_path):
    agent = AGENTS[model]("FlatLand-v0", **tiny)
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


def test_resume_continues_step_count_optimiser_and_rng(tiny, tmp_path):
    agent = RGrVAE("FlatLand-v0", **tiny)
    agent.learn(4, progress_bar=False)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    resumed = RGrVAE.load(path)
    assert resumed.num_steps == 4
    # the same batch through both: identical loss and weights only if Adam's moments and the RNG came back
    batch, _ = next(agent._stream)
    assert agent.train_step(batch) == resumed.train_step(batch)
    for name, w in agent.modules().state_dict().items():
        torch.testing.assert_close(resumed.modules().state_dict()[name], w, rtol=0, atol=0)
    resumed.learn(2, progress_bar=False)
    assert resumed.num_steps == 7


def test_checkpoint_callback_saves_every_n(tiny, tmp_path):
    path = tmp_path / "ckpt.pt"
    saver = CheckpointCallback(path, every=3)
    agent = RGrVAE("FlatLand-v0", **tiny)
    agent.learn(7, callback=saver, progress_bar=False)
    assert saver.last_saved == 6
    assert RGrVAE.load(path).num_steps == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp files left behind


def test_wrong_algo_is_refused(tiny, tmp_path):
    path = tmp_path / "ckpt.pt"
    RGrVAE("FlatLand-v0", **tiny).save(path)
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


def test_truncated_checkpoint_gives_checkpoint_error(tiny, tmp_path):
    path = tmp_path / "ckpt.pt"
    RGrVAE("FlatLand-v0", **tiny).save(path)
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
    payload = {"format": "symmetry-agents/1", "algo": "rgrvae", "evil": _Exploit(str(marker))}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError):
        BaseAgent.load(path)
    assert not marker.exists()
    # the payload is live: an unsafe loader would have run it
    torch.load(path, weights_only=False) if writer == "torch" else pickle.loads(path.read_bytes())
    assert marker.read_text() == "code ran"


def test_plain_data_without_our_format_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of this toolkit"):
        BaseAgent.load(path)
