"""RGrVAE: latent group actions inferred by a policy, trained by REINFORCE (docs/method.md).

The policy looks at a frame pair (x1, x2) and picks a latent action a; rho(a) is applied
to the latent z1 of x1 and the agent is rewarded by how much closer that brings it to
the latent mean mu2 of x2:  r = ||z1 - mu2||^2 - ||rho(a) z1 - mu2||^2.  The learner
never sees the environment's action labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from agents.base import AgentConfig, check_lr
from agents.diagnostics import MAX_PLANE_NORM_CHANGE, diagnose
from agents.latent_actions import LatentActionAgent, LatentActionConfig
from agents.policy import PairPolicy
from flatland_env.pairs import PairBatch
from flatland_env.validation import check_choice, check_nonnegative_int, check_number, check_positive_int
from vae.alignment import best_plane_rotation, nearest_pairing, plane_alignment_score, rotate_latent_space
from vae.continuous_planes import ClosedFormPlaneActions
from vae.preprocess import obs_to_tensor
from vae.turn_independence import turn_independence_penalty


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
    tie_angles: bool = True
    """each plane's c- is the inverse of its c+ (one learned angle per plane; needs c+ and c- in the structure)"""
    angle_init: float = 0.5
    """start every rotation at this |angle| in rad (0: the paper's random U(0, 1) starts, unequal across planes)"""
    logvar_bounds: tuple[float, float] | None = (-12.0, 2.0)
    """soft bounds (low, high) on the encoder's log-variance (None: unbounded, as in the paper)"""
    grad_clip: float = 10.0
    """clip the global norm of all gradients at this multiple of its median over the last 100 updates, so one
    wild batch cannot throw the weights or Adam's moments far (0: no clipping)"""

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
    policy_update: Literal["reinforce", "expected"] = "expected"
    """reinforce: the paper's estimator on one sampled latent action per pair; expected: its exact expectation
    over the policy, from the rewards of every latent action (already computed for each pair)"""
    latent_path: Literal["sampled", "argmax", "best"] = "sampled"
    """which latent action moves the code at each policy step (the prediction the VAE is trained on): one
    sampled from the policy (the paper), the policy's most likely one, or the one with the highest reward"""
    path_consistency: float = 0.0
    """with N > 1 policy steps: weight of ||mu(decode(z_t)) - z_t||^2 at each intermediate code z_t of the latent
    path, so that every code the path passes is the code of some frame (0: off; docs/method.md, "k-step pairs")"""
    policy_init: Literal["default", "orthogonal"] = "orthogonal"
    """initialisation of the policy's convolutions: PyTorch's default, or orthogonal as in the original code"""
    realign: bool = True
    """turn the code onto rho's planes when the agent's own pairs show that another orientation of latent space
    keeps their moves in fewer planes (label-free; docs/method.md, "Realignment")"""
    realign_every: int = 250
    """updates between two realignment checks"""
    realign_until: int = 2000
    """last update at which the code may be realigned"""
    realign_margin: float = 0.03
    """gain in the plane-alignment score (in [1/P, 1]) that a realignment must bring"""
    restart_after: int = 1000
    """updates after which the agent judges its start, label-free: if rho's rotations still cannot explain its
    code (plane-norm change above restart_norm_change), it starts again from fresh weights on the same pair
    stream, the updates spent counted (0: never; docs/method.md, "Restarts")"""
    restart_norm_change: float = MAX_PLANE_NORM_CHANGE
    """plane-norm change of the agent's own pairs above which a start counts as failed"""
    max_restarts: int = 2
    """restarts at most"""
    turn_independence: float = 0.0
    """on a continuous torus: weight of the turn-independence penalty, the squared correlations of each plane's
    closed-form turn with where the pair starts and with the other planes' turns (vae/turn_independence.py;
    0: off; docs/method.md, "Continuous latent actions")"""
    turn_harmonics: int = 2
    """harmonics of each starting angle that the turn-independence penalty correlates the turns with"""

    #: the plane options and RGrVAE's plane-reading rescues (realignment, restarts), each with its off value
    PLANE_OPTIONS: ClassVar[dict[str, Any]] = {**LatentActionConfig.PLANE_OPTIONS, "realign": False,
                                               "restart_after": 0}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("entropy_weight", self.entropy_weight)
        check_number("regret", self.regret)
        check_number("path_consistency", self.path_consistency)
        check_lr("policy_lr", self.policy_lr)
        check_positive_int("action_steps", self.action_steps)
        check_number("discount", self.discount, 0.0, 1.0, low_open=True)
        check_positive_int("realign_every", self.realign_every)
        check_nonnegative_int("realign_until", self.realign_until)
        check_number("realign_margin", self.realign_margin, 0.0, 1.0)
        check_nonnegative_int("restart_after", self.restart_after)
        check_number("restart_norm_change", self.restart_norm_change)
        check_nonnegative_int("max_restarts", self.max_restarts)
        check_number("turn_independence", self.turn_independence)
        check_positive_int("turn_harmonics", self.turn_harmonics)
        if self.turn_harmonics != 2 and self.turn_independence <= 0:
            raise ValueError(f"turn_harmonics={self.turn_harmonics} sets the turn-independence penalty, which is off "
                             f"(turn_independence=0); turn it on with turn_independence > 0")
        check_choice("policy_update", self.policy_update, ("reinforce", "expected"))
        check_choice("policy_init", self.policy_init, ("default", "orthogonal"))
        check_choice("latent_path", self.latent_path, ("sampled", "argmax", "best"))
        if self.latent_path != "sampled" and self.policy_update == "reinforce":
            raise ValueError("latent_path argmax or best needs policy_update=expected (reinforce learns from the "
                             "sampled action)")
        if self.path_consistency > 0 and self.action_steps == 1:
            raise ValueError("path_consistency weighs the intermediate codes of a latent path of N > 1 steps; with "
                             "action_steps=1 there are none: set action_steps (N = k for k-step pairs) or leave it 0")
        if self.discounted and self.policy_update != "reinforce":
            raise ValueError("discounted returns need policy_update=reinforce (expected uses each step's rewards)")


