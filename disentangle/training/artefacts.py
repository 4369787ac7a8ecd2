"""Pictures a run leaves behind: a sample grid, one latent traversal per code dimension, and the
information bound L_I per code against steps (Figure 1 of the paper)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from disentangle.model import LatentModel
from disentangle.training.rundir import atomic_write

PAD_VALUE = 0.5  # grey lines between tiles


def image_grid(images: torch.Tensor, ncol: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (rows*(H+pad)+pad, ncol*(W+pad)+pad, C) uint8."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    rows = math.ceil(n / ncol)
    grid = torch.full((c, rows * (h + pad) + pad, ncol * (w + pad) + pad), PAD_VALUE)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top:top + h, left:left + w] = images[i]
    return (grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy())


def save_png(array: np.ndarray, path: Path, scale: int = 1) -> Path:
    """Write a (H, W, C) uint8 array as PNG through a temporary file and a rename."""
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    atomic_write(path, lambda fh: image.save(fh, format="PNG"))
    return path


def _scale(model: LatentModel, images: torch.Tensor) -> int:
    """Blow small images up so a grid of 8x8 digits is still legible."""
    return max(1, 64 // images.shape[-1])


@torch.no_grad()
def _generate(model: LatentModel, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        images = model.generate(z.to(device), [v.to(device) for v in values])
    finally:
        model.train(was_training)
    return model.from_range(images.float())


def write_samples(model: LatentModel, path: Path, seed: int, n: int = 100, ncol: int = 10) -> Path:
    """A grid of n samples from fixed noise (the same images-to-be at every call of a run)."""
    z, values = model.latent.sample(n, torch.Generator().manual_seed(seed))
    images = _generate(model, z, values)
    return save_png(image_grid(images, ncol), path, _scale(model, images))


def traversal_name(code_name: str, dims: int, dim: int) -> str:
    """traversal-c1.png for a one-column code, traversal-c2-1.png, traversal-c2-2.png otherwise."""
    return f"traversal-{code_name}.png" if dims == 1 else f"traversal-{code_name}-{dim + 1}.png"


def write_traversals(model: LatentModel, run_dir: Path, seed: int, rows: int = 8,
                     steps: int = 10) -> list[Path]:
    """One picture per code dimension: rows share fixed noise and fixed other codes; columns
    sweep that dimension through code.sweep() (continuous codes from -2 to 2)."""
    latent = model.latent
    z, values = latent.sample(rows, torch.Generator().manual_seed(seed))
    written = []
    for i, lc in enumerate(latent.codes):
        sweep = lc.code.sweep(steps)  # (S,)
        s = len(sweep)
        for dim in range(lc.code.dims):
            zs = z.repeat_interleave(s, 0)  # (rows*S, noise_dim)
            vs = [v.repeat_interleave(s, 0).clone() for v in values]
            vs[i][:, dim] = sweep.repeat(rows).to(vs[i].dtype)
            images = _generate(model, zs, vs)
            path = run_dir / traversal_name(lc.name, lc.code.dims, dim)
            written.append(save_png(image_grid(images, s), path, _scale(model, images)))
    return written


def write_info_plot(model: LatentModel, records: Sequence[dict[str, Any]], path: Path) -> Path:
    """L_I per code against steps, with H(c) as a dashed line in the same colour. Continuous codes
    are labelled as bounds: with a fixed σ they cannot reach their differential entropy, and with
    a learned σ they have no upper limit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = [f"C{i % 10}" for i in range(len(model.latent.codes))]
    for lc, colour in zip(model.latent.codes, colours):
        key = f"info/{lc.name}"
        points = [(r["step"], r[key]) for r in records if key in r and r[key] is not None]
        h = lc.code.entropy()
        if lc.code.differential:
            label = f"{lc.name} {lc.spec}: lower bound (differential H = {h:.2f})"
        else:
            label = f"{lc.name} {lc.spec}: L_I (H = {h:.2f})"
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, color=colour, label=label, linewidth=1.5)
        ax.axhline(h, color=colour, linestyle="--", linewidth=1.0, alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("L_I (nats)")
    ax.set_title("Information bound per code; dashed lines: H(c)")
    ax.grid(alpha=0.3)
    if model.latent.codes:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    return path
