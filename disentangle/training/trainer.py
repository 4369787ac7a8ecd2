"""The training loop. Data lives in memory as uint8 (on the GPU when training there) and is batched
by random indexing with the run's own torch.Generator, which also draws every latent sample; the
loop saves that generator with the weights and optimiser states, so a run stopped at step k and
resumed ends with exactly the weights of an uninterrupted run (on CPU).

A method's step returns detached tensors; the loop reads them (.item()) only to log, to display at
most twice a second, and on CPU to catch a NaN the step it appears.

A checkpoint also holds the open log window's running sums, so a resumed run's metrics.jsonl has
the very numbers of an uninterrupted one; checkpoints are written every checkpoint_every steps
and at least every checkpoint_minutes. The process holds the run directory's lock from start (or
resume) to the end of fit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from disentangle.diskspace import size_text
from disentangle.errors import DisentangleError
from disentangle.methods import Method
from disentangle.model import LatentModel
from disentangle.registry import Registry, get_registry
from disentangle.training import artefacts, distributed, graphs, monitor, tensorboard, threads
from disentangle.training.build import (
    _load_weights,
    build_latent,
    build_method,
    build_model,
    load_data,
    open_dataset,
    resolve_device,
)
from disentangle.training.checkpoint import (
    check_resumable,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from disentangle.training.logwindow import LogWindow
from disentangle.training.config import (
    FIELDS,
    RunConfig,
    absolute_data_dir,
    dumps,
    option_label,
    validate,
)
from disentangle.training.rundir import (
    DEFAULT_ROOT,
    DiskFull,
    RunDir,
    RunLock,
    atomic_write_text,
    host,
    latest_run,
)

DISPLAY_SECONDS = 0.5  # the progress bar's numbers refresh at most this often
# options that may change on --resume: they do not change what is computed
RESUMABLE = ("steps", "log_every", "checkpoint_every", "checkpoint_minutes", "sample_every",
             "score_every", "data_dir", "download", "device", "threads", "tensorboard",
             "cuda_graph", "deterministic")
ARTEFACT_SEED_OFFSET = 1  # fixed noise for pictures: its own generator, never the training one
EVAL_SAMPLES = 1000  # fresh samples for the final eval-mode L_I
TIMED_MARGIN_S = 1.0  # a log line this far past checkpoint_minutes came after a timed checkpoint


class TrainingDiverged(DisentangleError):
    """A loss or a weight became NaN or infinite."""


class AlreadyFinished(DisentangleError):
    """`--resume` of a run that has reached its --steps and written its summary, or gone past
    them: `--seeds --resume` skips such a seed; a run resumed alone is refused."""


@dataclass
class Session:
    """Everything one training session works with."""

    config: RunConfig
    run: RunDir
    model: LatentModel
    method: Method
    images: torch.Tensor  # (N, C, H, W) uint8 on the training device
    device: torch.device
    resume_state: dict[str, Any] | None = None
    lock: RunLock | None = None  # the run directory's lock, held until fit ends
    step_graph: graphs.StepGraph | None = None  # the step recorded as a CUDA graph, if it is

    def close(self) -> None:
        """Release the run directory (fit does this when it ends, however it ends)."""
        if self.lock is not None:
            self.lock.release()


@contextlib.contextmanager
def _memory_errors(what: str):
    """An allocation that fails (CPU or GPU) becomes one line with the size asked for."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        text = str(exc)
        gpu = isinstance(exc, torch.OutOfMemoryError)
        if not (gpu or isinstance(exc, MemoryError) or "can't allocate memory" in text):
            raise
        # CPU: "tried to allocate 1125899906842624 bytes"; CUDA, numpy: "... allocate 2.00 GiB"
        found = re.search(r"(?i)(?:tried|unable) to allocate (?:(\d+) bytes|([\d.]+ ?[KMGTP]i?B))",
                          text)
        amount = found and (size_text(int(found[1])) if found[1] else found[2])
        size = f" ({amount} asked for)" if amount else ""
        raise DisentangleError(f"out of {'GPU ' if gpu else ''}memory while {what}{size}; lower "
                               "--batch-size, --noise-dim, --image-size or the code sizes") from None


# --- starting and resuming ------------------------------------------------------------------------

