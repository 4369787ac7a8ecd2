"""How fast do N runs train on one device: one alone, N processes at once, or N seeds in one
process (`disentangle run --seeds`, each run on its own CUDA stream)? Prints steps/s per run and
in all, from the runs' own log windows (the first window, with start-up and CUDA-graph
recording, left out).

    python -m benchmarks.together_speed --device cuda             # 9 InfoGAN-CR runs, 64-px shapes
    python -m benchmarks.together_speed --quick                   # 2 digits runs on CPU (smoke)

Only training is timed here (no held-out score, pictures at the end only); the runs are thrown
away afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.infogan_vs_gan import steps_per_s

ARRANGEMENTS = ("alone", "processes", "together")


def command(args: argparse.Namespace, out: Path, seed: str, flag: str = "--seed") -> list[str]:
    return [sys.executable, "-m", "disentangle", "run", args.method, "--dataset", args.dataset,
            *(["--image-size", str(args.image_size)] if args.image_size else []),
            flag, seed, "--steps", str(args.steps), "--log-every", str(args.window),
            "--score-every", "0", "--checkpoint-every", str(args.steps),
            "--sample-every", str(args.steps), "--device", args.device, "--out", str(out),
            "--quiet", *args.run_arg]


def arrange(kind: str, args: argparse.Namespace) -> dict:
    out = args.out / kind
    shutil.rmtree(out, ignore_errors=True)
    seeds = [str(s) for s in range(args.runs if kind != "alone" else 1)]
    runs = [out / f"seed-{s}" for s in seeds]
    commands = ([command(args, out, f"0-{args.runs - 1}", "--seeds")] if kind == "together"
                else [command(args, run, s) for run, s in zip(runs, seeds)])
    print(f"$ {kind}: {len(runs)} run(s)", flush=True)
    started = time.perf_counter()
    processes = [subprocess.Popen(c, stderr=subprocess.PIPE, text=True) for c in commands]
    failures = []
    for p in processes:
        _, err = p.communicate()
        if p.returncode != 0:  # a crash prints nothing under --quiet: say how it ended
            how = (f"killed by signal {-p.returncode}" if p.returncode < 0
                   else f"exit {p.returncode}")
            failures.append(f"{how}: {err.strip()[-300:]}")
    wall = time.perf_counter() - started
    per_run = None if failures else [steps_per_s(r) for r in runs]
    shutil.rmtree(out, ignore_errors=True)
    if failures:  # the other arrangements still get their row
        print(f"{kind} failed: {'; '.join(failures)}", flush=True)
        return {"arrangement": kind, "runs": len(runs), "wall_s": wall, "failed": failures}
    return {"arrangement": kind, "runs": len(runs), "wall_s": wall,
            "per_run": per_run, "total": sum(per_run)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short digits runs (smoke)")
    parser.add_argument("--method", default="infogan-cr")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=9, help="N")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--window", type=int, default=100, help="steps per log window")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arrangements", nargs="+", default=list(ARRANGEMENTS),
                        choices=ARRANGEMENTS)
    parser.add_argument("--run-arg", action="append", default=[], metavar="FLAG",
                        help="an extra flag for every `disentangle run` (repeat for more)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/together"))
    args = parser.parse_args(argv)
    if args.quick:
        args.method, args.dataset, args.image_size, args.runs = "infogan", "digits", None, 2
        args.steps, args.window, args.device = 6, 2, "cpu"
        args.run_arg = [*args.run_arg, "--threads", "1"]
    results = [arrange(kind, args) for kind in args.arrangements]
    alone = next((r["total"] for r in results
                  if r["arrangement"] == "alone" and "failed" not in r), None)
    print(f"\n{args.method} on {args.dataset}"
          + (f" at {args.image_size} px" if args.image_size else "")
          + f", {args.steps} steps per run, device {args.device}")
    print("| arrangement | runs | steps/s per run (median) | steps/s in all | × alone | wall s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "failed" in r:
            print(f"| {r['arrangement']} | {r['runs']} | failed: {r['failed'][0][:60]} | | | "
                  f"{r['wall_s']:.0f} |")
            continue
        ratio = f"{r['total'] / alone:.2f}" if alone else "-"
        print(f"| {r['arrangement']} | {r['runs']} | {statistics.median(r['per_run']):.1f} | "
              f"{r['total']:.1f} | {ratio} | {r['wall_s']:.0f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "together_speed.json").write_text(json.dumps(results, indent=1))
    if any("failed" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
