"""ForwardVAE / GrVAE: the supervised reference (PAPER.md 4).

The true action a selects rho(a); loss = VAE loss + gamma * ||rho(a) z1 - mu2||^2. It is
what the unsupervised RGrVAE is judged against, so it shares RGrVAE's surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.base import AgentConfig, PairBatch
from agents.latent_actions import LatentActionAgent


@dataclass
class ForwardVAEConfig(AgentConfig):
    gamma: float = 10.0
    """weight of the latent prediction loss ||rho(a) z1 - mu2||^2"""
    angle_lr: float = 0.1
    """learning rate of the representation angles (the paper's 0.1: with true actions there is no
    policy for fast angles to destabilise)"""
    structure: tuple[str, ...] = ("c+", "c-")
    """group structure per latent plane; (latent_size/2) * len(structure) must equal the world's actions"""
    change_of_basis: bool = False
    """learn a change of basis C: rho' = C^-1 rho C"""

    def validate(self) -> None:
        super().validate()
        if not np.isfinite(self.gamma) or self.gamma < 0:
            raise ValueError(f"gamma must be a finite number >= 0, got {self.gamma!r}")
        if not np.isfinite(self.angle_lr) or self.angle_lr <= 0:
            raise ValueError(f"angle_lr must be a finite number > 0, got {self.angle_lr!r}")


class ForwardVAE(LatentActionAgent):
    """True action i uses latent action i; with k-step pairs the k actions are composed."""

    algo = "forward"
    Config = ForwardVAEConfig
    config: ForwardVAEConfig
    uses_labels = True

    def _build(self) -> None:
        self.config.structure = tuple(self.config.structure)
        self._build_rho(self.config.structure, self.config.change_of_basis)
        if self.rho.num_actions != self.spec.num_actions:
            raise ValueError(
                f"ForwardVAE maps each of the world's {self.spec.num_actions} actions to one latent action, but "
                f"latent_size={self.config.latent_size} with structure {self.config.structure} gives "
                f"{self.rho.num_actions}; choose latent_size = 2 * {self.spec.num_actions} / len(structure)"
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
