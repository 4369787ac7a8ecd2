"""Pictures a run leaves behind: a sample grid, one latent traversal per code dimension, and the
information bound L_I per code against steps (Figure 1 of the paper).

Every picture names what it shows (code, swept values, run, step), so a PNG copied into a report
still explains itself. They are drawn with matplotlib's object API on an Agg canvas, never through
pyplot, so drawing neither needs a display nor touches a caller's pyplot state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from disentangle.latent import LatentCode
from disentangle.model import LatentModel, in_mode
from disentangle.training.rundir import atomic_write, save_figure

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
    """Write a (H, W, C) uint8 array as a plain PNG (no figure around it), atomically."""
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    atomic_write(path, lambda fh: image.save(fh, format="PNG"))
    return path


def _scale(images: torch.Tensor) -> int:
    """Blow small images up so a grid of 8x8 digits is still legible."""
    return max(1, 64 // images.shape[-1])


@torch.no_grad()
def _generate(model: LatentModel, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    with in_mode(model, train=False):
        images = model.generate(z.to(device), [v.to(device) for v in values])
    return model.from_range(images.float())


def caption(run_dir: Path, method: str, dataset: str, step: int) -> str:
    """What every picture of a run says about where it comes from."""
    return f"run {Path(run_dir).name} ({method} on {dataset}), step {step:,}"


def _grid_figure(grid: np.ndarray, scale: int, title: str, foot: str, top: float = 1.0):
    """A (H, W, C) uint8 grid shown pixel for pixel (times `scale`), with room for labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    h, w = grid.shape[0] * scale / dpi, grid.shape[1] * scale / dpi  # inches
    left, right, bottom = 0.45, 0.2, 0.45  # margins for labels, inches (top: above the grid)
    width, height = max(w + left + right, 4.8), h + top + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(((width - w) / 2 / width, bottom / height, w / width, h / height))
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", fontsize=9)
    fig.text(0.5, 0.1 * bottom / height, foot, ha="center", va="bottom", fontsize=8,
             color="0.3")
    return fig, ax


def samples_figure(model: LatentModel, seed: int, foot: str, n: int = 100, ncol: int = 10):
    z, values = model.latent.sample(n, torch.Generator().manual_seed(seed))
    images = _generate(model, z, values)
    fig, ax = _grid_figure(image_grid(images, ncol), _scale(images),
                           f"{n} samples, the same noise and codes at every step", foot, top=0.4)
    ax.set_axis_off()
    return fig


def write_samples(model: LatentModel, path: Path, seed: int, foot: str = "", n: int = 100,
                  ncol: int = 10) -> Path:
    """A grid of n samples from fixed noise (the same images-to-be at every call of a run)."""
    return save_figure(samples_figure(model, seed, foot, n, ncol), path)


def traversal_name(code_name: str, dims: int, dim: int) -> str:
    """traversal-c1.png for a one-column code, traversal-c2-1.png, traversal-c2-2.png otherwise."""
    return f"traversal-{code_name}.png" if dims == 1 else f"traversal-{code_name}-{dim + 1}.png"


def _value_label(value: float, discrete: bool) -> str:
    return f"{value:.0f}" if discrete else f"{value:+.1f}".replace("+0.0", "0").replace("-0.0", "0")


def traversal_figures(model: LatentModel, seed: int, foot: str, rows: int = 8, steps: int = 10,
                      classes: dict[str, list[tuple[int, str | None]]] | None = None,
                      only: set[str] | None = None):
    """(file name, Figure) per code dimension: rows share fixed noise and fixed other codes;
    columns sweep that dimension through code.sweep() (the code type's values), labelled
    with the swept value. `classes` maps a categorical code's name to its categories in the order
    to show, each with its matched class (None when unmatched), as `disentangle eval` finds them;
    `only` limits the figures to some codes."""
    latent = model.latent
    z, values = latent.sample(rows, torch.Generator().manual_seed(seed))
    for i, lc in enumerate(latent.codes):
        if only is not None and lc.name not in only:
            continue
        sweep = lc.code.sweep(steps)  # (S,)
        order = (classes or {}).get(lc.name)
        if order is not None:
            sweep = torch.tensor([float(category) for category, _ in order])
        s = len(sweep)
        for dim in range(lc.code.dims):
            zs = z.repeat_interleave(s, 0)  # (rows*S, noise_dim)
            vs = [v.repeat_interleave(s, 0).clone() for v in values]
            vs[i][:, dim] = sweep.repeat(rows).to(vs[i].dtype)
            images = _generate(model, zs, vs)
            grid = image_grid(images, s)
            which = f", dimension {dim + 1} of {lc.code.dims}" if lc.code.dims > 1 else ""
            fig, ax = _grid_figure(grid, _scale(images), f"{lc.name} {lc.spec}{which}", foot)
            tile = images.shape[-1] + 2
            ax.set_xticks([2 + k * tile + (tile - 2) / 2 - 0.5 for k in range(s)])
            if order is not None:
                ax.set_xticklabels([f"{name if name is not None else '-'}\n#{category}"
                                    for category, name in order], fontsize=7)
                xlabel = f"{lc.name}'s categories (#) under their matched class"
            else:
                ax.set_xticklabels([_value_label(float(v), lc.code.discrete) for v in sweep],
                                   fontsize=7)
                xlabel = f"value of {lc.name}" + (f"[{dim + 1}]" if lc.code.dims > 1 else "")
            ax.xaxis.tick_top()
            ax.xaxis.set_label_position("top")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_yticks([])
            ax.set_ylabel("fixed noise, other codes", fontsize=8)
            for side in ax.spines.values():
                side.set_visible(False)
            yield traversal_name(lc.name, lc.code.dims, dim), fig


