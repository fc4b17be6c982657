"""Learners that consume pairs: RGrVAE (unsupervised), ForwardVAE (supervised), a plain beta-VAE.

Importing this package imports every module in it, and every agent class registers itself
under its ``algo`` name in :data:`AGENTS`: adding an agent is adding a file here.
"""

import importlib
import pkgutil

from agents.base import AGENTS, AgentConfig, BaseAgent, NonFiniteLossError, agent_class
from agents.checkpoint import CheckpointError
from agents.training.callbacks import BaseCallback, CallbackList
from flatland_env.pairs import GroundTruth, PairBatch, PairSourceConfig

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

from agents.betavae import BetaVAE  # noqa: E402
from agents.forward import ForwardVAE, ForwardVAEConfig  # noqa: E402
from agents.latent_actions import LatentActionConfig  # noqa: E402
from agents.rgrvae import RGrVAE, RGrVAEConfig  # noqa: E402

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