class RGrVAE(LatentActionAgent):
    """Reinforced group VAE: an unsupervised agent that estimates latent group actions.

    On a continuous torus (FlatLandContinuous-v0) a latent action is a turn of each plane by any angle, and the
    one with the highest latent reward is known in closed form (:class:`~vae.continuous_planes.ClosedFormPlaneActions`):
    the agent infers it per pair instead of sampling from a policy over a finite list (docs/method.md,
    "Continuous latent actions"). No action vector reaches it.
    """

    algo = "rgrvae"
    Config = RGrVAEConfig
    config: RGrVAEConfig
    learns_continuous = True

    #: on a continuous torus, options that act on a finite list of latent actions, with the value that turns each
    #: off (FlatLandContinuous-v0 suggests these to scripts/train_agent.py)
    CONTINUOUS_OFF: ClassVar[dict[str, Any]] = {"group": "planes", "change_of_basis": False, "stop_error": 0.0,
                                                "lr_decay_error": 0.0, "realign": False, "restart_after": 0,
                                                "action_steps": 1, "path_consistency": 0.0}
    #: ... and options with nothing to act on there (the policy's and the learned angles'): refused unless default
    CONTINUOUS_UNUSED: ClassVar[tuple[str, ...]] = (
        "structure", "tie_angles", "angle_init", "angle_lr", "policy_lr", "entropy_weight", "regret",
        "policy_update", "latent_path", "policy_init", "discounted", "discount")

    def _check_world(self) -> None:
        if self.spec.is_discrete:
            if self.config.turn_independence > 0:
                raise ValueError(f"turn_independence reads the closed-form turns of a continuous torus; on "
                                 f"{self.source.env_id!r} (a finite group) leave it at 0")
            return
        c, default, env = self.config, self.Config(), self.source.env_id
        wrong = {k: getattr(c, k) for k, off in self.CONTINUOUS_OFF.items() if getattr(c, k) != off}
        if wrong:
            raise ValueError(f"on {env!r} (a continuous group, {self.spec.group_name}) RGrVAE infers each pair's "
                             f"plane angles in closed form, so options that act on a finite list of latent actions "
                             f"must be off: got {wrong}; set {({k: self.CONTINUOUS_OFF[k] for k in wrong})} "
                             f"(scripts/train_agent.py applies what the world suggests)")
        unused = {k: getattr(c, k) for k in self.CONTINUOUS_UNUSED if getattr(c, k) != getattr(default, k)}
        if unused:
            raise ValueError(f"on {env!r} RGrVAE has no policy network or learned angles, so these options have "
                             f"nothing to act on: {unused}; leave them at their defaults")
        if c.latent_size < 2 * self.spec.action_dim:
            raise ValueError(f"on {env!r} each of the {self.spec.action_dim} factors needs a latent plane: "
                             f"latent_size must be >= {2 * self.spec.action_dim}, got {c.latent_size}")

    @classmethod
    def _make_config(cls, config: AgentConfig | None, hparams: dict[str, Any]) -> AgentConfig:
        """With ``group="so3"`` given as a keyword, the plane options not also given are turned off (a 3-D block has
        no planes to tie, realign or judge a restart by); set explicitly, they are refused by name."""
        if config is None and hparams.get("group") == "so3":
            hparams = {**{k: v for k, v in cls.Config.PLANE_OPTIONS.items() if k not in hparams}, **hparams}
        return super()._make_config(config, hparams)

    def _build(self) -> None:
        #: (update, score before, score after, pairing) of every realignment of the code onto rho's planes
        self.realignments: list[dict[str, Any]] = getattr(self, "realignments", [])
        #: every restart: the update and the diagnostics that called for it
        self.restarts: list[dict[str, Any]] = getattr(self, "restarts", [])
        #: the update at which the current attempt began (0, or the last restart)
        self.attempt_start: int = getattr(self, "attempt_start", 0)
        if self.continuous:
            self.rho = ClosedFormPlaneActions()
            return
        self._build_rho(self.config.group)
        self.policy = PairPolicy(self.obs_shape[-1], self.rho.num_actions, self.obs_shape[0],
                                 orthogonal=self.config.policy_init == "orthogonal")

    def modules(self):
        if self.continuous:
            return nn.ModuleDict({"vae": self.vae, "rho": self.rho})
        return nn.ModuleDict({"vae": self.vae, "rho": self.rho, "policy": self.policy})

    def _param_groups(self):
        if self.continuous:
            return [{"params": self.vae.parameters(), "lr": self.config.lr}]
        return [*self._angle_param_groups(), {"params": self.policy.parameters(), "lr": self.config.policy_lr}]

    def _closed_form_loss(self, batch: PairBatch):
        """On a continuous torus: the VAE loss, plus gamma times ||rho^ z1 - mu2||^2 with rho^ each plane's best
        turn of z1 onto mu2 (the highest latent reward, exact), plus the predicted-frame loss through it."""
        c = self.config
        fwd = self._pair_forward(batch)
        z, angles = self.rho(fwd.z1, fwd.mu2)
        pred = (z - fwd.mu2).pow(2).sum(-1).mean()
        loss = fwd.vae_parts["loss"] + c.gamma * pred
        extra: dict[str, torch.Tensor] = {}
        loss = self._add_predicted_frames(loss, z, fwd.x2, extra, fwd.x1)
        loss = self._add_code_penalties(loss, fwd.mu1, fwd.mu2, extra)
        if c.turn_independence > 0:
            extra["turn_independence"] = turn_independence_penalty(fwd.mu1, fwd.mu2, c.turn_harmonics)
            loss = loss + c.turn_independence * extra["turn_independence"]
            extra["turn_independence"] = extra["turn_independence"].detach()
        return loss, {**extra, "recon": fwd.vae_parts["recon"].detach(), "kl": fwd.vae_parts["kl"].detach(),
                      "pred": pred.detach(), "mean_abs_angle": angles.abs().mean()}

    def _loss(self, batch: PairBatch):
        if self.continuous:
            return self._closed_form_loss(batch)
        c = self.config
        fwd = self._pair_forward(batch)
        parts, x2, mu2 = fwd.vae_parts, fwd.x2, fwd.mu2
        b = x2.shape[0]
        z, frame = fwd.z1, fwd.x1
        log_terms, rewards, entropies, consistency = [], [], [], []
        for t in range(c.action_steps):
            if t > 0 and c.path_consistency > 0:  # an intermediate code must be the code of the frame it decodes to
                with self.autocast():
                    decoded = torch.sigmoid(self.vae.decode(z).float())
                    back = self.vae.encode(decoded)[0].float()
                consistency.append((back - z).pow(2).sum(-1).mean())
                frame = decoded.detach()
            elif t > 0:  # the next input frame is the decoded prediction; the target stays x2
                with torch.no_grad(), self.autocast():
                    frame = torch.sigmoid(self.vae.decode(z.detach()).float())
            with self.autocast():
                probs = self.policy(frame, x2)
            z_all = self.rho.apply_all(z)  # (B, A, L)
            r_all = latent_rewards(z, mu2, z_all)
            a = self._path_action(probs.detach(), r_all.detach())
            if c.regret > 0:
                r_all = subtract_regret(r_all, r_all, c.regret)
            r = r_all.gather(1, a[:, None]).squeeze(1)
            if c.policy_update == "expected":
                log_terms.append(expected_log_terms(probs, r_all))
                rewards.append(r)
                z = z_all[torch.arange(b, device=z.device), a]
                entropies.append(policy_entropy(probs))
                continue
            log_terms.append(policy_log_terms(probs, a, r))
            rewards.append(r)
            entropies.append(policy_entropy(probs))
            z = z_all[torch.arange(b, device=z.device), a]
        if c.policy_update == "expected":
            policy_loss = torch.stack(log_terms).sum()
        else:
            used = discounted_returns(rewards, c.discount) if c.discounted else rewards
            policy_loss = reinforce_loss(used, log_terms)
        entropy = torch.stack(entropies).mean()
        pred = (z - mu2).pow(2).sum(-1).mean()
        loss = parts["loss"] + policy_loss - c.entropy_weight * entropy + c.gamma * pred + self.rho.penalty()
        extra: dict[str, torch.Tensor] = {}
        loss = self._add_predicted_frames(loss, z, x2, extra, fwd.x1)  # z: predicted by the policy's latent actions
        loss = self._add_code_penalties(loss, fwd.mu1, mu2, extra)
        if consistency:
            extra["path_consistency"] = torch.stack(consistency).mean()
            loss = loss + c.path_consistency * extra["path_consistency"]
            extra["path_consistency"] = extra["path_consistency"].detach()
        return loss, {**extra,
            "recon": parts["recon"].detach(),
            "kl": parts["kl"].detach(),
            "pred": pred.detach(),
            "policy_loss": policy_loss.detach(),
            "reward": torch.stack(rewards).mean(),
            "entropy": entropy.detach(),
        }

    def _path_action(self, probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        path = self.config.latent_path
        if path == "argmax":
            return probs.argmax(1)
        if path == "best":
            return rewards.argmax(1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)

    # -- realignment of the code onto rho's planes (vae/alignment.py) -------------------------------
    def stop_check(self) -> str | None:
        c = self.config
        since = self.num_steps - self.attempt_start
        if c.realign and since % c.realign_every == 0 and since <= c.realign_until:
            self.realign_planes()
        if c.restart_after and since == c.restart_after and len(self.restarts) < c.max_restarts:
            if self.restart_if_failed():
                return None
        return super().stop_check()

    def restart_if_failed(self) -> bool:
        """Start again from fresh weights if rho's rotations cannot explain the code of the agent's own pairs.

        The pair stream, the step count and the generators go on, so the updates spent on the failed
        start stay counted; the stopping rule's history and the learning-rate schedule start over.
        """
        pairs = self.probe_pairs()
        diag = diagnose(self, pairs.obs, pairs.next_obs)
        if not diag["plane_norm_change"] > self.config.restart_norm_change:
            return False
        self.restarts.append({"update": self.num_steps, **{k: float(v) for k, v in diag.items()}})
        self.attempt_start = self.num_steps
        self._init_learner(self.config.seed + 1_000_003 * len(self.restarts))
        self.self_checks = []
        self.grad_norms = []
        if self.config.lr_decay_error > 0:
            self.lr_decay_start = None
        return True

    @torch.no_grad()
    def realign_planes(self, margin: float | None = None) -> dict[str, Any] | None:
        """Turn the code onto rho's planes if the agent's own pairs say another orientation fits them better.

        The moves mu(x') - mu(x) of its probe pairs (no labels) should each lie in one of rho's
        planes. When the best orthogonal turn of latent space raises their plane-alignment score
        by more than ``margin`` (default: the config's), the encoder's head and the decoder's input
        are turned by it, with their Adam moments, and the policy's last layer restarts uniform:
        its old choices named planes that have moved. Returns the event, or None.
        """
        margin = self.config.realign_margin if margin is None else margin
        pairs = self.probe_pairs()
        moves = self.encode(pairs.next_obs) - self.encode(pairs.obs)
        before = plane_alignment_score(moves)
        q, after = best_plane_rotation(moves, seed=self.config.seed + self.num_steps)
        if not np.isfinite(after) or after - before <= margin:
            return None
        head, dec = self.vae.encoder.head, self.vae.decoder.fc[0]
        rotate_adam_state(self.optimizer, head, dec, q)
        rotate_latent_space(head, dec, q)
        self.policy.reset_head()
        for p in self.policy.head.parameters():
            self.optimizer.state.pop(p, None)
        self._guard.snapshot()
        event = {"update": self.num_steps, "score_before": before, "score_after": after,
                 "planes_from_axes": [list(p) for p in nearest_pairing(q)]}
        self.realignments.append(event)
        return event

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "realignments": self.realignments, "restarts": self.restarts,
                "attempt_start": self.attempt_start}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.realignments = [dict(e) for e in state.get("realignments", [])]
        self.restarts = [dict(e) for e in state.get("restarts", [])]
        self.attempt_start = int(state.get("attempt_start", 0))

    @torch.no_grad()
    def policy_rollout(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512):
        """The policy's argmax latent actions applied to mu(obs), as in training; label-free.

        Returns rho(a^_N) ... rho(a^_1) mu(obs), mu(next_obs) and the actions (N pairs, action_steps).
        """
        self._refuse_on_continuous("policy_rollout")
        self.modules().eval()
        predicted, targets, actions = [], [], []
        for i in range(0, len(obs), batch_size):
            x1 = obs_to_tensor(obs[i : i + batch_size], self.device)
            x2 = obs_to_tensor(next_obs[i : i + batch_size], self.device)
            z = self.vae.encode(x1)[0].float()
            frame, chosen = x1, []
            for t in range(self.config.action_steps):
                if t > 0:
                    frame = torch.sigmoid(self.vae.decode(z).float())
                a = self.policy(frame, x2).argmax(-1)
                chosen.append(a)
                z = self.rho(z, a)
            predicted.append(z.cpu())
            targets.append(self.vae.encode(x2)[0].float().cpu())
            actions.append(torch.stack(chosen, 1).cpu())
        if not predicted:
            size = self.config.latent_size
            return np.zeros((0, size), np.float32), np.zeros((0, size), np.float32), np.zeros((0, 1), np.int64)
        return torch.cat(predicted).numpy(), torch.cat(targets).numpy(), torch.cat(actions).numpy()

    def self_predicted_latents(self, obs: np.ndarray, next_obs: np.ndarray):
        """rho(a^_N) ... rho(a^_1) mu(obs) with the policy's argmax actions, as in training; and mu(next_obs).

        Label-free: the latent actions are the policy's own (the stopping rule's measurement). On a continuous
        torus: each plane of mu(obs) turned onto mu(next_obs)'s, in closed form.
        """
        if self.continuous:
            predicted, target, _ = self._closed_form(obs, next_obs)
            return predicted, target
        predicted, targets, _ = self.policy_rollout(obs, next_obs)
        return predicted, targets

    def inferred_latent_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Every latent action the policy picks for the pairs, over all its steps, flattened."""
        return self.policy_rollout(obs, next_obs)[2].reshape(-1)

    @torch.no_grad()
    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The policy's argmax latent action for each pair, (N,) int64; on a continuous torus, the closed-form
        turn of each latent plane, (N, P) float32 in (-pi, pi]."""
        if self.continuous:
            return self._closed_form(obs, next_obs, batch_size)[2]
        return self.action_probabilities(obs, next_obs, batch_size).argmax(-1).astype(np.int64)

    def _closed_form(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512):
        """On a continuous torus: each plane of mu(obs) turned onto mu(next_obs)'s (label-free), mu(next_obs), and
        the turns (N, P) float32."""
        if np.shape(obs) != np.shape(next_obs):
            raise ValueError(f"obs and next_obs must have the same shape, got {np.shape(obs)} and {np.shape(next_obs)}")
        z1, z2 = (torch.as_tensor(self.encode(o, batch_size)) for o in (obs, next_obs))
        predicted, angles = self.rho(z1, z2)
        return predicted.numpy(), z2.numpy(), angles.numpy().astype(np.float32)

    def _refuse_on_continuous(self, what: str) -> None:
        if self.continuous:
            raise ValueError(f"{what} needs a finite list of latent actions; on {self.source.env_id!r} (a continuous "
                             f"group) RGrVAE infers each plane's turn in closed form (infer_actions)")

    @property
    def num_latent_actions(self) -> int:
        self._refuse_on_continuous("num_latent_actions")
        return super().num_latent_actions

    def action_representations(self) -> np.ndarray:
        self._refuse_on_continuous("action_representations")
        return super().action_representations()

    @torch.no_grad()
    def action_probabilities(self, obs: np.ndarray, next_obs: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """pi(a | obs, next_obs) for each pair and latent action, (N, A) float64."""
        self._refuse_on_continuous("action_probabilities")
        if np.shape(obs) != np.shape(next_obs):
            raise ValueError(f"obs and next_obs must have the same shape, got {np.shape(obs)} and {np.shape(next_obs)}")
        self.modules().eval()
        out = []
        for i in range(0, len(obs), batch_size):
            x1 = obs_to_tensor(obs[i : i + batch_size], self.device)
            x2 = obs_to_tensor(next_obs[i : i + batch_size], self.device)
            out.append(self.policy(x1, x2).float().cpu())
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.num_latent_actions))

    def _sample_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """One latent action per pair drawn from the policy (its own generator: training's stream is untouched);
        on a continuous torus the closed form has nothing to sample."""
        if self.continuous:
            return self.infer_actions(obs, next_obs)
        if not hasattr(self, "_predict_rng"):
            self._predict_rng = np.random.default_rng([self.config.seed, 1])
        probs = self.action_probabilities(obs, next_obs)
        probs /= probs.sum(-1, keepdims=True)
        u = self._predict_rng.random((len(probs), 1))
        return np.minimum((probs.cumsum(-1) < u).sum(-1), probs.shape[1] - 1).astype(np.int64)


