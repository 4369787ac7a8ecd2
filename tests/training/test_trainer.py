"""The training loop and its run directory: artefacts, resume, checkpoints, divergence."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from unittest.mock import ANY

import pytest
import torch
from PIL import Image

from disentangle import Component, DisentangleError, hookimpl
from disentangle.training import TrainingDiverged, fit, latest_run, load_run, resume, start, train
from disentangle.training import checkpoint as checkpoint_module
from disentangle.training.checkpoint import load_checkpoint, save_checkpoint
from disentangle_infogan.method import InfoGAN

from .conftest import make_plugin

def read_json(*parts):
    return json.loads(Path(*parts).read_text())


def read_jsonl(*parts):
    return [json.loads(line) for line in Path(*parts).read_text().splitlines()]


METRIC_KEYS = {"step", "loss_d", "loss_g", "info/c1", "info/c2", "entropy/c1", "entropy/c2",
               "images_per_s", "elapsed"}


def test_run_writes_every_artefact(fast_config):
    summary = train(fast_config())
    run = fast_config().out
    names = {p.name for p in Path(run).iterdir()}
    assert {"config.json", "metrics.jsonl", "samples.png", "traversal-c1.png", "traversal-c2.png",
            "info.png", "summary.json", "checkpoints"} <= names
    for png in ("samples.png", "traversal-c1.png", "traversal-c2.png", "info.png"):
        with Image.open(os.path.join(run, png)) as image:
            image.verify()
    records = read_jsonl(run, "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(set(r) == METRIC_KEYS for r in records[:-1])
    assert set(records[-1]) == METRIC_KEYS | {"heldout/cluster_accuracy"}  # the last step scores
    assert records[0]["entropy/c1"] == pytest.approx(1.3862944)
    meta = read_json(run, "config.json")
    assert {"torch", "disentangle", "scikit-learn"} <= set(meta["versions"])
    assert "cores;" in meta["host"]  # and the kernels torch chose, which move a seed's losses
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()};" in meta["host"]
    assert meta["seed"] == 0 and meta["device"] == "cpu" and meta["image_shape"] == [1, 28, 28]
    assert meta["config"]["backbone"] == "tiny" and meta["config"]["q_trains_trunk"] is True
    saved = read_json(run, "summary.json")
    assert saved == json.loads(json.dumps(summary))
    assert saved["steps"] == 6 and [c["name"] for c in saved["codes"]] == ["c1", "c2"]
    assert saved["codes"][1]["differential"] is True
    state = load_checkpoint(os.path.join(run, "checkpoints", "latest.pt"))
    assert state["step"] == 6 and set(state["optimizers"]) == {"d", "g"}


def test_one_traversal_per_code_dimension(fast_config):
    train(fast_config(codes=["uniform:2"], steps=2))
    run = fast_config().out
    assert sorted(p for p in os.listdir(run) if p.startswith("traversal")) == \
        ["traversal-c1-1.png", "traversal-c1-2.png"]


def test_discrete_only_run_logs_its_information(fast_config):
    summary = train(fast_config(codes=["categorical:4"], method="gan", steps=2))
    line = read_jsonl(summary["run_dir"], "metrics.jsonl")[0]
    assert "info/c1" in line and "entropy/c1" in line


def _interrupt_at(session, call: int) -> None:
    real_step, calls = session.method.step, {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    session.method.step = step


def full_and_interrupted(fast_config, call: int, options: dict, cut_options: dict | None = None):
    """A run trained to the end, and the same run stopped (Ctrl-C) at its `call`-th step."""
    full = start(fast_config("full", **options))
    fit(full)
    cut = start(fast_config("cut", **options, **(cut_options or {})))
    _interrupt_at(cut, call)
    with pytest.raises(KeyboardInterrupt):
        fit(cut)
    return full, cut


@pytest.mark.parametrize("normalised",
                         [(), ("spectral_norm",), ("spectral_norm", "q_spectral_norm")])
def test_resumed_run_ends_with_bit_identical_weights(fast_config, normalised):
    options = dict(steps=12, checkpoint_every=4, sample_every=100,
                   **{name: True for name in normalised})
    full, cut = full_and_interrupted(fast_config, 10, options)
    assert load_checkpoint(cut.run.latest)["step"] == 8
    resumed = resume(cut.run.path, "infogan")
    fit(resumed)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    opt_a = load_checkpoint(full.run.latest)["optimizers"]
    opt_b = load_checkpoint(resumed.run.latest)["optimizers"]
    for name in opt_a:
        for pid, slot in opt_a[name]["state"].items():
            assert all(torch.equal(slot[k], opt_b[name]["state"][pid][k]) for k in slot)
    log_a, log_b = read_jsonl(full.run.metrics), read_jsonl(resumed.run.metrics)
    assert [r["step"] for r in log_b] == [r["step"] for r in log_a] == [2, 4, 6, 8, 10, 12]
    assert [r["loss_d"] for r in log_a] == [r["loss_d"] for r in log_b]


def test_resume_can_extend_steps_but_not_change_the_recipe(fast_config):
    session = start(fast_config(steps=3))
    fit(session)
    with pytest.raises(DisentangleError, match="already reached step 3"):
        resume(session.run.path)
    with pytest.raises(DisentangleError, match="--lr-d cannot change when resuming"):
        resume(session.run.path, overrides={"lr_d": 0.5, "steps": 5})
    with pytest.raises(DisentangleError, match="was trained with method 'infogan'"):
        resume(session.run.path, "gan", {"steps": 5})
    fit(resume(session.run.path, overrides={"steps": 5}))
    assert load_checkpoint(session.run.latest)["step"] == 5
    assert read_json(session.run.config)["config"]["steps"] == 5


def test_a_config_json_without_method_or_image_shape_is_named_on_resume_and_load(fast_config):
    """`{"config": {}}` resumed as a default infogan ("was trained with method 'infogan'"), and
    a missing image_shape failed after loading the data ("trained on None")."""
    session = start(fast_config(steps=2))
    fit(session)
    config = session.run.config
    good = read_json(config)
    config.write_text(json.dumps({**good, "config": {}}))
    for call in (lambda: resume(session.run.path, "gan", {"steps": 5}),
                 lambda: load_run(session.run.path)):
        with pytest.raises(DisentangleError, match=re.escape(
                f"{config} does not say which method the run used (no 'method'); is it a "
                "disentangle run?")):
            call()
    config.write_text(json.dumps({k: v for k, v in good.items() if k != "image_shape"}))
    for call in (lambda: resume(session.run.path, overrides={"steps": 5}),
                 lambda: load_run(session.run.path)):
        with pytest.raises(DisentangleError, match=re.escape(
                f"{config} has no valid 'image_shape' (it holds None); is it a disentangle "
                "run?")):
            call()


def test_resume_before_the_first_checkpoint_starts_from_step_zero(fast_config, tmp_path):
    full = train(fast_config("full"))
    session = start(fast_config())  # config.json written, no step taken yet
    with pytest.raises(DisentangleError, match="is in use by another disentangle process"):
        resume(session.run.path)  # the session still holds the run's lock
    session.close()
    resumed = resume(session.run.path)
    assert resumed.resume_state is None
    fit(resumed)
    assert read_jsonl(resumed.run.metrics) == [  # same losses as a run never stopped
        {**r, "images_per_s": ANY, "elapsed": ANY} for r in read_jsonl(full["files"]["metrics"])]
    with pytest.raises(DisentangleError, match="is not a run directory"):
        resume(tmp_path)


def test_resume_refuses_a_run_whose_checkpoint_is_gone(fast_config):
    """It trained again from step 0 and replaced the log, silently."""
    done = train(fast_config())
    run = Path(done["files"]["metrics"]).parent
    log = (run / "metrics.jsonl").read_text()
    (run / "checkpoints" / "latest.pt").unlink()
    with pytest.raises(DisentangleError, match=r"has no checkpoints/latest.pt, but its log "
                       r"reaches step 6: it had a checkpoint. Restore it to resume"):
        resume(run, overrides={"steps": 8})
    (run / "summary.json").unlink()
    (run / "metrics.jsonl").write_text(log.splitlines(keepends=True)[0])  # step 2 < the first
    fit(resume(run, overrides={"steps": 8}))  # checkpoint's 3: never checkpointed, from step 0
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 2 and first["loss_d"] == json.loads(log.splitlines()[0])["loss_d"]


def test_non_empty_out_is_refused(fast_config, tmp_path):
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DisentangleError, match="already exists and is not empty; pass --resume"):
        start(fast_config("used"))
    assert os.listdir(out) == ["notes.txt"]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"step": 1, "model": {"w": torch.ones(3)}})

    def crash(obj, fh, *args, **kwargs):  # the process dies half-way through writing
        fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2, "model": {"w": torch.zeros(3)}})
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["latest.pt"]


UNPICKLED = []


def _side_effect():
    UNPICKLED.append(True)
    return "ran"


class Payload:
    def __reduce__(self):
        return (_side_effect, ())


def test_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "latest.pt"
    torch.save({"format": 1, "step": 1, "model": {}, "extra": Payload()}, path)
    with pytest.raises(DisentangleError, match="weights_only"):
        load_checkpoint(path)
    assert not UNPICKLED
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(DisentangleError, match="not a disentangle checkpoint"):
        load_checkpoint(path)


class Poison(InfoGAN):
    """InfoGAN that fills D's trunk with NaN after its `at`-th step."""

    name = "poison"

    def __init__(self, at: int = 7, **options):
        super().__init__(**options)
        self.at, self.calls = at, 0

    def step(self, model, optimizers, real, generator):
        logs = super().step(model, optimizers, real, generator)
        self.calls += 1
        if self.calls == self.at:
            with torch.no_grad():
                for p in model.trunk.parameters():
                    p.fill_(float("nan"))
        return logs


