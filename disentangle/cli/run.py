"""`disentangle run METHOD`: train InfoGAN (or the GAN baseline, or a plugin's method)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from disentangle.cli import app
from disentangle.cli.options import Json
from disentangle.errors import DisentangleError

_TRAINING = "Training"
_MODEL = "Model and latent codes"
_RUN = "Run directory and output"
_CR = "InfoGAN-CR (contrastive regulariser)"


def _rank_named(command):
    """Under torchrun every rank prints its own error line: those of ranks other than 0 say
    which rank they come from, whether the error came before training or during it."""
    @functools.wraps(command)
    def named(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DisentangleError as exc:
            from disentangle.training import distributed

            if distributed.launched_rank() == 0:
                raise
            named = DisentangleError(f"rank {distributed.launched_rank()}: {exc}")
            raise named.with_traceback(exc.__traceback__) from None  # --debug shows where
    return named


@app.command(no_args_is_help=True)
@_rank_named
def run(
    method: Annotated[str, typer.Argument(help="Training method: infogan, gan, infogan-cr "
                                               "or a plugin's (`disentangle list methods`).")],
    dataset: Annotated[str | None, typer.Option(help="Dataset to train on (default: digits).",
                                                rich_help_panel=_TRAINING)] = None,
    code: Annotated[list[str] | None, typer.Option(
        "--code", help="A latent code TYPE:SIZE or TYPE:SIZE@POSTERIOR, repeatable; replaces "
                       "the preset's codes (e.g. --code categorical:10 --code uniform:2).",
        rich_help_panel=_MODEL)] = None,
    noise_dim: Annotated[int | None, typer.Option(help="Noise dimensions z.",
                                                  rich_help_panel=_MODEL)] = None,
    steps: Annotated[int | None, typer.Option(help="Training iterations (D step + G step).",
                                              rich_help_panel=_TRAINING)] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Images per step (under torchrun: the global batch, split among the ranks).",
        rich_help_panel=_TRAINING)] = None,
    lr_d: Annotated[float | None, typer.Option(help="Adam learning rate of D.",
                                               rich_help_panel=_TRAINING)] = None,
    lr_g: Annotated[float | None, typer.Option(help="Adam learning rate of G and Q's head.",
                                               rich_help_panel=_TRAINING)] = None,
    lambda_discrete: Annotated[float | None, typer.Option(
        help="λ of discrete codes' information term (4 gave better digits than 1 without the "
             "digits preset's warps, no better with them; docs/training.md).",
        rich_help_panel=_MODEL)] = None,
    lambda_continuous: Annotated[float | None, typer.Option(
        help="λ of continuous codes' information term.", rich_help_panel=_MODEL)] = None,
    q_trains_trunk: Annotated[bool | None, typer.Option(
        "--q-trains-trunk/--no-q-trains-trunk",
        help="Q's loss also trains D's shared trunk (default: on for infogan, off for gan).",
        rich_help_panel=_MODEL, show_default=False)] = None,
    spectral_norm: Annotated[bool | None, typer.Option(
        "--spectral-norm/--no-spectral-norm",
        help="Spectral normalisation of D's weights (default: on for dsprites, shapes, shapes3d).",
        rich_help_panel=_MODEL, show_default=False)] = None,
    q_spectral_norm: Annotated[bool | None, typer.Option(
        "--q-spectral-norm/--no-q-spectral-norm",
        help="Spectral normalisation of Q's head's layers (with or without --spectral-norm on "
             "D), as InfoGAN-CR's networks have it.",
        rich_help_panel=_MODEL, show_default=False)] = None,
    q_augment: Annotated[bool | None, typer.Option(
        "--q-augment/--no-q-augment",
        help="Q reads discrete codes from randomly rotated, shifted and zoomed fakes (infogan, "
             "infogan-cr, gan; default off, on from step 300 in the digits preset), so G's "
             "categories must survive those maps (docs/training.md).",
        rich_help_panel=_MODEL, show_default=False)] = None,
    q_augment_start: Annotated[int | None, typer.Option(
        help="With --q-augment: the step from which Q reads the warped fakes (default 0); the "
             "steps before it are those of a run without warps.",
        rich_help_panel=_MODEL, show_default=False)] = None,
    q_optimizer: Annotated[str | None, typer.Option(
        help="Which optimiser trains Q's head: g (at --lr-g, from G's step; default) or d (at "
             "--lr-d, from D's step, as InfoGAN-CR's code; the dsprites and shapes presets).",
        rich_help_panel=_MODEL, show_default=False)] = None,
    g_steps: Annotated[int | None, typer.Option(
        help="Generator updates per iteration (default 1; infogan-cr and the dsprites and "
             "shapes presets: 2, as InfoGAN-CR's code).",
        rich_help_panel=_TRAINING)] = None,
    cr_weight: Annotated[float | None, typer.Option(
        help="infogan-cr: α of the contrastive term once on (default 2).",
        rich_help_panel=_CR)] = None,
    cr_start: Annotated[int | None, typer.Option(
        help="infogan-cr: step at which G starts getting the contrastive term (default 0).",
        rich_help_panel=_CR)] = None,
    cr_gap: Annotated[float | None, typer.Option(
        help="infogan-cr: initial gap between unshared U(-1, 1) codes of a pair (default 0).",
        rich_help_panel=_CR)] = None,
    cr_gap_until: Annotated[int | None, typer.Option(
        help="infogan-cr: step by which the gap has fallen to 0.", rich_help_panel=_CR)] = None,
    cr_gap_stages: Annotated[int | None, typer.Option(
        help="infogan-cr: equal decreases of the gap (default 1).", rich_help_panel=_CR)] = None,
    cr_pair_net: Annotated[str | None, typer.Option(
        help="infogan-cr: H's design: stacked (the authors': both images along channels) or "
             "siamese (one encoder per image, head on the feature difference).",
        rich_help_panel=_CR)] = None,
    backbone: Annotated[str | None, typer.Option(
        help="Networks (`disentangle list backbones`) (default: chosen by image size).",
        rich_help_panel=_MODEL)] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images to SIZE x SIZE.",
                                                   rich_help_panel=_MODEL)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for weights, samples and batches.",
                                             rich_help_panel=_TRAINING)] = None,
    seeds: Annotated[str | None, typer.Option(
        help="Train one run per seed together in this process, e.g. 0-4 or 0,3,7: run "
             "directories --out DIR/seed-S (default runs/METHOD-DATASET-TIME/seed-S); on a GPU "
             "each run's steps go to its own CUDA stream (docs/training.md).",
        rich_help_panel=_TRAINING)] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (default: auto).",
                                               rich_help_panel=_TRAINING)] = None,
    precision: Annotated[str | None, typer.Option(
        help="fp32, or bf16 autocast for the networks (default: fp32).",
        rich_help_panel=_TRAINING)] = None,
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for torch (default on CPU: as many as cores are free at the start; "
             "a resumed run: the number it was checkpointed with).",
        rich_help_panel=_TRAINING)] = None,
    cuda_graph: Annotated[bool | None, typer.Option(
        "--cuda-graph/--no-cuda-graph",
        help="Replay the training step as one CUDA graph (default: on CUDA, for methods that "
             "allow it; docs/training.md).", rich_help_panel=_TRAINING)] = None,
    deterministic: Annotated[bool | None, typer.Option(
        "--deterministic/--no-deterministic",
        help="Only deterministic kernels, so that a GPU run repeats exactly (slower; default: "
             "off, a resumed run: as it was; docs/training.md).",
        rich_help_panel=_TRAINING)] = None,
    out: Annotated[Path | None, typer.Option(
        help="Run directory (default: runs/METHOD-DATASET-TIME).", rich_help_panel=_RUN)] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Dataset files (default: $DISENTANGLE_DATA_DIR or the user cache).",
        rich_help_panel=_TRAINING)] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch missing dataset files.",
                                           rich_help_panel=_TRAINING)] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file of RunConfig fields (preset < file < flags).",
        rich_help_panel=_RUN)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in --out (default: the latest under runs/) from its "
                         "last checkpoint.", rich_help_panel=_RUN)] = False,
    log_every: Annotated[int | None, typer.Option(help="Steps between metrics.jsonl lines.",
                                                  rich_help_panel=_RUN)] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.",
                                                         rich_help_panel=_RUN)] = None,
    checkpoint_minutes: Annotated[float | None, typer.Option(
        help="Also checkpoint after this many minutes of training (default: 5; 0 = off).",
        rich_help_panel=_RUN)] = None,
    sample_every: Annotated[int | None, typer.Option(help="Steps between pictures.",
                                                     rich_help_panel=_RUN)] = None,
    score_every: Annotated[int | None, typer.Option(
        help="Steps between held-out scores in metrics.jsonl (default 500; 0 = never).",
        rich_help_panel=_RUN)] = None,
    tensorboard: Annotated[bool | None, typer.Option(
        "--tensorboard/--no-tensorboard",
        help="Also write TensorBoard event files to RUN/tensorboard/ (needs the tensorboard "
             "extra; default: off, a resumed run: as it was).", rich_help_panel=_RUN)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress output and no closing summary (--json still prints "
                              "it).")] = False,
    as_json: Json = False,
) -> None:
    """Train a model and write a run directory: config, checkpoints, metrics, pictures, summary."""
    from disentangle.data import show_progress
    from disentangle.training import distributed, resolve, resume as resume_run, trainer
    from disentangle.registry import get_registry

    get_registry().get("methods", method)  # an unknown method fails first, with a suggestion
    overrides: dict[str, Any] = {
        "dataset": dataset, "codes": list(code) if code else None, "noise_dim": noise_dim,
        "steps": steps, "batch_size": batch_size, "lr_d": lr_d, "lr_g": lr_g,
        "lambda_discrete": lambda_discrete, "lambda_continuous": lambda_continuous,
        "q_trains_trunk": q_trains_trunk, "spectral_norm": spectral_norm,
        "q_spectral_norm": q_spectral_norm, "backbone": backbone,
        "g_steps": g_steps, "q_optimizer": q_optimizer, "q_augment": q_augment,
        "q_augment_start": q_augment_start, "cr_weight": cr_weight,
        "cr_start": cr_start, "cr_gap": cr_gap,
        "cr_gap_until": cr_gap_until, "cr_gap_stages": cr_gap_stages,
        "cr_pair_net": cr_pair_net,
        "image_size": image_size,
        "seed": seed, "device": device, "precision": precision, "threads": threads,
        "cuda_graph": cuda_graph, "deterministic": deterministic,
        "out": str(out) if out is not None else None,
        "data_dir": str(data_dir) if data_dir is not None else None,
        "download": True if download else None, "log_every": log_every,
        "checkpoint_every": checkpoint_every, "checkpoint_minutes": checkpoint_minutes,
        "sample_every": sample_every, "score_every": score_every,
        "tensorboard": tensorboard,
    }
    if resume and config is not None:
        raise DisentangleError("--config cannot be combined with --resume: a resumed run "
                               "keeps the config.json in its run directory")
    if seeds is not None:
        _run_seeds(method, overrides, config, seed_list(seeds), seed, resume, out, quiet, as_json)
        return
    show_progress(not (quiet or as_json) and distributed.launched_rank() == 0)  # conversions
    try:  # under torchrun (docs/training.md, "Multi-GPU"), start and resume join its ranks
        session = (resume_run(out, method, overrides) if resume
                   else trainer.start(resolve(method, overrides, config)))
        summary = _reported(trainer.fit, session, quiet=quiet or as_json)
        distributed.close(wait=True)
    finally:
        distributed.close()
        show_progress(False)
    if distributed.launched_rank() != 0:
        return  # rank 0 alone prints
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        print_summary(summary)


def _reported(fit, *args, **kwargs):
    """`fit` or `fit_together`, whose Ctrl-C already printed where the run stopped and how to
    go on: exit 130 at once, past the command-line layer's plain "interrupted"."""
    try:
        return fit(*args, **kwargs)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def seed_list(text: str) -> list[int]:
    """'0-4' or '0,3,7' (or both: '0-2,9') -> distinct seeds in the order given."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high) if high else int(low)
            if first < 0 or last < first:
                raise ValueError
            seeds.extend(range(first, last + 1))
    except ValueError:
        raise DisentangleError(f"--seeds '{text}' is not a list of seeds; write e.g. 0-4 or "
                               "0,3,7 (non-negative, ranges from low to high)") from None
    if len(set(seeds)) != len(seeds):
        raise DisentangleError(f"--seeds '{text}' names a seed twice")
    return seeds


def _run_seeds(method: str, overrides: dict[str, Any], config: Path | None, seeds: list[int],
               seed: int | None, resume: bool, out: Path | None, quiet: bool,
               as_json: bool) -> None:
    """`--seeds`: one run directory per seed under one folder, trained together."""
    from disentangle.data import show_progress
    from disentangle.training import RunDir, distributed, resolve, resume as resume_run, trainer

    if seed is not None:
        raise DisentangleError("--seed and --seeds cannot be combined: --seeds 3 trains seed 3")
    if distributed.launched_ranks() > 1:
        raise DisentangleError("--seeds cannot run under torchrun: launch one torchrun job per "
                               "seed")
    if resume and out is None:
        raise DisentangleError("--resume with --seeds needs --out DIR, the folder holding the "
                               "seed-S run directories")
    show_progress(not (quiet or as_json))
    sessions: list[trainer.Session] = []
    shared = trainer.SharedData()  # the seeds' runs load and hold their training data once
    finished: dict[int, str] = {}  # resumed seeds with nothing left to train: skipped
    try:
        if resume:
            for s in seeds:
                try:
                    sessions.append(resume_run(out / f"seed-{s}", method, overrides,
                                               shared=shared))
                except trainer.AlreadyFinished as exc:
                    finished[s] = str(exc)
            if not sessions:
                raise DisentangleError(f"every seed under {out} already reached its --steps; "
                                       "pass a larger --steps to train further")
            if not (quiet or as_json):
                for s, why in finished.items():
                    typer.echo(f"note: seed {s} skipped: {why}", err=True)
            seeds = [s for s in seeds if s not in finished]
        else:
            base = out or RunDir.default_path(resolve(method, overrides, config))
            if (base / "config.json").is_file():  # seed-S folders would land inside a run
                raise DisentangleError(f"--out {base} is a run directory; --seeds makes one "
                                       "folder of seed-S runs: give a new folder")
            for s in seeds:
                changes = {**overrides, "seed": s, "out": str(base / f"seed-{s}")}
                sessions.append(trainer.start(resolve(method, changes, config), shared=shared))
        streams = trainer.own_streams([session.device for session in sessions])
    except BaseException:
        for session in sessions:  # the runs already started never trained: leave no trace
            if resume:
                session.close()
            elif session.lock is not None:
                session.run.discard(session.lock)
        show_progress(False)
        raise
    try:
        results = _reported(trainer.fit_together, sessions, quiet=quiet or as_json,
                            streams=streams)
    finally:
        show_progress(False)
    failed = [(s, r) for s, r in zip(seeds, results) if isinstance(r, DisentangleError)]
    if as_json:
        skipped = [{"status": "skipped", "seed": s, "reason": why} for s, why in finished.items()]
        typer.echo(json.dumps(skipped + [r if isinstance(r, dict) else
                                         {"status": "failed", "seed": s, "error": str(r)}
                                         for s, r in zip(seeds, results)], indent=2))
    elif not quiet:
        for r in results:
            if isinstance(r, dict):
                print_summary(r)
    if failed:
        raise DisentangleError("; ".join(f"seed {s}: {r}" for s, r in failed))


def print_summary(summary: dict[str, Any]) -> None:
    """One screen: what ran, how fast, L_I against H(c) per code, where the files are."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ips = summary.get("images_per_s")
    speed = f", {ips:,.0f} images/s" if ips else ""
    console.print(f"[bold]{summary['method']}[/] on {summary['dataset']} ({summary['backbone']}, "
                  f"{summary['device']}, {summary['precision']}): {summary['steps']} steps in "
                  f"{summary['elapsed_s']:.1f} s{speed}")
    final = summary.get("final", {})
    if final:
        console.print("final losses: " + ", ".join(f"{k} {v:.3f}" for k, v in final.items()))
    heldout = summary.get("heldout") or {}
    if heldout:
        console.print("held-out score (1,000 test images at most; `disentangle eval` measures "
                      "fully): " + ", ".join(f"{k.replace('_', ' ')} {v:.3f}"
                                             for k, v in heldout.items()))
    if summary["codes"]:
        rewarded = summary.get("generator_reward", True)
        table = Table("code", "spec", "λ", "L_I", "L_I eval", "H(c)", "")
        for c in summary["codes"]:
            table.add_row(c["name"], c["spec"], f"{c['weight']:g}" if rewarded else "-",
                          _num(c["info"]), _num(c["info_eval"]), f"{c['entropy']:.3f}", _note(c))
        console.print(table)
        console.print("L_I: mean of the last log window (train mode); L_I eval: fresh samples, "
                      "eval mode; continuous codes give bounds, not MI", style="dim")
        if not rewarded:
            console.print(f"{summary['method']}: the generator gets no information reward, so "
                          "no λ applies (Q's head still learns to read the codes)", style="dim")
    files = summary["files"]
    run_dir = Path(summary["run_dir"])
    names = [Path(files[k]).name for k in ("config", "metrics", "samples", "info_plot",
                                           "heldout_plot", "summary") if k in files]
    console.print(f"wrote {run_dir}/: {', '.join(names)}, checkpoints/latest.pt, "
                  f"{len(files['traversals'])} traversal-*.png")


def _note(code: dict[str, Any]) -> str:
    """How far L_I got: a share of H(c) for discrete codes; for continuous ones the largest value
    their bound can reach (a fixed σ never reaches h(c)), or that it has none."""
    if not code["differential"]:
        share = code["info_eval"] / code["entropy"] if code["entropy"] > 0 else None
        return "" if share is None else f"{round(100 * share)}% of H"  # an int: never "-0%"
    top = code.get("reachable_bound")
    return "bound, no max" if top is None else f"bound; max {top:.3f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
