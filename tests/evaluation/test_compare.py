"""`disentangle compare` tells what it compares: a stale eval.json or selection.json (the run was
trained on since), runs of different datasets, and which column is which run."""

import json
import shutil
from pathlib import Path

import pytest

from disentangle.cli.evaluate import run_labels
from tests.conftest import run_cli, short_digits_run

CHEAP_EVAL = ("--quick", "--no-mi", "--no-metrics", "--n", "100", "--quiet")
WIDE = {"COLUMNS": "200"}  # the table's headings on one line each


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A 3-step digits run with an eval.json; tests copy it rather than change it."""
    run = short_digits_run(tmp_path_factory.mktemp("compare"), "digits")
    done = run_cli("eval", run, *CHEAP_EVAL)
    assert done.returncode == 0, done.stderr
    return run


def copy(run, to):
    to.parent.mkdir(parents=True, exist_ok=True)
    return shutil.copytree(run, to)


def notes_of(*runs, cwd) -> list[str]:
    """compare's notes (stderr), the same with --json and without, which must both succeed."""
    seen = []
    for args in ((), ("--json",)):
        done = run_cli("compare", *runs, *args, cwd=cwd, env=WIDE)
        assert done.returncode == 0, done.stderr
        seen.append(done.stderr.splitlines())
    assert seen[0] == seen[1]
    return seen[0]


