"""`disentangle eval` shows its stages on stderr (unless quiet), and `--quick` does what it says."""

import json

import pytest

from disentangle.evaluation.pipeline import QUICK, EvalConfig
from tests.conftest import run_cli

FAST_RUN = ("--backbone", "tiny", "--steps", "2", "--batch-size", "16", "--quiet")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32",
                   "--out", root / "shapes", *FAST_RUN, cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "shapes"


def test_progress_names_every_stage_on_stderr_and_quiet_silences_it(run):
    args = ("eval", run, "--quick", "--n", "300", "--intervention-points", "100",
            "--intervention-pool", "1000")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    for stage in ("encode", "mi_lower_bound", "dci", "intervention pool", "factor_vae",
                  "beta_vae"):
        assert stage in done.stderr, stage
    assert "wrote" in done.stdout
    quiet = run_cli(*args, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    as_json = run_cli(*args, "--json")
    assert as_json.returncode == 0 and as_json.stderr == ""
    result = json.loads(as_json.stdout)
    assert set(result["timings_s"]) == set(result["cpu_s"]) >= {"encode", "intervention pool"}
    assert "sap_raw" in result["disentanglement"] and "raw codes" in result["definitions"]["sap_raw"]
    assert "random_forest: not comparable" in result["definitions"]["dci"]  # --quick's DCI


def test_quick_applies_its_profile_and_flags_given_win(run):
    done = run_cli("eval", run, "--quick", "--bound-samples", "200", "--json")
    assert done.returncode == 0, done.stderr
    used = json.loads(done.stdout)["eval_config"]
    assert used["bound_samples"] == 200  # the flag, not the profile's
    for key in ("n", "intervention_points", "intervention_pool", "dci_model"):
        assert used[key] == QUICK[key], key
    assert used["budgets"] == [10, 100, None]
    assert used["train_points"] == EvalConfig().train_points  # --quick caps it through n, so
    #                                                           --quick --n 5000 scores 5,000 of each
    done = run_cli("eval", run, "--quick", "--probe", "--intervention-pool", "500", "--json")
    assert done.returncode == 0, done.stderr
    assert all(set(p) == {"codes"} for p in json.loads(done.stdout)["probe_factors"].values())


def test_fresh_rendering_is_still_available(run):
    done = run_cli("eval", run, "--n", "200", "--bound-samples", "100", "--dci-model",
                   "random_forest", "--intervention-points", "20", "--intervention-pool", "0",
                   "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "rendered afresh" in result["definitions"]["interventions"]
    assert 0 <= result["disentanglement"]["factor_vae"] <= 1

