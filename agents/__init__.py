"""Learners that consume transitions: RGrVAE (unsupervised), ForwardVAE (supervised), beta-VAE."""

from agents.base import AgentConfig, BaseAgent, NonFiniteLossError, PairBatch
from agents.betavae import BetaVAE
from agents.callbacks import BaseCallback, CallbackList, GroundTruth
from agents.checkpoint import CheckpointError
from agents.forward import ForwardVAE, ForwardVAEConfig
from agents.rgrvae import RGrVAE, RGrVAEConfig

#: algorithm name (as in checkpoints and the --model flag) -> agent class
AGENTS: dict[str, type[BaseAgent]] = {"rgrvae": RGrVAE, "forward": ForwardVAE, "vae": BetaVAE}

__all__ = [
    "AGENTS",
    "AgentConfig",
    "BaseAgent",
    "BaseCallback",
    "BetaVAE",
    "CallbackList",
    "CheckpointError",
    "ForwardVAE",
    "ForwardVAEConfig",
    "GroundTruth",
    "NonFiniteLossError",
    "PairBatch",
    "RGrVAE",
    "RGrVAEConfig",
]