@dataclass
class SharedData:
    """Training data loaded once for several runs started in one process (`--seeds`): runs of one
    dataset, image size and data directory on one device read the very same images tensor
    (training only indexes it), so nine 64-px `shapes` runs render and hold the 3 GB grid once,
    not nine times."""

    held: dict[tuple, tuple[Any, Any]] = field(default_factory=dict)

    def load(self, config: RunConfig, registry: Registry, device: torch.device):
        key = (config.dataset, config.image_size, config.data_dir, str(device))
        if key not in self.held:
            dataset, data = load_data(config, registry)
            self.held[key] = dataset, replace(data, images=data.images.to(device))
        return self.held[key]


def _prepare(config: RunConfig, registry: Registry, kept_threads: int | None = None,
             shared: SharedData | None = None) -> tuple[Method, Any, Any, torch.device]:
    """Checks that need no data first (method, codes, device), then the data. `kept_threads`: a
    resumed CPU run's thread count from its checkpoint, used unless --threads says otherwise,
    since sums split over another number of threads round differently and the resumed run would
    no longer follow the uninterrupted one bit for bit."""
    method = build_method(config, registry)
    build_latent(config, registry)
    device = distributed.setup(resolve_device(config.device), config.batch_size)  # torchrun
    tensorboard.check(config.tensorboard)
    if config.deterministic:
        _deterministic_kernels()
    look = None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    elif device.type == "cpu" and distributed.launched_ranks() > 1:
        torch.set_num_threads(1)  # the ranks share the cores
    elif device.type == "cpu" and kept_threads is not None:
        torch.set_num_threads(kept_threads)
    elif device.type == "cpu":  # as many threads as cores are free (threads.py says why)
        look = threads.CoreLook.begin()
    if shared is not None:
        dataset, data = shared.load(config, registry, device)
    else:
        with distributed.rank0_first():  # one rank fills the dataset cache, the others read it
            dataset, data = load_data(config, registry)
    if look is not None:
        torch.set_num_threads(look.threads())
    return method, dataset, data, device


