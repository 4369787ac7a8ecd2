"""Evaluation metrics: pure functions on numpy arrays (codes, factors, labels).

Disentanglement metrics follow google-research/disentanglement_lib (see docs/metrics.md for the
exact definitions and where we deviate); cluster and probe scores serve the categorical-code and
downstream-task evaluations. Every function validates its inputs and raises
``disentangle.errors.DisentangleError`` on misuse. scikit-learn and matplotlib are imported lazily,
and so is torch, which only ``generator_cluster_accuracy`` needs: a probe's worker process imports
this package to unpickle its job, and torch would cost it seconds.
"""

from disentangle._lazy import lazy_names
from disentangle.evaluation.beta_vae import beta_vae_score
from disentangle.evaluation.cluster import cluster_accuracy, confusion, label_mi, matching
from disentangle.evaluation.dci import dci
from disentangle.evaluation.discrete_mi import discretize, entropies, mi_matrix
from disentangle.evaluation.factor_vae import factor_vae_score
from disentangle.evaluation.mig import mig
from disentangle.evaluation.modularity import explicitness, modularity
from disentangle.evaluation.plots import save_confusion, save_heatmap
from disentangle.evaluation.probes import linear_probe, principal_components
from disentangle.evaluation.sap import sap


# torch only when asked for: see the module docstring
__getattr__, __dir__ = lazy_names(__name__, {
    "generator_cluster_accuracy": "disentangle.evaluation.generator_classes"})


__all__ = [
    "beta_vae_score",
    "cluster_accuracy",
    "confusion",
    "dci",
    "discretize",
    "entropies",
    "explicitness",
    "factor_vae_score",
    "generator_cluster_accuracy",
    "label_mi",
    "linear_probe",
    "matching",
    "mi_matrix",
    "mig",
    "modularity",
    "principal_components",
    "save_confusion",
    "save_heatmap",
    "sap",
]
