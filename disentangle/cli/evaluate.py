"""`disentangle eval [RUN] --probe` and `disentangle compare RUN_A RUN_B ...`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from disentangle.cli import app
from disentangle.cli.options import DataDir, Json, Quiet, named_once
from disentangle.errors import DisentangleError


@app.command("eval")
def evaluate(
    run: Annotated[Path | None, typer.Argument(help="Run directory (default: the latest under ./runs).")] = None,
    probe: Annotated[bool, typer.Option(
        "--probe", help="Also fit linear probes (from the codes, D's features and raw pixels) to "
                        "the class labels and each ground-truth factor, with 10, 100, 1000 and "
                        "all labels per class. Cluster accuracy is measured with or without "
                        "it.")] = False,
    probe_dims: Annotated[int | None, typer.Option(
        help="Probe D features and pixels wider than N on their top N principal components "
             "(0: at full width, minutes more on a CPU) [default: 128].", min=0)] = None,
    probe_max_iter: Annotated[int | None, typer.Option(
        help="lbfgs iterations per probe fit; on D features 100 often stops short of the optimum "
             "(eval.json's `converged`); 1000 reaches it in most fits at ~2x the probes' time "
             "[default: 100].", min=1)] = None,
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
    fid: Annotated[bool, typer.Option(
        "--fid", help="FID and KID of generated images against --split (needs the Inception "
                      "weights: add --download once).")] = False,
    fid_samples: Annotated[int, typer.Option(
        help="Generated images (and at most as many real ones) for FID and KID.", min=2)] = 10000,
    fid_weights: Annotated[Path | None, typer.Option(
        help="Inception weights file (default: the cache directory's copy).")] = None,
    download: Annotated[bool, typer.Option(
        "--download", help="Fetch the Inception weights for --fid when missing.")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Measure a trained run: MI per code, cluster accuracy, probes, disentanglement metrics."""
    from disentangle.evaluation.pipeline import QUICK, EvalConfig, NotSaved, evaluate_run
    from disentangle.training import latest_run

    run_dir = run if run is not None else latest_run(Path("runs"))
    if not (run_dir / "config.json").is_file():
        raise DisentangleError(f"'{run_dir}' is not a run directory (no config.json); "
                               "give the --out of a `disentangle run`")
    chosen = {k: v for k, v in dict(n=n, bound_samples=bound_samples, dci_model=dci_model,
                                    intervention_points=intervention_points,
                                    intervention_pool=intervention_pool,
                                    probe_max_iter=probe_max_iter).items() if v is not None}
    if probe_dims is not None:
        chosen["probe_dims"] = probe_dims or None  # 0: no projection
    cfg = EvalConfig(split=split, probe=probe, mi=mi, metrics=metrics, seed=seed, device=device,
                     fid=fid, fid_samples=fid_samples,
                     fid_weights=str(fid_weights) if fid_weights else None, download=download,
                     data_dir=str(data_dir) if data_dir is not None else None,
                     **{**(QUICK if quick else {}), **chosen})  # flags given win over --quick
    try:
        result = evaluate_run(run_dir, cfg, show_progress=not (quiet or as_json))
    except NotSaved as exc:  # the numbers are shown all the same
        _show(exc.result, run_dir, as_json)
        raise DisentangleError(f"{exc}; the measures shown above are not in "
                               f"{run_dir / 'eval.json'}") from None
    _show(result, run_dir, as_json)
    if not as_json:
        Console().print(f"wrote {run_dir / 'eval.json'}")


