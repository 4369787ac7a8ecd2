"""`disentangle select RUN RUN ...`: unsupervised model selection by UDR, ModelCentrality or
neighbour agreement."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from disentangle.cli import app
from disentangle.cli.options import DataDir, Json, Quiet, named_once
from disentangle.errors import DisentangleError

SELECTION = "selection.json"  # written into every run of the set
SELECTOR_NAMES = {"udr": "UDR", "centrality": "ModelCentrality",
                  "neighbours": "Neighbour agreement"}  # --by: its name in tables
SELECTORS = tuple(SELECTOR_NAMES)
UDR_POINTS = 1000  # train images each run encodes, by default
TIE = 1e-9  # scores this close are tied: their order is rounding, not the runs
VOTES, SEED, CORRELATION = 450, 0, "lasso"  # the defaults of --votes, --seed, --correlation
NEIGHBOUR_POINTS = 5000


def scores_neighbours(latent) -> bool:
    """Whether --by neighbours can score a run with this latent: it reads categorical codes."""
    return any(c.posterior.kind == "categorical" for c in latent.codes)


@app.command("select")
def select(
    runs: Annotated[list[Path], typer.Argument(help="Run directories of one dataset (2 or more).")],
    by: Annotated[str, typer.Option(
        help="udr: UDR (Duan et al. 2020), agreement of the runs' codes of the same real images; "
             "centrality: ModelCentrality (Lin et al. 2020), each run's generator as the others' "
             "factor dataset (slower: minutes for 5 runs on a 2-core CPU, where UDR takes "
             "seconds; docs/metrics.md compares them); neighbours: how often each run's "
             "categorical code puts a real image in the class of its nearest images in pixel "
             "space, less how often it does so with a random image (runs with a categorical "
             "code only).")] = "udr",
    votes: Annotated[int, typer.Option(
        help="centrality: FactorVAE votes per pair (two thirds train the classifier, a third "
             "score it).", min=3)] = VOTES,
    points: Annotated[int | None, typer.Option(
        help="udr, neighbours: training images every run encodes (udr: 1000; neighbours: 5000, "
             "or the whole train split where smaller: neighbours among more images are "
             "steadier).", min=11, show_default=False)] = None,
    correlation: Annotated[str, typer.Option(
        help="udr: lasso (disentanglement_lib's default) or spearman.")] = CORRELATION,
    seed: Annotated[int, typer.Option(help="Seed for the generated factors, votes and images.",
                                      min=0)] = SEED,
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu or cuda.")] = "auto",
    write: Annotated[bool, typer.Option(
        "--write/--no-write", help="Record the ranking in every run's selection.json (compare "
        "shows it); --no-write leaves the runs untouched.")] = True,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Rank runs without labels (UDR, ModelCentrality or neighbour agreement) and name the
    chosen one."""
    from disentangle.evaluation.pipeline import data_dir_read, run_data_dir
    from disentangle.evaluation.udr import CORRELATIONS
    from disentangle.training.build import load_run_and_step, resolve_device

    if by not in SELECTORS:
        raise DisentangleError(f"--by must be one of {', '.join(SELECTORS)}, not '{by}'")
    if correlation not in CORRELATIONS:
        raise DisentangleError(f"--correlation must be one of {', '.join(CORRELATIONS)}, "
                               f"not '{correlation}'")
    if len(runs) < 2:
        raise DisentangleError("select needs at least 2 run directories to compare")
    named_once(runs, "select")
    target = resolve_device(device)
    models, methods, datasets, dataset, read_from = [], [], set(), None, []
    steps = []
    for run in runs:
        if not (run / "config.json").is_file():
            raise DisentangleError(f"'{run}' is not a run directory (no config.json)")
        config, model, dataset, step = load_run_and_step(run, device=target)
        models.append(model)
        steps.append(step)  # selection.json's: compare tells if it moved
        methods.append(config.method)
        datasets.add((config.dataset, tuple(dataset.image_shape)))  # the size it has, not
        #                                                             the --image-size asked
        read_from.append(data_dir_read(dataset, run_data_dir(config)))
    if len(datasets) > 1:
        names = ", ".join(sorted(f"{d} {h}×{w}" for d, (_, h, w) in datasets))
        raise DisentangleError(f"select compares runs of one dataset; these are of {names}")
    if data_dir is None and len(set(read_from)) > 1:  # one dataset's name, two sets of files
        other = next(i for i, d in enumerate(read_from) if d != read_from[0])
        raise DisentangleError(
            f"select compares runs of one dataset, but '{runs[0]}' was trained on the files in "
            f"{read_from[0]} and '{runs[other]}' on those in {read_from[other]}; pass --data-dir "
            "DIR to score them all on the files in DIR, if that is what you want")
    if by == "neighbours":
        for run, model in zip(runs, models):
            if not scores_neighbours(model.latent):
                raise DisentangleError(f"--by neighbours scores categorical codes and '{run}' "
                                       "has none; use --by udr or --by centrality")
    if by == "centrality":
        for run, model in zip(runs, models):
            if len(model.latent.codes) < 2:
                raise DisentangleError(
                    f"--by centrality scores how well each run's codes predict another run's "
                    f"codes, and '{run}' has one code, which every run predicts perfectly (a "
                    "FactorVAE score over one factor is 1 by construction); leave it out or use "
                    "--by udr")
    show = not (quiet or as_json)
    data_dir = run_data_dir(config, data_dir)  # the runs agree on it, unless --data-dir is given
    if by == "centrality":
        result, pairwise = _centrality(models, votes, seed, show, [f"'{r}'" for r in runs])
    elif by == "udr":
        result, pairwise = _udr(runs, models, dataset, data_dir, points or UDR_POINTS,
                                correlation, seed, show)
    else:
        result, pairwise = _neighbours(runs, models, dataset, data_dir,
                                       points or NEIGHBOUR_POINTS, seed, show)
    score = np.asarray(result["score"])
    order = [int(i) for i in (-score).argsort(kind="stable")]
    chosen = order[0]
    result = {**result, "runs": [str(r) for r in runs], "chosen": str(runs[chosen])}
    tied = [str(runs[i]) for i in order if abs(score[i] - score[chosen]) <= TIE]
    if len(tied) > 1:  # e.g. any two runs under centrality: the symmetrised score is shared
        result["tied"] = tied
    if by != "centrality":  # the images every run encoded came from here (None: embedded data)
        result["data_dir"] = data_dir_read(dataset, data_dir)
    _show(result, runs, methods, order, score, pairwise, by, as_json)
    if write:  # after the ranking is shown: a run that cannot be written loses none of the work
        # absolute, so that `compare` started elsewhere names the runs to select again
        absolute = [os.path.abspath(r) for r in runs]
        saved = {**result, "runs": absolute, "chosen": absolute[chosen]}
        try:
            _write_all({run / SELECTION: json.dumps({**saved, "rank": order.index(i) + 1,
                                                      "own_score": float(score[i]),
                                                      "step": steps[i]}, indent=2) + "\n"
                        for i, run in enumerate(runs)})
        except DisentangleError as exc:
            raise DisentangleError(f"{exc}; the ranking above is saved in none of the runs "
                                   "(--no-write leaves them untouched)") from None


