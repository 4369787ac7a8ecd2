"""Does InfoGAN-CR disentangle where InfoGAN and the GAN do not, on every seed, and does
ModelCentrality pick a good run without labels? Trains `infogan-cr`, `infogan` and `gan` over
seeds through the real CLI (the dataset's preset: on `shapes`, InfoGAN-CR's dSprites recipe at
64 px for all three), evaluates every run, runs `disentangle select` over each method's seeds and
over all runs, and writes a Markdown report with every seed's figures and a verdict column.

    python -m benchmarks.disentanglement --quick                 # smoke: minutes on 2 CPU cores
    python -m benchmarks.disentanglement --device cuda --jobs 9 --report docs/disentanglement.md

Runs already present under --out are reused; an interrupted run resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.infogan_vs_gan import (
    Setting,
    add_run_arguments,
    chosen,
    dig,
    machines,
    mean_std,
    table,
    train_and_evaluate,
)

METHODS = ("infogan-cr", "infogan", "gan")
CANDIDATE = "infogan-cr"


@dataclass(frozen=True)
class Plan:
    seeds: tuple[int, ...]
    datasets: dict[str, Setting] = field(default_factory=dict)
    # per dataset, the measures of the verdict (higher is better), as eval.json key paths
    measures: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    votes: int = 450  # `disentangle select --votes`
    cr_args: dict[str, tuple[str, ...]] = field(default_factory=dict)  # infogan-cr's own flags


SHAPES_MEASURES = (("disentanglement", "mig"), ("disentanglement", "factor_vae"),
                   ("disentanglement", "beta_vae"), ("disentanglement", "dci", "disentanglement"),
                   ("disentanglement", "sap"), ("disentanglement", "modularity"))
DIGITS_MEASURES = (("cluster_accuracy",), ("nmi",))
DIGITS_CODES = ("--code", "categorical:10", "--code", "uniform:1", "--code", "uniform:1")

FULL = Plan(seeds=(0, 1, 2), datasets={
    # InfoGAN-CR's dSprites recipe (preset) over the whole 64-px grid; the authors switch CR on
    # at ~89 % of ~322k steps; in a GPU-minutes budget it goes on halfway
    "shapes": Setting(20000, (), ("--n", "5000")),
    # the categorical code and two continuous ones (CR needs two codes at least)
    "digits": Setting(1000, DIGITS_CODES, ("--bound-samples", "1000")),
}, measures={"shapes": SHAPES_MEASURES, "digits": DIGITS_MEASURES},
    cr_args={"shapes": ("--cr-start", "10000")})
QUICK = Plan(seeds=(0, 1), datasets={
    "shapes": Setting(40, ("--image-size", "32", "--backbone", "tiny"),
                      ("--n", "500", "--bound-samples", "300", "--intervention-points", "40",
                       "--dci-model", "random_forest")),
    "digits": Setting(40, (*DIGITS_CODES, "--backbone", "tiny"), ("--bound-samples", "300")),
}, measures={"shapes": SHAPES_MEASURES, "digits": DIGITS_MEASURES}, votes=30,
    cr_args={"shapes": ("--cr-start", "20")})


def label(keys: tuple[str, ...]) -> str:
    return " ".join(keys[1:] if keys[0] == "disentanglement" else keys).replace("_", " ")


def verdict(values: dict[str, list[float]]) -> str:
    """'infogan-cr ahead' only when every one of its seeds beats every seed of every other
    method; 'behind' when every seed is below every other seed; else 'overlap'."""
    mine = values.get(CANDIDATE) or []
    others = [v for m, vs in values.items() if m != CANDIDATE for v in vs]
    if not mine or not others:
        return "-"
    if min(mine) > max(others):
        return f"{CANDIDATE} ahead"
    if max(mine) < min(others):
        return f"{CANDIDATE} behind"
    return "overlap"


def select(runs: list[Path], device: str, votes: int, out: Path) -> dict:
    """`disentangle select` over `runs`, kept in out (reused when present)."""
    if out.is_file():
        return json.loads(out.read_text())
    command = [sys.executable, "-m", "disentangle", "select", *map(str, runs), "--json",
               "--device", device, "--votes", str(votes)]
    print("$ disentangle select", " ".join(map(str, runs)), flush=True)
    import subprocess

    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: disentangle select\n{done.stderr.strip()}")
    out.write_text(done.stdout)
    return json.loads(done.stdout)


def report_dataset(dataset: str, runs: dict[str, list[Path]], seeds: tuple[int, ...],
                   measures, selections: dict[str, dict]) -> str:
    evals = {m: [json.loads((r / "eval.json").read_text()) for r in rs] for m, rs in runs.items()}
    header = ["measure", "method", *[f"seed {s}" for s in seeds], "mean ± std", "verdict"]
    rows, verdicts = [], []
    for keys in measures:
        values = {m: [v for e in evals[m] if (v := dig(e, *keys)) is not None] for m in METHODS}
        if not any(values.values()):
            continue
        judged = verdict(values)
        verdicts.append(judged)
        for i, method in enumerate(METHODS):
            cells = [f"{v:.3f}" for v in values[method]]
            rows.append([label(keys) if i == 0 else "", method, *cells,
                         mean_std(values[method]), judged if i == 0 else ""])
    out = [f"## {dataset}", "", "Every seed on the test split (higher is better):", "",
           table(header, rows), "",
           f"{CANDIDATE} is ahead of both others on every seed for "
           f"{verdicts.count(CANDIDATE + ' ahead')} of {len(verdicts)} measures, behind on "
           f"{verdicts.count(CANDIDATE + ' behind')}.", ""]
    main = measures[0]
    sel_rows = []
    for scope, result in selections.items():
        chosen = Path(result["chosen"])
        by_run = {str(r): dig(json.loads((r / "eval.json").read_text()), *main)
                  for r in map(Path, result["runs"])}
        best = max(v for v in by_run.values() if v is not None)
        picked = by_run[str(chosen)]
        sel_rows.append([scope, chosen.name, f"{picked:.3f}", f"{best:.3f}",
                         f"{best - picked:.3f}"])
    out += [f"ModelCentrality (`disentangle select`, no labels) against the best run by "
            f"{label(main)}:", "",
            table(["runs compared", "chosen", f"chosen {label(main)}", "best", "gap"], sel_rows),
            ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short CPU runs, 2 seeds (smoke)")
    add_run_arguments(parser, Path("bench-out/disentanglement"))
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else FULL
    seeds, datasets = chosen(args, plan.seeds, plan.datasets)
    started, sections, all_runs = time.time(), [], []
    for dataset, setting in datasets.items():
        runs = {m: [args.out / "runs" / f"{dataset}-{m}-s{s}" for s in seeds] for m in METHODS}
        cr = Setting(setting.steps, setting.run_args + plan.cr_args.get(dataset, ()),
                     setting.eval_args)
        jobs = [(m, s, r, cr if m == CANDIDATE else setting)
                for m in METHODS for s, r in zip(seeds, runs[m])]
        all_runs += [r for _, _, r, _ in jobs]
        train_and_evaluate(jobs, dataset, args)
        selections = {}
        if len(seeds) >= 2:
            for method in METHODS:
                selections[f"{method} seeds"] = select(
                    runs[method], args.device, plan.votes,
                    args.out / f"select-{dataset}-{method}.json")
        selections["all runs"] = select([r for _, _, r, _ in jobs], args.device, plan.votes,
                                        args.out / f"select-{dataset}-all.json")
        sections.append(report_dataset(dataset, runs, seeds, plan.measures[dataset], selections))
    command = "python -m benchmarks.disentanglement " + " ".join(
        argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        "# InfoGAN-CR vs InfoGAN vs GAN", "",
        f"Produced by `{command.strip()}` in {time.time() - started:.0f} s (runs reused where "
        f"present). Mode: {'quick' if args.quick else 'full'}; seeds "
        f"{', '.join(map(str, seeds))}; steps "
        + ", ".join(f"{d} {s.steps}" for d, s in datasets.items())
        + f". Runs made on: {machines(all_runs)}.",
        "", "The verdict says 'infogan-cr ahead' only when every InfoGAN-CR seed beats every seed "
        "of both other methods.", "", *sections])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(text)
    print(f"wrote {args.out / 'report.md'}")
    if args.report:
        args.report.write_text(text)
        print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
