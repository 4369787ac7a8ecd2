"""Does InfoGAN-CR disentangle where InfoGAN and the GAN do not, on every seed, and does
a selector pick a good run without labels? Trains `infogan-cr`, `infogan` and `gan` over
seeds through the real CLI (the dataset's preset: on `shapes`, InfoGAN-CR's dSprites recipe at
64 px for all three), evaluates every run, runs `disentangle select` over each method's seeds and
over all runs, and writes a Markdown report with every seed's figures and a verdict column.

    python -m benchmarks.disentanglement --quick                 # smoke: minutes on 2 CPU cores
    python -m benchmarks.disentanglement --device cuda --jobs 9 --report docs/disentanglement.md
    python -m benchmarks.disentanglement --device cuda --jobs 9 --datasets shapes --minutes 5

`--together` trains each method's seeds in one process (`disentangle run METHOD --seeds ...`,
each run on its own CUDA stream) instead of one process per run; run directories are then
runs/DATASET-METHOD/seed-S.

`--minutes M` replaces the plan's step budget by the one that the slowest method trains in M
minutes while all runs train at once (--jobs processes, or with --together one process per
method): a calibration trains every (method, seed) for a few hundred steps the same way (CR on
from the start, its dearest phase), takes the slowest steps/s and rounds the budget down to a
multiple of 500. InfoGAN-CR's CR switches on at a fixed fraction of the budget (`--cr-start`,
default 0.5). Runs already present under --out are reused when they were trained with this
call's steps and flags (a finished run trained otherwise is refused, never deleted: give another
--out); an interrupted run resumes from its checkpoint. Evaluations, calibrations and selections
made with other settings (flags, minutes, runs, votes) are made again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from disentangle.cli.select import SELECTOR_NAMES, scores_neighbours
from disentangle.training import rundir

from benchmarks import reuse
from benchmarks.infogan_vs_gan import (
    Setting,
    add_run_arguments,
    chosen,
    cli,
    dig,
    machines,
    mean_std,
    steps_per_s,
    table,
    train,
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
    cr_start: float = 0.5  # infogan-cr's CR switches on at this fraction of the step budget
    calibration: tuple[int, int] = (500, 100)  # --minutes: steps of each run, steps per window


SHAPES_MEASURES = (("disentanglement", "mig"), ("disentanglement", "factor_vae"),
                   ("disentanglement", "beta_vae"), ("disentanglement", "dci", "disentanglement"),
                   ("disentanglement", "sap"), ("disentanglement", "modularity"))
DIGITS_MEASURES = (("cluster_accuracy",), ("generator_cluster_accuracy",), ("nmi",))
DIGITS_CODES = ("--code", "categorical:10", "--code", "uniform:1", "--code", "uniform:1")

# the verdicts need no probes: they cost more than the metrics and judge nothing here
FULL = Plan(seeds=(0, 1, 2), datasets={
    # InfoGAN-CR's dSprites recipe (preset) over the whole 64-px grid; the authors switch CR on
    # at ~89 % of ~322k steps; in a GPU-minutes budget it goes on halfway
    "shapes": Setting(20000, (), ("--n", "5000"), probe=False),
    # the categorical code and two continuous ones (CR needs two codes at least)
    "digits": Setting(1000, DIGITS_CODES, ("--bound-samples", "1000"), probe=False),
}, measures={"shapes": SHAPES_MEASURES, "digits": DIGITS_MEASURES})
QUICK = Plan(seeds=(0, 1), datasets={
    "shapes": Setting(40, ("--image-size", "32", "--backbone", "tiny"),
                      ("--n", "500", "--bound-samples", "300", "--intervention-points", "40",
                       "--dci-model", "random_forest"), probe=False),
    "digits": Setting(40, (*DIGITS_CODES, "--backbone", "tiny"), ("--bound-samples", "300"),
                      probe=False),
}, measures={"shapes": SHAPES_MEASURES, "digits": DIGITS_MEASURES}, votes=30,
    calibration=(15, 5))
BUDGET_STEP = 500  # a calibrated budget is a multiple of this
SAFETY = 0.85  # share of the minutes given to training steps (the rest: scores, checkpoints)


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


SELECTORS = ("centrality", "udr", "neighbours")  # `disentangle select --by`


def selectors(runs: list[Path]) -> tuple[str, ...]:
    """Every selector that takes these runs (they share their codes): `select`'s own test says
    whether neighbour agreement can score them."""
    from disentangle.training.build import build_latent

    latent = build_latent(rundir.RunDir(runs[0]).read_saved()[0])
    return tuple(s for s in SELECTORS if s != "neighbours" or scores_neighbours(latent))


def select(runs: list[Path], device: str, votes: int, out: Path, by: str = "centrality") -> dict:
    """`disentangle select --by BY` over `runs`, kept in out (reused when made over these runs,
    and with these votes for centrality)."""
    made_with = {"runs": [reuse.identity(r) for r in runs], "by": by, "device": device,
                 **({"votes": votes} if by == "centrality" else {})}
    if (kept := reuse.reusable(out, made_with)) is not None:
        return kept
    command = [sys.executable, "-m", "disentangle", "select", *map(str, runs), "--json",
               "--device", device, "--votes", str(votes), "--by", by]
    print("$ disentangle select", " ".join(map(str, runs)), flush=True)
    import subprocess

    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: disentangle select\n{done.stderr.strip()}")
    return reuse.keep(out, json.loads(done.stdout), made_with)


def calibrate(dataset: str, setting: Setting, seeds: tuple[int, ...], args, minutes: float,
              calibration: tuple[int, int]) -> dict:
    """The step budget that the slowest method trains in `minutes` with every run of the
    dataset training at once, measured by training them all at once for a few hundred steps."""
    saved = args.out / f"calibration-{dataset}.json"
    made_with = {"minutes": minutes, "jobs": args.jobs, "together": args.together,
                 "seeds": list(seeds), "run_args": list(setting.run_args),
                 "calibration": list(calibration), "device": args.device}
    if (kept := reuse.reusable(saved, made_with)) is not None:
        return kept
    steps, window = calibration

    def rates(method: str, group: tuple[int, ...], where: Path) -> list[float]:
        """Steps/s of each seed's run: one seed alone, or a group as one `--seeds` process."""
        shutil.rmtree(where, ignore_errors=True)
        chosen = (("--seeds", ",".join(map(str, group))) if args.together
                  else ("--seed", str(group[0])))
        cli("run", method, "--dataset", dataset, *chosen, "--steps", str(steps),
            "--log-every", str(window), "--score-every", "0", "--checkpoint-every", str(steps),
            "--sample-every", str(steps), "--out", str(where), "--device", args.device, "--quiet",
            *setting.run_args)
        found = ([steps_per_s(where / f"seed-{s}") for s in group] if args.together
                 else [steps_per_s(where)])
        shutil.rmtree(where)
        return found

    pairs = [(m, s) for m in METHODS for s in seeds]
    base = args.out / "calibration"
    jobs = ([(m, seeds, base / f"{dataset}-{m}") for m in METHODS] if args.together  # pairs' order
            else [(m, (s,), base / f"{dataset}-{m}-s{s}") for m, s in pairs])
    with ThreadPoolExecutor(len(METHODS) if args.together else args.jobs) as pool:
        measured = [r for rs in pool.map(lambda job: rates(*job), jobs) for r in rs]
    per_method = {m: min(r for (mm, _), r in zip(pairs, measured) if mm == m) for m in METHODS}
    slowest = min(per_method, key=per_method.get)
    budget = int(per_method[slowest] * minutes * 60 * SAFETY) // BUDGET_STEP * BUDGET_STEP
    result = {"minutes": minutes, "jobs": args.jobs, "steps_per_s": per_method,
              "slowest": slowest, "steps": max(budget, BUDGET_STEP)}
    return reuse.keep(saved, result, made_with)


