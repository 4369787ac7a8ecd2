"""Data-parallel training under torchrun: `torchrun --nproc-per-node N -m disentangle run ...`
starts N processes (ranks); each holds the whole dataset, the run's seeded generator and identical
weights, and computes 1/N of every step. Without torchrun (WORLD_SIZE unset or 1) nothing here
does anything and the loop is the plain single-process one.

Why it is built this way:
- `--batch-size` is the global batch B. Every rank draws the global batch of data indices and of
  latents with the same generator and keeps its own rows (rank r: rows r·B/N to (r+1)·B/N), so
  the ranks' batches are distinct, together they are the batch a 1-rank run draws, and the
  generator advances alike everywhere: a checkpoint resumes on any number of ranks.
- Gradients are averaged over the ranks right before each optimiser step (a step pre-hook, one
  all-reduce per optimiser step). For losses that are means over equal shares this is the global
  batch's gradient: DDP's semantics. torch's DistributedDataParallel wrapper is not used: a
  LatentModel has no forward of its own (a method calls G, D's trunk and the heads directly,
  several times per step, each backward limited to one optimiser's parameters), so DDP would
  have to wrap each network apart. Tried that way it kept 2 gloo ranks in step for InfoGAN, but
  it renames every state_dict key (checkpoints), hides a network's own methods and buffers
  (InfoGAN-CR's H resets itself), and ties correctness to each wrapped network getting all its
  gradients in one backward per forward, which a plugin's method need not do. The hook works
  for any method whose updates go through its optimisers; what it gives up is DDP's overlap of
  the all-reduce with the backward.
- Batch norm normalises with the global batch's statistics (GlobalBatchNorm), so N ranks compute
  what one does. Spectral norm's power iteration depends only on the weights, which stay
  identical; all buffers are re-sent from rank 0 at each checkpoint all the same.
- Rank 0 alone writes the run directory and prints; the other ranks train silently.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from disentangle.errors import DisentangleError

_owned = False  # setup() created the process group, so close() destroys it


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def active() -> bool:
    return world_size() > 1


def is_writer() -> bool:
    """Rank 0 (or a plain run): the one process that writes the run directory and prints."""
    return rank() == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise DisentangleError(f"environment variable {name}={text!r} is not an integer; it is "
                               "set by torchrun, do not set it by hand") from None


def launched_ranks() -> int:
    """How many ranks torchrun started (its WORLD_SIZE), 1 without torchrun."""
    return max(_env_int("WORLD_SIZE", 1), 1)


def launched_rank() -> int:
    """This process's rank as torchrun numbers it (its RANK), 0 without torchrun; readable before
    the process group exists."""
    return _env_int("RANK", 0)


def check_batch(batch_size: int, ranks: int) -> None:
    if batch_size % ranks:
        lower = max(batch_size // ranks * ranks, ranks)
        raise DisentangleError(
            f"--batch-size {batch_size} is the global batch and must divide evenly among the "
            f"{ranks} ranks torchrun started; use a multiple of {ranks} (e.g. {lower} or "
            f"{lower + ranks})")


def setup(device: torch.device, batch_size: int) -> torch.device:
    """Join torchrun's process group when it started several ranks (NCCL on CUDA, gloo on CPU)
    and return this rank's device: cuda:LOCAL_RANK, one GPU per rank. A plain run: `device`."""
    ranks = launched_ranks()
    if ranks == 1:
        return device
    check_batch(batch_size, ranks)
    if device.type == "cuda":
        local, gpus = _env_int("LOCAL_RANK", 0), torch.cuda.device_count()
        if local >= gpus:
            raise DisentangleError(f"LOCAL_RANK {local} has no GPU of its own (this machine has "
                                   f"{gpus}); start at most {gpus} ranks per machine "
                                   f"(torchrun --nproc-per-node {gpus}) or pass --device cpu")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        _join_group(device)
    if dist.get_world_size() != ranks:
        raise DisentangleError(f"the process group has {dist.get_world_size()} ranks but "
                               f"WORLD_SIZE is {ranks}")
    return device


def _join_group(device: torch.device) -> None:
    """torchrun's process group, NCCL on CUDA and gloo on CPU, for close() to destroy.

    torch._dynamo is imported first. Imported while a group exists (Adam's first step imports
    it), it takes references to the group that destroy_process_group does not drop (torch
    2.14.1: the group's reference count went from 9 to 19), so the group and its gloo threads
    lived on into interpreter shutdown, where threads left running can abort a process. A
    2-rank gloo test died now and then (2 of about 100 runs) with 'terminate called without an
    active exception'; that this was the cause is likely, not proven."""
    global _owned
    import torch._dynamo  # noqa: F401  (before the group: see above)

    if device.type == "cuda":
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    _owned = True


def close(wait: bool = False) -> None:
    """Leave the process group setup() joined (a no-op otherwise). `wait`, after a run that
    ended well: first wait for every rank, so that none tears the group down while rank 0 still
    writes (never after an error: the other ranks may be stuck where this one failed)."""
    global _owned
    if _owned and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
    _owned = False


