"""Time of every stage of `disentangle eval --probe` on `digits` and on `shapes` at 32 and 64 px.

    python -m benchmarks.eval_speed [--cases digits shapes32 shapes64 shapes64-dcgan] [--quick]
                                    [--device cpu] [--jobs N] [--runs DIR] [--json]

Each case trains a run for `--steps` steps (default 2: the networks' speed, not their quality, is
measured), then evaluates it as `disentangle eval RUN --probe` does by default (or with `--quick`)
and prints each stage's wall-clock seconds and this process's CPU seconds. The cases use the
dataset's preset networks, except `shapes32` (the preset's `sprites64` is 64-px only: the paper's
`svhn32`) and `shapes64-dcgan` (`dcgan64`, whose 8,192 D features are the widest probe input).
On a machine shared with other work the wall clock grows with the load while the CPU time does
not, so both are printed, with the load average before and after. `--jobs` is the number of
worker processes for the probes and threads for GBT DCI; the default, -1 (every core), is `eval`'s.
Worker processes' CPU time is not in the per-stage column; it is printed as one total
(`workers`), read once the workers have exited. `--jobs 1` keeps all the work in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from benchmarks import reuse

CASES = {  # name: (dataset, image size, backbone); None: the dataset's preset
    "digits": ("digits", None, None),  # mnist networks, 1,024 D features
    "shapes32": ("shapes", 32, "svhn32"),  # the preset's sprites64 is 64-px only; 4,096 features
    "shapes64": ("shapes", 64, None),  # sprites64, 128 features
    "shapes64-dcgan": ("shapes", 64, "dcgan64"),  # 8,192 features: the widest feature probe
}


def make_run(root: Path, case: str, steps: int, device: str) -> Path:
    from disentangle.training import resolve, train

    dataset, size, backbone = CASES[case]
    out = root / case
    # reused when it finished these --steps (a run cut short, or of other steps: made anew)
    if reuse.json_key(out / "summary.json", "steps") != steps:
        shutil.rmtree(out, ignore_errors=True)  # the benchmark's own few-step run
        config = resolve("infogan", {"dataset": dataset, "image_size": size, "steps": steps,
                                     "backbone": backbone, "out": str(out), "device": device})
        train(config, quiet=True)
    return out


def time_eval(run: Path, quick: bool, device: str, jobs: int) -> dict:
    from disentangle.evaluation.pipeline import QUICK, EvalConfig, evaluate_run

    cfg = EvalConfig(probe=True, device=device, jobs=jobs, **(QUICK if quick else {}))
    start, workers = time.perf_counter(), _workers_cpu()
    result = evaluate_run(run, cfg, show_progress=sys.stderr.isatty())
    total = round(time.perf_counter() - start, 1)
    return {"total_s": total, "timings_s": result["timings_s"], "cpu_s": result["cpu_s"],
            "workers_cpu_s": round(_workers_cpu() - workers, 1), "test_points": _test_points(run),
            "probe_inputs": result.get("probe_inputs"),
            "disentanglement": result.get("disentanglement")}


def _workers_cpu() -> float:
    """CPU seconds of this process's exited children, after stopping joblib's worker processes
    (a running worker's time is not counted until it exits)."""
    import resource

    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _test_points(run: Path) -> int:
    import h5py

    with h5py.File(run / "encoded.h5") as f:
        return int(f["test/features"].shape[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES),
                        help="cases to run (spaces or commas between): " + ", ".join(CASES))
    parser.add_argument("--quick", action="store_true", help="time `eval --quick` instead")
    parser.add_argument("--steps", type=int, default=2, help="training steps of each run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="probe processes, DCI threads (-1, eval's default: every core)")
    parser.add_argument("--runs", type=Path, default=Path("runs/eval-speed"),
                        help="where the runs are made (and reused)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    from disentangle.errors import DisentangleError
    from disentangle.training.build import resolve_device
    try:  # one line, not a traceback from the first tensor put on a missing GPU
        resolve_device(args.device)
    except DisentangleError as exc:
        parser.error(str(exc))
    cases = [c.strip() for arg in args.cases for c in arg.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")

    import torch

    results = {}
    for case in cases:
        run = make_run(args.runs, case, args.steps, args.device)
        load = os.getloadavg()[0]
        results[case] = {**time_eval(run, args.quick, args.device, args.jobs), "load_before": load,
                         "load_after": os.getloadavg()[0]}
    device = ("cuda: " + torch.cuda.get_device_name()
              if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    header = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "device": device, "torch": torch.__version__, "jobs": args.jobs,
              "profile": "quick" if args.quick else "default"}
    if args.json:
        print(json.dumps({**header, "cases": results}, indent=2))
        return
    print(f"# eval --probe{' --quick' if args.quick else ''} on {header['device']} "
          f"({header['machine']}, torch {header['torch']}, jobs {args.jobs})")
    for case, r in results.items():
        cpu = sum(r["cpu_s"].values())
        print(f"\n{case}: {r['total_s']} s in all, {r['test_points']} test points, load average "
              f"{r['load_before']:.1f} -> {r['load_after']:.1f}")
        print(f"  {'stage':<20} {'wall s':>8} {'cpu s':>8}")
        for stage, wall in r["timings_s"].items():
            print(f"  {stage:<20} {wall:>8.1f} {r['cpu_s'].get(stage, 0.0):>8.1f}")
        print(f"  {'workers':<20} {'':>8} {r['workers_cpu_s']:>8.1f}")
        print(f"  {'total':<20} {r['total_s']:>8.1f} {cpu + r['workers_cpu_s']:>8.1f}")


if __name__ == "__main__":
    main()