def test_eval_json_records_the_step_and_compare_says_when_the_checkpoint_moved(digits, tmp_path):
    assert json.loads((digits / "eval.json").read_text())["step"] == 3
    a, c = copy(digits, tmp_path / "a"), copy(digits, tmp_path / "c")
    done = run_cli("select", "a", "c", "--points", "50", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((c / "selection.json").read_text())["step"] == 3
    done = run_cli("compare", "a", "c", cwd=tmp_path, env=WIDE)
    assert done.returncode == 0 and done.stderr == ""  # both measured the checkpoint they have
    done = run_cli("run", "infogan", "--out", "c", "--resume", "--steps", "5", "--quiet",
                   "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert notes_of("a", "c", cwd=tmp_path) == [
        "note: c: eval.json measured step 3, the checkpoint is at step 5; run "
        "`disentangle eval c` again",
        "note: c: selection.json measured step 3, the checkpoint is at step 5; run "
        "`disentangle select a c --points 50` again"]  # with the options it was made with
    # from another directory, the command to select again names the runs from there
    assert notes_of(f"{tmp_path.name}/a", f"{tmp_path.name}/c", cwd=tmp_path.parent)[1].endswith(
        f"run `disentangle select {tmp_path.name}/a {tmp_path.name}/c --points 50` again")
    done = run_cli("compare", "a", "c", "--json", cwd=tmp_path)
    assert set(json.loads(done.stdout)) == {"a", "c"}  # --json's stdout: the numbers alone
    done = run_cli("compare", "a", "c", cwd=tmp_path, env=WIDE)
    assert "3 (checkpoint 5)" in done.stdout
    # an eval.json from before `step` was recorded: compare cannot tell, and says so
    older = json.loads((a / "eval.json").read_text())
    del older["step"]
    (a / "eval.json").write_text(json.dumps(older))
    (a / "selection.json").unlink()
    done = run_cli("compare", "a", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "note: a: eval.json does not record which step it measured (an older disentangle wrote "
        "it); the checkpoint is at step 3; run `disentangle eval a` again"]


def test_compare_shows_each_runs_dataset_and_notes_when_they_differ(digits, tmp_path):
    done = run_cli("run", "infogan", "--dataset", "shapes", "--image-size", "32", "--backbone",
                   "tiny", "--steps", "3", "--batch-size", "16", "--threads", "1", "--quiet",
                   "--out", tmp_path / "sh32t", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert run_cli("eval", tmp_path / "sh32t", *CHEAP_EVAL).returncode == 0
    copy(digits, tmp_path / "a")
    done = run_cli("compare", "a", "sh32t", cwd=tmp_path, env=WIDE)
    assert done.returncode == 0, done.stderr  # allowed: the numbers, with a warning
    dataset_row = next(line for line in done.stdout.splitlines() if "dataset" in line)
    assert "digits 28×28" in dataset_row and "shapes 32×32" in dataset_row
    assert done.stderr.splitlines() == [
        "note: these runs are of different datasets or image sizes (digits 28×28: a; "
        "shapes 32×32: sh32t); their numbers are not comparable with each other"]
    done = run_cli("compare", "a", "sh32t", "--json", cwd=tmp_path)
    assert set(json.loads(done.stdout)) == {"a", "sh32t"} and "not comparable" in done.stderr


def test_compare_notes_runs_evaluated_with_different_options(digits, tmp_path):
    """The same run scores differently on another split or sample size: say so."""
    copy(digits, tmp_path / "a")
    copy(digits, tmp_path / "b")
    done = run_cli("eval", "b", *CHEAP_EVAL[:-3], "--n", "50", "--split", "train", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert notes_of("a", "b", cwd=tmp_path) == [
        'note: these runs were evaluated with different options (split "test" in a, "train" '
        "in b; n 100 in a, 50 in b); their numbers are not comparable with each other: "
        "evaluate them with the same options"]
    older = json.loads((tmp_path / "b" / "eval.json").read_text())
    del older["eval_config"]  # a file that does not say: nothing to compare
    (tmp_path / "b" / "eval.json").write_text(json.dumps(older))
    assert run_cli("compare", "a", "b", cwd=tmp_path).stderr == ""


def test_compare_labels_runs_by_their_shortest_distinct_path(digits, tmp_path):
    for group in ("five", "is"):
        copy(digits, tmp_path / "runs" / group / "seed-0")
    done = run_cli("compare", "runs/five/seed-0", "runs/is/seed-0", cwd=tmp_path, env=WIDE)
    assert done.returncode == 0 and done.stderr == ""
    heading = done.stdout.splitlines()[1]
    assert "five/seed-0" in heading and "is/seed-0" in heading
    done = run_cli("compare", "runs/five/seed-0", "runs/is/seed-0", "--json", cwd=tmp_path)
    assert set(json.loads(done.stdout)) == {"runs/five/seed-0", "runs/is/seed-0"}


def test_naming_a_run_twice_is_an_error(digits, tmp_path):
    copy(digits, tmp_path / "runs" / "a")
    for second, named in (("runs/a", "'runs/a'"), ("runs/../runs/a", "'runs/a' (as "
                                                                      "'runs/../runs/a')")):
        for args in ((), ("--json",)):
            done = run_cli("compare", "runs/a", second, *args, cwd=tmp_path)
            assert done.returncode == 1 and done.stdout == ""
            assert done.stderr.splitlines() == [
                f"error: compare: run {named} is named twice; name each run once"]


@pytest.mark.parametrize("runs, labels", [
    (["runs/a", "runs/b"], ["a", "b"]),
    (["runs/five/seed-0", "runs/is/seed-0", "runs/is/seed-1"],
     ["five/seed-0", "is/seed-0", "seed-1"]),
    (["x/a/s", "y/a/s"], ["x/a/s", "y/a/s"]),
])
def test_run_labels(runs, labels, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_labels([Path(r) for r in runs]) == labels


@pytest.mark.parametrize("damage", [b"{\"rank\": 1", b"", b"\xc7\xff", b"[]", b"{\"rank\": 1}",
                                    b"{\"rank\": 1, \"own_score\": \"x\"}"])
def test_a_damaged_selection_json_is_a_note_and_the_table_still_shows(digits, tmp_path, damage):
    copy(digits, tmp_path / "a")
    (tmp_path / "a" / "selection.json").write_bytes(damage)
    done = run_cli("compare", "a", cwd=tmp_path)
    assert done.returncode == 0 and "cluster accuracy" in done.stdout
    assert done.stderr.splitlines() == [
        "note: a/selection.json is damaged, so compare leaves out its rank; run `disentangle "
        "select` on these runs again"]


@pytest.mark.parametrize("damage, kind", [(b"\xc7\xff", "UnicodeDecodeError"),
                                          (b"[]", "AttributeError"),
                                          (b"{\"codes\": 5}", "AttributeError"),
                                          (b"{\"codes\": {\"c1\": {\"mi_lower_bound\": 1}}}",
                                           "KeyError")])
def test_a_damaged_eval_json_is_one_line(digits, tmp_path, damage, kind):
    copy(digits, tmp_path / "a")
    (tmp_path / "a" / "eval.json").write_bytes(damage)
    done = run_cli("compare", "a", cwd=tmp_path)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"error: 'a/eval.json' is damaged ({kind}") and \
        "run `disentangle eval a` again" in done.stderr


def test_an_interrupted_eval_changes_no_file_of_the_run(digits, tmp_path, monkeypatch):
    """encoded.h5 and the redrawn figures were written as their stages ended, so a stopped eval
    left them out of step with the eval.json it did not write."""
    import disentangle.training.rundir as rundir
    from disentangle.evaluation.pipeline import EvalConfig, evaluate_run

    run = copy(digits, tmp_path / "a")
    def files():  # the lock file only names its last holder
        return {p.name: p.read_bytes() for p in run.iterdir()
                if p.is_file() and p.name != ".eval.lock"}

    before = files()

    def stopped():  # called once every measure is made, before anything is written
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir, "versions", stopped)
    with pytest.raises(KeyboardInterrupt):
        evaluate_run(run, EvalConfig(n=100, bound_samples=100, metrics=False))
    assert files() == before


def test_select_again_names_the_options_the_selection_was_made_with():
    from disentangle.cli.evaluate import _select_options

    assert _select_options({"by": "udr", "config": {"points": 1000, "correlation": "lasso",
                                                    "seed": 0}}) == []
    assert _select_options({"by": "udr", "config": {"points": 200, "correlation": "spearman",
                                                    "seed": 3}, "data_dir": "/data"}) == [
        "--points 200", "--correlation spearman", "--seed 3", "--data-dir /data"]
    assert _select_options({"by": "centrality", "config": {"votes": 90, "seed": 0, "slots": 5,
                                                           "group_size": 64}}) == ["--votes 90"]


def test_ranks_from_different_selections_are_said_to_be_so(digits, tmp_path):
    """compare put A's rank among {A, C} beside C's rank among {B, C} in one row, unremarked."""
    for name in ("a", "b", "c"):
        copy(digits, tmp_path / name)
    for pair in (("a", "c"), ("b", "c")):
        done = run_cli("select", *pair, "--points", "50", "--quiet", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    notes = notes_of("a", "c", cwd=tmp_path)
    assert notes == ["note: the 'UDR (rank)' row holds ranks from 2 different `disentangle "
                     "select` calls (other sets of runs or options): a rank counts only within "
                     "its own set; select these runs together for ranks that compare"]
