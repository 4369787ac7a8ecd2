"""`disentangle sample` through the real CLI and `disentangle.load_run` on a real (short) digits
run: the files written hold exactly the images the API generates for the same codes and seed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import disentangle
from tests.conftest import run_cli, short_digits_run

from .test_cli_run import cli, one_error_line


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return short_digits_run(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def trained(run_dir):
    return disentangle.load_run(run_dir)


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """What save_png writes for [0, 1] floats: (N, H, W) for one channel."""
    return images.mul(255).round().to(torch.uint8)[:, 0].numpy()


def test_folder_output_holds_the_api_images(run_dir, trained, tmp_path):
    done = run_cli("sample", run_dir, "--code", "c1=3", "--code", "c2=-1.5,0.5", "--seed", "5",
                   "--n", "4", "--out", tmp_path / "pngs", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["codes"] == {"c1": [3.0], "c2": [-1.5, 0.5]} and len(report["files"]) == 4
    written = np.stack([png(tmp_path / "pngs" / f"{i}.png") for i in range(4)])
    expected = trained.generate(4, {"c1": 3, "c2": [-1.5, 0.5]}, seed=5)
    assert np.array_equal(written, as_uint8(expected))
    z, values = trained.latents(4, {"c1": 3, "c2": [-1.5, 0.5]}, seed=5)
    assert values[0].eq(3).all() and torch.equal(values[1], torch.tensor([[-1.5, 0.5]] * 4))
    other = trained.generate(4, {"c1": 4, "c2": [-1.5, 0.5]}, seed=5)
    assert not torch.equal(other, expected)  # the code reaches the generator


def test_grid_file_has_the_grid_size(run_dir, tmp_path):
    done = run_cli("sample", run_dir, "--n", "16", "--out", tmp_path / "grid.png")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {tmp_path / 'grid.png'}"
    # 4 x 4 tiles of 28 px with 2 px lines, blown up 2x (64 // 28) for legibility
    assert png(tmp_path / "grid.png").shape == (2 * (4 * 30 + 2),) * 2


def test_a_name_ending_in_a_slash_is_a_folder_whatever_its_suffix(run_dir, tmp_path):
    done = run_cli("sample", run_dir, "--n", "2", "--out", f"{tmp_path / 's1.png'}/")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "s1.png").iterdir()) == ["0.png", "1.png"]


def test_traversal_sweeps_one_code_and_keeps_the_rest(run_dir, trained, tmp_path):
    grid = trained.traverse("c1", n=3, seed=7)  # (3 rows, 10 values, 1, 28, 28)
    assert grid.shape == (3, 10, 1, 28, 28)
    for k in (0, 9):
        assert torch.allclose(grid[:, k], trained.generate(3, {"c1": k}, seed=7), atol=1e-5)
    sweep = trained.traverse("c2-2", n=2, steps=5, codes={"c1": 1}, seed=7)
    assert sweep.shape[:2] == (2, 5)
    assert torch.allclose(sweep[:, 0], trained.generate(2, {"c1": 1, "c2-2": -2.0}, seed=7),
                          atol=1e-5)
    done = run_cli("sample", run_dir, "--traverse", "c2-2", "--steps", "5", "--n", "2",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # 2 rows x 5 columns of 28 px tiles, scaled 2x
    assert png(tmp_path / "traversal-c2-2.png").shape == (2 * (2 * 30 + 2), 2 * (5 * 30 + 2))


def test_encode_matches_the_model_and_takes_both_image_types(trained):
    data = trained.dataset.load("test")
    codes = trained.encode(data.images[:50])
    assert list(codes) == ["c1", "c2"]
    assert codes["c1"].shape == (50, 1) and codes["c2"].shape == (50, 2)
    assert codes["c1"].min() >= 0 and codes["c1"].max() <= 9
    direct, _, _ = trained.model.encode(trained.model.to_range(data.images[:50]))
    assert torch.equal(codes["c1"], direct[0]) and torch.allclose(codes["c2"], direct[1])
    floats = trained.encode(data.images[:50].float() / 255)
    assert torch.equal(floats["c1"], codes["c1"])
    assert torch.allclose(floats["c2"], codes["c2"], atol=1e-5)



def test_class_probabilities_and_features_are_what_eval_scores(trained):
    """Soft class assignments and D's features: what eval saves in encoded.h5, from a notebook."""
    from disentangle.errors import DisentangleError
    from disentangle.evaluation.pipeline import encode

    data = trained.dataset.load("test").subset(40, 0)
    probs, features = trained.class_probabilities(data.images), trained.features(data.images)
    assert list(probs) == ["c1"] and probs["c1"].shape == (40, 10)
    assert torch.allclose(probs["c1"].sum(1), torch.ones(40))
    assert torch.equal(probs["c1"].argmax(1, keepdim=True).float(),
                       trained.encode(data.images)["c1"])
    evaluated = encode(trained.model, data)
    assert np.allclose(probs["c1"].numpy(), evaluated.probs["c1"], atol=1e-6)
    assert np.allclose(features.numpy(), evaluated.features, atol=1e-5)
    with pytest.raises(DisentangleError, match=r"^features: images must be uint8"):
        trained.features(data.images.long())


