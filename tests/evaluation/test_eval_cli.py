"""`disentangle eval` and `disentangle compare` end to end through the real CLI, on real runs."""

import json
import shutil

import h5py
import numpy as np
import pytest

from disentangle import evaluation as ev
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
    training_traversal = (run / "traversal-c1.png").read_bytes()
    done = run_cli("eval", run, "--probe", *FAST_EVAL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # eval redrew c1's traversal in matched-class order (the order itself: test_artefacts.py)
    assert (run / "traversal-c1.png").read_bytes() != training_traversal
    assert result["codes"]["c1"]["reachable_bound"] == pytest.approx(2.302585, abs=1e-6)
    assert result == json.loads((run / "eval.json").read_text())
    assert "in_sample" not in result and "note:" not in done.stderr  # the test split: held out
    c1 = result["codes"]["c1"]
    assert c1["type"] == "categorical:10" and c1["entropy"] == pytest.approx(2.302585, abs=1e-6)
    assert c1["mi_lower_bound"] <= c1["entropy"] + 1e-6  # a lower bound on MI cannot pass H(c)
    assert result["codes"]["c2"]["differential"] is True
    with h5py.File(run / "encoded.h5") as f:  # the scores are those of the codes it saved
        pred, labels = f["test/probs/c1"][:].argmax(1), f["test/labels"][:]
    assert result["cluster_accuracy"] == ev.cluster_accuracy(pred, labels)
    assert result["nmi"] == ev.label_mi(pred, labels)["nmi"]
    assert result["generator_cluster_accuracy"] == c1["generator_cluster_accuracy"]
    assert 0.1 <= c1["generator_cluster_accuracy"] <= 1 and "generator clusters" in \
        result["timings_s"]
    for kind in ("codes", "features", "pixels"):
        assert 0 <= result["probe"][kind]["accuracy"] <= 1
    assert result["probe"]["pixels"]["accuracy"] > 0.5  # raw digits are linearly separable
    # 784 pixels probed on their top 128 principal components; the tiny D's 64 features as such
    assert result["probe_inputs"]["pixels"]["width"] == 784
    assert result["probe_inputs"]["pixels"]["components"] == 128
    assert 0 < result["probe_inputs"]["pixels"]["variance_kept"] < 1
    assert result["probe_inputs"]["features"] == {"width": 64, "components": 64,
                                                  "variance_kept": 1.0}
    assert "disentanglement" not in result and "mi_matrix" not in result  # digits has no factors
    assert "probe_factors" not in result
    with h5py.File(run / "encoded.h5") as f:
        assert f["test/codes/c1"].shape == (200, 1) and f["test/labels"].shape == (200,)
        assert f["test/features"].shape[0] == 200
        assert f.attrs["step"] == result["step"] == 3  # stamped: it goes with this eval.json
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert (run / "confusion.png").stat().st_size > 0


def test_probe_dims_zero_probes_at_full_width(runs):
    done = run_cli("eval", runs / "digits-infogan", "--probe", "--probe-dims", "0", "--no-mi",
                   *FAST_EVAL)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["probe_inputs"]["pixels"] == {"width": 784, "components": 784,
                                                "variance_kept": 1.0}
    assert result["eval_config"]["probe_dims"] is None


def test_probe_max_iter_reaches_every_fit(runs):
    """One lbfgs iteration converges no probe; the default converges some (the codes'), so the
    flag is what each fit ran with."""
    converged = {}
    for extra in ((), ("--probe-max-iter", "1")):
        done = run_cli("eval", runs / "digits-infogan", "--probe", "--no-mi", *extra, *FAST_EVAL)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        converged[extra] = [fit["converged"] for kind in result["probe"].values()
                            for fit in kind["budgets"].values()]
    assert any(converged[()]) and not any(converged[("--probe-max-iter", "1")])
    assert result["eval_config"]["probe_max_iter"] == 1


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
    for key in ("sap", "factor_vae", "beta_vae", "explicitness"):
        assert 0 <= scores[key] <= 1, key
    with h5py.File(run / "encoded.h5") as f:  # MIG and modularity of the codes it saved
        names = list(f["test"].attrs["code_names"])
        codes = np.concatenate([f[f"test/codes/{n}"][:] for n in names], axis=1)
        factors = f["test/factors"][:]
    assert scores["mig"] == ev.mig(codes, factors)["score"]
    assert scores["modularity"] == ev.modularity(ev.mi_matrix(codes, factors))["score"]
    assert matrix["nats"] == ev.mi_matrix(codes, factors).tolist()
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


def test_eval_of_a_run_whose_plugin_is_gone_names_the_config_and_the_component(runs):
    run = runs / "digits-infogan"
    done = run_cli("eval", run, env={"DISENTANGLE_DISABLE_PLUGINS": "datasets"})
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {run / 'config.json'} needs dataset 'digits', which no loaded "
                           "plugin provides")
    assert "--code" not in line and "disentangle plugins" in line
    done = run_cli("eval", run, env={"DISENTANGLE_DISABLE_PLUGINS": "infogan"})
    assert done.returncode == 1 and done.stderr.strip().splitlines()[0].startswith(
        f"error: {run / 'config.json'} needs method 'infogan', which no loaded plugin provides")


