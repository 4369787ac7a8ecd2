"""`disentangle sample [RUN]`: images from a trained run with chosen codes, or a traversal of one
code, written as one PNG grid or as a folder of PNGs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from disentangle.cli import app
from disentangle.cli.options import Json
from disentangle.errors import DisentangleError


@app.command()
def sample(
    run: Annotated[Path | None, typer.Argument(
        help="Run directory (default: the latest under ./runs).")] = None,
    code: Annotated[list[str] | None, typer.Option(
        "--code", help="Fix a code: NAME=VALUE, repeatable (--code c1=3 --code c2=-1.5; "
                       "c2=0.5,-1 sets each dimension, c2-1=0.5 only the first). Codes not "
                       "given are drawn from their prior.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the noise and the codes not given.",
                                      min=0)] = 0,
    n: Annotated[int | None, typer.Option(
        "--n", help="Images (default 64), or traversal rows (default 8).", min=1)] = None,
    traverse: Annotated[str | None, typer.Option(
        help="Sweep one code dimension across the columns (c1, or c2-1 for a code with "
             "several dimensions).")] = None,
    steps: Annotated[int, typer.Option(
        help="Traversal columns of a continuous code, across its sweep (uniform: -2..2; "
             "other continuous codes: the prior's 2nd..98th percentile, or a plugin's own); "
             "discrete codes show every value.", min=2)] = 10,
    out: Annotated[str | None, typer.Option(
        help="FILE.png for one grid (replaced if it exists), or a new or empty folder to "
             "get one PNG per image (a name ending in / is always a folder; default: "
             "sample.png, or traversal-CODE.png with --traverse).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    as_json: Json = False,
) -> None:
    """Generate images with chosen codes and noise from a trained run."""
    from disentangle.trained import load_run, parse_code_values
    from disentangle.training.artefacts import _scale, image_grid, save_png

    chosen = parse_code_values(code or [])
    name = out if out is not None else f"traversal-{traverse}.png" if traverse else "sample.png"
    target = Path(name)  # Path drops a trailing slash, the user's word for a folder
    as_folder = name.endswith(("/", os.sep))
    as_grid = not as_folder and target.suffix.lower() == ".png"
    if target.suffix and not as_grid and not as_folder:
        raise DisentangleError(f"--out {target}: write FILE.png for a grid, or a folder name "
                               "for one PNG per image")
    if not as_grid and target.is_file():
        raise DisentangleError(f"--out {target} is a file; give FILE.png or a folder")
    if not as_grid and target.is_dir() and any(target.iterdir()):
        # older PNGs would sit beside the new ones, numbered alike, and a run's would be replaced
        raise DisentangleError(f"--out {target} is a folder that is not empty; give a new "
                               "folder, or empty it first")
    trained = load_run(run, device=device)
    if traverse:
        grid = trained.traverse(traverse, n or 8, steps, chosen, seed)  # (rows, S, C, H, W)
        ncol = grid.shape[1]
        images = grid.flatten(0, 1)
    else:
        images = trained.generate(n or 64, chosen, seed)
        ncol = math.ceil(math.sqrt(len(images)))
    try:
        if as_grid:
            target.parent.mkdir(parents=True, exist_ok=True)
            files = [save_png(image_grid(images, ncol), target, _scale(images))]
        else:
            target.mkdir(parents=True, exist_ok=True)
            width = len(str(len(images) - 1))
            files = [save_png(image_grid(image[None], 1, pad=0), target / f"{i:0{width}d}.png")
                     for i, image in enumerate(images)]
    except OSError as exc:
        raise DisentangleError(f"--out {target}: cannot write ({exc})") from None
    report = {"run": str(trained.path), "seed": seed, "images": len(images),
              "codes": chosen, "traverse": traverse, "files": [str(f) for f in files]}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        where = files[0] if as_grid else f"{target}/ ({len(files)} PNGs)"
        typer.echo(f"wrote {where}")
