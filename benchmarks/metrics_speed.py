"""Wall-clock time of every evaluation metric on a dSprites-sized synthetic problem.

    python -m benchmarks.metrics_speed [--jobs N] [--skip gbt,sklearn-gbt,batched-gbt,probe]
        [--n 10000] [--device cpu|cuda]

10,000 training / 5,000 test points, 5 factors with dSprites' sizes (shape 3, scale 6,
orientation 40, x 32, y 32) and a 10-dimensional code: 5 dimensions that each encode one factor
(with some leakage and noise) and 5 nuisance dimensions, as an InfoGAN with 5 codes + 5 noise
would give. FactorVAE / BetaVAE use the same mapping as their ``sample_codes``, so their time is
the metric's own overhead (rendering and encoding images comes on top). The probe uses 1,024-wide
features with 10 classes. Timings depend on the machine and its load; the table prints both.
``--device`` is where the batched GBT row grows its trees (eval's DCI on a GPU); the other rows
run on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from disentangle.evaluation import (
    beta_vae_score,
    cluster_accuracy,
    dci,
    explicitness,
    factor_vae_score,
    label_mi,
    linear_probe,
    mi_matrix,
    mig,
    modularity,
    sap,
)

FACTOR_SIZES = (3, 6, 40, 32, 32)


def make_encoder(seed: int):
    """A fixed, fairly disentangled factors -> codes map with fresh noise on every call."""
    rng = np.random.default_rng(seed)
    sizes = np.array(FACTOR_SIZES)
    leak = 0.1 * rng.normal(size=(5, 5))
    np.fill_diagonal(leak, 1.0)

    def sample_codes(factors: np.ndarray) -> np.ndarray:
        v = factors / (sizes - 1) * 2 - 1  # each factor in [-1, 1]
        informative = v @ leak + 0.05 * rng.normal(size=v.shape)
        nuisance = rng.normal(size=(factors.shape[0], 5))
        return np.concatenate([informative, nuisance], axis=1)

    return sample_codes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="training points (test: half)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="n_jobs for DCI (default 1): threads within a factor for GBT, "
                        "processes over the factors for the others")
    parser.add_argument("--skip", default="",
                        help="comma list of rows to skip: gbt, sklearn-gbt, probe, ...")
    parser.add_argument("--probe-dim", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu",
                        help="where the batched GBT row grows its trees (cpu, cuda)")
    args = parser.parse_args(argv)
    from disentangle.errors import DisentangleError
    from disentangle.training.build import resolve_device
    try:  # one line, not a traceback from the first tensor put on a missing GPU
        resolve_device(args.device)
    except DisentangleError as exc:
        parser.error(str(exc))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    import scipy
    import sklearn

    rng = np.random.default_rng(args.seed)
    encode = make_encoder(args.seed)
    n, n_test = args.n, args.n // 2
    ft = np.stack([rng.integers(0, s, n) for s in FACTOR_SIZES], axis=1)
    fe = np.stack([rng.integers(0, s, n_test) for s in FACTOR_SIZES], axis=1)
    ct, ce = encode(ft), encode(fe)

    labels = rng.integers(0, 10, n)
    clusters = np.where(rng.random(n) < 0.9, (labels + 3) % 10, rng.integers(0, 10, n))
    centres = rng.normal(size=(10, args.probe_dim)) * 0.08
    px, py = centres[labels] + rng.normal(size=(n, args.probe_dim)), labels
    ty = rng.integers(0, 10, n_test)
    tx = centres[ty] + rng.normal(size=(n_test, args.probe_dim))

    def dci_line(r):
        keys = ("disentanglement", "completeness", "informativeness")
        return "D {:.3f} C {:.3f} I {:.3f}".format(*(r[k] for k in keys))

    rows = [
        ("mi_matrix", lambda: mi_matrix(ct, ft), lambda r: f"shape {r.shape}"),
        ("mig", lambda: mig(ct, ft), lambda r: f"{r['score']:.3f}"),
        ("modularity (+ MI)", lambda: modularity(mi_matrix(ct, ft)), lambda r: f"{r['score']:.3f}"),
        ("sap", lambda: sap(ct, ft, ce, fe), lambda r: f"{r['score']:.3f}"),
        ("explicitness", lambda: explicitness(ct, ft, ce, fe), lambda r: f"{r['score']:.3f}"),
        ("dci random_forest",
         lambda: dci(ct, ft, ce, fe, model="random_forest", n_jobs=args.jobs), dci_line),
        ("dci gbt (default)", lambda: dci(ct, ft, ce, fe, n_jobs=args.jobs), dci_line),
        # the same model as scikit-learn fits it, one core per factor (joblib processes): the
        # default's baseline, measured in the same run
        ("dci gbt, sklearn per factor",
         lambda: dci(ct, ft, ce, fe, model=_sklearn_gbt, n_jobs=args.jobs), dci_line),
        # the same model again, every factor's trees at once as tensor operations (eval's DCI
        # on a GPU)
        (f"dci gbt, batched on {args.device}", lambda: dci(ct, ft, ce, fe, device=args.device),
         dci_line),
        ("factor_vae_score", lambda: factor_vae_score(encode, FACTOR_SIZES, args.seed),
         lambda r: f"{r['score']:.3f}"),
        ("beta_vae_score", lambda: beta_vae_score(encode, FACTOR_SIZES, args.seed),
         lambda r: f"{r['score']:.3f}"),
        ("cluster_accuracy + label_mi",
         lambda: (cluster_accuracy(clusters, labels), label_mi(clusters, labels)),
         lambda r: f"acc {r[0]:.3f} nmi {r[1]['nmi']:.3f}"),
        (f"linear_probe {n}x{args.probe_dim}", lambda: linear_probe(px, py, tx, ty, seed=args.seed),
         lambda r: " ".join(f"{k}:{v['accuracy']:.2f}" for k, v in r.items())),
    ]
    keys = {"dci gbt (default)": "gbt", "dci gbt, sklearn per factor": "sklearn-gbt",
            f"dci gbt, batched on {args.device}": "batched-gbt",
            f"linear_probe {n}x{args.probe_dim}": "probe"}

    print(f"# {n} train / {n_test} test points, factor sizes {FACTOR_SIZES}, 10 code dims")
    print(f"# python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} CPUs, dci n_jobs={args.jobs}")
    if args.device != "cpu" and "batched-gbt" not in skip:
        import torch

        torch.zeros(1, device=args.device)  # the device's start-up is not the metric's time
    print(f"{'metric':<30} {'seconds':>8}  {'load':>5}  result")
    total = 0.0
    for name, call, show in rows:
        if name in skip or keys.get(name) in skip:
            print(f"{name:<30} {'skipped':>8}")
            continue
        start = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{name:<30} {elapsed:8.2f}  {os.getloadavg()[0]:5.1f}  {show(result)}", flush=True)
    print(f"{'total':<30} {total:8.2f}")


def _sklearn_gbt():
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=0)


if __name__ == "__main__":
    main()