def test_every_option_is_checked_before_any_work(runs, tmp_path):
    run = tmp_path / "shapes"  # a copy that no other test has evaluated
    shutil.copytree(runs / "shapes-infogan", run,
                    ignore=shutil.ignore_patterns("eval.json", "encoded.h5", "*matrix.png"))
    done = run_cli("eval", run, "--dci-model", "svm")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --dci-model svm: unknown model; use one of gbt, random_forest"]
    done = run_cli("eval", run, "--split", "validation")
    assert done.returncode == 1 and "has no split 'validation'" in done.stderr
    # a pool too small for the interventions failed only after every other metric
    done = run_cli("eval", run, "--intervention-pool", "200")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: --intervention-pool 200: the pool holds 1 point(s) with factor 2 = 6 (of 40 "
        "values), and every value needs two; give a larger pool (the default is 10000) or 0 to "
        "render every batch afresh"]
    assert not (run / "encoded.h5").exists() and not (run / "eval.json").exists()


def test_compare_json_gives_numbers(runs):
    for method in ("infogan", "gan"):
        if not (runs / f"digits-{method}" / "eval.json").is_file():
            assert run_cli("eval", runs / f"digits-{method}", "--probe", *FAST_EVAL).returncode == 0
    done = run_cli("compare", runs / "digits-infogan", runs / "digits-gan", "--json")
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    infogan = table[str(runs / "digits-infogan")]
    saved = json.loads((runs / "digits-infogan" / "eval.json").read_text())
    assert infogan["c1 cluster accuracy"] == saved["codes"]["c1"]["cluster_accuracy"]
    assert infogan["c1 generator cluster accuracy"] == \
        saved["codes"]["c1"]["generator_cluster_accuracy"]
    assert infogan["c1 categorical:10: L_I / H"] == {"L_I": saved["codes"]["c1"]["mi_lower_bound"],
                                                    "H": saved["codes"]["c1"]["entropy"]}
    c2 = infogan["c2 uniform:2: L_I bound"]
    assert c2["reachable_max"] == pytest.approx(2 * (0.693147 - 0.918939), abs=1e-5)
    probe = infogan["probe codes"]
    assert isinstance(probe["accuracy"], float) and set(probe["budgets"]) == {"10", "100", "1000",
                                                                              "all"}

    def numbers(value):
        if isinstance(value, dict):
            return all(numbers(v) for v in value.values())
        return isinstance(value, (int, float))

    assert all(numbers(v) for run in table.values() for v in run.values())


def test_eval_table_lists_each_measure_once(runs):
    done = run_cli("eval", runs / "digits-gan", "--n", "100", "--bound-samples", "100",
                   env={"COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("c1 cluster accuracy") == 1 and done.stdout.count("NMI") == 1
    assert done.stdout.count("c1 generator cluster accuracy") == 1
    assert "reachable max -0.452" in done.stdout


def test_a_run_is_evaluated_by_one_process_at_a_time_even_while_it_trains(runs, tmp_path):
    import os
    import socket

    from disentangle.training.rundir import RunDir

    run = tmp_path / "gan"
    shutil.copytree(runs / "digits-gan", run, ignore=shutil.ignore_patterns("eval.json"))
    with RunDir(run).eval_lock():  # another eval of this run is at work
        done = run_cli("eval", run, *FAST_EVAL)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: {run} is being evaluated by another disentangle process (pid {os.getpid()} on "
        f"{socket.gethostname()}); wait for it to finish or stop it"]
    assert not (run / "eval.json").exists()
    with RunDir(run).lock():  # a run that trains on can be measured at its last checkpoint
        done = run_cli("eval", run, *FAST_EVAL)
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "eval.json").read_text())["step"] == 3
    (run / "eval.json").unlink()
    (run / ".eval.lock").unlink()
    (run / ".eval.lock").mkdir()  # a run directory eval cannot write into: said before any work
    done = run_cli("eval", run, *FAST_EVAL)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: cannot write into the run directory {run} (Is a directory): make it writable or "
        "copy the run to a place you can write"]
    assert not (run / "eval.json").exists()