def _deterministic_kernels() -> None:
    """Why: on a GPU, cuDNN's fastest backward kernels add in a varying order, so two runs of one
    seed part after a few steps (on one H200, losses 5e-3 apart by step 4 at batch 64) and no
    test can tell a real difference from that. For this whole process: cuDNN's deterministic
    algorithms, torch's deterministic implementations (a warning, not an error, where an op has
    none), and cuBLAS's fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when cuBLAS first runs)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def start(config: RunConfig, registry: Registry | None = None,
          shared: SharedData | None = None) -> Session:
    """A fresh run: build everything, then create and lock the run directory (refusing one that
    holds another run). A start that fails after that removes what it made. Runs started with
    one `shared` load their common training data once."""
    registry = registry or get_registry()
    validate(config, option_label)
    # saved absolute: eval and select, started elsewhere, read the files this run trains on
    config = config.replace(data_dir=absolute_data_dir(config.data_dir))
    out = Path(config.out) if config.out else RunDir.default_path(config, DEFAULT_ROOT)
    RunDir.check_unused(out)  # refuse before spending time on data and networks
    with _memory_errors("loading the data and building the networks"):
        method, dataset, data, device = _prepare(config, registry, shared=shared)
        shape = tuple(int(s) for s in data.images.shape[1:])
        model, backbone = build_model(config, shape, registry)
    out = Path(distributed.from_rank0(str(out)))  # default names hold the time: rank 0's
    config = config.replace(out=str(out), backbone=backbone,
                            q_trains_trunk=getattr(method, "q_trains_trunk", config.q_trains_trunk))
    if not distributed.is_writer():  # rank 0 alone creates, locks and writes the run directory
        with _memory_errors(f"moving the data and networks to {device}"):
            return Session(config, RunDir(out), model.to(device), method, data.images.to(device),
                           device)
    existed = out.is_dir()
    run, lock = RunDir.create(out)
    try:
        run.write_config(config, image_shape=list(shape), device=str(device),
                         dataset_size=len(data), input_width=model.latent.input_width,
                         data_parallel=distributed.describe(config.batch_size))
        with _memory_errors(f"moving the data and networks to {device}"):
            return Session(config, run, model.to(device), method, data.images.to(device), device,
                           lock=lock)
    except BaseException:
        run.discard(lock, remove_directory=not existed)
        raise


def resume(run_dir: Path | str | None, method: str | None = None,
           overrides: dict[str, Any] | None = None, registry: Registry | None = None,
           shared: SharedData | None = None) -> Session:
    """Continue a run from checkpoints/latest.pt with its saved config (from step 0 if it was
    stopped before its first checkpoint). Only RESUMABLE fields may change (e.g. a larger
    --steps); any other option that differs is an error. The run directory is locked first: a
    second process resuming the same run is refused."""
    registry = registry or get_registry()
    run = RunDir.open(Path(run_dir) if run_dir is not None else latest_run(DEFAULT_ROOT))
    # under torchrun only rank 0 locks (and writes); the others only read the run directory
    lock = run.lock() if distributed.launched_rank() == 0 else None
    try:
        return _resume(run, lock, method, overrides, registry, shared)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _resume(run: RunDir, lock: RunLock | None, method: str | None, overrides: dict[str, Any] | None,
            registry: Registry, shared: SharedData | None) -> Session:
    saved, trained_shape, meta = run.read_saved()
    if method is not None and method != saved.method:
        raise DisentangleError(f"{run.path} was trained with method '{saved.method}'; resume it "
                               f"with `disentangle run {saved.method} --out {run.path} --resume`")
    changes = {}
    for name, value in (overrides or {}).items():
        if value is None or name in ("out",):
            continue
        if name not in FIELDS:
            raise DisentangleError(f"unknown option '{name}'")
        if name in RESUMABLE:
            changes[name] = absolute_data_dir(value) if name == "data_dir" else value
        elif value != getattr(saved, name):
            raise DisentangleError(
                f"{option_label(name)} cannot change when resuming ({run.config} has "
                f"{getattr(saved, name)!r}); only "
                f"{', '.join(option_label(n) for n in RESUMABLE)} can")
    config = validate(saved.replace(**changes), option_label)
    if lock is not None:
        run.remove_stale_temporaries()  # a killed write's leftovers; we hold the lock
    state = None
    if run.latest.exists() and not run.latest.is_file():  # else found only when saving, at the end
        raise DisentangleError(f"{run.latest} is not a file; move it away (a checkpoint is a file "
                               "written there) and resume again")
    if run.latest.is_file():
        state = load_checkpoint(run.latest)
        check_resumable(state, run.latest)
        if state["step"] > config.steps:
            raise AlreadyFinished(f"{run.latest} is at step {state['step']}, past --steps "
                                   f"{config.steps}; a checkpoint cannot be taken back: give "
                                   f"--steps {state['step']} or more")
        # at its last step without its summary: stopped before its pictures and summary, which
        # fit then writes without a step (a summary of an earlier, shorter finish does not count)
        if state["step"] == config.steps and _summary_step(run) == state["step"]:
            raise AlreadyFinished(f"{run.path} already reached step {state['step']} of "
                                   f"{config.steps}; pass a larger --steps to train further")
    else:
        _check_never_checkpointed(run, saved)
    kept = state.get("threads") if state is not None else None  # absent in older checkpoints
    if isinstance(kept, bool) or not isinstance(kept, int) or kept < 1:
        kept = None
    with _memory_errors("loading the data and building the networks"):
        method_obj, dataset, data, device = _prepare(config, registry, kept, shared)
        shape = tuple(int(s) for s in data.images.shape[1:])
        if shape != trained_shape:
            raise DisentangleError(f"dataset '{config.dataset}' now gives {shape} images but the "
                                   f"run was trained on {trained_shape}")
        model, _ = build_model(config, shape, registry)
        parallel = distributed.describe(config.batch_size)  # this session's ranks
        here = host()  # another CPU's kernels follow other losses: the config says where it went
        moved = here != meta.get("host") and here not in meta.get("resumed_on", [])
        if lock is not None and (changes or moved
                                 or meta.get("data_parallel", parallel) != parallel):
            meta["config"], meta["data_parallel"] = config.to_dict(), parallel
            if moved:
                meta["resumed_on"] = [*meta.get("resumed_on", []), here]
            atomic_write_text(run.config, dumps(meta))
        elif lock is not None:  # the latest run is the one last started or resumed (latest_run)
            os.utime(run.config)
        return Session(config, run, model.to(device), method_obj, data.images.to(device), device,
                       state, lock)


def _check_never_checkpointed(run: RunDir, saved: RunConfig) -> None:
    """Resuming without checkpoints/latest.pt trains from step 0 and replaces the log: right for
    a run stopped before its first checkpoint, data loss for one whose checkpoint is gone (deleted,
    left out of a copy). A summary.json, a log line at a step where a checkpoint was due, or one
    written after checkpoint_minutes of training (a timed checkpoint) says it had one. `saved`:
    the config the run last trained with, not this resume's options."""
    logged = [r for r in run.read_metrics(strict=True) if isinstance(r.get("step"), int)]
    last = max((r["step"] for r in logged), default=0)
    timed = saved.checkpoint_minutes > 0 and any(
        isinstance(r.get("elapsed"), (int, float))
        and r["elapsed"] > saved.checkpoint_minutes * 60 + TIMED_MARGIN_S for r in logged)
    if run.summary.is_file() or last >= saved.checkpoint_every or timed:
        how_far = (f"its log reaches step {last}" if last >= saved.checkpoint_every
                   else f"its log runs past {saved.checkpoint_minutes:g} minutes" if timed
                   else "it has a summary.json")
        raise DisentangleError(
            f"{run.path} has no {run.latest.relative_to(run.path)}, but {how_far}: it had a "
            "checkpoint. Restore it to resume; resuming without it would train from step 0 and "
            "replace the log (or start a new --out)")


