"""RGrVAE: latent group actions inferred by a policy, trained by REINFORCE (docs/method.md).

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

from agents.base import check_lr, check_number, check_positive_int
from agents.latent_actions import LatentActionAgent, LatentActionConfig
from agents.policy import PairPolicy
from flatland_env.pairs import PairBatch
from vae.preprocess import obs_to_tensor


@dataclass
class RGrVAEConfig(LatentActionConfig):
    """RGrVAE: a policy picks the latent action explaining each pair, trained by REINFORCE (docs/method.md)."""

    gamma: float = 30.0
    """weight of the latent prediction loss ||rho(a) z1 - mu2||^2 (the paper's 10; 30 reaches a linear
    representation in fewer updates, docs/method.md)"""
    angle_lr: float = 1e-3
    """learning rate of the representation angles (the paper's 0.1 collapses the angles to 0 before the
    policy can tell actions apart, docs/method.md)"""
    batch_size: int = 32
    """pairs per update (32 learns FlatLand from fewer pairs than the paper's 128, docs/method.md)"""
    stop_error: float = 0.015
    """stop early once the agent's own, label-free equivariance error is at most this and has stopped falling
    (0: never; --total-steps is then the only stop; docs/method.md, "Stopping")"""
    policy_lr: float = 1e-3
    """learning rate of the policy"""
    entropy_weight: float = 0.01
    """weight of the policy entropy bonus"""
    regret: float = 0.0
    """weight of the regret (best reward over all actions - reward taken) subtracted from the reward"""
    action_steps: int = 1
    """policy steps N that explain one pair (use N = k with k-step pairs)"""
    discounted: bool = False
    """multi-step: discounted returns instead of per-step rewards"""
    discount: float = 0.99
    """discount of the returns"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("entropy_weight", self.entropy_weight)
        check_number("regret", self.regret)
        check_lr("policy_lr", self.policy_lr)
        check_positive_int("action_steps", self.action_steps)
        check_number("discount", self.discount, 0.0, 1.0, low_open=True)


class RGrVAE(LatentActionAgent):
    """Reinforced group VAE: an unsupervised agent that estimates latent group actions."""

    algo = "rgrvae"
    Config = RGrVAEConfig
    config: RGrVAEConfig

    def _build(self) -> None:
        self._build_rho()
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
            if t > 0:  # the next input frame is the decoded prediction; the target stays x2
                with torch.no_grad(), self.autocast():
                    frame = torch.sigmoid(self.vae.decode(z.detach()).float())
            with self.autocast():
                probs = self.policy(frame, x2)
            a = torch.multinomial(probs.detach(), 1, generator=self.generator).squeeze(1)
            z_all = self.rho.apply_all(z)  # (B, A, L)
            r_all = latent_rewards(z, mu2, z_all)
            r = r_all.gather(1, a[:, None]).squeeze(1)
            if c.regret > 0:
                r = subtract_regret(r, r_all, c.regret)
            log_terms.append(policy_log_terms(probs, a, r))
            rewards.append(r)
            entropies.append(policy_entropy(probs))
            z = z_all[torch.arange(b, device=z.device), a]
        used = discounted_returns(rewards, c.discount) if c.discounted else rewards
        policy_loss = reinforce_loss(used, log_terms)
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
    def self_predicted_latents(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512):
        """rho(a^_N) ... rho(a^_1) mu(obs) with the policy's argmax actions, as in training; and mu(next_obs).

        Label-free: the latent actions are the policy's own (the stopping rule's measurement).
        """
        self.modules().eval()
        predicted, targets = [], []
        for i in range(0, len(obs), batch_size):
            x1 = obs_to_tensor(obs[i : i + batch_size], self.device)
            x2 = obs_to_tensor(next_obs[i : i + batch_size], self.device)
            z = self.vae.encode(x1)[0].float()
            frame = x1
            for t in range(self.config.action_steps):
                if t > 0:
                    frame = torch.sigmoid(self.vae.decode(z).float())
                z = self.rho(z, self.policy(frame, x2).argmax(-1))
            predicted.append(z.cpu())
            targets.append(self.vae.encode(x2)[0].float().cpu())
        return torch.cat(predicted).numpy(), torch.cat(targets).numpy()

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


# -- the REINFORCE estimator, as pure functions (docs/method.md, "RGrVAE") ---------------------------
@torch.no_grad()
def latent_rewards(z: torch.Tensor, mu2: torch.Tensor, z_all: torch.Tensor) -> torch.Tensor:
    """r[b, a] = ||z_b - mu2_b||^2 - ||rho(a) z_b - mu2_b||^2 for every latent action, (B, A), without gradient.

    How much closer latent action a brings z to the next frame's mean: positive when it helps.
    """
    before = (z - mu2).pow(2).sum(-1)
    return before[:, None] - (z_all - mu2[:, None]).pow(2).sum(-1)


@torch.no_grad()
def subtract_regret(r: torch.Tensor, r_all: torch.Tensor, weight: float) -> torch.Tensor:
    """r - weight * (best reward over all latent actions - r): penalises choosing a worse action than the best."""
    return r - weight * (r_all.max(1).values - r)


def policy_log_terms(probs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """log p(a) where r >= 0, log(1 - p(a)) where r < 0, with p(a) clamped to [1e-6, 1 - 1e-6], (B,).

    The log(1 - p) form for negative rewards saturates once an action is unlikely, so large
    negative rewards cannot drive the policy into a corner (docs/method.md).
    """
    p_a = probs.gather(1, actions[:, None]).squeeze(1).clamp(1e-6, 1 - 1e-6)
    return torch.where(rewards >= 0, torch.log(p_a), torch.log1p(-p_a))


def reinforce_loss(rewards: list[torch.Tensor], log_terms: list[torch.Tensor]) -> torch.Tensor:
    """Sum over policy steps of the batch mean of -|r| * log term.

    Minimising it raises p(a) where r > 0 and lowers it where r < 0.
    """
    return torch.stack([-(r.abs() * lt).mean() for r, lt in zip(rewards, log_terms)]).sum()


def discounted_returns(rewards: list[torch.Tensor], discount: float) -> list[torch.Tensor]:
    """G_t = r_t + discount * G_{t+1}, per step of a multi-step policy."""
    returns, g = [], torch.zeros_like(rewards[0])
    for r in reversed(rewards):
        g = r + discount * g
        returns.append(g)
    return list(reversed(returns))


def policy_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Batch-mean entropy of the policy's distributions."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
