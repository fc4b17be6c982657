"""Shared surface of agents whose latent actions are group representations (RGrVAE, ForwardVAE).

:class:`LatentActionConfig` is the one home of the latent-action hyperparameters both share
(the prediction weight gamma, the angles' learning rate, the group structure per plane and
the change of basis); each agent's Config only overrides a default where it has a reason.
rho is a :class:`~vae.groups.GroupRepresentation` (commuting rotations of latent planes) or, for
an agent whose config says ``group="so3"``, a :class:`~vae.so3.SO3Representation`
(rotations of a 3-D block, which need not commute); :func:`check_group` says which options fit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch

from agents.base import AgentConfig, BaseAgent, check_lr
from agents.diagnostics import action_moves
from agents.stopping import plateau_reached, relative_prediction_error
from flatland_env.pairs import PairBatch, make_pair_source, split_labels
from flatland_env.validation import check_choice, check_number, check_positive_int
from vae.angle_uniformity import angle_uniformity_penalty
from vae.groups import SYMBOLS, GroupRepresentation
from vae.model import VAEOutput, reconstruction_loss, vae_loss
from vae.pair_distinctness import pair_distinctness_penalty
from vae.plane_moments import plane_moment_penalty
from vae.preprocess import obs_to_tensor, tensor_to_frames
from vae.so3 import BLOCK, SO3Representation

if TYPE_CHECKING:
    from agents.planning import LatentPlanner


@dataclass
class PairForward:
    """The VAE half of a pair update: both frames encoded, the first reconstructed."""

    x1: torch.Tensor
    x2: torch.Tensor
    z1: torch.Tensor  # reparameterised sample of x1's posterior
    mu1: torch.Tensor  # mean of x1's posterior
    mu2: torch.Tensor  # mean of x2's posterior: the target of every prediction (not detached)
    vae_parts: dict[str, torch.Tensor]  # loss, recon, kl of x1


#: the latent group blocks rho can be: rotations of latent planes (vae/groups.py) or of a 3-D block (vae/so3.py)
GROUPS = ("planes", "so3")


@dataclass
class LatentActionConfig(AgentConfig):
    """AgentConfig plus the group representation rho and its prediction loss."""

    gamma: float = 10.0
    """weight of the latent prediction loss ||rho(a) z1 - mu2||^2"""
    predicted_recon: float = 0.0
    """weight of the reconstruction loss of x2 decoded from the prediction rho(a) z1 (0: the paper's latent loss
    only). A plane that does not carry its factor cannot turn x1's code into x2's frame, however small its radius,
    so this term makes each action's plane hold what the action changes (docs/method.md, "Predicted frames")"""
    change_weight: float = 0.0
    """with predicted_recon: extra weight of the pixels that differ between the pair's two frames in that loss
    (each counts 1 + change_weight). A small sprite's turn changes a few dozen pixels, so the whole frame's loss
    barely feels whether the code holds it; this makes the change count (label-free: it reads only the pair).
    With pixel noise on the pairs nearly every pixel differs, and the weight then scales the whole loss"""
    plane_moments: float = 0.0
    """weight of the plane-moment penalty on the batch's codes: each plane's codes centred and isotropic, as a
    linear code of uniformly visited orbits is (0: off; docs/method.md, "k-step pairs")"""
    angle_uniformity: float = 0.0
    """weight of the angle-uniformity penalty on the batch's codes: each plane's code angles evenly spread, as a
    linear code of uniformly visited orbits has them; closes the gap that k-step pairs leave (0: off;
    docs/method.md, "k-step pairs")"""
    distinct: float = 0.0
    """weight of the pair-distinctness hinge: each pair's two codes at least distinct_margin of the code's rms
    spread apart. Every action changes the state, so a pair whose codes coincide shows a factor the code does
    not hold; the hinge pays for it where the latent loss does not (0: off; docs/method.md, "Pair distinctness")"""
    distinct_margin: float = 0.2
    """margin of the distinctness hinge, as a share of the code's rms spread (a faithful code moves a pair by
    sqrt(2(1 - cos t)) r for its plane's turn t and radius r); at most 2, since a pair's mean distance is at
    most twice the rms spread"""
    angle_lr: float = 0.1
    """learning rate of the representation angles"""
    structure: tuple[str, ...] = ("c+", "c-")
    """group structure per latent plane: c+, c-, c (rotations), free (2x2 block), id, ref"""
    change_of_basis: bool = False
    """learn a change of basis C: rho' = C^-1 rho C"""
    tie_angles: bool = False
    """each plane's c- is the inverse of its c+ (one learned angle per plane; needs c+ and c- in the structure)"""
    angle_init: float = 0.0
    """start every rotation at this |angle| in rad (0: the paper's random U(0, 1) starts)"""
    stop_error: float = 0.0
    """stop early once the agent's own, label-free equivariance error is at most this and has stopped falling
    (0: never; --total-steps is then the only stop; docs/method.md, "Stopping")"""
    stop_check_every: int = 250
    """updates between two measurements of the label-free equivariance error"""
    stop_patience: int = 3
    """checks in a row that must not beat the best earlier one by more than stop_min_improvement"""
    stop_min_improvement: float = 0.2
    """relative improvement that still counts as falling"""
    stop_probe_pairs: int = 512
    """pairs the agent collects once, for itself, to measure its equivariance error on"""
    stop_min_move: float = 0.01
    """the rule stops only when every latent action the agent uses moves its code by at least this share of the
    code's spread: a latent action that leaves its plane unmoved explains nothing, however small the error"""
    lr_decay_error: float = 0.0
    """start the cosine decay (lr_decay_steps) once the label-free equivariance error is at most this
    (0: decay from the first update)"""
    group: Literal["planes", "so3"] = "planes"
    """rho's latent group block: planes (a rotation of one latent plane per latent action, the paper's; they
    commute) or so3 (one learned 3-D rotation exp([w]_x) per latent action on the first 3 latent dimensions, the
    rest left as they are; they need not commute, for worlds such as RotatingCube-v0, which suggests it; plane
    options such as --structure, --tie-angles and --change-of-basis do not apply)"""

    #: options that shape plane representations, with the value that turns each off (so3 needs them off)
    PLANE_OPTIONS: ClassVar[dict[str, Any]] = {"tie_angles": False, "change_of_basis": False, "plane_moments": 0.0,
                                               "angle_uniformity": 0.0}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("gamma", self.gamma)
        check_number("predicted_recon", self.predicted_recon)
        check_number("change_weight", self.change_weight)
        if self.change_weight > 0 and self.predicted_recon <= 0:
            raise ValueError(f"change_weight={self.change_weight} weights pixels of the predicted-frame loss, which is "
                             f"off (predicted_recon=0); turn it on with predicted_recon > 0")
        check_number("plane_moments", self.plane_moments)
        check_number("angle_uniformity", self.angle_uniformity)
        check_number("distinct", self.distinct)
        check_number("distinct_margin", self.distinct_margin, 0.0, 2.0, low_open=True)
        check_lr("angle_lr", self.angle_lr)
        check_number("angle_init", self.angle_init, 0.0, 3.15)
        check_number("stop_error", self.stop_error)
        check_number("stop_min_improvement", self.stop_min_improvement, 0.0, 0.99)
        check_number("stop_min_move", self.stop_min_move)
        check_number("lr_decay_error", self.lr_decay_error)
        for name in ("stop_check_every", "stop_patience", "stop_probe_pairs"):
            check_positive_int(name, getattr(self, name))
        self.structure = tuple(self.structure)
        bad = [s for s in self.structure if s not in SYMBOLS]
        if not self.structure or bad:
            raise ValueError(f"structure must name one or more of {SYMBOLS}, got {self.structure!r}")
        if self.tie_angles and not {"c+", "c-"} <= set(self.structure):
            raise ValueError(f"tie_angles pairs each plane's c+ with its c-; the structure {self.structure} lacks one")
        check_group(self, self.group)


