"""Training speed of `disentangle run` (InfoGAN and the GAN baseline on the paper's MNIST networks,
batch 128, CPU or --device cuda) against a straightforward PyTorch port of the paper's MNIST
model, and, with --quality, what the speed buys: L_I and held-out cluster accuracy on the embedded
digits.

    python -m benchmarks.train_speed                        # speed table, a few minutes
    python -m benchmarks.train_speed --threads 1 2          # the same table per thread count
    python -m benchmarks.train_speed --threads 0 --precision fp32   # our default vs the port's
    python -m benchmarks.train_speed --device cuda --window 100   # on a GPU (docs/training.md):
        # with and without the CUDA graph, GAN and InfoGAN, MNIST and 64-px networks, batch
        # 64/128/1,024, the port, and the recording's cost
    python -m benchmarks.train_speed --variants --threads 1 2   # Adam kinds, bf16, channels_last
    python -m benchmarks.train_speed --quality --steps 1000 --seeds 0 1 2

Speed is measured in windows of --window steps after a warm-up window; the table gives the best
window (least disturbed by other processes on a shared machine) and the median. Our runs go
through the real training loop (`disentangle.training.train`), batching and logging included.
The port is what a reader of the paper would write: a Dataset of PIL images with per-sample
ToTensor/Normalize transforms behind a DataLoader, the paper's networks, and the usual loop (D
step on real then fake, G step with Q's losses, Adam on G+Q).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

DEFAULT_OUT = Path("bench-out")


# --- our training loop ---------------------------------------------------------------------------

def ours(method: str, precision: str, threads: int, window: int, windows: int,
         batch_size: int = 128, out: Path | None = None, device: str = "cpu",
         network: str = "mnist", cuda_graph: bool | None = None) -> list[float]:
    """images/s of each window (after a warm-up window) through `disentangle.training.train`."""
    return ours_run(method, precision, threads, window, windows, batch_size, out, device,
                    network, cuda_graph)[0]


# the networks timed on a GPU: the paper's MNIST model on digits, and InfoGAN-CR's dSprites
# recipe (64-px sprites64 networks, spectral norm, 5 codes, 2 G steps) on 64-px sprites
NETWORKS = {
    "mnist": {"dataset": "digits", "backbone": "mnist"},
    "sprites64": {"dataset": "sprites-speed", "backbone": "sprites64", "spectral_norm": True,
                  "codes": ["uniform:1"] * 5, "noise_dim": 5, "g_steps": 2},
}


def ours_run(method: str, precision: str, threads: int, window: int, windows: int,
             batch_size: int, out: Path | None, device: str, network: str,
             cuda_graph: bool | None) -> tuple[list[float], dict]:
    """images/s of each timed window, and the run's summary."""
    from disentangle.training import RunConfig, train
    from disentangle.training.rundir import RunDir

    with tempfile.TemporaryDirectory(dir=out) as tmp:
        config = RunConfig(method=method, **NETWORKS[network],
                           steps=window * (windows + 1), batch_size=batch_size,
                           precision=precision, threads=threads or None, device=device,
                           log_every=window, checkpoint_every=10**9, sample_every=10**9,
                           score_every=0, cuda_graph=cuda_graph, out=str(Path(tmp) / "run"))
        summary = train(config)
        records = RunDir.open(Path(summary["run_dir"])).read_metrics()
    return [r["images_per_s"] for r in records[1:]], summary


def use_sprites_for_speed() -> None:
    """Register `sprites-speed`: the 5,000 rendered 64-px `shapes` test sprites as a training set,
    so each timed run starts in a second instead of rendering the 737,280-image grid."""
    import sys
    from types import ModuleType

    from disentangle import Component, hookimpl
    from disentangle.registry import Registry, set_registry
    from disentangle_datasets.shapes import Shapes

    class SpritesForSpeed(Shapes):
        name = "sprites-speed"
        training_split = "test"

    module = ModuleType("disentangle_speed_sprites")

    @hookimpl
    def disentangle_datasets():
        yield Component("sprites-speed", SpritesForSpeed, "shapes' test sprites (timing only)")

    module.disentangle_datasets = disentangle_datasets
    sys.modules[module.__name__] = module
    set_registry(Registry(plugins=[module]))


# --- a straightforward port of the paper's MNIST model ----------------------------------------

