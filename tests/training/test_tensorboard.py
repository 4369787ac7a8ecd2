"""`--tensorboard`: the event files hold metrics.jsonl's numbers at its steps, and the run's PNGs;
off, nothing is written and torch.utils.tensorboard is never imported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from .test_cli_run import FAST, cli, one_error_line
from .test_trainer import read_jsonl

pytest.importorskip("tensorboard")


def events(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0,
                                                                            "images": 0})
    return accumulator.Reload()


def test_scalars_and_pictures_match_the_run_directory(capsys, toy_registry, tmp_path):
    run = tmp_path / "r"
    code, _, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "6", "--log-every", "2",
                     "--sample-every", "3", "--out", run, "--tensorboard")
    assert code == 0
    board = events(run)
    records = read_jsonl(run / "metrics.jsonl")
    tags = board.Tags()
    expected = {"loss_d", "loss_g", "info/c1", "info/c2", "entropy/c1", "entropy/c2",
                "images_per_s"}
    assert expected <= set(tags["scalars"]) and "step" not in tags["scalars"]
    for key in expected:
        logged = [(e.step, e.value) for e in board.Scalars(key)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in records]
    assert [e.value for e in board.Scalars("entropy/c1")] == pytest.approx([np.log(4)] * 3)
    from tensorboard.plugins.custom_scalar import layout_pb2

    layout = layout_pb2.Layout()
    layout.ParseFromString(board.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = {c.title: list(c.multiline.tag) for c in layout.category[0].chart}
    assert charts == {"c1 categorical:4": ["info/c1", "entropy/c1"],
                      "c2 uniform:1": ["info/c2", "entropy/c2"]}
    pictures = {"samples", "traversal-c1", "traversal-c2"}
    assert set(tags["images"]) == pictures
    for tag in pictures:
        shots = board.Images(tag)
        assert [s.step for s in shots] == [3, 6]
        with Image.open(run / f"{tag}.png") as png:
            assert (shots[-1].width, shots[-1].height) == png.size


def test_resume_keeps_one_history(capsys, toy_registry, tmp_path):
    run = tmp_path / "r"
    code, _, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "4", "--log-every", "2",
                     "--checkpoint-every", "2", "--out", run, "--tensorboard")
    assert code == 0
    code, _, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "8", "--log-every", "2",
                     "--checkpoint-every", "2", "--out", run, "--resume")
    assert code == 0
    steps = [e.step for e in events(run).Scalars("loss_d")]
    assert steps == [2, 4, 6, 8]
    assert json.loads((run / "config.json").read_text())["config"]["tensorboard"] is True


def test_off_writes_nothing_and_imports_nothing(tmp_path):
    code = ("import sys\n"
            "from disentangle.training import RunConfig, train\n"
            f"train(RunConfig(dataset='digits', backbone='tiny', steps=2, batch_size=8, "
            f"device='cpu', out={str(tmp_path / 'r')!r}))\n"
            "print('torch.utils.tensorboard' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    assert not (tmp_path / "r" / "tensorboard").exists()


def test_missing_package_is_one_line_before_any_run_directory(capsys, toy_registry, tmp_path,
                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "2", "--out", tmp_path / "r",
                       "--tensorboard")
    assert code == 1
    assert one_error_line(err) == ("error: --tensorboard needs the tensorboard package: pip "
                                   "install 'disentangle[tensorboard]' (or pip install "
                                   "tensorboard); or train without it (--no-tensorboard)")
    assert not (tmp_path / "r").exists()


def test_a_run_with_it_resumes_without_it(capsys, toy_registry, tmp_path, monkeypatch):
    """A run started with --tensorboard could not go on where the package is missing: no flag
    switched it off."""
    run = tmp_path / "r"
    code, _, _ = cli(capsys, "run", "infogan", *FAST, "--steps", "2", "--checkpoint-every", "2",
                     "--out", run, "--tensorboard")
    assert code == 0
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "4", "--out", run, "--resume")
    assert code == 1 and "(--no-tensorboard)" in one_error_line(err)
    code, _, err = cli(capsys, "run", "infogan", *FAST, "--steps", "4", "--out", run, "--resume",
                       "--no-tensorboard")
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["config"]["tensorboard"] is False
