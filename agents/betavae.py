"""A plain beta-VAE as an agent: the baseline that sees frames and no actions at all."""

from __future__ import annotations

from agents.base import AgentConfig, BaseAgent
from flatland_env.pairs import PairBatch
from vae.model import vae_loss
from vae.preprocess import obs_to_tensor


class BetaVAE(BaseAgent):
    """Trains the backbone on the first frame of each pair; no latent actions."""

    algo = "vae"
    Config = AgentConfig
    #: it never reads actions, so a continuous world is as good as a finite one (its code is scored by the
    #: closed-form plane angles, vae/metrics/continuous_actions.py)
    learns_continuous = True

    def _loss(self, batch: PairBatch):
        c = self.config
        x = obs_to_tensor(batch.obs, self.device)
        with self.autocast():
            out = self.vae(x, self.generator)
        parts = vae_loss(out, x, c.beta, c.capacity, c.capacity_leadin, self.num_steps, c.recon_loss)
        return parts["loss"], {"recon": parts["recon"].detach(), "kl": parts["kl"].detach()}