def check_group(config: LatentActionConfig, group: str) -> str:
    """``group`` if it is one of :data:`GROUPS` and fits the rest of ``config``; else ValueError saying why.

    The so3 block has no latent planes, so the options that shape plane representations (a structure of
    symbols per plane, tied c+/c- angles, a change of basis onto the planes) cannot apply: they are refused
    rather than silently ignored.
    """
    check_choice("group", group, GROUPS)
    if group == "planes":
        return group
    structure = next(f.default for f in dataclasses.fields(config) if f.name == "structure")
    if config.structure != structure:
        raise ValueError("group=so3 rotates one 3-D latent block and has no latent planes, so --structure (an option "
                         "of plane representations) cannot apply; drop --structure or use group=planes")
    plane_only = {n: off for n, off in config.PLANE_OPTIONS.items() if getattr(config, n) != off}
    if plane_only:
        on = ", ".join(f"--{n.replace('_', '-')}={getattr(config, n)}" for n in plane_only)
        needed = ", ".join(f"{n}={off!r}" for n, off in plane_only.items())
        raise ValueError(f"group=so3 rotates one 3-D latent block and has no latent planes, so plane options cannot "
                         f"apply: {on}; set {needed}, or use group=planes")
    if config.latent_size < BLOCK:
        raise ValueError(f"group=so3 rotates the first {BLOCK} latent dimensions: latent_size must be >= {BLOCK}, "
                         f"got {config.latent_size}")
    return group


