"""Our FactorVAE and MIG of a run beside the same run scored as the published InfoGAN-CR and
modified-InfoGAN figures were (Lin et al., ICML 2020; issue #10 quotes them as its aims).

Those figures come from the authors' own metric code (fjxmlzn/InfoGAN-CR, InfoGAN-CR_dSprites:
gan/metric.py, gan/load_data.py), not from disentanglement_lib, whose definitions `disentangle
eval` follows. Where they differ:

- FactorVAE: 500 votes (dl: 10,000 to build the majority-vote classifier and 5,000 more to score
  it) of 100 images each (dl: 64), each code scaled by its standard deviation on a tenth of the
  data set, no pruning of codes whose spread is under 0.05 (dl prunes them), and the classifier is
  scored on the very votes it was built from: its training accuracy. They take the fixed factor
  in turn (100 votes each); here it is drawn at random, as dl does.
- MIG: dl's estimator (20 equal-width bins per code, the top-two MI gap over the factor's
  entropy), on a tenth of the data set (73,728 random dSprites images) where eval uses its 5,000
  test points.

    python -m benchmarks.published_definitions RUN [RUN ...] [--seed 0]

Each run must have been evaluated (`disentangle eval RUN`): its eval.json gives our figures. The
run directories are only read; images are rendered from the run's factor dataset.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from disentangle.errors import DisentangleError
from disentangle.evaluation import mig
from disentangle.evaluation._sampling import random_factors
from disentangle.evaluation.factor_vae import factor_vae_score
from disentangle.evaluation.pipeline import factor_codes, run_data_dir
from disentangle.training.build import load_run

VOTES, GROUP = 500, 100  # the authors' M and L (gan/load_data.py)
NO_PRUNING = 1e-12  # keeps every code that varies at all (a constant one cannot be scaled)


def authors_factor_vae(codes_of: Callable[[np.ndarray], np.ndarray], sizes: np.ndarray,
                       rng: np.random.Generator, variance_points: int, votes: int = VOTES,
                       group: int = GROUP) -> float:
    """The majority-vote classifier's accuracy on its own `votes` groups of `group` points,
    codes scaled by their spread over `variance_points` random points, no pruning."""
    scores = factor_vae_score(codes_of, sizes, rng, batch_size=group, num_train=votes,
                              num_eval=1, num_variance_estimate=variance_points,
                              prune_threshold=NO_PRUNING)
    return scores["train_accuracy"]


def wide_mig(codes_of: Callable[[np.ndarray], np.ndarray], sizes: np.ndarray,
             rng: np.random.Generator, points: int) -> float:
    """dl's MIG on `points` random factor rows (the authors': a tenth of the data set)."""
    rows = random_factors(rng, sizes, (points,))
    return mig(codes_of(rows), rows)["score"]


def run_codes(run: Path) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """The run's codes of rendered images, as a function of varying-factor rows, and the sizes
    of those factors (eval's own `factor_codes`)."""
    config, model, dataset = load_run(run)
    if not dataset.factors:
        raise DisentangleError(f"{run} trained on '{dataset.name}', which has no ground-truth "
                               "factors to score")
    return factor_codes(model, dataset, run_data_dir(config))


def ours(run: Path) -> dict[str, float]:
    path = run / "eval.json"
    try:
        scores = json.loads(path.read_text())["disentanglement"]
        return {"mig": scores["mig"], "factor_vae": scores["factor_vae"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise DisentangleError(f"{path} holds no disentanglement scores; run `disentangle eval "
                               f"{run}` first") from None


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="evaluated runs of a factor dataset")
    parser.add_argument("--votes", type=int, default=VOTES)
    parser.add_argument("--group", type=int, default=GROUP)
    parser.add_argument("--points", type=int, default=None,
                        help="points for MIG and the codes' spread (default: a tenth of the grid)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("votes", "group", "points"):
        value = getattr(args, name)
        if value is not None and value < 2:
            parser.error(f"--{name} must be at least 2")
    torch.set_num_threads(1)
    rows = []
    try:
        for run in args.runs:
            codes_of, sizes = run_codes(run)  # first: it says when a run has no factors
            published = ours(run)
            points = args.points or math.prod(int(s) for s in sizes) // 10
            rng = np.random.default_rng(args.seed)
            rows.append({"run": str(run), "mig": published["mig"],
                         "mig_wide": wide_mig(codes_of, sizes, rng, points),
                         "factor_vae": published["factor_vae"],
                         "factor_vae_authors": authors_factor_vae(
                             codes_of, sizes, rng, points, args.votes, args.group),
                         "points": points})
    except DisentangleError as exc:
        sys.exit(f"error: {exc}")
    print(f"{'run':<40} {'MIG':>7} {'MIG wide':>9} {'FactorVAE':>10} {'authors FVAE':>13}")
    for row in rows:
        print(f"{row['run'][-40:]:<40} {row['mig']:>7.3f} {row['mig_wide']:>9.3f} "
              f"{row['factor_vae']:>10.3f} {row['factor_vae_authors']:>13.3f}")
    print(f"MIG: eval's (test split) and on {rows[-1]['points']:,} random grid points; "
          f"FactorVAE: eval's (dl) and the authors' ({args.votes} votes of {args.group}, "
          "scored on its own votes, no pruning)")
    return rows


if __name__ == "__main__":
    main()