class PortGenerator(nn.Module):
    def __init__(self, input_width: int = 74):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(input_width, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.Linear(1024, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        return self.up(self.fc(x).view(-1, 128, 7, 7))


class PortShared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.1))
        self.fc = nn.Sequential(nn.Linear(7 * 7 * 128, 1024), nn.BatchNorm1d(1024),
                                nn.LeakyReLU(0.1))

    def forward(self, x):
        return self.fc(self.conv(x).view(x.shape[0], -1))


class PortQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1024, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1))
        self.logits, self.mu, self.var = nn.Linear(128, 10), nn.Linear(128, 2), nn.Linear(128, 2)

    def forward(self, h):
        h = self.body(h)
        return self.logits(h), self.mu(h), torch.exp(self.var(h))


def gaussian_nll(x, mu, var):
    nll = 0.5 * torch.log(2 * math.pi * var + 1e-6) + (x - mu) ** 2 / (2 * var + 1e-6)
    return nll.sum(1).mean()


def port_loader(batch_size: int = 128):
    """The port's data: a Dataset of PIL images, ToTensor + Normalize per sample, a DataLoader."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from disentangle.registry import get_registry

    data = get_registry().create("datasets", "digits").load("train")

    class Digits(Dataset):
        def __init__(self, transform):
            self.images = [Image.fromarray(img[0].numpy(), mode="L") for img in data.images]
            self.labels, self.transform = data.labels.tolist(), transform

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.transform(self.images[i]), self.labels[i]

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return DataLoader(Digits(transform), batch_size=batch_size, shuffle=True, drop_last=True)


def port(threads: int, window: int, windows: int, batch_size: int = 128,
         device: str = "cpu") -> list[float]:
    torch.set_num_threads(threads)
    loader = port_loader(batch_size)
    torch.manual_seed(0)
    net_g, shared, net_q = PortGenerator().to(device), PortShared().to(device), PortQ().to(device)
    d_head = nn.Sequential(nn.Linear(1024, 1), nn.Sigmoid()).to(device)
    opt_d = torch.optim.Adam([*shared.parameters(), *d_head.parameters()], lr=2e-4,
                             betas=(0.5, 0.999))
    opt_g = torch.optim.Adam([*net_g.parameters(), *net_q.parameters()], lr=1e-3,
                             betas=(0.5, 0.999))
    bce, ce = nn.BCELoss(), nn.CrossEntropyLoss()

    def batches():
        while True:
            yield from loader

    def step(real):
        b = real.shape[0]
        opt_d.zero_grad()
        label = torch.full((b,), 1.0, device=device)
        loss_real = bce(d_head(shared(real)).view(-1), label)
        loss_real.backward()
        idx = torch.randint(10, (b,), device=device)
        noise = torch.cat([torch.rand(b, 62, device=device) * 2 - 1,
                           nn.functional.one_hot(idx, 10).float(),
                           torch.rand(b, 2, device=device) * 2 - 1], 1)
        fake = net_g(noise)
        label.fill_(0.0)
        loss_fake = bce(d_head(shared(fake.detach())).view(-1), label)
        loss_fake.backward()
        opt_d.step()
        opt_g.zero_grad()
        h = shared(fake)
        label.fill_(1.0)
        gen_loss = bce(d_head(h).view(-1), label)
        logits, mu, var = net_q(h)
        loss = gen_loss + ce(logits, idx) + 0.1 * gaussian_nll(noise[:, -2:], mu, var)
        loss.backward()
        opt_g.step()

    it = batches()
    rates = []
    for w in range(windows + 1):
        start = time.perf_counter()
        for _ in range(window):
            real, _ = next(it)
            step(real.to(device))
        if device != "cpu":
            torch.cuda.synchronize()
        if w:  # the first window warms up
            rates.append(window * batch_size / (time.perf_counter() - start))
    return rates


def loader_only(threads: int, batches: int = 30, batch_size: int = 128) -> float:
    """images/s of the port's DataLoader alone."""
    torch.set_num_threads(threads)
    loader = port_loader(batch_size)
    done, start = 0, time.perf_counter()
    while done < batches:
        for _ in loader:
            done += 1
            if done == batches:
                break
    return batches * batch_size / (time.perf_counter() - start)


# --- variants of one training step -------------------------------------------------------------

