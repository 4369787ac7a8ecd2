"""The training step as a CUDA graph: which steps run eagerly and which replay (on CPU with a
stand-in for the graph API), the methods' regime keys, the switch, and on CUDA (marked `gpu`)
that a captured run follows an eager one and resumes like one."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from disentangle.methods import Method
from disentangle.training import graphs
from disentangle.training.checkpoint import load_checkpoint
from disentangle_infogan.cr import InfoGANCR
from disentangle_infogan.method import GAN, InfoGAN

from tests.conftest import run_cli

from .test_trainer import read_jsonl


class _Events:
    def __init__(self):
        self.calls: list[str] = []
        self.default = _Stream("default")
        self.current = self.default
        self.streams: list[_Stream] = []  # every stream made, in order
        self.recorded_on: list[_Stream] = []  # the stream of each recording
        self.steps_on: list[_Stream] = []  # the current stream of each eager step


class _Stream:
    def __init__(self, name: str):
        self.name = name

    def wait_stream(self, other):
        pass


@pytest.fixture
def fake_cuda(monkeypatch):
    """The graph API replaced by a recorder: `record` when a capture starts, `replay`; streams
    are named objects, and `torch.cuda.stream(s)` makes `s` current."""
    events = _Events()

    class Graph:
        def register_generator_state(self, generator):
            events.calls.append("register")

        def replay(self):
            events.calls.append("replay")

    @contextlib.contextmanager
    def on(stream):
        before, events.current = events.current, stream
        try:
            yield
        finally:
            events.current = before

    @contextlib.contextmanager
    def capture(graph, stream=None):
        events.calls.append("record")
        events.recorded_on.append(stream)
        with on(stream):
            yield

    def new_stream():
        events.streams.append(_Stream(f"side-{len(events.streams)}"))
        return events.streams[-1]

    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph", capture)
    monkeypatch.setattr(torch.cuda, "Stream", new_stream)
    monkeypatch.setattr(torch.cuda, "stream", on)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: events.current)
    monkeypatch.setattr(torch.cuda, "default_stream", lambda: events.default)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    return events


def test_each_regime_runs_eagerly_then_is_recorded_once_and_replayed(fake_cuda):
    count = iter(range(1000))

    def step():
        fake_cuda.calls.append("step")
        return torch.tensor([float(next(count))])

    graph = graphs.StepGraph(step, torch.Generator(), eager_steps=2)
    outputs = [graph(key) for key in ["a"] * 5 + ["b"] * 4]
    assert fake_cuda.calls == (
        ["step", "step", "register", "record", "step", "replay", "replay", "replay"]
        + ["step", "step", "register", "record", "step", "replay", "replay"])
    assert graph.captures == 2
    # after a recording every call returns the recorded output tensor itself
    assert outputs[3] is outputs[4] and outputs[7] is outputs[8] and outputs[4] is not outputs[7]


def _stepper(events):
    def step():
        events.steps_on.append(events.current)
        return torch.zeros(1)
    return step


def test_a_run_alone_records_on_a_side_stream_of_its_own(fake_cuda):
    """Not the default stream (recording refuses it), and not one another graph records on:
    graphs recorded on one stream share cuBLAS's workspace (graphs.py)."""
    first = graphs.StepGraph(_stepper(fake_cuda), torch.Generator(), eager_steps=2)
    second = graphs.StepGraph(_stepper(fake_cuda), torch.Generator(), eager_steps=2)
    for _ in range(4):
        first("a")
    for _ in range(4):
        second("a")
    assert first.stream is not second.stream
    assert fake_cuda.default not in (first.stream, second.stream)
    # the eager steps warm up the stream that is then recorded on
    assert fake_cuda.steps_on == [first.stream] * 3 + [second.stream] * 3
    assert fake_cuda.recorded_on == [first.stream, second.stream]
    first("b")  # a new regime: back on the same stream
    assert fake_cuda.steps_on[-1] is first.stream and len(fake_cuda.streams) == 2


def test_a_run_given_a_stream_steps_and_records_on_it(fake_cuda):
    """fit_together makes each run's own stream current: its graph uses that one."""
    own = _Stream("run")
    with torch.cuda.stream(own):
        graph = graphs.StepGraph(_stepper(fake_cuda), torch.Generator(), eager_steps=1)
        for _ in range(3):
            graph("a")
    assert graph.stream is own and fake_cuda.streams == []
    assert fake_cuda.steps_on == [own, own] and fake_cuda.recorded_on == [own]


def test_runs_together_need_distinct_streams(monkeypatch):
    """torch draws streams from a fixed pool, round robin: a repeat is refused, not shared."""
    from disentangle.errors import DisentangleError
    from disentangle.training import trainer

    class Pooled:
        def __init__(self, handle):
            self.device, self.cuda_stream = torch.device("cuda", 0), handle

        def wait_stream(self, other):
            pass

    pool = iter([1, 2, 3, 3])
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: Pooled(next(pool)))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: None)
    cuda = torch.device("cuda", 0)
    streams = trainer.own_streams([cuda, cuda, torch.device("cpu")])
    assert [s and s.cuda_stream for s in streams] == [1, 2, None]
    with pytest.raises(DisentangleError, match="2 runs on a GPU .* gave 1 distinct"):
        trainer.own_streams([cuda, cuda])


