"""Which files `disentangle eval` and `select` read for a run: the absolute data_dir the run saved
(not a relative one read again from wherever they are started), or their --data-dir."""

import contextlib
import io
import json
import shutil
from dataclasses import dataclass

import h5py
import pytest
import torch
from PIL import Image

from disentangle.cli import main
from disentangle.errors import DisentangleError
from tests.datasets.dataset_files import write_mnist

FAST_RUN = ("--backbone", "tiny", "--steps", "2", "--batch-size", "8", "--threads", "1",
            "--quiet")
FOLDER_RUN = ("run", "infogan", "--dataset", "folder", "--image-size", "16", "--code",
              "categorical:3", "--code", "uniform:1", "--noise-dim", "4", *FAST_RUN)
FAST_EVAL = ("--quick", "--n", "50", "--bound-samples", "50", "--no-mi", "--json")


@pytest.fixture(autouse=True, scope="module")
def _keep_threads():
    """--threads 1 sets this process's torch threads (the commands run in it, for speed)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_cli(*args, cwd):
    """`disentangle ARGS` run in this process from the folder `cwd`: (exit code, stdout, stderr)
    as the real command gives them, without a second Python importing torch again."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
    return Done(info.value.code or 0, out.getvalue(), err.getvalue())


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def pictures(root, per_class: int, shade: int = 0):
    """Class folders x, y, z of small PNGs: 3 * per_class images, 10 % of them the test split."""
    for k, name in enumerate("xyz"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            colour = (80 * k + shade, 10 * i, 255 - 80 * k)
            Image.new("RGB", (20, 20), colour).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """runs/f1 trained from `--data-dir pics` (relative); runs/pics: other pictures, there to be
    found by anything that reads 'pics' from the runs folder."""
    root = tmp_path_factory.mktemp("home")
    pictures(root / "pics", 8)  # 24 images: a test split of 2
    done = run_cli(*FOLDER_RUN, "--data-dir", "pics", "--out", "runs/f1", cwd=root)
    assert done.returncode == 0, done.stderr
    pictures(root / "runs" / "pics", 14, shade=20)  # 42 images: a test split of 4
    return root


def test_a_run_saves_its_data_dir_absolute(home):
    saved = json.loads((home / "runs" / "f1" / "config.json").read_text())["config"]
    assert saved["data_dir"] == str((home / "pics").resolve())


def test_eval_from_another_folder_reads_the_runs_own_data(home):
    runs = home / "runs"
    done = run_cli("eval", "f1", *FAST_EVAL, cwd=runs)  # runs/pics is not what f1 trained on
    assert done.returncode == 0, done.stderr
    with h5py.File(runs / "f1" / "encoded.h5") as f:
        assert f["test/features"].shape[0] == 2  # pics/'s test split, not runs/pics/'s 4
    result = json.loads(done.stdout)
    assert result["data_dir"] == str((home / "pics").resolve())
    assert result["eval_config"]["data_dir"] is None


def test_eval_data_dir_reads_the_files_given(home):
    runs = home / "runs"
    done = run_cli("eval", "f1", "--data-dir", "pics", *FAST_EVAL, cwd=runs)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["data_dir"] == str((runs / "pics").resolve())
    assert result["eval_config"]["data_dir"] == "pics"
    with h5py.File(runs / "f1" / "encoded.h5") as f:
        assert f["test/features"].shape[0] == 4
    assert json.loads((runs / "f1" / "eval.json").read_text())["data_dir"] == result["data_dir"]


def test_select_refuses_runs_of_different_files_unless_data_dir_says_which(home):
    runs = home / "runs"
    done = run_cli(*FOLDER_RUN, "--data-dir", runs / "pics", "--out", runs / "f7", "--seed", "1",
                   cwd=home)
    assert done.returncode == 0, done.stderr
    done = run_cli("select", "runs/f1", "runs/f7", "--no-write", "--json", cwd=home)
    assert done.returncode == 1
    first, second = (home / "pics").resolve(), (runs / "pics").resolve()
    assert done.stderr.strip() == (
        f"error: select compares runs of one dataset, but 'runs/f1' was trained on the files in "
        f"{first} and 'runs/f7' on those in {second}; pass --data-dir DIR to score them all on "
        "the files in DIR, if that is what you want")
    done = run_cli("select", "runs/f1", "runs/f7", "--data-dir", "runs/pics", "--points", "20",
                   "--json", cwd=home)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["data_dir"] == str(second) and result["config"]["points"] == 20
    assert json.loads((runs / "f1" / "selection.json").read_text())["data_dir"] == str(second)
    # the same files for both (a copy of f7 trained alike): nothing to refuse
    shutil.copytree(runs / "f7", runs / "f8")
    done = run_cli("select", "f7", "f8", "--points", "20", "--no-write", "--json", cwd=runs)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data_dir"] == str(second)


def test_missing_files_point_at_data_dir_not_download(tmp_path):
    """An older run saved `--data-dir dd` as written: eval from elsewhere cannot find it, and
    its --download fetches only the FID weights, so the line says to use --data-dir."""
    write_mnist(tmp_path / "dd", n_train=16, n_test=5)
    done = run_cli("run", "infogan", "--dataset", "mnist", "--data-dir", "dd", "--out", "g1",
                   *FAST_RUN, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "g1" / "config.json"
    meta = json.loads(config.read_text())
    meta["config"]["data_dir"] = "dd"  # as runs saved it before it was made absolute
    config.write_text(json.dumps(meta))
    done = run_cli("eval", "g1", *FAST_EVAL, cwd=tmp_path)  # relative, read as before
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data_dir"] == str((tmp_path / "dd").resolve())
    done = run_cli("eval", tmp_path / "g1", *FAST_EVAL, cwd=tmp_path / "g1")
    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("error: mnist: ") and "not found; tried dd/MNIST/raw/" in line
    assert "run with --download" not in line
    assert line.endswith("; or give `disentangle eval` the folder that holds the run's data "
                         "with --data-dir DIR (its --download fetches only the FID weights)")
    done = run_cli("eval", tmp_path / "g1", "--data-dir", tmp_path / "dd", *FAST_EVAL,
                   cwd=tmp_path / "g1")
    assert done.returncode == 0, done.stderr
    # resuming reads the old relative data_dir as before; a --data-dir given then is saved absolute
    resume = ("run", "infogan", "--out", "g1", "--resume", "--quiet")
    done = run_cli(*resume, "--steps", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(config.read_text())["config"]["data_dir"] == "dd"
    done = run_cli(*resume, "--steps", "4", "--data-dir", "dd", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(config.read_text())["config"]["data_dir"] == str((tmp_path / "dd").resolve())


def test_reading_run_data_rephrases_only_the_download_hint():
    from disentangle.data import FETCH, DataNotFound
    from disentangle.evaluation.pipeline import reading_run_data

    with pytest.raises(DisentangleError) as caught:
        with reading_run_data("select"):
            raise DataNotFound("svhn: train_32x32.mat not found; tried a, b",
                               "place train_32x32.mat from URL there", f"{FETCH} into /d/SVHN")
    assert str(caught.value) == (
        "svhn: train_32x32.mat not found; tried a, b; place train_32x32.mat from URL there; or "
        "give `disentangle select` the folder that holds the run's data with --data-dir DIR (it "
        "downloads no data)")
    with pytest.raises(DisentangleError, match=r"^folder: /x is not a directory$"):
        with reading_run_data("eval"):
            raise DisentangleError("folder: /x is not a directory")