def step_rates(method: str, threads: int, precision: str = "fp32", adam: str = "fused",
               channels_last: bool = False, window: int = 5, windows: int = 3,
               batch_size: int = 128) -> list[float]:
    """images/s of the bare method step (no trainer) under one combination of CPU options."""
    from disentangle.latent import Latent
    from disentangle.model import LatentModel
    from disentangle.registry import get_registry

    torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)
    registry = get_registry()
    latent = Latent.from_specs(["categorical:10", "uniform:2"], 62, registry=registry)
    backbone = registry.create("backbones", "mnist")
    torch.manual_seed(0)
    model = LatentModel(latent, backbone.build((1, 28, 28), latent.input_width, latent.head_width),
                        backbone.output_range)
    algo = registry.create("methods", method, precision=None if precision == "fp32" else precision)
    optimizers = algo.optimizers(model, None)
    if adam != "fused":
        options = {"foreach": adam == "foreach"}
        optimizers = {name: torch.optim.Adam(opt.param_groups[0]["params"],
                                             lr=opt.param_groups[0]["lr"], betas=(0.5, 0.999),
                                             **options)
                      for name, opt in optimizers.items()}
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = get_registry().create("datasets", "digits").load("train").images
    generator = torch.Generator().manual_seed(0)
    rates = []
    for w in range(windows + 1):
        start = time.perf_counter()
        for _ in range(window):
            index = torch.randint(len(data), (batch_size,), generator=generator)
            real = model.to_range(data[index])
            if channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            algo.step(model, optimizers, real, generator)
        if w:
            rates.append(window * batch_size / (time.perf_counter() - start))
    return rates


VARIANTS = [  # (label, precision, adam, channels_last)
    ("fp32, fused Adam (default)", "fp32", "fused", False),
    ("fp32, foreach Adam", "fp32", "foreach", False),
    ("fp32, per-tensor Adam", "fp32", "loop", False),
    ("fp32, fused Adam, channels_last", "fp32", "fused", True),
    ("bf16 autocast, fused Adam", "bf16", "fused", False),
    ("bf16 autocast, per-tensor Adam", "bf16", "loop", False),
]


def variants(args) -> None:
    print(f"bare infogan step, paper's MNIST nets, batch {args.batch_size}, window {args.window} "
          f"steps x {args.windows} (+1 warm-up), {args.rounds} interleaved rounds")
    for threads in args.threads:
        rows: dict[str, Row] = {}
        for _ in range(args.rounds):
            for label, precision, adam, channels_last in VARIANTS:
                rows.setdefault(label, Row(label, [])).rates.extend(step_rates(
                    "infogan", threads, precision, adam, channels_last, args.window, args.windows,
                    args.batch_size))
        print(f"\nthreads = {threads}")
        print(f"{'variant':<40} {'best img/s':>10} {'median':>8}")
        for row in rows.values():
            print(f"{row.label:<40} {row.best:>10.0f} {row.median:>8.0f}")


# --- speed table -----------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    rates: list[float]

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def speed(args) -> None:
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {where}, CPU threads: {torch.get_num_threads()}, "
          f"window {args.window} steps x {args.windows} (+1 warm-up), batch {args.batch_size}")
    for threads in args.threads:
        rows: dict[str, Row] = {}
        for _ in range(args.rounds):  # interleave the contenders so load spikes hit them alike
            for method, precision in (("gan", "fp32"), ("infogan", "fp32"), ("gan", "bf16"),
                                      ("infogan", "bf16")):
                if precision not in args.precision:
                    continue
                label = f"disentangle {method} ({precision})"
                rates = ours(method, precision, threads, args.window, args.windows, args.batch_size,
                             device=args.device)
                rows.setdefault(label, Row(label, [])).rates.extend(rates)
            port_threads = args.port_threads or threads or torch.get_num_threads()
            label = f"PyTorch port: DataLoader + PIL transforms (fp32, {port_threads} thr.)"
            rows.setdefault(label, Row(label, [])).rates.extend(
                port(port_threads, args.window, args.windows, args.batch_size, args.device))
        print(f"\nthreads = {threads}")
        print(f"{'implementation':<58} {'best img/s':>10} {'median':>8}")
        for row in rows.values():
            print(f"{row.label:<58} {row.best:>10.0f} {row.median:>8.0f}")
        for precision in args.precision:
            info = rows.get(f"disentangle infogan ({precision})")
            gan = rows.get(f"disentangle gan ({precision})")
            if info and gan:
                print(f"InfoGAN / GAN speed ({precision}): best {info.best / gan.best:.3f}, "
                      f"median {info.median / gan.median:.3f}")
        base = rows[label]
        for label, row in rows.items():
            if row is not base:
                print(f"{label} / port: best {row.best / base.best:.2f}x, median "
                      f"{row.median / base.median:.2f}x")
        print(f"the port's DataLoader alone: {loader_only(port_threads):.0f} images/s")


