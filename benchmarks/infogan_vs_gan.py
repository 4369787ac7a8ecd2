"""Does InfoGAN's information term make the codes meaningful compared with a plain GAN, how stable
is that across seeds, and what does it cost? Trains `infogan` and `gan` with several seeds on the
embedded datasets through the real CLI, evaluates every run, and writes a Markdown report with
figures (the paper's Figure 1, traversals side by side, the code-factor MI heat maps).

    python -m benchmarks.infogan_vs_gan --quick                        # ~8 minutes on 2 CPU cores
    python -m benchmarks.infogan_vs_gan --report docs/benchmarks.md    # the full comparison
    python -m benchmarks.infogan_vs_gan --device cuda --jobs 6 --report docs/benchmarks.md

Runs already present under --out are reused when they were trained with this call's steps and
flags (a finished run trained otherwise is refused, never deleted: give another --out); an
interrupted run resumes from its checkpoint; evaluations and speed figures made with other
settings are made again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from disentangle.training import rundir

from benchmarks import reuse

METHODS = ("infogan", "gan")
VERDICT = "seeds (higher is better)"


@dataclass(frozen=True)
class Setting:
    steps: int
    run_args: tuple[str, ...] = ()  # extra `disentangle run` flags
    eval_args: tuple[str, ...] = ()  # extra `disentangle eval` flags
    probe: bool = True  # `disentangle eval --probe` (probes are not needed for every verdict)


@dataclass(frozen=True)
class Speed:
    """Training speed, measured apart from the runs (nothing else running): `rounds` interleaved
    rounds of one short run per method, each timed in `windows` windows of `window` steps after
    a warm-up window."""

    window: int = 50
    windows: int = 3
    rounds: int = 2


@dataclass(frozen=True)
class Plan:
    seeds: tuple[int, ...]
    datasets: dict[str, Setting] = field(default_factory=dict)
    speed: Speed = Speed()


QUICK = Plan(seeds=(0, 1), datasets={
    # L_I reaches ln 10 by ~250 steps; the classes sort themselves out after that
    "digits": Setting(400, ("--batch-size", "64"), ("--bound-samples", "1000")),
    "shapes": Setting(60, ("--image-size", "32", "--backbone", "tiny"),
                      ("--n", "1000", "--bound-samples", "500", "--intervention-points", "60",
                       "--intervention-pool", "1000", "--dci-model", "random_forest")),
}, speed=Speed(window=5, windows=2, rounds=1))
FULL = Plan(seeds=(0, 1, 2), datasets={
    "digits": Setting(3000),
    # the preset: InfoGAN-CR's dSprites recipe at 64 px on the whole grid (sprites64 networks)
    "shapes": Setting(10000, (), ("--n", "5000")),
})


def cli(*args: str) -> None:
    command = [sys.executable, "-m", "disentangle", *args]
    print("$", "disentangle", " ".join(args), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: disentangle {' '.join(args)}\n{result.stderr.strip()}")


def train(run: Path, method: str, dataset: str, seed: int, setting: Setting, device: str) -> None:
    wanted = reuse.training(method, dataset, seed, setting.steps, setting.run_args)
    if reuse.finished_as(run, wanted):
        return
    resume = (run / "checkpoints" / "latest.pt").is_file()
    if run.exists() and not resume:
        shutil.rmtree(run)  # a run that died before its first checkpoint
    cli("run", method, "--dataset", dataset, "--seed", str(seed), "--steps", str(setting.steps),
        "--out", str(run), "--device", device, "--quiet", *setting.run_args,
        *(("--resume",) if resume else ()))
    reuse.stamp(run, "training", wanted)
    (run / "eval.json").unlink(missing_ok=True)


def evaluate(run: Path, seed: int, setting: Setting, device: str) -> None:
    """An eval made with other flags (or before stamps) is made again."""
    flags = [*(("--probe",) if setting.probe else ()), "--seed", str(seed), *setting.eval_args]
    made = {"flags": flags, "run": reuse.identity(run)}  # a run trained on by hand: again
    if (run / "eval.json").is_file() and reuse.stamped(run, "evaluation") == made:
        return
    cli("eval", str(run), *flags, "--device", device)
    reuse.stamp(run, "evaluation", made)


def steps_per_s(run: Path) -> float:
    """Median steps/s of a run's log windows after the first (start-up and CUDA-graph
    recording fall in the first); a run of one window is measured by that window."""
    records = rundir.RunDir.open(run).read_metrics()
    batch = json.loads((run / "summary.json").read_text())["batch_size"]
    return statistics.median(r["images_per_s"] for r in records[1:] or records) / batch


def measure_speed(dataset: str, setting: Setting, speed: Speed, device: str,
                  out: Path) -> dict[str, dict]:
    """images/s of each method alone on this dataset's backbone; kept in out/speed-DATASET.json."""
    saved = out / f"speed-{dataset}.json"
    made_with = {"speed": [speed.window, speed.windows, speed.rounds],
                 "run_args": list(setting.run_args), "device": device}
    if (kept := reuse.reusable(saved, made_with)) is not None:
        return kept
    result = {m: {"images_per_s": []} for m in METHODS}
    for _ in range(speed.rounds):
        for method in METHODS:
            run = out / "speed-runs" / f"{dataset}-{method}"
            shutil.rmtree(run, ignore_errors=True)
            cli("run", method, "--dataset", dataset, "--steps",
                str(speed.window * (speed.windows + 1)), "--log-every", str(speed.window),
                "--checkpoint-every", "1000000000", "--sample-every", "1000000000",
                "--out", str(run), "--device", device, "--quiet", *setting.run_args)
            records = rundir.RunDir.open(run).read_metrics()
            summary = json.loads((run / "summary.json").read_text())
            result[method]["images_per_s"] += [r["images_per_s"] for r in records[1:]]
            result[method].update(backbone=summary["backbone"], device=summary["device"],
                                  batch_size=summary["batch_size"])
            shutil.rmtree(run)
    return reuse.keep(saved, result, made_with)


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load(runs: dict[str, list[Path]], name: str) -> dict[str, list[dict]]:
    return {m: [json.loads((r / name).read_text()) for r in rs] for m, rs in runs.items()}