def _summary_step(run: RunDir) -> int | None:
    """The step summary.json was written at, or None where there is none (or it is unreadable:
    fit writes it again)."""
    try:
        steps = json.loads(run.summary.read_text(encoding="utf-8")).get("steps")
    except (OSError, ValueError, AttributeError):
        return None
    return steps if isinstance(steps, int) else None


# --- the loop --------------------------------------------------------------------------------

def _progress_bar():
    """A rich progress bar on stderr, one line per run: step, times, live losses and L_I."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.table import Column

    keep = Column(no_wrap=True)  # never cut: the step count and the times
    progress = Progress(  # on a narrow line (or a file: 80 columns) the stats give way
        TextColumn("{task.description}", table_column=keep),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
        MofNCompleteColumn(table_column=keep), TimeElapsedColumn(table_column=keep),
        TimeRemainingColumn(table_column=keep),
        TextColumn("{task.fields[stats]}",
                   table_column=Column(no_wrap=True, overflow="ellipsis", ratio=2)),
        console=Console(stderr=True), transient=False, expand=True,
    )
    progress.start()
    return progress


class _Display:
    """One run's line of the progress bar (its own bar, or a line of one that several runs
    share); silent when quiet."""

    def __init__(self, session: Session, start_step: int, quiet: bool, shared: Any = None):
        self.progress, self.owned = None, shared is None
        if quiet:
            return
        cfg = session.config
        label = f"[bold]{cfg.method}[/] {cfg.dataset}" + (f" seed {cfg.seed}" if shared else "")
        self.progress = shared if shared is not None else _progress_bar()
        self.task = self.progress.add_task(label, total=cfg.steps, completed=start_step, stats="")

    @property
    def live(self) -> bool:
        return self.progress is not None

    def advance(self, step: int, stats: dict[str, float] | None) -> None:
        if self.progress is None:
            return
        if stats is None:
            self.progress.update(self.task, completed=step)
            return
        text = f"D {stats['loss_d']:.3f}  G {stats['loss_g']:.3f}  " + "  ".join(
            f"{k[5:]} {v:.2f}" for k, v in stats.items() if k.startswith("info/"))
        self.progress.update(self.task, completed=step, stats=text)

    def stop(self) -> None:
        if self.progress is not None and self.owned:
            self.progress.stop()
        self.progress = None


@contextlib.contextmanager
def _unchecked_distributions():
    """torch.distributions checks its arguments by default: a device sync per distribution built
    (every step, every code), and a NaN would surface as a ValueError deep inside a posterior. The
    loop checks for non-finite values itself, so the checks are off while it runs."""
    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)


def _finite_weights(model: LatentModel) -> bool:
    checks = [torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True  # one device sync, not one per tensor


def fit(session: Session, quiet: bool = True) -> dict[str, Any]:
    """Train to config.steps, logging, checkpointing and drawing as configured; returns the
    summary (also written to summary.json). Releases the run directory's lock when it ends."""
    try:
        with _unchecked_distributions(), _memory_errors("training"):
            steps = _fit(session, quiet)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    return done.value
    finally:
        session.close()


