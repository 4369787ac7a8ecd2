"""Disentanglement, Completeness and Informativeness (Eastwood & Williams, 2018).

One classifier per factor predicts it from all code dimensions; its feature importances form the
importance matrix R (D x K). A code dimension that matters for one factor only is disentangled
(low entropy of its row, base K); a factor explained by one dimension only is complete (low
entropy of its column, base D). Each entropy is weighted by that dimension's / factor's share of
the total importance, so dead dimensions do not dilute the score.

disentanglement_lib uses scikit-learn's GradientBoostingClassifier with default settings and its
impurity-based ``feature_importances_``; that is our default so numbers stay comparable. It is
slow: boosting fits one regression tree per class per round (100 rounds), so a 40-class factor on
10,000 points is 4,000 tree fits; see docs/metrics.md for measured times. We fit that very model
with the trees of every factor's rounds on one pool of ``n_jobs`` threads (boosting.py), the
factors side by side; on a GPU (``device``) every factor's trees grow together as tensor
operations instead (batched_boosting.py: the same model up to how near-equal splits are broken).
``model="random_forest"`` is a much faster approximation whose numbers are not comparable with
published DCI.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import (
    fit_quietly,
    train_test,
)

MODELS = ("gbt", "random_forest")


def _make_model(model: str | Callable, seed: int, pool=None):
    if callable(model):
        return model()
    if model == "gbt":  # GradientBoostingClassifier(random_state=seed), its trees on `pool`
        from disentangle.evaluation.boosting import ThreadedGradientBoosting

        return ThreadedGradientBoosting(random_state=seed, pool=pool)
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        # 20 bagged depth-6 trees over all features: seconds instead of minutes for 10,000 points
        # x 5 factors. Of the six settings we tried it tracked GBT's D and C most closely, yet
        # only to within 0.14 on three synthetic problems; deeper trees put importance on noise.
        return RandomForestClassifier(
            n_estimators=20, max_depth=6, max_features=None, random_state=seed
        )
    raise DisentangleError(f"dci model must be one of {MODELS} or a callable; got {model!r}")


def _importances(fitted, d: int) -> np.ndarray:
    if hasattr(fitted, "feature_importances_"):
        imp = np.abs(np.asarray(fitted.feature_importances_, dtype=np.float64))
    elif hasattr(fitted, "coef_"):
        imp = np.abs(np.asarray(fitted.coef_, dtype=np.float64)).reshape(-1, d).sum(axis=0)
    else:
        raise DisentangleError(
            "dci model must expose feature_importances_ or coef_ after fitting"
        )
    if imp.shape != (d,):
        raise DisentangleError(f"dci model gave {imp.shape} importances for {d} code dimensions")
    return imp


def _fit_factor(j, model, seed, x_train, y_train, x_test, y_test, pool=None):
    est = _make_model(model, seed, pool)
    converged = fit_quietly(est, x_train, y_train)
    imp = _importances(est, x_train.shape[1])
    acc_train = float(np.mean(est.predict(x_train) == y_train))
    acc_test = float(np.mean(est.predict(x_test) == y_test))
    return j, imp, acc_train, acc_test, converged


def _fit_batched(device, x_train, y_train, x_test, y_test):
    """``_fit_factor``'s results for every factor, from one batched fit on ``device``."""
    from disentangle.evaluation.batched_boosting import BatchedGradientBoosting

    fitted = BatchedGradientBoosting(device).fit(x_train, y_train)
    acc_train = np.mean(fitted.predict() == y_train, axis=0)
    acc_test = np.mean(fitted.predict(x_test) == y_test, axis=0)
    return [(j, imp, float(acc_train[j]), float(acc_test[j]), True)
            for j, imp in enumerate(fitted.importances())]


def _weighted_one_minus_entropy(importance: np.ndarray) -> tuple[float, np.ndarray]:
    """Σ_rows ρ_row (1 - H_base(P_row)), rows normalised to distributions, base = row length.

    The 1e-11 added before normalising is disentanglement_lib's; it makes all-zero rows uniform
    (entropy 1, score 0) instead of NaN.
    """
    base = importance.shape[1]
    if base == 1:  # one factor (or one dim): nothing to be confused with
        per_row = np.ones(importance.shape[0])
    else:
        p = importance + 1e-11
        p = p / p.sum(axis=1, keepdims=True)
        per_row = 1.0 + np.sum(p * np.log(p), axis=1) / np.log(base)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    rho = weights.sum(axis=1) / weights.sum()
    return float(np.sum(rho * per_row)), per_row


