"""How fast do datasets load, and how fast can training batches be drawn from them?

    python -m benchmarks.data_loading            # about a minute on 2 CPU cores
    python -m benchmarks.data_loading --json     # the same figures as JSON on stdout

1. Load time of a split, cold (conversion into the HDF5 cache) vs warm (read back from it), for
   `digits`, `shapes` (20,000 sprites at 64 px) and a synthetic MNIST-format train file of 60,000
   images written to a temporary directory; and the time to import the library a cold load
   needs (scikit-learn, torchvision), which a warm load never imports.
2. Training batches of 128: random indexing into the in-memory uint8 tensor plus conversion to
   float, vs torchvision's MNIST dataset behind a DataLoader with a per-sample ToTensor transform,
   on the same 60,000 images.

Everything happens in a temporary data directory: no network, no existing cache is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def synthetic_mnist(root: Path, n_train: int = 60_000, n_test: int = 10_000) -> None:
    """MNIST-format files (plain IDX, as torchvision extracts them) with digit-like content."""
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 4:24, 4:24] = rng.integers(0, 256, (n, 20, 20), dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def load_times(data_dir: Path) -> list[dict]:
    """Per dataset: importing its reader library, converting (cold) and reading the cache (warm).

    The reader library (scikit-learn for digits, torchvision for IDX files) is imported only on a
    cold load, so a first load in a fresh process costs `import_s + cold_s`; a warm one skips it.
    """
    import importlib

    from disentangle import get_registry

    registry = get_registry()
    rows = []
    for name, reader, split in (("digits", "sklearn.datasets", "train"),
                                ("shapes", None, "train"),
                                ("mnist", "torchvision.datasets.mnist", "train")):
        imported, _ = timed(lambda: importlib.import_module(reader) if reader else None)
        cold, data = timed(lambda: registry.create("datasets", name).load(split, data_dir))
        warm, _ = timed(lambda: registry.create("datasets", name).load(split, data_dir), repeat=3)
        rows.append({"dataset": name, "split": split, "images": len(data),
                     "shape": "x".join(map(str, data.images.shape[1:])),
                     "import_s": round(imported, 3), "cold_s": round(cold, 4),
                     "warm_s": round(warm, 4), "speed_up": round(cold / warm, 1)})
    return rows


def batch_throughput(data_dir: Path, batches: int = 300, batch_size: int = 128) -> list[dict]:
    import torchvision
    from torch.utils.data import DataLoader

    from disentangle import get_registry

    data = get_registry().create("datasets", "mnist").load("train", data_dir)
    rows = []

    def in_memory() -> None:
        g = torch.Generator().manual_seed(0)
        for _ in range(batches):
            idx = torch.randint(0, len(data), (batch_size,), generator=g)
            x = data.images[idx].float().div_(255)  # (B, 1, 28, 28) in [0, 1]
            y = data.labels[idx]
        assert x.shape == (batch_size, 1, 28, 28) and y.shape == (batch_size,)

    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        # Small ops split over threads stall when another process holds a core; one thread is
        # the robust choice for batch assembly on a shared 2-core machine.
        torch.set_num_threads(threads)
        seconds, _ = timed(in_memory, repeat=3)
        rows.append({"loader": "in-memory uint8 tensor, random index + float",
                     "torch_threads": threads, "workers": 0, "batches": batches,
                     "images_per_s": round(batches * batch_size / seconds)})
    torch.set_num_threads(default_threads)

    source = torchvision.datasets.MNIST(str(data_dir), train=True,
                                        transform=torchvision.transforms.ToTensor())
    for workers in (0, 2):
        loader = DataLoader(source, batch_size=batch_size, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(0))

        def run() -> None:
            for i, (x, y) in enumerate(loader):
                if i + 1 == batches:
                    break
            assert x.shape == (batch_size, 1, 28, 28)

        seconds, _ = timed(run, repeat=2 if workers == 0 else 1)
        rows.append({"loader": "torchvision MNIST + DataLoader, per-sample ToTensor",
                     "torch_threads": default_threads, "workers": workers, "batches": batches,
                     "images_per_s": round(batches * batch_size / seconds)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--batches", type=int, default=300, help="batches per throughput run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="disentangle-bench-") as tmp:
        data_dir = Path(tmp)
        os.environ.pop("DISENTANGLE_CACHE_DIR", None)
        synthetic_mnist(data_dir)
        results = {
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                        "load_average": os.getloadavg()[0]},
            "load": load_times(data_dir),
            "batches": batch_throughput(data_dir, args.batches),
        }
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    print(f"machine: {results['machine']}")
    print(f"\n{'dataset':<8} {'split':<6} {'images':>7} {'shape':>8} {'import s':>9} "
          f"{'cold s':>8} {'warm s':>8} {'cold/warm':>9}")
    for r in results["load"]:
        print(f"{r['dataset']:<8} {r['split']:<6} {r['images']:>7} {r['shape']:>8} "
              f"{r['import_s']:>9.2f} {r['cold_s']:>8.3f} {r['warm_s']:>8.4f} "
              f"{r['speed_up']:>9.1f}")
    print(f"\n{'training batches of 128':<52} {'threads':>7} {'workers':>7} {'images/s':>10}")
    for r in results["batches"]:
        print(f"{r['loader']:<52} {r['torch_threads']:>7} {r['workers']:>7} "
              f"{r['images_per_s']:>10,}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