def poison_plugin():
    @hookimpl
    def disentangle_methods():
        yield Component("poison", Poison, "NaN after a few steps (tests)")

    return make_plugin("poison_training_plugin", disentangle_methods=disentangle_methods)


@pytest.fixture
def poison_registry(use_registry, fast_config):
    return use_registry(poison_plugin())


@pytest.mark.parametrize("at, message, kept", [
    (7, "loss_d became nan at step 8", 6),  # the loss shows it the next step
    (6, "a weight became not finite at step 6", 3),  # caught before writing the checkpoint
])
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(fast_config, poison_registry,
                                                              monkeypatch, at, message, kept):
    monkeypatch.setattr(Poison.__init__, "__defaults__", (at,))
    session = start(fast_config(method="poison", steps=12))
    with pytest.raises(TrainingDiverged, match=message) as info:
        fit(session)
    assert f"last good checkpoint (step {kept})" in str(info.value)
    assert "\n" not in str(info.value)
    state = load_checkpoint(session.run.latest)
    assert state["step"] == kept
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_load_run_and_latest_run(fast_config, tmp_path, monkeypatch):
    first = train(fast_config("first", steps=2))
    second = train(fast_config("second", steps=2, method="gan"))
    os.utime(os.path.join(first["run_dir"], "config.json"), (1, 1))  # make 'first' older
    assert latest_run(tmp_path).name == "second"
    config, model, dataset = load_run(second["run_dir"])
    assert config.method == "gan" and dataset.name == "toy"
    assert not model.training and next(model.parameters()).device.type == "cpu"
    trained = load_checkpoint(os.path.join(second["run_dir"], "checkpoints", "latest.pt"))["model"]
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    images, _, _ = model.sample(3)
    assert images.shape == (3, 1, 28, 28)
    # a seed of a `--seeds` set (root/SET/seed-S) counts too
    (tmp_path / "set").mkdir()
    os.rename(second["run_dir"], tmp_path / "set" / "seed-3")
    assert latest_run(tmp_path) == tmp_path / "set" / "seed-3"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DisentangleError, match="no runs under runs"):
        latest_run()


