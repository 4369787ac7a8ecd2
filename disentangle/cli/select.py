"""`disentangle select RUN RUN ...`: unsupervised model selection by ModelCentrality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from disentangle.cli import app
from disentangle.cli.options import Json, Quiet
from disentangle.errors import DisentangleError

SELECTION = "selection.json"  # written into every run of the set


@app.command("select")
def select(
    runs: Annotated[list[Path], typer.Argument(help="Run directories of one dataset (2 or more).")],
    votes: Annotated[int, typer.Option(
        help="FactorVAE votes per pair (two thirds train the classifier, a third score it).",
        min=3)] = 450,
    seed: Annotated[int, typer.Option(help="Seed for the generated factors and votes.",
                                      min=0)] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu or cuda.")] = "auto",
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Rank runs by ModelCentrality (Lin et al. 2020) and name the medoid: no labels used."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from disentangle.evaluation.centrality import CentralityConfig, centrality, pairwise_scores
    from disentangle.training import load_run
    from disentangle.training.build import resolve_device
    from disentangle.training.rundir import atomic_write_text

    if len(runs) < 2:
        raise DisentangleError("select needs at least 2 run directories to compare")
    if len(set(r.resolve() for r in runs)) != len(runs):
        raise DisentangleError("select: a run directory is named twice")
    target = resolve_device(device)
    models, methods, datasets = [], [], set()
    for run in runs:
        if not (run / "config.json").is_file():
            raise DisentangleError(f"'{run}' is not a run directory (no config.json)")
        config, model, _ = load_run(run, device=target)
        models.append(model)
        methods.append(config.method)
        datasets.add((config.dataset, config.image_size))
    if len(datasets) > 1:
        names = ", ".join(sorted(f"{d}" + (f" at {s} px" if s else "") for d, s in datasets))
        raise DisentangleError(f"select compares runs of one dataset; these are of {names}")
    cfg = CentralityConfig(num_train=votes * 2 // 3, num_eval=votes - votes * 2 // 3, seed=seed)

    console = Console(stderr=True)
    with Progress(TextColumn("ModelCentrality"), BarColumn(), MofNCompleteColumn(),
                  console=console, disable=quiet or as_json) as bar:
        task = bar.add_task("pairs", total=len(models) ** 2)
        scores = pairwise_scores(models, cfg, lambda done, _: bar.update(task, completed=done))
    central = centrality(scores)
    order = [int(i) for i in (-central).argsort(kind="stable")]
    chosen = order[0]
    result = {
        "method": "ModelCentrality (FactorVAE score, pairwise, symmetrised)",
        "runs": [str(r) for r in runs],
        "centrality": central.tolist(),
        "scores": scores.tolist(),
        "chosen": str(runs[chosen]),
        "config": {"votes": votes, "seed": seed, "slots": cfg.slots,
                   "group_size": cfg.group_size},
    }
    for i, run in enumerate(runs):
        mine = {**result, "rank": order.index(i) + 1, "own_centrality": float(central[i])}
        atomic_write_text(run / SELECTION, json.dumps(mine, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.table import Table

    table = Table("rank", "run", "method", "centrality", "self score",
                  title="ModelCentrality: agreement with the other runs (no labels used)")
    for rank, i in enumerate(order, start=1):
        table.add_row(str(rank), str(runs[i]), methods[i], f"{central[i]:.3f}",
                      f"{scores[i, i]:.3f}")
    out = Console()
    out.print(table)
    out.print(f"chosen: {runs[chosen]}")
