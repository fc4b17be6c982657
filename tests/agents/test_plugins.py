"""One home per concept: a new agent or hyperparameter needs one class, and the CLI and checkpoints follow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from agent_helpers import TINY, TINY_DATA

from agents import AGENTS, BaseAgent, agent_class
from agents.base import AgentConfig
from agents.training.cli import parse_train_args, train_command
from flatland_env.pairs import PairBatch, PairSourceConfig
from vae.model import vae_loss
from vae.preprocess import obs_to_tensor


@dataclass
class ShrinkConfig(AgentConfig):
    """A config with one new hyperparameter."""

    shrink: float = 0.5
    """a made-up weight on the latent norm"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.shrink <= 1:
            raise ValueError(f"shrink must be in [0, 1], got {self.shrink}")


@pytest.fixture
def shrink_vae():
    """A made-up agent defined while a test runs (so other modules' parametrisations never see it)."""

    class ShrinkVAE(BaseAgent):
        """A beta-VAE with an extra latent-norm penalty."""

        algo = "test_shrink"
        Config = ShrinkConfig

        def _loss(self, batch: PairBatch):
            x = obs_to_tensor(batch.obs, self.device)
            out = self.vae(x, self.generator)
            parts = vae_loss(out, x, self.config.beta)
            penalty = self.config.shrink * out.mu.pow(2).sum(1).mean()
            return parts["loss"] + penalty, {"recon": parts["recon"].detach()}

    yield ShrinkVAE
    AGENTS.pop("test_shrink", None)


def test_defining_an_agent_class_registers_it(shrink_vae):
    assert agent_class("test_shrink") is shrink_vae


def test_a_registered_agent_is_a_train_subcommand_with_its_configs_flags(shrink_vae):
    model, cmd, named = parse_train_args(["test_shrink", "--shrink", "0.25", "--k", "2", "--total-steps", "5"])
    assert (model, named) == ("test_shrink", True)
    assert cmd.agent == ShrinkConfig(shrink=0.25) and cmd.data.k == 2 and cmd.run.total_steps == 5
    assert train_command("test_shrink")().agent == ShrinkConfig()


def test_a_new_hyperparameter_validates_and_round_trips_through_a_checkpoint(shrink_vae, tmp_path):
    with pytest.raises(ValueError, match="shrink"):
        ShrinkConfig(shrink=2.0)
    agent = shrink_vae(PairSourceConfig(**TINY_DATA), **TINY, shrink=0.1)
    agent.learn(2, progress_bar=False)
    agent.save(tmp_path / "c.pt")
    loaded = BaseAgent.load(tmp_path / "c.pt")
    assert type(loaded) is shrink_vae and loaded.config.shrink == 0.1
    obs = agent.world.render_states(np.array([[3, 4], [5, 6]]))
    torch.testing.assert_close(torch.as_tensor(loaded.encode(obs)), torch.as_tensor(agent.encode(obs)))


def test_importing_the_agents_loads_no_optional_heavy_library():
    import subprocess
    import sys

    code = ("import sys, agents; print(sorted(agents.AGENTS)); "
            "print([m for m in ('stable_baselines3', 'pygame', 'matplotlib', 'ray') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['forward', 'rgrvae', 'vae']" and out[1] == "[]"
