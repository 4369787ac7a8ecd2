"""How often does unsupervised selection pick a good run? Over a pool of runs of one method and
dataset whose held-out cluster accuracy is known, runs `disentangle select --json` once over the
whole pool per selector (its pair scores do not depend on which other runs are in the set), then
scores every k-run subset of the pool as `select` would score that subset alone, and reports how
far the chosen run falls below the subset's best: the share of subsets where it is the best,
within 0.02 of it (the bar of issue #10), the mean and worst gap, and the same for a run picked
at random.

    python -m benchmarks.selection runs/cr/seed-* --k 5
    python -m benchmarks.selection RUN... --by centrality --out bench-out/selection
    python -m benchmarks.selection RUN... --by udr neighbours

Labels are read only here, to score the choice: from each run's summary.json (the held-out
cluster accuracy logged at the end of training), never by `select`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks import reuse

from disentangle.evaluation.centrality import centrality
from disentangle.evaluation.udr import udr_scores

# pair scores -> each run's score; None: `select` gives one score per run, whatever the set
SELECTORS = {"centrality": centrality, "udr": udr_scores, "neighbours": None}
NEAR = 0.02  # issue #10: the chosen run within 0.02 of the best seed's cluster accuracy


def accuracy(run: Path) -> float:
    if not (run / "summary.json").is_file():
        sys.exit(f"{run} is not a finished run (no summary.json); give run directories")
    summary = json.loads((run / "summary.json").read_text())
    value = (summary.get("heldout") or {}).get("cluster_accuracy")
    if value is None:
        sys.exit(f"{run}/summary.json has no held-out cluster accuracy (a labelled dataset, "
                 "trained with --score-every > 0, is needed)")
    return float(value)


def pool_scores(runs: list[Path], by: str, args: argparse.Namespace) -> np.ndarray:
    """`disentangle select --by BY --json` over the pool, kept in --out and reused: the pair
    scores, or each run's score for a selector that scores runs one by one."""
    key = "score" if SELECTORS[by] is None else "scores"
    saved = args.out / (f"pool-{by}.json" if by == "centrality" or args.points is None else
                        f"pool-{by}-{args.points}.json")
    made_with = {"runs": [reuse.identity(r) for r in runs], "device": args.device,
                 **({"votes": args.votes} if by == "centrality" else {"points": args.points})}
    if (kept := reuse.reusable(saved, made_with)) is not None:
        return np.asarray(kept[key])
    command = [sys.executable, "-m", "disentangle", "select", *map(str, runs), "--by", by,
               "--json", "--no-write", "--votes", str(args.votes), "--device", args.device,
               *(["--points", str(args.points)] if args.points else [])]
    print(f"$ disentangle select --by {by} ({len(runs)} runs)", flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: disentangle select --by {by}\n{done.stderr.strip()}")
    return np.asarray(reuse.keep(saved, json.loads(done.stdout), made_with)[key])


def subsets(scores: np.ndarray, accuracies: np.ndarray, k: int, by: str) -> dict:
    """Every k-subset: the gap between its best accuracy and the accuracy of the run that the
    selector (scored on the subset alone) picks, and of a run picked at random."""
    chosen_gaps, random_gaps = [], []
    for members in itertools.combinations(range(len(accuracies)), k):
        index = np.asarray(members)
        own = (scores[index] if SELECTORS[by] is None
               else np.asarray(SELECTORS[by](scores[np.ix_(index, index)])))
        best = accuracies[index].max()
        pick = index[int(np.argmax(own))]  # on a tie the first, as `select` does
        chosen_gaps.append(best - accuracies[pick])
        random_gaps.extend(best - accuracies[index])
    summary = {}
    for name, gaps in (("chosen", chosen_gaps), ("random", random_gaps)):
        gaps = np.asarray(gaps)
        summary[name] = {"best": float(np.mean(gaps <= 1e-12)),
                         "near": float(np.mean(gaps <= NEAR + 1e-12)),
                         "mean_gap": float(gaps.mean()), "worst_gap": float(gaps.max())}
    summary["subsets"] = len(chosen_gaps)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of one method")
    parser.add_argument("--k", type=int, default=5, help="runs per subset (seeds a user trains)")
    parser.add_argument("--by", nargs="+", default=list(SELECTORS), choices=SELECTORS)
    parser.add_argument("--votes", type=int, default=450, help="`select --votes` (centrality)")
    parser.add_argument("--points", type=int, default=None,
                        help="`select --points` (udr, neighbours; default: select's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench-out/selection"))
    args = parser.parse_args(argv)
    if not 2 <= args.k <= len(args.runs):
        sys.exit(f"--k {args.k} (default 5) must be between 2 and the number of runs given "
                 f"({len(args.runs)})")
    accuracies = np.asarray([accuracy(r) for r in args.runs])
    results = {}
    for by in args.by:
        results[by] = subsets(pool_scores(args.runs, by, args), accuracies, args.k, by)
    print(f"\n{len(args.runs)} runs, held-out cluster accuracy "
          f"{accuracies.min():.3f}-{accuracies.max():.3f} (median "
          f"{statistics.median(accuracies):.3f}); every subset of {args.k}: "
          f"{results[args.by[0]]['subsets']}")
    print(f"| selector | picks the best | within {NEAR} of the best | mean gap | worst gap |")
    print("|---|---|---|---|---|")
    rows = [(by, results[by]["chosen"]) for by in args.by]
    rows.append(("a run at random", results[args.by[0]]["random"]))
    for name, r in rows:
        print(f"| {name} | {r['best']:.0%} | {r['near']:.0%} | {r['mean_gap']:.3f} | "
              f"{r['worst_gap']:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection.json").write_text(json.dumps(
        {"runs": [str(r) for r in args.runs], "accuracy": accuracies.tolist(), "k": args.k,
         "results": results}, indent=1))


if __name__ == "__main__":
    main()
