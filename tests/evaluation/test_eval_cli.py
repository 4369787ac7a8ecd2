"""`disentangle eval` and `disentangle compare` end to end through the real CLI, on real runs."""

import json

import h5py
import pytest

from tests.conftest import run_cli

FAST_RUN = ("--backbone", "tiny", "--steps", "3", "--batch-size", "16", "--quiet")
FAST_EVAL = ("--n", "200", "--bound-samples", "200", "--json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    for method in ("infogan", "gan"):
        done = run_cli("run", method, "--dataset", "digits", "--out", root / f"digits-{method}",
                       *FAST_RUN, cwd=root)
        assert done.returncode == 0, done.stderr
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32",
                   "--out", root / "shapes-infogan", *FAST_RUN, cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def test_eval_on_digits_writes_every_applicable_key(runs):
    run = runs / "digits-infogan"
    done = run_cli("eval", run, "--probe", *FAST_EVAL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == json.loads((run / "eval.json").read_text())
    c1 = result["codes"]["c1"]
    assert c1["type"] == "categorical:10" and c1["entropy"] == pytest.approx(2.302585, abs=1e-6)
    assert c1["mi_lower_bound"] <= c1["entropy"] + 1e-6  # a lower bound on MI cannot pass H(c)
    assert result["codes"]["c2"]["differential"] is True
    assert 0.1 <= result["cluster_accuracy"] <= 1 and 0 <= result["nmi"] <= 1
    for kind in ("codes", "features", "pixels"):
        assert 0 <= result["probe"][kind]["accuracy"] <= 1
    assert result["probe"]["pixels"]["accuracy"] > 0.5  # raw digits are linearly separable
    assert "disentanglement" not in result and "mi_matrix" not in result  # digits has no factors
    assert "probe_factors" not in result
    with h5py.File(run / "encoded.h5") as f:
        assert f["test/codes/c1"].shape == (200, 1) and f["test/labels"].shape == (200,)
        assert f["test/features"].shape[0] == 200
    assert (run / "confusion.png").stat().st_size > 0


def test_eval_on_shapes_scores_disentanglement(runs):
    run = runs / "shapes-infogan"
    done = run_cli("eval", run, "--probe", *FAST_EVAL, "--intervention-points", "40",
                   "--intervention-pool", "500", "--dci-model", "random_forest")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "cluster_accuracy" not in result and "probe" not in result  # no class labels
    probes = result["probe_factors"]  # one probe per ground-truth factor instead
    assert list(probes) == ["shape", "scale", "orientation", "posX", "posY"]
    for factor in probes.values():
        assert set(factor) == {"codes", "features", "pixels"}
        assert all(0 <= p["accuracy"] <= 1 and "all" in p["budgets"] for p in factor.values())
    # a blob's position is a linear read-out of its pixels; chance is 1/32
    assert probes["posX"]["pixels"]["accuracy"] > 3 / 32
    matrix = result["mi_matrix"]
    assert matrix["factors"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert len(matrix["nats"]) == len(matrix["codes"]) == 5
    scores = result["disentanglement"]
    for key in ("mig", "sap", "factor_vae", "beta_vae", "modularity", "explicitness"):
        assert 0 <= scores[key] <= 1, key
    assert set(scores["dci"]) == {"disentanglement", "completeness", "informativeness"}
    assert (run / "mi_matrix.png").stat().st_size > 0


def test_eval_defaults_to_the_latest_run_and_compare_shows_both(runs):
    assert run_cli("run", "gan", *FAST_RUN, cwd=runs).returncode == 0  # into ./runs/, digits
    latest = run_cli("eval", "--n", "100", "--bound-samples", "100", "--json", cwd=runs)
    assert latest.returncode == 0, latest.stderr
    (default_run,) = (runs / "runs").iterdir()
    assert json.loads(latest.stdout)["run"] == str(default_run.relative_to(runs))
    for method in ("infogan", "gan"):
        assert run_cli("eval", runs / f"digits-{method}", "--probe", *FAST_EVAL).returncode == 0
    done = run_cli("compare", runs / "digits-infogan", runs / "digits-gan")
    assert done.returncode == 0, done.stderr
    assert "infogan" in done.stdout and "gan" in done.stdout and "cluster accuracy" in done.stdout
    table = json.loads(run_cli("compare", runs / "digits-infogan", runs / "digits-gan",
                               "--json").stdout)
    assert set(table) == {str(runs / "digits-infogan"), str(runs / "digits-gan")}


def test_eval_and_compare_errors_are_one_line(tmp_path):
    done = run_cli("eval", tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: '{tmp_path}' is not a run directory (no config.json); give the --out of a "
        "`disentangle run`"]
    done = run_cli("compare", tmp_path)
    assert done.returncode == 1 and "no eval.json" in done.stderr and "Traceback" not in done.stderr


def test_eval_rejects_an_unknown_device_in_one_line(runs):
    done = run_cli("eval", runs / "digits-infogan", "--device", "tpu")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --device tpu: unknown device; use auto, cpu or cuda"]