def _show(result: dict, runs: list[Path], methods: list[str], order: list[int],
          score: np.ndarray, pairwise: np.ndarray | None, by: str, as_json: bool) -> None:
    """The ranking on stdout: the JSON, or a table naming the chosen run."""
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("rank", "run", "method", by, *(["self score"] if by == "centrality" else []),
                  title=f"{SELECTOR_NAMES[by]}: " + ("classes shared with the nearest images"
                        if by == "neighbours" else "agreement with the other runs")
                  + " (no labels used)")
    for rank, i in enumerate(order, start=1):
        extra = [f"{pairwise[i, i]:.3f}"] if by == "centrality" else []
        table.add_row(str(rank), str(runs[i]), methods[i], f"{score[i]:.3f}", *extra)
    out = Console()
    out.print(table)
    if "tied" in result:
        out.print(f"tied: {', '.join(result['tied'])} score the same, so the scores cannot tell "
                  f"them apart; chosen by the order given: {runs[order[0]]}")
    else:
        out.print(f"chosen: {runs[order[0]]}")


def _centrality(models, votes: int, seed: int, show: bool,
                names: list[str]) -> tuple[dict, np.ndarray]:
    from disentangle.evaluation.centrality import CentralityConfig, centrality, pairwise_scores
    from disentangle.evaluation.progress import Stages

    cfg = CentralityConfig(num_train=votes * 2 // 3, num_eval=votes - votes * 2 // 3, seed=seed)
    with Stages(show=show) as stages, \
            stages.stage("ModelCentrality", total=len(models) ** 2) as advance:
        scores = pairwise_scores(models, cfg, advance, names)  # once per pair
    central = centrality(scores)
    return {"by": "centrality",
            "method": "ModelCentrality (FactorVAE score, pairwise, symmetrised)",
            "score": central.tolist(), "centrality": central.tolist(), "scores": scores.tolist(),
            "config": {"votes": votes, "seed": seed, "slots": cfg.slots,
                       "group_size": cfg.group_size}}, scores


def _encode(run: Path, model, data):
    """eval's encoding, with the run named when its networks cannot encode the images."""
    from disentangle.evaluation.pipeline import encode

    try:
        return encode(model, data)
    except DisentangleError as exc:
        raise DisentangleError(f"'{run}': {exc}") from None


def _udr(runs, models, dataset, data_dir, points: int, correlation: str, seed: int,
         show: bool) -> tuple[dict, np.ndarray]:
    """Every run encodes the same `points` images of the dataset's train split."""
    from disentangle.evaluation.pipeline import reading_run_data
    from disentangle.evaluation.progress import Stages
    from disentangle.evaluation.udr import udr

    with reading_run_data("select"):
        data = dataset.load("train", data_dir).subset(points, seed)
    codes = []
    with Stages(show=show) as stages, stages.stage("UDR: encoding", total=len(models)) as advance:
        for run, model in zip(runs, models):
            names = [c.name for c in model.latent.codes]
            codes.append(_encode(run, model, data).probe_input(names))
            advance(1)
    result = udr(codes, correlation, seed)
    pairwise = np.asarray(result["pairwise"])
    return {"by": "udr", "method": f"UDR ({correlation}, {len(data)} train images)",
            "score": result["scores"], "udr": result["scores"], "scores": result["pairwise"],
            "config": {"points": len(data), "correlation": correlation, "seed": seed}}, pairwise


def _neighbours(runs, models, dataset, data_dir, points: int, seed: int,
                show: bool) -> tuple[dict, None]:
    """Every run classes the same `points` train images; their neighbours are found once."""
    from disentangle.evaluation.neighbours import NEIGHBOURS, nearest_neighbours, neighbour_scores
    from disentangle.evaluation.pipeline import reading_run_data
    from disentangle.evaluation.progress import Stages

    with reading_run_data("select"):
        data = dataset.load("train", data_dir).subset(points, seed)
    probabilities = []
    with Stages(show=show) as stages:
        with stages.stage("Neighbour agreement: nearest images", total=len(data)) as advance:
            neighbours = nearest_neighbours(data.images, advance=advance)
        with stages.stage("Neighbour agreement: encoding", total=len(models)) as advance:
            for run, model in zip(runs, models):
                probabilities.append(list(_encode(run, model, data).probs.values()))
                advance(1)
    scores = neighbour_scores(probabilities, neighbours)
    return {"by": "neighbours",
            "method": f"neighbour agreement ({NEIGHBOURS} nearest of {len(data)} train images "
                      "in pixel space, less chance)",
            "score": scores, "neighbours": scores,
            "config": {"points": len(data), "neighbours": NEIGHBOURS, "seed": seed}}, None


def _write_all(texts: dict[Path, str]) -> None:
    """Every run's selection.json, or none: a write that fails (a read-only run) puts back the
    files already replaced, so no two runs are left holding different selections."""
    from disentangle.training.rundir import atomic_write

    before = {path: path.read_bytes() if path.is_file() else None for path in texts}
    done = []
    try:
        for path, text in texts.items():
            atomic_write(path, lambda fh, text=text: fh.write(text.encode("utf-8")))
            done.append(path)
    except BaseException:
        for path in done:
            if before[path] is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, lambda fh, old=before[path]: fh.write(old))
        raise