class LatentActionAgent(BaseAgent):
    """Adds rho, the learnable group representation, and what can be read off it."""

    Config = LatentActionConfig
    config: LatentActionConfig
    #: plane rotations or SO(3) on finite groups; on a continuous torus ForwardVAE's LinearPlaneRepresentation or
    #: RGrVAE's ClosedFormPlaneActions (vae/continuous_planes.py)
    rho: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.lr_decay_error > 0:
            self.lr_decay_start = None  # begins when the label-free error first falls to lr_decay_error

    @property
    def continuous(self) -> bool:
        """Whether the world's actions are displacement vectors of a continuous torus (no finite list of latent
        actions: ForwardVAE's rho takes action vectors, RGrVAE infers each pair's plane angles)."""
        return not self.spec.is_discrete

    def _build_rho(self, group: str = "planes") -> None:
        """rho as ``group`` says: plane rotations from the config's structure, or one SO(3) rotation per world
        action (the config has been through :func:`check_group`)."""
        if group == "so3":
            self.rho = SO3Representation(
                self.config.latent_size,
                self.spec.num_actions,
                generator=torch.Generator().manual_seed(self._init_seed),
                angle_init=self.config.angle_init,
            )
            return
        self.rho = GroupRepresentation(
            self.config.latent_size,
            self.config.structure,
            change_of_basis=self.config.change_of_basis,
            generator=torch.Generator().manual_seed(self._init_seed),
            tied=self.config.tie_angles,
            angle_init=self.config.angle_init,
        )

    def _angle_param_groups(self) -> list[dict]:
        """The VAE (and rho's other parameters) at lr; the angles (so3: the rotation vectors) at their own angle_lr."""
        fast = self.rho.angle_parameter
        rest = [p for n, p in self.rho.named_parameters() if n != fast]
        return [
            {"params": list(self.vae.parameters()) + rest, "lr": self.config.lr},
            {"params": [getattr(self.rho, fast)], "lr": self.config.angle_lr},
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
        parts = vae_loss(VAEOutput(logits, mu1, lv1, z1), x1, c.beta, c.capacity, c.capacity_leadin, self.num_steps,
                         c.recon_loss)
        return PairForward(x1, x2, z1, mu1, mu[b:], parts)

    def predicted_frame_loss(self, z_pred: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Reconstruction loss of x2 from the predicted code rho(a) z1 (``predicted_recon``), in float32; with
        ``change_weight`` and the first frame ``x1``, the pixels where x1 and x2 differ count 1 + change_weight."""
        with self.autocast():
            logits = self.vae.decode(z_pred)
        weight = None
        if self.config.change_weight > 0:
            weight = 1.0 + self.config.change_weight * (x1 != x2).float()
        return reconstruction_loss(logits, x2, self.config.recon_loss, weight)

    def _add_predicted_frames(self, loss: torch.Tensor, z_pred: torch.Tensor, x2: torch.Tensor,
                              stats: dict[str, torch.Tensor], x1: torch.Tensor) -> torch.Tensor:
        """``loss`` plus ``predicted_recon`` times :meth:`predicted_frame_loss` when that weight is on (its value
        goes to ``stats``); ``loss`` unchanged when it is off, as in the paper."""
        if self.config.predicted_recon <= 0:
            return loss
        value = self.predicted_frame_loss(z_pred, x2, x1)
        stats["predicted_recon"] = value.detach()
        return loss + self.config.predicted_recon * value

    def _add_code_penalties(self, loss: torch.Tensor, mu1: torch.Tensor, mu2: torch.Tensor,
                            stats: dict[str, torch.Tensor]) -> torch.Tensor:
        """``loss`` plus the label-free penalties on the batch's codes mu(x) and mu(x') whose weights are on
        (``plane_moments``, ``angle_uniformity``, ``distinct``), their values to ``stats``."""
        c = self.config
        both = torch.cat([mu1, mu2]) if c.plane_moments > 0 or c.angle_uniformity > 0 else None  # built once
        for name, weight, value_of in (
                ("plane_moments", c.plane_moments, lambda: plane_moment_penalty(both)),
                ("angle_uniformity", c.angle_uniformity, lambda: angle_uniformity_penalty(both)),
                ("distinct", c.distinct, lambda: pair_distinctness_penalty(mu1, mu2, c.distinct_margin))):
            if weight > 0:
                value = value_of()
                loss = loss + weight * value
                stats[name] = value.detach()
        return loss

    def progress_stats(self, stats: dict[str, float]) -> dict[str, str]:
        shown = super().progress_stats(stats)
        angles = self.rho.effective_angles().detach().cpu().tolist()
        if angles:  # none where each pair's latent action is inferred in closed form (a continuous torus)
            shown["angles"] = " ".join(f"{a:+.3f}" for a in angles)
        return shown

    # -- the label-free stopping rule (agents/stopping.py) -------------------------------------
    def probe_pairs(self) -> PairBatch:
        """The agent's own probe pairs: drawn once from a copy of its pair source with a seed of its own.

        Its labels are dropped here, before anything looks at the pairs; the training stream is untouched.
        """
        if getattr(self, "_probe", None) is None:
            self._probe, _ = self.own_pairs(104_729)
        return self._probe

    def own_pairs(self, salt: int) -> tuple[PairBatch, Any]:
        """``stop_probe_pairs`` pairs and their labels from a copy of the agent's pair source seeded by its seed and
        ``salt``; the training stream is untouched. Callers that must stay label-free drop the labels at once."""
        seed = (self.config.seed * 7919 + salt) % 2**31
        source = make_pair_source(self.source.config, seed=seed, noise_seed=seed + 1)
        try:
            return split_labels(source.next_batch(self.config.stop_probe_pairs))
        finally:
            source.close()

    @torch.no_grad()
    def self_predicted_latents(self, obs: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """rho(a^) mu(obs) with the agent's own inferred latent actions a^, and mu(next_obs); no labels."""
        z1, z2 = self.encode(obs), self.encode(next_obs)
        a = self.infer_actions(obs, next_obs)
        return np.einsum("bij,bj->bi", self.action_representations()[a], z1), z2

    def self_equivariance_error(self, pairs: PairBatch | None = None) -> float:
        """Relative equivariance error with the agent's own inferred actions (default: its probe pairs)."""
        pairs = self.probe_pairs() if pairs is None else pairs
        predicted, target = self.self_predicted_latents(pairs.obs, pairs.next_obs)
        return relative_prediction_error(predicted, target, self.encode(pairs.obs))

    def self_check_moves(self, pairs: PairBatch | None = None) -> np.ndarray:
        """How far each latent action the agent uses on its probe pairs moves their codes, as a share of the
        codes' spread (agents/diagnostics.py); latent actions it never infers are left out."""
        pairs = self.probe_pairs() if pairs is None else pairs
        used = np.unique(self.inferred_latent_actions(pairs.obs, pairs.next_obs))
        return action_moves(self.action_representations(), self.encode(pairs.obs))[used]

    def inferred_latent_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Every latent action the agent infers for each pair, flattened (one per pair; N per pair for N steps)."""
        return self.infer_actions(obs, next_obs)

    def stop_check(self) -> str | None:
        c = self.config
        measuring = c.stop_error > 0 or (c.lr_decay_error > 0 and self.lr_decay_start is None)
        if not measuring or self.num_steps % c.stop_check_every:
            return None
        error = self.self_equivariance_error()
        self.self_checks.append((self.num_steps, error))
        if self.lr_decay_start is None and error <= c.lr_decay_error:
            self.lr_decay_start = self.num_steps
        if c.stop_error <= 0:
            return None
        if plateau_reached([e for _, e in self.self_checks], c.stop_error, c.stop_patience, c.stop_min_improvement):
            smallest = float(self.self_check_moves().min())
            if not smallest >= c.stop_min_move:  # a latent action that leaves its plane unmoved explains nothing
                return None
            return (
                f"label-free equivariance error {error:.4f} <= {c.stop_error:g} and no better by "
                f"{c.stop_min_improvement:.0%} over the last {c.stop_patience} checks; every latent action in use "
                f"moves the code by >= {smallest:.2f} of its spread"
            )
        return None

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "self_checks": [[int(s), float(e)] for s, e in self.self_checks]}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.self_checks = [(int(s), float(e)) for s, e in state.get("self_checks", [])]

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

    def latent_basis(self) -> np.ndarray:
        """The basis the latent rotations act in: C with a learned change of basis (rho' = C^-1 rho C), else I."""
        c = self.rho.change_of_basis
        return np.eye(self.config.latent_size, dtype=np.float32) if c is None else c.detach().float().cpu().numpy()

    def planner(self, link_steps: int = 256, seed: int = 0, method: str = "cycle",
                calibration_walks: int = 3) -> "LatentPlanner":
        """The agent's :class:`~agents.planning.LatentPlanner`: env actions linked to latent actions and calibrated
        from ``link_steps`` + ``calibration_walks`` cycles per env action of its own env steps; rebuilt after
        further training."""
        from agents.planning import LatentPlanner

        key = (self.num_steps, link_steps, seed, method, calibration_walks)
        if getattr(self, "_planner_key", None) != key:
            self._planner = LatentPlanner.build(self, link_steps, seed, method, calibration_walks)
            self._planner_key = key
        return self._planner

    def plan(self, obs: np.ndarray, goal_obs: np.ndarray) -> list[int]:
        """A shortest list of env actions from frame ``obs`` to frame ``goal_obs``, planned in latent space
        (agents/planning.py; raises CannotPlanError where the world's group or the representation rules it out)."""
        return self.planner().plan(obs, goal_obs)

    def _check_latent_actions(self, actions, n: int) -> torch.Tensor:
        a = np.asarray(actions)
        if a.ndim == 0:
            a = np.full(n, int(a))
        top = self.num_latent_actions
        if a.dtype.kind not in "iu" or a.shape != (n,) or a.min(initial=0) < 0 or a.max(initial=0) >= top:
            raise ValueError(
                f"latent actions must be {n} integers in [0, {self.num_latent_actions}), got {actions!r}"
            )
        return torch.as_tensor(a, dtype=torch.long, device=self.device)

    def infer_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """The latent action explaining each pair, (N,) int64."""
        raise NotImplementedError

    def predict(
        self,
        observation: tuple[np.ndarray, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """SB3-style: the latent action for each (obs, next_obs) pair, and no recurrent state.

        ``observation`` is the pair of frame batches; the latent actions are what
        :meth:`infer_actions` returns (``deterministic=False`` samples where the agent has a
        stochastic policy).
        """
        if not isinstance(observation, (tuple, list)) or len(observation) != 2:
            raise ValueError("observation must be a pair (obs, next_obs) of uint8 frame batches (N, H, W, C)")
        obs, next_obs = (np.asarray(o) for o in observation)
        single = obs.ndim == 3
        if single:
            obs, next_obs = obs[None], next_obs[None]
        actions = self._sample_actions(obs, next_obs) if not deterministic else self.infer_actions(obs, next_obs)
        return (actions[0] if single else actions), None

    def _sample_actions(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        return self.infer_actions(obs, next_obs)

    @torch.no_grad()
    def predict_next(self, obs: np.ndarray, latent_action: np.ndarray | int) -> np.ndarray:
        """Decode rho(a) mu(obs): the frame the model expects after latent action a."""
        self.modules().eval()
        x = obs_to_tensor(obs, self.device)
        a = self._check_latent_actions(latent_action, x.shape[0])
        mu, _ = self.vae.encode(x)
        return tensor_to_frames(torch.sigmoid(self.vae.decode(self.rho(mu.float(), a)).float()))