@pytest.mark.parametrize("args, message", [
    (["--code", "c1=10"], "c1 is categorical:10 and takes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9; got 10"),
    (["--code", "c1=2.5"], "takes 0, 1,"),
    (["--code", "c7=1"], "no code 'c7' in this run; its codes are c1 (categorical:10), c2"),
    (["--code", "c2-3=1"], "c2 (uniform:2) has 2 dimension(s), numbered from 1"),
    (["--code", "c2=1,2,3"], "code 'c2': give one number or 2 numbers"),
    (["--code", "c1"], "--code c1: write CODE=VALUE"),
    (["--traverse", "c2"], "has 2 dimensions; name one: c2-1 or c2-2"),
    (["--out", "x.jpg"], "--out x.jpg: write FILE.png for a grid, or a folder"),
    (["--code", "c1=3", "--code", "c1=4"], "--code c1 is given twice; give it once"),
    (["--code", "c2=1", "--code", "c2-1=0.5"],
     "--code c2-1 sets c2 dimension 1, which --code c2 sets already"),
    (["--traverse", "c1", "--code", "c1=3"], "--traverse c1 sweeps what --code c1 fixes"),
    (["--traverse", "c2-2", "--code", "c2=0.5"], "--traverse c2-2 sweeps what --code c2 fixes"),
])
def test_bad_requests_fail_in_one_line(capsys, run_dir, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "sample", run_dir, *args)  # in-process: the same parser, faster
    assert code == 1 and message in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_holds_files_is_refused_and_kept(capsys, run_dir, tmp_path, monkeypatch):
    """Older PNGs beside new ones, numbered alike, would read as one sample."""
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "sweep"
    old.mkdir()
    (old / "00.png").write_bytes(b"an earlier sample")
    code, _, err = cli(capsys, "sample", run_dir, "--n", "2", "--out", "sweep")
    assert code == 1 and "--out sweep is a folder that is not empty" in one_error_line(err)
    assert [p.name for p in old.iterdir()] == ["00.png"]
    assert (old / "00.png").read_bytes() == b"an earlier sample"
    code, _, err = cli(capsys, "sample", run_dir, "--n", "2", "--out", run_dir)
    assert code == 1 and "is a folder that is not empty" in one_error_line(err)


def test_a_negative_seed_is_refused(capsys, run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "sample", run_dir, "--seed", "-1")
    assert code == 2 and "--seed" in err and list(tmp_path.iterdir()) == []


def test_not_a_run_is_one_line(tmp_path):
    done = run_cli("sample", tmp_path)
    assert done.returncode != 0 and "is not a run directory" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_import_stays_light():
    code = "import sys, disentangle; print('torch' in sys.modules, callable(disentangle.load_run))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_readme_python_example_runs(run_dir):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, flags=re.S)[1]
    namespace: dict = {}
    exec(block.replace("runs/<run>", str(run_dir)), namespace)  # noqa: S102
    assert namespace["images"].shape == (16, 1, 28, 28)
    assert namespace["sweep"].shape == (8, 10, 1, 28, 28)
    assert namespace["codes"]["c1"].eq(namespace["codes"]["c1"].round()).all()


def test_load_run_leaves_the_callers_random_state_alone(run_dir):
    """Building the networks seeds their (replaced) initial weights; a notebook's next draw
    must not depend on whether it loaded a run."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    disentangle.load_run(run_dir)
    assert torch.equal(torch.rand(3), expected)


def test_load_run_seeds_no_cuda_generator(run_dir, monkeypatch):
    """torch.manual_seed seeds the CUDA generators too (lazily, before CUDA starts), so loading
    a run changed a notebook's later GPU draws; checked here without a GPU."""
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seeded.append)
    monkeypatch.setattr(torch.cuda, "manual_seed", seeded.append)
    disentangle.load_run(run_dir)
    assert seeded == []