def describe(batch_size: int) -> dict[str, Any]:
    """What config.json and summary.json record: how the global batch was split."""
    n = world_size()
    return {"world_size": n, "backend": dist.get_backend() if active() else None,
            "global_batch_size": batch_size, "batch_size_per_rank": batch_size // n}


# --- which rows this rank trains on ----------------------------------------------------------------

def own_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's share of a batch drawn alike on every rank (the whole batch on one rank)."""
    n = batch.shape[0] // world_size()
    return batch[rank() * n:(rank() + 1) * n] if active() else batch


@contextlib.contextmanager
def global_latents(latent: Any) -> Iterator[None]:
    """While a method's step runs, `latent.sample(n, ...)` draws the global n·N latents and keeps
    this rank's rows, as the data indices are: the same generator consumption on every rank, and
    latents that are distinct across ranks and equal to a 1-rank run's."""
    if not active():
        yield
        return
    draw = latent.sample

    def sample(n: int, generator: torch.Generator | None = None, device: Any = None):
        z, values = draw(n * world_size(), generator, device)
        return own_rows(z), [own_rows(v) for v in values]

    latent.sample = sample
    try:
        yield
    finally:
        del latent.sample  # the class's method again


@contextlib.contextmanager
def rank0_first() -> Iterator[None]:
    """Rank 0 runs the block (e.g. a dataset conversion or download that fills the cache), then
    the others: they find the cache filled, and no two ranks convert at once."""
    if active() and rank() != 0:
        dist.barrier()
    yield
    if active() and rank() == 0:
        dist.barrier()


def from_rank0(value: Any) -> Any:
    """Rank 0's value of a picklable object, on every rank."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --- collectives the loop uses --------------------------------------------------------------------

def mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean over ranks (a new tensor); the tensor itself on one rank."""
    if not active():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total)
    return total.div_(world_size())


def agree(flag: bool, now: bool) -> bool:
    """A decision every rank takes together: with several ranks, only at `now` (a step all ranks
    share, such as a log step) and then true if it is true on any rank."""
    if not active():
        return flag
    if not now:
        return False
    vote = torch.tensor([float(flag)], device=_comm_device())
    dist.all_reduce(vote, op=dist.ReduceOp.MAX)
    return bool(vote.item())


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def replicate(model: nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Make `model` train as one replica of N: global batch norm, rank 0's weights and buffers
    on every rank, and gradients averaged over ranks before every optimiser step."""
    if not active():
        return
    use_global_batch_norm(model)
    for tensor in model.state_dict().values():  # parameters and buffers (shared storage)
        dist.broadcast(tensor, src=0)
    for optimizer in optimizers.values():
        optimizer.register_step_pre_hook(_average_gradients)


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm statistics, spectral norm's vectors) on every rank. They
    already agree by construction; at a checkpoint this makes every rank hold what is saved."""
    if active():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def _average_gradients(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Step pre-hook: each gradient becomes its mean over ranks, in one all-reduce per dtype."""
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:  # None on every rank alike: the ranks run the same code
                groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
    for grads in groups.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat.div_(world_size())
        for grad, part in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(part.view_as(grad))


# --- batch norm over the global batch --------------------------------------------------------------

class _SumOverRanks(torch.autograd.Function):
    """all-reduce (sum) with a gradient: each rank's input feeds every rank's output, so the
    gradient of an input is the sum of the ranks' output gradients, another all-reduce.
    (torch.distributed.nn.functional.all_reduce does the same but is deprecated in torch 2.14.)"""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad.contiguous())


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with the statistics of the global batch: per-channel sums are all-reduced over
    the ranks by an all-reduce whose backward all-reduces the gradient, so the output, its
    gradient and the running statistics are those of one process holding every rank's rows.
    torch.nn.SyncBatchNorm does this on GPUs only (torch 2.14 refuses CPU tensors); this one
    needs nothing but all-reduce, so gloo and NCCL run the same code, the code the CPU tests
    check. Same state_dict keys as nn.BatchNorm1d/2d: checkpoints move between rank counts.
    Eval mode, or a single process: plain batch norm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (batch, channels, ...), got {x.dim()}-D")

    @classmethod
    def like(cls, bn: nn.modules.batchnorm._BatchNorm) -> GlobalBatchNorm:
        """The same layer (the very parameters and buffers, so optimisers keep them)."""
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        for name in ("weight", "bias"):
            setattr(new, name, getattr(bn, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(new, name, getattr(bn, name))
        return new.train(bn.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        all_reduce = _SumOverRanks.apply
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = xf.new_tensor([x.numel() // x.shape[1]])
        total = all_reduce(torch.cat([xf.sum(dims), count]))  # (C + 1,) over all ranks
        n = total[-1]
        mean = total[:-1] / n  # (C,)
        centred = xf - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / n  # (C,) biased: what normalises
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:  # training only: eval mode returned above
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                          else self.momentum)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                unbiased = var * (n / (n - 1))  # as nn.BatchNorm keeps it
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return y.to(x.dtype)


def use_global_batch_norm(module: nn.Module) -> None:
    """Every batch-norm layer inside `module` becomes a GlobalBatchNorm, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            if not isinstance(child, GlobalBatchNorm):
                setattr(module, name, GlobalBatchNorm.like(child))
        else:
            use_global_batch_norm(child)