def dci(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    model: str | Callable = "gbt",
    *,
    n_jobs: int | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    device=None,
) -> dict:
    """DCI scores from one classifier per factor.

    ``model``: ``"gbt"`` (default, disentanglement_lib's GradientBoostingClassifier()),
    ``"random_forest"`` (20 trees, depth 6; fast, not comparable with published DCI), or a
    zero-argument callable returning an unfitted scikit-learn classifier with
    ``feature_importances_`` or ``coef_`` (|coef| summed over classes; standardise the codes
    yourself for linear models). ``n_jobs``: threads for the trees of all factors for ``"gbt"``,
    worker processes over the factors (joblib) for the others; -1 = every core. ``device``: a
    torch device on which ``"gbt"`` grows every factor's trees at once (batched_boosting.py; it
    draws nothing, so ``seed`` and ``n_jobs`` do not apply); ``None``, the default, fits
    scikit-learn's trees on threads, exactly ``GradientBoostingClassifier(random_state=seed)``.
    ``progress(1)``, when given, is called as each factor's classifier finishes (eval's progress
    line).

    Returns ``disentanglement``, ``completeness``, ``informativeness`` (mean test accuracy),
    ``informativeness_train``, ``importance_matrix`` (D, K), ``per_code_disentanglement`` (D,),
    ``per_factor_completeness`` (K,), ``per_factor_accuracy`` (K,), ``converged``, and
    ``definition``: one line on the classifier that was fit (eval.json's ``definitions``).
    """
    x_tr, y_tr, x_te, y_te = train_test(codes_train, factors_train, codes_test, factors_test)
    if not callable(model) and model not in MODELS:
        raise DisentangleError(f"dci model must be one of {MODELS} or a callable; got {model!r}")

    k = y_tr.shape[1]
    # Largest factors first so parallel workers finish together.
    order = sorted(range(k), key=lambda j: -np.unique(y_tr[:, j]).size)
    jobs = [(j, model, seed, x_tr, y_tr[:, j], x_te, y_te[:, j]) for j in order]
    by_factor = {}

    def collect(results) -> None:
        for j, *result in results:  # as each factor finishes
            by_factor[j] = result
            if progress is not None:
                progress(1)

    if model == "gbt" and device is not None:
        from disentangle.training.build import resolve_device

        device = resolve_device(str(device))  # "gpu", or cuda on a machine without: one line
        collect(_fit_batched(device, x_tr, y_tr, x_te, y_te))
        definition = (f"disentanglement_lib's GradientBoostingClassifier(), its trees grown "
                      f"batched on {device} (equal up to near-tied splits; docs/metrics.md)")
    elif model == "gbt":
        # every factor's rounds side by side, their trees on one pool: a factor of few classes
        # alone would leave most threads idle through its rounds
        from concurrent.futures import ThreadPoolExecutor, as_completed

        from joblib import effective_n_jobs

        with ThreadPoolExecutor(effective_n_jobs(n_jobs)) as trees, \
                ThreadPoolExecutor(len(jobs)) as factors:
            fits = [factors.submit(_fit_factor, *job, pool=trees) for job in jobs]
            collect(fit.result() for fit in as_completed(fits))
        definition = "disentanglement_lib's GradientBoostingClassifier(), scikit-learn's trees"
    elif n_jobs is None or n_jobs == 1:
        collect(_fit_factor(*job) for job in jobs)
    else:
        from joblib import Parallel, delayed

        collect(Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_fit_factor)(*job) for job in jobs))
    if model != "gbt":
        name = model if isinstance(model, str) else getattr(model, "__name__", repr(model))
        definition = f"{name}: not comparable with published DCI (docs/metrics.md)"

    importance = np.stack([by_factor[j][0] for j in range(k)], axis=1)  # (D, K)
    acc_train = np.array([by_factor[j][1] for j in range(k)])
    acc_test = np.array([by_factor[j][2] for j in range(k)])
    disentanglement, per_code = _weighted_one_minus_entropy(importance)
    completeness, per_factor = _weighted_one_minus_entropy(importance.T)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness": float(acc_test.mean()),
        "informativeness_train": float(acc_train.mean()),
        "importance_matrix": importance,
        "per_code_disentanglement": per_code,
        "per_factor_completeness": per_factor,
        "per_factor_accuracy": acc_test,
        "converged": all(by_factor[j][3] for j in range(k)),
        "definition": definition,
    }
