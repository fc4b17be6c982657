"""Learners that consume pairs: RGrVAE (unsupervised), ForwardVAE (supervised), a plain beta-VAE.

Importing this package imports the agent modules listed below, and every agent class
registers itself under its ``algo`` name in :data:`AGENTS`: adding an agent is adding a file
here and its import below. The optional parts (``agents.sb3`` for stable-baselines3,
``agents.companion`` for pygame) load only when imported.
"""

from agents.base import AGENTS, AgentConfig, BaseAgent, NonFiniteLossError, agent_class
from agents.betavae import BetaVAE
from agents.callbacks import BaseCallback, CallbackList
from agents.checkpoint import CheckpointError
from agents.forward import ForwardVAE, ForwardVAEConfig
from agents.latent_actions import LatentActionConfig
from agents.rgrvae import RGrVAE, RGrVAEConfig
from flatland_env.pairs import GroundTruth, PairBatch, PairSourceConfig

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
    "LatentActionConfig",
    "NonFiniteLossError",
    "PairBatch",
    "PairSourceConfig",
    "RGrVAE",
    "RGrVAEConfig",
    "agent_class",
]