def _show(result: dict, run_dir: Path, as_json: bool) -> None:
    """eval's result on stdout: the JSON, or the table of headline measures."""
    if "in_sample" in result:  # on stderr: --json's stdout stays machine-readable
        typer.echo(f"note: {result['in_sample']}", err=True)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("measure", str(run_dir), title=f"{result['dataset']} ({result['split']} split)")
    for row in summary_rows(result):
        table.add_row(row.label, row.text)
    Console().print(table)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories with an eval.json.")],
    as_json: Json = False,
) -> None:
    """Evaluated runs side by side (InfoGAN vs GAN at a glance)."""
    named_once(runs, "compare")
    results, rows = [], []
    for run in runs:
        path = run / "eval.json"
        if not path.is_file():
            raise DisentangleError(f"no eval.json in '{run}'; run `disentangle eval {run}` first")
        try:
            results.append(json.loads(path.read_text()))
            rows.append({row.label: row for row in summary_rows(results[-1])})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON, bytes, shape
            raise DisentangleError(f"'{path}' is damaged ({type(exc).__name__}: {exc}); run "
                                   f"`disentangle eval {run}` again") from None
    selected: dict[Path, tuple[int | None, str]] = {}  # selection.json's step, how to redo it
    made_by: dict[str, set[str]] = {}  # each rank row's label: the select calls behind it
    damaged = []
    for run, row in zip(runs, rows):  # `disentangle select` leaves its verdict in each run
        selection = run / "selection.json"
        if selection.is_file():
            try:
                saved = json.loads(selection.read_text())
                label, shown, selected[run] = _selection_row(run, saved)
                row[label] = shown
                made_by.setdefault(label, set()).add(json.dumps(
                    [sorted(saved.get("runs", [])), saved.get("config")], sort_keys=True))
            except (ValueError, KeyError, TypeError, AttributeError):
                damaged.append(f"{selection} is damaged, so compare leaves out its rank; run "
                               "`disentangle select` on these runs again")
    damaged += [f"the '{label}' row holds ranks from {len(calls)} different `disentangle "
                "select` calls (other sets of runs or options): a rank counts only within its "
                "own set; select these runs together for ranks that compare"
                for label, calls in made_by.items() if len(calls) > 1]
    labels = list(dict.fromkeys(label for row in rows for label in row))
    infos = [_RunInfo.of(run, result) for run, result in zip(runs, results)]
    notes = [*damaged, *_stale_notes(runs, infos, selected), *_dataset_note(runs, infos),
             *_settings_note(runs, results)]
    if as_json:  # numbers, not the table's text
        typer.echo(json.dumps({str(run): {label: r.value for label, r in row.items()}
                               for run, row in zip(runs, rows)}, indent=2))
    else:
        table = Table("measure", *(f"{name}\n({info.method})"
                                   for name, info in zip(run_labels(runs), infos)))
        table.add_row("dataset", *(info.data for info in infos))
        table.add_row("step", *(info.step_text for info in infos))
        for label in labels:
            table.add_row(label, *(row[label].text if label in row else "-" for row in rows))
        Console().print(table)
    for note in notes:  # on stderr: --json's stdout stays machine-readable
        typer.echo(f"note: {note}", err=True)


def _selection_row(run: Path, saved: dict) -> tuple[str, Row, tuple[int | None, str]]:
    """selection.json's rank row for compare, and (its step, the command that made it)."""
    from disentangle.cli.select import SELECTOR_NAMES

    by = saved.get("by", "centrality")
    score = saved.get("own_score", saved.get("own_centrality"))  # older files: the latter
    label = f"{SELECTOR_NAMES.get(by, by)} (rank)"
    row = Row(label, {by: score, "rank": saved["rank"]}, f"{score:.3f} ({saved['rank']})")
    again = " ".join(["disentangle select", *map(_from_here, saved.get("runs", [run])),
                      *([] if by == "udr" else ["--by", by]), *_select_options(saved)])
    return label, row, (saved.get("step"), again)


def _select_options(saved: dict) -> list[str]:
    """The options a selection.json was made with, where they are not select's defaults, so
    that "run select again" measures the same thing."""
    from disentangle.cli.select import (CORRELATION, NEIGHBOUR_POINTS, SEED, UDR_POINTS,
                                        VOTES)

    config, by = saved.get("config") or {}, saved.get("by", "centrality")
    defaults = {"votes": VOTES, "seed": SEED, "correlation": CORRELATION,
                "points": {"udr": UDR_POINTS, "neighbours": NEIGHBOUR_POINTS}.get(by)}
    options = [f"--{key} {config[key]}" for key in ("votes", "points", "correlation", "seed")
               if key in config and config[key] != defaults[key]]
    if saved.get("data_dir"):
        options.append(f"--data-dir {_from_here(saved['data_dir'])}")
    return options


