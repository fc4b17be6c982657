"""ForwardVAE / GrVAE: the supervised reference (docs/method.md).

The true action a selects rho(a); loss = VAE loss + gamma * ||rho(a) z1 - mu2||^2. It is
what the unsupervised RGrVAE is judged against, so it shares RGrVAE's surface. Its
hyperparameters are the paper's (:class:`~agents.latent_actions.LatentActionConfig`'s
defaults): with true actions there is no policy for fast angles to destabilise.

Its ``group`` (shared with RGrVAE) is rho as rotations of latent planes (the paper's; they
commute) or as rotations of a 3-D latent block (vae/so3.py; they need not commute, so the
cube's rotations, RotatingCube-v0, can be represented faithfully: that world suggests it).

On a world whose group is a continuous torus (FlatLandContinuous-v0), whose actions are
displacement vectors, rho(a) turns each latent plane by an angle linear in the action vector,
(W a)_p with W learned (vae/continuous_planes.py); a k-step pair is explained by the sum of
its k action vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.latent_actions import LatentActionAgent, LatentActionConfig
from flatland_env.pairs import PairBatch
from flatland_env.validation import check_int
from vae.continuous_planes import LinearPlaneRepresentation


@dataclass
class ForwardVAEConfig(LatentActionConfig):
    """ForwardVAE: the shared latent-action hyperparameters (its ``group`` says which latent block rho is)."""

    refit_every: int = 0
    """on a continuous world: every this many updates up to refit_until, set each row of W to its least-squares
    best on a grid, over a labelled batch of the agent's own, where gradient descent may have stopped in a local
    minimum of the periodic loss (0: gradient descent only; docs/method.md, "Continuous latent actions")"""
    refit_until: int = 2000
    """the last update at which refit_every refits W"""
    refit_angles_at: int = 0
    """on a world of cyclic actions (1-step pairs, rotations of latent planes, no change of basis): at this update
    (the last one, say), set each rho angle to its exact least-squares best given the code, over a labelled batch
    of the agent's own, where Adam's decayed steps may have left it short (0: never; docs/method.md, "Sprites")"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("refit_every", self.refit_every, 0)
        check_int("refit_until", self.refit_until, 0)
        check_int("refit_angles_at", self.refit_angles_at, 0)