def train_together(method: str, runs: list[Path], seeds: tuple[int, ...], dataset: str,
                   setting: Setting, device: str) -> None:
    """One method's seeds in one process; a set left half-done is finished run by run."""
    wanted = [reuse.training(method, dataset, s, setting.steps, setting.run_args) for s in seeds]
    if all([reuse.finished_as(r, w) for r, w in zip(runs, wanted)]):  # each run checked
        return
    if any(r.exists() for r in runs):
        for run, seed in zip(runs, seeds):
            train(run, method, dataset, seed, setting, device)
        return
    cli("run", method, "--dataset", dataset, "--seeds", ",".join(map(str, seeds)),
        "--steps", str(setting.steps), "--out", str(runs[0].parent), "--device", device,
        "--quiet", *setting.run_args)
    for run, made in zip(runs, wanted):
        reuse.stamp(run, "training", made)


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
    walls = {m: [json.loads((r / "summary.json").read_text())["elapsed_s"] for r in rs]
             for m, rs in runs.items()}
    out += ["Training wall clock per run, seconds (runs trained --jobs at a time): "
            + "; ".join(f"{m} " + ", ".join(f"{w:.0f}" for w in ws) for m, ws in walls.items())
            + ".", ""]
    main = measures[0]
    sel_rows = []
    for (scope, by), result in selections.items():
        chosen = Path(result["chosen"])
        by_run = {str(r): dig(json.loads((r / "eval.json").read_text()), *main)
                  for r in map(Path, result["runs"])}
        best = max(v for v in by_run.values() if v is not None)
        picked = by_run[str(chosen)]
        name = SELECTOR_NAMES[by]
        sel_rows.append([scope, name, chosen.name, f"{picked:.3f}", f"{best:.3f}",
                         f"{best - picked:.3f}"])
    if not sel_rows:
        return "\n".join(out + ["Model selection (`disentangle select`): not run yet.", ""])
    out += [f"Model selection without labels (`disentangle select --by BY`) against "
            f"the best run by {label(main)}:", "",
            table(["runs compared", "selector", "chosen", f"chosen {label(main)}", "best", "gap"],
                  sel_rows), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short CPU runs, 2 seeds (smoke)")
    add_run_arguments(parser, Path("bench-out/disentanglement"))
    parser.add_argument("--together", action="store_true",
                        help="train each method's seeds in one process (disentangle run "
                             "--seeds): on a GPU, one CUDA stream per run")
    parser.add_argument("--minutes", type=float,
                        help="choose the step budget that all runs, trained together, finish "
                             "in this many minutes (a calibration measures it; overrides --steps)")
    parser.add_argument("--cr-start", type=float, metavar="FRACTION",
                        help="switch infogan-cr's CR on at this fraction of the step budget "
                             "(default 0.5; 0: from the first step)")
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else FULL
    if args.cr_start is not None:
        if not 0 <= args.cr_start < 1:
            parser.error(f"--cr-start must be in [0, 1), got {args.cr_start}")
        plan = replace(plan, cr_start=args.cr_start)
    seeds, datasets = chosen(args, plan.seeds, plan.datasets)
    started, all_runs = time.time(), []
    budgets, used, sections = [], {}, {}

    def write_report() -> None:
        """Written after the evaluations and again after `select`, which may run out of time."""
        command = "python -m benchmarks.disentanglement " + " ".join(
            argv if argv is not None else sys.argv[1:])
        text = "\n".join([
            "# InfoGAN-CR vs InfoGAN vs GAN", "",
            f"Produced by `{command.strip()}` in {time.time() - started:.0f} s (runs reused where "
            f"present). Mode: {'quick' if args.quick else 'full'}; seeds "
            f"{', '.join(map(str, seeds))}; steps "
            + ", ".join(f"{d} {s}" for d, s in used.items())
            + f"; infogan-cr switches CR on at {plan.cr_start:.0%} of the steps. "
            + "".join(f"Budget of {b}. " for b in budgets)
            + (f"Extra run flags: {' '.join(args.run_arg)}. " if args.run_arg else "")
            + f"Runs made on: {machines(all_runs)}.",
            "", "The verdict says 'infogan-cr ahead' only when every InfoGAN-CR seed beats every "
            "seed of both other methods.", "", *sections.values()])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        print(f"wrote {args.out / 'report.md'}", flush=True)
        if args.report:
            args.report.write_text(text)

    for dataset, setting in datasets.items():
        if args.minutes:
            calibration = calibrate(dataset, setting, seeds, args, args.minutes,
                                    plan.calibration)
            setting = replace(setting, steps=calibration["steps"])
            rates = ", ".join(f"{m} {r:.1f}" for m, r in calibration["steps_per_s"].items())
            arrangement = (f"{len(METHODS)} processes of {len(seeds)} runs each" if args.together
                           else f"{args.jobs} runs")
            budgets.append(f"{dataset}: {setting.steps} steps, the budget that {arrangement} "
                           f"trained together finish in {args.minutes:g} minutes (calibrated "
                           f"steps/s of the slowest seed: {rates})")
        used[dataset] = setting.steps
        runs = {m: [args.out / "runs" / (f"{dataset}-{m}/seed-{s}" if args.together
                                         else f"{dataset}-{m}-s{s}") for s in seeds]
                for m in METHODS}
        cr = replace(setting, run_args=setting.run_args + (
            "--cr-start", str(int(setting.steps * plan.cr_start))))
        jobs = [(m, s, r, cr if m == CANDIDATE else setting)
                for m in METHODS for s, r in zip(seeds, runs[m])]
        all_runs += [r for _, _, r, _ in jobs]
        reuse.check_all([(r, reuse.training(m, dataset, s, st.steps, st.run_args))
                         for m, s, r, st in jobs])  # before any run trains
        if args.together:
            with ThreadPoolExecutor(len(METHODS)) as pool:
                for done in [pool.submit(train_together, m, runs[m], seeds, dataset,
                                         cr if m == CANDIDATE else setting, args.device)
                             for m in METHODS]:
                    done.result()
        train_and_evaluate(jobs, dataset, args)  # what is trained already is kept
        sections[dataset] = report_dataset(dataset, runs, seeds, plan.measures[dataset], {})
        write_report()
        scopes = {f"{m} seeds": runs[m] for m in METHODS if len(seeds) >= 2}
        scopes["all runs"] = [r for _, _, r, _ in jobs]
        names = {f"{m} seeds": f"select-{dataset}-{m}" for m in METHODS}
        names["all runs"] = f"select-{dataset}-all"
        suffix = {"centrality": ".json", "udr": "-udr.json", "neighbours": "-neighbours.json"}
        selections = {}
        for by in selectors(scopes["all runs"]):  # in turn: each leaves its selection.json
            with ThreadPoolExecutor(len(scopes)) as pool:
                futures = {(scope, by): pool.submit(select, rs, args.device, plan.votes,
                                                    args.out / (names[scope] + suffix[by]), by)
                           for scope, rs in scopes.items()}
                selections.update({key: future.result() for key, future in futures.items()})
        sections[dataset] = report_dataset(dataset, runs, seeds, plan.measures[dataset],
                                           selections)
        write_report()
    if args.report:
        print(f"wrote {args.report}")

if __name__ == "__main__":
    main()