def _from_here(path) -> str:
    """A path as typed from the current directory: relative below it, else as it is."""
    try:
        relative = os.path.relpath(path) if os.path.isabs(path) else str(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


def run_labels(runs: list[Path]) -> list[str]:
    """Each run's column heading: the shortest tail of its path that no other run's path ends
    with (runs/five/seed-0 and runs/is/seed-0: five/seed-0 and is/seed-0), else its last name."""
    parts = [Path(os.path.abspath(run)).parts for run in runs]
    labels = []
    for i, mine in enumerate(parts):
        others = [p for j, p in enumerate(parts) if j != i]
        k = next((k for k in range(1, len(mine) + 1)
                  if all(p[-k:] != mine[-k:] for p in others)), len(mine))
        labels.append(str(Path(*mine[-k:])))
    return labels


@dataclass(frozen=True)
class _RunInfo:
    """What compare shows of a run besides its eval.json's numbers."""

    method: str
    data: str  # the dataset and its image size: "digits 28×28"
    measured: int | None  # the checkpoint step eval.json measured (None: an older eval.json)
    step: int | None  # the checkpoint's step now (None: no readable checkpoint)

    @classmethod
    def of(cls, run: Path, result: dict) -> _RunInfo:
        from disentangle.training.checkpoint import checkpoint_step
        from disentangle.training.rundir import RunDir

        try:
            meta = RunDir(run).read_meta()
        except DisentangleError:  # compare still shows the eval.json's numbers
            meta = {"config": {}}
        config, shape = meta["config"], meta.get("image_shape")
        data = str(result.get("dataset", config.get("dataset", "?")))
        if isinstance(shape, list) and len(shape) == 3:
            data += f" {shape[1]}×{shape[2]}"
        measured = result.get("step")
        return cls(str(config.get("method", "?")), data,
                   measured if isinstance(measured, int) else None,
                   checkpoint_step(RunDir(run).latest))

    @property
    def step_text(self) -> str:
        text = "-" if self.measured is None else str(self.measured)
        return text if self.step in (None, self.measured) else f"{text} (checkpoint {self.step})"


def _stale_notes(runs: list[Path], infos: list[_RunInfo],
                 selected: dict[Path, tuple[int | None, str]]) -> list[str]:
    """One line per run whose eval.json (or selection.json) measured another checkpoint than
    the one the run has now: trained on since (--resume), or written by an older disentangle
    that did not record the step."""
    notes = []
    for run, info in zip(runs, infos):
        if info.step is None:
            continue
        checks = [("eval.json", info.measured, f"disentangle eval {run}")]
        if run in selected:  # compare shows its rank row
            checks.append(("selection.json", *selected[run]))
        for name, measured, again in checks:
            if measured is None:
                notes.append(f"{run}: {name} does not record which step it measured (an older "
                             f"disentangle wrote it); the checkpoint is at step {info.step}; run "
                             f"`{again}` again")
            elif measured != info.step:
                notes.append(f"{run}: {name} measured step {measured}, the checkpoint is at "
                             f"step {info.step}; run `{again}` again")
    return notes


def _dataset_note(runs: list[Path], infos: list[_RunInfo]) -> list[str]:
    """A line when the runs are of different datasets (or image sizes): compare shows them, but
    their numbers do not measure the same thing."""
    groups: dict[str, list[str]] = {}
    for run, info in zip(runs, infos):
        groups.setdefault(info.data, []).append(str(run))
    if len(groups) < 2:
        return []
    kinds = "; ".join(f"{data}: {', '.join(names)}" for data, names in groups.items())
    return [f"these runs are of different datasets or image sizes ({kinds}); their numbers "
            "are not comparable with each other"]


# eval_config keys that change no number: how fast (jobs, device, batch_size), which rows there
# are (probe, mi, metrics, fid, probe_inputs; a missing row shows as "-"), where files are found.
# Every other EvalConfig field is compared, a new one included.
NOT_MEASURING = {"jobs", "device", "batch_size", "probe", "mi", "metrics", "fid", "probe_inputs",
                 "fid_weights", "download", "data_dir", "timings"}


def _settings_note(runs: list[Path], results: list[dict]) -> list[str]:
    """A line when the eval.json files were made with different measuring options (`--split`,
    `--quick`'s sizes, ...): the same run scores differently under them."""
    from disentangle.evaluation.pipeline import EvalConfig

    differ = []
    for key in (f.name for f in fields(EvalConfig) if f.name not in NOT_MEASURING):
        groups: dict[str, list[str]] = {}
        for run, result in zip(runs, results):
            config = result.get("eval_config")
            if isinstance(config, dict) and key in config:  # older files may lack a key
                groups.setdefault(json.dumps(config[key]), []).append(str(run))
        if len(groups) > 1:
            differ.append(f"{key} " + ", ".join(f"{value} in {' '.join(names)}"
                                                for value, names in groups.items()))
    if not differ:
        return []
    return [f"these runs were evaluated with different options ({'; '.join(differ)}); their "
            "numbers are not comparable with each other: evaluate them with the same options"]


@dataclass(frozen=True)
class Row:
    """One headline measure: `value` holds the numbers (`compare --json`), `text` the table's."""

    label: str
    value: float | dict[str, Any] | None
    text: str


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_rows(result: dict) -> list[Row]:
    """The headline numbers of an eval.json, one Row per measure, each measure once."""
    rows = []
    clustered = [name for name, code in result.get("codes", {}).items()
                 if "cluster_accuracy" in code]
    for name, code in result.get("codes", {}).items():
        if "mi_lower_bound" in code:
            bound, h = code["mi_lower_bound"], code["entropy"]
            if not code["differential"]:
                rows.append(Row(f"{name} {code['type']}: L_I / H", {"L_I": bound, "H": h},
                                f"{_f(bound)} / {_f(h)}"))
            else:
                top = code.get("reachable_bound")
                reach = "no upper limit" if top is None else f"reachable max {_f(top)}"
                rows.append(Row(f"{name} {code['type']}: L_I bound", {
                    "L_I": bound, "reachable_max": top, "h": h},
                    f"{_f(bound)} ({reach}; h = {_f(h)})"))
        if "cluster_accuracy" in code:
            rows.append(Row(f"{name} cluster accuracy", code["cluster_accuracy"],
                            _f(code["cluster_accuracy"])))
            if "nmi" in code:
                rows.append(Row(f"{name} NMI", code["nmi"], _f(code["nmi"])))
        if "generator_cluster_accuracy" in code:  # G's categories, read without Q
            rows.append(Row(f"{name} generator cluster accuracy",
                            code["generator_cluster_accuracy"],
                            _f(code["generator_cluster_accuracy"])))
    if len(clustered) > 1 and "cluster_accuracy" in result:  # which code is best, said once
        best = result.get("cluster_code", "?")
        rows.append(Row(f"cluster accuracy (best code, {best})", result["cluster_accuracy"],
                        _f(result["cluster_accuracy"])))
    quality = result.get("sample_quality")
    if quality:
        rows.append(Row("FID", quality["fid"], f"{quality['fid']:.2f}"))
        rows.append(Row("KID", {"kid": quality["kid"], "kid_std": quality["kid_std"]},
                        f"{quality['kid']:.4f} ± {quality['kid_std']:.4f}"))
    for kind, probe in result.get("probe", {}).items():
        budgets = {b: v["accuracy"] for b, v in probe["budgets"].items()}
        text = " ".join(f"{b}:{_f(v)}" for b, v in budgets.items())
        rows.append(Row(f"probe {kind}", {"accuracy": probe["accuracy"], "budgets": budgets},
                        f"{_f(probe['accuracy'])}  ({text})"))
    for factor, probes in result.get("probe_factors", {}).items():
        values = {kind: probe["accuracy"] for kind, probe in probes.items()}
        rows.append(Row(f"probe {factor}", values,
                        "  ".join(f"{kind} {_f(v)}" for kind, v in values.items())))
    for key, value in result.get("disentanglement", {}).items():
        if isinstance(value, dict):
            rows.extend(Row(f"dci {k}", v, _f(v)) for k, v in value.items())
        else:
            rows.append(Row(key.replace("_", " "), value, _f(value)))
    return rows