def fit_together(sessions: Sequence[Session], quiet: bool = True,
                 streams: Sequence[Any] | None = None) -> list[dict[str, Any] | DisentangleError]:
    """Train several runs in one process, one step of each in turn; returns each run's summary,
    or the error that ended it (a run that diverges ends alone; the others go on).

    Why: a step of these networks is a few hundred small kernels, far too few to fill a large
    GPU, and separate processes on one GPU take turns rather than overlap. Here every run's
    steps go to its own CUDA stream (each replaying its own CUDA graph), so one run's kernels can
    run in the gaps of the others'. Each run is exactly what `fit` makes of it alone: its own
    generator, weights, optimisers and run directory (the same numbers on CPU; tested).
    `streams`: each run's, from `own_streams` (drawn here when not given)."""
    if distributed.launched_ranks() > 1:
        raise DisentangleError("several runs in one process cannot be combined with torchrun; "
                               "launch one run per torchrun job")
    results: list[dict[str, Any] | DisentangleError | None] = [None] * len(sessions)
    progress = None if quiet else _progress_bar()  # one bar, a line per run
    live: dict[int, tuple[Any, Any]] = {}
    try:
        with _unchecked_distributions():
            if streams is None:
                streams = own_streams([session.device for session in sessions])
            for i, session in enumerate(sessions):
                live[i] = (_fit(session, quiet, progress), streams[i])
            while live:
                for i in list(live):
                    steps, stream = live[i]
                    try:
                        with _memory_errors("training"), _on(stream):
                            next(steps)
                    except StopIteration as done:
                        results[i] = done.value
                    except DisentangleError as exc:
                        results[i] = exc
                    else:
                        continue
                    del live[i]
                    sessions[i].close()
    except KeyboardInterrupt:
        for steps, _ in live.values():  # each says where its run stopped and how to continue
            with contextlib.suppress(KeyboardInterrupt, DisentangleError, StopIteration):
                steps.throw(KeyboardInterrupt)
        raise
    finally:
        if progress is not None:
            progress.stop()
        for session in sessions:
            session.close()
    return results  # type: ignore[return-value]


def own_streams(devices: Sequence[torch.device]) -> list[torch.cuda.Stream | None]:
    """A CUDA stream for each run on a GPU, after what is already queued (its data and weights),
    and no two alike: a run's CUDA graphs are recorded on its stream (graphs.py says why that
    must be its own). torch hands out streams from a fixed pool, round robin."""
    streams = [torch.cuda.Stream(d) if d.type == "cuda" else None for d in devices]
    handles = [(s.device, s.cuda_stream) for s in streams if s is not None]
    if len(set(handles)) < len(handles):
        raise DisentangleError(f"{len(handles)} runs on a GPU in one process need as many CUDA "
                               f"streams of their own, and torch's pool gave "
                               f"{len(set(handles))} distinct ones; train at most "
                               f"{len(set(handles))} seeds per command")
    for stream, device in zip(streams, devices):
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(device))
    return streams


def _on(stream: torch.cuda.Stream | None):
    return contextlib.nullcontext() if stream is None else torch.cuda.stream(stream)


def _restore(session: Session, model: LatentModel, optimizers: dict[str, Any],
             sampler: torch.Generator, quiet: bool) -> None:
    """Weights, optimiser and RNG states back from the checkpoint; a checkpoint that passed its
    checksum but does not fit this run (edited by hand, another run's) is one error."""
    state, path = session.resume_state, session.run.latest
    _load_weights(model, state["model"], path)
    try:
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        rng = dict(state["rng"])
        if rng["sampler"].numel() != sampler.get_state().numel():
            rng["sampler"] = _moved_sampler(session, rng["sampler"], state["step"], quiet)
        set_rng_state(sampler, rng)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DisentangleError(f"{path} does not fit this run's optimisers or random "
                               f"generators ({type(exc).__name__}: {first[:200]})") from None


def _moved_sampler(session: Session, saved: torch.Tensor, step: int,
                   quiet: bool) -> torch.Tensor:
    """A run trained on a GPU and resumed on the CPU (or the other way): its generator's state
    cannot cross between the two kinds, so the stream starts anew from the seed and the step
    (the same on every resume from this checkpoint), and the user is told."""
    cpu_state = torch.Generator().get_state().numel()
    was = "the CPU" if saved.numel() == cpu_state else "a GPU"
    fresh = torch.Generator(device=session.device).manual_seed(
        (session.config.seed << 32) + step)
    if not quiet:
        print(f"note: {session.run.path} was trained on {was} and resumes on "
              f"{session.device.type}: a random generator's state cannot move between the two, "
              f"so batches and latents come from a new stream (seeded with --seed and step "
              f"{step}); training goes on, not exactly as it would have there", file=sys.stderr)
    return fresh.get_state()