@torch.no_grad()
def rotate_adam_state(optimizer: torch.optim.Optimizer, head: nn.Linear, dec: nn.Linear, q: np.ndarray) -> None:
    """Turn Adam's moments of the encoder head and decoder input with the code (vae.alignment.rotate_latent_space).

    First moments are linear in the gradient and turn exactly; second moments are per element
    and take the squared weights of the turn (their diagonal under it).
    """
    size = dec.in_features
    for param, kind in ((head.weight, "head"), (head.bias, "head"), (dec.weight, "dec")):
        state = optimizer.state.get(param, {})
        if "exp_avg" not in state:
            continue
        qt = torch.as_tensor(q, dtype=param.dtype, device=param.device)
        q2 = qt.pow(2)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if kind == "head":
            m[:size] = qt @ m[:size]
            v[:size] = q2 @ v[:size]
        else:
            m.copy_(m @ qt.T)
            v.copy_(v @ q2.T)


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
    """r - weight * (best reward over all latent actions - r): penalises choosing a worse action than the best.

    ``r`` is the reward of the action taken, (B,), or of every action, (B, A).
    """
    best = r_all.max(1).values
    return r - weight * ((best[:, None] if r.ndim == 2 else best) - r)


def expected_log_terms(probs: torch.Tensor, r_all: torch.Tensor) -> torch.Tensor:
    """The exact expectation over a ~ pi of the paper's policy loss for one sampled action, batch-mean.

    Sum over latent actions of pi(a) (held fixed, as the sampling distribution) times the
    sampled estimator's loss for a: -|r_a| log p(a) where r_a >= 0, -|r_a| log(1 - p(a)) where
    r_a < 0. Its gradient is the expectation of :func:`reinforce_loss`'s gradient, without the
    noise of drawing one action per pair.
    """
    p = probs.clamp(1e-6, 1 - 1e-6)
    per_action = torch.where(r_all >= 0, torch.log(p), torch.log1p(-p))
    return -(probs.detach() * r_all.abs() * per_action).sum(-1).mean()


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