def test_eval_gives_each_metric_the_split_it_is_defined_on(runs, tmp_path, monkeypatch):
    """MIG on the test codes, DCI trained on train and scored on test, SAP standardised and raw
    in their own keys, FactorVAE and BetaVAE their held-out accuracy: the CLI tests only see
    numbers in [0, 1], which a swapped split gives too. Train is capped below test here, so
    the two splits differ in size."""
    from disentangle import evaluation as ev
    from disentangle.evaluation import pipeline

    run = tmp_path / "shapes"
    shutil.copytree(runs / "shapes-infogan", run, ignore=shutil.ignore_patterns("eval.json"))
    encoded, seen = [], {}
    encode = pipeline.encode

    def recording_encode(*args, **kwargs):
        encoded.append(encode(*args, **kwargs))
        return encoded[-1]

    def mig(codes, factors, **kwargs):
        seen["mig"] = codes
        return {"score": 0.5}

    def dci(codes_train, factors_train, codes_test, factors_test, **kwargs):
        seen["dci"] = codes_train, codes_test
        return {"disentanglement": 0.1, "completeness": 0.2, "informativeness": 0.3,
                "definition": "stub"}

    def votes(*args, **kwargs):
        return {"eval_accuracy": 0.25, "train_accuracy": 0.75}

    monkeypatch.setattr(pipeline, "encode", recording_encode)
    monkeypatch.setattr(ev, "mig", mig)
    monkeypatch.setattr(ev, "dci", dci)
    monkeypatch.setattr(ev, "sap", lambda *a, standardize=True, **k: {
        "score": 0.7 if standardize else 0.3})
    monkeypatch.setattr(ev, "factor_vae_score", votes)
    monkeypatch.setattr(ev, "beta_vae_score", votes)
    cfg = pipeline.EvalConfig(n=150, train_points=120, bound_samples=50, intervention_points=40,
                              intervention_pool=500)
    result = pipeline.evaluate_run(run, cfg)
    train, test = encoded[0].flat, encoded[1].flat
    assert (len(train), len(test)) == (120, 150)
    assert np.array_equal(seen["mig"], test)
    assert np.array_equal(seen["dci"][0], train) and np.array_equal(seen["dci"][1], test)
    scores = result["disentanglement"]
    assert (scores["mig"], scores["sap"], scores["sap_raw"]) == (0.5, 0.7, 0.3)
    assert scores["factor_vae"] == scores["beta_vae"] == 0.25


def test_measures_that_cannot_be_saved_are_still_shown(runs, tmp_path):
    """A disk that fills while eval measures lost minutes of numbers unseen; they are printed,
    and the error says eval.json does not hold them."""
    run = tmp_path / "gan"
    shutil.copytree(runs / "digits-gan", run, ignore=shutil.ignore_patterns("eval.json"))
    (run / "eval.json").mkdir()  # a write of eval.json that fails, as on a full disk
    done = run_cli("eval", run, *FAST_EVAL)
    assert done.returncode == 1 and json.loads(done.stdout)["step"] == 3
    (line,) = done.stderr.strip().splitlines()
    assert str(run / "eval.json") in line and line.endswith(
        f"; the measures shown above are not in {run / 'eval.json'}")


def test_a_one_dimensional_code_on_factors_trains_and_evaluates(tmp_path):
    """MIG (a gap between a factor's two best dimensions) raised at the first held-out score,
    ending training before its first checkpoint, and again in eval, losing every measure."""
    run = tmp_path / "one"
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--code",
                   "uniform:1", *FAST_RUN[:-1], "--score-every", "3", "--out", run, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert all("heldout/mig" not in json.loads(line)
               for line in (run / "metrics.jsonl").read_text().splitlines())
    done = run_cli("eval", run, *FAST_EVAL, "--intervention-points", "40",
                   "--intervention-pool", "2000", "--dci-model", "random_forest")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    scores = result["disentanglement"]
    assert scores["mig"] is None and scores["sap"] is None and scores["sap_raw"] is None
    assert 0 <= scores["factor_vae"] <= 1 and "one" in result["definitions"]["mig"]


def test_scoring_the_train_split_says_the_scores_are_in_sample(runs, tmp_path):
    """--split train scored the probes and metrics on the very points they were fitted on,
    without a word."""
    run = tmp_path / "gan"
    shutil.copytree(runs / "digits-gan", run)
    done = run_cli("eval", run, "--split", "train", "--n", "100", "--no-mi", "--json")
    assert done.returncode == 0, done.stderr
    assert "the train split holds the train points" in json.loads(done.stdout)["in_sample"]
    assert "note: the train split holds the train points" in done.stderr
