"""ForwardVAE / GrVAE: the supervised reference (docs/method.md).

The true action a selects rho(a); loss = VAE loss + gamma * ||rho(a) z1 - mu2||^2. It is
what the unsupervised RGrVAE is judged against, so it shares RGrVAE's surface. Its
hyperparameters are the paper's (:class:`~agents.latent_actions.LatentActionConfig`'s
defaults): with true actions there is no policy for fast angles to destabilise.

Its ``group`` (shared with RGrVAE) is rho as rotations of latent planes (the paper's; they
commute) or as rotations of a 3-D latent block (vae/so3.py; they need not commute, so the
cube's rotations, RotatingCube-v0, can be represented faithfully: that world suggests it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.latent_actions import LatentActionAgent, LatentActionConfig
from flatland_env.pairs import PairBatch


@dataclass
class ForwardVAEConfig(LatentActionConfig):
    """ForwardVAE: the shared latent-action hyperparameters (its ``group`` says which latent block rho is)."""


class ForwardVAE(LatentActionAgent):
    """True action i uses latent action i; with k-step pairs the k actions are composed."""

    algo = "forward"
    Config = ForwardVAEConfig
    config: ForwardVAEConfig
    uses_labels = True

    def _build(self) -> None:
        self._build_rho(self.config.group)
        if self.rho.num_actions != self.spec.num_actions:
            raise ValueError(
                f"ForwardVAE maps each of the world's {self.spec.num_actions} actions to one latent action, but "
                f"latent_size={self.config.latent_size} with structure {self.config.structure} gives "
                f"{self.rho.num_actions}; choose latent_size = 2 * {self.spec.num_actions} / len(structure)"
                + ("" if self.spec.is_cyclic_product else ", or group=so3 for a group whose actions need not commute")
            )

    def modules(self):
        return nn.ModuleDict({"vae": self.vae, "rho": self.rho})

    def _param_groups(self):
        return self._angle_param_groups()

    def true_action_map(self) -> np.ndarray:
        """True action i -> latent action i."""
        return np.arange(self.spec.num_actions)

    def _loss(self, batch: PairBatch, true_actions: np.ndarray):
        c = self.config
        acts = np.asarray(true_actions).reshape(len(batch.obs), -1)
        fwd = self._pair_forward(batch)
        parts = fwd.vae_parts
        z = fwd.z1
        for t in range(acts.shape[1]):
            z = self.rho(z, torch.as_tensor(acts[:, t], dtype=torch.long, device=self.device))
        pred = (z - fwd.mu2).pow(2).sum(-1).mean()
        loss = parts["loss"] + c.gamma * pred + self.rho.penalty()
        return loss, {"recon": parts["recon"].detach(), "kl": parts["kl"].detach(), "pred": pred.detach()}

    @torch.no_grad()
    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The latent action whose rho best maps mu(obs) to mu(next_obs) (nearest prediction)."""
        z1, z2 = self.encode(obs), self.encode(next_obs)
        preds = np.einsum("aij,bj->bai", self.action_representations(), z1)
        return ((preds - z2[:, None]) ** 2).sum(-1).argmin(1)