def test_optimizers_become_capturable_and_others_are_refused():
    weight = torch.nn.Parameter(torch.zeros(2))
    adam = torch.optim.Adam([weight])
    graphs.prepare_optimizers({"g": adam})
    assert adam.param_groups[0]["capturable"] is True
    with pytest.raises(Exception, match="no-cuda-graph"):
        graphs.prepare_optimizers({"g": torch.optim.LBFGS([weight])})


def test_regime_keys_of_the_methods():
    class Plain(Method):
        name = "plain"

        def optimizers(self, model, config):
            return {}

        def step(self, model, optimizers, real, generator):
            return {}

    assert Plain().capture_key(0) is None  # a plugin method runs eagerly unless it opts in
    assert {InfoGAN().capture_key(s) for s in (0, 7, 10**6)} == {()}
    assert GAN().capture_key(3) == ()
    cr = InfoGANCR(cr_start=50, cr_gap=1.5, cr_gap_until=90, cr_gap_stages=3)
    keys = [cr.capture_key(s) for s in range(120)]
    changes = [s for s in range(1, 120) if keys[s] != keys[s - 1]]
    # the key changes exactly where the schedule re-initialises H, so those steps run eagerly
    assert changes == [s for s in range(120) if cr.resets_at(s)] == [30, 50, 60, 90]
    assert cr._steps_done == 119  # the schedule's counter follows the loop, replayed or not


def test_cuda_graph_flag_on_cpu_is_a_note_and_the_run_trains(tmp_path):
    run = tmp_path / "r"
    done = run_cli("run", "infogan", "--dataset", "digits", "--backbone", "tiny", "--steps", "3",
                   "--device", "cpu", "--cuda-graph", "--score-every", "0", "--out", run)
    assert done.returncode == 0, done.stderr
    assert "--cuda-graph ignored: it needs a CUDA device, not cpu" in done.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cuda_graph"] is None and summary["steps"] == 3


# --- on a GPU ------------------------------------------------------------------------------------

def _losses(run, keys=("loss_d", "loss_g")):
    return torch.tensor([[r[k] for k in keys] for r in read_jsonl(run, "metrics.jsonl")])


def _train(run, method, *flags, steps=40):
    """A 40-step GPU run with deterministic kernels: without them two runs of one seed part by
    5e-3 within 4 steps (H200), and the comparisons below could not tell a bug from that."""
    done = run_cli("run", method, "--dataset", "digits", "--steps", str(steps), "--device", "cuda",
                   "--log-every", "5", "--score-every", "0", "--deterministic", "--out", run,
                   "--quiet", *flags)
    assert done.returncode == 0, done.stderr
    summary = run / "summary.json"  # absent for --seeds: the runs are run/seed-S
    return json.loads(summary.read_text()) if summary.is_file() else None


@pytest.mark.gpu
@pytest.mark.parametrize("method, flags, all_windows", [
    ("infogan", (), True),
    # torch documents no deterministic CUDA kernel for grid_sample's backward: first window only
    ("infogan", ("--q-augment",), False),
    ("infogan", ("--q-augment", "--q-augment-start", "20"), False),  # two records: before, after
    ("infogan-cr", ("--code", "categorical:10", "--code", "uniform:1", "--cr-start", "20"), True),
    ("infogan-cr", ("--code", "categorical:10", "--code", "uniform:1", "--cr-start", "20",
                    "--cr-pair-net", "siamese"), True),
    # measured on an H200: this GAN's D wins early (loss_d ~0.01), and in that regime bf16
    # rounding differences grow (loss_g 7.52 vs 6.81 at step 40, first window identical)
    ("gan", ("--dataset", "shapes", "--image-size", "64", "--precision", "bf16"), False),
])
def test_captured_run_follows_the_eager_one(tmp_path, method, flags, all_windows):
    captured = _train(tmp_path / "graph", method, *flags)
    eager = _train(tmp_path / "eager", method, "--no-cuda-graph", *flags)
    assert eager["cuda_graph"] is None
    # CR: once before α switches on, once after; likewise before and after q_augment_start
    records = 2 if method == "infogan-cr" or "--q-augment-start" in flags else 1
    assert captured["cuda_graph"]["records"] == records
    a, b = _losses(tmp_path / "graph"), _losses(tmp_path / "eager")
    assert torch.isfinite(a).all()
    # the first window (3 eager steps, the recording, a replay) is the same computation
    assert torch.allclose(a[0], b[0], atol=1e-3, rtol=0), (a[0] - b[0]).abs().max()
    if all_windows:  # same deterministic kernels on the same inputs
        assert torch.allclose(a, b, atol=1e-3, rtol=0), (a - b).abs().max()
    states = [load_checkpoint(tmp_path / r / "checkpoints" / "latest.pt")
              for r in ("graph", "eager")]
    # every replay drew fresh numbers from the run's generator, exactly as the eager steps did
    assert torch.equal(states[0]["rng"]["sampler"], states[1]["rng"]["sampler"])
    if method == "infogan-cr":  # the buffer counted every replayed step
        steps = [v for k, v in states[0]["model"].items() if k.endswith("steps_done")]
        assert [int(v) for v in steps] == [40]


@pytest.mark.gpu
def test_captured_run_resumes_like_an_uninterrupted_one(tmp_path):
    whole = tmp_path / "whole"
    _train(whole, "infogan")
    part = tmp_path / "part"
    _train(part, "infogan", steps=20)
    done = run_cli("run", "infogan", "--out", part, "--resume", "--steps", "40", "--quiet")
    assert done.returncode == 0, done.stderr
    a, b = _losses(whole), _losses(part)
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-3, rtol=0), (a - b).abs().max()
