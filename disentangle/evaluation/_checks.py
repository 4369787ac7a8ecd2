"""Input validation and quiet model fitting shared by the metric modules.

Metrics are usually called at the end of a long training run; a shape mistake that surfaces as a
NumPy broadcasting error (or, worse, as a silently wrong score) wastes that run. Every public
function therefore validates what it is given up front and raises one ``DisentangleError`` with a
message naming the argument, its shape and what was expected.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

import numpy as np

from disentangle.errors import DisentangleError


GAP_DIMS = 2  # MIG and SAP score the gap between a factor's two best code dimensions


def needs_gap(codes: np.ndarray, metric: str) -> None:
    if codes.shape[1] < GAP_DIMS:
        raise DisentangleError(f"{metric} needs at least {GAP_DIMS} code dimensions (it is a gap "
                               "between the top two)")


def as_codes(x, name: str = "codes") -> np.ndarray:
    """A finite, non-empty (N, D) float64 array; codes are continuous so anything numeric goes."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DisentangleError(f"{name} must be a numeric (N, D) array: {exc}") from None
    if arr.ndim != 2:
        raise DisentangleError(
            f"{name} must be 2-D (N points, D dims); got shape {arr.shape}"
            + (" (use x[:, None] for a single dimension)" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DisentangleError(f"{name} is empty: shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DisentangleError(f"{name} contains NaN or infinite values")
    return arr


def _as_int(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DisentangleError(
                f"{name} must hold integer class indices; got non-integer values"
            )
        return arr.astype(np.int64)
    raise DisentangleError(f"{name} must hold integer class indices; got dtype {arr.dtype}")


def as_factors(y, name: str = "factors") -> np.ndarray:
    """A non-empty (N, K) int64 array of class indices (integer-valued floats are accepted)."""
    arr = np.asarray(y)
    if arr.ndim != 2:
        raise DisentangleError(
            f"{name} must be 2-D (N points, K factors); got shape {arr.shape}"
            + (" (use y[:, None] for a single factor)" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DisentangleError(f"{name} is empty: shape {arr.shape}")
    return _as_int(arr, name)


def as_labels(y, name: str = "labels") -> np.ndarray:
    """A non-empty 1-D int64 label vector. One column (N, 1), as `TrainedRun.encode` gives a
    categorical code's class index, is taken as the vector it holds."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DisentangleError(f"{name} must be 1-D (N,) or one column (N, 1); got shape "
                               f"{arr.shape}")
    if arr.shape[0] == 0:
        raise DisentangleError(f"{name} is empty")
    return _as_int(arr, name)


def same_n(*pairs: tuple[str, np.ndarray]) -> None:
    """All arrays describe the same N points."""
    sizes = {name: a.shape[0] for name, a in pairs}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{n} has {s}" for n, s in sizes.items())
        raise DisentangleError(f"arrays must have the same number of points (rows): {listed}")


def same_width(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, what: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise DisentangleError(
            f"{a_name} and {b_name} must have the same number of {what}: "
            f"{a.shape[1]} != {b.shape[1]}"
        )


def check_multiclass(factors: np.ndarray, name: str = "factors_train") -> None:
    """A classifier cannot be trained on a factor that takes one value."""
    for k in range(factors.shape[1]):
        if np.unique(factors[:, k]).size < 2:
            raise DisentangleError(
                f"factor {k} of {name} takes a single value; drop constant factors "
                "(e.g. dSprites' colour) before scoring"
            )


def train_test(codes_train, factors_train, codes_test, factors_test):
    """Checked (codes_train, factors_train, codes_test, factors_test) for the fitted metrics."""
    x_tr = as_codes(codes_train, "codes_train")
    y_tr = as_factors(factors_train, "factors_train")
    x_te = as_codes(codes_test, "codes_test")
    y_te = as_factors(factors_test, "factors_test")
    same_n(("codes_train", x_tr), ("factors_train", y_tr))
    same_n(("codes_test", x_te), ("factors_test", y_te))
    same_width("codes_train", x_tr, "codes_test", x_te, "code dimensions")
    same_width("factors_train", y_tr, "factors_test", y_te, "factors")
    check_multiclass(y_tr)
    return x_tr, y_tr, x_te, y_te


def standardise(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """`train`'s columns to zero mean and unit variance (a constant column: centred only), and
    `others` by train's statistics, so a model fit on train scores test in the same units."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple((a - mean) / std for a in (train, *others))


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DisentangleError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def threads(value, name: str = "blas_threads") -> int | None:
    return None if value is None else positive_int(value, name)


def positive_float(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DisentangleError(f"{name} must be a positive number; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise DisentangleError(f"{name} must be a positive number; got {value!r}")
    return v


def as_factor_sizes(factor_sizes: Sequence[int]) -> np.ndarray:
    try:
        sizes = np.asarray(factor_sizes)
    except (TypeError, ValueError):
        raise DisentangleError(
            f"factor_sizes must be a sequence of ints; got {factor_sizes!r}"
        ) from None
    if sizes.ndim != 1 or sizes.size == 0:
        raise DisentangleError(
            f"factor_sizes must be a non-empty 1-D sequence; got {factor_sizes!r}"
        )
    if not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
        raise DisentangleError(f"factor_sizes must be positive integers; got {factor_sizes!r}")
    return sizes.astype(np.int64)


def as_rng(rng) -> np.random.Generator:
    """Accept a Generator, a legacy RandomState (disentanglement_lib's habit) or an integer seed.

    A RandomState is turned into a Generator seeded from one draw of it, so the caller's state
    still advances and the result stays a deterministic function of it.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(int(rng.randint(0, 2**31 - 1)))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise DisentangleError(
        "rng must be a numpy.random.Generator, a RandomState or an integer seed; "
        f"got {type(rng).__name__}"
    )


def fit_quietly(model, x, y, blas_threads: int | None = 1) -> bool:
    """Fit ``model`` and say whether it converged, instead of letting sklearn warn.

    Metric classifiers follow disentanglement_lib's iteration limits, which often stop short of
    convergence; a ConvergenceWarning per factor floods logs (and fails test suites that turn
    warnings into errors). The flag goes into the result dict so nothing is hidden. Other
    warnings are re-emitted untouched.

    ``blas_threads`` caps BLAS threads during the fit (``None``: leave them alone). lbfgs makes
    many small BLAS calls per iteration; on a busy 2-core machine each multi-threaded call waits
    for a free core, which made scipy's L-BFGS-B ~30x slower per iteration (7 ms vs 0.2 ms) and
    the 10,000 x 1,024 probe ~2.5x slower overall in our measurements.
    """
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with warnings.catch_warnings(record=True) as caught, threadpool_limits(
        limits=blas_threads, user_api="blas"
    ):
        warnings.simplefilter("always")
        model.fit(x, y)
    converged = True
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            converged = False
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return converged


def supported_kwargs(cls, **kwargs) -> dict:
    """Keep only the constructor arguments this scikit-learn version knows.

    scikit-learn 1.8 deprecated ``penalty`` and the implicit defaults of LogisticRegressionCV
    (``l1_ratios``, ``scoring``, ``use_legacy_attributes``) with FutureWarnings; older versions
    reject the new names. Passing only what the installed version understands keeps both quiet.
    """
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kwargs.items() if k in params}
