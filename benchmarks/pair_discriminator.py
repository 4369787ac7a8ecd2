"""Can InfoGAN-CR's pair discriminator H learn on a trained run's generator? Trains the run's own
H and a freshly initialised H of each design (`stacked`, `siamese`) side by side for a few hundred
more steps on the same pairs from the run's generator (held fixed), at a chosen contrastive gap,
and prints each one's accuracy at naming the shared code on held-out pairs. A fresh H that learns
where the run's own H does not says that H got stuck in training, not that the codes are
unreadable; the two fresh designs side by side say which one learns faster.

    python -m benchmarks.pair_discriminator runs/cr --steps 300 --gap 1.5 --g-mode train

The run directory is only read. `--g-mode train` draws the pairs as training does once CR is on
(G's batch-norm on batch statistics); `eval` as it does before (running statistics).
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from disentangle.errors import DisentangleError
from disentangle.model import in_mode
from disentangle.registry import get_registry
from disentangle.training.build import load_run
from disentangle_infogan.cr import PAIR, PAIR_DESIGNS, PairDiscriminator


def pairs(method, model, n: int, gap: float, generator: torch.Generator, g_mode: str):
    """n pairs from G in `g_mode`, no gradients: (first, second, shared code index)."""
    z, a, b, shared = method.sample_pairs(model.latent, n, gap, generator, "cpu")
    return (*method.pair_images(model, z, a, b, train=g_mode == "train", grad=False), shared)


def accuracy(h: torch.nn.Module, held_out) -> float:
    """H's accuracy on the held-out pairs, in eval mode: in train mode spectral norm would run a
    power iteration on each call and so move H's weights between scorings."""
    first, second, shared = held_out
    with in_mode(h, train=False), torch.no_grad():
        return (h(first, second).argmax(1) == shared).float().mean().item()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="an infogan-cr run directory")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.0,
                        help="contrastive gap of the training and held-out pairs")
    parser.add_argument("--g-mode", choices=("train", "eval"), default="train")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--held-out", type=int, default=1024)
    parser.add_argument("--every", type=int, default=100, help="print accuracies every N steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "held_out", "every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.gap < 2:
        parser.error("--gap must be in [0, 2)")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)  # spectral norm's starting vectors come from the global stream
    try:
        config, model, _ = load_run(args.run)
    except DisentangleError as exc:
        sys.exit(f"error: {exc}")
    if PAIR not in model.auxiliary:
        sys.exit(f"error: {args.run} is a '{config.method}' run; it has no pair discriminator "
                 "(train with `disentangle run infogan-cr`)")
    method = get_registry().create("methods", "infogan-cr")
    held_out = pairs(method, model, args.held_out, args.gap,
                     torch.Generator().manual_seed(args.seed + 1), args.g_mode)
    nets = {"run's H": model.auxiliary[PAIR]}
    for design in PAIR_DESIGNS:
        nets[f"fresh {design}"] = fresh = PairDiscriminator(
            tuple(held_out[0].shape[1:]), len(model.latent.codes), design)
        fresh.reset(torch.Generator().manual_seed(args.seed))
    optimizers = {name: torch.optim.Adam(h.parameters(), lr=config.lr_d,
                                         betas=(config.beta1, config.beta2))
                  for name, h in nets.items()}
    for h in nets.values():  # all trained alike: load_run gives the run's H in eval mode,
        h.train()  # where spectral norm's power iteration would stand still
    generator = torch.Generator().manual_seed(args.seed + 2)
    rows = [{"step": 0, **{name: accuracy(h, held_out) for name, h in nets.items()}}]
    print(f"{'step':>6}  " + "  ".join(f"{name:>13}" for name in nets))
    for step in range(1, args.steps + 1):
        first, second, shared = pairs(method, model, args.batch, args.gap, generator, args.g_mode)
        for name, h in nets.items():
            loss = F.cross_entropy(h(first, second), shared)
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()
        if step % args.every == 0 or step == args.steps:
            rows.append({"step": step, **{n: accuracy(h, held_out) for n, h in nets.items()}})
    for row in rows:
        print(f"{row['step']:>6}  " + "  ".join(f"{row[name]:>13.3f}" for name in nets))
    return rows


if __name__ == "__main__":
    main()
