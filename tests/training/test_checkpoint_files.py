"""Whatever file sits at checkpoints/latest.pt, loading it is either the exact state that was
saved or one clear error line: text, random bytes, foreign pickles, missing keys, flipped bytes."""

from __future__ import annotations

import pickle
import random

import pytest
import torch

from disentangle import DisentangleError
from disentangle.training import fit, load_run, resume, start
from disentangle.training.checkpoint import digest, load_checkpoint, save_checkpoint

from .test_trainer import Payload, UNPICKLED


def refused(path, match: str | None = None) -> str:
    with pytest.raises(DisentangleError, match=match) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and "weights_only=False" not in message
    return message


@pytest.mark.parametrize("first", range(256))
def test_text_starting_with_any_byte_is_refused_in_one_line(tmp_path, first):
    # 'this is ...' once reached torch's pickle reader and died with IndexError
    path = tmp_path / "latest.pt"
    path.write_bytes(bytes([first]) + b"his is a text file, not a checkpoint\n")
    refused(path, "not a disentangle checkpoint")


def test_pickles_that_are_not_a_torch_archive_are_refused(tmp_path):
    path = tmp_path / "latest.pt"
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path.write_bytes(pickle.dumps({"format": 2, "step": 1, "model": {}}, protocol))
        refused(path, "not a disentangle checkpoint")
    torch.save({"x": Payload()}, path)
    message = refused(path, "refusing to load it")
    assert "Unsupported global" in message and not UNPICKLED


def test_missing_step_is_refused_for_eval_and_resume(fast_config):
    session = start(fast_config(steps=3))
    fit(session)
    state = load_checkpoint(session.run.latest)
    del state["step"]
    save_checkpoint(session.run.latest, state)  # a checksum that matches: only the key is wrong
    with pytest.raises(DisentangleError, match=r"latest\.pt has no valid 'step'"):
        load_run(session.run.path)
    with pytest.raises(DisentangleError, match=r"latest\.pt has no valid 'step'"):
        resume(session.run.path, overrides={"steps": 5})
    state["step"] = 3
    del state["optimizers"]
    save_checkpoint(session.run.latest, state)
    load_run(session.run.path)  # eval needs only the weights
    with pytest.raises(DisentangleError, match="no valid 'optimizers', which --resume needs"):
        resume(session.run.path, overrides={"steps": 5})


def test_a_checkpoint_without_its_checksum_is_refused(tmp_path):
    path = tmp_path / "latest.pt"
    torch.save({"format": 2, "step": 1, "model": {"w": torch.ones(2)}}, path)
    refused(path, "fails its checksum")


def test_format_1_checkpoints_still_load(tmp_path):
    path = tmp_path / "latest.pt"  # written by disentangle before checksums
    torch.save({"format": 1, "step": 4, "model": {"w": torch.ones(2)}}, path)
    assert load_checkpoint(path)["step"] == 4


def _state():
    g = torch.Generator().manual_seed(0)
    return {"step": 7, "model": {"w": torch.randn(64, 32, generator=g),
                                 "b": torch.randn(32, generator=g)},
            "optimizers": {"d": {"state": {0: {"exp_avg": torch.randn(8, generator=g)}},
                                 "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999)}]}}}


def test_a_flipped_byte_in_the_weights_is_caught(tmp_path):
    path = tmp_path / "latest.pt"
    state = _state()
    save_checkpoint(path, state)
    data = bytearray(path.read_bytes())
    weights = state["model"]["w"].numpy().tobytes()
    at = data.find(weights) + len(weights) // 2  # the middle of the weight's raw bytes
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    refused(path, "fails its checksum")


def test_any_flipped_byte_is_refused_or_harmless(tmp_path):
    """Flipping a byte anywhere either gives an error line or (in zip padding and headers torch
    does not read) loads exactly the saved content."""
    path = tmp_path / "latest.pt"
    save_checkpoint(path, _state())
    original = path.read_bytes()
    expected = digest(load_checkpoint(path))
    rng = random.Random(0)
    positions = sorted(rng.sample(range(len(original)), 300))
    errors = 0
    for at in positions:
        data = bytearray(original)
        data[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        try:
            state = load_checkpoint(path)
        except DisentangleError as exc:
            assert "\n" not in str(exc)
            errors += 1
        else:
            assert digest(state) == expected, f"byte {at} changed the content silently"
    assert errors > len(positions) // 2


def test_a_truncated_checkpoint_is_refused_at_any_length(tmp_path):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, _state())
    original = path.read_bytes()
    for length in sorted(random.Random(1).sample(range(len(original)), 100)):
        path.write_bytes(original[:length])
        refused(path)


def test_a_checkpoint_cut_short_says_so_and_what_to_do(tmp_path):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"format": 2, "step": 1, "model": {"w": torch.ones(1000)}})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = refused(path, r"is not a readable checkpoint, damaged or cut short \(RuntimeError: "
                            r".*\); restore it from a copy or train the run again$")
    assert "high likelihood" not in message  # torch's sentence, cut off mid-way, is dropped