def _fit(session: Session, quiet: bool,
         progress: Any = None) -> Generator[None, None, dict[str, Any]]:
    """The loop, as a generator that pauses after every step (so `fit_together` can take turns);
    it returns the summary. `progress`: a rich Progress shared by several runs, or None."""
    cfg, run, model, method, device = (session.config, session.run, session.model, session.method,
                                       session.device)
    images = session.images
    n = images.shape[0]
    model.train()
    sampler = torch.Generator(device=device).manual_seed(cfg.seed)
    if device.type == "cuda":  # a plugin's own draws on the GPU follow the seed too
        torch.cuda.manual_seed_all(cfg.seed)
    optimizers = method.optimizers(model, cfg)
    writer = distributed.is_writer()  # under torchrun, rank 0 alone writes and prints
    step, wall, train_seconds = 0, 0.0, 0.0
    state = session.resume_state
    if state is not None:
        _restore(session, model, optimizers, sampler, quiet)
        step, wall, train_seconds = state["step"], state["wall_seconds"], state["train_seconds"]
    window = LogWindow(device, state.get("window") if state is not None else None)
    distributed.replicate(model, optimizers)  # torchrun: rank 0's state, gradients averaged
    if writer:
        run.truncate_metrics(step)  # lines after the checkpoint are logged again (all, from 0)
        if step < cfg.steps:  # an earlier finish's summary no longer describes the run
            run.summary.unlink(missing_ok=True)
    last_good = step if state is not None else None
    entropies = {f"entropy/{c.name}": c.code.entropy() for c in model.latent.codes}
    session_start = last_checkpoint = time.perf_counter()
    every_seconds = cfg.checkpoint_minutes * 60 if cfg.checkpoint_minutes > 0 else float("inf")
    last_display, last_record = 0.0, None
    display = _Display(session, step, quiet or not writer, progress)
    held_out = None
    if cfg.score_every and writer:
        data_dir = Path(cfg.data_dir).expanduser() if cfg.data_dir else None
        try:
            held_out = monitor.HeldOutMonitor.build(open_dataset(cfg), data_dir, device, model)
        except DisentangleError as exc:  # e.g. only the training file is there: train anyway
            if not quiet:
                print(f"note: no held-out score for this run: {exc}", file=sys.stderr)
    board = tensorboard.open_board(cfg.tensorboard and writer, run.path, model,
                                   step if state is not None else None)

    def checkpoint(at: int) -> None:
        nonlocal last_good, last_checkpoint
        if not _finite_weights(model):
            raise _diverged("a weight", "not finite", at)
        distributed.sync_buffers(model)
        if not writer:
            last_good, last_checkpoint = at, time.perf_counter()
            return
        run.sync_metrics()  # the lines up to `at` reach the disk before the checkpoint does
        save_checkpoint(run.latest, {
            "step": at, "wall_seconds": wall + time.perf_counter() - session_start,
            "train_seconds": train_seconds, "window": window.state(),
            "model": model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "rng": rng_state(sampler),
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
        })
        last_good, last_checkpoint = at, time.perf_counter()

    def _diverged(what: str, how: str, at: int, since: int | None = None) -> TrainingDiverged:
        where = f"at step {at}" if since is None else f"between steps {since} and {at}"
        kept = (f"the last good checkpoint (step {last_good}) is kept in {run.latest}"
                if last_good is not None else "no checkpoint had been written yet")
        return TrainingDiverged(f"{what} became {how} {where}; training stopped and {kept}")

    def check_window(at: int) -> None:
        """On GPU, NaNs surface here: in the window's sums (torchrun: the global batch's)."""
        window.sum = distributed.mean(window.sum)
        bad = window.first_not_finite()
        if bad is not None:
            raise _diverged(bad, "not finite", at, at - window.steps + 1)

    def log_line(at: int) -> dict[str, Any]:
        """The window's line in metrics.jsonl (and TensorBoard), with the held-out score when
        one is due; a new window opens."""
        nonlocal train_seconds
        means, seconds, steps = window.close()
        record = {"step": at, **means, **entropies,
                  "images_per_s": steps * cfg.batch_size / max(seconds, 1e-9),
                  "elapsed": wall + time.perf_counter() - session_start}
        if held_out is not None and (at % cfg.score_every == 0 or at == cfg.steps):
            record.update(held_out.score(model))  # before the next window starts
        if writer:
            run.append_metrics(record)
        if board is not None:
            board.scalars(record)
        train_seconds += seconds
        return record

    def one_step() -> torch.Tensor:
        """Batch, update, and the logged values as one vector (in `window.keys` order)."""
        index = torch.randint(n, (cfg.batch_size,), generator=sampler, device=device)
        index = distributed.own_rows(index)  # torchrun: this rank's B/N of the global batch
        real = model.to_range(images[index])  # (B, C, H, W) in the backbone's range
        with distributed.global_latents(model.latent):
            logs = method.step(model, optimizers, real, sampler)
        if window.keys is None:
            window.keys = list(logs)
        return torch.stack([torch.as_tensor(logs[k], device=device).float().reshape(())
                            for k in window.keys])

    step_graph = _step_graph(cfg, method, device, optimizers, one_step, sampler, step, quiet)
    session.step_graph = step_graph
    try:
        if step == cfg.steps and window.steps:  # resumed at a smaller --steps mid-window: its
            check_window(step)  # line is due, as an uninterrupted run of --steps writes it
            last_record = log_line(step)
            checkpoint(step)
            if writer:
                _draw(session, board, step)
        for step in range(step + 1, cfg.steps + 1):
            if step_graph is None:
                vector = one_step()
            else:  # a replay returns the same tensor each time: LogWindow.add copies it
                vector = step_graph(method.capture_key(step - 1))
            window.add(vector)
            if device.type == "cpu" and not distributed.active():
                bad = window.first_not_finite(vector)
                if bad is not None:
                    raise _diverged(bad, str(float(vector[window.keys.index(bad)])), step)

            log_now = step % cfg.log_every == 0 or step == cfg.steps
            timed = distributed.agree(time.perf_counter() - last_checkpoint >= every_seconds,
                                      now=log_now)  # torchrun: all ranks decide at log steps
            checkpoint_now = step % cfg.checkpoint_every == 0 or step == cfg.steps or timed
            sample_now = step % cfg.sample_every == 0 or step == cfg.steps
            if log_now or checkpoint_now:
                check_window(step)
            if log_now:
                last_record = log_line(step)
                display.advance(step, last_record)
                last_display = time.perf_counter()
            elif display.live and time.perf_counter() - last_display > DISPLAY_SECONDS:
                display.advance(step, dict(zip(window.keys, vector.tolist())))  # a device sync
                last_display = time.perf_counter()
            else:
                display.advance(step, None)
            if checkpoint_now or sample_now:
                t0 = time.perf_counter()
                if checkpoint_now:
                    checkpoint(step)
                if sample_now and writer:
                    _draw(session, board, step)
                window.exclude(time.perf_counter() - t0)
            yield
    except KeyboardInterrupt:
        display.stop()
        if not writer:
            raise
        kept = f"step {last_good}" if last_good is not None else "none yet"
        print(f"interrupted at step {step}; last checkpoint: {kept}; continue with "
              f"`disentangle run {cfg.method} --out {run.path} --resume`", file=sys.stderr)
        raise
    except DiskFull as exc:
        kept = (f"the last checkpoint (step {last_good}) is kept" if last_good is not None
                else "no checkpoint yet, so it starts again from step 0")
        raise DiskFull(f"{exc}; {kept}: continue with `disentangle run {cfg.method} --out "
                       f"{run.path} --resume`") from None
    finally:
        display.stop()
        if board is not None:
            board.close()
    if not writer:
        return {"status": "finished", "rank": distributed.rank(), "steps": step}
    if last_record is None:  # resumed at its last step, stopped before its pictures and summary
        _draw(session, None, step)  # (not to TensorBoard: its writer is closed by now)
        last_record = next(iter(run.read_metrics()[-1:]), None)
    try:
        return _finish(session, step, wall + time.perf_counter() - session_start,
                       train_seconds, last_record)
    except DiskFull as exc:
        raise DiskFull(f"{exc}; training finished and its last checkpoint is kept") from None


