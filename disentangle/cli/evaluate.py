"""`disentangle eval [RUN] --probe` and `disentangle compare RUN_A RUN_B ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from disentangle.cli import app
from disentangle.cli.options import Json, Quiet
from disentangle.errors import DisentangleError


@app.command("eval")
def evaluate(
    run: Annotated[Path | None, typer.Argument(help="Run directory (default: the latest under ./runs).")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Linear probes and cluster accuracy.")] = False,
    mi: Annotated[bool, typer.Option("--mi/--no-mi", help="MI bound and code-factor MI.")] = True,
    metrics: Annotated[bool, typer.Option("--metrics/--no-metrics",
                                          help="Disentanglement metrics (datasets with factors).")] = True,
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    n: Annotated[int | None, typer.Option("--n", help="At most N points per split.", min=1)] = None,
    bound_samples: Annotated[int | None, typer.Option(
        help="Generator samples for the MI bound [default: 5000].", min=1)] = None,
    intervention_points: Annotated[int | None, typer.Option(
        help="Votes (train; half as many to test) for the FactorVAE and BetaVAE scores, of 64 "
             "observations each [default: 10000, disentanglement_lib's].", min=2)] = None,
    intervention_pool: Annotated[int | None, typer.Option(
        help="Encoded grid points the votes draw their batches from; 0 renders every batch "
             "afresh as disentanglement_lib does (hours on a CPU) [default: 10000].",
        min=0)] = None,
    dci_model: Annotated[str | None, typer.Option(
        help="DCI importance model: gbt (disentanglement_lib's, minutes on 10,000 points) or "
             "random_forest (seconds; scores not comparable with published DCI) [default: gbt].")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer points everywhere and the forest DCI: a quick look, not numbers "
                        "to publish (docs/metrics.md lists what it changes).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for subsets, probes and sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu or cuda.")] = "auto",
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Measure a trained run: MI per code, cluster accuracy, probes, disentanglement metrics."""
    from disentangle.evaluation.pipeline import QUICK, EvalConfig, evaluate_run
    from disentangle.training import latest_run

    run_dir = run if run is not None else latest_run(Path("runs"))
    if not (run_dir / "config.json").is_file():
        raise DisentangleError(f"'{run_dir}' is not a run directory (no config.json); "
                               "give the --out of a `disentangle run`")
    chosen = {k: v for k, v in dict(n=n, bound_samples=bound_samples, dci_model=dci_model,
                                    intervention_points=intervention_points,
                                    intervention_pool=intervention_pool).items() if v is not None}
    cfg = EvalConfig(split=split, probe=probe, mi=mi, metrics=metrics, seed=seed, device=device,
                     **{**(QUICK if quick else {}), **chosen})  # flags given win over --quick
    result = evaluate_run(run_dir, cfg, show_progress=not (quiet or as_json))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("measure", str(run_dir), title=f"{result['dataset']} ({result['split']} split)")
    for label, value in summary_rows(result):
        table.add_row(label, value)
    console = Console()
    console.print(table)
    console.print(f"wrote {run_dir / 'eval.json'}")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories with an eval.json.")],
    as_json: Json = False,
) -> None:
    """Evaluated runs side by side (InfoGAN vs GAN at a glance)."""
    results = []
    for run in runs:
        path = run / "eval.json"
        if not path.is_file():
            raise DisentangleError(f"no eval.json in '{run}'; run `disentangle eval {run}` first")
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise DisentangleError(f"'{path}' is not valid JSON ({exc}); re-run `disentangle eval`") from None
    rows = [dict(summary_rows(r)) for r in results]
    labels = list(dict.fromkeys(label for row in rows for label in row))
    if as_json:
        typer.echo(json.dumps({str(r): row for r, row in zip(runs, rows)}, indent=2))
        return
    table = Table("measure", *(_run_title(r, res) for r, res in zip(runs, results)))
    for label in labels:
        table.add_row(label, *(row.get(label, "-") for row in rows))
    Console().print(table)


def _run_title(run: Path, result: dict) -> str:
    config = run / "config.json"
    method = (json.loads(config.read_text()).get("config", {}).get("method", "?")
              if config.is_file() else "?")
    return f"{run.name}\n({method})"


def summary_rows(result: dict) -> list[tuple[str, str]]:
    """The headline numbers of an eval.json as (label, formatted value) rows."""
    rows = []
    for name, code in result.get("codes", {}).items():
        if "mi_lower_bound" in code:
            kind = "H" if not code["differential"] else "h (differential)"
            rows.append((f"{name} {code['type']}: L_I / {kind}",
                         f"{code['mi_lower_bound']:.3f} / {code['entropy']:.3f}"))
        if "cluster_accuracy" in code:
            rows.append((f"{name} cluster accuracy", f"{code['cluster_accuracy']:.3f}"))
    for key in ("cluster_accuracy", "nmi"):
        if key in result:
            rows.append((key.replace("_", " "), f"{result[key]:.3f}"))
    for kind, probe in result.get("probe", {}).items():
        budgets = " ".join(f"{b}:{v['accuracy']:.3f}" for b, v in probe["budgets"].items())
        rows.append((f"probe {kind}", f"{probe['accuracy']:.3f}  ({budgets})"))
    for factor, probes in result.get("probe_factors", {}).items():
        rows.append((f"probe {factor}", "  ".join(f"{kind} {probe['accuracy']:.3f}"
                                                  for kind, probe in probes.items())))
    for key, value in result.get("disentanglement", {}).items():
        if isinstance(value, dict):
            rows.extend((f"dci {k}", f"{v:.3f}") for k, v in value.items())
        else:
            rows.append((key.replace("_", " "), f"{value:.3f}"))
    return rows