class ForwardVAE(LatentActionAgent):
    """True action i uses latent action i; with k-step pairs the k actions are composed."""

    algo = "forward"
    Config = ForwardVAEConfig
    config: ForwardVAEConfig
    uses_labels = True
    learns_continuous = True

    def _check_world(self) -> None:
        """On a continuous torus: only the plane representation, and none of the options that need a finite list
        of latent actions (the label-free stopping rule and error-triggered decay infer one per pair)."""
        c = self.config
        k = getattr(getattr(self.source, "config", None), "k", 1)
        if c.refit_angles_at and not (self.spec.is_discrete and c.group == "planes" and not c.change_of_basis
                                      and k == 1):
            raise ValueError(f"refit_angles_at fits each latent action's rotation of its own plane to 1-step pairs of "
                             f"a discrete world of cyclic actions: it needs such a world, --group planes, no "
                             f"--change-of-basis and k = 1, "
                             f"got group {c.group!r}, change_of_basis {c.change_of_basis}, k {k} on "
                             f"{self.source.env_id!r}")
        if self.spec.is_discrete:
            if self.config.refit_every:
                raise ValueError(f"refit_every fits rows of W, which only a continuous world's representation has; on "
                                 f"{self.source.env_id!r} leave it at 0")
            return
        defaults = self.Config()
        wrong = {name: getattr(c, name) for name in ("group", "structure", "tie_angles", "change_of_basis",
                                                     "angle_init", "stop_error", "lr_decay_error")
                 if getattr(c, name) != getattr(defaults, name)}
        if wrong:
            raise ValueError(f"on {self.source.env_id!r} (a continuous group, {self.spec.group_name}) ForwardVAE turns "
                             f"each latent plane by an angle linear in the action vector, so these options do not "
                             f"apply: {wrong}; leave them at their defaults")
        if c.latent_size < 2 * self.spec.action_dim:
            raise ValueError(f"on {self.source.env_id!r} each of the {self.spec.action_dim} factors needs a latent "
                             f"plane: latent_size must be >= {2 * self.spec.action_dim}, got {c.latent_size}")

    def _build(self) -> None:
        if self.continuous:
            self.rho = LinearPlaneRepresentation(self.config.latent_size, self.spec.action_dim,
                                                 generator=torch.Generator().manual_seed(self._init_seed))
            return
        self._build_rho(self.config.group)
        if self.rho.num_actions != self.spec.num_actions:
            raise ValueError(
                f"ForwardVAE maps each of the world's {self.spec.num_actions} actions to one latent action, but "
                f"latent_size={self.config.latent_size} with structure {self.config.structure} gives "
                f"{self.rho.num_actions}; choose latent_size = 2 * {self.spec.num_actions} / len(structure)"
                + ("" if self.spec.is_cyclic_product else ", or group=so3 for a group whose actions need not commute")
            )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: rows of W that refit_every replaced: update, plane, old and new row
        self.refits: list[dict] = getattr(self, "refits", [])
        self.angles_refit_update: int | None = getattr(self, "angles_refit_update", None)

    def _extra_state(self) -> dict:
        return {**super()._extra_state(), "refits": self.refits, "angles_refit_update": self.angles_refit_update}

    def _load_extra_state(self, state: dict) -> None:
        super()._load_extra_state(state)
        self.refits = list(state.get("refits", []))
        self.angles_refit_update = state.get("angles_refit_update")

    def modules(self):
        return nn.ModuleDict({"vae": self.vae, "rho": self.rho})

    def stop_check(self) -> str | None:
        c = self.config
        due = c.refit_every and self.num_steps % c.refit_every == 0 and self.num_steps <= c.refit_until
        if self.continuous and due:
            self.refit_rows()
        if self._angle_refit_due():
            self.refit_angles()
        return super().stop_check()

    def finish_training(self) -> None:
        """The angle refit, where training ended without an update at or after ``refit_angles_at`` running it (a
        run resumed from a checkpoint saved at that update)."""
        if self._angle_refit_due():
            self.refit_angles()

    def _angle_refit_due(self) -> bool:
        at = self.config.refit_angles_at
        return bool(at) and self.angles_refit_update is None and self.num_steps >= at

    @torch.no_grad()
    def refit_angles(self) -> list[dict]:
        """Set rho's angles to their least-squares best on the agent's own labelled batch (``refit_angles_at``);
        the changes are kept in ``refits``."""
        pairs, truth = self.own_pairs(32_452_843)  # supervised: this agent may read the labels
        z1, z2 = (torch.as_tensor(self.encode(o), device=self.device) for o in (pairs.obs, pairs.next_obs))
        actions = np.asarray(truth.actions).reshape(len(pairs.obs))  # 1-step pairs: one action each
        changed = self.rho.refit_angles(z1, z2, torch.as_tensor(actions, device=self.device))
        self.refits.extend({"update": self.num_steps, **row} for row in changed)
        self.angles_refit_update = self.num_steps
        return changed

    @torch.no_grad()
    def refit_rows(self) -> list[dict]:
        """Refit W's rows on the agent's own labelled batch (``refit_every``); the changes are kept in ``refits``."""
        if getattr(self, "_refit_pairs", None) is None:  # supervised: this agent may read the labels
            self._refit_pairs = self.own_pairs(15_485_863)
        pairs, truth = self._refit_pairs
        total = np.asarray(truth.actions, dtype=np.float32).reshape(len(pairs.obs), -1, self.spec.action_dim).sum(1)
        z1, z2 = (torch.as_tensor(self.encode(o), device=self.device) for o in (pairs.obs, pairs.next_obs))
        changed = self.rho.refit_rows(z1, z2, torch.as_tensor(total, device=self.device))
        self.refits.extend({"update": self.num_steps, **row} for row in changed)
        return changed

    def _param_groups(self):
        return self._angle_param_groups()

    def true_action_map(self) -> np.ndarray:
        """True action i -> latent action i."""
        return np.arange(self.spec.num_actions)

    def _loss(self, batch: PairBatch, true_actions: np.ndarray):
        c = self.config
        fwd = self._pair_forward(batch)
        parts = fwd.vae_parts
        z = fwd.z1
        if self.continuous:  # (B, k, D) action vectors: the pair's displacement is their sum
            total = np.asarray(true_actions, dtype=np.float32).reshape(len(batch.obs), -1, self.spec.action_dim)
            z = self.rho(z, torch.as_tensor(total.sum(1), device=self.device))
        else:
            acts = np.asarray(true_actions).reshape(len(batch.obs), -1)
            for t in range(acts.shape[1]):
                z = self.rho(z, torch.as_tensor(acts[:, t], dtype=torch.long, device=self.device))
        pred = (z - fwd.mu2).pow(2).sum(-1).mean()
        loss = parts["loss"] + c.gamma * pred + self.rho.penalty()
        extra: dict[str, torch.Tensor] = {}
        loss = self._add_predicted_frames(loss, z, fwd.x2, extra, fwd.x1)
        loss = self._add_code_penalties(loss, fwd.mu1, fwd.mu2, extra)
        return loss, {**extra, "recon": parts["recon"].detach(), "kl": parts["kl"].detach(), "pred": pred.detach()}

    @torch.no_grad()
    def predict_latents(self, latents: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """rho(a) z for codes (N, L) and action vectors (N, D) of a continuous world (what its metrics score)."""
        if not self.continuous:
            raise ValueError("predict_latents takes action vectors, which only a continuous world has; on "
                             f"{self.source.env_id!r} use action_representations()[action]")
        z = torch.as_tensor(np.asarray(latents), dtype=torch.float32, device=self.device)
        a = torch.as_tensor(np.asarray(actions), dtype=torch.float32, device=self.device)
        return self.rho(z, a).cpu().numpy()

    @property
    def num_latent_actions(self) -> int:
        if self.continuous:
            raise ValueError("a continuous world has no finite list of latent actions: rho(a) turns each plane by "
                             "(W a)_p for any action vector a")
        return super().num_latent_actions

    def action_representations(self) -> np.ndarray:
        if self.continuous:
            raise ValueError("a continuous world has no finite list of latent actions: rho(a) depends on the action "
                             "vector (predict_latents, or rho.matrices(actions))")
        return super().action_representations()

    @torch.no_grad()
    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The latent action whose rho best maps mu(obs) to mu(next_obs) (nearest prediction)."""
        if self.continuous:
            raise ValueError("a continuous world's actions are vectors, not classes; its metrics read each plane's "
                             "turn (vae/metrics/continuous_actions.py)")
        z1, z2 = self.encode(obs), self.encode(next_obs)
        preds = np.einsum("aij,bj->bai", self.action_representations(), z1)
        return ((preds - z2[:, None]) ** 2).sum(-1).argmin(1)
