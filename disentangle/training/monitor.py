"""A cheap held-out score logged while training, to answer "did I train long enough?".

Every `score_every` steps (on a logging step) the model encodes a fixed sample of the dataset's
test split, in eval mode, and the score joins that metrics.jsonl line:
- `heldout/cluster_accuracy` for datasets with class labels: the best categorical code's argmax
  matched to the labels (Hungarian), as `disentangle eval` reports it;
- `heldout/mig` for datasets with ground-truth factors: MIG of all code estimates.
`heldout.png` draws it against steps. `disentangle eval` stays the full measurement; this one
uses SAMPLE points only, so it is noisier, and it never reads the training split. A run whose
test split cannot be read (say, only the training file was downloaded) trains without the score
and says so once on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentangle.model import LatentModel, in_mode

SAMPLE = 1000  # held-out images scored each time
SEED = 0  # which ones: fixed for the whole run, resumed sessions included


class HeldOutMonitor:
    def __init__(self, images: torch.Tensor, labels: np.ndarray | None,
                 factors: np.ndarray | None):
        self.images, self.labels, self.factors = images, labels, factors

    @classmethod
    def build(cls, dataset, data_dir: Path | None, device: torch.device,
              model: LatentModel) -> HeldOutMonitor | None:
        """None when there is nothing to score: no test split, or neither labels with a
        categorical code nor factors."""
        categorical = any(c.posterior.kind == "categorical" for c in model.latent.codes)
        if "test" not in dataset.splits or not (categorical or dataset.factors):
            return None
        # whether there are labels is read from the data: `folder` knows its classes only once
        # it has read its sub-folders (its class_names are empty before `load`)
        data = dataset.load("test", data_dir)
        n = len(data)
        index = torch.randperm(n, generator=torch.Generator().manual_seed(SEED))[:SAMPLE]
        labels = data.labels[index].numpy() if categorical and data.labels is not None else None
        from disentangle.evaluation._checks import GAP_DIMS  # MIG: none with a single dimension

        width = sum(c.code.dims for c in model.latent.codes)
        factors = data.factors[index].numpy() if data.factors is not None and width >= GAP_DIMS \
            else None
        if labels is None and factors is None:
            return None
        return cls(data.images[index].to(device), labels, factors)

    @torch.no_grad()
    def score(self, model: LatentModel) -> dict[str, float]:
        from disentangle import evaluation as ev

        with in_mode(model, train=False):
            estimates, head, _ = model.encode(model.to_range(self.images))
        out: dict[str, float] = {}
        if self.labels is not None:
            heads = model.latent.split_head(head)
            out["heldout/cluster_accuracy"] = max(
                ev.cluster_accuracy(h.argmax(1).cpu().numpy(), self.labels)
                for c, h in zip(model.latent.codes, heads) if c.posterior.kind == "categorical")
        if self.factors is not None:
            codes = torch.cat(estimates, dim=1).float().cpu().numpy()
            varied = [k for k in range(self.factors.shape[1])
                      if np.unique(self.factors[:, k]).size > 1]
            out["heldout/mig"] = ev.mig(codes, self.factors[:, varied])["score"]
        return out


def write_plot(records: list[dict[str, Any]], path: Path) -> Path | None:
    """The held-out score(s) against steps; None when the log holds none."""
    keys = sorted({k for r in records for k in r if k.startswith("heldout/")})
    if not keys:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from disentangle.training.rundir import save_figure

    fig = Figure(figsize=(5, 3.2), dpi=90, layout="tight")  # never pyplot: a caller's is theirs
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for key in keys:
        points = [(r["step"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points), marker="o", label=key.split("/", 1)[1].replace("_", " "))
    ax.set_xlabel("step")
    ax.set_ylabel("held-out score")
    ax.set_ylim(0, 1)
    ax.set_title(f"held-out score during training ({SAMPLE} test images)")
    ax.legend(loc="lower right")
    return save_figure(fig, path)