def write_traversals(model: LatentModel, run_dir: Path, seed: int, foot: str = "",
                     rows: int = 8, steps: int = 10,
                     classes: dict[str, list[tuple[int, str | None]]] | None = None,
                     only: set[str] | None = None) -> list[Path]:
    """Save every `traversal_figures` figure into run_dir; returns the paths."""
    return [save_figure(fig, run_dir / name)
            for name, fig in traversal_figures(model, seed, foot, rows, steps, classes, only)]


def class_name(dataset, k: int) -> str:
    """A class label's name where the dataset gives one, else its index."""
    names = getattr(dataset, "class_names", ())
    return names[k] if 0 <= k < len(names) else str(k)


def class_order(categories: int, pairs: dict[int, int], dataset) -> list[tuple[int, str | None]]:
    """Categories sorted by their matched class (`pairs`: category -> class), each with the
    class's name; unmatched categories last, with None."""
    order = sorted(range(categories), key=lambda k: (k not in pairs, pairs.get(k, k)))
    return [(k, class_name(dataset, pairs[k]) if k in pairs else None) for k in order]


def redraw_class_traversals(run_dir: Path, config, model: LatentModel, dataset,
                            matched: dict[str, dict[int, int]], step: int) -> list[Path]:
    """`disentangle eval` knows which category of a code matches which class: redraw those codes'
    traversals with the category matched to the first class first, each column labelled with its
    class, unmatched categories last. Same noise as the training pictures; `step`: the one the
    model was loaded at (the checkpoint may have moved on since, under a run that trains on)."""
    from disentangle.training.rundir import RunDir
    from disentangle.training.trainer import ARTEFACT_SEED_OFFSET

    run = RunDir.open(run_dir)
    classes = {lc.name: class_order(len(lc.code.sweep()), matched[lc.name], dataset)
               for lc in model.latent.codes
               if lc.name in matched and not lc.code.differential and lc.code.dims == 1}
    return write_traversals(model, run.path, config.seed + ARTEFACT_SEED_OFFSET,
                            caption(run.path, config.method, config.dataset, step),
                            classes=classes, only=set(classes))


def reachable_bound(code: LatentCode) -> float | None:
    """The largest L_I = E[log Q(c|x)] + H(c) the code's posterior can give: H(c) for a discrete
    code (log Q <= 0); h(c) plus the posterior's largest log density for a continuous one (a
    fixed-σ Gaussian: h(c) - d/2·ln(2πσ²), below zero for U(-1, 1)); None when unbounded (a
    learned σ)."""
    if not code.code.differential:
        return code.code.entropy()
    ceiling = code.posterior.max_log_density()
    return None if ceiling is None else code.code.entropy() + ceiling


def info_figure(model: LatentModel, records: Sequence[dict[str, Any]], foot: str = ""):
    """L_I per code against steps; a dashed line in the same colour marks the largest value the
    code's bound can reach: H(c) for discrete codes, the fixed-σ ceiling for continuous ones
    (their differential entropy is out of reach), none for a learned σ (no upper limit). The
    legend sits beside the axes, never over the curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k, lc in enumerate(model.latent.codes):
        colour = f"C{k % 10}"
        key = f"info/{lc.name}"
        points = [(r["step"], r[key]) for r in records if key in r and r[key] is not None]
        h, top = lc.code.entropy(), reachable_bound(lc)
        if not lc.code.differential:
            label = f"{lc.name} {lc.spec}: L_I (max H = {h:.2f})"
        elif top is not None:
            label = f"{lc.name} {lc.spec}: bound (max {top:.2f}; h = {h:.2f} out of reach)"
        else:
            label = f"{lc.name} {lc.spec}: bound (no upper limit; h = {h:.2f})"
        steps, values = zip(*points) if points else ((), ())
        ax.plot(steps, values, color=colour, label=label, linewidth=1.5,
                marker="." if len(points) < 30 else None)  # a lone point still shows
        if top is not None:
            ax.axhline(top, color=colour, linestyle="--", linewidth=1.0, alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("L_I (nats)")
    ax.set_title("Information term per code (train mode, mean per log window)", fontsize=10)
    ax.grid(alpha=0.3)
    if model.latent.codes:
        fig.legend(loc="outside right upper", fontsize=7, frameon=False, title_fontsize=7,
                   title="dashed: the most each L_I can reach\n(fixed σ: h(c) - ½ln(2πσ²) per dim)")
    if foot:
        fig.suptitle(foot, fontsize=8, color="0.3")
    return fig


def write_info_plot(model: LatentModel, records: Sequence[dict[str, Any]], path: Path,
                    foot: str = "") -> Path:
    """Save `info_figure` to path."""
    return save_figure(info_figure(model, records, foot), path)


def draw(model: LatentModel, run_dir: Path, seed: int, foot: str,
         records: Sequence[dict[str, Any]]) -> list[Path]:
    """Every training picture of a run: samples.png, traversal-*.png, info.png; returns the
    samples and traversal paths (what TensorBoard shows)."""
    samples = write_samples(model, run_dir / "samples.png", seed, foot)
    traversals = write_traversals(model, run_dir, seed, foot)
    write_info_plot(model, records, run_dir / "info.png", foot)
    return [samples, *traversals]
