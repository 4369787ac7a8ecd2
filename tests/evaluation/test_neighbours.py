"""Neighbour agreement: known answers for the neighbours and the chance-corrected score, then
`select --by neighbours` through the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from disentangle.errors import DisentangleError
from disentangle.evaluation.neighbours import (nearest_neighbours, neighbour_agreement,
                                               neighbour_scores)
from tests.conftest import run_cli


def test_neighbours_are_the_nearest_other_images_across_chunks():
    images = torch.rand(50, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    found = nearest_neighbours(images, k=4, chunk=7)  # chunks that do not divide 50
    flat = images.flatten(1).double()
    distance = torch.cdist(flat, flat).fill_diagonal_(float("inf"))
    assert np.array_equal(found, distance.argsort(1)[:, :4].numpy())
    assert not (found == np.arange(50)[:, None]).any()


def test_agreement_known_answers():
    line = np.array([[0.0], [1.0], [10.0], [11.0]])  # two pairs: each point's neighbour is its pair
    neighbours = nearest_neighbours(line, k=1)
    assert neighbours.ravel().tolist() == [1, 0, 3, 2]
    assert neighbour_agreement(np.array([0, 0, 1, 1]), neighbours) == pytest.approx(0.5)
    assert neighbour_agreement(np.array([0, 1, 0, 1]), neighbours) == pytest.approx(-0.5)
    # half the pairs agree; chance (3/4)² + (1/4)² = 0.625
    assert neighbour_agreement(np.array([0, 0, 0, 1]), neighbours) == pytest.approx(-0.125)
    assert neighbour_agreement(np.array([2, 2, 2, 2]), neighbours) == 0.0  # one class: nothing


def test_the_blobs_score_highest_a_merge_or_a_split_less_and_chance_zero():
    rng = np.random.default_rng(0)
    blob = rng.integers(0, 5, 2000)
    images = rng.normal(size=(2000, 8)) + 20 * np.eye(8)[blob]  # five far-apart blobs
    neighbours = nearest_neighbours(images)
    shares = np.bincount(blob) / 2000
    best = neighbour_agreement(blob, neighbours)
    assert best == pytest.approx(1 - (shares ** 2).sum())  # every neighbour shares its class
    assert abs(neighbour_agreement(rng.integers(0, 5, 2000), neighbours)) < 0.02
    merged = np.minimum(blob, 3)  # blobs 3 and 4 in one class: a is still 1, chance higher
    split = np.where(blob == 0, rng.integers(0, 2, 2000) * 5, blob)  # blob 0 split at random
    assert neighbour_agreement(merged, neighbours) < best - 0.05
    assert neighbour_agreement(split, neighbours) < best - 0.05


def test_a_run_scores_the_mean_of_its_categorical_codes_and_needs_one():
    neighbours = nearest_neighbours(np.array([[0.0], [1.0], [10.0], [11.0]]), k=1)
    good, bad = np.eye(2)[[0, 0, 1, 1]], np.eye(2)[[0, 1, 0, 1]]  # class probabilities
    assert neighbour_scores([[good], [good, bad]], neighbours) == pytest.approx([0.5, 0.0])
    with pytest.raises(DisentangleError, match="run 2 has none"):
        neighbour_scores([[good], []], neighbours)
    with pytest.raises(DisentangleError, match="one class per image"):
        neighbour_agreement(np.zeros(3, dtype=int), neighbours)
    with pytest.raises(DisentangleError, match="more than 4 images"):
        nearest_neighbours(np.zeros((4, 2)), k=4)


def test_select_by_neighbours_through_the_cli(tmp_path):
    fast = ("--dataset", "digits", "--backbone", "tiny", "--steps", "2", "--batch-size", "8",
            "--quiet")
    done = run_cli("run", "infogan", "--seeds", "0,1", "--out", tmp_path, *fast)
    assert done.returncode == 0, done.stderr
    runs = [tmp_path / "seed-0", tmp_path / "seed-1"]
    done = run_cli("select", *runs, "--by", "neighbours", "--points", "300", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["by"] == "neighbours" and len(result["neighbours"]) == 2
    assert result["chosen"] == result["runs"][int(np.argmax(result["neighbours"]))]
    assert result["config"] == {"points": 300, "neighbours": 10, "seed": 0}
    saved = json.loads((runs[1] / "selection.json").read_text())
    assert saved["own_score"] == result["neighbours"][1]
    done = run_cli("select", *runs, "--by", "neighbours", "--no-write")  # the table
    assert done.returncode == 0 and "Neighbour agreement" in done.stdout, done.stderr
    # a run that cannot take its selection.json: the ranking is shown all the same, none saved
    (runs[1] / "selection.json").unlink()
    (runs[1] / "selection.json").mkdir()
    kept = (runs[0] / "selection.json").read_bytes()
    done = run_cli("select", *runs, "--by", "neighbours", "--points", "200", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["config"]["points"] == 200
    (line,) = done.stderr.strip().splitlines()
    assert str(runs[1] / "selection.json") in line and line.endswith(
        "; the ranking above is saved in none of the runs (--no-write leaves them untouched)")
    assert (runs[0] / "selection.json").read_bytes() == kept  # not replaced by the new one
    # a checkpoint whose Q gives NaN: select and eval name the run and the code, in one line
    from disentangle.training.checkpoint import load_checkpoint, save_checkpoint
    latest = runs[1] / "checkpoints" / "latest.pt"
    state = load_checkpoint(latest)
    state.pop("format", None), state.pop("checksum", None)
    head = [k for k in state["model"] if k.startswith("q_head.") and k.endswith("weight")][-1]
    state["model"][head][-1] = float("nan")  # the head's last output
    save_checkpoint(latest, state)
    for command in (("select", *runs, "--by", "udr", "--points", "100"), ("eval", runs[1])):
        done = run_cli(*command, "--quiet")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "Q's estimates of c" in line and "cannot be scored" in line, line
        assert command[0] == "eval" or f"'{runs[1]}'" in line
    done = run_cli("run", "infogan", "--out", tmp_path / "u", "--code", "uniform:2", *fast)
    assert done.returncode == 0, done.stderr
    done = run_cli("select", runs[0], tmp_path / "u", "--by", "neighbours")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "scores categorical codes" in done.stderr and str(tmp_path / "u") in done.stderr