@pytest.mark.gpu
def test_load_run_leaves_the_callers_gpu_random_state_alone(run_dir):
    torch.cuda.manual_seed(123)
    expected = torch.rand(3, device="cuda")
    torch.cuda.manual_seed(123)
    disentangle.load_run(run_dir, device="cuda")
    assert torch.equal(torch.rand(3, device="cuda"), expected)


def test_numbers_from_numpy_and_torch_choose_codes_as_python_numbers_do(trained):
    expected = trained.generate(2, {"c1": 3, "c2": [0.5, -1.0]}, seed=4)
    for c1, c2 in ((np.int64(3), np.array([0.5, -1], np.float32)),
                   (torch.tensor(3), torch.tensor([0.5, -1.0])),
                   (np.float32(3), (np.float64(0.5), -1))):
        assert torch.equal(trained.generate(2, {"c1": c1, "c2": c2}, seed=np.int64(4)), expected)


@pytest.mark.parametrize("call, message", [
    (lambda r, x: r.encode(x.long()), "images must be uint8 (0..255) or floats in [0, 1], got "
                                      "torch.int64"),
    (lambda r, x: r.encode(x.float()), "float images must be in [0, 1], got values in [0, 2"),
    (lambda r, x: r.encode(x.float() / 127.5 - 1), "got values in [-1, "),
    (lambda r, x: r.encode(x[:0]), "with N >= 1, got (0, 1, 28, 28)"),
    (lambda r, x: r.generate(2.0), "--n must be an integer >= 1, got 2.0"),
    (lambda r, x: r.generate(2, seed=-1), "--seed must be an integer >= 0, got -1"),
    (lambda r, x: r.traverse("c1", steps=1), "--steps must be an integer >= 2, got 1"),
    (lambda r, x: r.generate(2, {"c1": "3"}), "code 'c1': give one number, got '3'"),
])
def test_python_calls_that_would_misread_their_input_fail_in_one_line(trained, call, message):
    """Pixels as int64 or floats in 0..255 were encoded as if in [0, 1]: wrong codes, no error."""
    images = trained.dataset.load("test").images[:20]  # uint8 0..255
    with pytest.raises(disentangle.DisentangleError) as caught:
        call(trained, images)
    assert message in str(caught.value)


def test_encode_takes_numpy_images_and_load_run_expands_home(run_dir, trained, monkeypatch):
    images = trained.dataset.load("test").images[:20]
    assert all(torch.equal(a, b) for a, b in zip(trained.encode(images.numpy()).values(),
                                                 trained.encode(images).values()))
    monkeypatch.setenv("HOME", str(run_dir.parent))
    assert disentangle.load_run(f"~/{run_dir.name}").path == run_dir


def test_decode_checks_the_latents_it_is_given(trained):
    z, values = trained.latents(3, seed=1)
    expected = trained.decode(z, values)
    assert torch.equal(trained.decode(z.double().numpy(), [v.double() for v in values]),
                       expected)  # float64 and arrays: read as float32 tensors
    values[0][:, 0] = torch.tensor([0.0, 5.0, 9.0])  # each image its own category
    assert not torch.equal(trained.decode(z, values), expected)
    for bad_z, bad_values, message in (
            (z[:, :3], values, "z must be (n, 62) with n >= 1, got (3, 3)"),
            (z, values[:1], "give one value tensor per code (categorical:10, uniform:2), got 1"),
            (z, [values[0], values[1][:, :1]], "c2 (uniform:2) must be finite (3, 2), got (3, 1)"),
            (z, [values[0] + 40, values[1]], "c1 (categorical:10) takes 0, 1, 2")):
        with pytest.raises(disentangle.DisentangleError, match=re.escape(message)):
            trained.decode(bad_z, bad_values)


def test_a_loaded_run_prints_as_one_short_line(trained, run_dir):
    assert repr(trained) == f"TrainedRun(path={run_dir!r}, image_shape=(1, 28, 28))"


def test_images_carry_no_autograd_graph(trained):
    """generate and traverse kept G's activations for autograd: `.numpy()` failed and 20,000
    images held gigabytes."""
    z, values = trained.latents(2)
    for images in (trained.generate(2), trained.traverse("c1", n=1), trained.decode(z, values)):
        assert not images.requires_grad and images.grad_fn is None
        images.numpy()
