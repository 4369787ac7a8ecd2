"""The whole training step as one CUDA graph.

On a GPU a step of these small networks is bound by kernel launches and Python, not by arithmetic:
a few hundred kernels of microseconds each. Recording the step once (batch indices, latents, D and
G updates, both optimisers, the logged values) and replaying the record launches all of it at the
cost of one call. What makes a step replayable:

- every tensor it reads or writes lives at a fixed address: parameters, optimiser states, the
  data on the GPU, the run's generator (registered with the graph, so each replay draws fresh
  numbers and `get_state` stays what an eager run would report), and the returned log vector;
- Adam runs with `capturable=True` (its step count lives on the GPU) and its state exists before
  the recording, so the first steps of every regime run eagerly (`EAGER_STEPS`);
- nothing in it reads a value back to the host; and Python decisions inside `Method.step` only
  change where `Method.capture_key` says so: a new key means a new regime (InfoGAN-CR switching
  its contrastive term on, say), which runs eagerly again and is recorded afresh.

A replay runs the same kernels on the same inputs as the eager step, so a captured run follows
an uncaptured one step for step where those kernels are deterministic.

Each StepGraph runs its eager steps and records on one stream of its own, never a stream that
another run's graphs use: torch keeps cuBLAS's workspace per stream, so graphs recorded on one
stream write to one workspace (and, in torch 2.11, destroying any of them frees it under the
others: pytorch/pytorch#193402). Runs replaying at once on their own streams (`fit_together`)
must not share it. On one H200 (torch 2.11), three InfoGAN-CR runs in one process, all recorded
on torch's one shared capture stream and warmed up on streams drawn afresh from torch's pool,
ended in a GPU memory fault; whether these hazards were its cause is not known until this code
runs on a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import torch

from disentangle.errors import DisentangleError

EAGER_STEPS = 3  # eager steps at the start of each regime: optimiser state, cuDNN's choices


def prepare_optimizers(optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Keep Adam's step counts on the GPU (a host counter would be frozen into the graph)."""
    for opt in optimizers.values():
        for group in opt.param_groups:
            if "capturable" not in group:
                raise DisentangleError(f"optimiser {type(opt).__name__} cannot run inside a CUDA "
                                       "graph (it has no 'capturable' mode); train with "
                                       "--no-cuda-graph")
            group["capturable"] = True


class StepGraph:
    """Calls `step` (which returns a tensor of logged values) eagerly for `EAGER_STEPS` steps of
    each regime, then records it once and replays the record; `__call__` returns the step's
    output, which after the recording is the same tensor every time (copy it to keep it)."""

    def __init__(self, step: Callable[[], torch.Tensor], generator: torch.Generator,
                 eager_steps: int = EAGER_STEPS):
        if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
            raise DisentangleError(f"this torch ({torch.__version__}) cannot replay a step that "
                                   "draws from its own generator; train with --no-cuda-graph or "
                                   "upgrade torch")
        self.step, self.generator, self.eager_steps = step, generator, eager_steps
        self.stream = _work_stream()  # this graph's eager steps and recordings, and no other's
        self.key: Hashable | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: torch.Tensor | None = None
        self.eager_left = 0
        self.captures = 0  # how many regimes were recorded (for tests and the run summary)
        self.record_seconds = 0.0  # wall clock spent recording them: the price of capture

    def __call__(self, key: Hashable) -> torch.Tensor:
        if key != self.key:  # a new regime: back to eager steps, then a new record
            self.key, self.graph, self.output, self.eager_left = key, None, None, self.eager_steps
        if self.graph is None and self.eager_left > 0:
            self.eager_left -= 1
            return self._eager()
        if self.graph is None:
            self._record()
        self.graph.replay()
        return self.output

    def _eager(self) -> torch.Tensor:
        """On the stream the recording will use, as recording needs of the steps before it."""
        current = torch.cuda.current_stream()
        if current == self.stream:
            return self.step()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            output = self.step()
        current.wait_stream(self.stream)
        # `output` is read on `current` yet needs no record_stream: whatever next reuses its
        # memory on our stream comes after those reads (an eager step waits on `current` first,
        # a recording synchronises the device)
        return output

    def _record(self) -> None:
        torch.cuda.synchronize()
        started = time.perf_counter()
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)
        with torch.cuda.graph(graph, stream=self.stream):
            self.output = self.step()
        torch.cuda.synchronize()
        self.record_seconds += time.perf_counter() - started
        self.graph = graph
        self.captures += 1

    def summary(self) -> dict[str, float]:
        return {"records": self.captures, "record_seconds": self.record_seconds}


def _work_stream() -> torch.cuda.Stream:
    """The current stream when the caller gave this run one of its own (`fit_together` does),
    else a side stream kept for this graph: recording cannot use the default stream."""
    current = torch.cuda.current_stream()
    return torch.cuda.Stream() if current == torch.cuda.default_stream() else current