def _step_graph(cfg: RunConfig, method: Method, device: torch.device,
                optimizers: dict[str, Any], one_step, sampler: torch.Generator,
                steps_done: int, quiet: bool) -> graphs.StepGraph | None:
    """The step as a CUDA graph where it can be one: on CUDA, unless --no-cuda-graph, for a
    method whose `capture_key` is not None."""
    parallel = distributed.world_size() > 1  # the step holds collectives: not recorded
    wanted = cfg.cuda_graph is not False and device.type == "cuda" and not parallel
    if not wanted or method.capture_key(steps_done) is None:
        if cfg.cuda_graph and not quiet:
            why = ("the step of a torchrun run holds collectives" if parallel
                   else f"method '{cfg.method}' does not support it" if device.type == "cuda"
                   else f"it needs a CUDA device, not {device.type}")
            print(f"note: --cuda-graph ignored: {why}", file=sys.stderr)
        return None
    graphs.prepare_optimizers(optimizers)
    return graphs.StepGraph(one_step, sampler)


def _draw(session: Session, board: tensorboard.Board | None = None, step: int = 0) -> None:
    cfg, run = session.config, session.run
    records = run.read_metrics()
    pictures = artefacts.draw(session.model, run.path, cfg.seed + ARTEFACT_SEED_OFFSET,
                              artefacts.caption(run.path, cfg.method, cfg.dataset, step), records)
    monitor.write_plot(records, run.path / "heldout.png")
    if board is not None:
        board.pictures(pictures, step)