def dig(record: dict, *keys):
    for key in keys:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def verdict(infogan: list[float], gan: list[float]) -> str:
    """Higher is better: 'ahead' only when every InfoGAN seed beats every GAN seed."""
    if not infogan or not gan:
        return "-"
    if min(infogan) > max(gan):
        return "InfoGAN ahead"
    if max(infogan) < min(gan):
        return "GAN ahead"
    return "overlap"


def rows_for(evals: dict[str, list[dict]], label: str, *keys,
             compare: bool = True) -> list[str] | None:
    values = {m: [v for e in evals[m] if (v := dig(e, *keys)) is not None] for m in METHODS}
    cells = [mean_std(values[m]) for m in METHODS]
    if all(c == "-" for c in cells):
        return None
    return [label, *cells, *([verdict(values["infogan"], values["gan"])] if compare else [])]


def info_figure(runs: dict[str, list[Path]], evals, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codes = evals["infogan"][0]["codes"]
    fig, axes = plt.subplots(1, len(codes), figsize=(4.2 * len(codes), 3.4), squeeze=False)
    for ax, (name, code) in zip(axes[0], codes.items()):
        for method, color in zip(METHODS, ("tab:blue", "tab:orange")):
            for i, run in enumerate(runs[method]):
                log = rundir.RunDir.open(run).read_metrics()
                steps = [r["step"] for r in log if f"info/{name}" in r]
                values = [r[f"info/{name}"] for r in log if f"info/{name}" in r]
                ax.plot(steps, values, color=color, alpha=0.8, label=method if i == 0 else None)
        top = code.get("reachable_bound", code["entropy"])  # a fixed σ never reaches h(c)
        if top is not None:
            ax.axhline(top, color="black", linestyle="--",
                       label="H(c)" if not code["differential"] else "most L_I can reach")
        kind = "bound (continuous)" if code["differential"] else "L_I"
        ax.set_title(f"{name} {code['type']}: {kind}")
        ax.set_xlabel("step")
        ax.set_ylabel("nats")
    axes[0][0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def side_by_side(images: dict[str, Path], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    present = {k: v for k, v in images.items() if v.is_file()}
    if not present:
        return
    fig, axes = plt.subplots(1, len(present), figsize=(4.5 * len(present), 4.5), squeeze=False)
    for ax, (label, image) in zip(axes[0], present.items()):
        ax.imshow(mpimg.imread(image), cmap="gray")
        ax.set_title(label)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report_dataset(dataset: str, runs: dict[str, list[Path]], speed: dict[str, dict],
                   figures: Path, rel: str) -> str:
    evals = load(runs, "eval.json")
    out = [f"## {dataset}", ""]
    codes = evals["infogan"][0]["codes"]
    rows = [[f"{name} `{c['type']}`", f"{c['entropy']:.3f}" + (" (diff.)" if c["differential"] else ""),
             *rows_for(evals, "", "codes", name, "mi_lower_bound")[1:]] for name, c in codes.items()]
    out += ["Information term L_I on fresh generator samples (nats; continuous codes: a bound "
            "against a differential entropy, not an MI):", "",
            table(["code", "H(c)", "infogan", "gan", VERDICT], rows), ""]
    label_rows = [r for r in (
        rows_for(evals, "cluster accuracy (Hungarian)", "cluster_accuracy"),
        rows_for(evals, "generator cluster accuracy (G's categories, not Q's)",
                 "generator_cluster_accuracy"),
        rows_for(evals, "NMI (code vs label)", "nmi"),
    ) if r]
    for kind in ("codes", "features", "pixels"):
        budgets = dig(evals["infogan"][0], "probe", kind, "budgets") or {}
        for budget in budgets:
            row = rows_for(evals, f"probe on {kind}, {budget} labels/class", "probe", kind,
                           "budgets", budget, "accuracy")
            if row:
                label_rows.append(row)
    if label_rows:
        out += ["Agreement with the class labels (test split):", "",
                table(["measure", "infogan", "gan", VERDICT], label_rows), ""]
    factors = list(dig(evals["infogan"][0], "probe_factors") or {})
    factor_rows = [r for factor in factors for kind in ("codes", "features", "pixels")
                   if (r := rows_for(evals, f"{factor} from {kind}", "probe_factors", factor, kind,
                                     "accuracy"))]
    if factor_rows:
        out += ["Linear probes for each ground-truth factor, all training labels (test "
                "accuracy):", "", table(["factor from", "infogan", "gan", VERDICT], factor_rows),
                ""]
    metric_rows = [r for key in ("mig", "sap", "factor_vae", "beta_vae", "modularity", "explicitness")
                   if (r := rows_for(evals, key, "disentanglement", key))]
    metric_rows += [r for key in ("disentanglement", "completeness", "informativeness")
                    if (r := rows_for(evals, f"dci {key}", "disentanglement", "dci", key))]
    if metric_rows:
        out += ["Disentanglement metrics against the ground-truth factors:", "",
                table(["metric", "infogan", "gan", VERDICT], metric_rows), ""]

    verdicts = [row[-1] for row in rows + label_rows + factor_rows + metric_rows]
    out += [f"Over seeds, InfoGAN is ahead on {verdicts.count('InfoGAN ahead')} of these "
            f"{len(verdicts)} measures, the GAN on {verdicts.count('GAN ahead')}; the rest "
            "overlap.", ""]

    info_png = figures / f"{dataset}-info.png"
    info_figure(runs, evals, info_png, f"{dataset}: information term against steps")
    out += [f"![L_I against steps]({rel}/{info_png.name})", ""]
    first = {m: runs[m][0] for m in METHODS}
    traversal = figures / f"{dataset}-traversal-c1.png"
    side_by_side({m: first[m] / "traversal-c1.png" for m in METHODS}, traversal,
                 f"{dataset}: code c1 swept along columns (seed {first['infogan'].name.rsplit('-s', 1)[-1]})")
    if traversal.is_file():
        out += [f"![traversals]({rel}/{traversal.name})", ""]
    heat = figures / f"{dataset}-mi-matrix.png"
    side_by_side({m: first[m] / "mi_matrix.png" for m in METHODS}, heat,
                 f"{dataset}: code-factor MI")
    if heat.is_file():
        out += [f"![code-factor MI]({rel}/{heat.name})", ""]

    median = {m: statistics.median(speed[m]["images_per_s"]) for m in METHODS}
    best = {m: max(speed[m]["images_per_s"]) for m in METHODS}
    timed = speed["infogan"]
    out += [f"Speed (training alone, backbone `{timed['backbone']}`, {timed['device']}, batch "
            f"{timed['batch_size']}; {len(timed['images_per_s'])} timed windows per method):", "",
            table(["measure", "infogan", "gan"],
                  [["training images/s, median", *[f"{median[m]:.0f}" for m in METHODS]],
                   ["training images/s, best window", *[f"{best[m]:.0f}" for m in METHODS]]]), "",
            f"InfoGAN/GAN training time ratio: {median['gan'] / median['infogan']:.3f} (median), "
            f"{best['gan'] / best['infogan']:.3f} (best) (1.0 = the information term is free).", ""]
    timing_keys = list(dict.fromkeys(k for e in evals["infogan"] for k in e.get("timings_s", {})))
    timing_rows = [r for k in timing_keys if (r := rows_for(evals, k, "timings_s", k, compare=False))]
    out += ["Evaluation time per step (s):", "", table(["step", "infogan", "gan"], timing_rows), ""]
    return "\n".join(out)


def machines(runs: list[Path]) -> str:
    """Where the runs were made (from their config.json, so a report rewritten elsewhere from
    reused runs still says so), with the versions they recorded."""
    made = []
    for run in runs:
        meta = rundir.RunDir.open(run).read_meta()
        versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
        made.append(f"{meta.get('host', 'host not recorded')} ({versions})")
    return "; ".join(dict.fromkeys(made))


def add_run_arguments(parser: argparse.ArgumentParser, out: Path) -> None:
    """The options every run-training benchmark takes (this one and its siblings)."""
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--report", type=Path, help="also write the report (and figures) here")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the plan's seeds")
    parser.add_argument("--datasets", nargs="+", help="override the plan's datasets")
    parser.add_argument("--steps", type=int, help="override the plan's steps")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (training and eval)")
    parser.add_argument("--run-arg", action="append", default=[], metavar="FLAG",
                        help="an extra flag for every `disentangle run`, e.g. "
                             "--run-arg=--no-cuda-graph (repeat for more)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="runs trained (then evaluated) at once (default: one per core; "
                             "CPU training uses one thread)")


def chosen(args: argparse.Namespace, seeds: tuple[int, ...],
           datasets: dict[str, Setting]) -> tuple[tuple[int, ...], dict[str, Setting]]:
    """The plan's seeds and datasets, narrowed or overridden by --seeds, --datasets, --steps."""
    seeds = tuple(args.seeds) if args.seeds else seeds
    unknown = sorted(set(args.datasets or ()) - set(datasets))
    if unknown:
        sys.exit(f"error: --datasets {' '.join(unknown)}: this benchmark has "
                 f"{', '.join(datasets)}")
    datasets = {d: s for d, s in datasets.items() if not args.datasets or d in args.datasets}
    if args.steps:
        datasets = {d: replace(s, steps=args.steps) for d, s in datasets.items()}
    extra = tuple(getattr(args, "run_arg", ()))
    datasets = {d: replace(s, run_args=s.run_args + extra) for d, s in datasets.items()}
    return seeds, datasets


def train_and_evaluate(jobs: list[tuple[str, int, Path, Setting]], dataset: str,
                       args: argparse.Namespace) -> None:
    """Train every (method, seed, run, setting) missing, then evaluate each, --jobs at a time."""
    reuse.check_all([(run, reuse.training(method, dataset, seed, setting.steps, setting.run_args))
                     for method, seed, run, setting in jobs])
    with ThreadPoolExecutor(args.jobs) as pool:
        for done in [pool.submit(train, run, method, dataset, seed, setting, args.device)
                     for method, seed, run, setting in jobs]:
            done.result()
        for done in [pool.submit(evaluate, run, seed, setting, args.device)
                     for _, seed, run, setting in jobs]:
            done.result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 2 seeds (smoke test)")
    add_run_arguments(parser, Path("bench-out/infogan_vs_gan"))
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else FULL
    seeds, datasets = chosen(args, plan.seeds, plan.datasets)
    started = time.time()
    sections, all_runs = [], []
    figures = args.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for dataset, setting in datasets.items():
        runs = {m: [args.out / "runs" / f"{dataset}-{m}-s{seed}" for seed in seeds] for m in METHODS}
        all_runs += [run for rs in runs.values() for run in rs]
        train_and_evaluate([(method, seed, run, setting) for method in METHODS
                            for seed, run in zip(seeds, runs[method])], dataset, args)
        speed = measure_speed(dataset, setting, plan.speed, args.device, args.out)
        sections.append(report_dataset(dataset, runs, speed, figures, "figures"))
    command = "python -m benchmarks.infogan_vs_gan " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [
        "# InfoGAN vs GAN", "",
        f"Produced by `{command.strip()}` in {time.time() - started:.0f} s "
        f"(runs reused where present). Mode: {'quick' if args.quick else 'full'}; seeds "
        f"{', '.join(map(str, seeds))}; steps " + ", ".join(f"{d} {s.steps}" for d, s in datasets.items())
        + ".", "", f"Runs made on: {machines(all_runs)}. This report was written on "
        f"{rundir.host()}. Missing runs were trained, then evaluated, {args.jobs} at a time; the "
        "speed tables come from separate short runs with nothing else running.", "",
        "Every figure is mean ± std over seeds, written by the script, never by hand. The last "
        "column says 'InfoGAN ahead' only when every InfoGAN seed beats every GAN seed (and 'GAN "
        "ahead' for the reverse); anything else is an overlap. What each preset can be expected "
        "to show, and why, is in docs/training.md (Presets).", "",
    ]
    text = "\n".join(header + sections)
    (args.out / "report.md").write_text(text)
    print(f"wrote {args.out / 'report.md'}")
    if args.report:
        target = args.report.parent / (args.report.stem + "-figures")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(figures, target)
        args.report.write_text(text.replace("](figures/", f"]({target.name}/"))
        print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
