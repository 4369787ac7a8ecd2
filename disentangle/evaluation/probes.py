"""Linear probes: how much labelled data a representation needs to be useful downstream.

A disentangled representation should make a downstream task easy from few labels, so the probe
is trained on class-balanced budgets (10 / 100 / 1,000 labelled points per class, or all of them)
and tested on the full test set. The regularisation strength is chosen by stratified k-fold
cross-validation (LogisticRegressionCV, 5 folds, 10 values of C on a log grid from 1e-4 to 1e4);
a budget with fewer examples of some class than folds uses fewer folds, and with a single example
of some class it falls back to a plain C = 1 fit. Cross-validation is 50 fits against the final
probe's one, so by default C is chosen on a stratified sample of at most 1,000 points and the
final probe is refitted on the whole budget (docs/metrics.md has the measured cost and the C it
picked against larger samples). Features are standardised on the training subset only, so
nothing about the test set leaks into the probe. `principal_components` reduces wide inputs
(pixels, wide D features) to a fixed width before probing; eval does that, the probe does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.evaluation._checks import (
    as_codes,
    as_labels,
    as_rng,
    fit_quietly,
    positive_float,
    positive_int,
    same_n,
    same_width,
    standardise,
    supported_kwargs,
    threads,
)


CS = 10  # values of C tried by cross-validation (a log grid from 1e-4 to 1e4)
CV_MAX_POINTS = 1000  # C is chosen on a stratified sample of at most this many points


def _budget_label(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def _balanced_subset(y: np.ndarray, budget: int | None, rng: np.random.Generator) -> np.ndarray:
    if budget is None:
        return np.arange(y.size)
    picks = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        picks.append(rng.permutation(idx)[:budget])
    return np.sort(np.concatenate(picks))


def _stratified_sample(y: np.ndarray, size: int, folds: int, seed: int) -> np.ndarray:
    """About ``size`` indices with the class proportions of ``y``, keeping rare classes CV-able."""
    rng = np.random.default_rng(seed)
    picks = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        take = max(min(folds, idx.size), int(round(size * idx.size / y.size)))
        picks.append(rng.permutation(idx)[:take])
    return np.sort(np.concatenate(picks))


def _row_space(x: np.ndarray) -> np.ndarray | None:
    """Orthonormal basis (D, r) of the span of the training rows when r < D, else None.

    With an L2 penalty and an unpenalised intercept, the logistic-regression weights lie in the
    span of the training points, and the penalty and every score are unchanged by rotating into
    that span; so fitting on the r <= N coordinates instead of D gives the same probe. With 10
    labels per class on 1,024-D features that is 100 coordinates instead of 1,024.
    """
    n, d = x.shape
    if n >= d:
        return None
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = s > s[0] * 1e-10 if s.size and s[0] > 0 else np.zeros(s.size, bool)
    return vt[keep].T if keep.any() else None


def principal_components(train_x, test_x, dims: int = 128, *, seed: int = 0):
    """Both sets on the top ``dims`` principal components of ``train_x`` (centred, not scaled).

    Why: a probe's cost grows with its input width times its classes, and raw pixels (4,096 at
    64 px) or wide D features (8,192 for ``dcgan64``) made eval's probes take most of half an
    hour on a 2-core CPU. The components are computed once per input, from the training inputs
    only and without labels (scikit-learn's ``randomized_svd`` of the training inputs minus
    their mean, seeded with ``seed``), so nothing about the test set or the labels shapes them.
    Not standardised first: that would give a nearly constant column (a border pixel) as much
    variance as the sprite's, and noise would crowd out the signal; the probe standardises the
    components it is given. Inputs no wider than ``dims``, or with no more training points than
    ``dims`` (whose span the probe already fits in exactly), come back unchanged.

    Returns ``(train, test, info)``: the two sets on k components (float32; the inputs as
    float64 when nothing was projected, k = D) and ``info`` = ``{"width": D, "components": k,
    "variance_kept": fraction}`` (the share of the training inputs' variance the k components
    hold; 1.0 when nothing was projected).
    """
    x_tr = as_codes(train_x, "train_x")
    x_te = as_codes(test_x, "test_x")
    same_width("train_x", x_tr, "test_x", x_te, "features")
    dims = positive_int(dims, "dims")
    width = x_tr.shape[1]
    if width <= dims or x_tr.shape[0] <= dims:
        return x_tr, x_te, {"width": width, "components": width, "variance_kept": 1.0}
    from sklearn.utils.extmath import randomized_svd

    mean = x_tr.mean(axis=0)
    z_tr, z_te = (x_tr - mean).astype(np.float32), (x_te - mean).astype(np.float32)
    _, s, vt = randomized_svd(z_tr, dims, random_state=seed)
    total = float(np.sum(z_tr.astype(np.float64) ** 2))
    kept = float(np.sum(s.astype(np.float64) ** 2)) / total if total > 0 else 1.0
    info = {"width": width, "components": int(vt.shape[0]), "variance_kept": min(kept, 1.0)}
    return z_tr @ vt.T, z_te @ vt.T, info


def _fit_probe(x, y, folds, Cs, max_iter, tol, n_jobs, seed, cv_max_points, blas_threads):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    cv_idx = np.arange(y.size)
    if cv_max_points is not None and y.size > cv_max_points:
        cv_idx = _stratified_sample(y, cv_max_points, folds, seed)
    x_cv, y_cv = x[cv_idx], y[cv_idx]
    smallest_class = int(np.unique(y_cv, return_counts=True)[1].min())
    n_folds = min(folds, smallest_class)
    if n_folds < 2:
        model = LogisticRegression(C=1.0, max_iter=max_iter, tol=tol)
        return model, 1.0, 0, fit_quietly(model, x, y, blas_threads)
    kwargs = supported_kwargs(
        LogisticRegressionCV, l1_ratios=(0.0,), scoring="accuracy", use_legacy_attributes=False
    )
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    model = LogisticRegressionCV(Cs=Cs, cv=cv, max_iter=max_iter, tol=tol, n_jobs=n_jobs, **kwargs)
    converged = fit_quietly(model, x_cv, y_cv, blas_threads)
    c = float(np.ravel(model.C_)[0])
    if cv_idx.size < y.size:  # C chosen on the sample; the probe itself sees every point
        model = LogisticRegression(C=c, max_iter=max_iter, tol=tol)
        converged &= fit_quietly(model, x, y, blas_threads)
    return model, c, n_folds, converged


def linear_probe(
    train_x,
    train_y,
    test_x,
    test_y,
    budgets: Sequence[int | None] = (10, 100, 1000, None),
    *,
    seed: int | np.random.Generator = 0,
    folds: int = 5,
    Cs: int | Sequence[float] = CS,
    max_iter: int = 100,
    tol: float = 1e-4,
    n_jobs: int | None = None,
    cv_max_points: int | None = CV_MAX_POINTS,
    blas_threads: int | None = 1,
) -> dict:
    """Test accuracy of a cross-validated logistic-regression probe at each label budget.

    ``budgets``: labelled points per class (``None`` = the whole training set). ``seed`` (int or
    Generator) draws the balanced subsets and the CV split. Returns
    ``{"10": {"accuracy", "n_train", "C", "folds", "converged"}, ..., "all": {...}}``;
    ``folds`` is 0 where the budget was too small to cross-validate. When a budget has more than
    ``cv_max_points`` points, C is cross-validated on a stratified sample of that size and the
    probe is then refitted on the whole budget (``None``: cross-validate on everything).
    ``blas_threads`` caps BLAS threads while fitting
    (``None``: library default); see ``_checks.fit_quietly`` for why 1 is the default.
    """
    x_tr = as_codes(train_x, "train_x")
    y_tr = as_labels(train_y, "train_y")
    x_te = as_codes(test_x, "test_x")
    y_te = as_labels(test_y, "test_y")
    same_n(("train_x", x_tr), ("train_y", y_tr))
    same_n(("test_x", x_te), ("test_y", y_te))
    same_width("train_x", x_tr, "test_x", x_te, "features")
    if np.unique(y_tr).size < 2:
        raise DisentangleError("train_y holds a single class; a probe needs at least 2")
    rng = as_rng(seed)
    folds = positive_int(folds, "folds", minimum=2)
    max_iter = positive_int(max_iter, "max_iter")
    tol = positive_float(tol, "tol")
    blas_threads = threads(blas_threads)
    if isinstance(Cs, (int, np.integer)):
        Cs = positive_int(Cs, "Cs")
    if cv_max_points is not None:
        cv_max_points = positive_int(cv_max_points, "cv_max_points", minimum=2)
    budgets = list(budgets)
    if not budgets:
        raise DisentangleError("budgets is empty; pass e.g. (10, 100, 1000, None)")
    for b in budgets:
        if b is not None:
            positive_int(b, "each budget")

    plan = budget_subsets(y_tr, budgets, rng)
    fitted = {label: probe_budget(x_tr, y_tr, x_te, y_te, subset, split_seed, folds=folds, Cs=Cs,
                                  max_iter=max_iter, tol=tol, n_jobs=n_jobs,
                                  cv_max_points=cv_max_points, blas_threads=blas_threads)
              for label, subset, split_seed, first in plan if first == label}
    return {label: dict(fitted[first]) for label, _, _, first in plan}


def budget_subsets(train_y: np.ndarray, budgets: Sequence[int | None],
                   seed: int | np.random.Generator = 0) -> list[tuple[str, np.ndarray, int, str]]:
    """Each budget's label, its balanced training subset, its CV split seed, and the label of the
    first budget with that very subset: itself, or the one whose fit it reuses.

    Drawn in budget order from one generator, so fitting the budgets apart (eval spreads them
    over worker processes) gives what ``linear_probe`` gives fitting them in turn.
    """
    rng = as_rng(seed)
    plan = []
    for budget in budgets:
        label, subset = _budget_label(budget), _balanced_subset(train_y, budget, rng)
        # With 10 balanced classes, 1,000 per class *is* the whole 10,000-point set: one fit.
        first = next((lb for lb, s, _, _ in plan if np.array_equal(s, subset)), label)
        plan.append((label, subset, int(rng.integers(2**31 - 1)), first))
    return plan


def fit_cost(classes: int, width: int, points: int) -> int:
    """How long ``probe_budget`` takes with its defaults, up to a constant: ``CS`` fits on at
    most ``CV_MAX_POINTS`` points, then one on all of them, each about classes × width per point.
    eval orders its fits by it, costliest first, so the workers finish together."""
    return classes * width * (CS * min(points, CV_MAX_POINTS) + points)


def tagged_probe_budget(tag, *args, **kwargs) -> tuple:
    """``(tag, probe_budget(...))``: which job a result of an unordered parallel run belongs to.
    Here, not beside its caller in the pipeline, so that a worker process unpickling it imports
    numpy and scikit-learn only, not torch (seconds per worker per eval)."""
    return tag, probe_budget(*args, **kwargs)


def probe_budget(x_tr, y_tr, x_te, y_te, subset: np.ndarray, split_seed: int, *, folds: int = 5,
                 Cs: int | Sequence[float] = CS, max_iter: int = 100, tol: float = 1e-4,
                 n_jobs: int | None = None, cv_max_points: int | None = CV_MAX_POINTS,
                 blas_threads: int | None = 1) -> dict:
    """One budget of ``linear_probe``: the probe trained on ``x_tr[subset]``, scored on the test
    set. Takes arrays ``linear_probe`` has already checked."""
    x, y = x_tr[subset], y_tr[subset]
    x, x_eval = standardise(x, x_te)
    basis = _row_space(x)
    if basis is not None:
        x, x_eval = x @ basis, x_eval @ basis
    # float32 halves the memory traffic that dominates lbfgs on wide features; the accuracy is
    # unaffected at the solver's tolerance.
    x, x_eval = x.astype(np.float32), x_eval.astype(np.float32)
    model, c, used_folds, converged = _fit_probe(
        x, y, folds, Cs, max_iter, tol, n_jobs, split_seed, cv_max_points, blas_threads
    )
    return {
        "accuracy": float(np.mean(model.predict(x_eval) == y_te)),
        "n_train": int(subset.size),
        "C": c,
        "folds": used_folds,
        "converged": converged,
    }
