"""Shared surface of agents whose latent actions are group representations."""

from __future__ import annotations

import numpy as np
import torch

from dataclasses import dataclass

from agents.base import BaseAgent, PairBatch
from vae.groups import GroupRepresentation
from vae.model import VAEOutput, vae_loss
from vae.preprocess import obs_to_tensor, tensor_to_frames


@dataclass
class PairForward:
    """The VAE half of a pair update: both frames encoded, the first reconstructed."""

    x1: torch.Tensor
    x2: torch.Tensor
    z1: torch.Tensor  # reparameterised sample of x1's posterior
    mu2: torch.Tensor  # mean of x2's posterior: the target of every prediction (not detached)
    vae_parts: dict[str, torch.Tensor]  # loss, recon, kl of x1


class LatentActionAgent(BaseAgent):
    """Adds rho, the learnable group representation, and what can be read off it."""

    rho: GroupRepresentation

    def _build_rho(self, structure: tuple[str, ...], change_of_basis: bool) -> None:
        self.rho = GroupRepresentation(
            self.config.latent_size,
            structure,
            change_of_basis=change_of_basis,
            generator=torch.Generator().manual_seed(self.config.seed),
        )

    def _angle_param_groups(self) -> list[dict]:
        """The VAE (and rho's other parameters) at lr; the angles at their own angle_lr."""
        rest = [p for n, p in self.rho.named_parameters() if n != "angles"]
        return [
            {"params": list(self.vae.parameters()) + rest, "lr": self.config.lr},
            {"params": [self.rho.angles], "lr": self.config.angle_lr},
        ]

    def _pair_forward(self, batch: PairBatch) -> PairForward:
        """Encode x1 and x2 in one pass, sample z1, and compute the VAE loss of x1."""
        c = self.config
        x1 = obs_to_tensor(batch.obs, self.device)
        x2 = obs_to_tensor(batch.next_obs, self.device)
        b = x1.shape[0]
        with self.autocast():
            mu, logvar = self.vae.encode(torch.cat([x1, x2]))
        mu, logvar = mu.float(), logvar.float()
        mu1, lv1 = mu[:b], logvar[:b]
        z1 = self.vae.sample(mu1, lv1, self.generator)
        with self.autocast():
            logits = self.vae.decode(z1)
        parts = vae_loss(VAEOutput(logits, mu1, lv1, z1), x1, c.beta, c.capacity, c.capacity_leadin, self.num_steps)
        return PairForward(x1, x2, z1, mu[b:], parts)

    def progress_stats(self, stats: dict[str, float]) -> dict[str, str]:
        shown = super().progress_stats(stats)
        shown["angles"] = " ".join(f"{a:+.3f}" for a in self.rho.angles.detach().cpu().tolist())
        return shown

    @property
    def num_latent_actions(self) -> int:
        return self.rho.num_actions

    def action_representations(self) -> np.ndarray:
        """rho(a) for every latent action, (A, L, L) float32."""
        with torch.no_grad():
            return self.rho.matrices().float().cpu().numpy()

    def angle_table(self) -> list[dict]:
        """Per latent action: plane, symbol, angle and the group order it realises."""
        return self.rho.angle_table()

    def _check_latent_actions(self, actions, n: int) -> torch.Tensor:
        a = np.asarray(actions)
        if a.ndim == 0:
            a = np.full(n, int(a))
        if a.dtype.kind not in "iu" or a.shape != (n,) or a.min(initial=0) < 0 or a.max(initial=0) >= self.num_latent_actions:
            raise ValueError(
                f"latent actions must be {n} integers in [0, {self.num_latent_actions}), got {actions!r}"
            )
        return torch.as_tensor(a, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def predict_next(self, obs: np.ndarray, latent_action: np.ndarray | int) -> np.ndarray:
        """Decode rho(a) mu(obs): the frame the model expects after latent action a."""
        self.modules().eval()
        x = obs_to_tensor(obs, self.device)
        a = self._check_latent_actions(latent_action, x.shape[0])
        mu, _ = self.vae.encode(x)
        return tensor_to_frames(torch.sigmoid(self.vae.decode(self.rho(mu.float(), a)).float()))
