"""Bad inputs raise DisentangleError with a one-line message, never a NumPy/sklearn traceback."""

import numpy as np
import pytest

from disentangle.errors import DisentangleError
from disentangle.evaluation import (
    beta_vae_score,
    cluster_accuracy,
    confusion,
    dci,
    discretize,
    entropies,
    explicitness,
    factor_vae_score,
    label_mi,
    linear_probe,
    mi_matrix,
    mig,
    modularity,
    sap,
)

rng = np.random.default_rng(0)
C = rng.normal(size=(20, 3))
F = rng.integers(0, 2, size=(20, 2))
C_TEST = rng.normal(size=(10, 3))
F_TEST = rng.integers(0, 2, size=(10, 2))
Z1 = np.zeros((20, 1), int)
PROBE = (C, F[:, 0], C_TEST, F_TEST[:, 0])


def ok_sample(f):
    return f.astype(float)


def fvae(fn):
    return lambda: factor_vae_score(fn, [3, 4], 0, num_variance_estimate=10)



CASES = [
    ("1-D codes", lambda: mig(C[:, 0], F), "2-D"),
    ("empty codes", lambda: mi_matrix(np.zeros((0, 3)), np.zeros((0, 2), int)), "empty"),
    ("NaN codes", lambda: mig(np.full((20, 3), np.nan), F), "NaN"),
    ("N mismatch", lambda: mig(C[:10], F), "same number of points"),
    ("non-integer factors", lambda: mig(C, F + 0.5), "integer"),
    ("string codes", lambda: discretize([["a", "b"]]), "numeric"),
    ("bins 0", lambda: discretize(C, bins=0), "bins"),
    ("constant factor", lambda: mig(C, Z1), "single value"),
    ("one code dim", lambda: mig(C[:, :1], F), "2 code dimensions"),
    ("entropies 1-D", lambda: entropies(F[:, 0]), "2-D"),
    ("dci test width", lambda: dci(C, F, C_TEST[:, :2], F_TEST), "code dimensions"),
    ("dci factor count", lambda: dci(C, F, C_TEST, F_TEST[:, :1]), "factors"),
    ("dci model", lambda: dci(C, F, C_TEST, F_TEST, model="svm"), "model"),
    ("dci device", lambda: dci(C, F, C_TEST, F_TEST, device="gpu"), "--device gpu: unknown"),
    ("dci constant factor", lambda: dci(C, Z1, C_TEST, F_TEST[:, :1]), "single value"),
    ("sap C", lambda: sap(C, F, C_TEST, F_TEST, C=0), "C must be"),
    ("sap N", lambda: sap(C, F, C_TEST[:5], F_TEST), "same number of points"),
    ("modularity negative", lambda: modularity(-np.ones((2, 2))), "non-negative"),
    ("modularity one factor", lambda: modularity(np.ones((2, 1))), "2 factors"),
    ("modularity 1-D", lambda: modularity(np.ones(3)), "(D code dims, K factors)"),
    ("explicitness N", lambda: explicitness(C, F[:5], C_TEST, F_TEST), "same number of points"),
    ("cluster lengths", lambda: cluster_accuracy([0, 1], [0, 1, 1]), "same number of points"),
    ("cluster empty", lambda: confusion([], []), "empty"),
    ("cluster 2-D", lambda: label_mi(np.zeros((2, 2), int), [0, 1]), "1-D"),
    ("probe one class", lambda: linear_probe(C, Z1[:, 0], C_TEST, Z1[:10, 0]), "single class"),
    ("probe widths", lambda: linear_probe(C, F[:, 0], C_TEST[:, :2], F_TEST[:, 0]), "features"),
    ("probe budget", lambda: linear_probe(*PROBE, budgets=(0,)), "budget"),
    ("probe no budgets", lambda: linear_probe(*PROBE, budgets=()), "budgets"),
    ("fvae sizes", lambda: factor_vae_score(ok_sample, [3, 0], 0), "factor_sizes"),
    ("fvae rng", lambda: factor_vae_score(ok_sample, [3, 4], "seed"), "rng"),
    ("fvae not callable", lambda: factor_vae_score(None, [3, 4], 0), "callable"),
    ("fvae bad output", fvae(lambda f: np.zeros(len(f))), "one row per factor row"),
    ("fvae wrong rows", fvae(lambda f: np.zeros((3, 2))), "one row per factor row"),
    ("fvae NaN output", fvae(lambda f: np.full((len(f), 2), np.nan)), "NaN"),
    ("fvae batch", lambda: factor_vae_score(ok_sample, [3, 4], 0, batch_size=1), "batch_size"),
    ("bvae one factor", lambda: beta_vae_score(ok_sample, [3], 0), "2 factors"),
    ("bvae num_train", lambda: beta_vae_score(ok_sample, [3, 4], 0, num_train=0), "num_train"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_disentangle_error(call, fragment):
    with pytest.raises(DisentangleError) as info:
        call()
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("code, poisoned, named", [
    ("uniform:1", "q", "Q's estimates of c2"),
    ("uniform:1", "features", "D's features"),
    ("categorical:3", "q", "Q's class probabilities of c2"),  # its class index stays finite
])
def test_networks_that_overflow_are_named_before_any_metric(code, poisoned, named):
    """A checkpoint whose networks give NaN on some images stopped eval at whichever metric read
    the codes first, as a bare "codes contains NaN", without saying which code."""
    import torch

    from disentangle.evaluation.pipeline import encode
    from disentangle.latent import Latent
    from disentangle.model import LatentModel
    from disentangle.registry import get_registry

    registry = get_registry()
    data = registry.create("datasets", "shapes", image_size=32).load("test").subset(40, 0)
    latent = Latent.from_specs(["uniform:1", code], noise_dim=2, registry=registry)
    nets = registry.create("backbones", "tiny").build((1, 32, 32), latent.input_width,
                                                      latent.head_width)
    model = LatentModel(latent, nets).eval()
    encode(model, data, batch_size=16)  # finite: no complaint

    def overflow(module, inputs, output):
        output = output.clone()
        output[3:5, -1] = float("inf")  # the last column: c2's mean or logit; two images
        return output

    (model.q_head if poisoned == "q" else model.trunk).register_forward_hook(overflow)
    with pytest.raises(DisentangleError) as raised:
        encode(model, data, batch_size=40)
    assert named in str(raised.value)
    assert "for 2 of 40 images encoded together (the first at position 3 of them)" in str(
        raised.value)  # the intervention pool encodes a render chunk at a time: "of them"
