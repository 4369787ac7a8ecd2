"""Known answers for MIG, DCI, SAP, modularity and explicitness on constructed codes."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from disentangle.evaluation import dci, explicitness, mi_matrix, mig, modularity, sap
from tests.conftest import run_cli

SIZES = (3, 3, 3)  # 1-D linear SVMs separate 3 ordered classes; more would cap SAP below 1


def _factors(rng, n, sizes=SIZES):
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


@pytest.fixture(scope="module")
def perfect():
    rng = np.random.default_rng(1)
    ft, fe = _factors(rng, 600), _factors(rng, 300)
    return ft.astype(float), ft, fe.astype(float), fe


@pytest.fixture(scope="module")
def noise():
    rng = np.random.default_rng(2)
    ft, fe = _factors(rng, 600), _factors(rng, 300)
    return rng.normal(size=(600, 3)), ft, rng.normal(size=(300, 3)), fe


@pytest.fixture(scope="module")
def mixed():
    """Noisy codes: 3 informative dims (one per factor, some leakage) and one nuisance dim."""
    rng = np.random.default_rng(3)

    def make(n):
        f = _factors(rng, n)
        c = np.concatenate([f + 0.4 * rng.normal(size=f.shape), rng.normal(size=(n, 1))], axis=1)
        c[:, 1] += 0.3 * f[:, 0]
        return c, f

    ct, ft = make(600)
    ce, fe = make(300)
    return ct, ft, ce, fe


# ---- codes == factors -------------------------------------------------------------------------

def test_perfect_codes(perfect):
    ct, ft, ce, fe = perfect
    assert mig(ct, ft)["score"] == pytest.approx(1.0, abs=0.02)  # 1 minus finite-sample MI bias
    r = dci(ct, ft, ce, fe)
    assert r["disentanglement"] == pytest.approx(1.0, abs=1e-6)
    assert r["completeness"] == pytest.approx(1.0, abs=1e-6)
    assert r["informativeness"] == 1.0
    s = sap(ct, ft, ce, fe)
    np.testing.assert_array_equal(np.diag(s["score_matrix"]), 1.0)
    # best dim is perfect, the others are at chance (1/3): the largest gap 3 classes allow
    assert s["score"] == pytest.approx(2 / 3, abs=0.08)
    assert modularity(mi_matrix(ct, ft))["score"] == pytest.approx(1.0, abs=1e-3)
    assert explicitness(ct, ft, ce, fe)["score"] > 0.99


def test_noise_codes(noise):
    ct, ft, ce, fe = noise
    assert mig(ct, ft)["score"] < 0.02
    r = dci(ct, ft, ce, fe)
    assert r["disentanglement"] < 0.1
    assert r["informativeness"] < 0.45  # chance is 1/3
    assert abs(sap(ct, ft, ce, fe)["score"]) < 0.05
    assert explicitness(ct, ft, ce, fe)["score"] == pytest.approx(0.5, abs=0.06)


# ---- invariances -------------------------------------------------------------------------------

def test_permutation_and_positive_affine_invariance(mixed):
    ct, ft, ce, fe = mixed
    perm = np.array([2, 0, 3, 1])
    scale = np.array([0.01, 3.0, 250.0, 0.5])
    shift = np.array([-4.0, 100.0, 0.3, 7.0])
    ct2, ce2 = ct[:, perm] * scale + shift, ce[:, perm] * scale + shift

    a, b = mig(ct, ft), mig(ct2, ft)
    assert b["score"] == pytest.approx(a["score"], abs=1e-9)
    np.testing.assert_allclose(b["mi"], a["mi"][perm], atol=1e-9)

    a, b = modularity(mi_matrix(ct, ft)), modularity(mi_matrix(ct2, ft))
    assert b["score"] == pytest.approx(a["score"], abs=1e-9)

    a, b = sap(ct, ft, ce, fe), sap(ct2, ft, ce2, fe)
    assert b["score"] == pytest.approx(a["score"], abs=1e-9)
    np.testing.assert_allclose(b["score_matrix"], a["score_matrix"][perm], atol=1e-9)

    a, b = dci(ct, ft, ce, fe), dci(ct2, ft, ce2, fe)
    for key in ("disentanglement", "completeness", "informativeness"):
        assert b[key] == pytest.approx(a[key], abs=0.02), key
    np.testing.assert_allclose(b["importance_matrix"], a["importance_matrix"][perm], atol=0.05)


def test_sap_without_standardisation_is_disentanglement_lib_and_scale_dependent(mixed):
    ct, ft, ce, fe = mixed
    raw = sap(ct, ft, ce, fe, standardize=False)["score"]
    shrunk = sap(ct * 1e-3, ft, ce * 1e-3, fe, standardize=False)["score"]
    assert shrunk < raw - 0.1  # why standardize=True is our default


# ---- hand-computed cases -----------------------------------------------------------------------

def test_hand_computed_mig():
    v = np.array([[0], [0], [1], [1]])
    codes = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 1, 1]], dtype=float)
    # MI(c0; v) = ln 2, MI(c1; v) = 0.5 ln(4/3) + 0.25 ln(2/3) + 0.25 ln 2, MI(c2; v) = 0
    mi1 = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    r = mig(codes, v)
    np.testing.assert_allclose(r["mi"][:, 0], [math.log(2), mi1, 0.0], atol=1e-12)
    assert r["score"] == pytest.approx((math.log(2) - mi1) / math.log(2), rel=1e-12)


def test_duplicated_code_has_zero_gap():
    rng = np.random.default_rng(4)
    f = _factors(rng, 2000, (4, 5))
    codes = np.stack([f[:, 0], f[:, 0], f[:, 1]], axis=1) + 0.01 * rng.normal(size=(2000, 3))
    per_factor = mig(codes, f)["per_factor"]
    assert per_factor[0] == pytest.approx(0.0, abs=1e-9)
    assert per_factor[1] > 0.95


class _FixedImportance:
    """A stand-in classifier: importances = column j of R for factor j (labels 10j, 10j+1)."""

    R = np.array([[1.0, 0.0], [1.0, 1.0]])

    def fit(self, x, y):
        self.feature_importances_ = self.R[:, int(y.min()) // 10]
        self._label = y.min()
        return self

    def predict(self, x):
        return np.full(x.shape[0], self._label)


def test_hand_computed_dci_from_importances():
    rng = np.random.default_rng(5)
    f = np.stack([rng.integers(0, 2, 50), 10 + rng.integers(0, 2, 50)], axis=1)
    r = dci(rng.normal(size=(50, 2)), f, rng.normal(size=(50, 2)), f, model=_FixedImportance)
    # rows: code 0 -> (1, 0), 1 - H = 1, weight 1/3; code 1 -> (1/2, 1/2), 1 - H = 0, weight 2/3
    # cols: factor 0 -> (1/2, 1/2), 0, weight 2/3; factor 1 -> (0, 1), 1, weight 1/3
    assert r["disentanglement"] == pytest.approx(1 / 3, abs=1e-8)
    assert r["completeness"] == pytest.approx(1 / 3, abs=1e-8)
    np.testing.assert_allclose(r["importance_matrix"], _FixedImportance.R)
    assert r["definition"].startswith("_FixedImportance: not comparable")


def test_dci_random_forest_option_and_parallel(mixed):
    ct, ft, ce, fe = mixed
    serial = dci(ct, ft, ce, fe, model="random_forest")
    parallel = dci(ct, ft, ce, fe, model="random_forest", n_jobs=2)
    assert parallel["disentanglement"] == pytest.approx(serial["disentanglement"], abs=1e-12)
    gbt = dci(ct, ft, ce, fe)  # the fast option approximates the default, it does not equal it
    for key in ("disentanglement", "completeness", "informativeness"):
        assert serial[key] == pytest.approx(gbt[key], abs=0.1), key
    # each says which classifier it fit (eval.json's definitions)
    assert serial["definition"].startswith("random_forest: not comparable")
    assert gbt["definition"].endswith("GradientBoostingClassifier(), scikit-learn's trees")


def test_dci_reports_each_factor_as_it_finishes(mixed):
    ct, ft, ce, fe = mixed
    for n_jobs in (None, 2):
        calls = []
        dci(ct, ft, ce, fe, model="random_forest", n_jobs=n_jobs, progress=calls.append)
        assert calls == [1] * ft.shape[1]


def test_hand_computed_modularity():
    assert modularity(np.array([[1.0, 0.0], [1.0, 1.0]]))["score"] == pytest.approx(0.5)
    # squares (4, 1, 1): delta = (6 - 4) / (4 * 2) = 0.25
    assert modularity(np.array([[2.0, 1.0, 1.0]]))["score"] == pytest.approx(0.75)
    r = modularity(np.array([[0.0, 0.0], [3.0, 0.0]]))  # an uninformative dim scores 0
    np.testing.assert_allclose(r["per_code"], [0.0, 1.0])


def test_a_factor_with_one_value_is_left_out_and_changes_no_number(tmp_path):
    """dSprites' colour takes one value: MIG refused the whole eval. Left out of every factor
    measure, a dataset with it scores exactly what the same dataset without it scores."""
    env = {"PYTHONPATH": str(Path(__file__).parent), "DISENTANGLE_PLUGINS": "dots_plugin"}
    results = {}
    for dataset in ("dots", "dots-colour"):
        run = tmp_path / dataset
        done = run_cli("run", "infogan", "--dataset", dataset, "--steps", "3", "--threads", "1",
                       "--quiet", "--out", run, env=env)
        assert done.returncode == 0, done.stderr
        done = run_cli("eval", run, "--quick", "--json", "--quiet", env=env)
        assert done.returncode == 0, done.stderr
        results[dataset] = json.loads(done.stdout)
    plain, coloured = results["dots"], results["dots-colour"]
    assert coloured["factors_left_out"] == ["colour"] and "factors_left_out" not in plain
    assert coloured["mi_matrix"] == plain["mi_matrix"] and coloured["mi_matrix"]["factors"] == [
        "x", "y"]
    assert coloured["disentanglement"] == plain["disentanglement"]


# --- known answers that tell a formula from its near misses (from a mutation audit) -------------

def test_mig_discretises_into_20_bins_by_default():
    """A code equal to a 20-value factor is perfectly informative only with dl's 20 bins: with
    10 it would score ln 10 / ln 20 = 0.769."""
    v = np.repeat(np.arange(20), 5)
    codes = np.stack([v.astype(float), np.zeros(100)], 1)
    assert mig(codes, v[:, None])["score"] == pytest.approx(1.0, abs=1e-12)


class _OneFactorImportance(_FixedImportance):
    R = np.array([[1.0, 0.0], [1.0, 0.0]])  # both codes explain factor 0, none factor 1


def test_dci_tells_disentanglement_from_completeness():
    """Two codes that both explain one factor: each code is about one factor (D = 1), but the
    factor is spread over two codes (C = 0). A matrix with D = C cannot tell R from its
    transpose."""
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, 2, 50), 10 + rng.integers(0, 2, 50)], 1)
    r = dci(rng.normal(size=(50, 2)), f, rng.normal(size=(50, 2)), f, model=_OneFactorImportance)
    assert r["disentanglement"] == pytest.approx(1.0, abs=1e-8)
    assert r["completeness"] == pytest.approx(0.0, abs=1e-8)


class _FixedLinear:
    def fit(self, x, y):
        self.coef_, self.label = np.array([[1.0, 0.0], [0.0, -3.0], [0.0, 0.0]]), y.min()
        return self

    def predict(self, x):
        return np.full(len(x), self.label)


def test_dci_reads_a_linear_models_importance_as_abs_coef_summed_over_classes():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 3, (60, 1))
    r = dci(rng.normal(size=(60, 2)), f, rng.normal(size=(60, 2)), f, model=_FixedLinear)
    np.testing.assert_allclose(r["importance_matrix"][:, 0], [1.0, 3.0])


def _duplicated_code():
    """Codes [f, f, noise] for a 3-value factor: the top two dimensions predict it equally."""
    rng = np.random.default_rng(0)
    f_train, f_test = np.repeat(np.arange(3), 200)[:, None], np.repeat(np.arange(3), 100)[:, None]
    c_train = np.concatenate([f_train, f_train, rng.normal(size=(600, 1))], 1).astype(float)
    c_test = np.concatenate([f_test, f_test, rng.normal(size=(300, 1))], 1).astype(float)
    return c_train, f_train, c_test, f_test


def test_sap_is_the_gap_between_the_top_two_not_the_top_and_the_last():
    assert sap(*_duplicated_code())["score"] == pytest.approx(0.0, abs=1e-12)  # top-last: ~0.7


def test_sap_standardises_the_test_codes_with_the_training_statistics():
    """Test codes shifted by 100 fall outside every training threshold: chance (1/3), not the
    perfect score a test set standardised by its own mean would get."""
    c_train, f_train, c_test, f_test = _duplicated_code()
    np.testing.assert_allclose(sap(c_train, f_train, c_test + 100, f_test)["score_matrix"][:2, 0],
                               1 / 3)


def test_raw_sap_is_disentanglement_libs_balanced_linear_svm_with_c_001():
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(3)
    f = np.stack([rng.choice(3, 400, p=[.8, .15, .05]), rng.integers(0, 3, 400)], 1)
    c = np.concatenate([f + 0.3 * rng.normal(size=f.shape), rng.normal(size=(400, 1))], 1)
    c_train, f_train, c_test, f_test = c[:300], f[:300], c[300:], f[300:]
    expected = np.zeros((3, 2))
    for i in range(3):
        for j in range(2):
            svm = LinearSVC(C=0.01, class_weight="balanced").fit(c_train[:, [i]], f_train[:, j])
            expected[i, j] = np.mean(svm.predict(c_test[:, [i]]) == f_test[:, j])
    top = np.sort(expected, axis=0)[::-1]
    ours = sap(c_train, f_train, c_test, f_test, standardize=False)
    np.testing.assert_allclose(ours["score_matrix"], expected)
    assert ours["score"] == pytest.approx(float(np.mean(top[0] - top[1])))


def test_explicitness_is_scored_on_the_test_split():
    """30 training points of 20 noise dimensions are fit almost perfectly; held out, noise is
    at chance (an AUC of 0.5)."""
    rng = np.random.default_rng(0)
    x_train, y_train = rng.normal(size=(30, 20)), rng.integers(0, 2, (30, 1))
    x_test, y_test = rng.normal(size=(2000, 20)), rng.integers(0, 2, (2000, 1))
    result = explicitness(x_train, y_train, x_test, y_test)
    assert result["score_train"] > 0.9 and result["score"] == pytest.approx(0.5, abs=0.05)