def _finish(session: Session, step: int, wall: float, train_seconds: float,
            last: dict[str, Any] | None) -> dict[str, Any]:
    cfg, run, model = session.config, session.run, session.model
    model.eval()
    generator = torch.Generator(device=session.device).manual_seed(cfg.seed + ARTEFACT_SEED_OFFSET)
    bound = model.information_bound(EVAL_SAMPLES, batch_size=250, generator=generator) \
        if model.latent.codes else []
    model.train()
    codes = []
    for lc, eval_bound in zip(model.latent.codes, bound):
        info = last.get(f"info/{lc.name}") if last else None
        codes.append({"name": lc.name, "spec": lc.spec, "weight": lc.weight,
                      "entropy": lc.code.entropy(), "differential": lc.code.differential,
                      "reachable_bound": artefacts.reachable_bound(lc),
                      "info": info, "info_eval": eval_bound})
    files = {
        "config": str(run.config), "checkpoint": str(run.latest), "metrics": str(run.metrics),
        "samples": str(run.path / "samples.png"),
        "traversals": sorted(str(p) for p in run.path.glob("traversal-*.png")),
        "info_plot": str(run.path / "info.png"), "summary": str(run.summary),
    }
    if (run.path / "heldout.png").is_file():  # drawn where the log holds a held-out score
        files["heldout_plot"] = str(run.path / "heldout.png")
    images = step * cfg.batch_size  # every step of the run, resumed sessions included
    summary = {
        "status": "finished", "method": cfg.method, "dataset": cfg.dataset,
        "generator_reward": getattr(session.method, "reward_generator", True),
        "backbone": cfg.backbone, "device": str(session.device), "precision": cfg.precision,
        "run_dir": str(run.path), "steps": step, "batch_size": cfg.batch_size,
        "data_parallel": distributed.describe(cfg.batch_size),
        "elapsed_s": wall, "train_s": train_seconds,
        "threads": torch.get_num_threads() if session.device.type == "cpu" else None,
        "cuda_graph": session.step_graph.summary() if session.step_graph else None,
        "images_per_s": images / train_seconds if train_seconds > 0 else None,
        "final": {k: last[k] for k in ("loss_d", "loss_g") if last and k in last},
        "heldout": {k[8:]: v for k, v in (last or {}).items() if k.startswith("heldout/")},
        "codes": codes, "files": files,
    }
    atomic_write_text(run.summary, dumps(summary))
    return summary


def train(config: RunConfig, quiet: bool = True,
          registry: Registry | None = None) -> dict[str, Any]:
    """Start a fresh run and train it; returns the summary. Torch's thread count is what it was
    before when it returns (a notebook goes on with its own); `start` alone leaves the run's."""
    before = torch.get_num_threads()
    try:
        return fit(start(config, registry), quiet)
    finally:
        torch.set_num_threads(before)