def test_resume_at_the_last_step_finishes_a_run_stopped_before_its_summary(fast_config):
    """Stopped between its last checkpoint and its summary, a run could not be finished: the
    printed resume command said it had already reached its last step."""
    done = train(fast_config())
    run = Path(done["files"]["metrics"]).parent
    for name in ("summary.json", "samples.png", "info.png"):
        (run / name).unlink()
    before = load_checkpoint(run / "checkpoints" / "latest.pt")["model"]
    again = fit(resume(run))  # no step: the pictures and the summary
    after = load_checkpoint(run / "checkpoints" / "latest.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert again["steps"] == done["steps"] == 6 and again["final"] == done["final"]
    assert (run / "samples.png").is_file() and (run / "info.png").is_file()
    with pytest.raises(DisentangleError, match="already reached step 6 of 6"):
        resume(run)


def test_a_run_named_in_a_script_the_font_lacks_draws_its_pictures_quietly(fast_config, tmp_path):
    """Each CJK glyph of the caption's run name was a warning on every picture (an error here,
    where warnings are errors)."""
    done = train(fast_config(out=str(tmp_path / "日本")))
    assert (Path(done["files"]["metrics"]).parent / "samples.png").is_file()


def test_a_checkpoint_from_another_run_says_what_does_not_fit(fast_config):
    """The line ended at torch's header ('Error(s) in loading state_dict for LatentModel:')."""
    from disentangle.training import load_run

    mine = Path(train(fast_config("mine"))["files"]["metrics"]).parent
    other = Path(train(fast_config("other", codes=["categorical:5", "uniform:1"]))["files"][
        "metrics"]).parent
    shutil.copy(other / "checkpoints" / "latest.pt", mine / "checkpoints" / "latest.pt")
    with pytest.raises(DisentangleError, match=r"does not fit the networks its config.json "
                       r"describes: size mismatch for .* \(and \d+ more\); was the checkpoint or "
                       r"the config.json copied from another run\?"):
        load_run(mine)


def test_resume_refuses_a_checkpoint_path_that_is_not_a_file(fast_config):
    """It trained to the end and failed only when saving there."""
    session = start(fast_config())
    session.close()
    session.run.latest.mkdir(parents=True)
    with pytest.raises(DisentangleError, match=r"latest.pt is not a file; move it away"):
        resume(session.run.path)


class Counting(InfoGAN):
    """InfoGAN that logs its step number as loss_d and moves a fake clock one second per step."""

    name = "counting"
    clock = [0.0]  # the trainer's time.perf_counter in the test below

    def step(self, model, optimizers, real, generator):
        logs = super().step(model, optimizers, real, generator)
        Counting.clock[0] += 1.0
        return {**logs, "loss_d": torch.tensor(Counting.clock[0])}


def test_log_lines_hold_their_windows_means_step_and_throughput(fast_config, use_registry,
                                                                 monkeypatch):
    """With loss_d = the step number and one (fake) second per step, every log line has a known
    answer: the window's mean, the window's own step count in images/s, the partial last window
    averaged over its own steps."""
    import importlib
    from types import SimpleNamespace

    @hookimpl
    def disentangle_methods():
        yield Component("counting", Counting, "logs its step number (tests)")

    use_registry(make_plugin("counting_training_plugin", disentangle_methods=disentangle_methods))
    trainer_module = importlib.import_module("disentangle.training.trainer")
    clock = [0.0]
    monkeypatch.setattr(Counting, "clock", clock)
    fake_time = SimpleNamespace(perf_counter=lambda: clock[0])
    monkeypatch.setattr(trainer_module, "time", fake_time)
    monkeypatch.setattr(importlib.import_module("disentangle.training.logwindow"), "time",
                        fake_time)
    summary = train(fast_config(method="counting", steps=7, log_every=3, checkpoint_every=100,
                                sample_every=100, score_every=0))
    lines = read_jsonl(summary["run_dir"], "metrics.jsonl")
    assert [r["step"] for r in lines] == [3, 6, 7]
    assert [r["loss_d"] for r in lines] == [2.0, 5.0, 7.0]  # means of steps 1..3, 4..6 and 7
    assert [r["images_per_s"] for r in lines] == [16.0] * 3  # a batch of 16 per second
    assert [r["elapsed"] for r in lines] == [3.0, 6.0, 7.0]