def gpu_speed(args) -> None:
    """Ours with and without the CUDA graph, GAN and InfoGAN, both networks, each batch size,
    and the port (MNIST networks), interleaved in rounds; the recording's cost and the steps that
    pay it back."""
    use_sprites_for_speed()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}, window {args.window} "
          f"steps x {args.windows} (+1 warm-up), {args.rounds} interleaved round(s)")
    rows: dict[tuple, Row] = {}
    records: dict[tuple, list[float]] = {}
    # per round, per network and batch: each method with and without the graph, then the port
    graphs = [g for g, name in ((False, "off"), (True, "on"))
              if {name, "default"} & set(args.cuda_graph)]
    contenders = [(network, batch, method, graph)
                  for network in args.networks for batch in args.batch_sizes
                  for method, graph in [*itertools.product(("gan", "infogan"), graphs),
                                        *([("port", False)] if network == "mnist"
                                          and False in graphs else [])]]
    for _, key in itertools.product(range(args.rounds), contenders):
        network, batch, method, graph = key
        if method == "port":
            rows.setdefault(key, Row(str(key), [])).rates.extend(
                port(1, max(5, args.window * 128 // batch), args.windows, batch, "cuda"))
            continue
        try:
            rates, summary = ours_run(method, "fp32", 1, args.window, args.windows, batch, None,
                                      "cuda", network, graph)
        except Exception as exc:  # one broken contender must not lose the table
            print(f"{key} failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        rows.setdefault(key, Row(str(key), [])).rates.extend(rates)
        print(f"{key}: median {statistics.median(rates):.0f} images/s",
              flush=True)  # a cut-off call still brings these back
        if summary.get("cuda_graph"):
            records.setdefault(key, []).append(summary["cuda_graph"]["record_seconds"])
    print(f"\n{'network':<10} {'batch':>5} {'method':<8} {'graph':<5} {'median img/s':>12} "
          f"{'best':>8} {'x eager':>7} {'x port':>7} {'record s':>8} {'pays back':>9}")
    for (network, batch, method, graph), row in rows.items():
        eager = rows.get((network, batch, method, False))
        base = rows.get((network, batch, "port", False))
        gain = f"{row.median / eager.median:.2f}" if graph and eager else ""
        vs_port = f"{row.median / base.median:.2f}" if base and method != "port" else ""
        recorded = records.get((network, batch, method, graph))
        record_s = statistics.median(recorded) if recorded else None
        payback = ""
        if record_s is not None and eager and row.median > eager.median:
            saved = batch / eager.median - batch / row.median  # seconds saved per step
            payback = f"{record_s / saved:.0f} st"
        print(f"{network:<10} {batch:>5} {method:<8} {'on' if graph else 'off':<5} "
              f"{row.median:>12.0f} {row.best:>8.0f} {gain:>7} {vs_port:>7} "
              f"{'' if record_s is None else f'{record_s:.2f}':>8} {payback:>9}")
    for network in args.networks:
        for batch in args.batch_sizes:
            for graph in (False, True):
                info, gan = rows.get((network, batch, "infogan", graph)), rows.get(
                    (network, batch, "gan", graph))
                if info and gan:
                    print(f"{network} batch {batch} graph {'on' if graph else 'off'}: "
                          f"InfoGAN/GAN time {gan.median / info.median:.3f}")


# --- quality ---------------------------------------------------------------------------------

def quality(args) -> None:
    from disentangle.evaluation import cluster_accuracy

    from disentangle.training import PRESETS, RunConfig, load_run, train

    out = Path(args.out) / "quality"  # the digits preset's recipe (its warps included)
    print(f"digits, {args.steps} steps, batch {args.batch_size}, seeds {args.seeds}; cluster "
          "accuracy = argmax of Q's categorical code on held-out digits, Hungarian-matched")
    print(f"{'method':<8} {'prec':<5} {'seed':>4} {'L_I c1 (eval)':>13} {'H(c1)':>6} "
          f"{'test acc':>8} {'train acc':>9} {'img/s':>6} {'minutes':>7}")
    results: dict[tuple[str, str], list[float]] = {}
    graphs = {"default": None, "on": True, "off": False}
    for precision, graph in ((p, g) for p in args.precision for g in args.cuda_graph):
        for method in args.methods:
            for seed in args.seeds:
                tag = "" if graph == "default" else f"-graph{graph}"
                run = out / (f"{method}-{precision}{tag}-b{args.batch_size}-s{args.steps}"
                             f"-warps{PRESETS['digits']['q_augment_start']}-seed{seed}")
                summary_path = run / "summary.json"
                if summary_path.is_file():  # reuse a finished run
                    summary = json.loads(summary_path.read_text())
                else:
                    recipe = {**PRESETS["digits"], "batch_size": args.batch_size,
                              "steps": args.steps}
                    config = RunConfig(**recipe, method=method, dataset="digits", seed=seed,
                                       precision=precision,
                                       threads=args.threads[0], device=args.device, log_every=50,
                                       checkpoint_every=500, sample_every=args.steps,
                                       cuda_graph=graphs[graph], out=str(run))
                    summary = train(config)
                _, model, dataset = load_run(run)
                scores = []
                for split in ("test", "train"):
                    data = dataset.load(split)
                    with torch.no_grad():
                        estimates, _, _ = model.encode(model.to_range(data.images))
                    pred = estimates[0][:, 0].long().numpy()
                    scores.append(cluster_accuracy(pred, data.labels.numpy()))
                c1 = summary["codes"][0]
                label = precision if graph == "default" else f"{precision}, graph {graph}"
                results.setdefault((method, label), []).append(scores[0])
                print(f"{method:<8} {label:<5} {seed:>4} {c1['info_eval']:>13.3f} "
                      f"{c1['entropy']:>6.3f} {scores[0]:>8.3f} {scores[1]:>9.3f} "
                      f"{summary['images_per_s']:>6.0f} {summary['elapsed_s'] / 60:>7.1f}",
                      flush=True)
    for (method, precision), accs in results.items():
        spread = f" ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else ""
        print(f"{method} {precision}: held-out cluster accuracy "
              f"{statistics.mean(accs):.3f}{spread} "
              f"over {len(accs)} seed(s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()],
                        help="torch threads of our runs (0: our default, as many as cores are "
                             "free) and, unless --port-threads, of the port")
    parser.add_argument("--port-threads", type=int, default=None,
                        help="threads of the port (default: as --threads; torch's own default "
                             f"here is {torch.get_num_threads()})")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="128 for speed; the digits preset's for --quality")
    parser.add_argument("--window", type=int, default=10, help="steps per timing window")
    parser.add_argument("--windows", type=int, default=3, help="timed windows per contender")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--quality", action="store_true", help="train on digits and score clusters")
    parser.add_argument("--variants", action="store_true",
                        help="bare step under threads/precision/Adam/channels_last variants")
    parser.add_argument("--steps", type=int, default=None, help="--quality: training steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["infogan", "gan"],
                        help="--quality: the methods trained (the speed tables time both)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 1024],
                        help="--device cuda: batch sizes of the speed table")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS),
                        help="--device cuda: networks of the speed table")
    parser.add_argument("--cuda-graph", nargs="+", default=["default"],
                        choices=["default", "on", "off"],
                        help="on cuda: train with and/or without the CUDA graph (default: "
                             "both; the speed table's port comes with 'off')")
    args = parser.parse_args(argv)
    from disentangle.errors import DisentangleError
    from disentangle.training.build import resolve_device
    try:  # one line, not a traceback from the first tensor put on a missing GPU
        resolve_device(args.device)
    except DisentangleError as exc:
        parser.error(str(exc))
    if args.quality:
        from disentangle.training import PRESETS, RunConfig

        preset = {**RunConfig().to_dict(), **PRESETS["digits"]}
        args.batch_size = args.batch_size or preset["batch_size"]
        args.steps = args.steps or preset["steps"]
        quality(args)
    else:
        args.batch_size = args.batch_size or 128
        if args.variants:
            variants(args)
        else:
            (gpu_speed if args.device == "cuda" else speed)(args)


if __name__ == "__main__":
    main()
