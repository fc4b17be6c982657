"""Metrics of (linear) disentanglement, one per module, each a pure function of
(encode_fn, world, rng, ...) that registers itself (:mod:`vae.metrics.registry`);
``evaluate`` runs every registered one that applies to a model and world.
"""

from vae.metrics.action_estimation import action_estimation, match_actions
from vae.metrics.beta_vae import beta_vae_score
from vae.metrics.continuous_actions import angle_r2, continuous_action_metrics
from vae.metrics.dci import dci, dci_from_samples
from vae.metrics.equivariance import equivariance_error
from vae.metrics.factor_vae import factor_vae_score
from vae.metrics.group_relations import relation_errors
from vae.metrics.independence import fit_action_maps, independence_score
from vae.metrics.lsbd import d_lsbd, d_lsbd_from_grid
from vae.metrics.mig import mig, mig_from_samples
from vae.metrics.modularity import modularity_explicitness
from vae.metrics.orbit_spacing import orbit_spacing
from vae.metrics.registry import Metric, register_metric, registered_metrics
from vae.metrics.sap import sap, sap_from_samples
from vae.metrics.suite import evaluate

__all__ = [
    "Metric",
    "action_estimation",
    "angle_r2",
    "beta_vae_score",
    "continuous_action_metrics",
    "d_lsbd",
    "d_lsbd_from_grid",
    "dci",
    "dci_from_samples",
    "equivariance_error",
    "evaluate",
    "factor_vae_score",
    "fit_action_maps",
    "independence_score",
    "match_actions",
    "mig",
    "mig_from_samples",
    "modularity_explicitness",
    "orbit_spacing",
    "register_metric",
    "registered_metrics",
    "relation_errors",
    "sap",
    "sap_from_samples",
]
