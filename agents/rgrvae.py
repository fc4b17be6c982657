"""RGrVAE: latent group actions inferred by a policy, trained by REINFORCE (PAPER.md 4).

The policy looks at a frame pair (x1, x2) and picks a latent action a; rho(a) is applied
to the latent z1 of x1 and the agent is rewarded by how much closer that brings it to
the latent mean mu2 of x2:  r = ||z1 - mu2||^2 - ||rho(a) z1 - mu2||^2.  The learner
never sees the environment's action labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.base import AgentConfig, PairBatch
from agents.latent_actions import LatentActionAgent
from agents.policy import PairPolicy
from vae.preprocess import obs_to_tensor


@dataclass
class RGrVAEConfig(AgentConfig):
    gamma: float = 30.0
    """weight of the latent prediction loss ||rho(a) z1 - mu2||^2 (paper: 10; 30 reaches a linear
    representation in fewer updates, see README)"""
    policy_lr: float = 1e-3
    """learning rate of the policy"""
    angle_lr: float = 1e-3
    """learning rate of the representation angles (the paper's 0.1 collapses them, PAPER.md 5)"""
    entropy_weight: float = 0.01
    """weight of the policy entropy bonus"""
    regret: float = 0.0
    """weight of the regret (best reward over all actions - reward taken) subtracted from the reward"""
    structure: tuple[str, ...] = ("c+", "c-")
    """group structure per latent plane: c+, c-, c, free, id, ref"""
    change_of_basis: bool = False
    """learn a change of basis C: rho' = C^-1 rho C"""
    action_steps: int = 1
    """policy steps N that explain one pair (use with k-step pairs)"""
    discounted: bool = False
    """multi-step: discounted returns instead of per-step rewards"""
    discount: float = 0.99
    """discount of the returns"""

    def validate(self) -> None:
        super().validate()
        for name in ("gamma", "entropy_weight", "regret"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("policy_lr", "angle_lr"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if isinstance(self.action_steps, bool) or not isinstance(self.action_steps, int) or self.action_steps < 1:
            raise ValueError(f"action_steps must be a positive integer, got {self.action_steps!r}")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")


class RGrVAE(LatentActionAgent):
    """Reinforced group VAE: an unsupervised agent that estimates latent group actions."""

    algo = "rgrvae"
    Config = RGrVAEConfig
    config: RGrVAEConfig

    def _build(self) -> None:
        self.config.structure = tuple(self.config.structure)
        self._build_rho(self.config.structure, self.config.change_of_basis)
        self.policy = PairPolicy(self.obs_shape[-1], self.rho.num_actions, self.obs_shape[0])

    def modules(self):
        return nn.ModuleDict({"vae": self.vae, "rho": self.rho, "policy": self.policy})

    def _param_groups(self):
        return [*self._angle_param_groups(), {"params": self.policy.parameters(), "lr": self.config.policy_lr}]

    def _loss(self, batch: PairBatch):
        c = self.config
        fwd = self._pair_forward(batch)
        parts, x2, mu2 = fwd.vae_parts, fwd.x2, fwd.mu2
        b = x2.shape[0]
        z, frame = fwd.z1, fwd.x1
        log_terms, rewards, entropies = [], [], []
        for t in range(c.action_steps):
            if t > 0:
                with torch.no_grad(), self.autocast():
                    frame = torch.sigmoid(self.vae.decode(z.detach()).float())
            with self.autocast():
                probs = self.policy(frame, x2)
            a = torch.multinomial(probs.detach(), 1, generator=self.generator).squeeze(1)
            z_all = self.rho.apply_all(z)  # (B, A, L)
            with torch.no_grad():
                before = (z - mu2).pow(2).sum(-1)
                r_all = before[:, None] - (z_all - mu2[:, None]).pow(2).sum(-1)
                r = r_all.gather(1, a[:, None]).squeeze(1)
                if c.regret > 0:
                    r = r - c.regret * (r_all.max(1).values - r)
            p_a = probs.gather(1, a[:, None]).squeeze(1).clamp(1e-6, 1 - 1e-6)
            log_terms.append(torch.where(r >= 0, torch.log(p_a), torch.log1p(-p_a)))
            rewards.append(r)
            entropies.append(-(probs * probs.clamp_min(1e-12).log()).sum(-1).mean())
            z = z_all[torch.arange(b, device=z.device), a]

        if c.discounted:
            returns, g = [], torch.zeros_like(rewards[0])
            for r in reversed(rewards):
                g = r + c.discount * g
                returns.append(g)
            rewards_used = list(reversed(returns))
        else:
            rewards_used = rewards
        policy_loss = torch.stack([-(r.abs() * lt).mean() for r, lt in zip(rewards_used, log_terms)]).sum()
        entropy = torch.stack(entropies).mean()
        pred = (z - mu2).pow(2).sum(-1).mean()
        loss = parts["loss"] + policy_loss - c.entropy_weight * entropy + c.gamma * pred + self.rho.penalty()
        return loss, {
            "recon": parts["recon"].detach(),
            "kl": parts["kl"].detach(),
            "pred": pred.detach(),
            "policy_loss": policy_loss.detach(),
            "reward": torch.stack(rewards).mean(),
            "entropy": entropy.detach(),
        }

    @torch.no_grad()
    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The policy's argmax latent action for each pair, (N,) int64."""
        if np.shape(obs) != np.shape(next_obs):
            raise ValueError(f"obs and next_obs must have the same shape, got {np.shape(obs)} and {np.shape(next_obs)}")
        self.modules().eval()
        out = []
        for i in range(0, len(obs), batch_size):
            x1 = obs_to_tensor(obs[i : i + batch_size], self.device)
            x2 = obs_to_tensor(next_obs[i : i + batch_size], self.device)
            out.append(self.policy(x1, x2).argmax(-1).cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, np.int64)
