"""Shared surface of agents whose latent actions are group representations."""

from __future__ import annotations

import numpy as np
import torch

from agents.base import BaseAgent
from vae.groups import GroupRepresentation
from vae.preprocess import obs_to_tensor, tensor_to_frames


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
